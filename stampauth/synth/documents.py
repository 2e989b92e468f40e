"""Synthetic document pages with exact ground truth for training and testing the detector.

A page is laid out like a business letter, a form or an invoice (letterhead and logo, address block,
headings, paragraphs in several fonts, tables with ruled lines, signature lines with printed names,
fax headers and Bates numbers), then signed (real signatures from a :class:`SignatureBank` and
synthetic ones), stamped (round, oval and rectangular stamps in several inks, often over text and
signatures) and "scanned" (skew, blur, noise, uneven light, grey or fax-like black-and-white, low
resolution, JPEG, dark scanner borders, and the stretched square exports of some public data sets).

The ground truth is the tight box of the ink of every signature and stamp, in output pixels.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from stampauth.detection.types import KINDS, Box
from stampauth.synth import fonts

log = logging.getLogger(__name__)

PAPER_INCHES = {"a4": (8.27, 11.69), "letter": (8.5, 11.0)}
PRINT_INK_THRESHOLD = 0.15  # coverage above which a pixel counts as part of a mark's box
# Generator versions: a seed gives the same pages in every version it names. 1: what the shipped detector was
# trained on (the default). 2: + logos set in printed script fonts, black line-art logos, handwritten dates and
# form entries (unlabelled), larger and fainter signatures (an experiment; see models/MODEL_CARD.md). 3: version 2
# + more invoices and the print they carry (dense tables of figures, tables and headings printed in colour, boxed
# totals, barcodes and 2-D codes), all unlabelled: a detector must not call a dense coloured table a stamp. 4:
# version 3 + printed crests and seal-like badges (solid fills, two to four colours, lettering knocked out in white)
# among the letterhead emblems, unlabelled: a detector must not call a printed round logo a stamp. 5: version 4 +
# handwriting that is not a signature on more pages and in blocks of several lines (notes, figures, reference codes,
# written larger), and co-signers' blocks stacked one above the other (a signature close under another signer's
# printed name); an experiment, not shipped: fine-tuning on it did not help (models/MODEL_CARD.md). 6: version 5
# with nine in ten labelled signatures real (from the bank, when one is given) instead of six in ten, so that the
# pen-trajectory generator mostly draws the handwriting that is not a signature (an experiment).
GENERATOR_VERSIONS = (1, 2, 3, 4, 5, 6)
REAL_SIGNATURE_SHARE = {1: 0.6, 2: 0.6, 3: 0.6, 4: 0.6, 5: 0.6, 6: 0.9}  # of labelled signatures, with a bank
DEFAULT_GENERATOR_VERSION = 1


@dataclass(frozen=True)
class SyntheticPage:
    """One generated page: ``image (H, W, 3) uint8 BGR`` and its marks as ``(kind, Box)`` in pixels."""

    image: np.ndarray
    marks: tuple[tuple[str, Box], ...]


# ----------------------------------------------------------------------------- words


_ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr", "br",
           "ch", "sh", "pl", "gr", "th", "sch", "kr", ""]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ie", "ou", "y", "ae"]
_CODAS = ["", "", "n", "r", "s", "t", "l", "nd", "rt", "ck", "m", "ng", "st"]
_COMMON = ["the", "and", "of", "to", "in", "for", "is", "on", "that", "by", "with", "as", "we", "our", "your",
           "der", "die", "und", "de", "la", "le", "et", "van", "het"]


def _word(rng: np.random.Generator) -> str:
    if rng.random() < 0.3:
        return _COMMON[int(rng.integers(len(_COMMON)))]
    syllables = int(rng.choice([1, 1, 2, 2, 2, 3, 3, 4]))
    return "".join(_ONSETS[int(rng.integers(len(_ONSETS)))] + _VOWELS[int(rng.integers(len(_VOWELS)))]
                   + _CODAS[int(rng.integers(len(_CODAS)))] for _ in range(syllables))


def _name(rng: np.random.Generator) -> str:
    first = _word(rng).capitalize()
    if rng.random() < 0.4:
        first = first[0] + "."
    return f"{first} {_word(rng).capitalize()}{_word(rng) if rng.random() < 0.3 else ''}"


def _sentence(rng: np.random.Generator, n_words: int) -> str:
    words = [_word(rng) for _ in range(n_words)]
    words[0] = words[0].capitalize()
    for i in range(1, n_words - 1):
        if rng.random() < 0.08:
            words[i] += ","
    return " ".join(words) + "."


def _number(rng: np.random.Generator) -> str:
    kind = rng.random()
    if kind < 0.3:
        return f"{rng.integers(1, 9999):,}.{rng.integers(0, 100):02d}"
    if kind < 0.5:
        return f"{rng.integers(1, 29):02d}.{rng.integers(1, 13):02d}.{rng.integers(1970, 2030)}"
    return str(int(rng.integers(1, 10 ** int(rng.integers(1, 7)))))


# ----------------------------------------------------------------------------- signatures


class SignatureBank:
    """Real signatures as ink-coverage maps ``(H, W) float32`` in [0, 1], kept at a modest height."""

    def __init__(self, coverages: list[np.ndarray]):
        self.coverages = coverages

    def __len__(self) -> int:
        return len(self.coverages)

    @classmethod
    def from_dir(cls, data_dir: str | Path, writers: set[str] | None = None, max_height: int = 160) -> "SignatureBank":
        """Load the images of ``DIR/labels.csv`` (genuine and forged) claimed to be by ``writers`` (all when None)."""
        from stampauth.datasets import read_gray, read_labels

        coverages = []
        for mark in read_labels(data_dir):
            if writers is not None and mark.writer not in writers:
                continue
            coverage = signature_coverage(read_gray(mark.path))
            if coverage is None:
                continue
            if coverage.shape[0] > max_height:
                scale = max_height / coverage.shape[0]
                coverage = cv2.resize(coverage, (max(1, round(coverage.shape[1] * scale)), max_height),
                                      interpolation=cv2.INTER_AREA)
            coverages.append(coverage)
        log.info("signature bank: %d signatures from %s", len(coverages), data_dir)
        return cls(coverages)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return self.coverages[int(rng.integers(len(self.coverages)))]


def signature_coverage(gray: np.ndarray) -> np.ndarray | None:
    """A scanned signature ``(H, W) uint8`` on light paper -> ink coverage ``(h, w) float32``, cropped to the ink."""
    paper = float(np.percentile(gray, 90))
    ink = float(np.percentile(gray, 1))
    if paper - ink < 40:
        return None
    coverage = np.clip((paper - gray.astype(np.float32)) / (paper - ink), 0.0, 1.0)
    coverage[coverage < 0.12] = 0.0
    ys, xs = np.nonzero(coverage > 0.3)
    if len(xs) < 30:
        return None
    return np.ascontiguousarray(coverage[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1])


def _synthetic_signature(rng: np.random.Generator, height: int) -> np.ndarray:
    from stampauth.synth.signatures import random_signature

    return random_signature(rng, height_px=max(24, height))


# ----------------------------------------------------------------------------- drawing helpers


class _Canvas:
    """The page's printed layer: an ``L`` image where 255 is full ink, plus the layout cursor."""

    def __init__(self, width: int, height: int, dpi: float):
        self.width, self.height, self.dpi = width, height, dpi
        self.ink = Image.new("L", (width, height), 0)
        self.draw = ImageDraw.Draw(self.ink)
        self.colour_layers: list[tuple[Image.Image, tuple[int, int, int]]] = []

    def px(self, points: float) -> int:
        """Typographic points -> pixels at this page's resolution."""
        return max(1, round(points / 72.0 * self.dpi))

    def text(self, xy, text: str, font, fill: int = 255) -> int:
        """Draw ``text`` at ``xy`` (top-left); returns its width in pixels."""
        self.draw.text(xy, text, font=font, fill=fill)
        return int(font.getlength(text))


def _line_height(font) -> int:
    top, bottom = font.getbbox("Hg")[1::2]
    return max(4, bottom - top)


def _paragraph(canvas: _Canvas, rng, x0: int, x1: int, y: int, font, n_lines: int, spacing: float) -> int:
    height = _line_height(font)
    for line in range(n_lines):
        if y + height > canvas.height - canvas.px(40):
            break
        x = x0 + (canvas.px(18) if line == 0 and rng.random() < 0.3 else 0)
        limit = x1 if line < n_lines - 1 else x0 + int((x1 - x0) * rng.uniform(0.3, 0.95))
        words = []
        while True:
            candidate = " ".join(words + [_word(rng)])
            if x + font.getlength(candidate) > limit:
                break
            words = candidate.split(" ")
        if words:
            canvas.text((x, y), " ".join(words), font)
        y += int(height * spacing)
    return y


