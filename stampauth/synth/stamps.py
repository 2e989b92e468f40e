"""Synthetic rubber stamps and seals.

Three steps, kept apart on purpose:

* :func:`random_design` invents one *physical* stamp: a frozen :class:`StampDesign` (shape, size in
  millimetres, texts, fonts, border widths, emblem, ink colour, and a ``seed`` for the rubber's own
  little defects).
* :func:`render_stamp` makes one *impression* of it: the design is drawn once as a clean "rubber"
  template (cached; glyphs along arcs, rings, emblems, all anti-aliased at the requested size), then
  the ``rng`` decides how this particular impression came out: uneven pressure, a fainter side,
  blotchy gaps, edge roughness, ink grain, blur, sometimes a double impression or a smear. Two
  impressions of one design share the layout exactly and differ in the ink, as on real paper.
* :func:`composite_ink` puts an impression on a page with multiply blending (ink over print).

The coverage map is ``float32`` in ``[0, 1]`` (1 = full ink). Its shape depends only on the design,
``diameter_px`` and ``rotation_deg``, never on the rng, so impressions of a design line up.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from stampauth.synth import fonts

__all__ = [
    "EMBLEMS",
    "INKS",
    "KINDS",
    "PICTURES",
    "SHAPES",
    "StampDesign",
    "composite_ink",
    "random_design",
    "render_stamp",
]

SHAPES = ("round", "double_round", "oval", "rectangle", "rounded_rectangle", "triangle", "cloud", "star", "none")
EMBLEMS = ("none", "star", "stars", "shield", "wreath", "globe", "building", "sun", "monogram")
KINDS = ("seal", "oval", "company", "date", "word", "qc", "picture", "text", "signature")
PICTURES = (
    "smiley", "star", "heart", "thumb", "check", "sun", "flower", "house", "tree", "cat", "bear", "dog",
    "bunny", "mouse", "bird", "fish", "snail", "figure", "hand",
)

# Typical stamp-pad inks as printed on white paper at full coverage, BGR.
INKS: dict[str, tuple[tuple[int, int, int], float]] = {
    "blue": ((165, 70, 35), 0.36),
    "violet": ((150, 55, 95), 0.16),
    "red": ((45, 35, 190), 0.16),
    "black": ((45, 42, 40), 0.07),
    "teal": ((125, 115, 25), 0.06),
    "green": ((70, 125, 40), 0.05),
    "light_blue": ((215, 150, 55), 0.07),  # cyan-ish office ink, as it comes out on colour scans
    "purple": ((125, 40, 110), 0.04),
    "magenta": ((140, 45, 185), 0.03),
}


@dataclass(frozen=True)
class StampDesign:
    """Everything that defines one physical stamp (lengths in millimetres).

    ``ring_text`` runs along the border (round/oval): all around, starting at the bottom, when
    ``ring_text_bottom`` is empty, else across the top with ``ring_text_bottom`` along the bottom.
    ``lines`` are horizontal lines stacked in the middle (all the text of a rectangular stamp),
    ``centre_text`` a big word or number, ``band_text`` a line between two rules across the middle.
    """

    kind: str
    shape: str
    width_mm: float
    height_mm: float
    ring_text: str = ""
    ring_text_bottom: str = ""
    lines: tuple[str, ...] = ()
    centre_text: str = ""
    band_text: str = ""
    emblem: str = "none"
    monogram: str = ""
    font_ring: str | None = None
    font_lines: str | None = None
    font_centre: str | None = None
    border_mm: tuple[float, ...] = (0.8,)
    border_gap_mm: float = 0.5
    inner_ring_mm: float = 0.0
    dotted_ring: bool = False
    ring_cap_mm: float = 3.0
    letter_spacing: float = 0.0
    text_weight: float = 0.0
    corner_mm: float = 0.0
    ink_bgr: tuple[int, int, int] = (165, 70, 35)
    seed: int = 0
    picture: str = ""  # pictorial stamps: what is drawn (one of PICTURES), the drawing fixed by ``seed``
    line_mm: float = 0.0  # stroke width of pictures and signature lines
    footer: str = ""  # signature blocks: the caption under the line
    align: str = "center"  # frameless text: "center" or "left"
    line_scale: tuple[float, ...] = ()  # frameless text: relative size of each line
    # 0: the original rubber. Any other (positive) value: a re-made rubber copying this design, with its own
    # wear nicks and emblem details; a picture on it is re-traced, ``remake % 3`` saying how freely (0 least).
    remake: int = 0

    @property
    def color_bgr(self) -> tuple[int, int, int]:
        return self.ink_bgr

    @property
    def aspect(self) -> float:
        return self.width_mm / self.height_mm


# --------------------------------------------------------------------------------------------------
# Text content (generated; no word lists beyond a few stamp-typical words)

_CONS = "BBCDDFGHKKLLMMNNPRRSSTTVZ"
_VOWELS = "AAEEIOOUY"
_ONSETS = ("BR", "TR", "ST", "KR", "PL", "GR", "DR", "CH", "SH", "TH", "FL", "SK")
_CODAS = ("N", "R", "S", "L", "M", "X", "NT", "RD", "ST", "K")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_SUFFIXES = ("LTD", "LLC", "INC.", "GMBH", "S.A.", "S.R.L.", "B.V.", "AG", "CO.", "CORP.", "PLC", "OY", "A/S")
_TRADES = (
    "TRADING", "CONSULTING", "HOLDINGS", "LOGISTICS", "INDUSTRIES", "SERVICES", "GROUP", "PARTNERS",
    "BUILDING", "SYSTEMS", "MOTORS", "PHARMA", "FOODS", "ENGINEERING", "TEXTILES", "ENERGY",
)
_STEMS = ("TECH", "TRADE", "SOFT", "MED", "BAU", "LOG", "STAR", "NOVA", "TRANS", "AGRO", "PRO", "INVEST")
_OFFICES = ("EDUCATION", "HEALTH", "FINANCE", "JUSTICE", "TRANSPORT", "AGRICULTURE", "INTERIOR", "LABOUR", "CULTURE")
_STREETS = ("STREET", "ROAD", "AVENUE", "STR.", "LANE", "SQUARE", "BLVD.")
_WORDS = (
    "PAID", "RECEIVED", "APPROVED", "COPY", "ORIGINAL", "CONFIDENTIAL", "VOID", "ENTERED", "CHECKED",
    "URGENT", "DRAFT", "CANCELLED", "POSTED", "VERIFIED", "FAXED", "REJECTED", "FILED", "COMPLETED",
)
_BAND_WORDS = ("FOR DOCUMENTS", "FOR INVOICES", "OFFICIAL", "GENERAL OFFICE", "ACCOUNTS", "SECRETARY", "FOR PACKAGES")


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _word(rng: np.random.Generator, lo: int = 2, hi: int = 3) -> str:
    parts = []
    for i in range(int(rng.integers(lo, hi + 1))):
        onset = _pick(rng, _ONSETS) if rng.random() < 0.18 else _pick(rng, _CONS)
        if i == 0 and rng.random() < 0.15:
            onset = ""
        coda = _pick(rng, _CODAS) if rng.random() < 0.25 else ""
        parts.append(onset + _pick(rng, _VOWELS) + coda)
    return "".join(parts)


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def _company(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.35:
        name = f"{_word(rng)} {_pick(rng, _TRADES)}"
    elif r < 0.6:
        name = f"{_word(rng, 1, 2)}{_pick(rng, _STEMS)}"
    elif r < 0.75:
        name = f"{_word(rng, 1, 2)} & {_word(rng, 1, 2)}"
    else:
        name = _word(rng, 2, 3)
    return f"{name} {_pick(rng, _SUFFIXES)}" if rng.random() < 0.85 else name


def _authority(rng: np.random.Generator) -> str:
    return _pick(rng, (
        f"MINISTRY OF {_pick(rng, _OFFICES)}",
        f"DEPARTMENT OF {_pick(rng, _OFFICES)}",
        f"{_word(rng)} CITY COUNCIL",
        f"{_word(rng)} DISTRICT COURT",
        f"UNIVERSITY OF {_word(rng)}",
        f"{_word(rng)} MEDICAL CENTRE",
        "NOTARY PUBLIC",
        "REGISTRAR OF COMPANIES",
        f"{_word(rng)} POLICE DEPARTMENT",
    ))


def _date(rng: np.random.Generator) -> str:
    d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1995, 2026))
    return _pick(rng, (
        f"{d:02d}.{m:02d}.{y}", f"{d} {_MONTHS[m - 1]} {y}", f"{d:02d} {_MONTHS[m - 1]} {y}",
        f"{d:02d}-{_MONTHS[m - 1]}-{y % 100:02d}", f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}",
    ))


def _number(rng: np.random.Generator) -> str:
    return _pick(rng, (
        f"REG. NO. {_digits(rng, 7)}", f"NO. {int(rng.integers(1, 999))}", f"ID {_digits(rng, 8)}",
        f"TAX ID {_digits(rng, 10)}", f"EST. {int(rng.integers(1950, 2024))}",
        f"REG. {_digits(rng, 2)}-{_digits(rng, 5)}",
    ))


def _address(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(1, 240))} {_word(rng)} {_pick(rng, _STREETS)}, {_word(rng)}"


def _phone(rng: np.random.Generator) -> str:
    return f"TEL. +{int(rng.integers(1, 99))} {_digits(rng, 3)} {_digits(rng, 3)} {_digits(rng, 4)}"


# --------------------------------------------------------------------------------------------------
# Fonts

_BAD_FONT_PARTS = (
    "symbol", "d050000l", "math", "z003", "italic", "oblique", "ita.", "bdita", "_ri.", "_rbi.", "_rzi.",
    "_i.", "extralight", "light", "biolinum_k", "narrow", "condensed",
)


def _font_pool(style: str) -> list[str]:
    def ok(path: str) -> bool:
        name = path.rsplit("/", 1)[-1].lower()
        return not any(part in name for part in _BAD_FONT_PARTS)

    groups = fonts.font_families()
    pool = [p for p in groups.get(style, []) if ok(p)]
    if not pool:
        pool = [p for p in fonts.font_files() if ok(p)]
    return pool


def _pick_font(rng: np.random.Generator, styles: tuple[str, ...]) -> str | None:
    pool = _font_pool(_pick(rng, styles))
    return _pick(rng, pool) if pool else None


@functools.lru_cache(maxsize=2048)
def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    size = max(2, int(size))
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=512)
def _cap_ratio(path: str | None) -> float:
    """Cap height / font size."""
    box = _font(path, 100).getbbox("H", anchor="ls")
    return float(np.clip(-box[1] / 100.0, 0.4, 1.0))


def _font_for_cap(path: str | None, cap_px: float):
    return _font(path, max(2, int(round(cap_px / _cap_ratio(path)))))


# --------------------------------------------------------------------------------------------------
# Random designs


def _ink(rng: np.random.Generator) -> tuple[int, int, int]:
    names = list(INKS)
    weights = np.array([INKS[n][1] for n in names])
    base = np.array(INKS[names[int(rng.choice(len(names), p=weights / weights.sum()))]][0], float)
    base = base + rng.normal(0, 10, 3)
    base *= rng.uniform(0.85, 1.12)
    return tuple(int(v) for v in np.clip(base, 15, 235))


def _borders(rng: np.random.Generator, double_p: float) -> tuple[float, ...]:
    thick = rng.uniform(0.5, 1.3)
    if rng.random() < double_p:
        return (thick, rng.uniform(0.2, 0.4)) if rng.random() < 0.7 else (rng.uniform(0.25, 0.45),) * 2
    return (thick,)


def random_design(rng: np.random.Generator) -> StampDesign:
    """One invented physical stamp: round and oval seals, company/date/word boxes, QC triangles,
    pictorial (school/office picture stamps), frameless text and signature blocks."""
    roll = rng.random()
    if roll < 0.3:
        return _random_picture(rng)
    if roll < 0.38:
        return _random_text(rng)
    if roll < 0.44:
        return _random_signature(rng)
    kind = str(rng.choice(KINDS[:6], p=[0.36, 0.1, 0.2, 0.1, 0.16, 0.08]))
    seed = int(rng.integers(2**31 - 1))
    ink = _ink(rng)
    weight = float(rng.choice([0.0, 0.0, 0.03, 0.05]))
    common = dict(kind=kind, ink_bgr=ink, seed=seed, text_weight=weight)

    if kind in ("seal", "oval"):
        shape = "oval" if kind == "oval" else ("double_round" if rng.random() < 0.45 else "round")
        if shape == "oval":
            w = rng.uniform(45, 62)
            h = w * rng.uniform(0.6, 0.75)
        else:
            w = h = rng.uniform(36, 46)
        official = rng.random() < 0.4
        if official:
            top = _authority(rng)
            bottom = f"REPUBLIC OF {_word(rng)}" if rng.random() < 0.5 else _word(rng, 2, 3)
        else:
            top, bottom = _company(rng), ""
            if rng.random() < 0.5:
                top = f"{top} * {_word(rng)} *"
            elif rng.random() < 0.5:
                bottom = _word(rng, 2, 3)
        if not bottom and shape == "oval":
            bottom = _pick(rng, (_word(rng, 2, 3), _number(rng), _phone(rng)[5:]))
        if not bottom:
            # text all around: repeat / extend until it fills a ring comfortably
            while len(top) < 26:
                top = f"{top} * {_pick(rng, (_word(rng), _number(rng), 'OFFICE'))}"
            top = top if top.rstrip().endswith("*") else f"{top} *"
        centre_roll = rng.random()
        lines: tuple[str, ...] = ()
        emblem, centre, band, mono = "none", "", "", ""
        if centre_roll < 0.35:
            emblem = _pick(rng, ("star", "stars", "shield", "wreath", "globe", "building", "sun", "monogram"))
            if emblem == "monogram":
                mono = "".join(_pick(rng, "ABCDEFGHKLMNPRSTVZ") for _ in range(int(rng.integers(1, 4))))
            if rng.random() < 0.35:
                lines = (_number(rng),)
        elif centre_roll < 0.6:
            band = _pick(rng, (_pick(rng, _BAND_WORDS), _number(rng), _date(rng)))
            if rng.random() < 0.5:
                emblem = "star"
        elif centre_roll < 0.85:
            lines = tuple(_pick(rng, (_number(rng), _word(rng), _pick(rng, _BAND_WORDS), _date(rng)))
                          for _ in range(int(rng.integers(1, 4))))
        else:
            centre = _pick(rng, (str(int(rng.integers(1, 99))), "M.P.", "SEAL", _word(rng, 1, 1)))
        inner = rng.uniform(0.25, 0.6) if rng.random() < 0.8 else 0.0
        return StampDesign(
            **common, shape=shape, width_mm=float(w), height_mm=float(h),
            ring_text=top, ring_text_bottom=bottom, lines=lines, centre_text=centre, band_text=band,
            emblem=emblem, monogram=mono,
            font_ring=_pick_font(rng, ("sans", "serif", "bold", "bold")),
            font_lines=_pick_font(rng, ("sans", "serif", "bold")),
            font_centre=_pick_font(rng, ("bold", "sans")),
            border_mm=_borders(rng, 0.7 if shape == "double_round" else 0.15),
            border_gap_mm=float(rng.uniform(0.4, 0.9)),
            inner_ring_mm=float(inner), dotted_ring=bool(inner > 0 and rng.random() < 0.15),
            ring_cap_mm=float(rng.uniform(0.125, 0.16) * h / 2 * (1.25 if shape == "oval" else 1.0)),
        )

    if kind == "company":
        w = rng.uniform(48, 75)
        n = int(rng.integers(2, 5))
        h = w * rng.uniform(0.3, 0.45) * (0.8 + 0.1 * n)
        lines = [_company(rng)]
        vat = f"VAT NO. {_pick(rng, ('GB', 'DE', 'FR', 'NL', 'PL'))}{_digits(rng, 9)}"
        extras = [_address(rng), _phone(rng), _number(rng), vat]
        order = rng.permutation(len(extras))
        lines += [extras[i] for i in order[: n - 1]]
        shape = "rounded_rectangle" if rng.random() < 0.35 else "rectangle"
        borders = _borders(rng, 0.3) if rng.random() < 0.85 else ()
        return StampDesign(
            **common, shape=shape, width_mm=float(w), height_mm=float(h), lines=tuple(lines),
            font_lines=_pick_font(rng, ("sans", "serif", "bold", "mono")),
            font_centre=_pick_font(rng, ("bold",)),
            border_mm=borders, border_gap_mm=float(rng.uniform(0.4, 0.9)),
            corner_mm=float(rng.uniform(1.5, 4.0) if shape == "rounded_rectangle" else 0.0),
            letter_spacing=float(rng.choice([0.0, 0.0, 0.05])),
        )

    if kind == "date":
        w = rng.uniform(40, 56)
        h = w * rng.uniform(0.45, 0.62)
        top = _pick(rng, ("RECEIVED", "ENTERED", "PAID", "POSTED", "FILED", "INCOMING"))
        lines = (top, _date(rng)) + ((_company(rng),) if rng.random() < 0.7 else ())
        shape = "rounded_rectangle" if rng.random() < 0.5 else "rectangle"
        return StampDesign(
            **common, shape=shape, width_mm=float(w), height_mm=float(h), lines=lines,
            font_lines=_pick_font(rng, ("sans", "bold", "serif")),
            font_centre=_pick_font(rng, ("mono", "bold", "sans")),
            border_mm=_borders(rng, 0.4), border_gap_mm=float(rng.uniform(0.4, 0.8)),
            corner_mm=float(rng.uniform(1.5, 5.0) if shape == "rounded_rectangle" else 0.0),
        )

    if kind == "word":
        common["text_weight"] = float(rng.choice([0.0, 0.03, 0.06]))
        word = _pick(rng, _WORDS)
        if word == "COPY" and rng.random() < 0.3:
            word = "CERTIFIED TRUE COPY"
        cap = rng.uniform(5, 9)
        w = min(95.0, cap * 0.78 * len(word) + rng.uniform(6, 12))
        second = _pick(rng, (_date(rng), f"BY: {_word(rng, 1, 2)}", _company(rng))) if rng.random() < 0.3 else ""
        h = cap * (1.9 if not second else 2.9)
        shape = "rounded_rectangle" if rng.random() < 0.4 else "rectangle"
        borders = _borders(rng, 0.35) if rng.random() < 0.8 else ()
        return StampDesign(
            **common, shape=shape, width_mm=float(w), height_mm=float(h),
            centre_text=word, lines=(second,) if second else (),
            font_centre=_pick_font(rng, ("bold", "bold", "sans", "serif")),
            font_lines=_pick_font(rng, ("sans", "mono")),
            border_mm=tuple(b * 1.4 for b in borders), border_gap_mm=float(rng.uniform(0.5, 1.0)),
            corner_mm=float(rng.uniform(1.5, 4.0) if shape == "rounded_rectangle" else 0.0),
            letter_spacing=float(rng.choice([0.0, 0.06, 0.12])),
        )

    # "qc": quality-control / inspector stamps: triangle, small rectangle or circle with a number
    shape = str(rng.choice(["triangle", "triangle", "rectangle", "round"]))
    label = _pick(rng, ("QC", "OTK", "QA", "INSP.", "PASSED", "OK"))
    number = str(int(rng.integers(1, 99)))
    if shape == "triangle":
        w = rng.uniform(18, 30)
        h = w * math.sqrt(3) / 2
    elif shape == "rectangle":
        w = rng.uniform(16, 26)
        h = w * rng.uniform(0.6, 0.9)
    else:
        w = h = rng.uniform(14, 22)
    return StampDesign(
        **common, shape=shape, width_mm=float(w), height_mm=float(h), lines=(label,), centre_text=number,
        font_lines=_pick_font(rng, ("sans", "bold")), font_centre=_pick_font(rng, ("bold",)),
        border_mm=_borders(rng, 0.3), border_gap_mm=float(rng.uniform(0.4, 0.7)),
    )


# --------------------------------------------------------------------------------------------------
# Drawing the clean rubber template


def _band(d: np.ndarray, width: float) -> np.ndarray:
    """Coverage of a line of ``width`` px centred on the zero set of the distance field ``d``."""
    return np.clip(width / 2 + 0.5 - np.abs(d), 0, 1)


def _fill(d: np.ndarray) -> np.ndarray:
    return np.clip(0.5 - d, 0, 1)


def _ellipse_d(xs, ys, a: float, b: float) -> np.ndarray:
    if abs(a - b) < 1e-3:
        return np.sqrt(xs * xs + ys * ys) - a
    g = (xs / a) ** 2 + (ys / b) ** 2 - 1
    grad = 2 * np.sqrt((xs / a**2) ** 2 + (ys / b**2) ** 2) + 1e-6
    return g / grad


def _rrect_d(xs, ys, hw: float, hh: float, r: float) -> np.ndarray:
    r = max(0.0, min(r, hw, hh))
    qx = np.abs(xs) - (hw - r)
    qy = np.abs(ys) - (hh - r)
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    return outside + np.minimum(np.maximum(qx, qy), 0) - r


def _convex_d(xs, ys, pts) -> np.ndarray:
    """Mitred signed distance to a convex polygon given clockwise on screen (y down)."""
    d = None
    n = len(pts)
    for i in range(n):
        (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % n]
        ex, ey = x1 - x0, y1 - y0
        length = math.hypot(ex, ey)
        nx, ny = ey / length, -ex / length  # outward normal for clockwise-on-screen order
        di = (xs - x0) * nx + (ys - y0) * ny
        d = di if d is None else np.maximum(d, di)
    return d


def _star_points(cx, cy, r_out, r_in, n=5, rot=-math.pi / 2):
    pts = []
    for k in range(2 * n):
        r = r_out if k % 2 == 0 else r_in
        a = rot + k * math.pi / n
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return pts


def _fix(pts) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * 16).astype(np.int32).reshape(-1, 1, 2)


class _Canvas:
    """Geometry (float), cv2 drawings and glyphs (uint8) and Pillow text, merged with max at the end."""

    def __init__(self, w: int, h: int, cx: float, cy: float):
        self.w, self.h, self.cx, self.cy = w, h, cx, cy
        self.xs = (np.arange(w, dtype=np.float32) - cx)[None, :]
        self.ys = (np.arange(h, dtype=np.float32) - cy)[:, None]
        self.geo = np.zeros((h, w), np.float32)
        self.cv = np.zeros((h, w), np.uint8)
        self.glyphs = np.zeros((h, w), np.uint8)
        self.text = Image.new("L", (w, h), 0)
        self.draw = ImageDraw.Draw(self.text)

    def add(self, coverage: np.ndarray) -> None:
        np.maximum(self.geo, coverage, out=self.geo)

    def poly(self, pts, filled=True, thickness=1.0, value=255) -> None:
        p = _fix([(x + self.cx, y + self.cy) for x, y in pts])
        if filled:
            cv2.fillPoly(self.cv, [p], value, cv2.LINE_AA, shift=4)
        else:
            cv2.polylines(self.cv, [p], True, value, max(1, int(round(thickness))), cv2.LINE_AA, shift=4)

    def ellipse(self, x, y, a, b, angle_deg=0.0, filled=True, thickness=1.0, value=255) -> None:
        centre = (int(round((x + self.cx) * 16)), int(round((y + self.cy) * 16)))
        axes = (max(1, int(round(a * 16))), max(1, int(round(b * 16))))
        t = -1 if filled else max(1, int(round(thickness)))
        cv2.ellipse(self.cv, centre, axes, angle_deg, 0, 360, value, t, cv2.LINE_AA, shift=4)

    def result(self) -> np.ndarray:
        out = np.maximum(self.geo, self.cv.astype(np.float32) * (1 / 255))
        np.maximum(out, self.glyphs.astype(np.float32) * (1 / 255), out=out)
        np.maximum(out, np.asarray(self.text, np.float32) * (1 / 255), out=out)
        return out


@functools.lru_cache(maxsize=4096)
def _glyph(path: str | None, size: int, ch: str, stroke: int):
    """A glyph bitmap, the centre of its cap band (gx, gy) and its advance."""
    font = _font(path, size)
    cap = _cap_ratio(path) * size
    if ch in "*\u2022":
        adv = cap * (1.15 if ch == "*" else 0.8)
        m = 2
        side = int(math.ceil(adv)) + 2 * m
        img = np.zeros((side, side), np.uint8)
        c = side / 2
        if ch == "*":
            pts = _star_points(c, c, cap * 0.62, cap * 0.25)
            cv2.fillPoly(img, [_fix(pts)], 255, cv2.LINE_AA, shift=4)
        else:
            r = cap * 0.2
            cv2.circle(img, (int(c * 16), int(c * 16)), int(r * 16), 255, -1, cv2.LINE_AA, shift=4)
        return img, c, c, adv
    adv = font.getlength(ch)
    m = int(math.ceil(0.3 * size)) + stroke + 1
    w = int(math.ceil(adv)) + 2 * m
    h = int(math.ceil(cap)) + 2 * m + int(math.ceil(0.3 * size))
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).text((m, m + cap), ch, fill=255, font=font, anchor="ls", stroke_width=stroke, stroke_fill=255)
    return np.asarray(img), m + adv / 2, m + cap / 2, adv


def _place(canvas: np.ndarray, g: np.ndarray, gx: float, gy: float, px: float, py: float, c: float, s: float):
    """Rotate glyph ``g`` so that its x axis points along (c, s) and put its point (gx, gy) at (px, py)."""
    h, w = g.shape
    rad = max(math.hypot(x - gx, y - gy) for x in (0, w) for y in (0, h)) + 2
    x0, y0 = int(math.floor(px - rad)), int(math.floor(py - rad))
    x1, y1 = int(math.ceil(px + rad)), int(math.ceil(py + rad))
    m = np.array([[c, -s, px - x0 - (c * gx - s * gy)], [s, c, py - y0 - (s * gx + c * gy)]], np.float64)
    patch = cv2.warpAffine(g, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0)
    H, W = canvas.shape
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    sub = canvas[cy0:cy1, cx0:cx1]
    np.maximum(sub, patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0], out=sub)


def _ellipse_table(a: float, b: float, n: int = 1024):
    t = np.linspace(0, 2 * math.pi, n + 1)
    x, y = a * np.cos(t), b * np.sin(t)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    return t, s


def _arc_text(cv: _Canvas, text: str, path, cap: float, weight: float, a: float, b: float, mode: str,
              span: float, tracking_max: float = 0.7) -> None:
    """Glyphs along the ellipse (a, b) around the canvas centre, their cap band centred on it.

    ``mode``: "top" (centred at 12 o'clock, reading clockwise, tops outward), "bottom" (centred at
    6 o'clock, reading left to right, tops inward) or "full" (from 6 o'clock clockwise all around).
    ``span``: the fraction of the perimeter the text may use.
    """
    text = text.strip() if mode != "full" else text
    if not text or cap < 1:
        return
    t_tab, s_tab = _ellipse_table(a, b)
    perimeter = s_tab[-1]
    avail = span * perimeter
    size = max(2, int(round(cap / _cap_ratio(path))))
    stroke = int(round(weight * cap))
    advances = [_glyph(path, size, ch, stroke)[3] for ch in text]
    natural = sum(advances)
    if natural > avail:  # smaller type, down to half
        size = max(2, int(round(size * max(0.5, avail / natural))))
        advances = [_glyph(path, size, ch, stroke)[3] for ch in text]
        natural = sum(advances)
    n = len(text)
    cap_now = _cap_ratio(path) * size
    if mode == "full":
        tracking = (avail - natural) / n
        used = natural + tracking * n
        start = tracking / 2
    else:
        tracking = (avail - natural) / max(1, n - 1)
        tracking = min(tracking, tracking_max * cap_now)
        used = natural + tracking * (n - 1)
        start = -used / 2
    u = start
    if mode == "top":
        s0, sign = float(np.interp(1.5 * math.pi, t_tab, s_tab)), 1.0
    elif mode == "bottom":
        s0, sign = float(np.interp(0.5 * math.pi, t_tab, s_tab)), -1.0
    else:
        s0, sign = float(np.interp(0.5 * math.pi, t_tab, s_tab)), 1.0
    for ch, adv in zip(text, advances):
        centre = u + adv / 2
        u += adv + tracking
        if ch == " ":
            continue
        s = (s0 + sign * centre) % perimeter
        t = float(np.interp(s, s_tab, t_tab))
        px, py = a * math.cos(t), b * math.sin(t)
        tx, ty = -a * math.sin(t) * sign, b * math.cos(t) * sign
        norm = math.hypot(tx, ty)
        g, gx, gy, _ = _glyph(path, size, ch, stroke)
        _place(cv.glyphs, g, gx, gy, px + cv.cx, py + cv.cy, tx / norm, ty / norm)


def _line_text(cv: _Canvas, text: str, path, cap: float, weight: float, x: float, y: float, max_w: float,
               spacing: float = 0.0) -> None:
    """One horizontal line centred at (x, y) (middle of the cap band), shrunk to fit ``max_w``."""
    text = text.strip()
    if not text or cap < 1 or max_w < 2:
        return
    font = _font_for_cap(path, cap)
    size = font.size
    track = spacing * size
    length = font.getlength(text) + track * (len(text) - 1)
    if length > max_w:
        size = max(2, int(size * max_w / length))
        font = _font(path, size)
        track = spacing * size
        length = font.getlength(text) + track * (len(text) - 1)
    cap_now = _cap_ratio(path) * size
    stroke = int(round(weight * cap_now))
    base_y = y + cv.cy + cap_now / 2
    if track == 0:
        cv.draw.text((x + cv.cx, base_y), text, fill=255, font=font, anchor="ms", stroke_width=stroke, stroke_fill=255)
        return
    u = x + cv.cx - length / 2
    for ch in text:
        cv.draw.text((u, base_y), ch, fill=255, font=font, anchor="ls", stroke_width=stroke, stroke_fill=255)
        u += font.getlength(ch) + track


def _emblem(cv: _Canvas, name: str, x: float, y: float, r: float, lw: float, rng: np.random.Generator,
            monogram: str, font_path) -> None:
    lw = max(1.0, lw)
    if name == "star":
        variant = rng.integers(3)
        if variant == 2:
            cv.ellipse(x, y, r, r, filled=False, thickness=lw)
            r *= 0.8
        cv.poly(_star_points(x, y, r, r * rng.uniform(0.38, 0.48)))
        if variant == 1 and r > 6 * lw:
            inner = r - 2.2 * lw
            cv.poly(_star_points(x, y, inner, inner * 0.42), value=0)
    elif name == "stars":
        cv.poly(_star_points(x, y - 0.1 * r, 0.55 * r, 0.22 * r))
        for k in (-1, 1):
            cv.poly(_star_points(x + k * 0.7 * r, y + 0.15 * r, 0.3 * r, 0.12 * r))
        for k in (-1, 1):
            cv.poly(_star_points(x + k * 0.35 * r, y + 0.65 * r, 0.2 * r, 0.08 * r))
    elif name == "shield":
        hw, top, mid = 0.68 * r, -0.82 * r, 0.2 * r
        right = [(hw, mid)]
        for k in range(1, 13):  # the right flank curves into the point at the bottom
            t = k / 12
            right.append(((1 - t) ** 2 * hw + 2 * (1 - t) * t * hw * 0.95,
                          (1 - t) ** 2 * mid + 2 * (1 - t) * t * (0.8 * r) + t * t * r))
        outline = [(-hw, top), (hw, top)] + right + [(-px, py) for px, py in reversed(right[:-1])]
        cv.poly([(x + px, y + py) for px, py in outline], filled=False, thickness=lw)
        part = rng.integers(3)
        if part == 0:  # quarterly
            cv.poly([(x, y + top), (x, y + r)], filled=False, thickness=lw)
            cv.poly([(x - hw, y - 0.2 * r), (x + hw, y - 0.2 * r)], filled=False, thickness=lw)
            cv.poly(_star_points(x - 0.34 * hw, y - 0.5 * r, 0.2 * r, 0.08 * r))
        elif part == 1:  # chevron
            cv.poly([(x - hw, y + 0.25 * r), (x, y - 0.3 * r), (x + hw, y + 0.25 * r)], filled=False, thickness=lw)
            cv.poly(_star_points(x, y + 0.35 * r, 0.22 * r, 0.09 * r))
        else:  # a charge in the middle
            cv.ellipse(x, y - 0.1 * r, 0.3 * r, 0.3 * r, filled=False, thickness=lw)
            cv.ellipse(x, y - 0.1 * r, 0.1 * r, 0.1 * r)
        for k in (-1, 0, 1):  # crown points
            bx = x + k * 0.3 * r
            cv.poly([(bx - 0.1 * r, y + top - lw), (bx + 0.1 * r, y + top - lw), (bx, y + top - 0.22 * r)])
    elif name == "wreath":
        for side in (-1, 1):  # two laurel branches from the bottom up the sides
            for k in range(7):
                theta = math.radians(108 + k * 21)
                if side > 0:
                    theta = math.pi - theta
                for off, turn in ((-0.11, -32), (0.11, 32)):
                    rr = 0.85 * r * (1 + off)
                    ang = math.degrees(theta) + 90 + turn * side
                    cv.ellipse(x + rr * math.cos(theta), y + rr * math.sin(theta), 0.16 * r, 0.06 * r, angle_deg=ang)
        cv.poly(_star_points(x, y - 0.05 * r, 0.42 * r, 0.17 * r))
    elif name == "globe":
        cv.ellipse(x, y, r, r, filled=False, thickness=lw)
        for k in (0.35, 0.72):
            cv.ellipse(x, y, k * r, r, filled=False, thickness=max(1.0, lw * 0.7))
        cv.poly([(x, y - r), (x, y + r)], filled=False, thickness=max(1.0, lw * 0.7))
        for fy in (-0.5, 0.0, 0.5):
            half = r * math.sqrt(1 - fy * fy)
            cv.poly([(x - half, y + fy * r), (x + half, y + fy * r)], filled=False, thickness=max(1.0, lw * 0.7))
    elif name == "building":
        cv.poly([(x - 0.95 * r, y - 0.42 * r), (x, y - 0.9 * r), (x + 0.95 * r, y - 0.42 * r)])
        cv.poly([(x - 0.85 * r, y - 0.38 * r), (x + 0.85 * r, y - 0.38 * r), (x + 0.85 * r, y - 0.28 * r),
                 (x - 0.85 * r, y - 0.28 * r)])
        cols = 4 + int(rng.integers(2))
        for k in range(cols):
            cxk = x - 0.7 * r + k * 1.4 * r / (cols - 1)
            cv.poly([(cxk - 0.08 * r, y - 0.22 * r), (cxk + 0.08 * r, y - 0.22 * r), (cxk + 0.08 * r, y + 0.5 * r),
                     (cxk - 0.08 * r, y + 0.5 * r)])
        for k, hw in enumerate((0.88, 0.98)):
            y0 = y + (0.56 + 0.16 * k) * r
            cv.poly([(x - hw * r, y0), (x + hw * r, y0), (x + hw * r, y0 + 0.1 * r), (x - hw * r, y0 + 0.1 * r)])
    elif name == "sun":
        cv.ellipse(x, y, 0.38 * r, 0.38 * r)
        n = int(rng.integers(10, 17))
        for k in range(n):
            a = 2 * math.pi * k / n
            w = math.pi / n * 0.45
            cv.poly([(x + 0.5 * r * math.cos(a - w), y + 0.5 * r * math.sin(a - w)),
                     (x + r * math.cos(a), y + r * math.sin(a)),
                     (x + 0.5 * r * math.cos(a + w), y + 0.5 * r * math.sin(a + w))])
    elif name == "monogram":
        if rng.random() < 0.5:
            cv.ellipse(x, y, r, r, filled=False, thickness=lw)
        else:
            cv.poly([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], filled=False, thickness=lw)
        text = monogram or "A"
        _line_text(cv, text, font_path, 0.7 * r, 0.04, x, y, 1.25 * r)


def _stack(cv: _Canvas, design: StampDesign, items, top: float, bottom: float, width_at, chord_at, scale: float,
           rng: np.random.Generator) -> None:
    """Items stacked vertically between ``top`` and ``bottom`` (canvas-centred coordinates).

    ``width_at(y0, y1)``: usable width of a horizontal strip; ``chord_at(y)``: full inner width at y
    (for rules). Items: ("line", text), ("big", text), ("emblem", name), ("band", text), ("stars", n).
    """
    rel = {"line": 1.0, "head": 1.35, "big": 1.9, "emblem": 3.3, "band": 1.55, "stars": 0.7}
    gap = 0.25
    total = sum(rel[k] for k, _ in items) + gap * (len(items) - 1)
    unit = (bottom - top) / total
    cap_limit = {"line": 4.2 * scale, "head": 5.5 * scale, "big": 12 * scale}
    heights = []
    for kind, _ in items:
        h = rel[kind] * unit
        if kind in cap_limit:
            h = min(h, cap_limit[kind] / 0.62)
        elif kind == "band":
            h = min(h, 0.3 * (bottom - top))
        elif kind == "emblem":
            h = min(h, 0.8 * (bottom - top))
        heights.append(h)
    used = sum(heights) + gap * unit * (len(items) - 1)
    y = (top + bottom) / 2 - used / 2
    weight = design.text_weight
    for (kind, payload), h in zip(items, heights):
        yc = y + h / 2
        w = width_at(y, y + h)
        if kind == "line":
            _line_text(cv, payload, design.font_lines, 0.62 * h, weight, 0, yc, w, design.letter_spacing)
        elif kind == "head":
            _line_text(cv, payload, design.font_centre, 0.62 * h, weight, 0, yc, w, design.letter_spacing)
        elif kind == "big":
            _line_text(cv, payload, design.font_centre, 0.68 * h, weight, 0, yc, w,
                       design.letter_spacing)
        elif kind == "emblem":
            r = min(h / 2, w / 2) * 0.95
            _emblem(cv, payload, 0, yc, r, max(1.0, 0.45 * scale), rng, design.monogram, design.font_centre)
        elif kind == "band":
            rule = max(0.8, 0.35 * scale)
            for ry in (y + rule / 2, y + h - rule / 2):
                half = chord_at(ry) / 2
                cv.add(_fill(_rrect_d(cv.xs, cv.ys - ry, half, rule / 2, 0)))
            _line_text(cv, payload, design.font_lines, 0.5 * h, weight, 0, yc, w * 0.96, design.letter_spacing)
        elif kind == "stars":
            n = int(payload)
            for k in range(n):
                sx = (k - (n - 1) / 2) * h * 1.2
                cv.poly(_star_points(sx, yc, h * 0.5, h * 0.2))
        y += h + gap * unit


def _rubber_rng(design: StampDesign) -> np.random.Generator:
    """The generator of a rubber's drawing details (emblem variants); a re-made rubber has its own."""
    return np.random.default_rng(design.seed if not design.remake else [design.seed, 5, design.remake])


