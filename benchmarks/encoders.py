"""The shipped signature encoder against a SigNet-architecture encoder, per crop, on the same canvases.

SigNet (Dey et al. 2017, "SigNet: Convolutional Siamese Network for Writer Independent Offline Signature
Verification", arXiv:1707.02131, Table 1), one branch of the Siamese pair, on a ``155 x 220 x 1`` input:

    conv 96 11x11 stride 1, ReLU -> LRN -> max-pool 3x3 / 2
    conv 256 5x5 pad 2, ReLU -> LRN -> max-pool 3x3 / 2 -> dropout 0.3
    conv 384 3x3 pad 1, ReLU -> conv 256 3x3 pad 1, ReLU -> max-pool 3x3 / 2 -> dropout 0.3
    FC 1024, ReLU -> dropout 0.5 -> FC 128

with random weights (speed does not depend on them). The paper gives the first convolution a stride of 1; the
authors' published Keras code uses 4 (and batch normalisation instead of LRN), a network about 9x lighter, so that
variant is timed too (``signet_code_*``): the target ratio should hold against both.

Timed, each after a warm-up, as the median over ``--repeats`` passes over the same ``--crops`` generated signature
canvases (``stampauth.synth.signatures``, then the shipped encoder's own preprocessing; for SigNet the canvases are
resized to 155 x 220 beforehand, outside the timing), at batch sizes 1 and 8:

* ``shipped_keras``: the shipped signature encoder's ``embed`` with the Keras runtime, a compiled ``tf.function``
  with a fixed input signature;
* ``shipped_litert``: the same ``embed`` through its LiteRT export (what the service runs by default);
* ``signet`` / ``signet_code``: the SigNet-architecture encoders as compiled ``tf.function`` s.

Headline figures (batch 1, one query crop at a time, as a verification request embeds it): ``shipped_ms_per_crop``
(the runtime the service picks), ``signet_ms_per_crop`` and ``signet_speed_ratio`` = SigNet / shipped; the
target is a ratio of at least 10.

    python benchmarks/encoders.py [--json] [--crops 16] [--repeats 5]

Other benchmarks import :func:`sample_canvases`, :func:`compare_encoders` and :func:`signet_speed_ratio`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Callable

import numpy as np

SIGNET_INPUT = (155, 220, 1)
BATCH_SIZES = (1, 8)
TARGET_RATIO = 10.0


def sample_canvases(n: int = 16, seed: int = 0) -> np.ndarray:
    """``(n, H, W) float32``: generated signatures (one per random writer) through the shipped encoder's
    preprocessing (``H x W`` from its card), so both encoders see the crops the service would give them."""
    from stampauth.modeling.card import ModelCard, models_dir
    from stampauth.preprocess import preprocess_any
    from stampauth.synth.signatures import random_style, render_signature

    card = ModelCard.from_json((models_dir() / "signature_encoder.json").read_text())
    rng = np.random.default_rng(seed)
    canvases = []
    for _ in range(n):
        ink = render_signature(random_style(rng), rng, height_px=int(rng.integers(90, 160)))
        crop = np.full((ink.shape[0] + 24, ink.shape[1] + 24), 250, np.uint8)  # paper margin around the ink
        crop[12:-12, 12:-12] = np.clip(250 - ink * 220, 0, 255).astype(np.uint8)
        canvases.append(preprocess_any(crop, card.preprocess))
    return np.stack(canvases).astype(np.float32)


def signet_canvases(canvases: np.ndarray) -> np.ndarray:
    """``(n, H, W)`` canvases -> ``(n, 155, 220, 1)``, SigNet's input size."""
    import cv2

    height, width, _ = SIGNET_INPUT
    return np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in canvases])[..., None]


