"""Custom Keras layers, registered so ``.keras`` files load without Lambda layers or custom_objects."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="stampauth")
class L2Normalize(keras.layers.Layer):
    """``(batch, d) -> (batch, d)`` rows scaled to unit length, so dot product = cosine similarity."""

    def __init__(self, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        norm = ops.sqrt(ops.sum(ops.square(inputs), axis=-1, keepdims=True) + self.epsilon)
        return inputs / norm

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="stampauth")
class CosineSimilarity(keras.layers.Layer):
    """Two ``(batch, d)`` unit vectors -> ``(batch, 1)`` cosine similarity (the Siamese head)."""

    def call(self, inputs):
        first, second = inputs
        return ops.sum(first * second, axis=-1, keepdims=True)


@keras.saving.register_keras_serializable(package="stampauth")
class ChannelSlice(keras.layers.Layer):
    """``(batch, H, W, C) -> (batch, H, W, 1)``: channel ``index`` (one input carrying both canvases of a pair)."""

    def __init__(self, index: int, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, inputs):
        return inputs[..., self.index:self.index + 1]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)

    def get_config(self):
        return {**super().get_config(), "index": self.index}