def _draw_design(design: StampDesign, diameter_px: float) -> np.ndarray:
    """The clean rubber: coverage in [0, 1] on a canvas centred on the stamp, no margins trimmed yet."""
    scale = diameter_px / max(design.width_mm, design.height_mm)  # px per mm
    W, H = design.width_mm * scale, design.height_mm * scale
    pad = 3 + int(math.ceil(0.035 * diameter_px))
    cw, ch = int(math.ceil(W)) + 2 * pad, int(math.ceil(H)) + 2 * pad
    cv = _Canvas(cw, ch, cw / 2, ch / 2)
    rng = _rubber_rng(design)  # the rubber's own details, fixed per design
    if design.kind in ("picture", "text", "signature"):
        _draw_free(cv, design, scale)
        return cv.result()
    a, b = W / 2, H / 2
    weight = design.text_weight
    borders = [max(0.6, w * scale) for w in design.border_mm]
    gap = design.border_gap_mm * scale
    shape = design.shape

    # borders, from the outside in; ``inset`` ends as the distance from the outline to free space
    inset = 0.0
    if shape in ("round", "double_round", "oval"):
        for i, bw in enumerate(borders):
            c = inset + bw / 2
            cv.add(_band(_ellipse_d(cv.xs, cv.ys, a - c, b - c), bw))
            inset += bw + (gap if i < len(borders) - 1 else 0)
    elif shape in ("rectangle", "rounded_rectangle"):
        corner = design.corner_mm * scale
        for i, bw in enumerate(borders):
            c = inset + bw / 2
            cv.add(_band(_rrect_d(cv.xs, cv.ys, a - c, b - c, max(0.0, corner - c)), bw))
            inset += bw + (gap if i < len(borders) - 1 else 0)
    elif shape == "triangle":
        # equilateral, pointing up, centroid at the canvas centre
        side = W
        hgt = side * math.sqrt(3) / 2
        cyc = hgt / 6  # canvas centre sits half-way; move the centroid there
        base = [(0.0, -2 * hgt / 3 + cyc), (side / 2, hgt / 3 + cyc), (-side / 2, hgt / 3 + cyc)]
        d = _convex_d(cv.xs, cv.ys, base)
        for i, bw in enumerate(borders):
            cv.add(_band(d + inset + bw / 2, bw))
            inset += bw + (gap if i < len(borders) - 1 else 0)

    if shape in ("round", "double_round", "oval"):
        ra, rb = a - inset, b - inset  # free space inside the borders
        margin = 0.55 * scale
        if design.ring_text:
            cap = design.ring_cap_mm * scale
            mid = margin + cap / 2
            ta, tb = ra - mid, rb - mid
            if design.ring_text_bottom:
                _arc_text(cv, design.ring_text, design.font_ring, cap, weight, ta, tb, "top", 0.42)
                _arc_text(cv, design.ring_text_bottom, design.font_ring, cap, weight, ta, tb, "bottom", 0.33)
                for side in (-1, 1):  # little stars at 3 and 9 o'clock between the two texts
                    cv.poly(_star_points(side * ta, 0, cap * 0.45, cap * 0.18))
            else:
                _arc_text(cv, design.ring_text, design.font_ring, cap, weight, ta, tb, "full", 1.0)
            ra, rb = ra - margin - cap - margin, rb - margin - cap - margin
        if design.inner_ring_mm > 0 and ra > 4:
            iw = max(0.6, design.inner_ring_mm * scale)
            if design.dotted_ring:
                rr = (ra + rb) / 2 - iw
                n = max(12, int(2 * math.pi * rr / (iw * 3.2)))
                for k in range(n):
                    t = 2 * math.pi * k / n
                    cv.ellipse((ra - iw) * math.cos(t), (rb - iw) * math.sin(t), iw * 0.75, iw * 0.75)
                ra, rb = ra - 2 * iw, rb - 2 * iw
            else:
                cv.add(_band(_ellipse_d(cv.xs, cv.ys, ra - iw / 2, rb - iw / 2), iw))
                ra, rb = ra - iw, rb - iw
        ca, cb = ra - 0.8 * scale, rb - 0.8 * scale
        items = _centre_items(design)
        if items and ca > 2 and cb > 2:
            def width_at(y0, y1, ca=ca, cb=cb):
                yy = max(abs(y0), abs(y1)) / cb
                return 2 * ca * math.sqrt(max(0.0, 1 - yy * yy)) * 0.9

            def chord_at(y, ra=ra, rb=rb):
                yy = abs(y) / rb
                return 2 * ra * math.sqrt(max(0.0, 1 - yy * yy)) + 1

            fill = 0.78 if len(items) > 1 else 0.7
            _stack(cv, design, items, -cb * fill, cb * fill, width_at, chord_at, scale, rng)
    elif shape in ("rectangle", "rounded_rectangle"):
        margin = (1.2 + 0.3 * design.corner_mm) * scale if borders else 0.3 * scale
        ia, ib = a - inset - margin, b - inset - 0.6 * scale
        items = _centre_items(design)
        if items and ia > 2 and ib > 2:
            _stack(cv, design, items, -ib, ib, lambda y0, y1: 2 * ia, lambda y: 2 * (a - inset), scale, rng)
    elif shape == "triangle":
        side = W
        r_in = side / (2 * math.sqrt(3)) - inset - 0.5 * scale
        items = _centre_items(design)
        if items and r_in > 2:
            def width_at(y0, y1, r=r_in):
                yy = max(abs(y0), abs(y1)) / r
                return 2 * r * math.sqrt(max(0.0, 1 - yy * yy)) * 1.1

            _stack(cv, design, items, -0.85 * r_in, 0.95 * r_in, width_at, lambda y: 0, scale, rng)
    elif shape in ("cloud", "star", "none"):
        layer = _Layer(cv)
        bw = max(0.6, design.border_mm[0] * scale) if design.border_mm else 1.0
        ia, ib = _free_frame(layer, shape, a, b, bw if design.border_mm else 0.0)
        layer.finish()
        items = _centre_items(design)
        if items and ia > 2 and ib > 2:
            _stack(cv, design, items, -ib, ib, lambda y0, y1: 2 * ia, lambda y: 2 * ia, scale, rng)
    return cv.result()


