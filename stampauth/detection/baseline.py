"""Classical OpenCV detector of stamps and signatures (no learning), reported beside the neural detector.

Everything runs on a copy of the page scaled so its long side is :data:`WORK_SIDE` pixels; sizes
below are in those working pixels or relative to the printed text height, and boxes are mapped
back to page pixels at the end.

* stamps: saturated stamp-ink colours (red, blue, violet, teal) closed into compact blobs, plus
  thin round outlines on grey scans (Hough circles, lower scores);
* signatures: after ruling lines are removed from the Otsu-binarised page, connected components
  clearly taller than the printed text, grouped along the line and scored by size, stroke
  thinness and curviness.
"""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from stampauth.detection.types import KINDS, Box, Detection

WORK_SIDE = 1000
#: Confidence at which evaluations report the baseline's precision and recall (AP uses every score).
BASELINE_THRESHOLDS = {"signature": 0.5, "stamp": 0.5}

# OpenCV hue is 0..179: red..magenta wrap around 0 (warm inks), teal..blue..violet span 80..144
# (cool inks); yellow, orange and green are not stamp inks and are common in logos
_RED_HUE_MAX, _COOL_HUE_MIN, _MAGENTA_HUE_MIN = 12, 80, 145
_MIN_SATURATION, _MIN_VALUE = 40, 80


def detect_baseline(image_bgr: np.ndarray, kinds: Iterable[str] = KINDS) -> list[Detection]:
    """Stamps and signatures on one page ``(H, W, 3) uint8`` BGR (or ``(H, W)`` grey); boxes in page pixels."""
    kinds = tuple(kinds)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; choose from {KINDS}")
    image = np.asarray(image_bgr)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"expected a uint8 (H, W, 3) BGR or (H, W) grey page, got {image.dtype} {image.shape}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    height, width = image.shape[:2]
    scale = WORK_SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    ink = _ink_mask(gray)

    # stamps are looked for even when only signatures are asked: their lettering is no signature
    stamps = _find_stamps(small, gray, ink)
    found = [("stamp", box, score) for box, score in stamps] if "stamp" in kinds else []
    if "signature" in kinds:
        found += [
            ("signature", box, score)
            for box, score in _find_signatures(ink, gray.shape)
            if not any(_inside_fraction(box, stamp) > 0.6 for stamp, _ in stamps)
        ]
    sx, sy = width / size[0], height / size[1]
    return [
        Detection(kind, Box(x, y, x + w, y + h).scaled(sx, sy).clipped(width, height), round(float(score), 4))
        for kind, (x, y, w, h), score in found
    ]


def _ink_mask(gray: np.ndarray) -> np.ndarray:
    """Dark-on-paper pixels (``uint8`` 0/255); empty when the page has no real contrast."""
    paper = float(np.percentile(gray, 90))
    otsu, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    # on a blank or faint page Otsu splits the paper noise; ink must be clearly darker than paper
    threshold = min(otsu, paper - 40)
    return np.where(gray < threshold, 255, 0).astype(np.uint8)


def _inside_fraction(box, container) -> float:
    """Fraction of ``box`` (x, y, w, h) lying inside ``container``."""
    x, y, w, h = box
    cx, cy, cw, ch = container
    iw = min(x + w, cx + cw) - max(x, cx)
    ih = min(y + h, cy + ch) - max(y, cy)
    return max(iw, 0) * max(ih, 0) / max(w * h, 1)