def build_signet(conv1_stride: int = 1, seed: int = 0):
    """A SigNet-architecture encoder (Keras, random weights): ``(batch, 155, 220, 1) -> (batch, 128)``.

    ``conv1_stride`` 1 is the paper's Table 1; 4 is the authors' published code. LRN as in the paper
    (n = 5, k = 2, alpha = 1e-4, beta = 0.75), dropout layers inactive at inference.
    """
    import keras
    import tensorflow as tf
    from keras import layers

    class LocalResponseNorm(layers.Layer):
        def call(self, inputs):
            # Caffe/AlexNet LRN: alpha is divided by the window size n = 2 * radius + 1.
            return tf.nn.local_response_normalization(inputs, depth_radius=2, bias=2.0, alpha=1e-4 / 5, beta=0.75)

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(SIGNET_INPUT, name="signature")
    x = layers.Conv2D(96, 11, strides=conv1_stride, activation="relu", name="conv1")(inputs)
    x = LocalResponseNorm(name="lrn1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(256, 5, padding="same", activation="relu", name="conv2")(x)
    x = LocalResponseNorm(name="lrn2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool3")(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(1024, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(128, name="fc2")(x)
    return keras.Model(inputs, outputs, name=f"signet_conv1_stride{conv1_stride}")


def compiled(model, input_shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """``model`` as a ``tf.function`` with a fixed input signature (any batch): ``fn(batch) -> numpy``."""
    import tensorflow as tf

    graph = tf.function(lambda batch: model(batch, training=False),
                        input_signature=[tf.TensorSpec([None, *input_shape], tf.float32)])
    return lambda batch: graph(batch).numpy()


def time_per_crop(fn: Callable[[np.ndarray], np.ndarray], canvases: np.ndarray, batch_size: int = 1,
                  repeats: int = 5, warmup: int = 1) -> float:
    """Milliseconds per crop: ``fn`` over ``canvases`` in batches of ``batch_size``; the median of ``repeats``
    timed passes after ``warmup`` untimed ones."""
    batches = [np.ascontiguousarray(canvases[i:i + batch_size]) for i in range(0, len(canvases), batch_size)]
    for _ in range(warmup):
        for batch in batches:
            fn(batch)
    passes = []
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        for batch in batches:
            fn(batch)
        passes.append(time.perf_counter() - started)
    return statistics.median(passes) * 1000.0 / len(canvases)


def _round(value: float) -> float:
    return float(f"{value:.3g}")


def compare_encoders(canvases: np.ndarray | None = None, batch_sizes=BATCH_SIZES, repeats: int = 5,
                     code_variant: bool = True) -> dict:
    """Time the shipped signature encoder (Keras graph and LiteRT) and SigNet on the same ``canvases``
    (``(n, H, W)``, default :func:`sample_canvases`); see the module docstring for the keys."""
    from stampauth.errors import FailedPrecondition
    from stampauth.modeling.card import load_encoder
    from stampauth.modeling.litert import requested_runtime

    canvases = sample_canvases() if canvases is None else np.asarray(canvases, np.float32)
    keras_encoder = load_encoder("signature", runtime="keras")
    try:
        litert_encoder = load_encoder("signature", runtime="litert")
    except FailedPrecondition:  # no intact export: only Keras can be timed
        litert_encoder = None
    # What the service runs: LiteRT when its export is intact, unless $STAMPAUTH_RUNTIME says keras.
    served_runtime = "litert" if litert_encoder is not None and requested_runtime() != "keras" else "keras"
    candidates: dict[str, tuple[Callable, np.ndarray]] = {"shipped_keras": (keras_encoder.embed, canvases)}
    if litert_encoder is not None:
        candidates["shipped_litert"] = (litert_encoder.embed, canvases)
    resized = signet_canvases(canvases)
    signets = {"signet": build_signet(1)}
    if code_variant:
        signets["signet_code"] = build_signet(4)
    for name, model in signets.items():
        candidates[name] = (compiled(model, SIGNET_INPUT), resized)

    by_batch = {}
    for batch_size in batch_sizes:
        times = {name: time_per_crop(fn, inputs, batch_size, repeats) for name, (fn, inputs) in candidates.items()}
        shipped = times[f"shipped_{served_runtime}"]
        row = {f"{name}_ms_per_crop": _round(ms) for name, ms in times.items()}
        row["signet_speed_ratio"] = _round(times["signet"] / shipped)
        row["signet_speed_ratio_same_runtime"] = _round(times["signet"] / times["shipped_keras"])
        if code_variant:
            row["signet_code_speed_ratio"] = _round(times["signet_code"] / shipped)
        by_batch[str(batch_size)] = row

    head = by_batch[str(batch_sizes[0])]
    result = {
        "crops": len(canvases),
        "repeats": repeats,
        "batch_sizes": list(batch_sizes),
        "headline_batch": batch_sizes[0],
        "shipped_runtime": served_runtime,
        "shipped_ms_per_crop": head[f"shipped_{served_runtime}_ms_per_crop"],
        "signet_ms_per_crop": head["signet_ms_per_crop"],
        "signet_speed_ratio": head["signet_speed_ratio"],
        "target_ratio": TARGET_RATIO,
        "meets_target": all(row["signet_speed_ratio"] >= TARGET_RATIO for row in by_batch.values()),
        "by_batch": by_batch,
        "parameters": {"shipped": int(keras_encoder.model.count_params()),
                       **{name: int(model.count_params()) for name, model in signets.items()}},
        "inputs": {"shipped": list(keras_encoder.card.input_shape), "signet": list(SIGNET_INPUT)},
        "cpu_count": os.cpu_count(),
    }
    if code_variant:
        result["signet_code_speed_ratio"] = head["signet_code_speed_ratio"]
    return result


def signet_speed_ratio(canvases: np.ndarray | None = None, repeats: int = 5) -> float:
    """SigNet ms per crop / the shipped encoder's (as served), one crop per call."""
    return compare_encoders(canvases, batch_sizes=(1,), repeats=repeats, code_variant=False)["signet_speed_ratio"]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=16, help="generated signature canvases")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per case (the median is reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = compare_encoders(sample_canvases(args.crops), repeats=args.repeats)
    if args.json:
        print(json.dumps(result))
        return result
    print(f"{result['crops']} signature canvases, median of {result['repeats']} passes, "
          f"{result['cpu_count']} CPU cores; ms per crop:")
    names = [key[:-len("_ms_per_crop")] for key in result["by_batch"][str(result["batch_sizes"][0])]
             if key.endswith("_ms_per_crop")]
    print(f"{'batch':>6}  " + "  ".join(f"{name:>15}" for name in names) + "  SigNet / shipped")
    for batch, row in result["by_batch"].items():
        print(f"{batch:>6}  " + "  ".join(f"{row[name + '_ms_per_crop']:>15}" for name in names)
              + f"  {row['signet_speed_ratio']:>8}")
    print(f"shipped ({result['shipped_runtime']}) {result['shipped_ms_per_crop']} ms per crop, SigNet "
          f"{result['signet_ms_per_crop']} ms: ratio {result['signet_speed_ratio']} (target >= {TARGET_RATIO:g}: "
          f"{'met' if result['meets_target'] else 'NOT met'}); parameters {result['parameters']}")
    return result


if __name__ == "__main__":
    main()
