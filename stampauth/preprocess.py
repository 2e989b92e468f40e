"""OpenCV preprocessing as small pure functions.

Conventions used throughout:

* ``gray``: ``(H, W) uint8``, 0 = black ink, 255 = white paper.
* ``ink_mask``: ``(H, W) uint8`` with 255 where a pixel is ink and 0 elsewhere.
* ``ink``: ``(H, W) float32`` in ``[0, 1]``, 0 = background, 1 = darkest ink.  This is
  what the models see: paper removed, ink kept with its intensity (pen pressure is evidence).

Every function returns new arrays and never mutates its input.  :func:`preprocess_mark`
chains the stages and can record each one in a ``debug`` dict for :func:`dump_stages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from stampauth.errors import InvalidInput

MorphOp = Literal["open", "close", "erode", "dilate"]
_MORPH_OPS = {
    "open": cv2.MORPH_OPEN,
    "close": cv2.MORPH_CLOSE,
    "erode": cv2.MORPH_ERODE,
    "dilate": cv2.MORPH_DILATE,
}


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of :func:`preprocess_mark`; stored with each model so training and serving agree."""

    canvas_height: int = 96
    canvas_width: int = 192
    denoise_ksize: int = 3  # median filter size; 0 or 1 disables it
    morph_op: MorphOp | None = None  # optional clean-up of the ink mask
    morph_kernel: int = 2
    min_component_frac: float = 0.0005  # ink blobs smaller than this fraction of the image are specks
    margin_frac: float = 0.02  # border kept around the ink, relative to the canvas
    remove_rules: bool = False  # erase printed rule lines (signature lines, table borders) crossing a crop


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA uint8 -> ``(H, W)`` uint8.

    Transparent pixels of a BGRA image become white paper.
    """
    if image.dtype != np.uint8:
        raise InvalidInput(f"expected an 8-bit image, got dtype {image.dtype}")
    if image.ndim == 2:
        return image.copy()
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0].copy()
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        bgr = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return cv2.cvtColor(bgr.astype(np.uint8), cv2.COLOR_BGR2GRAY)
    raise InvalidInput(f"unsupported image shape {image.shape}")


def denoise(gray: np.ndarray, ksize: int = 3) -> np.ndarray:
    """Median filter: removes salt-and-pepper scan noise, keeps stroke edges. ``(H, W) -> (H, W)``."""
    if ksize <= 1:
        return gray.copy()
    return cv2.medianBlur(gray, ksize | 1)


def otsu_binarize(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Otsu threshold. Returns ``(ink_mask (H, W) uint8 {0,255}, threshold)``.

    A blank page (no contrast) yields an empty mask rather than Otsu's arbitrary split.
    """
    if int(gray.max()) - int(gray.min()) < 16:
        return np.zeros_like(gray), float(gray.min())
    threshold, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return mask, float(threshold)


def morphology(mask: np.ndarray, op: MorphOp, kernel: int = 3, iterations: int = 1) -> np.ndarray:
    """Open/close/erode/dilate a binary mask with a ``kernel x kernel`` ellipse. ``(H, W) -> (H, W)``."""
    if op not in _MORPH_OPS:
        raise ValueError(f"unknown morphology op {op!r}; use one of {sorted(_MORPH_OPS)}")
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    return cv2.morphologyEx(mask, _MORPH_OPS[op], element, iterations=iterations)


