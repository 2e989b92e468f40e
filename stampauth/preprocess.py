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
    pipeline: str = "signature"  # "signature": preprocess_mark; "stamp": preprocess_stamp (colour ink, round canvas)
    rotation_views: int = 1  # stamps: a query is embedded at this many rotations (360 / n degrees apart)


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


def to_bgr(image: np.ndarray) -> np.ndarray | None:
    """``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA uint8 -> ``(H, W, 3)`` BGR (transparency over white paper);
    ``None`` for a grey image, which has no colour to separate inks by."""
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        return None
    if image.shape[2] == 3:
        return image
    alpha = image[:, :, 3:4].astype(np.float32) / 255.0
    return (image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def denoise(gray: np.ndarray, ksize: int = 3) -> np.ndarray:
    """Median filter: removes salt-and-pepper scan noise, keeps stroke edges. ``(H, W[, 3]) -> same shape``."""
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


def normalize_ink(strength: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Ink strength (any scale, ``(H, W)``) inside ``mask`` -> ``(H, W) float32`` in ``[0, 1]``: zero outside the
    mask, the 95th percentile of the ink mapped to 1, so faint and dark pens or pads compare."""
    ink = np.where(mask > 0, strength, 0.0).astype(np.float32)
    values = ink[mask > 0]
    if values.size:
        top = float(np.percentile(values, 95))
        if top > 1e-3:
            ink = np.clip(ink / top, 0.0, 1.0)
    return ink


def remove_background(gray: np.ndarray, ink_mask: np.ndarray) -> np.ndarray:
    """Paper -> 0, ink -> its darkness in ``[0, 1]``, contrast-stretched so pens and scanners compare.

    ``gray (H, W) uint8``, ``ink_mask (H, W) uint8`` -> ``ink (H, W) float32``.
    """
    return normalize_ink((255.0 - gray.astype(np.float32)) / 255.0, ink_mask)


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


# --------------------------------------------------------------------------------------------------
# Stamps: the ink of one colour, on a square canvas that any rotation keeps whole

# Bumped when a pipeline's output changes for crops it handled before, so that stored embeddings are recomputed
# (the model's version alone does not change then); "" = as the shipped models were trained. Stamp "ink2"
# (2026-12-07): the ink that fills the frame among several, hue windows stopping at a near ink's valley.
PIPELINE_REVISIONS = {"signature": "", "stamp": "ink2"}


def pipeline_revision(config: PreprocessConfig) -> str:
    """The revision of ``config.pipeline``'s code (:data:`PIPELINE_REVISIONS`)."""
    return PIPELINE_REVISIONS.get(config.pipeline, "")


MIN_STAMP_CHROMA = 28.0  # below this (0-255 scale) a crop has no coloured ink worth separating: treat as black
HUE_TOLERANCE = 14  # OpenCV hue units (0-180): how far from the stamp's dominant hue its ink may stray


def chroma_and_hue(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W, 3) uint8`` BGR -> ``(chroma (H, W) float32 in [0, 255], hue (H, W) uint8 in [0, 180))``.

    Chroma (max - min channel) is high for stamp-pad inks and near zero for black print, grey
    pencil and white paper, whatever their darkness: it is what tells a stamp from the text under it.
    """
    blue, green, red = cv2.split(bgr)
    chroma = cv2.subtract(cv2.max(cv2.max(blue, green), red), cv2.min(cv2.min(blue, green), red)).astype(np.float32)
    hue = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)[:, :, 0]
    return chroma, hue


def _hue_histogram(hue: np.ndarray, weight: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """``(180,) float64``: ``weight`` per hue, circularly smoothed with a Gaussian of ``sigma`` hue units (its
    maximum is the ink's mode; a box filter's flat top put it at the top's edge, up to 6 units off)."""
    histogram = np.bincount(hue.ravel(), weights=weight.ravel(), minlength=180)[:180]
    offsets = np.arange(-3 * int(np.ceil(sigma)), 3 * int(np.ceil(sigma)) + 1)
    smooth = np.zeros(180)
    for offset, k in zip(offsets, np.exp(-0.5 * (offsets / sigma) ** 2)):
        smooth += k * np.roll(histogram, offset)
    return smooth


def dominant_hue(hue: np.ndarray, weight: np.ndarray) -> int:
    """The hue (0-180) carrying the most ``weight``, from a circularly smoothed histogram."""
    return int(np.argmax(_hue_histogram(hue, weight)))


def hue_peaks(smooth: np.ndarray, min_share: float = 0.2, min_gap: int = HUE_TOLERANCE, limit: int = 3) -> list[int]:
    """The hues (0-180) of the inks in a crop, strongest first, from its smoothed hue histogram ``smooth (180,)``
    (:func:`_hue_histogram`): local maxima holding at least ``min_share`` of the strongest one, more than
    ``min_gap`` apart. The first is :func:`dominant_hue`."""
    peaks: list[int] = []
    for h in np.argsort(-smooth, kind="stable"):
        if smooth[h] <= 0 or smooth[h] < min_share * smooth[peaks[0] if peaks else h] or len(peaks) == limit:
            break
        near = [(h + d) % 180 for d in (-3, -2, -1, 1, 2, 3)]
        if all(abs(_hue_offset(p, int(h))) > min_gap for p in peaks) and smooth[h] >= smooth[near].max():
            peaks.append(int(h))
    return peaks


def _hue_offset(centre: int, hue):
    """Signed circular hue difference ``hue - centre`` in ``[-90, 90)`` (scalar or array)."""
    return (np.asarray(hue, np.int16) - centre + 90) % 180 - 90


def hue_window(smooth: np.ndarray, centre: int, peaks: list[int]) -> tuple[int, int]:
    """``(low, high)`` hue offsets around ``centre`` that its ink takes: +-:data:`HUE_TOLERANCE`, but never past the
    valley of the smoothed hue histogram ``smooth (180,)`` toward another ink's peak (``peaks``) less than twice
    that far away.

    Two stamp-pad inks can lie 15-25 hue units apart (teal and blue); where they cross, and along the other's
    blurred edges, their pixels take hues in between, and a fixed window lets that stray ink in.
    """
    low, high = -HUE_TOLERANCE, HUE_TOLERANCE
    for peak in peaks:
        offset = int(_hue_offset(centre, peak))
        if offset == 0 or abs(offset) > 2 * HUE_TOLERANCE:
            continue
        between = np.arange(1, abs(offset)) * np.sign(offset)
        valley = int(between[np.argmin(smooth[(centre + between) % 180])])
        if offset > 0:
            high = min(high, valley)
        else:
            low = max(low, valley)
    return low, high


def stamp_ink(image: np.ndarray, config: PreprocessConfig = PreprocessConfig(pipeline="stamp")) -> tuple[np.ndarray, str]:
    """Any 8-bit crop -> ``(ink (H, W) float32 in [0, 1], how)`` with ``how`` = ``"colour"`` or ``"black"``.

    A coloured stamp is taken from its colour alone: chroma within :data:`HUE_TOLERANCE` of its ink's
    hue (never past the valley toward another ink's hue, :func:`hue_window`), Otsu with hysteresis, so
    black text, table rules and a signature or stamp of another hue under it drop out (gaps the print
    leaves are bridged).  When the crop holds several inks (:func:`hue_peaks`), the one whose ink
    fills the crop's frame is the stamp (:func:`_framing`), not the one with the most colour.  A black (or grey-scanned)
    stamp falls back to darkness with Otsu and printed rule lines erased; :func:`stamp_body` then
    drops what lies away from the stamp in either case.
    """
    bgr = to_bgr(image)
    if bgr is not None:
        chroma, hue = chroma_and_hue(denoise(bgr, config.denoise_ksize))
        if float(np.percentile(chroma, 99.5)) >= MIN_STAMP_CHROMA:
            strong = chroma > MIN_STAMP_CHROMA
            dark, _ = otsu_binarize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))  # stamp and print alike
            found = []
            smooth = _hue_histogram(hue[strong], chroma[strong])
            peaks = hue_peaks(smooth)
            for centre in peaks:
                window = hue_window(smooth, centre, peaks)
                mask, levels = _colour_ink_mask(chroma, hue, centre, window, config)
                if _enough_colour_ink(mask, dark, config):
                    found.append((mask, levels))
            if found:
                # Another stamp often overlaps this one in another ink (documents collect stamps), and may carry more
                # colour; the crop is framed on its own stamp, so the ink that fills the frame is the one to take.
                mask, levels = max(found, key=lambda m: _framing(m[0]))
                ink = normalize_ink(levels, mask)
                return _fill_under_print(ink, dark, mask), "colour"
            # a dark, barely coloured ink (brown-black) just over the chroma floor: its colour finds nothing,
            # its darkness does
    gray = denoise(to_grayscale(image), config.denoise_ksize)
    mask, _ = otsu_binarize(gray)
    mask = remove_specks(remove_rule_lines(mask), int(config.min_component_frac * mask.size))
    darkness = 255.0 - gray.astype(np.float32)
    return normalize_ink(darkness, mask), "black"


def _colour_ink_mask(chroma: np.ndarray, hue: np.ndarray, centre: int, window: tuple[int, int],
                     config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """The ink of hue ``centre`` (offsets ``window``, see :func:`hue_window`): ``(mask (H, W) uint8 0/255, chroma
    of that hue (H, W) float32, 0 elsewhere)``; Otsu on its chroma with hysteresis."""
    offset = _hue_offset(centre, hue)
    selected = np.where((offset >= window[0]) & (offset <= window[1]), chroma, 0.0).astype(np.float32)
    levels = np.clip(selected, 0, 255).astype(np.uint8)
    strong, threshold = otsu_binarize(255 - levels)
    # Hysteresis: faint strokes (thin text, a dry side of the pad) stay when they touch firm ink;
    # faint colour on its own (JPEG fringes around black print) does not.
    weak = (levels >= max(0.45 * (255 - threshold), 18)).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    anchored = np.zeros(count, bool)
    anchored[np.unique(labels[strong > 0])] = True
    anchored[0] = False
    mask = np.where(anchored[labels], 255, 0).astype(np.uint8)
    return remove_specks(mask, int(config.min_component_frac * mask.size)), selected


def _framing(mask: np.ndarray) -> float:
    """How well an ink fills the crop's frame: the share of the crop covered by the box of its middle 96 % of ink
    pixels along each axis (a stamp the crop was cut around spans it; another stamp's edge across one side does not)."""
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    x0, x1 = np.percentile(xs, (2, 98))
    y0, y1 = np.percentile(ys, (2, 98))
    return float((x1 - x0 + 1) * (y1 - y0 + 1) / (width * height))


def _enough_colour_ink(mask: np.ndarray, dark: np.ndarray, config: PreprocessConfig) -> bool:
    """Did the colour separation find a stamp? At least a few specks' worth of pixels and 2 % of the crop's dark
    pixels (``dark``: Otsu of the grey crop; a coloured stamp over dense print still has far more)."""
    found = int(np.count_nonzero(mask))
    if found < max(16, 4 * int(config.min_component_frac * mask.size)):
        return False
    return found >= 0.02 * int(np.count_nonzero(dark))


def _fill_under_print(ink: np.ndarray, dark: np.ndarray, stamp_mask: np.ndarray) -> np.ndarray:
    """Where black print covers the stamp, its colour is gone: bridge such gaps from the ink around them.

    Only pixels that are dark print (``dark``, the Otsu mask of the grey crop, and not the stamp's colour) and
    enclosed by stamp ink within a small closing are filled, so text lying beside the stamp adds nothing.
    """
    print_mask = cv2.bitwise_and(dark, cv2.bitwise_not(stamp_mask))
    if not print_mask.any():
        return ink
    size = max(3, int(round(0.02 * max(ink.shape))) | 1)
    closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return np.where(print_mask > 0, np.maximum(ink, closed), ink).astype(np.float32)


def stamp_body(ink: np.ndarray, reach: float = 0.06, min_share: float = 0.12) -> np.ndarray:
    """``ink (H, W) float32`` -> the same with ink far from the stamp's body removed.

    Ink blobs closer than ``reach`` of the crop's long side are grouped (dilation); a group that
    touches the crop's edge and holds less than ``min_share`` of all ink is a piece of something else
    the crop cut into (another stamp, a coloured logo) and is dropped.  Small groups inside stay:
    dots and stars are part of many stamps.
    """
    mask = (ink > 0).astype(np.uint8)
    if not mask.any():
        return ink
    size = max(3, int(reach * max(ink.shape)) | 1)
    grouped = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    count, labels = cv2.connectedComponents(grouped, connectivity=8)
    if count <= 2:
        return ink
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=count)
    edge = np.zeros(count, bool)
    edge[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    keep = (mass >= min_share * mass[1:].sum()) | ~edge
    keep[0] = False
    return np.where(keep[labels], ink, 0.0).astype(np.float32)


def preprocess_stamp(image: np.ndarray, config: PreprocessConfig = PreprocessConfig(pipeline="stamp"),
                     debug: dict | None = None) -> np.ndarray:
    """Crop of a stamp (any 8-bit layout; colour gives the best separation) -> model input.

    Returns ``(config.canvas_height, config.canvas_width) float32`` in ``[0, 1]`` (square canvases
    are expected).  The ink's minimum enclosing circle, not its box, is scaled to the canvas: the
    circle does not change when the stamp turns, so impressions at any angle get the same scale and
    :func:`rotate_canvas` never cuts ink off.  Raises :class:`InvalidInput` when there is no ink.
    """
    height, width = image.shape[:2]
    limit = 4 * max(config.canvas_height, config.canvas_width)
    if max(height, width) > limit:  # no detail the canvas could show is lost, and the rest is faster
        scale = limit / max(height, width)
        image = cv2.resize(image, (max(1, int(width * scale)), max(1, int(height * scale))), interpolation=cv2.INTER_AREA)
    ink, how = stamp_ink(image, config)
    ink = stamp_body(ink)
    points = cv2.findNonZero((ink > 0).astype(np.uint8))
    if points is None:
        raise InvalidInput("the image contains no ink: send a crop that shows the stamp")
    (cx, cy), radius = cv2.minEnclosingCircle(cv2.convexHull(points))
    radius = max(radius, 2.0)
    side = min(config.canvas_height, config.canvas_width)
    target = side / 2 * (1 - 2 * config.margin_frac)
    scale = target / radius
    # one affine map: the circle's centre to the canvas centre, its radius to ``target``
    if scale < 1:  # shrink with area averaging first so thin strokes do not alias away
        small = cv2.resize(ink, (max(1, int(round(ink.shape[1] * scale))), max(1, int(round(ink.shape[0] * scale)))),
                           interpolation=cv2.INTER_AREA)
        # pixel centres: x' = (x + 0.5) * s - 0.5
        cx = (cx + 0.5) * small.shape[1] / ink.shape[1] - 0.5
        cy = (cy + 0.5) * small.shape[0] / ink.shape[0] - 0.5
        ink, scale = small, 1.0
    matrix = np.float32([[scale, 0, (config.canvas_width - 1) / 2 - scale * cx],
                         [0, scale, (config.canvas_height - 1) / 2 - scale * cy]])
    canvas = cv2.warpAffine(ink, matrix, (config.canvas_width, config.canvas_height), flags=cv2.INTER_LINEAR,
                            borderValue=0.0)
    canvas = np.clip(canvas, 0.0, 1.0).astype(np.float32)
    if debug is not None:
        debug.update(image=image if image.ndim == 2 else image[:, :, :3], **{f"ink_{how}": ink}, canvas=canvas)
    return canvas


def rotate_canvas(canvas: np.ndarray, degrees: float) -> np.ndarray:
    """``(S, S) float32`` canvas turned ``degrees`` counter-clockwise about its centre (same shape)."""
    height, width = canvas.shape
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), degrees, 1.0)
    return cv2.warpAffine(canvas, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0.0)


def rotation_views(canvas: np.ndarray, views: int) -> np.ndarray:
    """``(S, S)`` -> ``(views, S, S)``: the canvas at 0, 360/views, ... degrees (the query side of stamp scoring)."""
    return np.stack([canvas if k == 0 else rotate_canvas(canvas, 360.0 * k / views) for k in range(max(1, views))])


def preprocess_any(image: np.ndarray, config: PreprocessConfig, debug: dict | None = None) -> np.ndarray:
    """The pipeline ``config`` names: :func:`preprocess_mark` (signatures) or :func:`preprocess_stamp`."""
    if config.pipeline == "stamp":
        return preprocess_stamp(image, config, debug)
    return preprocess_mark(image, config, debug)
