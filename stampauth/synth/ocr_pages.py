"""Evaluation pages for reading the text near marks, with the exact text expected at each position.

A page is A4 paper (2480 x 3508 pixels at the default 300 dpi) with 2-4 marks, each far from the others:

* a synthetic handwritten signature (:mod:`stampauth.synth.signatures`; no real data) on a signature line,
  with the signer's printed name and a title/company line BELOW the line;
* a stamp (:mod:`stampauth.synth.stamps`: round, double round, oval, rectangular; 35-50 mm, its design's ink)
  with one to three printed lines (company name, "Reg. No. 12345678", an address) to its RIGHT or BELOW it.

Names, companies and addresses are generated (pseudo-words in realistic structures: "Anna K. Berrington",
"Director, Trelmax Holdings Ltd"); the print uses the machine's serif and sans fonts at 9-12 pt. Distractor
body text (a letterhead, paragraphs) fills the rest of the page but never enters a mark's neighbourhood, as
:func:`stampauth.text.nearby.bands` computes it with the default :class:`~stampauth.text.types.NearbyConfig`
(plus a guard margin), so the text expected at a position is exactly what is printed there; the printed
lines of a mark lie well inside their band. Marks keep out of each other's neighbourhoods too.

Each layout comes in two conditions:

* ``clean``: a clean colour scan (slight paper tone, light noise), saved as PNG;
* ``noisy``: uneven light, blur, Gaussian noise, a skew of up to 2 degrees (applied to the page and to every
  box), grey in about a third of pages, JPEG quality 45-75.

The mark boxes are the tight boxes of the ink (coverage > 0.15, as :func:`stampauth.synth.stamps.composite_ink`
returns them); after the skew, the tight box of the rotated ink outline. For round, double round and oval
stamps ``ring`` is the text along the border: ``ring_text + " " + ring_text_bottom``, stripped (see
:class:`~stampauth.synth.stamps.StampDesign`).

Layout ``i`` of seed ``s`` is drawn from ``numpy.random.default_rng([s, i])``, so it does not depend on how
many pages are made. :func:`write_ocr_set` saves a set (images and one ``truth.jsonl``),
:func:`load_ocr_set` reads it back, :func:`generate_ocr_pages` yields pages in memory.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import Image, ImageDraw

from stampauth.detection.types import Box
from stampauth.io import Page
from stampauth.synth import fonts
from stampauth.synth.documents import PRINT_INK_THRESHOLD, _apply_ink, _word
from stampauth.synth.signatures import random_signature
from stampauth.synth.stamps import StampDesign, composite_ink, random_design, render_stamp
from stampauth.text.nearby import bands
from stampauth.text.types import NearbyConfig

CONDITIONS = ("clean", "noisy")
A4_MM = (210.0, 297.0)
RING_SHAPES = ("round", "double_round", "oval")
RECT_SHAPES = ("rectangle", "rounded_rectangle")
STAMP_KINDS = ("seal", "oval", "company", "date")  # designs with ring text or several lines; not pictures/QC
TRUTH_FILE = "truth.jsonl"
#: The bands a mark's printed lines must lie in are shrunk by this share of their reach (so a reader that crops
#: a little tighter or a skewed scan still sees all of them); distractors keep out of the bands grown by it.
INNER_SHARE = 0.12
MAX_SKEW_DEG = 2.0  # of the noisy scans
GUARD_MM = 4.0  # distractors and other marks keep this much further away than the neighbourhood reaches
_FONT_DENY = ("z003", "math", "extralight", "linbiolinum_k", "_dr.", "mono", "urwbookman-light")
_PEN_INKS = ((120, 40, 20), (90, 30, 10), (150, 60, 30), (30, 30, 30), (15, 15, 15), (110, 60, 70))


@dataclass(frozen=True)
class OcrLine:
    """One printed line near a mark: its text, where it lies relative to the mark and its ink box."""

    position: str
    text: str
    box: Box


@dataclass(frozen=True)
class OcrMark:
    """A mark and the text expected around it.

    ``expected``: ``{position: text}``, the lines at that position top to bottom joined by ``"\\n"``;
    ``ring``: a round/oval stamp's border text ("" for other marks); ``shape``: the stamp's shape ("" for a
    signature); ``impression``: how well a stamp came out ("good" or "patchy"; "" for a signature).
    """

    kind: str
    box: Box
    expected: dict[str, str]
    ring: str = ""
    shape: str = ""
    impression: str = ""
    lines: tuple[OcrLine, ...] = ()


@dataclass(frozen=True)
class OcrPage:
    """One evaluation page in one condition. ``encoded``: the file's bytes where they are not a lossless
    encoding of ``page.image`` (the noisy JPEG), so that a saved set reads back to the same pixels."""

    name: str
    condition: str
    page: Page
    marks: tuple[OcrMark, ...]
    distractors: tuple[Box, ...] = ()
    scan: dict = field(default_factory=dict)
    seed: int = 0
    index: int = 0
    encoded: bytes = b""

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.condition}.{'jpg' if self.encoded else 'png'}"


# ----------------------------------------------------------------------------- text content

_ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "r", "s", "st", "t",
           "tr", "v", "w", "ch", "th", "")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "ea", "ou", "ie", "y")
_CODAS = ("", "", "", "n", "r", "l", "s", "m", "nd", "rt", "st", "x", "k")
_SURNAME_ENDS = ("ington", "son", "er", "ley", "berg", "mann", "ford", "well", "ova", "ski", "ez", "ton", "ard", "ini")
_FIRST_ENDS = ("a", "e", "o", "an", "en", "ia", "ie", "el", "is", "on", "")
_TITLES = ("Director", "Managing Director", "Chief Executive Officer", "Chief Financial Officer", "Head of Legal",
           "Head of Procurement", "Company Secretary", "Authorised Signatory", "Notary Public", "Partner",
           "Sales Manager", "Operations Manager", "General Counsel", "Treasurer", "Vice President")
_TRADES = ("Holdings", "Trading", "Logistics", "Consulting", "Industries", "Services", "Group", "Partners",
           "Systems", "Engineering", "Foods", "Textiles", "Energy", "Pharma", "Motors", "Capital")
_SUFFIXES = ("Ltd", "Ltd.", "LLC", "Inc.", "GmbH", "S.A.", "B.V.", "AG", "plc", "Corp.", "S.r.l.", "& Co.")
_STREETS = ("Street", "Road", "Avenue", "Lane", "Square", "Way", "Strasse", "Place", "Court")
_REG_LABELS = ("Reg. No.", "Company No.", "VAT No.", "Reg. no.", "Registration No.", "Tax ID")


def _syllables(rng: np.random.Generator, n: int) -> str:
    return "".join(_ONSETS[int(rng.integers(len(_ONSETS)))] + _VOWELS[int(rng.integers(len(_VOWELS)))]
                   + _CODAS[int(rng.integers(len(_CODAS)))] for _ in range(n))


def _proper(rng: np.random.Generator, lo: int, hi: int, endings: tuple[str, ...] = ("",)) -> str:
    word = _syllables(rng, int(rng.integers(lo, hi + 1))) + endings[int(rng.integers(len(endings)))]
    return word[:1].upper() + word[1:]


def person_name(rng: np.random.Generator) -> str:
    """A generated name such as "Anna K. Berrington" or "Tomas Velde-Marsh"."""
    first = _proper(rng, 1, 2, _FIRST_ENDS)
    middle = f" {chr(ord('A') + int(rng.integers(26)))}." if rng.random() < 0.4 else ""
    last = _proper(rng, 1, 2, _SURNAME_ENDS)
    if rng.random() < 0.1:
        last += "-" + _proper(rng, 1, 2, _SURNAME_ENDS)
    return f"{first}{middle} {last}"


def company_name(rng: np.random.Generator) -> str:
    """A generated company such as "Trelmax Holdings Ltd" or "Vorn & Kessler GmbH"."""
    suffix = _SUFFIXES[int(rng.integers(len(_SUFFIXES)))]
    roll = rng.random()
    if roll < 0.5:
        stem = f"{_proper(rng, 2, 3)} {_TRADES[int(rng.integers(len(_TRADES)))]}"
    elif roll < 0.75:
        stem = f"{_proper(rng, 1, 2, _SURNAME_ENDS)} & {_proper(rng, 1, 2, _SURNAME_ENDS)}"
    else:
        stem = _proper(rng, 2, 3)
    return f"{stem} {suffix}".replace("& Co. & Co.", "& Co.")


def registration(rng: np.random.Generator) -> str:
    label = _REG_LABELS[int(rng.integers(len(_REG_LABELS)))]
    digits = "".join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(7, 11))))
    if label == "VAT No.":
        digits = ("GB", "DE", "NL", "FR", "IE")[int(rng.integers(5))] + digits
    return f"{label} {digits}"


def short_company(rng: np.random.Generator) -> str:
    """A short company name such as "Trelmax Ltd"."""
    return f"{_proper(rng, 1, 2)} {_SUFFIXES[int(rng.integers(len(_SUFFIXES)))]}"


def short_registration(rng: np.random.Generator) -> str:
    """A short identifier such as "No. 4471823" or "Reg. 50331"."""
    label = ("No.", "Reg.", "ID", "Ref.")[int(rng.integers(4))]
    return f"{label} {''.join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(5, 8))))}"


def address(rng: np.random.Generator) -> str:
    street = f"{_proper(rng, 1, 3)} {_STREETS[int(rng.integers(len(_STREETS)))]}"
    number = int(rng.integers(1, 250))
    town = _proper(rng, 2, 3)
    if rng.random() < 0.5:
        return f"{number} {street}, {town}"
    return f"{street} {number}, {int(rng.integers(1000, 99999))} {town}"


def signer_title(rng: np.random.Generator, company: str) -> str:
    title = _TITLES[int(rng.integers(len(_TITLES)))]
    return f"{title}, {company}" if rng.random() < 0.7 else title


# ----------------------------------------------------------------------------- fonts


def _font_pool() -> list[str]:
    families = fonts.font_families()
    pool = [p for style in ("serif", "sans") for p in families.get(style, [])]
    return [p for p in pool if not any(word in Path(p).name.lower() for word in _FONT_DENY)]


def _print_font(rng: np.random.Generator, dpi: float, lo_pt: float = 9.0, hi_pt: float = 12.0):
    """A serif or sans font at ``lo_pt``-``hi_pt`` points (1 pt = dpi/72 px); Pillow's own font on a bare machine."""
    size = max(6, round(rng.uniform(lo_pt, hi_pt) * dpi / 72.0))
    pool = _font_pool()
    if not pool:
        return fonts.random_font(rng, size)
    return fonts._load(pool[int(rng.integers(len(pool)))], size)


