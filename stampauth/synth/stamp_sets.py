"""Genuine and re-made (forged) stamp impressions for training stamp verification, and a data set writer.

The fraud to catch: a *re-made rubber* that copies a genuine stamp's text and layout, with one or two small
differences (another font, a changed character, a thicker ring, a slightly larger or smaller seal, ...). Two
impressions of one genuine rubber differ only in what one physical stamp does on paper: rotation, inking,
smudges, overlapping print and signatures, scanning. A re-made rubber also has its own wear marks and, for
pictures, a re-traced drawing.

* :func:`verification_design` invents a stamp to verify (mostly official seals and office stamps).
* :func:`forge_design` makes a re-made copy of a design and names its differences (from :data:`FORGERY_CHANGES`).
* :func:`impression` renders one impression as a scanned crop (``uint8`` BGR) around the stamp, as a
  detector would cut it out of a page; :func:`place_on_paper` is its paper-and-scanner half.
* :func:`write_stamp_set` writes a labelled set (``labels.csv`` with path, writer, label, forger).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import string
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from stampauth.synth import fonts, stamps
from stampauth.synth.stamps import StampDesign, composite_ink, random_design, render_stamp

__all__ = [
    "FORGERY_CHANGES",
    "forge_design",
    "impression",
    "place_on_paper",
    "verification_design",
    "visible_change",
    "write_stamp_set",
]

FORGERY_CHANGES: tuple[str, ...] = (
    "font", "spacing", "text_size", "radius", "ring_width", "emblem", "character", "border", "redraw",
)

_OFFICIAL = ("seal", "oval", "company", "date", "word", "qc")
_FREE = ("picture", "text", "signature")
_RING_SHAPES = ("round", "double_round", "oval")
_TEXT_FIELDS = ("ring_text", "ring_text_bottom", "lines", "centre_text", "band_text")


# --------------------------------------------------------------------------------------------------
# Designs


def verification_design(rng: np.random.Generator) -> StampDesign:
    """A design to verify: mostly official stamps (round, double-ring, oval seals, rectangular company/date stamps,
    triangular QC stamps, word stamps) and some pictorial / frameless ones (as random_design makes them)."""
    roll = rng.random()
    if roll < 0.8:
        while True:
            design = random_design(rng)
            if design.kind in _OFFICIAL:
                return design
    if roll < 0.92:
        return stamps._random_picture(rng)
    if roll < 0.97:
        return stamps._random_text(rng)
    return stamps._random_signature(rng)


def _uses_fonts(d: StampDesign) -> list[str]:
    """The font fields whose font is actually drawn."""
    used = []
    if d.kind in ("seal", "oval"):
        if d.ring_text:
            used.append("font_ring")
        if d.lines or d.band_text:
            used.append("font_lines")
        if d.centre_text or (d.emblem == "monogram" and not d.band_text):
            used.append("font_centre")
    elif d.kind == "company":
        used += ["font_centre"] if d.lines else []
        used += ["font_lines"] if len(d.lines) > 1 else []
    elif d.kind == "date":
        used += ["font_lines"] if d.lines else []
        used += ["font_centre"] if len(d.lines) > 1 else []
    elif d.kind in ("word", "qc"):
        used += ["font_centre"] if d.centre_text else []
        used += ["font_lines"] if d.lines else []
    elif d.kind == "picture":
        used += ["font_centre"] if d.centre_text else []
        used += ["font_ring"] if d.ring_text else []
    elif d.kind == "text":
        used += ["font_centre"] if d.lines else []
        used += ["font_lines"] if len(d.lines) > 1 else []
    elif d.kind == "signature":
        used += ["font_centre"] if d.lines else []
        used += ["font_lines"] if len(d.lines) > 1 or d.footer else []
    return [f for f in used if getattr(d, f) is not None]


def _is_bold(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return any(k in name for k in ("bold", "black", "heavy", "demi", "_rb.", "_rz."))


@functools.lru_cache(maxsize=256)
def _font_alternatives(path: str) -> tuple[str, ...]:
    """Other fonts of the same style group and weight (a forger's nearest match), never the same face."""
    name = path.rsplit("/", 1)[-1].lower()
    groups = fonts._families(fonts.font_files())
    playful = tuple(p for p in fonts.font_files()
                    if any(k in p.rsplit("/", 1)[-1].lower() for k in stamps._PLAYFUL_FONT_PARTS))
    if path in playful:
        pool = list(playful)
    else:
        main = next((g for g in ("mono", "sans", "serif") if path in groups.get(g, ())), "sans")
        pool = [p for p in stamps._font_pool(main) if _is_bold(p) == _is_bold(path)]
        if len(pool) < 2:
            pool = stamps._font_pool(main)
    return tuple(p for p in pool if p.rsplit("/", 1)[-1].lower() != name)


def _text_slots(d: StampDesign) -> list[tuple[str, int]]:
    """(field, index) of every drawn text with letters or digits; index -1 for plain string fields."""
    slots = []
    for field in _TEXT_FIELDS:
        value = getattr(d, field)
        if field == "lines":
            for i, line in enumerate(value):
                if d.kind == "date" and i == 1:
                    continue  # a date stamp's date is set per use: changing it is not a forgery
                if any(c.isalnum() for c in line):
                    slots.append(("lines", i))
        elif value and any(c.isalnum() for c in value):
            if field in ("ring_text", "ring_text_bottom") and d.kind == "picture" and d.shape not in _RING_SHAPES:
                continue
            slots.append((field, -1))
    return slots


_SIMILAR = {
    "0": "86", "1": "74", "2": "7", "3": "85", "4": "1", "5": "63", "6": "58", "7": "12", "8": "360", "9": "08",
    "A": "RH", "B": "RE", "C": "GO", "D": "O", "E": "FB", "F": "EP", "G": "CO", "H": "NM", "I": "TL", "K": "XR",
    "L": "IE", "M": "NW", "N": "MH", "O": "QCD", "P": "RF", "Q": "O", "R": "PBK", "S": "Z", "T": "I", "U": "VO",
    "V": "UY", "W": "MV", "X": "KY", "Y": "VX", "Z": "S",
    "a": "oe", "b": "hd", "c": "eo", "d": "b", "e": "ca", "f": "t", "g": "q", "h": "nb", "i": "l", "l": "i",
    "m": "n", "n": "mu", "o": "ae", "r": "n", "s": "z", "t": "f", "u": "nv", "v": "u",
}


def _other_char(c: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.5 and c in _SIMILAR:  # a look-alike: the hard case
        return stamps._pick(rng, _SIMILAR[c])
    pool = string.digits if c.isdigit() else (string.ascii_uppercase if c.isupper() else string.ascii_lowercase)
    if not c.isascii():
        pool = string.ascii_uppercase if c.isupper() else string.ascii_lowercase
    return stamps._pick(rng, [p for p in pool if p != c])


def _change_character(d: StampDesign, rng: np.random.Generator) -> dict:
    field, index = stamps._pick(rng, _text_slots(d))
    text = getattr(d, field)[index] if index >= 0 else getattr(d, field)
    spots = [i for i, c in enumerate(text) if c.isalnum()]
    digits = [i for i in spots if text[i].isdigit()]
    i = stamps._pick(rng, digits) if digits and rng.random() < 0.5 else stamps._pick(rng, spots)
    new = text[:i] + _other_char(text[i], rng) + text[i + 1:]
    if index >= 0:
        lines = list(getattr(d, field))
        lines[index] = new
        return {field: tuple(lines)}
    return {field: new}


def _factor(rng: np.random.Generator, down: tuple[float, float], up: tuple[float, float],
            only: str | None = None) -> float:
    go_up = only == "up" or (only is None and rng.random() < 0.5)
    return float(rng.uniform(*(up if go_up else down)))


_REF_DIAMETER = 180  # the smallest impression size a change must show at


def _px_per_mm(d: StampDesign, diameter_px: float = _REF_DIAMETER) -> float:
    return diameter_px / max(d.width_mm, d.height_mm)


def _has_stack_text(d: StampDesign) -> bool:
    return d.kind in _OFFICIAL and bool(d.lines or d.centre_text or d.band_text)


def _ring_seal(d: StampDesign) -> bool:
    return bool(d.ring_text) and d.shape in _RING_SHAPES


def _emblem_draws(d: StampDesign) -> tuple:
    """What a rubber's detail generator decides for its emblem (mirrors the draws in ``stamps._emblem``)."""
    if d.kind not in ("seal", "oval") or d.band_text or d.emblem == "none":
        return ()
    rng = stamps._rubber_rng(d)
    if d.emblem == "star":
        return int(rng.integers(3)), float(rng.uniform(0.38, 0.48))
    if d.emblem == "shield":
        return (int(rng.integers(3)),)
    if d.emblem == "building":
        return (int(rng.integers(2)),)
    if d.emblem == "sun":
        return (int(rng.integers(10, 17)),)
    if d.emblem == "monogram":
        return (bool(rng.random() < 0.5),)
    return ()


_VARIANT_EMBLEMS = ("star", "shield", "building", "monogram")  # emblem drawn in another variant
_REDRAW_EMBLEMS = ("star", "sun")  # emblem re-drawn with other proportions / another count of rays


def _has_emblem_drawing(d: StampDesign) -> bool:
    return d.kind in ("seal", "oval") and not d.band_text and d.emblem != "none"


def _radius_options(d: StampDesign) -> list[str]:
    round_shape = abs(d.width_mm - d.height_mm) < 1e-6 or d.shape in ("triangle", "star")
    if d.kind in _OFFICIAL:
        if not d.border_mm and not _ring_seal(d):  # everything inside scales with the box: only a new aspect shows
            return [] if round_shape else ["width", "height"]
        return ["both"] if round_shape else ["both", "width", "height", "width", "height"]
    if d.kind == "picture" and d.shape != "none":
        # sizes in millimetres (ring text, frame lines) stay, so the proportions change
        opts = ["both"] if _ring_seal(d) else []
        return opts + ([] if round_shape else ["width", "height"])
    return []  # frameless text and signature blocks are fitted to their box: a new size changes nothing


def _ring_width_options(d: StampDesign) -> list[str]:
    if d.kind == "signature":
        return ["line"]
    opts = ["widths", "widths"] if d.border_mm else []
    if len(d.border_mm) > 1:
        opts.append("gap")
    if d.kind in ("seal", "oval") and d.inner_ring_mm > 0:
        opts.append("inner")
    return opts


def _border_options(d: StampDesign) -> list[str]:
    if d.kind == "signature":
        return ["dotted_line"]
    opts = []
    if d.border_mm and (d.kind in _OFFICIAL or d.shape in ("round", "rounded_rectangle")):
        opts.append("count")
    if d.kind in ("seal", "oval") and d.shape in _RING_SHAPES:
        opts.append("inner_ring")
    if d.border_mm and d.kind in _OFFICIAL and d.shape in ("rectangle", "rounded_rectangle"):
        opts += ["corner", "corner"] if d.shape == "rounded_rectangle" else ["corner"]
    return opts


def _emblem_options(d: StampDesign) -> list[str]:
    if d.emblem == "none":
        return []
    opts = ["swap", "swap", "remove"]
    if d.emblem == "monogram" and d.monogram and not d.band_text:
        opts += ["letters", "letters"]
    if _has_emblem_drawing(d) and d.emblem in _VARIANT_EMBLEMS:
        opts += ["variant", "variant"]
    return opts


def _applicable(d: StampDesign) -> list[str]:
    """The changes that would make a visible difference to this design."""
    checks = {
        "font": any(_font_alternatives(getattr(d, f)) for f in _uses_fonts(d)),
        "spacing": _has_stack_text(d),
        "text_size": _ring_seal(d) or bool(_text_slots(d)),
        "radius": bool(_radius_options(d)),
        "ring_width": bool(_ring_width_options(d)),
        "emblem": bool(_emblem_options(d)),
        "character": bool(_text_slots(d)),
        "border": bool(_border_options(d)),
        "redraw": d.kind == "picture" or (_has_emblem_drawing(d) and d.emblem in _REDRAW_EMBLEMS),
    }
    return [c for c in FORGERY_CHANGES if checks[c]]


def _new_weight(d: StampDesign, rng: np.random.Generator) -> float:
    """Letters a little bolder (or thinner): the least change of ``text_weight`` that shows at the smallest
    impression size in use (the stroke is whole pixels, so a fixed step would be nothing on small text
    and blobs on big text)."""
    base = stamps._draw_design(d, _REF_DIAMETER)
    if d.text_weight > 0 and rng.random() < 0.5:
        thin = dataclasses.replace(d, text_weight=0.0)
        if not np.array_equal(base, stamps._draw_design(thin, _REF_DIAMETER)):
            return 0.0
    w = d.text_weight
    for _ in range(20):
        w = round(w + 0.01, 4)
        if not np.array_equal(base, stamps._draw_design(dataclasses.replace(d, text_weight=w), _REF_DIAMETER)):
            break
    return float(w + rng.uniform(0.0, 0.012))


def _apply(change: str, d: StampDesign, rng: np.random.Generator) -> tuple[dict, str | None]:
    """Field changes for one named change; the second item asks for an emblem detail change ("variant"/"redraw")."""
    if change == "font":
        field = stamps._pick(rng, [f for f in _uses_fonts(d) if _font_alternatives(getattr(d, f))])
        return {field: stamps._pick(rng, _font_alternatives(getattr(d, field)))}, None

    if change == "spacing":
        delta = float(rng.uniform(0.03, 0.1))
        new = d.letter_spacing + delta if d.letter_spacing - delta < -0.03 or rng.random() < 0.5 else \
            d.letter_spacing - delta
        return {"letter_spacing": float(new)}, None

    if change == "text_size":
        if _ring_seal(d):
            return {"ring_cap_mm": d.ring_cap_mm * _factor(rng, (0.85, 0.92), (1.08, 1.15))}, None
        return {"text_weight": _new_weight(d, rng)}, None


    if change == "radius":
        f = _factor(rng, (0.93, 0.97), (1.03, 1.07))
        which = stamps._pick(rng, _radius_options(d))
        out = {}
        if which in ("both", "width"):
            out["width_mm"] = d.width_mm * f
        if which in ("both", "height"):
            out["height_mm"] = d.height_mm * f
        return out, None

    if change == "ring_width":
        what = stamps._pick(rng, _ring_width_options(d))
        ppm = _px_per_mm(d)
        if what == "widths":
            thin = min(d.border_mm) * ppm * 0.8 < 1.0  # thinning a hair line would change nothing visible
            f = _factor(rng, (0.6, 0.8), (1.3, 1.6), "up" if thin else None)
            return {"border_mm": tuple(float(w * f) for w in d.border_mm)}, None
        if what == "gap":
            return {"border_gap_mm": d.border_gap_mm * _factor(rng, (0.45, 0.65), (1.5, 2.0))}, None
        if what == "inner":
            thin = d.inner_ring_mm * ppm * 0.6 < 1.0
            f = _factor(rng, (0.5, 0.65), (1.5, 2.0), "up" if thin else None)
            return {"inner_ring_mm": d.inner_ring_mm * f}, None
        f = _factor(rng, (0.55, 0.7), (1.4, 1.8), "up" if d.line_mm * ppm < 1.5 else None)
        return {"line_mm": d.line_mm * f}, None  # a signature block's rule

    if change == "emblem":
        what = stamps._pick(rng, _emblem_options(d))
        if what == "remove":
            return {"emblem": "none", "monogram": ""}, None
        if what == "letters":
            m = d.monogram
            i = int(rng.integers(len(m)))
            return {"monogram": m[:i] + _other_char(m[i], rng) + m[i + 1:]}, None
        if what == "variant":
            return {}, "variant"
        if d.band_text:  # between the rules only "one star" or "three stars" is drawn
            return {"emblem": "stars" if d.emblem != "stars" else "star"}, None
        new = stamps._pick(rng, [e for e in stamps.EMBLEMS if e not in ("none", d.emblem)])
        mono = ""
        if new == "monogram":
            mono = "".join(stamps._pick(rng, "ABCDEFGHKLMNPRSTVZ") for _ in range(int(rng.integers(1, 4))))
        return {"emblem": new, "monogram": mono}, None

    if change == "character":
        return _change_character(d, rng), None

    if change == "border":
        what = stamps._pick(rng, _border_options(d))
        if what == "count":
            if len(d.border_mm) > 1:
                return {"border_mm": d.border_mm[:1]}, None
            if d.kind == "picture":
                return {"border_mm": (d.border_mm[0], d.line_mm * rng.uniform(0.7, 1.0))}, None
            return {"border_mm": (d.border_mm[0], float(rng.uniform(0.25, 0.4))),
                    "border_gap_mm": float(max(d.border_gap_mm, 0.5))}, None
        if what == "inner_ring":
            if d.inner_ring_mm > 0:
                return {"dotted_ring": not d.dotted_ring}, None
            return {"inner_ring_mm": float(rng.uniform(0.35, 0.55)), "dotted_ring": bool(rng.random() < 0.5)}, None
        if what == "corner":
            if d.shape == "rectangle":
                return {"shape": "rounded_rectangle", "corner_mm": float(rng.uniform(2.0, 3.5))}, None
            return {"corner_mm": d.corner_mm * _factor(rng, (0.35, 0.6), (1.5, 2.0))}, None
        return {"dotted_ring": not d.dotted_ring}, None

    if change == "redraw":
        return {}, "redraw"
    raise ValueError(f"unknown change {change!r}")


def _pick_remake(original: StampDesign, forged: StampDesign, detail: str | None, rng: np.random.Generator) -> int:
    """A new rubber's number: its own wear; its emblem details as the original's unless ``detail`` asks otherwise;
    for pictures ``remake % 3`` picks how freely the drawing is re-traced (0 for a careful copy)."""
    level = 0
    if forged.kind == "picture" and detail == "redraw":
        level = int(rng.integers(1, 3))
    want = _emblem_draws(original)
    check = bool(want) and _has_emblem_drawing(forged) and forged.emblem == original.emblem
    best, best_score = None, -math.inf
    for _ in range(600):
        remake = 3 * int(rng.integers(1, 2**29)) + level
        if remake == original.remake:
            continue
        if not check:
            return remake
        got = _emblem_draws(dataclasses.replace(forged, remake=remake))
        if detail == "variant":
            ok = got[0] != want[0]
        elif detail == "redraw":  # star: same style, other proportions; sun: another count of rays
            ok = got[0] != want[0] if len(got) == 1 else got[0] == want[0] and abs(got[1] - want[1]) >= 0.035
        else:
            ok = got[0] == want[0] and (len(got) == 1 or abs(got[1] - want[1]) <= 0.006)
        if ok:
            return remake
        score = -abs(got[1] - want[1]) if len(got) > 1 and got[0] == want[0] else -math.inf
        if score > best_score:
            best, best_score = remake, score
    return best if best is not None else remake


# A re-made rubber must differ where one can see it: at least this share of either clean rubber's ink lies more than
# a pixel from the other's ink at a 256-pixel diameter. Without the check about one re-made copy in ten drew exactly
# or almost exactly like the original (a ring-width change on a stamp whose frame is a line, a size change that only
# scales the whole stamp, which an unknown scan resolution hides): labelled forged, such a copy is noise, not fraud.
MIN_VISIBLE_CHANGE = 0.004
_VISIBLE_AT_PX = 256
_FORGE_TRIES = 8


@functools.lru_cache(maxsize=64)
def _clean_rubber(design: StampDesign, diameter_px: int) -> np.ndarray:
    drawn = stamps._draw_design(design, float(diameter_px))
    drawn.setflags(write=False)
    return drawn


def visible_change(original: StampDesign, forged: StampDesign, diameter_px: int = _VISIBLE_AT_PX) -> float:
    """Share of ink (of the two clean rubbers, no wear, both drawn with their larger side ``diameter_px``, centred on
    each other) lying more than one pixel from any ink of the other rubber: 0 for an identical drawing."""
    a, b = _clean_rubber(original, diameter_px), _clean_rubber(forged, diameter_px)
    height, width = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])

    def centred(t: np.ndarray) -> np.ndarray:
        out = np.zeros((height, width), np.uint8)
        y, x = (height - t.shape[0]) // 2, (width - t.shape[1]) // 2
        out[y:y + t.shape[0], x:x + t.shape[1]] = t > 0.5
        return out

    ma, mb = centred(a), centred(b)
    near = np.ones((3, 3), np.uint8)
    apart = (ma & (1 - cv2.dilate(mb, near))).sum() + (mb & (1 - cv2.dilate(ma, near))).sum()
    return float(apart) / max(1, int(ma.sum()) + int(mb.sum()))


