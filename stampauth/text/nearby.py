"""The neighbourhood of a mark: where its bands lie, which band a word is in, and the cleaned image to OCR.

Conventions: boxes are :class:`~stampauth.detection.types.Box` in page pixels unless a name says
otherwise; ``gray`` images are ``(H, W) uint8`` with 0 = black; ``bgr`` images ``(H, W, 3) uint8``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stampauth.detection.types import Box
from stampauth.preprocess import (
    HUE_TOLERANCE, MIN_STAMP_CHROMA, chroma_and_hue, dominant_hue, to_bgr,
)
from stampauth.text.types import NearbyConfig, OcrWord

TEXT_HEIGHT_PX = 30  # Tesseract reads best with characters about this tall (cap height of 10-pt print at 300 dpi)
MAX_SKEW_DEG = 4.0
BAND_ORDER = ("inside", "below", "above", "left", "right")  # the bands, in the order a word's place is looked up


def _extent(multiple: float, size: float, config: NearbyConfig) -> float:
    if multiple <= 0:
        return 0.0
    return float(np.clip(multiple * size, config.min_extent_px, config.max_extent_px))


def bands(mark: Box, config: NearbyConfig, page_width: int, page_height: int) -> dict[str, Box]:
    """``{position: band}`` for each position the config reads, clipped to the page (empty bands left out)."""
    w, h = mark.width, mark.height
    spread = config.spread * w
    below, above = _extent(config.below, h, config), _extent(config.above, h, config)
    left, right = _extent(config.left, w, config), _extent(config.right, w, config)
    found = {
        "below": Box(mark.x0 - spread, mark.y1, mark.x1 + spread, mark.y1 + below) if below else None,
        "above": Box(mark.x0 - spread, mark.y0 - above, mark.x1 + spread, mark.y0) if above else None,
        "left": Box(mark.x0 - left, mark.y0, mark.x0, mark.y1) if left else None,
        "right": Box(mark.x1, mark.y0, mark.x1 + right, mark.y1) if right else None,
        "inside": mark if config.inside else None,
    }
    clipped = {k: b.clipped(page_width, page_height) for k, b in found.items() if b is not None}
    return {k: b for k, b in clipped.items() if b.area > 0}


def context_boxes(band_boxes: dict[str, Box], config: NearbyConfig, page_width: int, page_height: int) -> list[Box]:
    """The bands, each widened along its text lines by ``config.max_extent_px`` (outwards only for left/right):
    what is read, so a line that starts in a band is read whole, not cut at the band's edge."""
    reach = float(config.max_extent_px)
    widened = {
        "below": lambda b: Box(b.x0 - reach, b.y0, b.x1 + reach, b.y1),
        "above": lambda b: Box(b.x0 - reach, b.y0, b.x1 + reach, b.y1),
        "left": lambda b: Box(b.x0 - reach, b.y0, b.x1, b.y1),
        "right": lambda b: Box(b.x0, b.y0, b.x1 + reach, b.y1),
        "inside": lambda b: b,
    }
    return [widened[k](b).clipped(page_width, page_height) for k, b in band_boxes.items()]


def position_of(word: Box, band_boxes: dict[str, Box]) -> str | None:
    """The band holding the word's centre (``inside`` first), or None."""
    cx, cy = (word.x0 + word.x1) / 2, (word.y0 + word.y1) / 2
    for position in BAND_ORDER:
        band = band_boxes.get(position)
        if band is not None and band.x0 <= cx < band.x1 and band.y0 <= cy < band.y1:
            return position
    return None


def union(boxes) -> Box:
    boxes = list(boxes)
    return Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes), max(b.x1 for b in boxes), max(b.y1 for b in boxes))


# --------------------------------------------------------------------------------------------------
# Cleanup for Tesseract


def remove_coloured_ink(bgr: np.ndarray, mark_region: tuple[int, int, int, int]) -> np.ndarray:
    """``bgr (H, W, 3)`` -> ``gray (H, W)`` with the mark's coloured ink (a stamp pad's or a blue pen's) turned
    to paper, wherever it lies. The ink's hue is the dominant strong hue within ``mark_region`` (x0, y0, x1, y1
    in this image's pixels); black print keeps its darkness. A mark without colour leaves the grey as it is."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    x0, y0, x1, y1 = mark_region
    chroma, hue = chroma_and_hue(bgr)
    inside = chroma[y0:y1, x0:x1]
    if inside.size == 0 or float(np.percentile(inside, 99)) < MIN_STAMP_CHROMA:
        return gray
    strong = inside > MIN_STAMP_CHROMA
    centre = dominant_hue(hue[y0:y1, x0:x1][strong], inside[strong])
    distance = np.abs(hue.astype(np.int16) - centre)
    distance = np.minimum(distance, 180 - distance)
    ink = ((chroma > 0.6 * MIN_STAMP_CHROMA) & (distance <= HUE_TOLERANCE + 4)).astype(np.uint8)
    ink = cv2.dilate(ink, np.ones((3, 3), np.uint8)) > 0  # the ink's soft fringe too
    # Where the coloured ink lies over black print, the mix is dark and colourless: that is print, keep it.
    print_under = (gray < 110) & (chroma < 0.5 * MIN_STAMP_CHROMA)
    return np.where(ink & ~print_under, 255, gray).astype(np.uint8)


def percentile_u8(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) of uint8 ``values`` from their histogram: the same
    figure without sorting a region's pixels (which took a tenth of the OCR preparation time)."""
    counts = np.cumsum(np.bincount(values.ravel(), minlength=256))
    rank = q / 100.0 * (counts[-1] - 1)
    low = int(np.searchsorted(counts, np.floor(rank), side="right"))
    high = int(np.searchsorted(counts, np.ceil(rank), side="right"))
    return float(low + (high - low) * (rank - np.floor(rank)))


