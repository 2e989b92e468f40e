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
    "SHAPES",
    "StampDesign",
    "composite_ink",
    "random_design",
    "render_stamp",
]

SHAPES = ("round", "double_round", "oval", "rectangle", "rounded_rectangle", "triangle")
EMBLEMS = ("none", "star", "stars", "shield", "wreath", "globe", "building", "sun", "monogram")
KINDS = ("seal", "oval", "company", "date", "word", "qc")

# Typical stamp-pad inks as printed on white paper at full coverage, BGR.
INKS: dict[str, tuple[tuple[int, int, int], float]] = {
    "blue": ((165, 70, 35), 0.42),
    "violet": ((150, 55, 95), 0.2),
    "red": ((45, 35, 190), 0.18),
    "black": ((45, 42, 40), 0.08),
    "teal": ((125, 115, 25), 0.06),
    "green": ((70, 125, 40), 0.06),
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
    """One invented physical stamp: round and oval seals, company/date/word boxes, QC triangles."""
    kind = str(rng.choice(KINDS, p=[0.36, 0.1, 0.2, 0.1, 0.16, 0.08]))
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


def _draw_design(design: StampDesign, diameter_px: float) -> np.ndarray:
    """The clean rubber: coverage in [0, 1] on a canvas centred on the stamp, no margins trimmed yet."""
    scale = diameter_px / max(design.width_mm, design.height_mm)  # px per mm
    W, H = design.width_mm * scale, design.height_mm * scale
    pad = 3 + int(math.ceil(0.035 * diameter_px))
    cw, ch = int(math.ceil(W)) + 2 * pad, int(math.ceil(H)) + 2 * pad
    cv = _Canvas(cw, ch, cw / 2, ch / 2)
    rng = np.random.default_rng(design.seed)  # the rubber's own details, fixed per design
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
    rng = np.random.default_rng([design.seed, 1])
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


def render_stamp(design: StampDesign, rng: np.random.Generator, diameter_px: float,
                 rotation_deg: float = 0.0) -> np.ndarray:
    """One impression of ``design``: ink coverage ``(H, W) float32`` in [0, 1], 1 = full ink.

    The stamp's larger dimension is about ``diameter_px`` (40..900); the array adds a small margin.
    Layout, size and shape depend only on the design, ``diameter_px`` and ``rotation_deg``; ``rng``
    only decides the ink (pressure, gaps, grain, blur, double impression).
    """
    diameter_px = int(round(float(np.clip(diameter_px, 16, 2000))))
    rot = round(float(rotation_deg), 2) % 360.0
    t = _template(design, diameter_px, rot)
    h, w = t.shape
    soft_scale = max(0.5, min(1.5, diameter_px / 300))

    # how well this impression came out: mostly fine, sometimes patchy, now and then poor
    tier = rng.random()
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
