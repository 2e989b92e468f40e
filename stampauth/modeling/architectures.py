"""Encoder architectures.

A Siamese verifier is one encoder applied to both images with shared weights followed by a
similarity head; :func:`siamese_model` builds exactly that from an encoder.
"""

from __future__ import annotations

import keras
from keras import layers

from stampauth.modeling.layers import CosineSimilarity, L2Normalize

# Thin strokes on empty paper give tiny activation variances; with Keras' default momentum
# (0.99) the moving statistics lag so far behind that inference embeddings collapse early on.
BN_MOMENTUM = 0.9


def _separable_block(x, filters: int, name: str, downsample: bool, separable: bool = True):
    conv, label = (layers.SeparableConv2D, "sep") if separable else (layers.Conv2D, "conv")
    x = conv(filters, 3, padding="same", use_bias=False, name=f"{name}_{label}1")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu1")(x)
    x = conv(filters, 3, padding="same", use_bias=False, name=f"{name}_{label}2")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn2")(x)
    x = layers.ReLU(name=f"{name}_relu2")(x)
    if downsample:
        x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    return x


def mark_encoder(
    height: int = 96,
    width: int = 192,
    embedding_dim: int = 128,
    widths: tuple[int, ...] = (32, 64, 96, 128, 192),
    dropout: float = 0.2,
    name: str = "mark_encoder",
    stem_stride: int = 2,
    dense_blocks: int = 0,
) -> keras.Model:
    """Separable-convolution encoder.

    Input ``(batch, height, width, 1) float32`` in ``[0, 1]`` (ink = 1, paper = 0);
    output ``(batch, embedding_dim)`` L2-normalised embeddings.

    The head keeps coarse layout (a flattened ``height/(stem_stride * 16) x width/(stem_stride * 16)`` map) next
    to global average and max pooling, because where strokes sit relative to each other is evidence.
    ``stem_stride`` 1 and ``dense_blocks`` > 0 (the first blocks with full 3x3 convolutions) make the "fine"
    variant: it sees the stroke profile at the canvas' full resolution before any downsampling.
    """
    inputs = keras.Input((height, width, 1), name="ink")
    x = layers.Conv2D(widths[0], 3, strides=stem_stride, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for index, filters in enumerate(widths[1:]):
        x = _separable_block(x, filters, f"block{index + 1}", downsample=True, separable=index >= dense_blocks)
    layout = layers.Conv2D(32, 1, use_bias=False, name="layout_conv")(x)
    layout = layers.BatchNormalization(momentum=BN_MOMENTUM, name="layout_bn")(layout)
    layout = layers.ReLU(name="layout_relu")(layout)
    layout = layers.Flatten(name="layout_flat")(layout)
    pooled_avg = layers.GlobalAveragePooling2D(name="gap")(x)
    pooled_max = layers.GlobalMaxPooling2D(name="gmp")(x)
    features = layers.Concatenate(name="features")([layout, pooled_avg, pooled_max])
    features = layers.Dropout(dropout, name="dropout")(features)
    embedding = layers.Dense(embedding_dim, name="projection")(features)
    embedding = L2Normalize(name="l2norm")(embedding)
    return keras.Model(inputs, embedding, name=name)


# named encoder variants for ``stampauth train signature --architecture``
ARCHITECTURES = {
    "base": {},
    "fine": {"stem_stride": 1, "dense_blocks": 1, "widths": (32, 32, 64, 96, 128, 192)},
}


def siamese_model(encoder: keras.Model) -> keras.Model:
    """Two inputs of the encoder's shape -> ``(batch, 1)`` cosine similarity, weights shared."""
    shape = encoder.input_shape[1:]
    first = keras.Input(shape, name="first")
    second = keras.Input(shape, name="second")
    similarity = CosineSimilarity(name="cosine")([encoder(first), encoder(second)])
    return keras.Model([first, second], similarity, name="siamese")


def ensemble_encoder(members: list[keras.Model], name: str = "ensemble_encoder") -> keras.Model:
    """Encoders trained apart -> one encoder whose cosine similarity is their mean.

    Input ``(batch, H, W, 1)``: the largest member canvas (by area); a member with a smaller canvas of the same
    aspect gets the input resized to its own (bilinear), which scores like preprocessing onto that canvas directly.
    Output ``(batch, n * d)``: the members' unit embeddings side by side, times ``1 / sqrt(n)``, so the output is a
    unit vector again and the dot product of two outputs is the mean of the members' cosine similarities. Serving,
    storage and identification see one model with a wider embedding.
    """
    shapes = [tuple(member.input_shape[1:]) for member in members]
    shape = max(shapes, key=lambda s: s[0] * s[1])
    for other in shapes:
        if other[2] != shape[2] or abs(other[1] / other[0] - shape[1] / shape[0]) > 1e-6:
            raise ValueError(f"ensemble members must take canvases of one aspect and depth: {other} against {shape}")
    inputs = keras.Input(shape, name="ink")
    outputs = []
    for index, (member, member_shape) in enumerate(zip(members, shapes)):
        member.name = f"member{index}"  # two members saved under one name would collide in the .keras file
        x = inputs
        if member_shape != shape:
            # bilinear (not area) so the LiteRT export stays in builtin ops
            x = layers.Resizing(member_shape[0], member_shape[1], interpolation="bilinear", name=f"resize{index}")(x)
        # inference only: an ensemble is never trained, and a fixed mode keeps dropout's random ops out of exports
        outputs.append(member(x, training=False))
    joined = layers.Concatenate(name="members")(outputs)
    scaled = layers.Rescaling(1.0 / len(members) ** 0.5, name="mean_of_cosines")(joined)
    return keras.Model(inputs, scaled, name=name)


def stamp_pair_model(canvas: int = 192, trunk_filters: tuple[int, int, int] = (24, 32, 48),
                     head_filters: tuple[int, int] = (64, 96), name: str = "stamp_pair") -> keras.Model:
    """A Siamese *pairwise* model for stamps: ``[reference (B, S, S, 1), aligned query (B, S, S, 1)] -> (B, 1)``
    logits of "the same rubber" (a similarity: higher = more alike).

    One trunk with shared weights maps both canvases to stride-8 feature maps ``(B, S/8, S/8, C)``; the head sees
    both maps and their squared difference, so it can find *where* two registered impressions differ (a glyph, a
    ring) and learn to ignore what inking and print do; global max and average pooling, then a small dense layer.
    The query must already be registered onto the reference (:func:`stampauth.alignment.align_to`).
    """
    def conv_bn(x, filters: int, label: str, separable: bool = True, strides: int = 1):
        conv = layers.SeparableConv2D if separable else layers.Conv2D
        x = conv(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{label}_conv")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{label}_bn")(x)
        return layers.ReLU(name=f"{label}_relu")(x)

    image = keras.Input((canvas, canvas, 1), name="canvas")
    x = conv_bn(image, trunk_filters[0], "stem", separable=False, strides=2)
    x = layers.MaxPooling2D(name="pool1")(conv_bn(x, trunk_filters[1], "trunk1"))
    x = conv_bn(conv_bn(x, trunk_filters[2], "trunk2"), trunk_filters[2], "trunk3")
    trunk = keras.Model(image, layers.MaxPooling2D(name="pool2")(x), name=f"{name}_trunk")

    reference = keras.Input((canvas, canvas, 1), name="reference")
    query = keras.Input((canvas, canvas, 1), name="query")
    fr, fq = trunk(reference), trunk(query)
    difference = layers.Subtract(name="difference")([fr, fq])
    h = layers.Concatenate(name="both")([fr, fq, layers.Multiply(name="squared_difference")([difference, difference])])
    h = conv_bn(conv_bn(h, head_filters[0], "head1"), head_filters[0], "head2")
    h = layers.MaxPooling2D(name="pool3")(h)
    h = conv_bn(conv_bn(h, head_filters[1], "head3"), head_filters[1], "head4")
    h = layers.Concatenate(name="pooled")([layers.GlobalMaxPooling2D(name="gmax")(h),
                                           layers.GlobalAveragePooling2D(name="gavg")(h)])
    h = layers.Dense(64, activation="relu", name="dense")(layers.Dropout(0.2, name="dropout")(h))
    return keras.Model([reference, query], layers.Dense(1, name="same_rubber_logit")(h), name=name)


def one_input_pair_model(pair_model: keras.Model, name: str = "stamp_pair") -> keras.Model:
    """:func:`stamp_pair_model`'s two inputs as one, ``(B, S, S, 2)`` (channel 0 the reference, 1 the registered
    query) -> ``(B, 1)`` logits: the served form, which LiteRT runs like the encoders (one input, one output)."""
    from stampauth.modeling.layers import ChannelSlice

    canvas = int(pair_model.inputs[0].shape[1])
    pairs = keras.Input((canvas, canvas, 2), name="pairs")
    logits = pair_model([ChannelSlice(0, name="reference_channel")(pairs), ChannelSlice(1, name="query_channel")(pairs)])
    return keras.Model(pairs, logits, name=name)