def forge_design(design: StampDesign, rng: np.random.Generator) -> tuple[StampDesign, tuple[str, ...]]:
    """A re-made stamp copying `design`: the same text and layout with 1-2 small differences (the returned change
    names, from FORGERY_CHANGES), always on a newly made rubber (its own wear marks / drawing details). The
    differences are visible: a draw whose clean rubber is within :data:`MIN_VISIBLE_CHANGE` of the original's
    (:func:`visible_change`) is drawn again, up to a few times, and the most visible draw is kept."""
    best = None
    for _ in range(_FORGE_TRIES):
        forged, changes = _forge_once(design, rng)
        seen = visible_change(design, forged)
        if seen >= MIN_VISIBLE_CHANGE:
            return forged, changes
        if best is None or seen > best[0]:
            best = (seen, forged, changes)
    return best[1], best[2]


def _forge_once(design: StampDesign, rng: np.random.Generator) -> tuple[StampDesign, tuple[str, ...]]:
    n = 1 if rng.random() < 0.7 else 2
    forged, changes, detail = design, [], None
    for _ in range(n):
        options = [c for c in _applicable(forged) if c not in changes]
        if detail is not None or "emblem" in changes:  # one emblem change at a time
            options = [c for c in options if c not in ("emblem", "redraw")]
        if "redraw" in changes:
            options = [c for c in options if c != "emblem"]
        if not options:
            break
        weights = np.array([0.6 if c in ("redraw", "spacing") else 1.0 for c in options])
        change = options[int(rng.choice(len(options), p=weights / weights.sum()))]
        fields, want = _apply(change, forged, rng)
        forged = dataclasses.replace(forged, **fields)
        detail = want or detail
        changes.append(change)
    if not changes:  # no text, no frame, no picture: nothing a forger could get wrong but the size
        forged = dataclasses.replace(forged, width_mm=design.width_mm * 1.05, height_mm=design.height_mm * 1.05)
        changes.append("radius")
    forged = dataclasses.replace(forged, remake=_pick_remake(design, forged, detail, rng))
    order = {c: i for i, c in enumerate(FORGERY_CHANGES)}
    return forged, tuple(sorted(changes, key=order.__getitem__))