def _centre_items(design: StampDesign):
    items = []
    if design.kind == "company":
        return [("head", t) if i == 0 else ("line", t) for i, t in enumerate(design.lines)]
    if design.kind == "date":
        lines = list(design.lines)
        if lines:
            items.append(("line", lines[0]))
        if len(lines) > 1:
            items.append(("big", lines[1]))
        items += [("line", t) for t in lines[2:]]
        return items
    if design.kind == "qc":
        return [("line", t) for t in design.lines] + ([("big", design.centre_text)] if design.centre_text else [])
    # seals and word stamps
    if design.band_text:
        if design.emblem != "none":
            items.append(("stars", 3 if design.emblem == "stars" else 1))
        items.append(("band", design.band_text))
        items += [("line", t) for t in design.lines]
        return items
    if design.emblem != "none":
        items.append(("emblem", design.emblem))
    if design.centre_text:
        items.append(("big", design.centre_text))
    items += [("line", t) for t in design.lines]
    return items


@functools.lru_cache(maxsize=48)
def _template(design: StampDesign, diameter_px: int, rotation_deg: float) -> np.ndarray:
    t = _draw_design(design, float(diameter_px))
    rng = np.random.default_rng([design.seed, 1] if not design.remake else [design.seed, 1, design.remake])
    # the rubber's wear: a few nicks where it never prints, a speck of debris that always does
    ys, xs = np.nonzero(t > 0.5)
    scale = diameter_px / max(design.width_mm, design.height_mm)
    if len(xs):
        for _ in range(int(rng.integers(0, 5))):
            i = int(rng.integers(len(xs)))
            r = rng.uniform(0.15, 0.45) * scale
            d = np.hypot(np.arange(t.shape[1])[None, :] - xs[i], np.arange(t.shape[0])[:, None] - ys[i]) - r
            t *= np.clip(d + 0.5, 0, 1)
    if rotation_deg:
        h, w = t.shape
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rotation_deg, 1.0)
        cos, sin = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        t = cv2.warpAffine(t, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)
    # trim to the rubber plus a margin for blur, smears and double impressions
    ys, xs = np.nonzero(t > 0.02)
    pad = 3 + int(math.ceil(0.03 * diameter_px))
    if len(xs):
        y0, y1 = max(0, ys.min() - pad), min(t.shape[0], ys.max() + 1 + pad)
        x0, x1 = max(0, xs.min() - pad), min(t.shape[1], xs.max() + 1 + pad)
        t = np.ascontiguousarray(t[y0:y1, x0:x1])
    t.setflags(write=False)
    return t