def ink_mask(gray: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``gray (H, W) uint8`` -> ``(H, W) uint8`` 255 where there is ink: Otsu's threshold over ``region`` (a bool
    mask), but never closer to the paper's tone than 45 levels, so blank noisy paper does not turn into "ink"."""
    smooth = cv2.medianBlur(gray, 3)
    values = smooth[region] if region.any() else smooth.ravel()
    otsu, _ = cv2.threshold(values.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    paper = percentile_u8(values, 90)
    return np.where(smooth < min(otsu, paper - 45), 255, 0).astype(np.uint8)


def text_height(mask: np.ndarray) -> float:
    """Median height of character-sized ink components of a binary ``mask (H, W) uint8`` (255 = ink); 0 if none."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    widths = stats[1:, cv2.CC_STAT_WIDTH]
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = (heights >= 6) & (heights <= 200) & (widths <= 3 * heights) & (areas >= 12)
    return float(np.median(heights[keep])) if keep.sum() >= 3 else 0.0


def rule_lines(mask: np.ndarray, length: int, max_thickness: int) -> np.ndarray:
    """The straight horizontal and vertical runs of ``mask (H, W) uint8`` (255 = ink) at least ``length`` pixels
    long and at most ``max_thickness`` thick: printed rules, not letters (whose strokes are a text line high)."""
    rules = np.zeros_like(mask)
    for kernel, thick in (((length, 1), (1, max_thickness + 1)), ((1, length), (max_thickness + 1, 1))):
        runs = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
        runs = cv2.subtract(runs, cv2.morphologyEx(runs, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, thick)))
        rules = cv2.bitwise_or(rules, runs)
    return rules


def remove_big_strokes(mask: np.ndarray, region: tuple[int, int, int, int], height: float) -> np.ndarray:
    """Erase ink components within ``region`` that are far taller or wider than text of ``height``: a dark
    signature's strokes (its colour did not tell it from print). ``mask (H, W) uint8`` 255 = ink."""
    if height <= 0:
        return mask
    x0, y0, x1, y1 = region
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    big = np.zeros(count, bool)
    for i in range(1, count):
        x, y, w, h, _ = stats[i]
        inside = x >= x0 - 2 and y >= y0 - 2 and x + w <= x1 + 2 and y + h <= y1 + 2
        big[i] = inside and (h > 2.2 * height or w > 12 * height)
    return np.where(big[labels], 0, mask).astype(np.uint8)


def lines_reaching(mask: np.ndarray, region: tuple[int, int, int, int], height: float) -> np.ndarray:
    """The ink of ``mask (H, W) uint8`` that belongs to text lines reaching into ``region`` (x0, y0, x1, y1): letters
    closer than about a character height side by side form a line; other print is dropped (less to OCR).

    (Tried: also dropping lines of one ink component narrower than 2.5 text heights, specks such as a removed
    stamp's fringe: 10 % less area for Tesseract, but a higher nearby CER on all three development seeds.)
    """
    reach = max(3, int(1.2 * height))
    lines = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (reach, 1)))
    count, labels = cv2.connectedComponents(lines, connectivity=8)
    x0, y0, x1, y1 = region
    inside = np.unique(labels[max(0, y0):max(0, y1), max(0, x0):max(0, x1)])
    keep = np.zeros(count, bool)
    keep[inside] = True
    keep[0] = False
    return np.where(keep[labels], mask, 0).astype(np.uint8)


def estimate_skew(mask: np.ndarray, max_deg: float = MAX_SKEW_DEG, step: float = 0.25) -> float:
    """Angle in degrees (counter-clockwise positive, as ``cv2.getRotationMatrix2D``) that makes the text lines of
    ``mask (H, W) uint8`` horizontal: the rotation whose row profile is sharpest (projection-profile method)."""
    if mask.sum() < 255 * 200:
        return 0.0
    scale = min(1.0, 600.0 / max(mask.shape))
    small = cv2.resize(mask, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else mask
    h, w = small.shape
    best, best_score = 0.0, -1.0
    for angle in np.arange(-max_deg, max_deg + 1e-6, step):
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), float(angle), 1.0)
        rows = cv2.warpAffine(small, matrix, (w, h), flags=cv2.INTER_NEAREST).sum(axis=1, dtype=np.float64)
        score = float(np.sum(np.diff(rows) ** 2))
        if score > best_score:
            best, best_score = float(angle), score
    return best


