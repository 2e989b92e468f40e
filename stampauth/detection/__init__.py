"""Finding stamps and signatures on whole pages: the Keras detector, the OpenCV baseline and metrics."""

from stampauth.detection.types import KINDS, Box, Detection

__all__ = ["KINDS", "Box", "Detection"]
