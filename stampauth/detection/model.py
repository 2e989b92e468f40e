"""The Keras detector: a small fully convolutional network that paints the centre of every mark.

Design (chosen because it trains densely and fast on 2 CPU cores, and needs no anchors):
the page, downscaled to a fixed long side, goes through a separable-convolution backbone with
strides 2..32 and a light top-down pyramid back to stride 4. The head outputs, per kind (``KINDS`` order), a
probability map and four box-edge distances (FCOS-style). The probability target is each mark's box
shrunk about its centre by ``shrink`` (the "kernel"), so that marks that touch still give separate
blobs; every kernel cell also learns the log distances from itself to the four edges of its box.
Decoding takes the connected components of the thresholded map and averages the boxes its cells
predict, weighted by their probability.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from stampauth.detection.types import DEFAULT_WIDTHS, N_KINDS, N_OUTPUTS, STRIDE


def _conv(x, filters: int, name: str, stride: int = 1, dilation: int = 1, separable: bool = True):
    conv = layers.SeparableConv2D if separable else layers.Conv2D
    x = conv(filters, 3, strides=stride, dilation_rate=dilation, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _merge(coarse, fine, filters: int, name: str):
    """Upsample ``coarse`` to ``fine``'s grid and add both after 1x1 projections (an FPN step)."""
    up = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up")(
        layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_top")(coarse))
    lateral = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_lateral")(fine)
    x = layers.Add(name=f"{name}_add")([up, lateral])
    return _conv(x, filters, f"{name}_smooth")


def detector_model(width: tuple[int, int, int, int, int] = DEFAULT_WIDTHS) -> keras.Model:
    """``(batch, H, W, 3) float32`` page (BGR / 255, H and W multiples of 32) ->
    ``(batch, H/4, W/4, N_OUTPUTS)``: kernel probabilities, then log edge distances in cells."""
    c2, c4, c8, c16, c32 = width
    inputs = keras.Input((None, None, 3), name="page")
    x = _conv(inputs, c2, "stem", stride=2, separable=False)
    x = _conv(x, c2, "s2")
    x = _conv(x, c4, "s4a", stride=2)
    f4 = _conv(x, c4, "s4b")
    x = _conv(f4, c8, "s8a", stride=2)
    f8 = _conv(x, c8, "s8b")
    x = _conv(f8, c16, "s16a", stride=2)
    x = _conv(x, c16, "s16b")
    f16 = _conv(x, c16, "s16c", dilation=2)
    x = _conv(f16, c32, "s32a", stride=2)
    x = _conv(x, c32, "s32b", dilation=2)
    f32 = _conv(x, c32, "s32c", dilation=4)  # a wide view: is this blob part of a text block?
    p16 = _merge(f32, f16, 64, "p16")
    p8 = _merge(p16, f8, 48, "p8")
    p4 = _merge(p8, f4, 32, "p4")
    x = _conv(p4, 32, "head")
    kernels = layers.Conv2D(N_KINDS, 1, activation="sigmoid", name="kernels",
                            bias_initializer=keras.initializers.Constant(-4.0))(x)  # start near "no mark"
    distances = layers.Conv2D(4 * N_KINDS, 1, name="distances", bias_initializer=keras.initializers.Constant(2.0))(
        _conv(p4, 32, "box_head"))
    outputs = layers.Concatenate(name="detections")([kernels, distances])
    return keras.Model(inputs, outputs, name="mark_detector")


def detector_ensemble(members: list[keras.Model], name: str = "mark_detector_ensemble") -> keras.Model:
    """Detectors trained apart -> one detector whose output is the mean of theirs.

    Input ``(batch, H, W, 3)`` as each member's; output ``(batch, H/4, W/4, N_OUTPUTS)``: the mean kernel
    probabilities and the mean log edge distances (the geometric mean of the distances). Runs whose errors differ
    (another generator version, another seed) disagree on spurious blobs more than on marks, so the mean map ranks
    marks above them better than either run alone.
    """
    if len(members) < 2:
        raise ValueError("a detector ensemble needs at least two members")
    inputs = keras.Input((None, None, 3), name="page")
    outputs = []
    for index, member in enumerate(members):
        member.name = f"member{index}"  # two members saved under one name would collide in the .keras file
        outputs.append(member(inputs, training=False))  # inference only; a fixed mode keeps exports clean
    return keras.Model(inputs, layers.Average(name="mean_of_members")(outputs), name=name)