# --------------------------------------------------------------------------------------------------
# Pictorial stamps, frameless text and signature blocks

_PIC_WORDS = (
    "OK", "Gut", "Super!", "Bravo", "Top", "Checked", "Prima", "Toll!", "Klasse", "Sehr gut", "Well done",
    "Great!", "Good", "Good job!", "Excellent", "Very good", "Nice!", "Wow!", "Yes!", "Perfect", "Fein",
    "gelesen", "erledigt", "Done", "Spitze!", "Weiter so!", "Geschafft!", "Fleißig", "Super", "Cool!",
)
_FREE_WORDS = (
    "Eingegangen", "Copy", "Kopie", "Erledigt", "Bezahlt", "Gebucht", "Received", "Paid", "Entered",
    "Duplicate", "Original", "Urgent", "Draft", "Geprüft", "Zur Kenntnis", "Abgelegt", "Faxed", "Scanned",
    "Eilt!", "Vertraulich", "Entwurf", "Gesehen", "Noted", "File copy", "Booked", "Approved",
)
_SIG_ABOVE = ("For and on behalf of", "Für", "pp.", "On behalf of", "i.A.", "For")
_SIG_CAPTIONS = (
    "Authorised Signatory", "Authorized Signature", "Director", "Geschäftsführer", "Unterschrift",
    "Signature", "Manager", "(Stempel und Unterschrift)", "Signature & Stamp", "Accountant", "Prokurist",
)
_PLAYFUL_FONT_PARTS = (
    "urwgothic-demi", "urwgothic-book", "urwbookman-demi", "z003", "c059-bdita", "p052-bolditalic",
    "dejavusans-bold.", "nimbussans-bolditalic", "freesansbold.", "carlito-bold.", "c059-bold",
)


def _playful_font(rng: np.random.Generator) -> str | None:
    pool = [p for p in fonts.font_files() if any(k in p.rsplit("/", 1)[-1].lower() for k in _PLAYFUL_FONT_PARTS)]
    if pool and rng.random() < 0.8:
        return _pick(rng, pool)
    return _pick_font(rng, ("bold", "sans", "serif"))


def _cap_units(path: str | None, text: str) -> float:
    """Width of ``text`` in units of its cap height."""
    font = _font_for_cap(path, 100)
    return font.getlength(text) / (_cap_ratio(path) * font.size) if text else 0.0


def _pseudo_name(rng: np.random.Generator) -> str:
    return _word(rng, 1, 2).capitalize()


def _text_lines(rng: np.random.Generator) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Lines of a frameless stamp and their relative cap heights."""
    r = rng.random()
    if r < 0.35:  # a name and address
        title = _pick(rng, ("", "", "Dr. ", "Prof. ", "Mag. ", "Ing. "))
        name = f"{title}{_pseudo_name(rng)} {_pseudo_name(rng)}"
        if rng.random() < 0.3:
            name = _company(rng).title()
        street = f"{_pseudo_name(rng)}{_pick(rng, ('str.', 'straße', 'weg', 'gasse', ' Street', ' Road', 'laan'))} " \
                 f"{int(rng.integers(1, 200))}"
        city = f"{_digits(rng, int(rng.choice([4, 5])))} {_pseudo_name(rng)}"
        lines = [name, street, city]
        if rng.random() < 0.35:
            lines.append(_pick(rng, (f"Tel. {_digits(rng, 4)} / {_digits(rng, 6)}",
                                      f"www.{_word(rng).lower()}.{_pick(rng, ('de', 'com', 'at', 'nl'))}")))
        rels = [rng.uniform(1.1, 1.4)] + [1.0] * (len(lines) - 1)
    elif r < 0.75:  # a word, maybe with a date or a name under it
        word = _pick(rng, _FREE_WORDS)
        if rng.random() < 0.3:
            word = word.upper()
        lines = [word]
        rels = [1.0]
        if rng.random() < 0.45:
            lines.append(_pick(rng, (_date(rng), f"am {_date(rng)}", f"by {_pseudo_name(rng)}")))
            rels.append(rng.uniform(0.5, 0.8))
    else:  # a company with a web address or phone
        lines = [_company(rng)]
        if rng.random() < 0.5:
            lines[0] = lines[0].title()
        lines.append(_pick(rng, (_address(rng).title(), _phone(rng), f"info@{_word(rng).lower()}.com")))
        rels = [rng.uniform(1.1, 1.5), 1.0]
    return tuple(lines), tuple(float(v) for v in rels)


_LINE_GAP = 0.5  # between lines, in cap heights of the smaller line


def _block_units(paths, lines, rels):
    """(width, height) of stacked lines in cap units."""
    width = max(_cap_units(p, t) * r for p, t, r in zip(paths, lines, rels))
    height = sum(rels) + _LINE_GAP * sum(min(a, b) for a, b in zip(rels[:-1], rels[1:]))
    return width, height


def _random_text(rng: np.random.Generator) -> StampDesign:
    seed = int(rng.integers(2**31 - 1))
    ink = _ink(rng)
    lines, rels = _text_lines(rng)
    font_a = _pick_font(rng, ("sans", "serif", "bold", "mono"))
    font_b = font_a if rng.random() < 0.6 else _pick_font(rng, ("sans", "serif", "mono"))
    paths = [font_a] + [font_b] * (len(lines) - 1)
    bw, bh = _block_units(paths, lines, rels)
    cap = rng.uniform(2.4, 4.0) if len(lines) > 2 else rng.uniform(3.5, 8.0)
    cap = min(cap, 90.0 / bw, 60.0 / bh)
    cap = max(cap, 10.5 / bw, 5.5 / bh)
    return StampDesign(
        kind="text", shape="none", width_mm=float(bw * cap), height_mm=float(bh * cap), lines=lines,
        font_centre=font_a, font_lines=font_b, border_mm=(), ink_bgr=ink, seed=seed,
        text_weight=float(rng.choice([0.0, 0.0, 0.03])),
        align="left" if len(lines) > 2 and rng.random() < 0.4 else "center",
        line_scale=rels,
    )


def _text_rels(design: StampDesign, n: int) -> list[float]:
    return (list(design.line_scale) + [1.0] * n)[:n]


def _sig_units(design: StampDesign):
    """Signature block geometry in cap units: header size, blank, rule length, footer rel."""
    rng = np.random.default_rng([design.seed, 4])
    rels = [1.0 if i == len(design.lines) - 1 else 0.75 for i in range(len(design.lines))]
    paths = [design.font_lines if i < len(design.lines) - 1 else design.font_centre for i in range(len(design.lines))]
    hw, hh = _block_units(paths, design.lines, rels)
    blank = rng.uniform(2.5, 4.5)
    rule = max(hw * rng.uniform(0.85, 1.05), rng.uniform(6, 9))
    foot = 0.6 if design.footer else 0.0
    fw = _cap_units(design.font_lines, design.footer) * foot
    width = max(hw, rule, fw)
    height = hh + blank + (0.4 + foot if foot else 0.0)
    return rels, paths, hw, hh, blank, rule, foot, width, height


def _random_signature(rng: np.random.Generator) -> StampDesign:
    seed = int(rng.integers(2**31 - 1))
    ink = _ink(rng)
    company = _company(rng)
    if rng.random() < 0.4:
        company = company.title()
    lines = (_pick(rng, _SIG_ABOVE), company) if rng.random() < 0.45 else (company,)
    footer = _pick(rng, _SIG_CAPTIONS) if rng.random() < 0.65 else ""
    design = StampDesign(
        kind="signature", shape="none", width_mm=50.0, height_mm=25.0, lines=lines, footer=footer,
        font_centre=_pick_font(rng, ("bold", "sans", "serif")), font_lines=_pick_font(rng, ("sans", "serif")),
        border_mm=(), ink_bgr=ink, seed=seed, text_weight=float(rng.choice([0.0, 0.0, 0.03])),
        dotted_ring=bool(rng.random() < 0.25),  # a dotted signature line
    )
    *_, width, height = _sig_units(design)
    cap = rng.uniform(3.0, 4.5)
    cap = min(cap, 85.0 / width)
    line_mm = rng.uniform(0.35, 0.7)
    return dataclasses.replace(design, width_mm=float(width * cap), height_mm=float(height * cap),
                               line_mm=float(line_mm))


def _pic_layout(design: StampDesign):
    """Deterministic layout choices of a pictorial stamp: (word size / picture size, word above?)."""
    rng = np.random.default_rng([design.seed, 3])
    return rng.uniform(0.22, 0.34), bool(rng.random() < 0.2)


def _pic_natural(design: StampDesign) -> tuple[float, float]:
    """Natural (width, height) of a frameless pictorial stamp, with the picture 1 unit high."""
    x0, y0, x1, y1 = _ops_bbox(_picture_ops(design.picture, design.seed, design.remake))
    aspect = (x1 - x0) / max(1e-6, y1 - y0)
    if not design.centre_text:
        return aspect, 1.0
    ratio, _ = _pic_layout(design)
    return max(aspect, ratio * _cap_units(design.font_centre, design.centre_text)), 1.0 + 1.45 * ratio


def printed_artwork(rng: np.random.Generator, size_px: int) -> np.ndarray:
    """Crisp line art of a random picture, as a printed clip-art logo would be: ``(H, W) float32`` in
    [0, 1] without any rubber-stamp ink texture (used as a hard negative for stamp detection)."""
    return np.ascontiguousarray(_template(_random_picture(rng), int(size_px), 0.0), dtype=np.float32)


def _random_picture(rng: np.random.Generator) -> StampDesign:
    seed = int(rng.integers(2**31 - 1))
    ink = _ink(rng)
    picture = _pick(rng, PICTURES)
    frame = str(rng.choice(["none", "round", "rounded_rectangle", "cloud", "star"], p=[0.45, 0.24, 0.14, 0.1, 0.07]))
    if frame == "star" and picture not in ("smiley", "heart", "check", "thumb", "sun"):
        frame = "round"
    word, ring = "", ""
    if rng.random() < 0.55:
        word = _pick(rng, _PIC_WORDS) if rng.random() < 0.85 else _word(rng, 1, 2).capitalize() + _pick(rng, ("!", ""))
        if rng.random() < 0.25:
            word = word.upper()
        if frame == "round" and rng.random() < 0.45:
            word, ring = "", word.upper()
        if frame == "star":
            word = ""
    font = _playful_font(rng)
    size = rng.uniform(14, 32) if frame == "none" else rng.uniform(18, 36)
    stroke_px = rng.uniform(1.5, 4.0)  # at 300 px
    line_mm = stroke_px * size / 300
    border = ()
    if frame != "none":
        border = (line_mm * rng.uniform(1.0, 2.2),)
        if frame in ("round", "rounded_rectangle") and rng.random() < 0.2:
            border = (border[0], line_mm * rng.uniform(0.7, 1.0))
    design = StampDesign(
        kind="picture", shape=frame, width_mm=size, height_mm=size, picture=picture, centre_text=word,
        ring_text=ring, font_centre=font, font_ring=font, line_mm=float(line_mm), border_mm=border,
        border_gap_mm=float(line_mm * rng.uniform(1.5, 3.0)), ink_bgr=ink, seed=seed,
        text_weight=float(rng.choice([0.0, 0.03, 0.06])), ring_cap_mm=float(size * rng.uniform(0.09, 0.12)),
    )
    if frame == "none":
        nw, nh = _pic_natural(design)
        w, h = (size, size * nh / nw) if nw >= nh else (size * nw / nh, size)
        grow = max(1.0, 10.5 / min(w, h))
        w, h = min(95.0, w * grow), min(95.0, h * grow)
    elif frame in ("round", "star"):
        w = h = size
    else:
        w, h = size, size * rng.uniform(0.72, 0.95)
    return dataclasses.replace(design, width_mm=float(w), height_mm=float(h))


# ---- geometry helpers for drawings (units: the picture spans about [-1, 1]; y down)


def _ell(cx, cy, rx, ry, ang=0.0, t0=0.0, t1=2 * math.pi, n=48) -> np.ndarray:
    full = abs(t1 - t0) >= 2 * math.pi - 1e-6
    t = np.linspace(t0, t1, n, endpoint=not full)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(ang), math.sin(ang)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], 1)


def _caps(p0, p1, r, n=10) -> np.ndarray:
    (x0, y0), (x1, y1) = p0, p1
    a = math.atan2(y1 - y0, x1 - x0)
    t0 = np.linspace(a + math.pi / 2, a + 3 * math.pi / 2, n)
    t1 = np.linspace(a - math.pi / 2, a + math.pi / 2, n)
    return np.concatenate([np.stack([x0 + r * np.cos(t0), y0 + r * np.sin(t0)], 1),
                           np.stack([x1 + r * np.cos(t1), y1 + r * np.sin(t1)], 1)])


def _spline(pts, closed=False, n=10) -> np.ndarray:
    """Catmull-Rom curve through ``pts``."""
    p = np.asarray(pts, float)
    P = np.concatenate([p[-1:], p, p[:2]]) if closed else np.concatenate([p[:1], p, p[-1:]])
    segs = len(p) if closed else len(p) - 1
    t = np.linspace(0, 1, n, endpoint=False)[:, None]
    out = []
    for i in range(segs):
        p0, p1, p2, p3 = P[i], P[i + 1], P[i + 2], P[i + 3]
        out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (3 * p1 - p0 - 3 * p2 + p3) * t**3))
    if not closed:
        out.append(p[-1:])
    return np.concatenate(out)


def _chaikin(p, it=2) -> np.ndarray:
    p = np.asarray(p, float)
    for _ in range(it):
        q = np.roll(p, -1, 0)
        p = np.concatenate([0.75 * p + 0.25 * q, 0.25 * p + 0.75 * q], 1).reshape(-1, 2)
    return p


def _rrect(cx, cy, hw, hh, r) -> np.ndarray:
    pts = []
    for (sx, sy, a0) in ((1, 1, 0), (-1, 1, 90), (-1, -1, 180), (1, -1, 270)):
        ccx, ccy = cx + sx * (hw - r), cy + sy * (hh - r)
        for t in np.radians(np.linspace(a0, a0 + 90, 7)):
            pts.append((ccx + r * math.cos(t), ccy + r * math.sin(t)))
    return np.array(pts)


def _leaf(base, tip, width) -> np.ndarray:
    b, t = np.asarray(base, float), np.asarray(tip, float)
    d = t - b
    nrm = np.array([-d[1], d[0]]) * width
    return _spline([b, b + 0.5 * d + nrm, t, b + 0.5 * d - nrm], closed=True, n=8)


class _Ops(list):
    """Drawing operations in picture units; stroke widths in multiples of the stamp's line width."""

    def out(self, *shapes, w=1.0):  # the outline of the union of shapes (polygons or ("s", pts, half_width))
        self.append(("out", list(shapes), w))

    def line(self, pts, closed=False, w=1.0, erase=False):
        self.append(("line", np.asarray(pts, float), closed, w, erase))

    def fill(self, *polys, erase=False):
        self.append(("fill", [np.asarray(p, float) for p in polys], erase))

    def hatch(self, *polys, angle=45.0, sp=3.2):
        self.append(("hatch", [np.asarray(p, float) for p in polys], angle, sp))