# --------------------------------------------------------------------------------------------------
# Paper, print, signatures and the scanner

_PEN_COLOURS = ((120, 40, 20), (90, 30, 10), (150, 60, 30), (30, 30, 30), (15, 15, 15), (60, 40, 30), (110, 60, 70))
_STRIP_CAP = 24  # cap height of the cached printed text strips, px


@functools.lru_cache(maxsize=1)
def _text_strips() -> tuple[np.ndarray, ...]:
    """Lines of printed text (coverage, ``float32``), rendered once and cut to size per crop."""
    rng = np.random.default_rng(20240611)
    strips = []
    for i in range(32):
        style = ("serif", "sans", "sans", "mono")[i % 4]
        path = stamps._pick_font(rng, (style,))
        font = stamps._font_for_cap(path, _STRIP_CAP)
        words = []
        for _ in range(40):
            r = rng.random()
            w = stamps._word(rng, 1, 3)
            words.append(w if r < 0.1 else w.capitalize() if r < 0.3 else stamps._digits(rng, int(rng.integers(1, 6)))
                         if r < 0.4 else w.lower())
        text = " ".join(words) + "."
        width = int(font.getlength(text)) + 8
        height = int(_STRIP_CAP * 2.0)
        img = Image.new("L", (width, height), 0)
        ImageDraw.Draw(img).text((4, int(_STRIP_CAP * 1.45)), text, fill=255, font=font, anchor="ls")
        strips.append(np.asarray(img, np.float32) * np.float32(1 / 255))
    return tuple(strips)


