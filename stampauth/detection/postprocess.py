"""After the network: cues that re-rank its boxes (the one-ink cue for stamps, the layout prior for both kinds).

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
# Ink differs from the paper by at least this much in some channel (0-255): coloured paper (a yellow form, a pink
# copy) is saturated too, but it is the background, not a second ink.
MIN_INK_CONTRAST = 40


def one_ink_share(crop_bgr: np.ndarray) -> float:
    """``(h, w, 3) uint8`` BGR crop of a box -> share of its coloured ink within ``HUE_TOLERANCE`` hue units of its
    strongest hue, in ``(0, 1]``.

    Coloured ink: saturated, not dark, and at least ``MIN_INK_CONTRAST`` away from the paper (the median colour of
    the crop's lightest tenth), so coloured paper is not taken for a second ink. 1.0 when coloured ink
    covers less than ``MIN_COLOURED_SHARE`` of the crop: a black stamp or a grey scan is not penalised for having no
    colour.
    """
    if crop_bgr.ndim != 3 or crop_bgr.shape[0] < 2 or crop_bgr.shape[1] < 2:
        return 1.0
    hsv = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2HSV)
    # the paper is the lightest part of the box (a solid logo can fill most of its box, a stamp's ink rarely does)
    value = hsv[..., 2]
    paper = np.median(crop_bgr[value >= np.percentile(value, 90)], axis=0)
    contrast = np.abs(crop_bgr.astype(np.int16) - paper.astype(np.int16)).max(axis=2)
    coloured = ((hsv[..., 1] >= MIN_INK_SATURATION) & (hsv[..., 2] >= MIN_INK_VALUE)
                & (contrast >= MIN_INK_CONTRAST))
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


# --------------------------------------------------------------------------- the layout prior
#
# The network is trained on 384-pixel crops of pages, so it never learns where on a page a box lies; yet a
# letterhead's printed logos sit at the top, and signatures and stamps mostly lower down. The layout prior is a
# logistic recalibration per kind, fitted on synthetic validation pages (never a real one):
#     confidence = sigmoid(a * logit(score) + b * y + c * y^2 + d),   y = box centre height / page height in [0, 1]
# so a detection's confidence becomes a probability that it is a true mark (IoU >= 0.5) on such pages.

LAYOUT_FEATURES = ("logit_score", "centre_y", "centre_y_squared")
_EPS = 1e-4


def layout_features(score: float, centre_y: float) -> np.ndarray:
    """``(3,) float64``: the prior's inputs for a box of confidence ``score`` whose centre lies ``centre_y`` (0 = top,
    1 = bottom of the page) down the page."""
    score = min(max(float(score), _EPS), 1.0 - _EPS)
    y = min(max(float(centre_y), 0.0), 1.0)
    return np.array([math.log(score / (1.0 - score)), y, y * y])


def apply_layout_prior(score: float, centre_y: float, prior: dict | None) -> float:
    """The recalibrated confidence; ``score`` unchanged when ``prior`` is empty (no prior for that kind)."""
    if not prior:
        return float(score)
    z = float(np.dot(prior["weights"], layout_features(score, centre_y)) + prior["bias"])
    return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0


def fit_layout_prior(features: np.ndarray, is_true: np.ndarray, ridge: float = 1.0, iterations: int = 50) -> dict:
    """A logistic regression of ``is_true (N,) bool`` on ``features (N, 3)`` (rows of :func:`layout_features`) by
    Newton's method with an L2 penalty ``ridge`` on the weights (not the bias): ``{"weights": [3], "bias": b}``.

    Raises ``ValueError`` when both outcomes are not represented (nothing to fit)."""
    features = np.asarray(features, np.float64)
    target = np.asarray(is_true, np.float64)
    if features.ndim != 2 or len(features) != len(target) or target.min(initial=1) == target.max(initial=0):
        raise ValueError("a layout prior needs true and false detections to fit")
    design = np.hstack([features, np.ones((len(features), 1))])
    penalty = np.eye(design.shape[1]) * ridge
    penalty[-1, -1] = 0.0
    coef = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ coef, -60, 60)))
        gradient = design.T @ (p - target) + penalty @ coef
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty + 1e-9 * np.eye(len(coef))
        step = np.linalg.solve(hessian, gradient)
        coef -= step
        if np.abs(step).max() < 1e-8:
            break
    return {"features": list(LAYOUT_FEATURES), "weights": [round(float(w), 6) for w in coef[:-1]],
            "bias": round(float(coef[-1]), 6)}