def _op_points(op):
    if op[0] == "out":
        return [s[1] if isinstance(s, tuple) else s for s in op[1]]
    if op[0] == "line":
        return [op[1]]
    return op[1]


def _ops_bbox(ops):
    pts = np.concatenate([p for op in ops for p in _op_points(op)])
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def _face(o: _Ops, rng, cx, cy, r, sad=False, erase=False):
    ex = 0.32 * r * rng.uniform(0.85, 1.15)
    ey = cy - 0.2 * r * rng.uniform(0.8, 1.2)
    style = _pick(rng, ("dot", "dot", "oval", "arc", "pupil", "wink"))
    for side in (-1, 1):
        x = cx + side * ex
        st = style if style != "wink" else ("arc" if side > 0 else "dot")
        if sad and st == "arc":
            st = "dot"
        if st == "dot":
            o.fill(_ell(x, ey, 0.085 * r, 0.085 * r), erase=erase)
        elif st == "oval":
            o.fill(_ell(x, ey, 0.07 * r, 0.13 * r), erase=erase)
        elif st == "arc":
            o.line(_ell(x, ey + 0.06 * r, 0.12 * r, 0.1 * r, t0=1.1 * math.pi, t1=1.9 * math.pi), erase=erase)
        else:
            o.line(_ell(x, ey, 0.13 * r, 0.16 * r), closed=True, erase=erase)
            o.fill(_ell(x + 0.03 * r, ey + 0.04 * r, 0.06 * r, 0.07 * r), erase=erase)
    if sad:
        o.line(_ell(cx, cy + 0.62 * r, 0.32 * r, 0.2 * r, t0=1.15 * math.pi, t1=1.85 * math.pi), erase=erase)
        return
    if rng.random() < 0.6:
        a = rng.uniform(0.12, 0.25) * math.pi
        ry = 0.45 * r * rng.uniform(0.8, 1.1)
        o.line(_ell(cx, cy + 0.02 * r, 0.5 * r, ry, t0=a, t1=math.pi - a), erase=erase)
        if rng.random() < 0.35:  # dimples
            for side in (-1, 1):
                t = a if side > 0 else math.pi - a
                px, py = cx + 0.5 * r * math.cos(t), cy + 0.02 * r + ry * math.sin(t)
                o.line([(px - side * 0.06 * r, py - 0.08 * r), (px + side * 0.06 * r, py + 0.06 * r)], erase=erase)
    else:
        mouth = _ell(cx, cy + 0.1 * r, 0.42 * r, 0.4 * r, t0=0, t1=math.pi, n=24)
        if rng.random() < 0.45:
            o.fill(mouth, erase=erase)
        else:
            o.line(mouth, closed=True, erase=erase)
            if rng.random() < 0.5:
                o.line(_ell(cx + 0.08 * r, cy + 0.42 * r, 0.16 * r, 0.1 * r, t0=math.pi, t1=2 * math.pi, n=12),
                       erase=erase)
    if rng.random() < 0.25:  # cheeks
        for side in (-1, 1):
            o.line(_ell(cx + side * 0.6 * r, cy + 0.15 * r, 0.1 * r, 0.07 * r), closed=True, w=0.7, erase=erase)


def _sparkles(o: _Ops, rng, r_in, r_out):
    n = int(rng.integers(2, 6))
    for k in range(n):
        a = rng.uniform(-math.pi, 0.2) if rng.random() < 0.8 else rng.uniform(0, math.pi)
        d = rng.uniform(r_in, r_out)
        x, y = d * math.cos(a), d * math.sin(a)
        if rng.random() < 0.5:  # a little four-pointed twinkle
            s = rng.uniform(0.06, 0.12)
            o.fill(_chaikin(_star_points(x, y, s, s * 0.3, n=4), 1))
        else:  # a short stroke pointing away
            o.line([(x, y), (x + 0.15 * math.cos(a), y + 0.15 * math.sin(a))])


def _pic_smiley(o, rng):
    sad = rng.random() < 0.15
    head = _ell(0, 0, 1, 1, n=72)
    if rng.random() < 0.2 and not sad:
        o.fill(head)
        _face(o, rng, 0, 0, 1, erase=True)
        return
    o.line(head, closed=True, w=rng.uniform(1.0, 1.6))
    _face(o, rng, 0, 0, 1, sad=sad)
    if rng.random() < 0.3:  # a tuft of hair
        for k in range(int(rng.integers(1, 4))):
            x = (k - 1) * 0.12
            o.line(_spline([(x, -1.0), (x + 0.05, -1.2), (x + 0.18, -1.28)], n=6))
    if rng.random() < 0.25:
        _sparkles(o, rng, 1.2, 1.4)


def _pic_star(o, rng):
    n = 5 if rng.random() < 0.85 else 6
    pts = _chaikin(_star_points(0, 0, 1, rng.uniform(0.45, 0.55), n=n, rot=-math.pi / 2 + rng.uniform(-0.15, 0.15)),
                   int(rng.integers(1, 3)))
    style = rng.random()
    if style < 0.15:
        o.fill(pts)
    else:
        o.line(pts, closed=True, w=rng.uniform(1.0, 1.6))
        if style < 0.3:
            o.hatch(pts * 0.92)
        elif style < 0.45:
            o.line(pts * 0.78, closed=True, w=0.8)
        if rng.random() < 0.55:
            _face(o, rng, 0, 0.08, 0.42)
    if rng.random() < 0.3:
        _sparkles(o, rng, 1.1, 1.35)


def _pic_heart(o, rng):
    t = np.linspace(0, 2 * math.pi, 96, endpoint=False)
    pts = np.stack([16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))], 1) / 16
    pts[:, 0] *= rng.uniform(0.9, 1.1)
    ang = math.radians(rng.uniform(-15, 15))
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    pts = pts @ rot.T
    style = rng.random()
    if style < 0.2:
        o.fill(pts)
        if rng.random() < 0.4:
            _face(o, rng, 0, -0.05, 0.45, erase=True)
    else:
        o.line(pts, closed=True, w=rng.uniform(1.0, 1.6))
        if style < 0.35:
            o.hatch(pts * 0.9, angle=rng.choice([45.0, -45.0]))
        elif style < 0.5:
            o.line(pts * 0.75, closed=True, w=0.8)
        elif rng.random() < 0.5:
            _face(o, rng, 0, -0.05, 0.45)
    if rng.random() < 0.25:
        for k in range(int(rng.integers(1, 4))):
            s = rng.uniform(0.12, 0.22)
            a = rng.uniform(-2.6, -0.4)
            o.line(pts * s + [1.25 * math.cos(a), 1.1 * math.sin(a)], closed=True, w=0.8)


def _pic_thumb(o, rng):
    fist = _rrect(0.05, 0.3, 0.5, 0.42, 0.2)
    thumb = _caps((-0.25, 0.0), (-0.12, -0.78), 0.17)
    o.out(fist, thumb, w=rng.uniform(1.0, 1.5))
    for y in (0.08, 0.3, 0.52):
        o.line(_spline([(-0.45, y), (-0.15, y - 0.04), (0.08, y)], n=6))
    cuff = _rrect(0.7, 0.32, 0.15, 0.5, 0.04)
    o.fill(cuff, erase=True)
    o.line(cuff, closed=True)
    if rng.random() < 0.4:
        o.fill(_ell(0.7, 0.1, 0.04, 0.04))
    if rng.random() < 0.5:
        _sparkles(o, rng, 0.9, 1.15)


def _pic_check(o, rng):
    pts = np.array([(-0.75, 0.0), (-0.22, 0.5), (0.8, -0.7)]) + rng.normal(0, 0.04, (3, 2))
    if rng.random() < 0.5:
        o.out(("s", pts, rng.uniform(0.09, 0.15)))
    else:
        o.line(_spline(pts, n=4) if rng.random() < 0.3 else pts, w=rng.uniform(2.5, 4.5))
    if rng.random() < 0.3:
        _sparkles(o, rng, 0.9, 1.1)


def _pic_sun(o, rng):
    n = int(rng.integers(8, 15))
    r = 0.5
    style = rng.random()
    if style < 0.4:  # one outline around the disc and pointed rays
        tris = []
        for k in range(n):
            a = 2 * math.pi * k / n
            w = math.pi / n * 0.55
            tris.append(np.array([(0.45 * math.cos(a - w), 0.45 * math.sin(a - w)), (math.cos(a), math.sin(a)),
                                  (0.45 * math.cos(a + w), 0.45 * math.sin(a + w))]))
        o.out(_ell(0, 0, r, r), *tris)
    else:
        o.line(_ell(0, 0, r, r), closed=True, w=1.3)
        for k in range(n):
            a = 2 * math.pi * k / n + 0.2
            if style < 0.7:
                o.line([(0.62 * math.cos(a), 0.62 * math.sin(a)), (0.95 * math.cos(a), 0.95 * math.sin(a))])
            else:
                rr = np.linspace(0.62, 0.98, 9)
                wob = 0.06 * np.sin(np.linspace(0, 2 * math.pi, 9))
                o.line(np.stack([rr * np.cos(a + wob), rr * np.sin(a + wob)], 1))
    if rng.random() < 0.75:
        _face(o, rng, 0, 0.02, 0.4)