def remove_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop connected ink components smaller than ``min_area`` pixels. ``(H, W) -> (H, W)``."""
    if min_area <= 1:
        return mask.copy()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return np.where(keep[labels], 255, 0).astype(np.uint8)


def remove_rule_lines(mask: np.ndarray, min_length_frac: float = 0.6, max_thickness: int = 5) -> np.ndarray:
    """Erase straight horizontal and vertical ink runs at least ``min_length_frac`` of the crop's width
    (height) long and at most ``max_thickness`` pixels thick: printed lines a crop from a page picks up
    (a signature line, a table border), which are not part of the mark. ``(H, W) -> (H, W)``."""
    height, width = mask.shape
    rules = np.zeros_like(mask)
    for length, shape in ((int(width * min_length_frac), (1, 0)), (int(height * min_length_frac), (0, 1))):
        if length < 20:
            continue  # too short to tell a printed rule from a pen stroke
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1) if shape == (1, 0) else (1, length))
        runs = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        # keep only thin runs: a thick straight bar is more likely a filled part of the mark
        thick = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max_thickness + 1) if shape == (1, 0) else (max_thickness + 1, 1))
        runs = cv2.subtract(runs, cv2.morphologyEx(runs, cv2.MORPH_OPEN, thick))
        rules = cv2.bitwise_or(rules, runs)
    if not rules.any():
        return mask.copy()
    return cv2.subtract(mask, cv2.dilate(rules, np.ones((3, 3), np.uint8)))


def ink_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight box ``(x0, y0, x1, y1)`` (x1, y1 exclusive) around the ink, or None if there is none."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def remove_background(gray: np.ndarray, ink_mask: np.ndarray) -> np.ndarray:
    """Paper -> 0, ink -> its darkness in ``[0, 1]``, contrast-stretched so pens and scanners compare.

    ``gray (H, W) uint8``, ``ink_mask (H, W) uint8`` -> ``ink (H, W) float32``.
    """
    darkness = (255.0 - gray.astype(np.float32)) / 255.0
    ink = np.where(ink_mask > 0, darkness, 0.0).astype(np.float32)
    values = ink[ink_mask > 0]
    if values.size:
        top = float(np.percentile(values, 95))
        if top > 1e-3:
            ink = np.clip(ink / top, 0.0, 1.0)
    return ink


def normalize_to_canvas(ink: np.ndarray, height: int, width: int, margin_frac: float = 0.0) -> np.ndarray:
    """Scale ``ink (h, w)`` to fit ``(height, width)`` keeping its aspect ratio, centred on a zero canvas.

    Returns ``(height, width) float32``.
    """
    canvas = np.zeros((height, width), dtype=np.float32)
    h, w = ink.shape[:2]
    if h == 0 or w == 0:
        return canvas
    margin = int(round(margin_frac * min(height, width)))
    avail_h, avail_w = max(1, height - 2 * margin), max(1, width - 2 * margin)
    scale = min(avail_h / h, avail_w / w)
    new_h, new_w = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(ink, (new_w, new_h), interpolation=interpolation)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = np.clip(resized, 0.0, 1.0)  # linear upscaling overshoots
    return canvas


def clean_ink_mask(gray: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """``gray (H, W) uint8`` -> ``(denoised (H, W) uint8, ink_mask (H, W) uint8)``: the stages that find the ink."""
    clean = denoise(gray, config.denoise_ksize)
    mask, _ = otsu_binarize(clean)
    if config.morph_op:
        mask = morphology(mask, config.morph_op, config.morph_kernel)
    if config.remove_rules:
        mask = remove_rule_lines(mask)
    return clean, remove_specks(mask, int(config.min_component_frac * mask.size))


def preprocess_mark(
    image: np.ndarray, config: PreprocessConfig = PreprocessConfig(), debug: dict | None = None
) -> np.ndarray:
    """Crop of a signature (any 8-bit layout, see :func:`to_grayscale`) -> model input.

    Returns ``(config.canvas_height, config.canvas_width) float32`` in ``[0, 1]``.
    Raises :class:`InvalidInput` when the crop holds no ink at all.
    Pass a dict as ``debug`` to receive every intermediate stage (see :func:`dump_stages`).
    """
    gray = to_grayscale(image)
    clean, mask = clean_ink_mask(gray, config)
    box = ink_bbox(mask)
    if box is None:
        raise InvalidInput("the image contains no ink: send a crop that shows the mark")
    x0, y0, x1, y1 = box
    ink = remove_background(clean[y0:y1, x0:x1], mask[y0:y1, x0:x1])
    result = normalize_to_canvas(ink, config.canvas_height, config.canvas_width, config.margin_frac)
    if debug is not None:
        debug.update(gray=gray, denoised=clean, ink_mask=mask, cropped_ink=ink, canvas=result)
    return result


def dump_stages(debug: dict, directory: str | Path, prefix: str = "") -> list[Path]:
    """Write each stage recorded by :func:`preprocess_mark` as a PNG (ink shown dark on white)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (name, array) in enumerate(debug.items()):
        if array.dtype == np.float32:
            picture = (255.0 - np.clip(array, 0, 1) * 255.0).astype(np.uint8)
        elif name.endswith("mask"):
            picture = 255 - array
        else:
            picture = array
        path = out / f"{prefix}{index:02d}_{name}.png"
        cv2.imwrite(str(path), picture)
        written.append(path)
    return written