def _logo(canvas: _Canvas, rng, x: int, y: int, size: int) -> tuple[int, int]:
    """A letterhead logo (shapes and a bold name); returns its (width, height)."""
    layer = Image.new("L", (canvas.width, canvas.height), 0)
    draw = ImageDraw.Draw(layer)
    shape = int(rng.integers(4))
    box = (x, y, x + size, y + size)
    if shape == 0:
        draw.ellipse(box, outline=255, width=max(2, size // 12))
        draw.text((x + size // 4, y + size // 4), _word(rng)[:2].upper(), font=fonts.random_font(rng, size // 2, "bold"), fill=255)
    elif shape == 1:
        draw.rectangle(box, fill=255)
        draw.text((x + size // 6, y + size // 6), _word(rng)[:1].upper(), font=fonts.random_font(rng, int(size * 0.7), "bold"), fill=0)
    elif shape == 2:
        draw.polygon([(x + size // 2, y), (x + size, y + size), (x, y + size)], fill=255)
    name_font = fonts.random_font(rng, int(size * rng.uniform(0.4, 0.8)), "bold")
    name = " ".join(_word(rng).upper() for _ in range(int(rng.integers(1, 3))))
    draw.text((x + size + size // 4 if shape != 3 else x, y + size // 6), name, font=name_font, fill=255)
    width = (size + size // 4 if shape != 3 else 0) + int(name_font.getlength(name))
    if rng.random() < 0.45:  # coloured letterhead
        colour = tuple(int(c) for c in rng.integers(0, 160, size=3))
        canvas.colour_layers.append((layer, colour))
    else:
        canvas.ink.paste(255, (0, 0), layer)
    return width, size


def _script_lettering(rng, text: str, height: int) -> np.ndarray:
    """``text`` set in a printed script font (Lobster, Dancing Script, Zapf Chancery), often heavy, sometimes
    with a swash under it: ``(h, w) uint8`` (255 = ink), cropped to the ink."""
    font = fonts.random_font(rng, int(height * 1.3), "script")
    width = int(font.getlength(text)) + height
    layer = Image.new("L", (width, height * 2), 0)
    draw = ImageDraw.Draw(layer)
    draw.text((height // 4, height // 4), text, font=font, fill=255)
    solid = np.asarray(layer).copy()
    if rng.random() < 0.5:  # heavier weight than the font's own
        bold = max(2, height // 14)
        solid = cv2.dilate(solid, np.ones((bold, bold), np.uint8))
    ys, xs = np.nonzero(solid > 127)
    if len(xs) == 0:
        return solid[:1, :1]
    solid = solid[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    if rng.random() < 0.35:  # a swash: a printed tapering stroke under the name
        h, w = solid.shape
        swash = np.zeros((h + height // 3, w), np.uint8)
        swash[:h] = solid
        t = np.linspace(0.0, 1.0, 60)
        pts = np.stack([w * (0.1 + 0.85 * t), h + height * 0.12 - np.sin(t * np.pi) * height * 0.1], 1)
        for (ax, ay), (bx, by), tt in zip(pts[:-1], pts[1:], t):
            cv2.line(swash, (int(ax), int(ay)), (int(bx), int(by)), 255, max(1, int(height * 0.09 * np.sin(tt * np.pi) + 1)), cv2.LINE_AA)
        solid = swash
    return solid


def _script_logo(canvas: _Canvas, rng, x: int, y: int, height: int, version: int = 1) -> tuple[int, int]:
    """A printed script logo (a company name in flowing letters, as on many letterheads): handwriting-like
    but solid, crisp and uniform, and not a signature. Returns its (width, height)."""
    from stampauth.synth.signatures import random_style, render_signature

    if version >= 2 and rng.random() < 0.65:  # a script typeface, as most such logos are
        solid = _script_lettering(rng, _word(rng).capitalize() + ("" if rng.random() < 0.6 else " " + _word(rng).capitalize()), height)
    else:  # a drawn one: a pen-trajectory name made solid and uniform
        coverage = render_signature(random_style(rng), rng, height_px=max(16, height))
        bold = max(1, height // 12)
        solid = cv2.dilate((coverage > 0.3).astype(np.uint8) * 255, np.ones((bold, bold), np.uint8))
    h, w = solid.shape
    w = min(w, canvas.width - x - 1)
    h = min(h, canvas.height - y - 1)
    if w <= 0 or h <= 0:
        return 0, 0
    layer = Image.new("L", (canvas.width, canvas.height), 0)
    layer.paste(Image.fromarray(solid[:h, :w]), (x, y))
    draw = ImageDraw.Draw(layer)
    if rng.random() < 0.6:  # the company's legal name in small print under the script
        small = fonts.random_font(rng, max(6, height // 5), "sans")
        draw.text((x, y + h + 2), " ".join(_word(rng).upper() for _ in range(int(rng.integers(1, 4)))), font=small, fill=255)
    if rng.random() < 0.4:
        canvas.colour_layers.append((layer, tuple(int(c) for c in rng.integers(0, 140, size=3))))
    else:
        canvas.ink.paste(255, (0, 0), layer)
    return w, h + height // 4


def _clip_art(canvas: _Canvas, rng, x: int, y: int, size: int, version: int = 1) -> None:
    """A printed colour clip-art logo: crisp outlines over a solid fill of another colour."""
    from stampauth.synth.stamps import printed_artwork

    outline = (printed_artwork(rng, size) > 0.5).astype(np.uint8) * 255
    h, w = outline.shape
    if x + w >= canvas.width or y + h >= canvas.height:
        return
    if version >= 2 and rng.random() < 0.35:  # black line art, as printed (and faxed) letterheads carry
        layer = Image.new("L", (canvas.width, canvas.height), 0)
        layer.paste(Image.fromarray(outline), (x, y))
        canvas.ink.paste(255, (0, 0), layer)
        if rng.random() < 0.6:  # with the company's initials set in outlined capitals beside it
            font = fonts.random_font(rng, max(8, int(size * 0.6)), "bold")
            canvas.draw.text((x + w + size // 8, y + size // 5), "".join(_word(rng)[:1].upper() for _ in range(int(rng.integers(2, 4)))),
                             font=font, fill=0, stroke_width=max(1, size // 30), stroke_fill=255)
        return
    for part, colour in ((_enclosed(outline), rng.integers(60, 255, size=3)), (outline, rng.integers(0, 120, size=3))):
        _paste_colour(canvas, part, x, y, colour)


def _emblem(canvas: _Canvas, rng, x: int, y: int, size: int) -> None:
    """A printed multi-colour emblem (crest, round logo): solid, crisp, often round, and not a stamp."""
    parts = int(rng.integers(2, 5))
    for part in range(parts):
        layer = Image.new("L", (canvas.width, canvas.height), 0)
        draw = ImageDraw.Draw(layer)
        inset = int(size * 0.4 * part / parts * rng.uniform(0.5, 1.0))  # nested parts, never inside out
        box = (x + inset, y + inset, x + size - inset, y + size - inset)
        shape = int(rng.integers(4))
        if shape == 0:
            draw.ellipse(box, fill=255) if rng.random() < 0.6 else draw.ellipse(box, outline=255, width=max(2, size // 14))
        elif shape == 1:
            draw.rectangle(box, fill=255)
        elif shape == 2:
            cx, cy, r = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, (box[2] - box[0]) / 2
            n = int(rng.integers(3, 9))
            points = [(cx + r * math.cos(2 * math.pi * k / (2 * n)) * (1 if k % 2 == 0 else 0.45),
                       cy + r * math.sin(2 * math.pi * k / (2 * n)) * (1 if k % 2 == 0 else 0.45)) for k in range(2 * n)]
            draw.polygon(points, fill=255)
        else:
            draw.text((box[0], box[1]), _word(rng)[:2].upper(), font=fonts.random_font(rng, max(8, (box[3] - box[1]) // 2), "bold"), fill=255)
        colour = tuple(int(c) for c in rng.integers(0, 230, size=3))
        canvas.colour_layers.append((layer, colour))


def _enclosed(outline: np.ndarray) -> np.ndarray:
    """``(h, w) uint8`` 0/255 line art -> the same with every area its lines enclose filled."""
    h, w = outline.shape
    flood = cv2.copyMakeBorder(outline, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 255)
    return cv2.bitwise_or(outline, cv2.bitwise_not(flood[1:-1, 1:-1]))


def _paste_colour(canvas: _Canvas, part: np.ndarray, x: int, y: int, colour) -> None:
    layer = Image.new("L", (canvas.width, canvas.height), 0)
    layer.paste(Image.fromarray(part), (x, y))
    canvas.colour_layers.append((layer, tuple(int(c) for c in colour)))


def _printed_badge(canvas: _Canvas, rng, x: int, y: int, size: int) -> None:
    """A printed round or oval logo that looks like a seal (ring text, a star, a picture) but was printed, not
    stamped: crisp, solid fills and two or three colours, often knocked out of a solid disc (lettering in paper
    white). Rubber stamps print one ink and rarely fill large areas; this is the hard negative for that."""
    from stampauth.synth.stamps import _draw_design, random_design

    design = random_design(rng)
    lines = (_draw_design(design, float(size)) > 0.5).astype(np.uint8) * 255
    h, w = lines.shape
    if x + w >= canvas.width or y + h >= canvas.height or not lines.any():
        return
    body = _enclosed(lines)
    if np.count_nonzero(body) < 3 * np.count_nonzero(lines):  # no frame to fill (a text or signature block)
        return
    dark, light = rng.integers(0, 110, size=3), rng.integers(70, 215, size=3)  # a fill that shows as a colour
    style = rng.random()
    if style < 0.4:  # a solid disc, the lettering knocked out in paper white
        _paste_colour(canvas, cv2.bitwise_and(body, cv2.bitwise_not(lines)), x, y, dark)
    elif style < 0.75:  # a tinted fill under lettering of another colour
        _paste_colour(canvas, body, x, y, light)
        _paste_colour(canvas, lines, x, y, dark)
    else:  # rings in one colour, the centre's lettering and picture in another
        yy, xx = np.mgrid[0:h, 0:w]
        inner = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2 < rng.uniform(0.35, 0.6)
        _paste_colour(canvas, np.where(inner, 0, lines).astype(np.uint8), x, y, dark)
        _paste_colour(canvas, np.where(inner, lines, 0).astype(np.uint8), x, y, rng.integers(0, 200, size=3))
        if rng.random() < 0.5:
            _paste_colour(canvas, np.where(inner, cv2.bitwise_and(body, cv2.bitwise_not(lines)), 0).astype(np.uint8),
                          x, y, light)


def _crest(canvas: _Canvas, rng, x: int, y: int, size: int) -> None:
    """A printed coat of arms or shield logo: a shield divided into tinctures, a charge (star, cross, chevron,
    initials) on it, an outline, sometimes a scroll with a motto under it; two to four solid colours."""
    w, h = size, int(size * rng.uniform(1.05, 1.3))
    scroll_h = int(h * 0.28) if rng.random() < 0.5 else 0
    if x + w + size // 3 >= canvas.width or y + h + scroll_h >= canvas.height:
        return
    shield = np.zeros((h + scroll_h, w), np.uint8)
    t = np.linspace(0, np.pi / 2, 24)
    top = int(h * rng.uniform(0.0, 0.08))
    pts = [(0, top), (w - 1, top)] + [(int(w / 2 + (w / 2 - 1) * np.cos(a)), int(h * 0.55 + h * 0.44 * np.sin(a))) for a in t] \
        + [(int(w / 2 - (w / 2 - 1) * np.cos(a)), int(h * 0.55 + h * 0.44 * np.sin(a))) for a in t[::-1]]
    cv2.fillPoly(shield, [np.int32(pts)], 255)
    colours = [rng.integers(0, 230, size=3) for _ in range(3)]
    charge = np.zeros_like(shield)
    cx, cy, r = w // 2, int(h * 0.45), int(w * rng.uniform(0.18, 0.3))
    kind = rng.integers(4)
    if kind == 0:
        star = [(cx + r * np.cos(np.pi / 2 + k * np.pi / 5) * (1 if k % 2 == 0 else 0.42),
                 cy - r * np.sin(np.pi / 2 + k * np.pi / 5) * (1 if k % 2 == 0 else 0.42)) for k in range(10)]
        cv2.fillPoly(charge, [np.int32(star)], 255)
    elif kind == 1:
        arm = max(2, r // 3)
        cv2.rectangle(charge, (cx - arm, cy - r), (cx + arm, cy + r), 255, -1)
        cv2.rectangle(charge, (cx - r, cy - arm), (cx + r, cy + arm), 255, -1)
    elif kind == 2:
        cv2.polylines(charge, [np.int32([(int(w * 0.1), int(h * 0.65)), (cx, int(h * 0.3)), (int(w * 0.9), int(h * 0.65))])],
                      False, 255, max(2, w // 9))
    else:
        layer = Image.fromarray(charge)
        font = fonts.random_font(rng, max(8, int(r * 1.6)), "bold")
        ImageDraw.Draw(layer).text((cx, cy), _word(rng)[:int(rng.integers(1, 3))].upper(), font=font, fill=255, anchor="mm")
        charge = np.asarray(layer).copy()
    charge = cv2.bitwise_and(charge, shield)
    knocked_out = rng.random() < 0.4  # the charge left in paper white, not printed over the fields
    fill = cv2.bitwise_and(shield, cv2.bitwise_not(charge)) if knocked_out else shield
    division = rng.integers(4)  # plain, halves side by side, a chief above, quarters
    half = np.zeros_like(shield)
    if division == 1:
        half[:, : w // 2] = 255
    elif division == 2:
        half[: int(h * 0.45)] = 255
    elif division == 3:
        half[: h // 2, : w // 2] = 255
        half[h // 2:, w // 2:] = 255
    _paste_colour(canvas, cv2.bitwise_and(fill, cv2.bitwise_not(half)), x, y, colours[0])
    if division:
        _paste_colour(canvas, cv2.bitwise_and(fill, half), x, y, colours[1])
    if not knocked_out:
        _paste_colour(canvas, charge, x, y, colours[2])
    outline = cv2.morphologyEx(shield, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    if rng.random() < 0.7:
        outline = cv2.dilate(outline, np.ones((max(1, w // 40), max(1, w // 40)), np.uint8))
        _paste_colour(canvas, outline, x, y, rng.integers(0, 90, size=3))
    if scroll_h:
        scroll = Image.new("L", (w + size // 3, scroll_h), 0)
        draw = ImageDraw.Draw(scroll)
        draw.rounded_rectangle((0, scroll_h // 6, w + size // 3 - 1, scroll_h - 1), radius=scroll_h // 3, outline=255,
                               width=max(1, w // 40))
        font = fonts.random_font(rng, max(7, int(scroll_h * 0.45)), str(rng.choice(["serif", "sans"])))
        draw.text(((w + size // 3) // 2, int(scroll_h * 0.58)), _word(rng).upper(), font=font, fill=255, anchor="mm")
        _paste_colour(canvas, np.asarray(scroll), x - size // 6, y + h, rng.integers(0, 120, size=3))


_MONTHS = ["Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec"]


def _handwritten_date(rng) -> str:
    day, month, year = int(rng.integers(1, 32)), int(rng.integers(1, 13)), int(rng.integers(1965, 2030))
    forms = [f"{month}/{day}/{year % 100:02d}", f"{month}/{day}/{year}", f"{day}.{month}.{year % 100:02d}",
             f"{month}-{day}-{year % 100:02d}", f"{_MONTHS[month - 1]} {day}, {year}", f"{day} {_MONTHS[month - 1]} {year}",
             f"{month:02d}/{day:02d}/{year}"]
    return forms[int(rng.integers(len(forms)))]


def _handwritten_filler(rng) -> str:
    """What a pen writes into a form field or a margin when it is not signing."""
    choice = rng.random()
    if choice < 0.3:
        return _handwritten_date(rng)
    if choice < 0.5:
        return str(rng.choice(["$", "", ""])) + f"{rng.integers(1, 99999):,}" + ("" if rng.random() < 0.5 else f".{rng.integers(0, 100):02d}")
    if choice < 0.65:
        return str(rng.choice(["Room", "Ext.", "No.", "Ref", "File", "Tel."])) + f" {rng.integers(1, 9999)}"
    if choice < 0.8:
        return str(rng.choice(["OK", "N/A", "yes", "no", "approved", "done", "see attached", "copy", "FYI", "urgent", "paid"]))
    return " ".join(_word(rng).capitalize() for _ in range(int(rng.integers(1, 3))))


def _handwriting(rng, text: str, height: int, font=None) -> np.ndarray:
    """``text`` written by hand (a handwriting font with the pen's slant, tilt and width varied): ink coverage
    ``(h, w) float32`` in ``[0, 1]``, about ``height`` pixels from ascender to descender. ``font``: one hand's
    font for several lines (None: one is picked)."""
    if font is None:
        font = fonts.random_font(rng, max(8, int(height * 1.1)), "hand")
    width = int(font.getlength(text)) + 2 * height
    layer = Image.new("L", (width, height * 3), 0)
    ImageDraw.Draw(layer).text((height, height // 2), text, font=font, fill=255)
    ink = np.asarray(layer, np.float32) / 255.0
    h, w = ink.shape
    slant, tilt = rng.uniform(-0.35, 0.1), rng.uniform(-5, 5)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), tilt, rng.uniform(0.9, 1.1))
    matrix[0, 1] += slant
    matrix[0, 2] -= slant * h / 2
    ink = cv2.warpAffine(ink, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    pen = rng.random()
    if pen < 0.25:
        ink = cv2.dilate(ink, np.ones((2, 2), np.uint8))
    elif pen < 0.4:
        ink = cv2.erode(ink, np.ones((2, 2), np.uint8)) * 0.6 + ink * 0.4
    ys, xs = np.nonzero(ink > 0.2)
    if len(xs) == 0:
        return ink[:1, :1]
    return np.ascontiguousarray(ink[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]) * rng.uniform(0.7, 1.0)


def _handwritten_code(rng) -> str:
    """Figures and reference codes as clerks write them on letters: file numbers, sums, ranges of dates."""
    choice = rng.random()
    if choice < 0.25:
        return f"#{rng.integers(100, 99999)}{''.join(chr(65 + int(c)) for c in rng.integers(0, 26, int(rng.integers(0, 3))))}{rng.integers(0, 10)}"
    if choice < 0.45:
        return f"{rng.integers(1000, 99999)}-{rng.integers(1, 13)}/{rng.integers(1, 29)}/{rng.integers(60, 100)}"
    if choice < 0.65:
        return f"{_handwritten_date(rng)} - {_handwritten_date(rng)}"
    if choice < 0.85:
        return str(rng.choice(["Total", "Bal.", "Acct", "Check No.", "Inv.", "P.O."])) + f" {rng.integers(10, 999999):,}"
    return f"{rng.integers(1, 999)} {_word(rng)}"


def _pen_words(style, rng, height: int, count: int, longest: float) -> np.ndarray:
    """``count`` words in ``style``'s simulated pen trajectories, each cut to 1.5-``longest`` x ``height`` wide (short
    words, no flourishes), on one line with word gaps: ink coverage ``(height, w) float32``."""
    from stampauth.synth.signatures import render_signature

    words = [render_signature(style, rng, height_px=height, variation=1.0) for _ in range(count)]
    words = [w[:, : max(8, int(height * rng.uniform(1.5, longest)))] for w in words]
    gap = np.zeros((height, max(4, height // 2)), np.float32)
    return np.concatenate(sum(([w, gap] for w in words), [])[:-1], axis=1)


def _handwritten_note_block(rng, dpi: float) -> np.ndarray:
    """Several lines written by one hand (a note, a routing slip, a sum worked out): ink coverage ``(h, w)
    float32``, lines left-aligned with a little drift, each 0.12-0.35 inch high."""
    from stampauth.synth.signatures import random_style

    height = max(10, int(dpi * rng.uniform(0.12, 0.35)))
    font = fonts.random_font(rng, max(8, int(height * 1.1)), "hand")
    pen_style = random_style(rng) if rng.random() < 0.4 else None  # simulated pen trajectories instead of a font
    lines = []
    for _ in range(int(rng.integers(2, 7))):
        if pen_style is not None:
            line = _pen_words(pen_style, rng, height, int(rng.integers(1, 5)), longest=5.0)
        else:
            choice = rng.random()
            text = (_handwritten_code(rng) if choice < 0.3 else _handwritten_filler(rng) if choice < 0.5
                    else " ".join(_word(rng) for _ in range(int(rng.integers(1, 6)))))
            line = _handwriting(rng, text, height, font)
        lines.append(line)
    step = int(height * rng.uniform(1.1, 1.7))
    width = max(line.shape[1] for line in lines) + height
    block = np.zeros((step * (len(lines) - 1) + max(line.shape[0] for line in lines) + 2, width), np.float32)
    for i, line in enumerate(lines):
        x = int(rng.uniform(0, 0.6) * height)
        h, w = min(line.shape[0], block.shape[0] - i * step), min(line.shape[1], width - x)
        block[i * step: i * step + h, x: x + w] = np.maximum(block[i * step: i * step + h, x: x + w], line[:h, :w])
    if rng.random() < 0.5:
        block = _rotate_coverage(block, rng.uniform(-8, 8))
    return block


def _fill_by_hand(page: np.ndarray, rng, slots, dpi: float) -> None:
    """Write dates and form entries by hand into the layout's ``hand_slots`` (unlabelled: not signatures)."""
    colour = _PEN_COLOURS[int(rng.integers(len(_PEN_COLOURS)))]
    for x, baseline, width, kind in slots:
        if rng.random() < 0.25:
            continue  # left blank
        text = _handwritten_date(rng) if kind == "date" else _handwritten_filler(rng)
        coverage = _handwriting(rng, text, int(dpi * rng.uniform(0.13, 0.3)))
        if coverage.shape[1] > 1.6 * max(width, dpi):
            continue
        _apply_ink(page, coverage, colour, x + int(rng.uniform(0, 0.2) * dpi), baseline - int(coverage.shape[0] * rng.uniform(0.75, 1.0)))


def _hand_annotations(page: np.ndarray, rng, dpi: float, version: int = 1) -> None:
    """Unlabelled handwriting that is not a signature: margin notes, ticks, pen underlines and circles."""
    from stampauth.synth.signatures import random_style

    H, W = page.shape[:2]
    colour = _PEN_COLOURS[int(rng.integers(len(_PEN_COLOURS)))]
    # shares of the kinds: version 1 writes no notes in a handwriting font, version 5 adds blocks of several lines
    notes_below, words_below = (0.3, 0.6) if version >= 2 else (0.0, 0.45)
    for _ in range(int(rng.integers(1, 4))):
        choice = rng.random()
        if version >= 5 and rng.random() < 0.4:  # several lines by one hand, anywhere on the page
            block = _handwritten_note_block(rng, dpi) * rng.uniform(0.6, 1.0)
            x = int(rng.uniform(0.02, max(0.03, 0.95 - block.shape[1] / W)) * W)
            _apply_ink(page, block, colour, x, int(rng.uniform(0.02, 0.9) * H))
        elif version >= 5 and choice < 0.15:  # figures and codes, written large
            coverage = _handwriting(rng, _handwritten_code(rng), int(dpi * rng.uniform(0.15, 0.4)))
            _apply_ink(page, coverage, colour, int(rng.uniform(0.05, 0.7) * W), int(rng.uniform(0.03, 0.95) * H))
        elif choice < notes_below:  # a date, a number or a short note in a hand
            coverage = _handwriting(rng, _handwritten_filler(rng), int(dpi * rng.uniform(0.13, 0.3)))
            _apply_ink(page, coverage, colour, int(rng.uniform(0.05, 0.75) * W), int(rng.uniform(0.03, 0.95) * H))
        elif choice < words_below:  # a line of small handwritten words
            style = random_style(rng)
            height = max(12, int(dpi * rng.uniform(0.12, 0.22)))
            line = _pen_words(style, rng, height, int(rng.integers(2, 5)), longest=3.5)
            x, y = int(rng.uniform(0.05, 0.7) * W), int(rng.uniform(0.03, 0.95) * H)
            _apply_ink(page, line * rng.uniform(0.7, 1.0), colour, x, y)
        else:  # a tick, an underline or a circle drawn by pen
            size = int(dpi * rng.uniform(0.2, 1.2))
            layer = np.zeros((size + 8, size * 3 + 8), np.float32)
            t = np.linspace(0, 1, 40)
            kind = rng.random()
            if kind < 0.35:
                pts = np.stack([t * size * 3, size * 0.5 + np.sin(t * rng.uniform(2, 9)) * size * 0.08], 1)
            elif kind < 0.7:
                pts = np.array([[0, size * 0.6], [size * 0.3, size], [size * 0.9, 0]]) + rng.normal(0, 2, (3, 2))
            else:
                a = t * 2 * np.pi * rng.uniform(1.0, 1.15)
                pts = np.stack([size * 1.5 + np.cos(a) * size * 1.4, size * 0.5 + np.sin(a) * size * 0.45], 1)
            cv2.polylines(layer, [(pts + 4).astype(np.int32)], False, 1.0, max(1, int(dpi / 60)), cv2.LINE_AA)
            x, y = int(rng.uniform(0.05, 0.8) * W), int(rng.uniform(0.05, 0.95) * H)
            _apply_ink(page, layer, colour, x, y)


def _table(canvas: _Canvas, rng, x0: int, x1: int, y: int, font, dense: bool = False) -> int:
    """A table of words and figures from ``y`` down; returns the y below it. ``dense``: an invoice's line items,
    many tight rows of figures."""
    n_cols = int(rng.integers(2, 6)) if not dense else int(rng.integers(4, 8))
    n_rows = int(rng.integers(2, 12)) if not dense else int(rng.integers(8, 26))
    row_h = int(_line_height(font) * (rng.uniform(1.5, 2.2) if not dense else rng.uniform(1.15, 1.6)))
    cuts = np.sort(rng.uniform(0.15, 0.9, size=n_cols - 1))
    xs = [x0] + [int(x0 + c * (x1 - x0)) for c in cuts] + [x1]
    ruled = rng.random() < 0.7
    width = max(1, canvas.px(rng.uniform(0.4, 1.2)))
    shade = int(rng.uniform(25, 90)) if rng.random() < 0.4 else 0  # grey header / alternate rows
    for r in range(n_rows + 1):
        yy = y + r * row_h
        if yy > canvas.height - canvas.px(60):
            break
        if shade and r < n_rows and (r == 0 or (r % 2 == 0 and rng.random() < 0.5)):
            canvas.draw.rectangle([(x0, yy), (x1, yy + row_h)], fill=shade)
        if ruled or r in (0, 1, n_rows):
            canvas.draw.line([(x0, yy), (x1, yy)], fill=255, width=width)
        if r == n_rows:
            break
        for c in range(n_cols):
            cell = _word(rng).capitalize() if r == 0 else (_number(rng) if c > 0 or rng.random() < 0.3 else _word(rng))
            canvas.text((xs[c] + canvas.px(3), yy + row_h // 5), cell, font)
    if ruled:
        for xx in xs:
            canvas.draw.line([(xx, y), (xx, min(y + n_rows * row_h, canvas.height - canvas.px(60)))], fill=255, width=width)
    return y + (n_rows + 1) * row_h


class _InColour:
    """Within the block, everything drawn on ``canvas`` goes to a layer printed in ``colour`` (BGR)."""

    def __init__(self, canvas: _Canvas, colour: tuple[int, int, int]):
        self.canvas, self.colour = canvas, colour

    def __enter__(self) -> _Canvas:
        self.saved = (self.canvas.ink, self.canvas.draw)
        self.layer = Image.new("L", (self.canvas.width, self.canvas.height), 0)
        self.canvas.ink, self.canvas.draw = self.layer, ImageDraw.Draw(self.layer)
        return self.canvas

    def __exit__(self, *exc) -> None:
        self.canvas.ink, self.canvas.draw = self.saved
        self.canvas.colour_layers.append((self.layer, self.colour))


def _print_colour(rng) -> tuple[int, int, int]:
    """A printed (not rubber-stamp) colour: corporate blues, reds, greens, greys, saturated or dark."""
    hue = rng.integers(0, 180)
    hsv = np.uint8([[[hue, rng.integers(90, 256), rng.integers(60, 200)]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _totals_box(canvas: _Canvas, rng, x0: int, x1: int, y: int, font) -> int:
    """The boxed totals under an invoice's table (labels and bold figures, often shaded); returns the y below."""
    px = canvas.px
    n = int(rng.integers(2, 5))
    line_h = _line_height(font)
    bx0 = int(x0 + (x1 - x0) * rng.uniform(0.45, 0.65))
    height = int(n * line_h * 1.6) + px(6)
    if y + height > canvas.height - px(60):
        return y
    if rng.random() < 0.5:
        canvas.draw.rectangle([(bx0, y), (x1, y + height)], fill=int(rng.uniform(20, 70)))
    canvas.draw.rectangle([(bx0, y), (x1, y + height)], outline=255, width=max(1, px(rng.uniform(0.5, 1.5))))
    bold = fonts.random_font(rng, max(6, int(line_h * 1.1)), "bold")
    for i in range(n):
        yy = y + px(3) + int(i * line_h * 1.6)
        canvas.text((bx0 + px(4), yy), str(rng.choice(["Subtotal", "VAT 21%", "Total", "TOTAL DUE", "Net", "Shipping", "MwSt"])), font)
        figure = _number(rng)
        canvas.text((x1 - px(4) - int(bold.getlength(figure)), yy), figure, bold)
    return y + height + line_h


def _barcode(canvas: _Canvas, rng, x: int, y: int, size: int) -> None:
    """A 1-D barcode or a 2-D (QR-like) code, printed black: dense, high-contrast, not a mark."""
    if x + size >= canvas.width or y + size >= canvas.height:
        return
    if rng.random() < 0.5:  # 2-D: a grid of modules with three finder squares
        n = int(rng.integers(21, 34))
        cell = max(1, size // n)
        grid = rng.random((n, n)) < 0.5
        for cy, cx in ((0, 0), (0, n - 7), (n - 7, 0)):
            grid[cy:cy + 7, cx:cx + 7] = False
            grid[cy:cy + 7, cx] = grid[cy:cy + 7, cx + 6] = grid[cy, cx:cx + 7] = grid[cy + 6, cx:cx + 7] = True
            grid[cy + 2:cy + 5, cx + 2:cx + 5] = True
        for r, c in zip(*np.nonzero(grid)):
            canvas.draw.rectangle([(x + c * cell, y + r * cell), (x + (c + 1) * cell - 1, y + (r + 1) * cell - 1)], fill=255)
    else:
        height = int(size * rng.uniform(0.3, 0.5))
        xx = x
        while xx < x + size:
            bar = int(rng.integers(1, 4)) * max(1, size // 90)
            if rng.random() < 0.55:
                canvas.draw.rectangle([(xx, y), (xx + bar - 1, y + height)], fill=255)
            xx += bar
        small = fonts.random_font(rng, max(6, size // 10), "mono")
        canvas.text((x, y + height + 2), str(int(rng.integers(10 ** 11, 10 ** 12))), small)


def _vertical_number(canvas: _Canvas, rng) -> None:
    """A Bates number / fax id printed along the side margin, as on archived letters."""
    font = fonts.random_font(rng, canvas.px(rng.uniform(8, 13)), "mono")
    text = str(int(rng.integers(10 ** 8, 10 ** 10)))
    strip = Image.new("L", (int(font.getlength(text)) + 4, _line_height(font) * 2), 0)
    ImageDraw.Draw(strip).text((2, 2), text, font=font, fill=255)
    strip = strip.rotate(90 if rng.random() < 0.5 else -90, expand=True)
    x = canvas.width - strip.width - canvas.px(rng.uniform(6, 30))
    y = int(canvas.height * rng.uniform(0.55, 0.85))
    y = min(y, canvas.height - strip.height - 1)
    canvas.ink.paste(255, (x, y), strip)


# ----------------------------------------------------------------------------- layout


@dataclass
class _Layout:
    signature_slots: list[tuple[int, int, int]]  # (x centre, baseline y, line width) where someone signs
    text_bottom: int
    # (x left, baseline y, width, "date" | "field") where a pen may fill in a date or a form field: handwriting
    # that is not a signature
    hand_slots: list[tuple[int, int, int, str]] = field(default_factory=list)


def _layout_page(canvas: _Canvas, rng, version: int = 1) -> _Layout:
    px = canvas.px
    margin_x = px(rng.uniform(45, 90))
    x0, x1 = margin_x, canvas.width - margin_x
    style = str(rng.choice(["serif", "sans", "mono"], p=[0.4, 0.35, 0.25]))
    body_font = fonts.random_font(rng, px(rng.uniform(9, 12.5)), style)
    small_font = fonts.random_font(rng, px(rng.uniform(7, 9.5)), style)
    y = px(rng.uniform(25, 60))
    slots: list[tuple[int, int, int]] = []

    if rng.random() < 0.25:  # fax header
        canvas.text((x0, y), f"{_number(rng)}  {_word(rng).upper()} {_word(rng).upper()}   P.{rng.integers(1, 9)}",
                    fonts.random_font(rng, px(8), "mono"))
        y += px(16)
    if rng.random() < 0.4:  # a colourful emblem or clip-art, often top right as on letterheads
        size = px(rng.uniform(30, 80))
        ex = x1 - size if rng.random() < 0.6 else int(rng.uniform(x0, x1 - size))
        if version >= 4 and rng.random() < 0.5:  # printed crests and seal-like badges
            (_crest if rng.random() < 0.45 else _printed_badge)(canvas, rng, ex, y, size)
        elif rng.random() < 0.5:
            _emblem(canvas, rng, ex, y, size)
        else:
            _clip_art(canvas, rng, ex, y, size, version)
    if rng.random() < (0.3 if version >= 2 else 0.2):
        w, h = _script_logo(canvas, rng, x0 + (0 if rng.random() < 0.6 else (x1 - x0) // 4), y, px(rng.uniform(20, 45)), version)
        y += h + px(8)
    elif rng.random() < 0.75:
        w, h = _logo(canvas, rng, x0 + (0 if rng.random() < 0.6 else (x1 - x0) // 3), y, px(rng.uniform(22, 50)))
        y += h + px(8)
        if rng.random() < 0.6:
            address = f"{_word(rng).capitalize()} {_word(rng).capitalize()} {rng.integers(1, 400)}, {_number(rng)} {_word(rng).capitalize()}"
            canvas.text((x0, y), address, small_font)
            y += _line_height(small_font) + px(6)
        if rng.random() < 0.5:
            canvas.draw.line([(x0, y), (x1, y)], fill=255, width=px(rng.uniform(0.5, 2)))
        y += px(rng.uniform(14, 40))

    kind = rng.choice(["letter", "form", "invoice", "memo"], p=[0.45, 0.2, 0.2, 0.15] if version < 3 else [0.35, 0.2, 0.3, 0.15])
    line_h = _line_height(body_font)
    if kind in ("letter", "memo"):
        if rng.random() < 0.8:
            canvas.text((x1 - int(body_font.getlength("00 September 0000")), y), f"{_word(rng).capitalize()} {rng.integers(1, 29)}, {rng.integers(1970, 2030)}", body_font)
            y += line_h * 2
        for _ in range(int(rng.integers(2, 6))):
            label = "" if kind == "letter" else f"{_word(rng).upper()}: "
            canvas.text((x0, y), label + _name(rng), body_font)
            y += int(line_h * 1.4)
        y += line_h
        if rng.random() < 0.6:
            heading_font = fonts.random_font(rng, px(rng.uniform(11, 16)), "bold")
            canvas.text((x0, y), " ".join(_word(rng).capitalize() for _ in range(int(rng.integers(2, 7)))), heading_font)
            y += int(_line_height(heading_font) * 2)
        canvas.text((x0, y), f"Dear {_name(rng)}:", body_font)
        y += line_h * 2
    else:
        title_font = fonts.random_font(rng, px(rng.uniform(13, 22)), "bold")
        title = " ".join(_word(rng).upper() for _ in range(int(rng.integers(1, 4))))
        if version >= 3 and rng.random() < 0.4:  # a heading printed in the company's colour
            with _InColour(canvas, _print_colour(rng)):
                canvas.text((x0, y), title, title_font)
        else:
            canvas.text((x0, y), title, title_font)
        y += int(_line_height(title_font) * 2)
        if version >= 3 and rng.random() < (0.35 if kind == "invoice" else 0.15):
            _barcode(canvas, rng, x1 - px(rng.uniform(50, 90)), max(px(10), y - px(rng.uniform(60, 110))), px(rng.uniform(40, 80)))

    spacing = rng.uniform(1.3, 2.1)
    n_blocks = int(rng.integers(1, 5))
    signature_reserve = px(150)
    hand_slots: list[tuple[int, int, int, str]] = []
    for _ in range(n_blocks):
        if y > canvas.height - signature_reserve:
            break
        if version >= 3 and kind == "invoice" and rng.random() < 0.75:  # line items, often dense, often in colour
            dense = rng.random() < 0.6
            font = small_font if dense and rng.random() < 0.6 else body_font
            if rng.random() < 0.4:
                with _InColour(canvas, _print_colour(rng)):
                    y = _table(canvas, rng, x0, x1, y, font, dense) + line_h
            else:
                y = _table(canvas, rng, x0, x1, y, font, dense) + line_h
            if dense and rng.random() < 0.6:
                y = _totals_box(canvas, rng, x0, x1, y, body_font)
        elif kind in ("form", "invoice") and rng.random() < 0.5:
            y = _table(canvas, rng, x0, x1, y, body_font if rng.random() < 0.5 else small_font) + line_h
        else:
            y = _paragraph(canvas, rng, x0, x1, y, body_font, int(rng.integers(2, 10)), spacing) + line_h
        if kind == "form" and rng.random() < 0.5:  # fill-in fields with printed labels
            for _ in range(int(rng.integers(1, 4))):
                label = f"{_word(rng).capitalize()} {_word(rng)}:"
                lw = canvas.text((x0, y), label, body_font)
                canvas.draw.line([(x0 + lw + px(6), y + line_h), (x1, y + line_h)], fill=255, width=max(1, px(0.6)))
                if version >= 2:
                    hand_slots.append((x0 + lw + px(12), y + line_h, x1 - x0 - lw - px(12), "field"))
                y += int(line_h * 2.2)

    # Signature area: one or two signers, a closing, a line, a printed name and title.
    y = min(max(y + line_h, int(canvas.height * rng.uniform(0.45, 0.7))), canvas.height - px(110))
    n_signers = int(rng.choice([0, 1, 1, 1, 2, 2, 3], p=[0.12, 0.3, 0.2, 0.12, 0.12, 0.1, 0.04]))
    if n_signers and rng.random() < 0.6:
        canvas.text((x0, y), rng.choice(["Sincerely,", "Yours truly,", "Mit freundlichen Gruessen", "Cordially,", "Approved by:", "Signature:"]), body_font)
    line_y = y + px(rng.uniform(45, 70))
    columns = n_signers if n_signers else 0
    if version >= 5 and n_signers >= 2 and rng.random() < 0.4:
        # co-signers stacked: each signs close under the printed name and title of the one above
        cx0 = x0 if rng.random() < 0.5 else x0 + (x1 - x0) // 2
        line_w = int((x1 - x0) // 2 * rng.uniform(0.55, 0.9))
        for _ in range(n_signers):
            if line_y > canvas.height - px(60):
                break
            label_w = canvas.text((cx0, line_y - line_h), "By:", body_font) + px(4) if rng.random() < 0.4 else 0
            if rng.random() < 0.6:
                canvas.draw.line([(cx0 + label_w, line_y), (cx0 + label_w + line_w, line_y)], fill=255, width=max(1, px(0.6)))
            canvas.text((cx0 + label_w, line_y + px(4)), _name(rng), body_font)
            lines_below = 1
            if rng.random() < 0.6:
                canvas.text((cx0 + label_w, line_y + px(4) + int(line_h * 1.3)), " ".join(_word(rng).capitalize() for _ in range(int(rng.integers(1, 4)))), small_font)
                lines_below = 2
            slots.append((cx0 + label_w + int(line_w * rng.uniform(0.3, 0.6)), line_y, line_w))
            line_y += px(4) + int(line_h * 1.3 * lines_below) + px(rng.uniform(25, 55))
        columns = 0
        line_y = slots[-1][1] if slots else line_y
    for i in range(columns):
        col_w = (x1 - x0) // max(columns, 1)
        cx0 = x0 + i * col_w
        if columns == 1:
            cx0 = x0 if rng.random() < 0.6 else x0 + (x1 - x0) // 2
            col_w = (x1 - x0) // 2
        line_w = int(col_w * rng.uniform(0.55, 0.9))
        if rng.random() < 0.6:
            canvas.draw.line([(cx0, line_y), (cx0 + line_w, line_y)], fill=255, width=max(1, px(0.6)))
        canvas.text((cx0, line_y + px(4)), _name(rng), body_font)
        if rng.random() < 0.6:
            canvas.text((cx0, line_y + px(4) + int(line_h * 1.3)), " ".join(_word(rng).capitalize() for _ in range(int(rng.integers(1, 4)))), small_font)
        slots.append((cx0 + int(line_w * rng.uniform(0.3, 0.6)), line_y, line_w))
    if version >= 2 and columns and rng.random() < 0.35:  # a "Date" field beside or under the signature block
        label = str(rng.choice(["Date", "Date:", "Dated:", "Datum:", "Le"]))
        if columns == 1 and rng.random() < 0.6:
            dx, dy = x0 + int((x1 - x0) * rng.uniform(0.55, 0.7)), line_y
        else:
            dx, dy = x0, line_y + int(line_h * rng.uniform(3.2, 4.2))
        if dy < canvas.height - px(40):
            lw = canvas.text((dx, dy - line_h), label, body_font)
            canvas.draw.line([(dx + lw + px(4), dy), (min(x1, dx + lw + px(130)), dy)], fill=255, width=max(1, px(0.6)))
            hand_slots.append((dx + lw + px(10), dy, px(110), "date"))
    y = line_y + line_h * 4
    if version >= 2 and rng.random() < 0.35:  # a date written by hand at the top of the page (received, filed, answered)
        hand_slots.append((int(x0 + (x1 - x0) * rng.uniform(0.4, 0.8)), px(rng.uniform(30, 120)), px(110), "date"))
    if rng.random() < 0.4 and y < canvas.height - px(60):  # cc list / enclosures below the signature
        for _ in range(int(rng.integers(1, 5))):
            if y > canvas.height - px(40):
                break
            canvas.text((x0, y), ("cc: " if rng.random() < 0.3 else "     ") + _name(rng), small_font)
            y += int(_line_height(small_font) * 1.4)
    if rng.random() < 0.3:
        canvas.text((canvas.width // 2, canvas.height - px(30)), f"- {rng.integers(1, 9)} -", small_font)
    if rng.random() < 0.3:
        _vertical_number(canvas, rng)
    if version >= 4 and rng.random() < 0.25 and y < canvas.height - px(70):
        # certification and association badges in the footer, as invoices carry them
        bx = int(rng.uniform(x0, (x0 + x1) / 2))
        for _ in range(int(rng.integers(1, 4))):
            size = px(rng.uniform(22, 45))
            if bx + size > x1:
                break
            (_crest if rng.random() < 0.3 else _printed_badge)(canvas, rng, bx, canvas.height - px(20) - size, size)
            bx += int(size * rng.uniform(1.3, 2.0))
    return _Layout(slots, y, hand_slots)


# ----------------------------------------------------------------------------- ink


def _paper(width: int, height: int, rng) -> np.ndarray:
    tone = rng.uniform(225, 255)
    tint = rng.uniform(-6, 6, size=3)
    page = np.empty((height, width, 3), np.float32)
    page[:] = np.clip(tone + tint, 0, 255)
    return page


def _apply_ink(page: np.ndarray, coverage: np.ndarray, colour, x: int, y: int) -> Box | None:
    """Multiply ``coverage (h, w)`` of ``colour`` (BGR) into ``page`` at (x, y); returns the clipped ink box."""
    h, w = coverage.shape
    H, W = page.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    cov = coverage[cy0 - y: cy1 - y, cx0 - x: cx1 - x]
    ys, xs = np.nonzero(cov > PRINT_INK_THRESHOLD)
    if len(xs) < 20:
        return None
    transmit = np.asarray(colour, np.float32) / 255.0
    region = page[cy0:cy1, cx0:cx1]
    region *= 1.0 - cov[..., None] * (1.0 - transmit)
    return Box(cx0 + xs.min(), cy0 + ys.min(), cx0 + xs.max() + 1, cy0 + ys.max() + 1)


_PEN_COLOURS = [(120, 40, 20), (90, 30, 10), (150, 60, 30), (30, 30, 30), (15, 15, 15), (60, 40, 30), (110, 60, 70)]


def _place_signatures(page, rng, slots, bank: SignatureBank | None, dpi: float, version: int = 1) -> list[Box]:
    boxes = []
    targets = list(slots)
    if rng.random() < 0.1:  # a signature somewhere else (margin note, initials on a form)
        targets.append((int(rng.uniform(0.15, 0.85) * page.shape[1]), int(rng.uniform(0.2, 0.9) * page.shape[0]), int(dpi * 2)))
    for cx, line_y, line_w in targets:
        # 8-20 mm of ink height; one in four a large, sprawling one (up to 33 mm)
        if version >= 2:
            height = int(dpi * (rng.uniform(0.3, 0.8) if rng.random() < 0.75 else rng.uniform(0.7, 1.3)))
        else:
            height = int(dpi * rng.uniform(0.3, 0.8))
        if bank is not None and len(bank) and rng.random() < REAL_SIGNATURE_SHARE[version]:
            coverage = bank.sample(rng)
            scale = height / coverage.shape[0]
            coverage = cv2.resize(coverage, (max(4, int(coverage.shape[1] * scale * rng.uniform(0.85, 1.2))), height),
                                  interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        else:
            coverage = _synthetic_signature(rng, height)
        max_w = int(max(line_w * 1.6, dpi * 1.5) if version >= 2 else max(line_w * 1.4, dpi * 1.2))
        if coverage.shape[1] > max_w:
            scale = max_w / coverage.shape[1]
            coverage = cv2.resize(coverage, (max_w, max(4, int(coverage.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            angle = rng.uniform(-12, 12)
            coverage = _rotate_coverage(coverage, angle)
        if version >= 2:
            coverage = coverage * (rng.uniform(0.7, 1.0) if rng.random() < 0.85 else rng.uniform(0.35, 0.7))  # some faint
        else:
            coverage = coverage * rng.uniform(0.7, 1.0)
        x = int(cx - coverage.shape[1] / 2 + rng.uniform(-0.2, 0.2) * coverage.shape[1])
        y = int(line_y - coverage.shape[0] * rng.uniform(0.5, 1.0))  # usually crossing the signature line
        colour = _PEN_COLOURS[int(rng.integers(len(_PEN_COLOURS)))]
        box = _apply_ink(page, coverage, colour, x, y)
        if box is not None:
            boxes.append(box)
    return boxes


def _rotate_coverage(coverage: np.ndarray, angle: float) -> np.ndarray:
    h, w = coverage.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2
    matrix[0, 2] += nw / 2 - w / 2
    matrix[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(coverage, matrix, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)


def _place_stamps(page, rng, slots, dpi: float, sig_boxes: list[Box]) -> list[Box]:
    from stampauth.synth.stamps import random_design, render_stamp

    boxes: list[Box] = []
    n = int(rng.choice([0, 1, 1, 2, 3], p=[0.5, 0.3, 0.1, 0.07, 0.03]))
    H, W = page.shape[:2]
    for _ in range(n):
        design = random_design(rng)
        diameter = int(dpi * rng.uniform(0.7, 1.9))  # 18-48 mm
        coverage = render_stamp(design, rng, diameter)
        coverage = _rotate_coverage(coverage, rng.uniform(-25, 25)) if rng.random() < 0.6 else coverage
        h, w = coverage.shape
        if (slots or sig_boxes) and rng.random() < 0.6:  # near or over a signature, as when a notary stamps
            if sig_boxes and rng.random() < 0.6:
                anchor = sig_boxes[int(rng.integers(len(sig_boxes)))]
                ax, ay = (anchor.x0 + anchor.x1) / 2, (anchor.y0 + anchor.y1) / 2
            else:
                ax, ay = slots[int(rng.integers(len(slots)))][:2] if slots else (W / 2, H * 0.7)
            x = int(ax - w / 2 + rng.uniform(-0.8, 0.8) * w)
            y = int(ay - h / 2 + rng.uniform(-0.6, 0.6) * h)
        else:
            x = int(rng.uniform(0.02, 0.98) * W - w / 2)
            y = int(rng.uniform(0.05, 0.95) * H - h / 2)
        if any(Box(x, y, x + w, y + h).overlap_of_smaller(b) > 0.5 for b in boxes):
            continue  # two stamps right on top of each other cannot be told apart, even by a person
        box = _apply_ink(page, coverage, design.color_bgr, x, y)
        if box is not None:
            boxes.append(box)
    return boxes


# ----------------------------------------------------------------------------- scanning


def _scan(page: np.ndarray, rng, marks: list[tuple[str, Box]]) -> tuple[np.ndarray, list[tuple[str, Box]]]:
    """Scanner and fax effects on a float32 BGR page; geometry changes are applied to the boxes too."""
    H, W = page.shape[:2]
    if rng.random() < 0.6:  # uneven light: a smooth multiplicative field
        gy, gx = np.mgrid[0:H:8, 0:W:8].astype(np.float32)
        a, b, c = rng.uniform(-0.12, 0.12, size=3)
        field = 1.0 + a * gx / W + b * gy / H + c * ((gx / W - 0.5) ** 2 + (gy / H - 0.5) ** 2)
        page *= cv2.resize(field, (W, H))[..., None]
    mode = rng.choice(["colour", "grey", "fax"], p=[0.4, 0.38, 0.22])
    if rng.random() < 0.5:
        page = cv2.GaussianBlur(page, (0, 0), rng.uniform(0.3, 1.2))
    page += rng.normal(0, rng.uniform(0, 8), size=page.shape).astype(np.float32)
    if rng.random() < 0.5:  # skew, as a page laid crookedly on the glass
        angle = rng.uniform(-2.0, 2.0)
        matrix = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
        page = cv2.warpAffine(page, matrix, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        marks = [(kind, _transform_box(box, matrix, W, H)) for kind, box in marks]
    if mode != "colour":
        grey = cv2.cvtColor(np.clip(page, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        if mode == "fax":
            threshold = rng.uniform(110, 190)
            grey = np.where(grey + rng.normal(0, 12, size=grey.shape) > threshold, 255.0, 0.0).astype(np.float32)
            if rng.random() < 0.5:  # specks and dropouts of a fax line
                specks = rng.random(grey.shape) < rng.uniform(0.0005, 0.003)
                grey[specks] = 0.0
        page = np.repeat(grey[..., None], 3, axis=2)
    if rng.random() < 0.15:  # dark scanner lid showing at the edges
        for side in rng.choice(4, size=int(rng.integers(1, 3)), replace=False):
            t = int(rng.uniform(0.005, 0.04) * (W if side < 2 else H))
            value = rng.uniform(0, 60)
            if side == 0:
                page[:, :t] = value
            elif side == 1:
                page[:, W - t:] = value
            elif side == 2:
                page[:t] = value
            else:
                page[H - t:] = value
    image = np.clip(page, 0, 255).astype(np.uint8)
    if rng.random() < 0.25:  # low-resolution scan
        f = rng.uniform(0.35, 0.7)
        small = cv2.resize(image, (max(8, int(W * f)), max(8, int(H * f))), interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
    return image, marks


def _transform_box(box: Box, matrix: np.ndarray, W: int, H: int) -> Box:
    corners = np.array([[box.x0, box.y0, 1], [box.x1, box.y0, 1], [box.x0, box.y1, 1], [box.x1, box.y1, 1]], np.float32)
    moved = corners @ matrix.T
    # Rotating a box's corners over-estimates the ink box; shrink halfway back towards the original size.
    cx, cy = moved[:, 0].mean(), moved[:, 1].mean()
    hw = (moved[:, 0].max() - moved[:, 0].min() + box.width) / 4
    hh = (moved[:, 1].max() - moved[:, 1].min() + box.height) / 4
    return Box(cx - hw, cy - hh, cx + hw, cy + hh).clipped(W, H)


def _jpeg(image: np.ndarray, rng) -> np.ndarray:
    quality = int(rng.integers(35, 96))
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else image


# ----------------------------------------------------------------------------- public API


def generate_page(rng: np.random.Generator, bank: SignatureBank | None = None, long_side: int = 1024,
                  square_probability: float = 0.3, version: int = DEFAULT_GENERATOR_VERSION) -> SyntheticPage:
    """One synthetic page whose longer side is ``long_side`` pixels, with the box of every mark.

    ``square_probability`` is the share of pages exported stretched to a square, as some public
    detection sets are; the rest keep the paper's aspect ratio (with a little jitter). ``version``: one of
    :data:`GENERATOR_VERSIONS`.
    """
    if version not in GENERATOR_VERSIONS:
        raise ValueError(f"generator version {version} is not one of {GENERATOR_VERSIONS}")
    paper = PAPER_INCHES["a4" if rng.random() < 0.6 else "letter"]
    dpi = float(rng.uniform(85, 150))
    width, height = int(paper[0] * dpi), int(paper[1] * dpi)
    canvas = _Canvas(width, height, dpi)
    layout = _layout_page(canvas, rng, version)

    page = _paper(width, height, rng)
    darkness = rng.uniform(0.75, 1.0)
    print_ink = np.asarray(canvas.ink, np.float32) / 255.0 * darkness
    page *= (1.0 - print_ink)[..., None]
    for layer, colour in canvas.colour_layers:
        _apply_ink(page, np.asarray(layer, np.float32) / 255.0, colour, 0, 0)

    if rng.random() < (0.5 if version >= 5 else 0.3 if version >= 2 else 0.2):
        _hand_annotations(page, rng, dpi, version)
    if version >= 2:
        _fill_by_hand(page, rng, layout.hand_slots, dpi)
    signature_boxes = _place_signatures(page, rng, layout.signature_slots, bank, dpi, version)
    stamp_boxes = _place_stamps(page, rng, layout.signature_slots, dpi, signature_boxes)
    marks = [("signature", b) for b in signature_boxes] + [("stamp", b) for b in stamp_boxes]

    image, marks = _scan(page, rng, marks)
    H, W = image.shape[:2]
    if rng.random() < 0.05:  # fed upside down
        image = np.ascontiguousarray(image[::-1, ::-1])
        marks = [(kind, Box(W - b.x1, H - b.y1, W - b.x0, H - b.y0)) for kind, b in marks]
    if rng.random() < square_probability:
        out_w = out_h = long_side
    else:
        aspect = W / H * rng.uniform(0.93, 1.07)
        out_h = long_side if aspect <= 1 else int(long_side / aspect)
        out_w = int(long_side * aspect) if aspect <= 1 else long_side
    image = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA)
    sx, sy = out_w / W, out_h / H
    marks = [(kind, box.scaled(sx, sy)) for kind, box in marks]
    image = _jpeg(image, rng)
    marks = [(kind, box) for kind, box in marks if box.width >= 3 and box.height >= 3]
    return SyntheticPage(image, tuple(marks))


def write_yolo_page(out_dir: Path, stem: str, page: SyntheticPage) -> None:
    """Write ``images/STEM.jpg`` and ``labels/STEM.txt`` (YOLO: ``class cx cy w h``, normalized)."""
    h, w = page.image.shape[:2]
    cv2.imwrite(str(out_dir / "images" / f"{stem}.jpg"), page.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    lines = []
    for kind, box in page.marks:
        cx, cy = (box.x0 + box.x1) / 2 / w, (box.y0 + box.y1) / 2 / h
        lines.append(f"{KINDS.index(kind)} {cx:.6f} {cy:.6f} {box.width / w:.6f} {box.height / h:.6f}")
    (out_dir / "labels" / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def write_dataset(out_dir: str | Path, count: int, seed: int = 0, bank: SignatureBank | None = None,
                  long_side: int = 1024, progress=None, version: int = DEFAULT_GENERATOR_VERSION) -> Path:
    """Generate ``count`` pages into ``out_dir`` in the layout ``stampauth eval detection`` reads."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("\n".join(KINDS) + "\n")
    for index in range(count):
        rng = np.random.default_rng([seed, index])  # page i is the same whatever the count
        write_yolo_page(out, f"synth-{seed}-{index:06d}", generate_page(rng, bank, long_side, version=version))
        if progress is not None:
            progress(index + 1, count)
    return out
