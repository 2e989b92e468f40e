"""After the network: cues that re-rank its stamp boxes.

A rubber stamp prints one ink. The detector's most confident false stamps on real colour invoices were printed
multi-colour logos (a crest in gold and blue, an arrow logo in yellow and blue, a two-colour round logo), and the
generator's printed crests and badges (generator version 4) fool it the same way. :func:`one_ink_share` measures
how much of a box's coloured ink is one hue; the card's ``stamp_one_ink_weight`` ``w`` turns it into a factor on
the stamp's confidence, ``exp(-w * (1 - share))``, chosen on synthetic validation pages (0 = off).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from stampauth.preprocess import HUE_TOLERANCE

# Coloured ink: HSV saturation and value (0-255) at least these; black print, grey pencil and paper fall below.
MIN_INK_SATURATION = 70
MIN_INK_VALUE = 50
# Below this share of the box coloured, there is no colour to judge (a black or grey stamp, a grey scan).
MIN_COLOURED_SHARE = 0.01


def one_ink_share(crop_bgr: np.ndarray) -> float:
    """``(h, w, 3) uint8`` BGR crop of a box -> share of its coloured ink within ``HUE_TOLERANCE`` hue units of its
    strongest hue, in ``(0, 1]``.

    1.0 when coloured ink covers less than ``MIN_COLOURED_SHARE`` of the crop: a black stamp or a grey scan is not
    penalised for having no colour.
    """
    if crop_bgr.ndim != 3 or crop_bgr.shape[0] < 2 or crop_bgr.shape[1] < 2:
        return 1.0
    hsv = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2HSV)
    coloured = (hsv[..., 1] >= MIN_INK_SATURATION) & (hsv[..., 2] >= MIN_INK_VALUE)
    count = int(np.count_nonzero(coloured))
    if count < MIN_COLOURED_SHARE * coloured.size:
        return 1.0
    histogram = np.bincount(hsv[..., 0][coloured], minlength=180)[:180].astype(np.float64)
    # ink within +-HUE_TOLERANCE of each hue, the hue circle wrapping (red sits at both ends)
    window = np.ones(2 * HUE_TOLERANCE + 1)
    wrapped = np.concatenate([histogram[-HUE_TOLERANCE:], histogram, histogram[:HUE_TOLERANCE]])
    return float(np.convolve(wrapped, window, mode="valid").max() / count)


def one_ink_factor(share: float, weight: float) -> float:
    """The confidence factor ``exp(-weight * (1 - share))`` in ``(0, 1]`` (1 for one ink or ``weight`` 0)."""
    return math.exp(-weight * (1.0 - share)) if weight > 0 else 1.0


def input_crop(page_input: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The ``(h, w, 3) uint8`` part of the detector's input (``(H, W, 3) float32`` in [0, 1]) inside ``box``
    (``(x0, y0, x1, y1)`` input pixels), clipped to the input."""
    height, width = page_input.shape[:2]
    x0, y0 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    x1, y1 = min(width, int(math.ceil(box[2]))), min(height, int(math.ceil(box[3])))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0, 3), np.uint8)
    return np.clip(page_input[y0:y1, x0:x1] * 255.0 + 0.5, 0, 255).astype(np.uint8)