def _text_box(font, text: str, x: float, y: float) -> Box:
    x0, y0, x1, y1 = font.getbbox(text)
    return Box(x + x0, y + y0, x + x1, y + y1)


# ----------------------------------------------------------------------------- marks (before placement)


@dataclass
class _Block:
    """A mark with its printed lines, in the mark's own frame (its ink box's top-left corner at (0, 0))."""

    kind: str
    coverage: np.ndarray  # ink coverage; its own top-left at (-cx, -cy) in the mark's frame
    cx: int
    cy: int
    w: int
    h: int
    colour: tuple[int, int, int]
    lines: list[tuple[str, str, float, float, object]]  # (position, text, x, y, font) in the mark's frame
    rule: tuple[float, float, float, int] | None = None  # a signature line: (x0, x1, y, width)
    ring: str = ""
    shape: str = ""
    impression: str = ""


def _tight(coverage: np.ndarray) -> tuple[int, int, int, int] | None:
    mask = coverage > PRINT_INK_THRESHOLD
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) < 2 or len(cols) < 2:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _inner_band(position: str, w: float, h: float, config: NearbyConfig) -> Box:
    """The band at ``position`` of a ``w`` x ``h`` mark at the origin, shrunk by :data:`INNER_SHARE` of its reach."""
    band = _bands_at_origin(w, h, config)[position]
    if position == "below":
        reach = band.y1 - band.y0
        spread = -band.x0
        return Box(band.x0 + INNER_SHARE * spread, band.y0, band.x1 - INNER_SHARE * spread, band.y1 - INNER_SHARE * reach)
    if position == "right":
        reach = band.x1 - band.x0
        return Box(band.x0, band.y0 + 0.04 * h, band.x1 - INNER_SHARE * reach, band.y1 - 0.04 * h)
    raise ValueError(position)