def _pic_flower(o, rng):
    cy = -0.45
    n = int(rng.integers(5, 9))
    cr = rng.uniform(0.17, 0.24)
    pl = rng.uniform(0.22, 0.3)
    petals = [_ell(0.28 * math.cos(a) + 0.0, cy + 0.28 * math.sin(a), pl, pl * rng.uniform(0.5, 0.65), ang=a)
              for a in np.linspace(0, 2 * math.pi, n, endpoint=False) + rng.uniform(0, 1)]
    stem_end = 1.0 if rng.random() < 0.25 else 1.15
    bend = rng.uniform(-0.12, 0.12)
    stem = _spline([(0, cy + 0.3), (bend, 0.25), (-bend * 0.5, 0.7), (0, stem_end)], n=8)
    o.line(stem, w=1.2)
    for k, y in enumerate(sorted(rng.uniform(0.2, 0.8, int(rng.integers(1, 3))))):
        side = 1 if k % 2 == 0 else -1
        base = (float(np.interp(y, stem[:, 1], stem[:, 0])), y)
        tip = (base[0] + side * rng.uniform(0.35, 0.5), y - rng.uniform(0.1, 0.3))
        leaf = _leaf(base, tip, 0.28)
        o.fill(leaf, erase=True)
        o.line(leaf, closed=True)
        if rng.random() < 0.6:
            o.line([base, (0.35 * base[0] + 0.65 * tip[0], 0.35 * base[1] + 0.65 * tip[1])], w=0.7)
    centre = _ell(0, cy, cr, cr)
    o.fill(*petals, centre, erase=True)
    o.out(*petals, centre, w=rng.uniform(1.0, 1.4))
    o.fill(centre, erase=True)
    o.line(centre, closed=True)
    c = rng.random()
    if c < 0.3:
        o.fill(_ell(0, cy, cr * 0.6, cr * 0.6))
    elif c < 0.5:
        o.hatch(centre, sp=2.6)
    elif c < 0.7:
        for a in np.linspace(0, 2 * math.pi, 6, endpoint=False):
            o.fill(_ell(0.5 * cr * math.cos(a), cy + 0.5 * cr * math.sin(a), 0.05, 0.05))
    if stem_end < 1.1:  # a pot
        pot = np.array([(-0.32, 1.0), (0.32, 1.0), (0.24, 1.45), (-0.24, 1.45)])
        o.line(pot, closed=True, w=1.2)
        o.line([(-0.36, 1.12), (0.36, 1.12)])
    elif rng.random() < 0.4:
        o.line([(-0.5, 1.15), (0.5, 1.15)])
        for x in (-0.3, 0.25):
            o.line([(x, 1.15), (x - 0.06, 1.0)], w=0.8)
            o.line([(x + 0.06, 1.15), (x + 0.12, 1.02)], w=0.8)


def _pic_house(o, rng):
    hw, top = rng.uniform(0.6, 0.75), -0.1
    if rng.random() < 0.7:  # chimney, behind the roof
        chim = np.array([(0.35, -0.75), (0.52, -0.75), (0.52, -0.3), (0.35, -0.3)])
        o.line(chim, closed=True)
        if rng.random() < 0.6:
            t = np.linspace(0, 3 * math.pi, 30)
            o.line(np.stack([0.44 + 0.12 * np.sin(t) + t * 0.03, -0.82 - t * 0.06], 1), w=0.8)
    roof = np.array([(-hw - 0.15, top + 0.02), (0.0, -0.85), (hw + 0.15, top + 0.02)])
    o.fill(roof, erase=True)
    o.line(roof, closed=True, w=1.2)
    if rng.random() < 0.35:
        o.hatch(roof * 0.85 + [0, -0.03], angle=float(rng.choice([30.0, 60.0, -45.0])), sp=3.5)
    body = np.array([(-hw, top + 0.02), (hw, top + 0.02), (hw, 0.9), (-hw, 0.9)])
    o.line(body, closed=True, w=1.2)
    dx = rng.uniform(-0.35, 0.35)
    door = np.concatenate([[(dx - 0.15, 0.9)], _ell(dx, 0.42, 0.15, 0.12, t0=math.pi, t1=2 * math.pi, n=10),
                           [(dx + 0.15, 0.9)]])
    o.line(door, w=1.0)
    o.fill(_ell(dx + 0.08, 0.68, 0.03, 0.03))
    for wx in (-0.42, 0.42):
        if abs(wx - dx) < 0.35:
            continue
        win = np.array([(wx - 0.14, 0.12), (wx + 0.14, 0.12), (wx + 0.14, 0.4), (wx - 0.14, 0.4)])
        o.line(win, closed=True)
        o.line([(wx, 0.12), (wx, 0.4)], w=0.7)
        o.line([(wx - 0.14, 0.26), (wx + 0.14, 0.26)], w=0.7)
    if rng.random() < 0.5:
        o.line([(-hw - 0.3, 0.9), (hw + 0.3, 0.9)])


def _pic_tree(o, rng):
    if rng.random() < 0.35:  # a fir
        tiers = []
        for k in range(3):
            apex = -0.95 + 0.38 * k
            half = 0.35 + 0.18 * k
            tiers.append(np.array([(0, apex), (half, apex + 0.55), (-half, apex + 0.55)]))
        trunk = np.array([(-0.1, 0.35), (0.1, 0.35), (0.1, 0.65), (-0.1, 0.65)])
        o.line(trunk, closed=True)
        o.fill(*tiers, erase=True)
        o.out(*tiers, w=1.2)
        if rng.random() < 0.3:
            o.fill(_star_points(0, -1.0, 0.16, 0.07))
        if rng.random() < 0.35:
            for x, y in ((-0.2, -0.2), (0.25, 0.05), (-0.35, 0.3), (0.1, -0.5)):
                o.line(_ell(x, y, 0.05, 0.05), closed=True, w=0.8)
        return
    n = int(rng.integers(6, 9))
    circles = [_ell(0, -0.4, 0.32, 0.3)]
    for a in np.linspace(0, 2 * math.pi, n, endpoint=False) + rng.uniform(0, 1):
        r = rng.uniform(0.2, 0.28)
        circles.append(_ell(0.45 * math.cos(a), -0.4 + 0.33 * math.sin(a), r, r))
    o.line([(-0.1, -0.2), (-0.14, 0.9)], w=1.1)
    o.line([(0.1, -0.2), (0.15, 0.9)], w=1.1)
    if rng.random() < 0.6:
        o.line([(-0.25, 0.9), (-0.14, 0.82)], w=0.9)
        o.line([(0.26, 0.9), (0.15, 0.82)], w=0.9)
    o.fill(*circles, erase=True)
    o.out(*circles, w=rng.uniform(1.0, 1.4))
    if rng.random() < 0.35:
        for x, y in ((-0.3, -0.5), (0.2, -0.25), (0.35, -0.6), (-0.1, -0.15), (0.0, -0.7)):
            o.fill(_ell(x, y, 0.07, 0.07)) if rng.random() < 0.5 else o.line(_ell(x, y, 0.07, 0.07), closed=True)
    elif rng.random() < 0.4:
        for x, y in ((-0.3, -0.45), (0.25, -0.3), (0.05, -0.6)):
            o.line(_ell(x, y, 0.12, 0.1, t0=1.1 * math.pi, t1=1.9 * math.pi, n=8), w=0.8)
    if rng.random() < 0.5:
        o.line([(-0.6, 0.9), (0.6, 0.9)])