def kernel_targets(boxes: list[tuple[int, tuple[float, float, float, float]]], height: int, width: int,
                   shrink: float) -> np.ndarray:
    """Boxes ``[(class index, (x0, y0, x1, y1) input pixels)]`` -> ``(height/4, width/4, N_OUTPUTS) float32``.

    Every box paints its centre region of ``shrink`` times its size (at least one cell) with 1 in its
    kind's kernel channel and, in its kind's four distance channels, ``log(distance / STRIDE)`` from the
    cell centre to the box's left, top, right and bottom edges. Where kernels overlap the smaller box wins.
    """
    gh, gw = height // STRIDE, width // STRIDE
    target = np.zeros((gh, gw, N_OUTPUTS), np.float32)
    for cls, (x0, y0, x1, y1) in sorted(boxes, key=lambda b: -(b[1][2] - b[1][0]) * (b[1][3] - b[1][1])):
        cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
        hw, hh = max(0.5, (x1 - x0) * shrink / 2 / STRIDE), max(0.5, (y1 - y0) * shrink / 2 / STRIDE)
        gx0, gx1 = int(np.floor(cx - hw + 0.5)), int(np.ceil(cx + hw - 0.5))
        gy0, gy1 = int(np.floor(cy - hh + 0.5)), int(np.ceil(cy + hh - 0.5))
        gx1, gy1 = max(gx1, gx0 + 1), max(gy1, gy0 + 1)
        gx0, gy0 = max(gx0, 0), max(gy0, 0)
        gx1, gy1 = min(gx1, gw), min(gy1, gh)
        if gx0 >= gx1 or gy0 >= gy1:
            continue
        target[gy0:gy1, gx0:gx1, cls] = 1.0
        centres_x = (np.arange(gx0, gx1) + 0.5) * STRIDE
        centres_y = (np.arange(gy0, gy1) + 0.5) * STRIDE
        base = N_KINDS + 4 * cls
        log_distance = lambda d: np.log(np.maximum(d, 1.0) / STRIDE)
        target[gy0:gy1, gx0:gx1, base + 0] = log_distance(centres_x - x0)[None, :]
        target[gy0:gy1, gx0:gx1, base + 1] = log_distance(centres_y - y0)[:, None]
        target[gy0:gy1, gx0:gx1, base + 2] = log_distance(x1 - centres_x)[None, :]
        target[gy0:gy1, gx0:gx1, base + 3] = log_distance(y1 - centres_y)[:, None]
    return target


def detection_loss(y_true, y_pred):
    """Kernels: binary cross-entropy plus a soft Dice term per kind (marks cover a tiny share of a
    page). Distances: L1 on the log edge distances, on kernel cells only."""
    from keras import ops

    eps = 1e-6
    kernel_true, kernel_pred = y_true[..., :N_KINDS], ops.clip(y_pred[..., :N_KINDS], eps, 1 - eps)
    bce = -ops.mean(kernel_true * ops.log(kernel_pred) * 4.0 + (1 - kernel_true) * ops.log(1 - kernel_pred))
    inter = ops.sum(kernel_true * kernel_pred, axis=(1, 2))
    dice = 1.0 - (2 * inter + 1.0) / (ops.sum(kernel_true, axis=(1, 2)) + ops.sum(kernel_pred, axis=(1, 2)) + 1.0)
    weight = ops.repeat(kernel_true, 4, axis=-1)  # each kind's mask over its 4 distance channels
    l1 = ops.sum(weight * ops.abs(y_true[..., N_KINDS:] - y_pred[..., N_KINDS:])) / (ops.sum(weight) + 1.0)
    return bce + 0.5 * ops.mean(dice) + l1