@functools.lru_cache(maxsize=1)
def _signature_bank() -> tuple[np.ndarray, ...]:
    from stampauth.synth.signatures import random_signature

    rng = np.random.default_rng(20240612)
    return tuple(random_signature(rng, height_px=96) for _ in range(16))


def _paste_max(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    H, W = dst.shape
    h, w = src.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x0 < x1 and y0 < y1:
        np.maximum(dst[y0:y1, x0:x1], src[y0 - y:y1 - y, x0 - x:x1 - x], out=dst[y0:y1, x0:x1])


def _print_layer(rng: np.random.Generator, H: int, W: int, size: float) -> np.ndarray | None:
    """Printed matter under the stamp: text lines and/or table rules (coverage), or None."""
    text = rng.random() < 0.4
    rules = rng.random() < 0.18
    if not (text or rules):
        return None
    layer = np.zeros((H, W), np.float32)
    if text:
        cap = size * rng.uniform(0.035, 0.08)
        pitch = cap * rng.uniform(2.0, 3.2)
        strips = _text_strips()
        y = rng.uniform(-0.2, 0.75) * H
        x_left = rng.uniform(-0.3, 0.4) * W if rng.random() < 0.6 else -W
        n = int(rng.integers(1, 8))
        for _ in range(n):
            if y > H:
                break
            s = strips[int(rng.integers(len(strips)))]
            f = cap / _STRIP_CAP
            sw = max(8, int(s.shape[1] * f))
            sh = max(4, int(s.shape[0] * f))
            length = int(min(sw, rng.uniform(0.3, 1.6) * W))
            x0 = int(rng.integers(0, max(1, sw - length)))
            part = s[:, int(x0 / f):int((x0 + length) / f) + 1]
            part = cv2.resize(part, (max(2, length), sh), interpolation=cv2.INTER_AREA)
            _paste_max(layer, part, int(x_left), int(y - sh * 0.72))
            y += pitch
    if rules:
        for _ in range(int(rng.integers(1, 4))):
            t = int(rng.integers(1, 3))
            if rng.random() < 0.65:
                p = int(rng.integers(0, H))
                layer[p:p + t, :] = np.maximum(layer[p:p + t, :], rng.uniform(0.6, 1.0))
            else:
                p = int(rng.integers(0, W))
                layer[:, p:p + t] = np.maximum(layer[:, p:p + t], rng.uniform(0.6, 1.0))
    return layer


def _add_signature(page: np.ndarray, rng: np.random.Generator, size: float) -> None:
    bank = _signature_bank()
    sig = bank[int(rng.integers(len(bank)))]
    h = max(8, int(size * rng.uniform(0.22, 0.55)))
    w = max(8, int(sig.shape[1] * h / sig.shape[0]))
    sig = cv2.resize(sig, (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        angle = rng.uniform(-20, 20)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        sig = cv2.warpAffine(np.ascontiguousarray(sig), m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    H, W = page.shape[:2]
    x = int(rng.uniform(-0.4, 0.8) * W)
    y = int(rng.uniform(0.15, 0.85) * H - h / 2)
    composite_ink(page, sig * np.float32(rng.uniform(0.7, 1.0)), _PEN_COLOURS[int(rng.integers(len(_PEN_COLOURS)))],
                  x, y)


def _hue_apart(a_bgr, b_bgr, min_degrees: float = 40.0) -> bool:
    """Whether two inks differ in hue by at least ``min_degrees`` (or one of them is near black), so that the
    stamp preprocessing can tell them apart."""
    hsv = cv2.cvtColor(np.uint8([[a_bgr, b_bgr]]), cv2.COLOR_BGR2HSV_FULL)[0].astype(float)
    if min(hsv[0, 1], hsv[1, 1]) < 60:  # black or grey ink: apart by saturation
        return abs(hsv[0, 1] - hsv[1, 1]) >= 60
    gap = abs(hsv[0, 0] - hsv[1, 0]) * 360 / 256
    return min(gap, 360 - gap) >= min_degrees


def _overlapping_stamp(page: np.ndarray, rng: np.random.Generator, size: float, centre: tuple[float, float],
                       own_ink) -> None:
    """Another rubber stamp, in an ink of another hue, pressed so that it overlaps one side of this one (documents
    collect several stamps; where the inks cross, both are darker and this stamp's ink separation leaves a gap)."""
    other = verification_design(rng)
    inked, scale = _inked_upright(other, rng, size * rng.uniform(0.7, 1.3))
    cov = _rotate_scale(inked, float(rng.uniform(0, 360)), scale)
    ink = stamps._ink(rng)
    for _ in range(8):
        if _hue_apart(ink, own_ink):
            break
        ink = stamps._ink(rng)
    angle, reach = rng.uniform(0, 2 * math.pi), size * rng.uniform(0.35, 0.8)
    h, w = cov.shape
    composite_ink(page, cov, ink, centre[0] + reach * math.cos(angle) - w / 2,
                  centre[1] + reach * math.sin(angle) - h / 2, rng)


def place_on_paper(coverage: np.ndarray, ink_bgr, rng: np.random.Generator, clutter: bool = True,
                   other_stamp_probability: float = 0.0) -> np.ndarray:
    """Impression `coverage (h, w) float32` -> a scanned crop `(H, W, 3) uint8 BGR` around it, as a detector would
    cut it out of a page: paper tone, a margin of 3-12 % around the stamp, sometimes black printed text lines / table
    rules / a handwritten signature stroke overlapping the stamp (ink multiplies over print, use composite_ink),
    ink colour jitter, then scan effects (blur, noise, JPEG, sometimes grey scan, uneven light). With
    ``other_stamp_probability`` (0 draws nothing more from ``rng``, so the data sets made without it stay as they
    were) another stamp of another ink sometimes overlaps one side."""
    coverage = np.asarray(coverage, np.float32)
    inked = coverage > 0.15
    rows = np.flatnonzero(inked.any(axis=1))
    cols = np.flatnonzero(inked.any(axis=0))
    if len(rows):
        by0, by1, bx0, bx1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    else:
        by0, by1, bx0, bx1 = 0, coverage.shape[0], 0, coverage.shape[1]
    bw, bh = bx1 - bx0, by1 - by0
    size = float(max(bw, bh))
    base = rng.uniform(0.03, 0.12)
    ml, mr, mt, mb = (int(round(np.clip(base + rng.uniform(-0.02, 0.02), 0.03, 0.12) * s)) + 1
                      for s in (bw, bw, bh, bh))
    W, H = bw + ml + mr, bh + mt + mb

    tone = rng.uniform(222, 252)
    paper = np.clip(tone + rng.uniform(-6, 6, 3), 0, 255).astype(np.float32)
    page = np.empty((H, W, 3), np.float32)
    page[:] = paper

    if clutter:
        layer = _print_layer(rng, H, W, size)
        if layer is not None:
            dark = np.float32(rng.uniform(0.7, 0.95))
            grey = np.float32(rng.uniform(15, 60) / 255)
            page *= (1 - layer * (dark * (1 - grey)))[..., None]
        if rng.random() < 0.2:
            _add_signature(page, rng, size)
        if other_stamp_probability and rng.random() < other_stamp_probability:
            _overlapping_stamp(page, rng, size, (ml + bw / 2, mt + bh / 2), ink_bgr)

    ink = np.asarray(ink_bgr, np.float32) * rng.uniform(0.88, 1.12) + rng.normal(0, 7, 3)
    composite_ink(page, coverage, np.clip(ink, 5, 245), ml - bx0, mt - by0, rng)
    return _scan(page, rng)


@functools.lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """Unit Gaussian noise, drawn once; each crop takes a window at a random offset (drawing it anew is slow)."""
    return np.random.default_rng(20240613).standard_normal((768, 768), dtype=np.float32)


def _scan_noise(rng: np.random.Generator, H: int, W: int) -> np.ndarray:
    bank = _noise_bank()
    if H > bank.shape[0] or W > bank.shape[1]:
        return rng.standard_normal((H, W), dtype=np.float32)
    y, x = int(rng.integers(bank.shape[0] - H + 1)), int(rng.integers(bank.shape[1] - W + 1))
    return bank[y:y + H, x:x + W]


def _scan(page: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    H, W = page.shape[:2]
    if rng.random() < 0.45:  # uneven light
        gx = np.linspace(-0.5, 0.5, W, dtype=np.float32)[None, :]
        gy = np.linspace(-0.5, 0.5, H, dtype=np.float32)[:, None]
        a, b = rng.uniform(-0.16, 0.16, 2)
        page *= (1 + a * gx + b * gy)[..., None]
    if rng.random() < 0.15:  # grey scan: the stamp's colour is lost and print can no longer be told from it
        page = cv2.cvtColor(cv2.cvtColor(page, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.65:
        page = cv2.GaussianBlur(page, (0, 0), rng.uniform(0.3, 1.0))
    sigma = rng.uniform(0.5, 6.0)
    page += (_scan_noise(rng, H, W) * np.float32(sigma))[..., None]
    image = np.clip(page, 0, 255).astype(np.uint8)
    if rng.random() < 0.15:  # a low-resolution scan brought back to size
        f = rng.uniform(0.5, 0.8)
        small = cv2.resize(image, (max(4, int(W * f)), max(4, int(H * f))), interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.6:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 96))])
        if ok:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image


# --------------------------------------------------------------------------------------------------
# One impression


def _rotate_scale(cov: np.ndarray, angle: float, scale: float) -> np.ndarray:
    if not angle % 360 and abs(scale - 1) < 1e-3:
        return cov
    h, w = cov.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(math.ceil(h * sin + w * cos)) + 2, int(math.ceil(h * cos + w * sin)) + 2
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(cov, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)


def _partial(cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One side did not print (the stamp rocked, or hit the edge of a book or a ruler)."""
    h, w = cov.shape
    a = rng.uniform(0, 2 * math.pi)
    u = (np.arange(w, dtype=np.float32)[None, :] - w / 2) * math.cos(a) + \
        (np.arange(h, dtype=np.float32)[:, None] - h / 2) * math.sin(a)
    extent = 0.5 * (abs(w * math.cos(a)) + abs(h * math.sin(a)))
    cut = extent * (1 - 2 * rng.uniform(0.1, 0.3))  # this far from the centre the ink stops
    soft = max(1.0, 0.04 * extent)
    return cov * np.clip((cut - u) / soft + 0.5, 0, 1)


def _smudge(cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smear of wet ink dragged off the stamp in one direction."""
    h, w = cov.shape
    length = max(3, int(max(h, w) * rng.uniform(0.02, 0.06)))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, length // 2:] = 1.0
    m = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 360), 1.0)
    kernel = cv2.warpAffine(kernel, m, (length, length))
    kernel /= kernel.sum() + 1e-6
    smear = cv2.filter2D(cov, -1, kernel)
    yy = (np.arange(h, dtype=np.float32)[:, None] / h - rng.uniform(0.2, 0.8)) ** 2
    xx = (np.arange(w, dtype=np.float32)[None, :] / w - rng.uniform(0.2, 0.8)) ** 2
    region = np.exp(-(xx + yy) / (2 * rng.uniform(0.1, 0.25) ** 2))
    return np.maximum(cov, smear * region * np.float32(rng.uniform(0.5, 0.9)))


IMPRESSION_CONDITIONS = (0.8, 0.17, 0.03)  # good, patchy, poor (render_stamp's own mix for page stamps: .65/.25/.10)


def _inked_upright(design: StampDesign, rng: np.random.Generator, diameter_px: float) -> tuple[np.ndarray, float]:
    """The rubber inked upright at ``diameter_px`` rounded to 8 px, so that render_stamp's template cache serves
    every impression, and the scale still to apply: ``(coverage (h, w) float32, scale)``. Turning and the last few
    per cent of size are then one warp of the inked result (:func:`_rotate_scale`)."""
    d = float(np.clip(diameter_px, 16, 2000))
    dq = max(16, int(round(d / 8)) * 8)
    # Impressions someone files as an official stamp are mostly legible: a clerk re-stamps a blank one.
    condition = str(rng.choice(stamps.CONDITIONS, p=IMPRESSION_CONDITIONS))
    return render_stamp(design, rng, dq, 0.0, condition), d / dq


def impression(design: StampDesign, rng: np.random.Generator, diameter_px: float, rotation_deg: float,
               clutter: bool = True, other_stamp_probability: float = 0.0) -> np.ndarray:
    """render_stamp + place_on_paper with the design's ink (sometimes another pad's ink colour): (H, W, 3) uint8 BGR.
    ``other_stamp_probability``: see :func:`place_on_paper` (the evaluation sets are made without it)."""
    inked, scale = _inked_upright(design, rng, diameter_px)
    cov = _rotate_scale(inked, float(rotation_deg), scale)
    if rng.random() < 0.06:
        cov = _partial(cov, rng)
    if rng.random() < 0.04:
        cov = _smudge(cov, rng)
    ink = design.ink_bgr if rng.random() > 0.12 else stamps._ink(rng)  # another stamp pad on the desk
    return place_on_paper(cov, ink, rng, clutter, other_stamp_probability)


# --------------------------------------------------------------------------------------------------
# Data set


def _design_record(design: StampDesign) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(design).items()}


def write_stamp_set(out_dir, count: int, seed: int, genuine_per_design: int = 6, forged_per_design: int = 4,
                    diameter_px: tuple[int, int] = (180, 320), other_stamp_probability: float = 0.0) -> dict:
    """N designs from rng(seed): each gets genuine impressions (rotation uniform over the full circle) and
    forged impressions (each from its own forge_design call, also at any rotation).  Writes
    out_dir/<design_id>/genuine/NN.png and out_dir/<design_id>/forged/NN.png (or .jpg) and out_dir/labels.csv with
    columns path,writer,label,forger (path relative to out_dir; writer = design id like 'd00017'; label 'genuine' or
    'forged'; forger = the design id for genuine rows, and for forged rows '<design id>-remade-<change>+<change>').
    Also write out_dir/designs.jsonl (one JSON line per design, the design fields) for anyone who wants to look.
    ``other_stamp_probability``: the share of impressions with another stamp pressed across them (see
    :func:`place_on_paper`; 0, the default, draws the same set as before the option existed).
    Returns a small summary dict (counts, per-change counts)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lo, hi = int(diameter_px[0]), int(diameter_px[1])
    rows: list[tuple[str, str, str, str]] = []
    changes_count: Counter = Counter()
    kinds: Counter = Counter()
    with open(out / "designs.jsonl", "w", encoding="utf-8") as jf:
        for i in range(int(count)):
            design = verification_design(rng)
            did = f"d{i:05d}"
            kinds[design.kind] += 1
            record = {"id": did, **_design_record(design), "forgeries": []}
            for label, n in (("genuine", genuine_per_design), ("forged", forged_per_design)):
                folder = out / did / label
                folder.mkdir(parents=True, exist_ok=True)
                for k in range(int(n)):
                    target, forger = design, did
                    if label == "forged":
                        target, changes = forge_design(design, rng)
                        forger = f"{did}-remade-{'+'.join(changes)}"
                        changes_count.update(changes)
                        base = _design_record(design)
                        diff = {f: v for f, v in _design_record(target).items() if base[f] != v}
                        record["forgeries"].append({"path": f"{did}/forged/{k:02d}.png", "changes": list(changes),
                                                    "fields": diff})
                    image = impression(target, rng, int(rng.integers(lo, hi + 1)), float(rng.uniform(0, 360)),
                                       other_stamp_probability=other_stamp_probability)
                    rel = f"{did}/{label}/{k:02d}.png"
                    if not cv2.imwrite(str(out / rel), image):
                        raise OSError(f"could not write {out / rel}")
                    rows.append((rel, did, label, forger))
            jf.write(json.dumps(record) + "\n")
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("path", "writer", "label", "forger"))
        writer.writerows(rows)
    return {
        "out_dir": str(out),
        "designs": int(count),
        "genuine": sum(r[2] == "genuine" for r in rows),
        "forged": sum(r[2] == "forged" for r in rows),
        "changes": dict(sorted(changes_count.items())),
        "kinds": dict(sorted(kinds.items())),
    }
