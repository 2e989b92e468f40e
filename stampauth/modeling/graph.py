"""A Keras model loaded on first use and run as one compiled graph: what the encoders and the detector share.

LiteRT serves the shipped models without TensorFlow; the Keras model is loaded only when something asks
for it (the Keras runtime, training, export checks), and then runs through a ``tf.function`` with a fixed
input signature, so calls of any batch size (or page size, where the signature leaves it open) never retrace.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


class LazyKerasGraph:
    """``graph(batch) -> np.ndarray``: the model's inference output for a ``float32`` batch.

    ``input_shape`` is the signature's shape, ``None`` for free dimensions, e.g. ``(None, 80, 160, 1)`` for an
    encoder or ``(1, None, None, 3)`` for the detector's one page.
    """

    def __init__(self, input_shape: tuple, model=None, load: Callable[[], object] | None = None):
        if model is None and load is None:
            raise ValueError("LazyKerasGraph needs a model or a function that loads it")
        self.input_shape = tuple(input_shape)
        self._model = model
        self._load = load
        self._compiled = None

    @property
    def model(self):
        """The Keras model (loaded now if it was not yet)."""
        if self._model is None:
            self._model = self._load()
        return self._model

    @property
    def compiled(self):
        """The ``tf.function`` (built on first use; its tracing count shows whether calls retrace)."""
        if self._compiled is None:
            import tensorflow as tf

            model = self.model
            self._compiled = tf.function(lambda batch: model(batch, training=False),
                                         input_signature=[tf.TensorSpec(self.input_shape, tf.float32)],
                                         reduce_retracing=True)
        return self._compiled

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.compiled(batch).numpy()