@dataclass(frozen=True)
class PreparedRegion:
    """A cleaned neighbourhood ready for Tesseract, and how to map its pixels back to the page."""

    image: np.ndarray  # (h, w) uint8, black text on white
    to_page: np.ndarray  # (2, 3) affine: prepared pixels -> page pixels
    skew_deg: float
    scale: float

    def word_to_page(self, word: OcrWord) -> Box:
        b = word.box
        corners = np.array([[b.x0, b.y0, 1], [b.x1, b.y0, 1], [b.x0, b.y1, 1], [b.x1, b.y1, 1]], np.float64)
        mapped = corners @ self.to_page.T
        return Box(float(mapped[:, 0].min()), float(mapped[:, 1].min()), float(mapped[:, 0].max()),
                   float(mapped[:, 1].max()))


def prepare_region(page: np.ndarray, region: Box, mark: Box, keep: list[Box], remove_mark_ink: bool = True,
                   target_height: float = TEXT_HEIGHT_PX, band: Box | None = None) -> PreparedRegion | None:
    """Cut ``region`` of ``page (H, W, 3) BGR``, blank all but the ``keep`` boxes, remove the mark's own ink and
    printed rules, find the ink (Otsu, guarded against blank paper), deskew and scale the text to ``target_height``.
    With ``band``, only the text lines that reach into it are kept (the rest of the region is there so those lines
    are read whole). None when nothing text-like is there."""
    x0, y0 = int(max(0, np.floor(region.x0))), int(max(0, np.floor(region.y0)))
    x1, y1 = int(min(page.shape[1], np.ceil(region.x1))), int(min(page.shape[0], np.ceil(region.y1)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    crop = page[y0:y1, x0:x1]
    mark_local = (int(max(0, mark.x0 - x0)), int(max(0, mark.y0 - y0)), int(min(x1, mark.x1) - x0),
                  int(min(y1, mark.y1) - y0))
    bgr = to_bgr(crop)
    plain = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr is not None else (crop if crop.ndim == 2 else crop[:, :, 0])
    gray = remove_coloured_ink(bgr, mark_local) if bgr is not None and remove_mark_ink else plain
    visible = np.zeros(gray.shape, bool)
    for box in keep:
        visible[int(max(0, box.y0 - y0)):int(max(0, box.y1 - y0)), int(max(0, box.x0 - x0)):int(max(0, box.x1 - x0))] = True
    if float(np.where(visible, gray, 255).min()) > 160:  # nothing dark enough to be print
        return None
    mask = ink_mask(gray, visible)
    height = text_height(np.where(visible, mask, 0).astype(np.uint8))
    if height == 0:
        return None
    # Printed rules (a signature line, table borders): straight runs many characters long. Found on the page as
    # it is, before the mark's ink is taken out and the bands are blanked, either of which cuts a rule into
    # pieces too short to tell from text.
    everything = ink_mask(plain, visible)
    rules = rule_lines(everything, int(8 * height), max(3, int(0.25 * height)))
    mask = cv2.subtract(mask, cv2.dilate(rules, np.ones((3, 3), np.uint8)))
    mask = np.where(visible, mask, 0).astype(np.uint8)
    if remove_mark_ink:
        mask = remove_big_strokes(mask, mark_local, height)
    if band is not None:
        mask = lines_reaching(mask, (int(band.x0 - x0), int(band.y0 - y0), int(np.ceil(band.x1 - x0)),
                                     int(np.ceil(band.y1 - y0))), height)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    # read only the part with ink (Tesseract's time grows with the area it is given)
    margin = int(2 * height)
    top, bottom = max(0, rows[0] - margin), min(mask.shape[0], rows[-1] + 1 + margin)
    left, right = max(0, cols[0] - margin), min(mask.shape[1], cols[-1] + 1 + margin)
    mask = mask[top:bottom, left:right]
    gray = gray[top:bottom, left:right]
    x0, y0 = x0 + left, y0 + top
    # Tesseract gets the page's own grey levels (its binarization keeps thin gaps Otsu's can close) where the
    # cleaned mask has ink, and white paper everywhere else.
    text = 255 - np.where(cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0, gray, 255).astype(np.uint8)
    skew = estimate_skew(mask)
    scale = float(np.clip(target_height / height, 0.35, 3.0))
    h, w = mask.shape
    out_w, out_h = int(round(w * scale)), int(round(h * scale))
    # page -> prepared: translate to the crop, rotate about its centre, scale
    rotate = cv2.getRotationMatrix2D((w / 2, h / 2), skew, scale)  # about the centre, which then moves to the new centre
    rotate[0, 2] += (out_w - w) / 2
    rotate[1, 2] += (out_h - h) / 2
    prepared = cv2.warpAffine(255 - text, rotate, (out_w, out_h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                              borderValue=255)
    full = np.vstack([rotate, [0, 0, 1]])
    back = np.linalg.inv(full)[:2]
    back[:, 2] += (x0, y0)
    return PreparedRegion(prepared, back, skew, scale)