def _bands_at_origin(w: float, h: float, config: NearbyConfig) -> dict[str, Box]:
    """The mark's bands with its box at (0, 0)-(w, h), unclipped (the page is shifted far away and back)."""
    far = 10 ** 6
    found = bands(Box(far, far, far + w, far + h), config, 3 * far, 3 * far)
    return {k: Box(b.x0 - far, b.y0 - far, b.x1 - far, b.y1 - far) for k, b in found.items()}


def _envelope(w: float, h: float, config: NearbyConfig, guard: float) -> Box:
    """Everything the reader may look at for a ``w`` x ``h`` mark at the origin, grown by ``guard`` and by what
    the skew of a noisy scan moves the (axis-aligned) bands of the skewed mark against the page's print."""
    every = list(_bands_at_origin(w, h, config).values()) + [Box(0, 0, w, h)]
    x0, y0 = min(b.x0 for b in every), min(b.y0 for b in every)
    x1, y1 = max(b.x1 for b in every), max(b.y1 for b in every)
    grow = guard + math.sin(math.radians(MAX_SKEW_DEG)) * max(x1 - x0, y1 - y0)
    return Box(x0 - grow, y0 - grow, x1 + grow, y1 + grow)


def _set_lines(font, texts: list[str], x: float | None, top: float, pitch: float, centre: float,
               position: str, inner: Box) -> list[tuple[str, str, int, int, object]] | None:
    """Lines ``texts`` from ``top`` every ``pitch`` pixels, left-aligned at ``x`` (None: centred on ``centre``),
    at whole pixels; None unless every line's ink lies within ``inner``."""
    lines = []
    for i, text in enumerate(texts):
        lx = round(x) if x is not None else round(centre - font.getlength(text) / 2)
        ly = round(top + i * pitch)
        b = _text_box(font, text, lx, ly)
        if b.x0 < inner.x0 or b.x1 > inner.x1 or b.y0 < inner.y0 or b.y1 > inner.y1:
            return None
        lines.append((position, text, lx, ly, font))
    return lines