def _ramp(value: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, linear between (either direction)."""
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def _find_stamps(small: np.ndarray, gray: np.ndarray, ink: np.ndarray):
    """``[((x, y, w, h), score)]`` in working pixels: colour blobs first, then grey round outlines."""
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    # colour right next to dark grey print is scanner fringing, not ink
    print_edges = cv2.dilate(((val < 110) & (sat < _MIN_SATURATION)).astype(np.uint8), np.ones((3, 3), np.uint8))
    inked = (sat >= _MIN_SATURATION) & (val >= _MIN_VALUE) & (print_edges == 0)
    warm = (hue <= _RED_HUE_MAX) | (hue >= _MAGENTA_HUE_MIN)
    cool = (hue >= _COOL_HUE_MIN) & (hue < _MAGENTA_HUE_MIN)
    found = []
    # one stamp is one ink: a blue stamp over a red one is split into two blobs
    for family in (warm, cool):
        colour = (family & inked).astype(np.uint8) * 255
        found += _colour_blobs(colour, ink)
    return found + _round_outlines(gray, ink, [box for box, _ in found])


def _colour_blobs(colour: np.ndarray, ink: np.ndarray):
    """Compact blobs of one ink family (``colour``: uint8 0/255 working-size mask) with their scores."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))  # joins a stamp's letters and rings
    blobs = cv2.morphologyEx(colour, cv2.MORPH_CLOSE, kernel)
    contours, _ = cv2.findContours(blobs, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    page_h, page_w = colour.shape
    found = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        if min(w, h) < 0.025 * WORK_SIDE or w > 0.45 * page_w or h > 0.45 * page_h or max(w, h) > 3 * min(w, h):
            continue
        area = cv2.contourArea(contour)
        solidity = area / max(cv2.contourArea(cv2.convexHull(contour)), 1.0)
        coloured = colour[y : y + h, x : x + w] > 0
        n_coloured = np.count_nonzero(coloured)
        # a stamp closes into a compact blob; pen strokes and scattered specks do not
        if solidity < 0.4 or area < 0.25 * w * h or n_coloured < 0.03 * w * h:
            continue
        colour_fraction = n_coloured / max(np.count_nonzero(coloured | (ink[y : y + h, x : x + w] > 0)), 1)
        # rubber stamps print lines and letters; large solid colour areas are printed logos
        line_art = _ramp(n_coloured / area, 0.9, 0.5)
        score = 0.4 * solidity + 0.35 * colour_fraction + 0.25 * line_art
        found.append(((x, y, w, h), score))
    return found


def _round_outlines(gray: np.ndarray, ink: np.ndarray, taken):
    """Thin circles on grey pages (round stamps without colour), scored 0.2..0.45."""
    # the ALT variant asks for near-perfect circles: far fewer hits in text and 10x faster here
    circles = cv2.HoughCircles(
        cv2.medianBlur(gray, 5), cv2.HOUGH_GRADIENT_ALT, dp=1.5, minDist=0.05 * WORK_SIDE,
        param1=300, param2=0.8, minRadius=int(0.02 * WORK_SIDE), maxRadius=int(0.1 * WORK_SIDE),
    )
    if circles is None:
        return []
    found = []
    angles = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    page_h, page_w = gray.shape
    near_ring = cv2.dilate(ink, np.ones((5, 5), np.uint8)) > 0  # tolerates a ring 2 px off the fit
    for cx, cy, r in sorted(circles[0], key=lambda c: -c[2]):  # an outer ring before the rings inside it
        xs = np.clip(np.round(cx + r * np.cos(angles)).astype(int), 0, page_w - 1)
        ys = np.clip(np.round(cy + r * np.sin(angles)).astype(int), 0, page_h - 1)
        ring = float(np.mean(near_ring[ys, xs]))
        x, y, side = int(cx - r - 2), int(cy - r - 2), int(2 * r + 5)
        inner = ink[int(cy - 0.6 * r) : int(cy + 0.6 * r), int(cx - 0.6 * r) : int(cx + 0.6 * r)]
        # a round stamp is a closed ring around sparse lettering, not a filled disc or a bowl of a glyph
        if ring < 0.8 or inner.size == 0 or np.count_nonzero(inner) > 0.4 * inner.size:
            continue
        box = (max(x, 0), max(y, 0), side, side)
        if any(_inside_fraction(box, other) > 0.3 for other in taken):
            continue
        taken = [*taken, box]
        found.append((box, 0.2 + 0.25 * _ramp(ring, 0.8, 1.0)))
    return found


def _find_signatures(ink: np.ndarray, shape: tuple[int, int]):
    """``[((x, y, w, h), score)]`` in working pixels for handwriting-like ink groups."""
    page_h, page_w = shape
    line = int(0.06 * WORK_SIDE)
    rulings = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, line), np.uint8)) | cv2.morphologyEx(
        ink, cv2.MORPH_OPEN, np.ones((line, 1), np.uint8)
    )
    ink = cv2.subtract(ink, cv2.dilate(rulings, np.ones((3, 3), np.uint8)))  # form lines, tables, underlines
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    heights, widths, areas = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_AREA]
    glyphs = heights[(areas >= 6) & (heights >= 4) & (heights <= 0.04 * WORK_SIDE)]
    # printed text sets the scale: its median glyph height
    text_h = float(np.median(glyphs)) if len(glyphs) >= 20 else 0.012 * WORK_SIDE
    density = areas / np.maximum(widths * heights, 1)
    tall = (heights >= 2.0 * text_h) | ((widths >= 4 * text_h) & (heights >= 1.5 * text_h))
    candidate = (
        tall & (areas >= 3 * text_h) & (density <= 0.4) & (heights <= 0.25 * page_h) & (widths <= 0.5 * page_w)
    )
    ids = np.flatnonzero(candidate) + 1
    if len(ids) == 0:
        return []

    # group pieces of one signature: a pen lifts between names for about the writing's own height
    spans = np.zeros_like(ink)
    for i in ids:
        x, y, w, h = stats[i, :4]
        pad_x, pad_y = int(h), int(0.25 * h)
        cv2.rectangle(spans, (x - pad_x, y - pad_y), (x + w + pad_x, y + h + pad_y), 255, -1)
    _, group_of = cv2.connectedComponents(spans, connectivity=4)
    members: dict[int, list[int]] = {}
    for i in ids:
        x, y, w, h = stats[i, :4]
        members.setdefault(int(group_of[y + h // 2, x + w // 2]), []).append(i)

    found = []
    for group in members.values():
        x0 = min(stats[i, cv2.CC_STAT_LEFT] for i in group)
        y0 = min(stats[i, cv2.CC_STAT_TOP] for i in group)
        x1 = max(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] for i in group)
        y1 = max(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] for i in group)
        w, h = x1 - x0, y1 - y0
        crop = np.isin(labels[y0:y1, x0:x1], group).astype(np.uint8)
        stroke, turns = _stroke_shape(crop, text_h)
        group_heights = stats[group, cv2.CC_STAT_HEIGHT]
        # bold headings: many parts of one height side by side; handwriting varies
        uniform = len(group) >= 4 and np.std(group_heights) < 0.15 * np.mean(group_heights)
        # a signature spans a name: several text heights tall, a word or more wide, thin and loopy
        score = (
            0.2 * _ramp(h / text_h, 2.0, 4.0)
            + 0.3 * _ramp(w / text_h, 5.0, 15.0)
            + 0.2 * _ramp(stroke / h, 0.15, 0.05)
            + 0.15 * _ramp(turns / len(group), 2.0, 8.0)
            + 0.15 * _ramp(w / h, 1.0, 3.0)
        ) * (0.4 if uniform else 1.0)
        if score >= 0.3:
            found.append(((int(x0), int(y0), int(w), int(h)), score))
    return found


def _stroke_shape(crop: np.ndarray, text_h: float) -> tuple[float, float]:
    """Mean stroke width (pixels) and total turning of the outer outlines (full turns) of a 0/1 mask."""
    contours, hierarchy = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    stroke = 2 * float(crop.sum()) / max(perimeter, 1.0)
    step = max(2, int(round(text_h / 4)))  # coarser than pixel staircase, finer than a loop
    turning = 0.0
    for contour, (_, _, _, parent) in zip(contours, hierarchy[0]):
        points = contour[::step, 0].astype(float)
        if parent != -1 or len(points) < 4:
            continue
        direction = np.arctan2(*np.diff(np.vstack([points, points[:1]]), axis=0).T[::-1])
        turn = np.diff(np.append(direction, direction[0]))
        turning += float(np.abs((turn + np.pi) % (2 * np.pi) - np.pi).sum())
    return stroke, turning / (2 * np.pi)
