"""Test data made on the fly: synthetic signature-like crops and encoded files."""

from __future__ import annotations

import io

import cv2
import numpy as np


def synthetic_signature(writer: int, variant: int = 0, size=(120, 320), jitter: float = 2.0) -> np.ndarray:
    """A pen-like scribble ``(H, W, 3) uint8`` BGR: the same writer gives the same shape with small wobble."""
    shape_rng = np.random.default_rng(writer)
    wobble = np.random.default_rng([writer, variant])
    h, w = size
    points = shape_rng.uniform([0.1 * w, 0.2 * h], [0.9 * w, 0.8 * h], size=(9, 2))
    points = points[np.argsort(points[:, 0])]
    points += wobble.normal(0, jitter, points.shape)
    t = np.linspace(0, 1, 200)
    curve = np.stack([np.interp(t, np.linspace(0, 1, len(points)), points[:, i]) for i in range(2)], axis=1)
    curve[:, 1] += 10 * np.sin(t * (6 + writer % 5) * np.pi)
    image = np.full((h, w, 3), 250, np.uint8)
    cv2.polylines(image, [curve.astype(np.int32)], False, (40, 30, 20), 3, cv2.LINE_AA)
    return image


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def pillow_bytes(images, fmt: str, **kwargs) -> bytes:
    """Several BGR images -> one multi-page file (TIFF, PDF) through Pillow."""
    from PIL import Image

    pages = [Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)) for image in images]
    buffer = io.BytesIO()
    pages[0].save(buffer, format=fmt, save_all=True, append_images=pages[1:], **kwargs)
    return buffer.getvalue()