def _pic_animal(o, rng, species):
    sit = rng.random() < 0.4
    r = rng.uniform(0.34, 0.42)
    tail_w = 0.06
    if sit:
        body = _ell(0, 0.35, 0.46, 0.58)
        paws = [_ell(s * 0.17, 0.88, 0.15, 0.1) for s in (-1, 1)]
        parts = [body] + paws
        tail = _spline([(0.35, 0.75), (0.7, 0.75), (0.8, 0.4), (0.7, 0.2)], n=6)
        hx, hy = 0.0, -0.5
    else:
        bw, bh = rng.uniform(0.6, 0.78), rng.uniform(0.34, 0.44)
        body = _ell(0.1, 0.15, bw, bh)
        ll = rng.uniform(0.28, 0.42)
        legr = 0.06 if species == "mouse" else rng.uniform(0.08, 0.11)
        legs = [_caps((0.1 + dx, 0.15 + bh * 0.5), (0.1 + dx, 0.15 + bh + ll), legr)
                for dx in (-bw * 0.62, -bw * 0.3, bw * 0.35, bw * 0.65)]
        parts = [body] + legs
        tail = _spline([(0.1 + bw * 0.95, 0.05), (0.1 + bw + 0.25, -0.1), (0.1 + bw + 0.3, -0.4),
                        (0.1 + bw + 0.15, -0.55)], n=6)
        hx, hy = 0.1 - bw * 0.9, 0.15 - bh - r * 0.45
    if species == "cat":
        parts.append(("s", tail, tail_w))
    elif species == "dog":
        parts.append(("s", tail[: len(tail) // 2 + 2], tail_w))
    elif species in ("bear", "bunny"):
        parts.append(_ell(tail[0, 0], tail[0, 1], 0.12, 0.12))
    o.out(*parts, w=rng.uniform(1.0, 1.4))
    if species == "mouse":
        o.line(tail, w=0.9)
    if sit:
        for s in (-1, 1):
            o.line([(s * 0.13, 0.35), (s * 0.12, 0.8)], w=0.8)
    head = _ell(hx, hy, r, r * rng.uniform(0.88, 1.0))
    ears, inner = [], []
    if species == "cat":
        for s in (-1, 1):
            a0, a1 = -math.pi / 2 + s * 0.25, -math.pi / 2 + s * 1.05
            am = -math.pi / 2 + s * 0.6
            ears.append(np.array([(hx + 0.9 * r * math.cos(a0), hy + 0.9 * r * math.sin(a0)),
                                  (hx + 1.55 * r * math.cos(am), hy + 1.55 * r * math.sin(am)),
                                  (hx + 0.9 * r * math.cos(a1), hy + 0.9 * r * math.sin(a1))]))
    elif species in ("bear", "mouse"):
        er, ed = (0.3 * r, 0.85 * r) if species == "bear" else (0.45 * r, 0.95 * r)
        for s in (-1, 1):
            a = -math.pi / 2 + s * 0.85
            ears.append(_ell(hx + ed * math.cos(a), hy + ed * math.sin(a), er, er))
            inner.append(_ell(hx + (ed + 0.1 * r) * math.cos(a), hy + (ed + 0.1 * r) * math.sin(a), er * 0.55, er * 0.55))
    elif species == "bunny":
        for s in (-1, 1):
            a = s * 0.25
            ex, ey = hx + s * 0.3 * r + 0.75 * r * math.sin(a), hy - 1.25 * r
            ears.append(_ell(ex, ey, 0.22 * r, 0.75 * r, ang=a))
            inner.append(_ell(ex, ey + 0.1 * r, 0.1 * r, 0.5 * r, ang=a))
    o.fill(head, *ears, erase=True)
    for p in inner:
        o.line(p, closed=True, w=0.7)
    o.fill(head, erase=True)
    o.out(head, *ears, w=rng.uniform(1.0, 1.4))
    if species == "dog":  # floppy ears over the head
        for s in (-1, 1):
            ear = _ell(hx + s * 0.9 * r, hy + 0.2 * r, 0.24 * r, 0.55 * r, ang=-s * 0.35)
            o.fill(ear, erase=True)
            o.line(ear, closed=True, w=1.1)
    # the face
    ey = hy - 0.05 * r
    for s in (-1, 1):
        o.fill(_ell(hx + s * 0.36 * r, ey, 0.09 * r, 0.1 * r))
    ny = hy + 0.25 * r
    if species in ("bear", "dog") and rng.random() < 0.6:
        o.line(_ell(hx, ny + 0.08 * r, 0.34 * r, 0.25 * r), closed=True, w=0.8)
    if species in ("cat", "mouse", "bunny"):
        o.fill(np.array([(hx - 0.09 * r, ny - 0.04 * r), (hx + 0.09 * r, ny - 0.04 * r), (hx, ny + 0.06 * r)]))
    else:
        o.fill(_ell(hx, ny, 0.13 * r, 0.09 * r))
    for s in (-1, 1):
        o.line(_ell(hx + s * 0.1 * r, ny + 0.12 * r, 0.1 * r, 0.1 * r, t0=0.1, t1=math.pi - 0.1, n=8), w=0.8)
    if species in ("cat", "mouse", "bunny") and rng.random() < 0.8:
        for s in (-1, 1):
            for dy in (-0.08, 0.08):
                o.line([(hx + s * 0.3 * r, ny + 0.08 * r + dy * r), (hx + s * 0.9 * r, ny + 0.08 * r + 2.2 * dy * r)],
                       w=0.6)


def _pic_bird(o, rng):
    body = _ell(0.05, 0.1, 0.6, 0.45, ang=-0.2)
    head = _ell(-0.45, -0.35, 0.3, 0.3)
    tail = np.array([(0.5, -0.05), (1.0, -0.4), (0.95, 0.0), (0.5, 0.25)])
    o.out(body, head, tail, w=rng.uniform(1.0, 1.4))
    beak = np.array([(-0.72, -0.42), (-1.0, -0.32), (-0.72, -0.24)])
    o.fill(beak) if rng.random() < 0.5 else o.line(beak, closed=True)
    o.fill(_ell(-0.48, -0.4, 0.06, 0.06))
    wing = _spline([(-0.15, 0.0), (0.25, -0.1), (0.55, 0.15), (0.2, 0.3)], closed=True, n=8)
    o.line(wing, closed=True)
    if rng.random() < 0.4:
        o.hatch(wing * 0.85 + [0.03, 0.02], sp=3.0)
    for x in (-0.05, 0.2):
        o.line([(x, 0.5), (x - 0.03, 0.85)], w=0.9)
        for dx in (-0.1, 0.0, 0.1):
            o.line([(x - 0.03, 0.85), (x - 0.03 + dx, 0.93)], w=0.8)
    if rng.random() < 0.35:
        o.line([(-0.5, 0.93), (0.6, 0.9)], w=1.3)
    if rng.random() < 0.3:  # singing
        o.line(_spline([(-1.1, -0.7), (-1.2, -0.95), (-1.05, -1.05)], n=5))
        o.fill(_ell(-1.15, -0.68, 0.07, 0.05, ang=-0.4))


def _pic_fish(o, rng):
    body = _spline([(-0.9, 0.0), (-0.35, -0.48), (0.35, -0.36), (0.62, 0.0), (0.35, 0.36), (-0.35, 0.48)],
                   closed=True, n=8)
    tail = np.array([(0.5, 0.0), (1.0, -0.45), (0.88, 0.0), (1.0, 0.45)])
    fin = np.array([(-0.2, -0.4), (0.05, -0.68), (0.25, -0.36)])
    o.out(body, tail, fin, w=rng.uniform(1.0, 1.4))
    o.line(_ell(-0.55, -0.1, 0.1, 0.1), closed=True)
    o.fill(_ell(-0.53, -0.09, 0.05, 0.05))
    o.line(_ell(-0.55, 0.0, 0.25, 0.33, t0=-0.9, t1=0.9, n=10))
    o.line(_ell(-0.92, 0.14, 0.08, 0.06, t0=-1.4, t1=1.4, n=6), w=0.8)
    s = rng.random()
    if s < 0.35:
        for x in (-0.05, 0.15, 0.35):
            for y in (-0.15, 0.1):
                o.line(_ell(x, y, 0.1, 0.11, t0=-1.3, t1=1.3, n=8), w=0.7)
    elif s < 0.6:
        o.hatch(_spline([(-0.2, -0.3), (0.35, -0.25), (0.5, 0.0), (0.35, 0.25), (-0.2, 0.3)], closed=True, n=6),
                sp=3.5)
    if rng.random() < 0.6:
        for k, (x, y, rr) in enumerate(((-1.05, -0.45, 0.07), (-1.15, -0.7, 0.09), (-1.0, -0.95, 0.11))):
            if k < 2 or rng.random() < 0.5:
                o.line(_ell(x, y, rr, rr), closed=True, w=0.8)


def _pic_snail(o, rng):
    body = ("s", _spline([(-0.8, 0.62), (-0.2, 0.66), (0.5, 0.66), (0.95, 0.62)], n=6), 0.11)
    neck = ("s", np.array([(-0.7, 0.6), (-0.82, 0.15)]), 0.14)
    o.out(body, neck, w=rng.uniform(1.0, 1.4))
    for dx in (-0.15, 0.05):
        o.line([(-0.8, 0.1), (-0.85 + dx, -0.25)], w=0.8)
        o.fill(_ell(-0.85 + dx, -0.27, 0.05, 0.05))
    o.fill(_ell(-0.84, 0.22, 0.04, 0.05))
    o.line(_ell(-0.8, 0.34, 0.07, 0.05, t0=0.2, t1=math.pi - 0.2, n=6), w=0.8)
    shell = _ell(0.15, 0.1, 0.58, 0.55)
    o.fill(shell, erase=True)
    o.line(shell, closed=True, w=1.3)
    t = np.linspace(0, 3.6 * math.pi, 90)
    rr = 0.5 * (1 - t / (4.2 * math.pi))
    o.line(np.stack([0.15 + rr * np.cos(t + 1.6), 0.12 + rr * np.sin(t + 1.6) * 0.95], 1)[8:])


def _pic_figure(o, rng):
    dress = rng.random() < 0.5
    if dress:
        body = _chaikin(np.array([(-0.17, -0.3), (0.17, -0.3), (0.42, 0.45), (-0.42, 0.45)]), 1)
    else:
        body = _rrect(0, 0.05, 0.22, 0.38, 0.08)
    up = rng.random() < 0.6
    hand = (0.62, -0.62) if up else (0.55, 0.2)
    arms = [_caps((s * 0.12, -0.2), (s * hand[0], hand[1]), 0.07) for s in (-1, 1)]
    legs = [_caps((s * 0.12, 0.35), (s * 0.16, 0.92), 0.075) for s in (-1, 1)]
    feet = [_ell(s * 0.22, 0.95, 0.12, 0.06) for s in (-1, 1)]
    o.out(body, *arms, *legs, *feet, w=rng.uniform(1.0, 1.4))
    head = _ell(0, -0.62, 0.3, 0.3)
    extras = []
    if rng.random() < 0.4:
        extras = [_ell(s * 0.34, -0.72, 0.1, 0.13) for s in (-1, 1)]  # bunches
    o.fill(head, erase=True)
    o.out(head, *extras)
    if rng.random() < 0.6:
        for k in range(3):
            x = (k - 1) * 0.1
            o.line(_spline([(x, -0.9), (x + 0.04, -1.02), (x + 0.12, -1.05)], n=5), w=0.9)
    _face(o, rng, 0, -0.6, 0.3)
    if not dress and rng.random() < 0.5:
        for y in (-0.1, 0.1):
            o.fill(_ell(0, y, 0.035, 0.035))


def _pic_hand(o, rng):
    palm = _rrect(0, 0.35, 0.42, 0.45, 0.2)
    fingers = []
    for k, (x, ln) in enumerate(((-0.3, 0.55), (-0.1, 0.7), (0.1, 0.65), (0.3, 0.5))):
        tilt = (k - 1.5) * rng.uniform(0.04, 0.1)
        top = (x + ln * math.sin(tilt), 0.1 - ln * math.cos(tilt))
        fingers.append(_caps((x, 0.15), top, 0.095))
    thumb = _caps((-0.3, 0.45), (-0.78, 0.02), 0.11)
    o.out(palm, *fingers, thumb, w=rng.uniform(1.0, 1.4))
    if rng.random() < 0.4:
        o.line(_spline([(-0.25, 0.3), (0.0, 0.38), (0.3, 0.3)], n=6), w=0.7)
        o.line(_spline([(-0.15, 0.5), (-0.05, 0.6), (0.05, 0.75)], n=6), w=0.7)
    if rng.random() < 0.4:
        for y in (-0.5, -0.3, -0.1):
            o.line([(0.6, y), (0.8, y - 0.08)])


_PIC_DRAW = {
    "smiley": _pic_smiley, "star": _pic_star, "heart": _pic_heart, "thumb": _pic_thumb, "check": _pic_check,
    "sun": _pic_sun, "flower": _pic_flower, "house": _pic_house, "tree": _pic_tree, "bird": _pic_bird,
    "fish": _pic_fish, "snail": _pic_snail, "figure": _pic_figure, "hand": _pic_hand,
}


_RETRACE = (0.005, 0.014, 0.026)  # hand re-trace wobble of a re-made rubber's picture, picture units, by remake % 3


def _retrace(p: np.ndarray, rng: np.random.Generator, amp: float) -> np.ndarray:
    """Points ``p (n, 2)`` traced again by hand: a slow wobble along the path and a slight offset."""
    n = len(p)
    k = max(2, n // 8 + 1)
    idx = np.linspace(0, n - 1, k)
    wobble = np.stack([np.interp(np.arange(n), idx, rng.normal(0, amp, k)) for _ in range(2)], axis=1)
    out = p + wobble + rng.normal(0, amp * 0.5, 2)
    if n > 2 and np.allclose(p[0], p[-1]):
        out[-1] = out[0]
    return out


@functools.lru_cache(maxsize=256)
def _picture_ops(picture: str, seed: int, remake: int = 0) -> tuple:
    """The drawing of a pictorial stamp, fixed by its name and seed (re-traced on a re-made rubber)."""
    rng = np.random.default_rng([seed, 2])
    o = _Ops()
    if picture in ("cat", "bear", "dog", "bunny", "mouse"):
        _pic_animal(o, rng, picture)
    else:
        _PIC_DRAW.get(picture, _pic_smiley)(o, rng)
    flip = picture not in ("check",) and rng.random() < 0.5
    ang = math.radians(rng.uniform(-10, 10)) if rng.random() < 0.5 else 0.0
    c, s = math.cos(ang), math.sin(ang)
    m = np.array([[c * (-1 if flip else 1), -s], [s * (-1 if flip else 1), c]])

    def tf(p):
        return np.asarray(p, float) @ m.T

    out = []
    for op in o:
        if op[0] == "out":
            shapes = [("s", tf(sh[1]), sh[2]) if isinstance(sh, tuple) else tf(sh) for sh in op[1]]
            out.append(("out", shapes, op[2]))
        elif op[0] == "line":
            out.append(("line", tf(op[1])) + op[2:])
        elif op[0] == "hatch":
            out.append(("hatch", [tf(p) for p in op[1]], op[2] + math.degrees(ang), op[3]))
        else:
            out.append((op[0], [tf(p) for p in op[1]]) + op[2:])
    if remake:
        rr = np.random.default_rng([seed, 2, remake])
        amp = _RETRACE[remake % 3]
        for i, op in enumerate(out):
            if op[0] == "out":
                shapes = [("s", _retrace(sh[1], rr, amp), sh[2]) if isinstance(sh, tuple) else _retrace(sh, rr, amp)
                          for sh in op[1]]
                out[i] = ("out", shapes, op[2])
            elif op[0] == "line":
                out[i] = ("line", _retrace(op[1], rr, amp)) + op[2:]
            else:
                out[i] = (op[0], [_retrace(p, rr, amp) for p in op[1]]) + op[2:]
    return tuple(out)


# ---- rasterising drawings (2x supersampled, regions of interest only)


class _Layer:
    """A 2x supersampled coverage layer for drawings; coordinates are canvas-centred pixels."""

    S = 2

    def __init__(self, cv: _Canvas):
        self.cv = cv
        self.img = np.zeros((cv.h * self.S, cv.w * self.S), np.float32)

    def _roi(self, arrays, margin):
        pts = np.concatenate([np.asarray(a, float).reshape(-1, 2) for a in arrays])
        pts = (pts + (self.cv.cx, self.cv.cy)) * self.S
        H, W = self.img.shape
        x0 = int(max(0, math.floor(pts[:, 0].min() - margin)))
        y0 = int(max(0, math.floor(pts[:, 1].min() - margin)))
        x1 = int(min(W, math.ceil(pts[:, 0].max() + margin + 1)))
        y1 = int(min(H, math.ceil(pts[:, 1].max() + margin + 1)))
        return x0, y0, x1, y1

    def _local(self, pts, x0, y0):
        p = (np.asarray(pts, float) + (self.cv.cx, self.cv.cy)) * self.S - (x0, y0)
        return np.round(p * 16).astype(np.int32).reshape(-1, 1, 2)

    def _apply(self, m, box, erase):
        x0, y0, x1, y1 = box
        sub = self.img[y0:y1, x0:x1]
        if erase:
            sub *= 1 - m
        else:
            np.maximum(sub, m, out=sub)

    def fill(self, polys, erase=False):
        box = self._roi(polys, 2)
        if box[0] >= box[2] or box[1] >= box[3]:
            return
        m = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
        for p in polys:  # one by one: fillPoly with several polygons fills their overlaps even-odd
            cv2.fillPoly(m, [self._local(p, box[0], box[1])], 255, cv2.LINE_AA, shift=4)
        self._apply(m.astype(np.float32) * (1 / 255), box, erase)

    def stroke(self, pts, closed, lw, erase=False):
        t = max(1, int(round(lw * self.S)))
        box = self._roi([pts], t + 2)
        if box[0] >= box[2] or box[1] >= box[3]:
            return
        m = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
        cv2.polylines(m, [self._local(pts, box[0], box[1])], closed, 255, t, cv2.LINE_AA, shift=4)
        self._apply(m.astype(np.float32) * (1 / 255), box, erase)

    def outline(self, shapes, lw):
        """A line of width ``lw`` along the boundary of the union of ``shapes``."""
        arrays = [s[1] if isinstance(s, tuple) else s for s in shapes]
        extra = max([s[2] for s in shapes if isinstance(s, tuple)] + [0.0])
        box = self._roi(arrays, lw * self.S + extra * self.S + 4)
        if box[0] >= box[2] or box[1] >= box[3]:
            return
        m = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
        for s in shapes:
            if not isinstance(s, tuple):
                cv2.fillPoly(m, [self._local(s, box[0], box[1])], 255, cv2.LINE_8, shift=4)
        for s in shapes:
            if isinstance(s, tuple):
                t = max(1, int(round(2 * s[2] * self.S)))
                cv2.polylines(m, [self._local(s[1], box[0], box[1])], False, 255, t, cv2.LINE_8, shift=4)
        inside = m > 0
        d_out = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5)
        d_in = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)
        sd = np.where(inside, 0.5 - d_in, d_out - 0.5)
        band = np.clip(lw * self.S / 2 + 0.5 - np.abs(sd), 0, 1).astype(np.float32)
        self._apply(band, box, False)

    def hatch(self, polys, angle, spacing, lw):
        box = self._roi(polys, 2)
        if box[0] >= box[2] or box[1] >= box[3]:
            return
        m = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
        for p in polys:
            cv2.fillPoly(m, [self._local(p, box[0], box[1])], 255, cv2.LINE_AA, shift=4)
        a = math.radians(angle)
        ys, xs = np.mgrid[box[1]:box[3], box[0]:box[2]].astype(np.float32)
        u = xs * math.cos(a) + ys * math.sin(a)
        sp = max(3.0, spacing * self.S)
        lines = np.clip(lw * self.S / 2 + 0.5 - np.abs(np.mod(u, sp) - sp / 2), 0, 1)
        self._apply(lines * m.astype(np.float32) * (1 / 255), box, False)

    def finish(self):
        small = cv2.resize(self.img, (self.cv.w, self.cv.h), interpolation=cv2.INTER_AREA)
        self.cv.add(small)


def _draw_ops(layer: _Layer, ops, cx, cy, box_w, box_h, lw):
    """Draw ``ops`` scaled to fit ``box_w`` x ``box_h`` pixels, centred at (cx, cy)."""
    x0, y0, x1, y1 = _ops_bbox(ops)
    k = min((box_w - lw) / max(1e-6, x1 - x0), (box_h - lw) / max(1e-6, y1 - y0))
    if k <= 0:
        return
    ox, oy = cx - k * (x0 + x1) / 2, cy - k * (y0 + y1) / 2

    def tf(p):
        return np.asarray(p, float) * k + (ox, oy)

    for op in ops:
        if op[0] == "out":
            shapes = [("s", tf(s[1]), s[2] * k) if isinstance(s, tuple) else tf(s) for s in op[1]]
            layer.outline(shapes, lw * op[2])
        elif op[0] == "line":
            layer.stroke(tf(op[1]), op[2], lw * op[3], op[4])
        elif op[0] == "fill":
            layer.fill([tf(p) for p in op[1]], op[2])
        elif op[0] == "hatch":
            layer.hatch([tf(p) for p in op[1]], op[2], lw * op[3], lw * 0.7)


def _free_frame(layer: _Layer, shape: str, a: float, b: float, bw: float, gap: float = 0.0,
                second: float = 0.0) -> tuple[float, float]:
    """Draw the frame of a pictorial stamp (half extents a, b); the half extents of the free box inside."""
    if shape == "none" or bw <= 0:
        return a, b
    cv = layer.cv
    if shape in ("round", "double_round", "oval"):
        c = bw / 2
        cv.add(_band(_ellipse_d(cv.xs, cv.ys, a - c, b - c), bw))
        inset = bw
        if second:
            c2 = inset + gap + second / 2
            cv.add(_band(_ellipse_d(cv.xs, cv.ys, a - c2, b - c2), second))
            inset += gap + second
        return (a - inset) * 0.72, (b - inset) * 0.72
    if shape in ("rectangle", "rounded_rectangle"):
        corner = min(a, b) * 0.3
        cv.add(_band(_rrect_d(cv.xs, cv.ys, a - bw / 2, b - bw / 2, corner - bw / 2), bw))
        inset = bw
        if second:
            c2 = inset + gap + second / 2
            cv.add(_band(_rrect_d(cv.xs, cv.ys, a - c2, b - c2, max(0.0, corner - c2)), second))
            inset += gap + second
        m = inset + 0.12 * min(a, b)
        return a - m, b - m
    if shape == "cloud":
        rb = 0.2 * min(a, b)
        ea, eb = a - rb - bw / 2, b - rb - bw / 2
        n = max(7, int(round(2 * math.pi * math.sqrt((ea * ea + eb * eb) / 2) / (1.45 * rb))))
        t0, s0 = _ellipse_table(ea, eb, 512)
        shapes = [_ell(0, 0, ea, eb, n=64)]
        for k in range(n):
            t = float(np.interp(s0[-1] * k / n, s0, t0))
            shapes.append(_ell(ea * math.cos(t), eb * math.sin(t), rb, rb, n=32))
        layer.outline(shapes, bw)
        return (ea - 0.2 * rb) * 0.74, (eb - 0.2 * rb) * 0.74
    if shape == "star":
        r_out = min(a, b / 0.905) - bw / 2  # a five-pointed star is about 1.81 r tall
        pts = _chaikin(_star_points(0, 0.095 * r_out, r_out, r_out * 0.55), 1)
        layer.stroke(pts, True, bw)
        return 0.42 * r_out, 0.42 * r_out
    return a, b


def _text_at(cv: _Canvas, text, path, cap, weight, x, y_mid, align="center"):
    font = _font_for_cap(path, cap)
    cap_now = _cap_ratio(path) * font.size
    stroke = int(round(weight * cap_now))
    anchor = "ms" if align == "center" else "ls"
    cv.draw.text((x + cv.cx, y_mid + cv.cy + cap_now / 2), text, fill=255, font=font, anchor=anchor,
                 stroke_width=stroke, stroke_fill=255)


def _draw_lines(cv, lines, paths, rels, weight, W, H, top, align):
    """Stacked lines fitted into W x H starting at ``top``; returns the cap unit used (px)."""
    bw, bh = _block_units(paths, lines, rels)
    unit = min(W / max(bw, 1e-6), H / max(bh, 1e-6)) * 0.995
    y = top
    for i, (t, p, r) in enumerate(zip(lines, paths, rels)):
        x = 0.0 if align == "center" else -W / 2
        _text_at(cv, t, p, r * unit, weight, x, y + r * unit / 2, align)
        y += r * unit + (_LINE_GAP * min(r, rels[i + 1]) * unit if i + 1 < len(rels) else 0)
    return unit


def _draw_free(cv: _Canvas, design: StampDesign, scale: float) -> None:
    """Pictorial stamps, frameless text and signature blocks."""
    W, H = design.width_mm * scale, design.height_mm * scale
    weight = design.text_weight
    if design.kind == "text":
        lines = design.lines
        paths = [design.font_centre] + [design.font_lines] * (len(lines) - 1)
        rels = _text_rels(design, len(lines))
        _, bh = _block_units(paths, lines, rels)
        _draw_lines(cv, lines, paths, rels, weight, W, H, -H / 2, design.align)
        return
    if design.kind == "signature":
        rels, paths, hw, hh, blank, rule, foot, width, height = _sig_units(design)
        unit = min(W / width, H / height)
        top = -H / 2
        _draw_lines(cv, design.lines, paths, rels, weight, hw * unit, hh * unit, top, "center")
        ry = top + (hh + blank) * unit
        lw = max(1.0, design.line_mm * scale)
        half = rule * unit / 2
        if design.dotted_ring:
            n = max(4, int(2 * half / (2.2 * lw)))
            for k in range(n + 1):
                cv.ellipse(-half + 2 * half * k / n, ry, lw * 0.6, lw * 0.6)
        else:
            cv.add(_fill(_rrect_d(cv.xs, cv.ys - ry, half, lw / 2, 0)))
        if design.footer:
            _text_at(cv, design.footer, design.font_lines, foot * unit, weight, 0, ry + (0.4 + foot / 2) * unit)
        return
    # pictures
    layer = _Layer(cv)
    lw = max(1.0, design.line_mm * scale)
    a, b = W / 2, H / 2
    bw = max(1.0, design.border_mm[0] * scale) if design.border_mm else 0.0
    second = max(1.0, design.border_mm[1] * scale) if len(design.border_mm) > 1 else 0.0
    ia, ib = _free_frame(layer, design.shape, a, b, bw, design.border_gap_mm * scale, second)
    if design.ring_text and design.shape in ("round", "double_round", "oval"):
        inset = bw + (design.border_gap_mm * scale + second if second else 0)
        cap = design.ring_cap_mm * scale
        ta, tb = a - inset - 0.5 * scale - cap / 2, b - inset - 0.5 * scale - cap / 2
        _arc_text(cv, design.ring_text, design.font_ring, cap, weight, ta, tb, "top", 0.4)
        ia, ib = (ta - cap * 0.9) * 0.72, (tb - cap * 0.9) * 0.72
        if ia > 2:
            ib = min(ib, ia)
    ops = _picture_ops(design.picture, design.seed, design.remake)
    if design.centre_text:
        ratio, above = _pic_layout(design)
        nw, nh = _pic_natural(design)
        if design.shape == "none":
            P = min(2 * ib / nh, 2 * ia / nw)
        else:
            P = 2 * ib / (1 + 1.45 * ratio)
        cap = ratio * P
        total = P + 1.45 * cap
        t = -total / 2
        if above:
            wy, py = t + cap / 2, t + 1.45 * cap + P / 2
        else:
            py, wy = t + P / 2, t + P + 0.45 * cap + cap / 2
        max_w = 2 * ia
        if design.shape in ("round", "cloud"):
            max_w = 2 * ia / 0.72 * math.sqrt(max(0.0, 1 - (abs(wy) + cap / 2) ** 2 / (ib / 0.72) ** 2)) * 0.95
        _line_text(cv, design.centre_text, design.font_centre, cap, weight, 0, wy, max_w)
        _draw_ops(layer, ops, 0, py, 2 * ia, P, lw)
    else:
        _draw_ops(layer, ops, 0, 0, 2 * ia, 2 * ib, lw)
    layer.finish()


# --------------------------------------------------------------------------------------------------
# One impression


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Zero-mean, roughly unit-std noise whose features are about ``cell`` pixels across."""
    gh, gw = max(2, int(round(h / cell)) + 2), max(2, int(round(w / cell)) + 2)
    small = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return big / (float(big[::3, ::3].std()) + 1e-6)


def _fine_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    n = rng.random((h, w), dtype=np.float32)  # uniform is cheaper; blurred, it is near-normal anyway
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    n -= 0.5
    n *= 1 / (float(n[::3, ::3].std()) + 1e-6)
    return n


CONDITIONS = ("good", "patchy", "poor")


def render_stamp(design: StampDesign, rng: np.random.Generator, diameter_px: float,
                 rotation_deg: float = 0.0, condition: str | None = None) -> np.ndarray:
    """One impression of ``design``: ink coverage ``(H, W) float32`` in [0, 1], 1 = full ink.

    The stamp's larger dimension is about ``diameter_px`` (40..900); the array adds a small margin.
    Layout, size and shape depend only on the design, ``diameter_px`` and ``rotation_deg``; ``rng``
    only decides the ink (pressure, gaps, grain, blur, double impression). ``condition`` (one of
    :data:`CONDITIONS`) fixes how well the impression came out; by default the ``rng`` picks it
    (65 % good, 25 % patchy, 10 % poor).
    """
    diameter_px = int(round(float(np.clip(diameter_px, 16, 2000))))
    rot = round(float(rotation_deg), 2) % 360.0
    t = _template(design, diameter_px, rot)
    h, w = t.shape
    soft_scale = max(0.5, min(1.5, diameter_px / 300))

    # how well this impression came out: mostly fine, sometimes patchy, now and then poor
    tier = rng.random()
    if condition is not None:  # the draw above still happens, so the rest of the rng stream is unchanged
        tier = {"good": 0.0, "patchy": 0.7, "poor": 0.95}[condition]
    ranges = (  # tilt (one side fainter), gaps, grain amplitude, rate of white fibre specks
        ((0.0, 0.3), (0.0, 0.25), (0.06, 0.18), (0.0, 0.006)) if tier < 0.65 else
        ((0.2, 0.55), (0.2, 0.55), (0.12, 0.28), (0.0, 0.015)) if tier < 0.9 else
        ((0.45, 0.85), (0.45, 0.85), (0.15, 0.3), (0.005, 0.025))
    )
    tilt, gap_amount, grain_amp, speck_rate = (rng.uniform(lo, hi) for lo, hi in ranges)

    # ink spread and rough edges: blur the rubber, re-threshold it at a jittered level
    blurred = cv2.GaussianBlur(t, (0, 0), 0.6 * soft_scale)
    rough = _fine_noise(rng, h, w, rng.uniform(0.8, 1.6) * soft_scale)
    level = 0.5 - rng.uniform(-0.08, 0.12) + rough * rng.uniform(0.04, 0.1)
    shaped = np.clip((blurred - level) / 0.3 + 0.5, 0, 1)
    shaped *= np.clip(blurred * 8, 0, 1)  # no ink where the rubber is not
    shaped = np.maximum(shaped, t * 0.55)  # thin lines must not vanish entirely

    # pressure: a tilt (one side fainter) and slow variation
    ang = rng.uniform(0, 2 * math.pi)
    xx = (np.arange(w, dtype=np.float32) - w / 2)[None, :] * (math.cos(ang) / (0.5 * max(h, w)))
    yy = (np.arange(h, dtype=np.float32) - h / 2)[:, None] * (math.sin(ang) / (0.5 * max(h, w)))
    ramp = xx + yy
    pressure = 1.0 - tilt * np.clip(ramp * 0.5 + 0.5, 0, 1) ** 1.5
    pressure += rng.uniform(0.05, 0.15) * _smooth_noise(rng, h, w, max(h, w) / rng.uniform(1.5, 3.5))

    # blotchy gaps, more likely where the pressure is low
    blotch = _smooth_noise(rng, h, w, max(4.0, max(h, w) / rng.uniform(8, 20)))
    gaps = np.clip((blotch + 2.6 - 3.0 * gap_amount + 1.5 * (pressure - 1)) / 0.5, 0, 1)

    # grain: mottled ink and paper fibres that stay white
    grain = 1 + grain_amp * _fine_noise(rng, h, w, rng.uniform(0.6, 1.2) * soft_scale)
    n_specks = int(rng.poisson(speck_rate * h * w))
    if n_specks:
        grain[rng.integers(0, h, n_specks), rng.integers(0, w, n_specks)] *= 0.35

    ink = shaped * np.clip(pressure, 0.05, 1.2) * gaps * grain
    ink = np.clip(ink * rng.uniform(1.1, 1.6), 0, 1)

    if rng.random() < 0.05:  # the stamp slid a little
        length = int(rng.integers(3, 7))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1 / length
        m = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, m, (length, length))
        kernel /= kernel.sum() + 1e-6
        ink = 0.5 * ink + 0.5 * cv2.filter2D(ink, -1, kernel)
    if rng.random() < 0.06:  # double impression: a fainter, slightly shifted ghost
        limit = 1 + int(math.ceil(0.03 * diameter_px))
        dx, dy = np.clip(rng.normal(0, 0.012 * diameter_px, 2), -limit, limit)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        ghost = cv2.warpAffine(ink, m, (w, h), borderValue=0) * rng.uniform(0.25, 0.6)
        ink = 1 - (1 - ink) * (1 - ghost)

    ink = cv2.GaussianBlur(ink, (0, 0), rng.uniform(0.35, 0.8) * max(0.7, soft_scale ** 0.5))
    if rng.random() < 0.15:  # a pale impression: a dry pad or a light touch, as often seen on colour scans
        ink *= rng.uniform(0.4, 0.7)
    return np.clip(ink, 0, 1).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Compositing


def composite_ink(page_bgr: np.ndarray, coverage: np.ndarray, color_bgr, x: int, y: int,
                  rng: np.random.Generator | None = None):
    """Multiply ``coverage`` (top-left at page ``(x, y)``) of ink ``color_bgr`` into ``page_bgr`` in place.

    Ink is a filter over what is already there, so print under the stamp stays visible. Only pixels
    inside the returned box change. Returns the tight box ``(x0, y0, x1, y1)`` (exclusive max, page
    coordinates) of pixels with coverage > 0.15, or None if none landed on the page.
    """
    x, y = int(round(x)), int(round(y))
    H, W = page_bgr.shape[:2]
    h, w = coverage.shape
    px0, py0, px1, py1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if px0 >= px1 or py0 >= py1:
        return None
    cov = coverage[py0 - y:py1 - y, px0 - x:px1 - x]
    mask = cov > 0.15
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    by0, by1, bx0, bx1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    cov = cov[by0:by1, bx0:bx1].astype(np.float32)
    x0, y0 = px0 + bx0, py0 + by0
    x1, y1 = px0 + bx1, py0 + by1

    color = np.asarray(color_bgr, np.float32).reshape(-1)[:3]
    density = 1.0
    if rng is not None:
        color = np.clip(color + rng.normal(0, 4, 3), 0, 255)
        density = rng.uniform(0.88, 1.0)
    transmit = color / 255.0
    region = page_bgr[y0:y1, x0:x1]
    if region.ndim == 2:
        t = float(transmit @ np.array([0.114, 0.587, 0.299], np.float32))
        factor = 1 - cov * density * (1 - t)
    else:
        if region.shape[2] != 3:
            raise ValueError("page must be (H, W), or (H, W, 3) BGR")
        factor = 1 - cov[..., None] * density * (1 - transmit[None, None, :])
    out = region.astype(np.float32) * factor
    if np.issubdtype(page_bgr.dtype, np.integer):
        info = np.iinfo(page_bgr.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    region[...] = out.astype(page_bgr.dtype)
    return int(x0), int(y0), int(x1), int(y1)
