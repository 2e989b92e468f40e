"""Keras models: architectures, custom layers, model cards and compiled inference."""