def _signature_block(rng: np.random.Generator, dpi: float, config: NearbyConfig, max_w: float) -> _Block | None:
    height = int(dpi * rng.uniform(0.55, 0.85))  # 14-22 mm of pen height
    coverage = random_signature(rng, height_px=height)
    if coverage.shape[1] > max_w:
        scale = max_w / coverage.shape[1]
        coverage = cv2.resize(coverage, (int(max_w), max(8, int(coverage.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    coverage = coverage * float(rng.uniform(0.8, 1.0))
    tight = _tight(coverage)
    if tight is None:
        return None
    tx0, ty0, tx1, ty1 = tight
    w, h = tx1 - tx0, ty1 - ty0
    colour = _PEN_INKS[int(rng.integers(len(_PEN_INKS)))]
    rule_y = h + rng.uniform(-0.08, 0.04) * h  # the pen's lowest strokes touch or cross the line
    rule_w = max(2, round(dpi / 150))
    rule = (-rng.uniform(0.0, 0.15) * w, w + rng.uniform(0.0, 0.15) * w, rule_y, rule_w)
    inner = _inner_band("below", w, h, config)
    company = company_name(rng)
    for _ in range(12):
        font = _print_font(rng, dpi)
        name, title = person_name(rng), signer_title(rng, company)
        texts = [name, title] if rng.random() < 0.9 else [name]
        size = font.size
        pitch = size * rng.uniform(1.2, 1.45)
        top = max(rule_y + rule_w, h) + size * rng.uniform(0.3, 0.6)
        lines = _set_lines(font, texts, max(rule[0], inner.x0 + 1), top, pitch, w / 2, "below", inner)
        if lines is not None:
            return _Block("signature", coverage, tx0, ty0, w, h, colour, lines, rule)
        company = company_name(rng)
    return None


def _stamp_design(rng: np.random.Generator) -> StampDesign:
    want_ring = rng.random() < 0.7
    for _ in range(200):
        design = random_design(rng)
        if design.kind not in STAMP_KINDS:
            continue
        if want_ring and design.shape in RING_SHAPES and design.ring_text.strip():
            return design
        if not want_ring and design.shape in RECT_SHAPES:
            return design
    raise RuntimeError("random_design gave no stamp of the wanted shape in 200 tries")


def _stamp_block(rng: np.random.Generator, dpi: float, config: NearbyConfig) -> _Block | None:
    design = _stamp_design(rng)
    diameter = dpi * rng.uniform(35, 50) / 25.4
    rotation = rng.uniform(-20, 20) if design.shape in RING_SHAPES else rng.uniform(-3, 3)
    impression = "good" if rng.random() < 0.75 else "patchy"  # no "poor" ones: their text is illegible to people too
    coverage = render_stamp(design, rng, diameter, rotation_deg=rotation, condition=impression)
    tight = _tight(coverage)
    if tight is None:
        return None
    tx0, ty0, tx1, ty1 = tight
    w, h = tx1 - tx0, ty1 - ty0
    ring = f"{design.ring_text} {design.ring_text_bottom}".strip() if design.shape in RING_SHAPES else ""
    for _ in range(16):
        position = "right" if rng.random() < 0.5 else "below"
        inner = _inner_band(position, w, h, config)
        font = _print_font(rng, dpi)
        size = font.size
        pitch = size * rng.uniform(1.2, 1.45)
        company = company_name(rng)
        if position == "right":  # a narrow band (0.6 stamp widths): short lines, as printed beside a seal
            font = _print_font(rng, dpi, 8.5, 10.5)
            size = font.size
            pitch = size * rng.uniform(1.2, 1.45)
            choices = [short_company(rng), short_registration(rng), _proper(rng, 2, 3)]
        else:
            choices = [company, registration(rng), address(rng)]
        n = int(rng.integers(1, 4))
        texts = [choices[0]] + [choices[int(i)] for i in sorted(rng.choice([1, 2], size=n - 1, replace=False))]
        if position == "right":
            x: float | None = inner.x0 + max(dpi / 25.4 * 2, 0.06 * w) * rng.uniform(0.8, 1.5)
            block_h = pitch * (len(texts) - 1) + size
            top = h / 2 - block_h / 2 + rng.uniform(-0.1, 0.1) * h
        else:  # left-aligned about the stamp's left edge, or centred under it
            x = rng.uniform(-0.08, 0.1) * w if rng.random() < 0.5 else None
            top = h + size * rng.uniform(0.3, 0.8)
        lines = _set_lines(font, texts, x, top, pitch, w / 2, position, inner)
        if lines is not None:
            return _Block("stamp", coverage, tx0, ty0, w, h, design.color_bgr, lines, None, ring, design.shape,
                          impression)
    return None


# ----------------------------------------------------------------------------- layout


def _intersects(a: Box, b: Box) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@dataclass
class _Layout:
    width: int
    height: int
    dpi: float
    ink: Image.Image  # print, "L", 255 = full ink
    placed: list[tuple[_Block, int, int]]  # block and the page position of its ink box's top-left corner
    envelopes: list[Box]
    distractors: list[Box]


def _place_marks(rng: np.random.Generator, width: int, height: int, dpi: float, config: NearbyConfig) -> tuple[list, list]:
    margin = dpi * 0.6
    guard = dpi * GUARD_MM / 25.4
    n = int(rng.integers(2, 5))
    kinds = ["signature", "stamp"] + [str(k) for k in rng.choice(["signature", "stamp"], size=n - 2)]
    kinds.sort(key=lambda kind: kind != "stamp")  # stamps (the largest neighbourhoods) first: more of them fit
    placed: list[tuple[_Block, int, int]] = []
    envelopes: list[Box] = []
    for kind in kinds:
        for _ in range(4):  # a block that does not fit anywhere is made again (smaller ones fit more often)
            block = (_signature_block(rng, dpi, config, max_w=(width - 2 * margin) * 0.36) if kind == "signature"
                     else _stamp_block(rng, dpi, config))
            if block is None:
                continue
            env = _envelope(block.w, block.h, config, guard)
            lo_x, hi_x = margin - env.x0, width - margin - env.x1
            lo_y = max(margin - env.y0, height * (0.3 if kind == "signature" else 0.15))
            hi_y = height - margin - env.y1
            if hi_x <= lo_x or hi_y <= lo_y:
                continue
            for _ in range(150):
                x, y = int(rng.uniform(lo_x, hi_x)), int(rng.uniform(lo_y, hi_y))
                moved = Box(env.x0 + x, env.y0 + y, env.x1 + x, env.y1 + y)
                if not any(_intersects(moved, other) for other in envelopes):
                    placed.append((block, x, y))
                    envelopes.append(moved)
                    break
            else:
                continue
            break
    return placed, envelopes


def _free_runs(x0: int, x1: int, y0: float, y1: float, blocked: list[Box]) -> list[tuple[float, float]]:
    """The stretches of [x0, x1] that a text line spanning rows y0..y1 may use without entering ``blocked``."""
    runs = [(float(x0), float(x1))]
    for box in blocked:
        if box.y1 <= y0 or box.y0 >= y1:
            continue
        cut = []
        for a, b in runs:
            if box.x1 <= a or box.x0 >= b:
                cut.append((a, b))
                continue
            if box.x0 > a:
                cut.append((a, box.x0))
            if box.x1 < b:
                cut.append((box.x1, b))
        runs = cut
    return runs


def _distractors(rng: np.random.Generator, draw: ImageDraw.ImageDraw, width: int, height: int, dpi: float,
                 blocked: list[Box]) -> list[Box]:
    """A letterhead and paragraphs flowing around ``blocked``; returns the ink box of every line drawn."""
    margin_x, margin_top = int(dpi * rng.uniform(0.7, 1.0)), int(dpi * rng.uniform(0.5, 0.8))
    x0, x1 = margin_x, width - margin_x
    drawn: list[Box] = []
    body = _print_font(rng, dpi, 9.5, 11.5)
    pitch = body.size * rng.uniform(1.25, 1.6)
    min_run = dpi * 1.5  # narrower gaps beside a mark stay empty, as a typesetter would leave them
    y = float(margin_top)

    def put(text: str, x: float, y: float, font) -> bool:
        box = _text_box(font, text, x, y)
        if box.x1 > width or any(_intersects(box, b) for b in blocked):
            return False
        draw.text((x, y), text, font=font, fill=255)
        drawn.append(box)
        return True

    head = fonts.random_font(rng, round(dpi * rng.uniform(16, 22) / 72), "bold")
    put(company_name(rng).upper(), x0, y, head)
    y += head.size * 1.4
    put(address(rng), x0, y, body)
    y += pitch * 2.5
    put(f"{int(rng.integers(1, 29))} {_proper(rng, 2, 2)} {int(rng.integers(2015, 2031))}", x0, y, body)
    y += pitch * 2
    bottom = height - dpi * 0.6
    while y + body.size < bottom:
        lines = int(rng.integers(3, 9))
        for _ in range(lines):
            if y + body.size >= bottom:
                break
            probe = _text_box(body, "Hg", 0, y)
            for a, b in _free_runs(x0, x1, probe.y0 - 2, probe.y1 + 2, blocked):
                a, b = math.ceil(a + dpi * 0.15 if a > x0 else a), b - (dpi * 0.15 if b < x1 else 0)
                if b - a < min_run:
                    continue
                words: list[str] = []
                while True:
                    candidate = " ".join(words + [_word(rng)])
                    if a + body.getlength(candidate) > b:
                        break
                    words = candidate.split(" ")
                if words:
                    words[0] = words[0].capitalize()
                    put(" ".join(words), a, y, body)
            y += pitch
        y += pitch * rng.uniform(0.6, 1.4)
    return drawn


def _layout(rng: np.random.Generator, dpi: float, config: NearbyConfig) -> _Layout:
    width, height = round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)
    placed, envelopes = _place_marks(rng, width, height, dpi, config)
    ink = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(ink)
    for block, x, y in placed:
        for _, text, lx, ly, font in block.lines:
            draw.text((x + lx, y + ly), text, font=font, fill=255)
        if block.rule is not None:
            r0, r1, ry, rw = block.rule
            draw.line([(x + r0, y + ry), (x + r1, y + ry)], fill=255, width=rw)
    distractors = _distractors(rng, draw, width, height, dpi, envelopes)
    return _Layout(width, height, dpi, ink, placed, envelopes, distractors)


# ----------------------------------------------------------------------------- rendering and scanning


def _render(rng: np.random.Generator, layout: _Layout) -> tuple[np.ndarray, list[np.ndarray]]:
    """The printed and marked page ``(H, W, 3) float32`` BGR, and each mark's ink outline (points, page pixels)."""
    tone = rng.uniform(236, 252)
    page = np.empty((layout.height, layout.width, 3), np.float32)
    page[:] = np.clip(tone + rng.uniform(-4, 4, size=3), 0, 255)
    darkness = rng.uniform(0.85, 0.97)
    page *= (1.0 - np.asarray(layout.ink, np.float32) * (darkness / 255.0))[..., None]
    outlines = []
    for block, x, y in layout.placed:
        left, top = x - block.cx, y - block.cy
        if block.kind == "signature":
            _apply_ink(page, block.coverage, block.colour, left, top)
        else:
            composite_ink(page, block.coverage, block.colour, left, top)
        ys, xs = np.nonzero(block.coverage > PRINT_INK_THRESHOLD)
        hull = cv2.convexHull(np.stack([xs, ys], 1).astype(np.float32)).reshape(-1, 2)
        # a pixel's outline is its square: take both corners so the box is exclusive at the far side
        outlines.append(np.concatenate([hull, hull + 1.0]) + (left, top))
    return page, outlines


def _box_of(points: np.ndarray, width: int, height: int) -> Box:
    return Box(float(points[:, 0].min()), float(points[:, 1].min()),
               float(points[:, 0].max()), float(points[:, 1].max())).clipped(width, height)


def _corners(box: Box) -> np.ndarray:
    return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x0, box.y1], [box.x1, box.y1]], np.float32)


def _clean_scan(rng: np.random.Generator, page: np.ndarray) -> tuple[np.ndarray, dict]:
    sigma = float(rng.uniform(1.0, 2.5))
    noisy = page + rng.normal(0, sigma, size=page.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8), {"noise_sigma": round(sigma, 2)}


def _noisy_scan(rng: np.random.Generator, page: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Scanner effects; returns the image, the skew's 2 x 3 matrix (page -> image pixels) and what was done."""
    H, W = page.shape[:2]
    gy, gx = np.mgrid[0:H:16, 0:W:16].astype(np.float32)
    a, b, c = rng.uniform(-0.12, 0.12, size=3)
    light = 1.0 + a * gx / W + b * gy / H + c * ((gx / W - 0.5) ** 2 + (gy / H - 0.5) ** 2)
    page = page * cv2.resize(light, (W, H))[..., None]
    blur = float(rng.uniform(0.4, 1.1))
    page = cv2.GaussianBlur(page, (0, 0), blur)
    sigma = float(rng.uniform(3, 9))
    page += rng.normal(0, sigma, size=page.shape).astype(np.float32)
    angle = float(rng.uniform(-MAX_SKEW_DEG, MAX_SKEW_DEG))
    matrix = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
    page = cv2.warpAffine(page, matrix, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    image = np.clip(page, 0, 255).astype(np.uint8)
    grey = bool(rng.random() < 0.35)
    if grey:
        image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    scan = {"uneven_light": [round(float(v), 3) for v in (a, b, c)], "blur_sigma": round(blur, 2),
            "noise_sigma": round(sigma, 2), "skew_deg": round(angle, 3), "grey": grey,
            "matrix": [[round(float(v), 6) for v in row] for row in matrix]}
    return image, matrix, scan


def _page_marks(layout: _Layout, outlines: list[np.ndarray], matrix: np.ndarray | None) -> list[OcrMark]:
    def move(points: np.ndarray) -> np.ndarray:
        if matrix is None:
            return points
        return points @ matrix[:, :2].T + matrix[:, 2]

    marks = []
    for (block, x, y), outline in zip(layout.placed, outlines):
        lines = []
        for position, text, lx, ly, font in block.lines:
            lines.append(OcrLine(position, text, _box_of(move(_corners(_text_box(font, text, x + lx, y + ly))),
                                                         layout.width, layout.height)))
        expected: dict[str, str] = {}
        for line in lines:
            expected[line.position] = f"{expected[line.position]}\n{line.text}" if line.position in expected else line.text
        marks.append(OcrMark(block.kind, _box_of(move(outline), layout.width, layout.height), expected, block.ring,
                             block.shape, block.impression, tuple(lines)))
    return marks


def _ocr_pair(seed: int, index: int, dpi: float, config: NearbyConfig) -> tuple[OcrPage, OcrPage]:
    rng = np.random.default_rng([seed, index])  # layout i is the same whatever the count
    layout = _layout(rng, dpi, config)
    page, outlines = _render(rng, layout)
    name = f"ocr-{seed}-{index:04d}"
    common = dict(name=name, seed=seed, index=index)
    clean_image, clean_scan = _clean_scan(rng, page)
    clean = OcrPage(condition="clean", page=Page(index + 1, clean_image, int(round(dpi))),
                    marks=tuple(_page_marks(layout, outlines, None)), distractors=tuple(layout.distractors),
                    scan=clean_scan, **common)
    noisy_image, matrix, noisy_scan = _noisy_scan(rng, page)
    quality = int(rng.integers(45, 76))
    ok, data = cv2.imencode(".jpg", noisy_image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    noisy_image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    noisy_scan["jpeg_quality"] = quality
    distractors = tuple(_box_of(_corners(b) @ matrix[:, :2].T + matrix[:, 2], layout.width, layout.height)
                        for b in layout.distractors)
    noisy = OcrPage(condition="noisy", page=Page(index + 1, noisy_image, int(round(dpi))),
                    marks=tuple(_page_marks(layout, outlines, matrix)), distractors=distractors, scan=noisy_scan,
                    encoded=data.tobytes(), **common)
    return clean, noisy


# ----------------------------------------------------------------------------- public API


def generate_ocr_pages(count: int, seed: int = 2026, dpi: float = 300.0,
                       conditions: tuple[str, ...] = CONDITIONS) -> Iterator[OcrPage]:
    """``count`` layouts, each yielded in every one of ``conditions`` (clean first): ``count * len(conditions)``
    pages. ``dpi`` scales everything (A4 is 2480 x 3508 at 300); the neighbourhood limits of the default
    :class:`NearbyConfig` stay in pixels, as the reader applies them."""
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"unknown conditions {sorted(unknown)}; use {CONDITIONS}")
    config = NearbyConfig()
    for index in range(count):
        for page in _ocr_pair(seed, index, dpi, config):
            if page.condition in conditions:
                yield page


def _box_list(box: Box) -> list[float]:
    return [round(float(v), 2) for v in (box.x0, box.y0, box.x1, box.y1)]


def page_record(page: OcrPage) -> dict:
    """The ``truth.jsonl`` record of ``page`` (boxes as ``[x0, y0, x1, y1]`` in its pixels)."""
    return {
        "file": page.file_name, "name": page.name, "condition": page.condition, "seed": page.seed,
        "index": page.index, "page_number": page.page.number, "dpi": page.page.dpi,
        "width": page.page.width, "height": page.page.height, "scan": page.scan,
        "marks": [{"kind": m.kind, "box": _box_list(m.box), "expected": m.expected, "ring": m.ring,
                   "shape": m.shape, "impression": m.impression,
                   "lines": [{"position": l.position, "text": l.text, "box": _box_list(l.box)} for l in m.lines]}
                  for m in page.marks],
        "distractors": [_box_list(b) for b in page.distractors],
    }


def write_ocr_set(out_dir: str | Path, count: int, seed: int = 2026, dpi: float = 300.0, progress=None) -> Path:
    """Generate ``count`` layouts into ``out_dir``: ``NAME-clean.png`` and ``NAME-noisy.jpg`` per layout, and
    ``truth.jsonl`` with one record per image (:func:`page_record`). Returns ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / TRUTH_FILE, "w") as truth:
        for i, page in enumerate(generate_ocr_pages(count, seed, dpi)):
            if page.encoded:
                (out / page.file_name).write_bytes(page.encoded)
            elif not cv2.imwrite(str(out / page.file_name), page.page.image, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
                raise OSError(f"could not write {out / page.file_name}")
            truth.write(json.dumps(page_record(page)) + "\n")
            if progress is not None:
                progress(i + 1, count * len(CONDITIONS))
    return out


def load_ocr_set(data_dir: str | Path) -> Iterator[OcrPage]:
    """The pages of a set :func:`write_ocr_set` saved (any set with the same ``truth.jsonl``), in file order."""
    root = Path(data_dir)
    truth = root / TRUTH_FILE
    if not truth.is_file():
        raise FileNotFoundError(f"{truth} not found: make a set with write_ocr_set (or pass no --data to generate one)")
    with open(truth) as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            path = root / record["file"]
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{path} (line {number} of {truth}) is missing or not an image")
            marks = tuple(
                OcrMark(m["kind"], Box(*m["box"]), dict(m.get("expected", {})), m.get("ring", ""), m.get("shape", ""),
                        m.get("impression", ""),
                        tuple(OcrLine(l["position"], l["text"], Box(*l["box"])) for l in m.get("lines", ())))
                for m in record["marks"])
            yield OcrPage(
                name=record.get("name", path.stem), condition=record.get("condition", "clean"),
                page=Page(int(record.get("page_number", 1)), image, int(record.get("dpi", 0))), marks=marks,
                distractors=tuple(Box(*b) for b in record.get("distractors", ())), scan=record.get("scan", {}),
                seed=int(record.get("seed", 0)), index=int(record.get("index", number - 1)),
                encoded=path.read_bytes() if path.suffix.lower() in (".jpg", ".jpeg") else b"")
