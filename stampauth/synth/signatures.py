"""Synthetic handwritten signatures drawn from a simulated pen trajectory.

A :class:`WriterStyle` is the writer: the persistent traits that stay the same from one signature to the
next (the "name" as a sequence of cursive letter-like motor primitives split into pen-down pieces, slant,
baseline, proportions, letter width and spacing, pen width, pressure, connectedness, the capital's entry
loop, dots, the final flourish).  :func:`render_signature` writes one sample:

1. the writer's *motor program* (cached per style): via-points of every primitive laid out on the
   baseline, with the writer's own idiosyncratic deformation of each letter, the flourish and the pen lifts;
2. per-sample natural variation scaled by ``variation``: letter spacing and size drift, via-point noise,
   a smooth shape field, small affine jitter of slant, rotation and aspect;
3. centripetal Catmull-Rom interpolation between via-points (split at cusps, where the pen reverses);
4. pen dynamics: speed from curvature (the 2/3 power law), thinner where fast and tapered at the ends of
   fast strokes; tremor, blunt endings and slow uniform pressure for a forger;
5. antialiased drawing at 3x with variable-width polylines, downscaled with ``INTER_AREA``.

The output is an ink-coverage map, ``float32`` in ``[0, 1]`` (1 = ink), ``height_px`` rows and as wide as the
ink needs, with a small margin.  Everything is drawn from the ``rng`` given, so a seed gives the same image.

Coordinates inside this module are in x-height units, y up, baseline at 0; they are flipped and scaled to
pixels only when drawn.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["WriterStyle", "random_style", "forgery_of", "render_signature", "random_signature",
           "LOWERCASE", "CAPITALS"]

C = True  # marks a cusp: the pen stops and reverses there, the spline is split

# Cursive lowercase letters: (advance width, via-points of the pen-down path, extra strokes drawn after the
# word - i dots, t bars).  Each path starts where the joining stroke from the previous letter arrives and
# ends on the exit stroke; a point with a third item True is a cusp.
LOWERCASE: dict[str, tuple[float, list, list]] = {
    "a": (0.95, [(0.62, 0.82), (0.35, 0.97), (0.08, 0.6), (0.2, 0.03), (0.5, 0.25), (0.66, 0.95, C),
                 (0.63, 0.2), (0.76, 0.0), (0.95, 0.18)], []),
    "b": (0.8, [(0.3, 1.3), (0.45, 2.2), (0.32, 2.45), (0.16, 2.1), (0.18, 1.0), (0.2, 0.1), (0.4, 0.0),
                (0.6, 0.45), (0.55, 0.85), (0.42, 0.78), (0.8, 0.8)], []),
    "c": (0.75, [(0.5, 0.82), (0.42, 0.95), (0.18, 0.8), (0.06, 0.35), (0.25, 0.0), (0.5, 0.05),
                 (0.75, 0.22)], []),
    "d": (1.0, [(0.62, 0.82), (0.35, 0.97), (0.08, 0.6), (0.22, 0.02), (0.52, 0.28), (0.66, 1.2),
                (0.74, 2.05, C), (0.67, 1.0), (0.65, 0.2), (0.78, 0.0), (1.0, 0.2)], []),
    "e": (0.72, [(0.42, 0.52), (0.5, 0.82), (0.32, 0.93), (0.12, 0.55), (0.18, 0.1), (0.4, 0.0),
                 (0.72, 0.2)], []),
    "f": (0.6, [(0.32, 1.3), (0.48, 2.2), (0.34, 2.45), (0.18, 2.1), (0.2, 0.0), (0.18, -1.1), (0.08, -1.3),
                (0.02, -1.0), (0.3, -0.1), (0.6, 0.2)], []),
    "g": (0.95, [(0.62, 0.82), (0.35, 0.97), (0.08, 0.6), (0.2, 0.03), (0.52, 0.3), (0.66, 0.93, C),
                 (0.62, -0.3), (0.5, -1.15), (0.25, -1.35), (0.12, -1.05), (0.45, -0.4), (0.95, 0.15)], []),
    "h": (1.05, [(0.3, 1.3), (0.45, 2.2), (0.32, 2.45), (0.16, 2.1), (0.18, 1.0), (0.2, 0.0, C), (0.34, 0.6),
                 (0.55, 0.93), (0.72, 0.6), (0.7, 0.15), (0.82, 0.0), (1.05, 0.2)], []),
    "i": (0.5, [(0.25, 0.9, C), (0.22, 0.15), (0.35, 0.0), (0.5, 0.17)], [[(0.27, 1.45), (0.31, 1.52)]]),
    "j": (0.6, [(0.3, 0.9, C), (0.28, -0.3), (0.2, -1.15), (0.0, -1.3), (-0.08, -1.05), (0.2, -0.4),
                (0.6, 0.15)], [[(0.32, 1.45), (0.36, 1.52)]]),
    "k": (1.0, [(0.3, 1.3), (0.45, 2.2), (0.32, 2.45), (0.16, 2.1), (0.18, 1.0), (0.2, 0.0, C), (0.34, 0.6),
                (0.58, 0.92), (0.62, 0.62), (0.36, 0.45, C), (0.6, 0.2), (0.78, 0.0), (1.0, 0.2)], []),
    "l": (0.6, [(0.3, 1.3), (0.45, 2.2), (0.32, 2.45), (0.16, 2.1), (0.18, 1.0), (0.2, 0.15), (0.34, 0.0),
                (0.6, 0.2)], []),
    "m": (1.35, [(0.12, 0.72), (0.25, 0.92), (0.3, 0.5), (0.27, 0.0, C), (0.38, 0.6), (0.52, 0.92),
                 (0.64, 0.5), (0.62, 0.0, C), (0.75, 0.6), (0.9, 0.92), (1.03, 0.6), (1.02, 0.15),
                 (1.13, 0.0), (1.35, 0.2)], []),
    "n": (1.0, [(0.12, 0.72), (0.27, 0.92), (0.33, 0.5), (0.3, 0.0, C), (0.43, 0.6), (0.6, 0.92),
                (0.73, 0.6), (0.71, 0.15), (0.82, 0.0), (1.0, 0.2)], []),
    "o": (0.85, [(0.6, 0.85), (0.35, 0.97), (0.08, 0.6), (0.2, 0.03), (0.55, 0.25), (0.6, 0.85),
                 (0.45, 0.86), (0.62, 0.8), (0.85, 0.82)], []),
    "p": (1.0, [(0.2, 0.95, C), (0.18, -1.2, C), (0.2, 0.4), (0.45, 0.9), (0.72, 0.6), (0.55, 0.05),
                (0.25, 0.15, C), (0.6, 0.05), (1.0, 0.2)], []),
    "r": (0.75, [(0.22, 0.92, C), (0.36, 0.78), (0.5, 0.88, C), (0.48, 0.2), (0.58, 0.0), (0.75, 0.18)], []),
    "s": (0.7, [(0.3, 0.98, C), (0.52, 0.4), (0.35, 0.0), (0.12, 0.14, C), (0.4, 0.06), (0.7, 0.2)], []),
    "t": (0.6, [(0.32, 1.75, C), (0.25, 0.2), (0.38, 0.0), (0.6, 0.2)], [[(0.0, 1.1), (0.65, 1.18)]]),
    "u": (1.0, [(0.2, 0.9, C), (0.18, 0.2), (0.32, 0.0), (0.55, 0.25), (0.68, 0.9, C), (0.66, 0.2),
                (0.78, 0.0), (1.0, 0.2)], []),
    "v": (0.85, [(0.15, 0.72), (0.28, 0.9), (0.3, 0.5), (0.42, 0.02, C), (0.58, 0.55), (0.72, 0.9),
                 (0.6, 0.85), (0.85, 0.8)], []),
    "w": (1.2, [(0.2, 0.9, C), (0.18, 0.2), (0.32, 0.0), (0.52, 0.3), (0.6, 0.9, C), (0.58, 0.2), (0.72, 0.0),
                (0.95, 0.4), (0.98, 0.9), (0.85, 0.82), (1.2, 0.82)], []),
    "y": (1.0, [(0.2, 0.9, C), (0.18, 0.2), (0.32, 0.0), (0.55, 0.25), (0.68, 0.9, C), (0.64, -0.3),
                (0.52, -1.15), (0.28, -1.35), (0.15, -1.05), (0.5, -0.4), (1.0, 0.15)], []),
    "z": (0.8, [(0.15, 0.8), (0.4, 0.95), (0.55, 0.75), (0.3, 0.35, C), (0.5, 0.2), (0.45, -0.4),
                (0.25, -1.0), (0.1, -0.8), (0.4, -0.2), (0.8, 0.15)], []),
}

# Cursive capitals: (advance width, strokes, joins the next letter).  Each stroke is a list of via-points;
# the last stroke runs on into the following letters when the capital joins.
CAPITALS: dict[str, tuple[float, list, bool]] = {
    "A": (1.5, [[(1.1, 2.0), (0.7, 2.35), (0.15, 1.5), (0.1, 0.3), (0.5, 0.02), (0.95, 0.8), (1.18, 2.35, C),
                 (1.12, 0.3), (1.25, 0.0), (1.5, 0.2)]], True),
    "B": (1.35, [[(0.35, 2.45, C), (0.25, 0.0, C), (0.35, 1.5), (0.7, 2.45), (1.1, 2.1), (0.6, 1.3, C),
                  (1.2, 0.8), (0.8, 0.02), (0.25, 0.25), (0.7, 0.35), (1.35, 0.3)]], True),
    "C": (1.25, [[(0.95, 1.95), (0.95, 2.35), (0.5, 2.3), (0.1, 1.4), (0.2, 0.2), (0.7, 0.0), (1.25, 0.3)]],
          True),
    "D": (1.5, [[(0.55, 2.35, C), (0.45, 0.35), (0.25, 0.0), (0.05, 0.2), (0.4, 0.3), (1.1, 0.35), (1.45, 1.4),
                 (1.0, 2.4), (0.3, 2.3), (0.05, 1.9)]], False),
    "E": (1.3, [[(1.0, 2.1), (0.75, 2.45), (0.35, 2.2), (0.45, 1.5), (0.72, 1.35), (0.5, 1.32), (0.15, 1.0),
                 (0.2, 0.2), (0.7, 0.0), (1.3, 0.3)]], True),
    "F": (1.4, [[(0.0, 2.0), (0.35, 2.35), (0.85, 2.2), (1.4, 2.45)],
                [(0.85, 2.3), (0.72, 0.6), (0.45, 0.0), (0.12, 0.2)], [(0.45, 1.25), (1.05, 1.35)]], False),
    "G": (1.3, [[(0.95, 1.95), (0.9, 2.35), (0.45, 2.25), (0.08, 1.3), (0.25, 0.1), (0.75, 0.1),
                 (1.0, 0.9, C), (0.95, -0.4), (0.8, -1.2), (0.5, -1.3), (0.45, -1.0), (0.85, -0.3),
                 (1.3, 0.15)]], True),
    "H": (1.5, [[(0.0, 1.9), (0.3, 2.4), (0.35, 1.2), (0.25, 0.0)],
                [(1.15, 2.4, C), (1.05, 0.0, C), (1.08, 1.1), (0.6, 1.2), (0.35, 1.05), (0.9, 0.95),
                 (1.25, 0.15), (1.5, 0.2)]], True),
    "I": (1.1, [[(0.75, 1.0), (0.3, 0.9), (0.5, 1.5), (1.0, 2.4), (0.8, 2.45), (0.6, 1.6), (0.4, 0.2),
                 (0.1, 0.0), (0.0, 0.3)]], False),
    "J": (1.3, [[(0.3, 1.7), (0.9, 2.45), (1.2, 2.3), (0.95, 1.2), (0.6, -0.3), (0.3, -1.2), (0.0, -1.25),
                 (0.05, -0.8), (0.6, -0.2), (1.3, 0.3)]], True),
    "K": (1.5, [[(0.35, 2.4, C), (0.22, 0.0)],
                [(1.25, 2.3), (0.65, 1.3), (0.38, 1.1), (0.62, 1.05), (1.0, 0.2), (1.3, 0.0), (1.5, 0.2)]], True),
    "L": (1.45, [[(0.7, 1.6), (1.1, 2.3), (0.92, 2.47), (0.62, 2.0), (0.42, 0.7), (0.15, 0.0), (0.0, 0.25),
                  (0.3, 0.22), (0.9, 0.0), (1.45, 0.2)]], True),
    "M": (1.9, [[(0.05, 1.2), (0.2, 1.8), (0.4, 2.35), (0.52, 1.5), (0.47, 0.0, C), (0.7, 1.8), (0.92, 2.3),
                 (1.03, 1.5), (0.98, 0.0, C), (1.2, 1.5), (1.36, 1.95), (1.5, 1.2), (1.48, 0.2), (1.62, 0.0),
                 (1.9, 0.2)]], True),
    "N": (1.5, [[(0.05, 1.2), (0.2, 1.8), (0.4, 2.35), (0.52, 1.5), (0.47, 0.0, C), (0.72, 1.6), (0.9, 2.1),
                 (1.02, 1.3), (1.0, 0.2), (1.15, 0.0), (1.5, 0.2)]], True),
    "P": (1.3, [[(0.38, 2.35, C), (0.3, 0.0, C), (0.36, 1.6), (0.72, 2.45), (1.18, 2.1), (0.92, 1.4),
                 (0.3, 1.2)]], False),
    "R": (1.5, [[(0.38, 2.35, C), (0.3, 0.0, C), (0.36, 1.6), (0.72, 2.45), (1.18, 2.1), (0.92, 1.4),
                 (0.35, 1.2, C), (0.85, 1.0), (1.0, 0.2), (1.2, 0.0), (1.5, 0.2)]], True),
    "S": (1.3, [[(0.0, 0.3), (0.5, 1.2), (1.15, 2.3), (0.92, 2.47), (0.62, 2.0), (0.95, 1.1), (0.8, 0.2),
                 (0.4, 0.0), (0.15, 0.25), (0.55, 0.32), (1.3, 0.2)]], True),
    "T": (1.5, [[(0.0, 2.0), (0.3, 2.35), (0.8, 2.2), (1.5, 2.45)],
                [(0.85, 2.3), (0.72, 0.6), (0.45, 0.0), (0.12, 0.2)]], False),
    "V": (1.3, [[(0.0, 2.1), (0.25, 2.35), (0.35, 1.4), (0.55, 0.0, C), (0.85, 1.6), (1.3, 2.35),
                 (1.05, 2.3)]], False),
    "W": (1.8, [[(0.0, 2.1), (0.25, 2.35), (0.3, 1.2), (0.45, 0.0, C), (0.8, 1.9, C), (1.0, 0.0, C),
                 (1.35, 1.7), (1.65, 2.35), (1.45, 2.3)]], False),
}

_SYLLABLES = ("an ber bo da de del el en er gen han hof in jan ke la le lin man mar me mi na ne nie ol ro "
              "sen son ter ten van vel win wit ly ra ri so ul us ma ge ka te tie ay ey eld ers ink ard dam "
              "berg mus kens ham ley ton ski nov ova ez uez ic ich ner stein aal oor ijk ijn").split()
_FLOURISHES = ("none", "underline", "tail", "return", "paraph", "slash", "encircle")


@dataclass(frozen=True)
class WriterStyle:
    """The persistent traits of one writer; every field is hashable, so a style can key a cache.

    ``pieces`` is the name: each piece is written without lifting the pen (except for the dots and bars
    added after it and for the lifts ``connectedness`` puts in); a piece is a tuple of primitive keys:
    ``LOWERCASE`` letters, ``CAPITALS`` (upper case keys), ``"."`` (a full stop after an initial) and
    ``"~"`` (an illegible garland of humps).  ``shape_seed`` fixes the layout (flourish geometry, where
    the pen lifts, the scribbled humps), ``hand_seed`` the writer's own deformation of each primitive and
    ``idiosyncrasy`` its size.  Angles are in degrees, lengths in x-height units unless noted.
    The last five fields describe the pen dynamics, and are what :func:`forgery_of` changes the most.
    """

    pieces: tuple[tuple[str, ...], ...]
    shape_seed: int                  # layout decisions: flourish geometry, pen lifts, scribbled humps
    hand_seed: int = 0               # the hand's own deformation of every primitive
    idiosyncrasy: float = 0.08
    legibility: float = 1.0          # 1: letters as taught; 0: flattened, narrow, wavy
    slant_deg: float = 12.0          # positive leans right
    baseline_deg: float = 2.0        # rising baseline
    baseline_curve: float = 0.0      # arch (+) or sag (-) over the name
    ascender_ratio: float = 1.0      # height of ascenders/capitals above the x-height, relative
    descender_ratio: float = 1.0
    capital_scale: float = 1.2
    letter_width: float = 1.0
    letter_spacing: float = 0.05
    word_gap: float = 0.9
    trail_off: float = 0.0           # how much the letters shrink and flatten towards the end of a piece
    connectedness: float = 0.95      # chance the pen stays down between two letters of a piece
    capital_loop: bool = False       # big entry loop on the first capital
    dots: bool = True                # i/j dots and t bars written
    flourish: str = "underline"
    flourish_size: float = 1.0
    flourish_angle_deg: float = 0.0
    stroke_width: float = 0.022      # pen width as a fraction of the image height
    pressure_var: float = 0.35       # how much faster strokes thin out
    variability: float = 1.0         # how much this writer's signatures vary (multiplies ``variation``)
    speed: float = 1.0               # 1: fluent, tapered fast ends; lower: slow, uniform, deliberate
    tremor: float = 0.0              # tremor amplitude, fraction of the image height
    blunt_ends: bool = False         # strokes start and stop with the pen at rest (a forger's hallmark)
    hesitation: float = 0.0          # chance of an unplanned pen lift per letter

    def __post_init__(self):
        if self.flourish not in _FLOURISHES:
            raise ValueError(f"unknown flourish {self.flourish!r}; one of {_FLOURISHES}")
        known = set(LOWERCASE) | set(CAPITALS) | {".", "~"}
        for piece in self.pieces:
            for key in piece:
                if key not in known:
                    raise ValueError(f"unknown primitive {key!r}")
        if not any(k != "." for piece in self.pieces for k in piece):
            raise ValueError("a style needs at least one letter primitive")

    @property
    def n_primitives(self) -> int:
        return sum(len(p) for p in self.pieces)

    @property
    def text(self) -> str:
        return " ".join("".join(p) for p in self.pieces)


# ----------------------------------------------------------------------------------------------- styles
def _pseudo_word(rng: np.random.Generator, lo: int, hi: int) -> tuple[str, ...]:
    n = int(rng.integers(lo, hi + 1))
    word = ""
    while len(word) < n:
        word += _SYLLABLES[int(rng.integers(len(_SYLLABLES)))]
    return tuple(c for c in word[:n] if c in LOWERCASE)


def _capital(rng: np.random.Generator) -> str:
    keys = sorted(CAPITALS)
    return keys[int(rng.integers(len(keys)))]


def random_style(rng: np.random.Generator) -> WriterStyle:
    """A new writer: a pseudo-name in one of four layouts and traits drawn from plausible ranges."""
    layout = rng.choice(["name", "two_names", "initials", "scribble"], p=[0.3, 0.2, 0.25, 0.25])
    legibility = float(rng.uniform(0.65, 1.0))
    if layout == "name":
        pieces = ((_capital(rng),) + _pseudo_word(rng, 3, 9),)
    elif layout == "two_names":
        pieces = ((_capital(rng),) + _pseudo_word(rng, 2, 5), (_capital(rng),) + _pseudo_word(rng, 3, 6))
    elif layout == "initials":
        initials = tuple((_capital(rng), ".") for _ in range(int(rng.integers(1, 3))))
        pieces = initials + ((_capital(rng),) + _pseudo_word(rng, 3, 8),)
    else:
        legibility = float(rng.uniform(0.0, 0.45))
        body = _pseudo_word(rng, 2, 4) + (("~",) if rng.random() < 0.7 else ())
        pieces = ((_capital(rng),) + body,)
        if rng.random() < 0.3:
            pieces = ((_capital(rng), "."),) + pieces
    if layout == "scribble":
        flourish = str(rng.choice(_FLOURISHES[1:], p=[0.2, 0.25, 0.2, 0.1, 0.2, 0.05]))
    else:
        flourish = str(rng.choice(_FLOURISHES, p=[0.3, 0.25, 0.15, 0.1, 0.08, 0.07, 0.05]))
    return WriterStyle(
        pieces=pieces,
        shape_seed=int(rng.integers(2**31)),
        hand_seed=int(rng.integers(2**31)),
        idiosyncrasy=float(rng.uniform(0.03, 0.08)),
        legibility=legibility,
        slant_deg=float(np.clip(rng.normal(14, 10), -12, 38)),
        baseline_deg=float(rng.normal(3, 4)),
        baseline_curve=float(rng.normal(0, 0.15)),
        ascender_ratio=float(rng.uniform(0.7, 1.35)),
        descender_ratio=float(rng.uniform(0.7, 1.3)),
        capital_scale=float(rng.uniform(0.75, 1.25)),
        letter_width=float(rng.uniform(0.85, 1.35)),
        letter_spacing=float(rng.uniform(-0.05, 0.25)),
        word_gap=float(rng.uniform(0.5, 1.4)),
        trail_off=float(rng.choice([0.0, rng.uniform(0.1, 0.5)], p=[0.5, 0.5])),
        connectedness=float(rng.choice([rng.uniform(0.55, 0.85), rng.uniform(0.9, 1.0)], p=[0.25, 0.75])),
        capital_loop=bool(rng.random() < 0.35),
        dots=bool(rng.random() < 0.7),
        flourish=flourish,
        flourish_size=float(rng.uniform(0.7, 1.3)),
        flourish_angle_deg=float(rng.normal(0, 6)),
        stroke_width=float(rng.uniform(0.013, 0.028)),
        pressure_var=float(rng.uniform(0.15, 0.5)),
        variability=float(rng.uniform(0.7, 1.3)),
        speed=float(rng.uniform(0.75, 1.0)),
        tremor=float(rng.choice([0.0, rng.uniform(0.0, 0.002)], p=[0.8, 0.2])),
    )


def forgery_of(style: WriterStyle, rng: np.random.Generator) -> WriterStyle:
    """A skilled forger's idea of ``style``: same name, layout and flourish, altered proportions, drawn
    slowly and deliberately (tremor, blunt stroke ends, uniform pressure, hesitation lifts)."""
    def scaled(value, sigma, lo, hi):
        factor = math.exp(rng.normal(0, sigma))
        factor = factor if abs(math.log(factor)) > sigma / 3 else math.exp(math.copysign(sigma / 3, rng.normal()))
        return float(np.clip(value * factor, lo, hi))

    return dataclasses.replace(
        style,
        # the forger copies the overall shape, not the writer's motor habits: a different hand deforms
        # the letters its own way
        hand_seed=int(rng.integers(2**31)),
        idiosyncrasy=float(rng.uniform(0.04, 0.1)),
        slant_deg=float(style.slant_deg + rng.choice([-1, 1]) * rng.uniform(3, 8)),
        baseline_deg=float(style.baseline_deg + rng.normal(0, 2.5)),
        baseline_curve=float(style.baseline_curve + rng.normal(0, 0.08)),
        ascender_ratio=scaled(style.ascender_ratio, 0.15, 0.55, 1.6),
        descender_ratio=scaled(style.descender_ratio, 0.15, 0.55, 1.5),
        capital_scale=scaled(style.capital_scale, 0.15, 0.8, 1.8),
        letter_width=scaled(style.letter_width, 0.15, 0.6, 1.5),
        letter_spacing=float(style.letter_spacing + rng.normal(0, 0.08)),
        word_gap=scaled(style.word_gap, 0.2, 0.35, 1.8),
        connectedness=float(min(style.connectedness, rng.uniform(0.6, 0.95))),
        flourish_size=scaled(style.flourish_size, 0.2, 0.5, 1.5),
        flourish_angle_deg=float(style.flourish_angle_deg + rng.normal(0, 5)),
        stroke_width=scaled(style.stroke_width, 0.15, 0.012, 0.035),
        pressure_var=float(rng.uniform(0.0, 0.12)),
        variability=float(style.variability * rng.uniform(0.8, 1.2)),
        speed=float(rng.uniform(0.25, 0.5)),
        tremor=float(rng.uniform(0.0015, 0.004)),
        blunt_ends=True,
        hesitation=float(rng.uniform(0.05, 0.2)),
    )


# ----------------------------------------------------------------------------------------- motor program
@dataclass
class _Stroke:
    pts: np.ndarray        # (n, 2) via-points
    cusp: np.ndarray       # (n,) bool
    group: np.ndarray      # (n,) int: the primitive each via-point belongs to (for per-letter jitter)
    kind: str              # "main", "dot", "flourish"


def _garland(rng: np.random.Generator, legibility: float) -> tuple[float, list]:
    """An illegible run of humps that shrink and flatten: the lazy end of a scribbled signature."""
    n = int(rng.integers(3, 7))
    pts, x = [], 0.0
    for k in range(n):
        amp = (0.95 - 0.5 * k / n) * rng.uniform(0.6, 1.1)
        wid = rng.uniform(0.3, 0.55)
        if rng.random() < 0.5:   # arcade (n-like)
            pts += [(x + 0.2 * wid, amp), (x + 0.55 * wid, 0.0, C)]
        else:                    # garland (u-like)
            pts += [(x + 0.1 * wid, amp, C), (x + 0.5 * wid, 0.02)]
        x += wid
    pts.append((x + 0.3, 0.25 + 0.2 * legibility))
    return x + 0.3, pts


def _entry_loop(p0: np.ndarray, size: float) -> list:
    """A big loop drawn before the first capital, ending where the capital starts."""
    cx, cy = p0[0] - 0.55 * size, p0[1] - 0.15 * size
    rx, ry = 0.75 * size, 0.5 * size
    angles = np.radians([-35.0, -100.0, -165.0, 140.0, 75.0, 20.0])
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in angles]


@functools.lru_cache(maxsize=4096)
def _motor_program(style: WriterStyle) -> tuple[list[_Stroke], tuple[float, float, float, float], int]:
    """Via-points of every stroke of ``style`` before any per-sample variation, plus the name's box
    ``(x0, x1, y0, y1)`` (without the flourish) and the number of primitive groups."""
    srng = np.random.default_rng(style.shape_seed)
    hrng = np.random.default_rng([style.shape_seed, style.hand_seed])
    leg = style.legibility
    strokes: list[_Stroke] = []
    extras: list[tuple[list, int]] = []
    group = 0
    x = 0.0
    cur: list = []          # via-points of the pen-down stroke being built
    cur_groups: list[int] = []

    def flush(kind="main"):
        nonlocal cur, cur_groups
        if len(cur) >= 2:
            pts = np.array([(p[0], p[1]) for p in cur], float)
            cusp = np.array([len(p) > 2 and bool(p[2]) for p in cur], bool)
            strokes.append(_Stroke(pts, cusp, np.array(cur_groups), kind))
        cur, cur_groups = [], []

    def deform(pts: list, scale: float) -> list:
        """The writer's own version of a primitive: fixed per-point offsets."""
        out = []
        for p in pts:
            d = hrng.normal(0, scale, 2)
            out.append((p[0] + d[0], p[1] + d[1]) + tuple(p[2:]))
        return out

    def ydist(y: float, tall: float) -> float:
        """Stretch ascenders/descenders; flatten everything for illegible writers."""
        if y > 1.0:
            y = 1.0 + (y - 1.0) * tall
        elif y < 0.0:
            y = y * style.descender_ratio * (0.6 + 0.4 * leg)
        return y

    first_capital = True
    for wi, piece in enumerate(style.pieces):
        if wi:
            flush()
            x += style.word_gap
        n_low = sum(1 for k in piece if k in LOWERCASE or k == "~")
        k_low = 0
        for ki, key in enumerate(piece):
            idio = style.idiosyncrasy * (1.0 + 0.8 * (1.0 - leg))
            if key == ".":
                flush()
                pts = [(x + 0.1, 0.02), (x + 0.16, 0.07)]
                strokes.append(_Stroke(np.array(pts), np.zeros(2, bool), np.array([group, group]), "dot"))
                group += 1
                x += 0.45
                continue
            if key in CAPITALS:
                width, cstrokes, joins = CAPITALS[key]
                sc = style.capital_scale
                wsc = sc * (0.8 + 0.2 * style.letter_width)
                tall = style.ascender_ratio * (0.75 + 0.25 * leg)
                mapped = []
                for s in cstrokes:
                    mapped.append([(x + p[0] * wsc, ydist(p[1] * sc, tall)) + tuple(p[2:]) for p in s])
                mapped = [deform(s, idio * 1.3) for s in mapped]
                if first_capital and style.capital_loop:
                    p0 = np.array(mapped[0][0][:2])
                    mapped[0] = _entry_loop(p0, srng.uniform(0.8, 1.3) * sc) + mapped[0]
                first_capital = False
                flush()
                for s in mapped[:-1]:
                    cur, cur_groups = list(s), [group] * len(s)
                    flush()
                cur, cur_groups = list(mapped[-1]), [group] * len(mapped[-1])
                nxt = piece[ki + 1] if ki + 1 < len(piece) else None
                if not joins or nxt == "." or nxt is None:
                    flush()
                x += width * wsc + style.letter_spacing
                group += 1
                continue
            if key == "~":
                width, pts = _garland(srng, leg)
                extra = []
            else:
                width, pts, extra = LOWERCASE[key]
            fade = 1.0 - style.trail_off * k_low / max(n_low - 1, 1)
            k_low += 1
            wsc = style.letter_width * (0.75 + 0.25 * leg) * (0.5 + 0.5 * fade)
            ysc = (0.7 + 0.3 * leg + (1 - leg) * srng.uniform(-0.25, 0.25)) * fade
            mapped = [(x + p[0] * wsc, ydist(p[1], style.ascender_ratio) * ysc) + tuple(p[2:]) for p in pts]
            mapped = deform(mapped, idio)
            lift = srng.random() > style.connectedness   # drawn for every letter: keeps the layout stream aligned
            if not cur:  # word-initial or after a lift: lead-in upstroke from the baseline
                mapped = [(mapped[0][0] - 0.3 * wsc, min(0.1, mapped[0][1]))] + mapped
            elif lift:
                flush()
                mapped = [(mapped[0][0] - 0.15, min(0.15, mapped[0][1]))] + mapped
            cur += mapped
            cur_groups += [group] * len(mapped)
            if style.dots:
                for e in extra:
                    extras.append(([(x + p[0] * wsc, ydist(p[1], style.ascender_ratio) * ysc)
                                    for p in e], group))
            x += width * wsc + style.letter_spacing
            group += 1
        flush()

    allpts = np.concatenate([s.pts for s in strokes])
    box = (float(allpts[:, 0].min()), float(allpts[:, 0].max()),
           float(allpts[:, 1].min()), float(allpts[:, 1].max()))
    for pts, g in extras:
        pts = np.array(pts, float)
        strokes.append(_Stroke(pts, np.zeros(len(pts), bool), np.full(len(pts), g), "dot"))

    fl = _flourish(style, srng, strokes, box)
    if fl is not None:
        strokes.append(_Stroke(fl[0], fl[1], np.full(len(fl[0]), group), "flourish"))
    group += 1
    return strokes, box, group


def _flourish(style: WriterStyle, srng, strokes: list[_Stroke], box) -> tuple[np.ndarray, np.ndarray] | None:
    """The final flourish; ``tail``/``return``/``paraph`` run on from the last letter."""
    x0, x1, y0, y1 = box
    w = x1 - x0
    s = style.flourish_size
    kind = style.flourish
    ang = math.radians(style.flourish_angle_deg)
    if kind == "none":
        return None
    mains = [st for st in strokes if st.kind == "main"]
    if not mains:
        return None
    last = mains[-1]
    ex, ey = last.pts[-1]
    ybot = min(y0, -0.3) - 0.25
    if kind == "underline":
        a = x0 + srng.uniform(-0.1, 0.3) * w
        b = x1 + srng.uniform(-0.2, 0.15) * w * s
        sag = srng.uniform(-0.25, 0.2)
        pts = [(a, ybot), (0.5 * (a + b), ybot + sag), (b, ybot + (b - a) * math.tan(ang) * 0.3 + 0.1)]
        if srng.random() < 0.4:  # starts with a small hook
            pts = [(a - 0.1, ybot + 0.35)] + pts
        cusp = [False] * len(pts)
        return np.array(pts), np.array(cusp)
    if kind == "encircle":
        cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        rx, ry = 0.55 * w + 0.3, 0.55 * (y1 - y0) + 0.2
        t = np.linspace(-0.2, 2 * np.pi + 0.5, 14)
        pts = np.stack([cx + rx * np.cos(t) * (1 + 0.04 * t), cy + ry * np.sin(t) + 0.1 * t], 1)
        return pts, np.zeros(len(pts), bool)
    if kind == "slash":
        a = (x0 + srng.uniform(-0.15, 0.2) * w, ybot - 0.2 * s)
        b = (x1 + srng.uniform(0.0, 0.3) * w * s, y1 + srng.uniform(0.0, 0.6) * s)
        mid = (0.5 * (a[0] + b[0]) + 0.2, 0.5 * (a[1] + b[1]) - srng.uniform(0.1, 0.5))
        return np.array([a, mid, b]), np.zeros(3, bool)
    # the connected ones: continue the last stroke of the name
    if kind == "tail":
        up = math.tan(ang + math.radians(srng.uniform(-10, 35)))
        L = (1.5 + 0.25 * w) * s
        pts = [(ex + 0.4, ey + 0.1), (ex + 0.5 * L, ey + 0.5 * L * up + 0.15), (ex + L, ey + L * up)]
        if srng.random() < 0.5:  # a loop before the tail
            pts = [(ex + 0.35, ey + 0.9), (ex + 0.1, ey + 0.6), (ex + 0.3, ey - 0.2)] + pts
    elif kind == "return":
        L = w * srng.uniform(0.6, 1.05) * s
        pts = [(ex + 0.35, ey + 0.3), (ex + 0.55, ey - 0.3), (ex + 0.2, ybot - 0.1),
               (ex - 0.45 * L, ybot - 0.2 + 0.3 * math.sin(ang)), (ex - L, ybot + 0.15)]
    else:  # paraph: zigzag under the name
        n = int(srng.integers(1, 3))
        pts = [(ex + 0.35, ey + 0.25), (ex + 0.45, ybot + 0.3)]
        xa, xb = x0 + srng.uniform(0.05, 0.3) * w, ex + 0.3
        for i in range(n):
            yy = ybot - 0.45 * i * s
            pts += [(xa + 0.15 * i * w, yy - 0.05, C), (xb - 0.12 * i * w, yy - 0.3 * s, C)]
        pts[-1] = (xb + 0.8 * s, pts[-1][1] - 0.1)
    cusp = np.array([len(p) > 2 and bool(p[2]) for p in pts], bool)
    pts = np.array([p[:2] for p in pts], float)
    # attach to the last main stroke so that the pen never lifts
    last.pts = np.concatenate([last.pts, pts])
    last.cusp = np.concatenate([last.cusp, cusp])
    last.group = np.concatenate([last.group, np.full(len(pts), last.group[-1] + 10_000)])
    return None


# ---------------------------------------------------------------------------------------------- geometry
def _interpolate(P: np.ndarray, cusp: np.ndarray, step: float) -> np.ndarray:
    """Centripetal Catmull-Rom through the via-points ``P`` (n, 2), sampled about every ``step``.

    The spline restarts at every cusp (the pen stops and reverses there) and at both ends, where the
    missing neighbour is extrapolated; every segment is evaluated in one vectorised pass.
    """
    n = len(P)
    if n == 1:
        return P.copy()
    i = np.arange(n - 1)
    p1, p2 = P[:-1], P[1:]
    starts = (i == 0) | cusp[:-1]
    ends = (i == n - 2) | cusp[1:]
    p0 = np.where(starts[:, None], 2 * p1 - p2, P[np.maximum(i - 1, 0)])
    p3 = np.where(ends[:, None], 2 * p2 - p1, P[np.minimum(i + 2, n - 1)])
    d01 = np.sqrt(np.hypot(*(p1 - p0).T)) + 1e-6
    chord = np.hypot(*(p2 - p1).T)
    d12 = np.sqrt(chord) + 1e-6
    d23 = np.sqrt(np.hypot(*(p3 - p2).T)) + 1e-6
    t1, t2, t3 = d01, d01 + d12, d01 + d12 + d23
    counts = np.maximum(2, np.ceil(chord * 1.3 / step).astype(int))
    seg = np.repeat(i, counts)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    u = (np.arange(len(seg)) - start) / np.repeat(counts, counts)
    T1, T2, T3 = t1[seg, None], t2[seg, None], t3[seg, None]
    t = T1 + u[:, None] * (T2 - T1)
    q0, q1, q2, q3 = p0[seg], p1[seg], p2[seg], p3[seg]
    a1 = (T1 - t) / T1 * q0 + t / T1 * q1
    a2 = (T2 - t) / (T2 - T1) * q1 + (t - T1) / (T2 - T1) * q2
    a3 = (T3 - t) / (T3 - T2) * q2 + (t - T2) / (T3 - T2) * q3
    b1 = (T2 - t) / T2 * a1 + t / T2 * a2
    b2 = (T3 - t) / (T3 - T1) * a2 + (t - T1) / (T3 - T1) * a3
    c = (T2 - t) / (T2 - T1) * b1 + (t - T1) / (T2 - T1) * b2
    return np.concatenate([c, P[-1:]])


def _smooth(v: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or len(v) < 3:
        return v
    k = min(k, len(v) if len(v) % 2 else len(v) - 1)
    kernel = np.hanning(k + 2)[1:-1]
    kernel /= kernel.sum()
    pad = k // 2
    return np.convolve(np.pad(v, pad, mode="edge"), kernel, mode="valid")[: len(v)]


def _band_noise(rng: np.random.Generator, s: np.ndarray, wavelength: float, n: int = 4) -> np.ndarray:
    """Smooth random function of arclength ``s``: a few sinusoids around ``wavelength``, unit RMS-ish."""
    out = np.zeros_like(s)
    for _ in range(n):
        f = 2 * np.pi / (wavelength * rng.uniform(0.6, 1.6))
        out += np.sin(f * s + rng.uniform(0, 2 * np.pi))
    return out * math.sqrt(2.0 / n)


# ------------------------------------------------------------------------------------------------ render
_SUPER = 3  # supersampling factor for antialiasing
_SHIFT = 3  # sub-pixel bits for cv2 drawing


def render_signature(style: WriterStyle, rng: np.random.Generator, height_px: int = 120,
                     variation: float = 1.0) -> np.ndarray:
    """One signature of ``style``: ``float32`` ink coverage ``(height_px, W)`` in ``[0, 1]`` (1 = ink).

    ``variation`` scales the sample-to-sample variation (0 draws the writer's template itself, with
    only the pen's own dynamics); the width follows the ink.
    """
    if height_px < 8:
        raise ValueError("height_px must be at least 8")
    strokes, box, n_groups = _motor_program(style)
    v = max(0.0, float(variation)) * style.variability
    x0, x1, y0, y1 = box

    # ---- per-sample variation of the via-points
    g_dx = np.cumsum(rng.normal(0, 0.05 * v, n_groups + 1))
    g_dy = rng.normal(0, 0.05 * v, n_groups + 1)
    g_sc = np.exp(rng.normal(0, 0.05 * v, n_groups + 1))
    field = [(rng.uniform(0.3, 1.2), rng.uniform(0, 2 * np.pi), rng.normal(0, 0.05 * v)) for _ in range(4)]
    slant = math.radians(style.slant_deg + rng.normal(0, 2.5 * v))
    rot = math.radians(style.baseline_deg + rng.normal(0, 1.5 * v))
    sx = math.exp(rng.normal(0, 0.05 * v))
    sy = math.exp(rng.normal(0, 0.04 * v))
    curve = style.baseline_curve + rng.normal(0, 0.04 * v)
    xc, w = 0.5 * (x0 + x1), max(x1 - x0, 1.0)
    shear, cr, sr = math.tan(slant), math.cos(rot), math.sin(rot)

    moved = []
    for st in strokes:
        p = st.pts.copy()
        g = np.minimum(st.group, n_groups)   # flourish points continuing a stroke share the last group
        fl = (st.group >= 10_000) | (st.kind == "flourish")
        if fl.any():   # flourishes vary more than letters
            p[fl] += rng.normal(0, 0.1 * v, (int(fl.sum()), 2))
        gx = p[:, 0].copy()
        centre = (np.bincount(g, weights=gx) / np.maximum(np.bincount(g), 1))[g]   # each letter's own
        p[:, 0] = (gx - centre) * g_sc[g] + centre + g_dx[g]
        p[:, 1] = p[:, 1] * g_sc[g] + g_dy[g]
        p += rng.normal(0, 0.025 * v, p.shape)
        for f, ph, a in field:
            p[:, 1] += a * np.sin(f * gx + ph)
            p[:, 0] += 0.6 * a * np.cos(1.3 * f * gx + ph)
        p[:, 1] += curve * (1 - ((gx - xc) / (0.5 * w)) ** 2)
        p[:, 0] += shear * p[:, 1]
        p[:, 0] *= sx
        p[:, 1] *= sy
        p = np.stack([cr * p[:, 0] - sr * p[:, 1], sr * p[:, 0] + cr * p[:, 1]], 1)
        moved.append(p)

    # scale from x-height units to output pixels (from the via-points; refined after the spline)
    allp = np.concatenate(moved)
    span = max(float(np.ptp(allp[:, 1])), 1.0)
    pen_px = style.stroke_width * height_px
    margin = max(2.0, 0.03 * height_px)
    scale0 = (height_px - 2 * margin - pen_px) / span
    step = 1.5 / scale0   # output pixels between samples: drawing costs per vertex

    # ---- splines and pen dynamics
    paths, widths = [], []
    hes = style.hesitation
    for st, p in zip(strokes, moved):
        if st.kind == "dot":
            d = p[-1] - p[0]
            n = np.linalg.norm(d)
            least = max(0.06, 0.8 * pen_px / scale0)
            if n < least:
                p = np.stack([p[0], p[0] + (d / n if n > 1e-6 else np.array([0.95, 0.3])) * least])
        dense = _interpolate(p, st.cusp, step)
        if len(dense) < 2:
            continue
        seg = np.linalg.norm(np.diff(dense, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        total = s[-1]
        if style.tremor > 0 and total > 0:
            amp = style.tremor * height_px / scale0
            tang = np.gradient(dense, axis=0)
            tang /= np.linalg.norm(tang, axis=1, keepdims=True) + 1e-12
            normal = np.stack([-tang[:, 1], tang[:, 0]], 1)
            wob = _band_noise(rng, s, 0.05 * height_px / scale0) + 0.5 * _band_noise(rng, s, 0.12 * height_px / scale0)
            dense = dense + normal * (amp * wob)[:, None]
        # speed from curvature (two-thirds power law), smoothed
        d1 = np.gradient(dense, axis=0)
        d2 = np.gradient(d1, axis=0)
        num = np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0])
        den = (np.einsum("ij,ij->i", d1, d1) + 1e-12) ** 1.5
        kappa = _smooth(num / den, max(3, int(0.25 / step)) | 1)
        speed = (kappa + 0.3) ** (-1.0 / 3.0)
        speed /= np.median(speed) + 1e-9
        pv = style.pressure_var * style.speed
        wfac = np.clip(1.0 - pv * (speed - 1.0), 0.45, 1.35)
        if st.kind != "dot":
            if style.blunt_ends:
                taper_in = np.minimum(1.0, 0.85 + 0.15 * s / 0.05)
                taper_out = np.ones_like(s)
                blob = np.exp(-((total - s) / 0.06) ** 2) * 0.25 + np.exp(-(s / 0.06) ** 2) * 0.2
                wfac = wfac * taper_in + blob
            else:
                lin = 0.12 + 0.2 * style.speed
                lout = (0.25 if st.kind == "main" else 0.9) * style.speed * rng.uniform(0.7, 1.3)
                taper_in = np.minimum(1.0, 0.5 + 0.5 * s / lin)
                taper_out = np.minimum(1.0, 0.2 + 0.8 * ((total - s) / max(lout, 1e-3)))
                wfac = wfac * taper_in * taper_out
        wfac = wfac * rng.uniform(0.9, 1.1)
        if hes > 0 and st.kind == "main" and total > 3.0:
            # a forger lifts the pen now and then, leaving a small gap or overlap
            n_lift = rng.binomial(max(1, int(total / 2.0)), hes)
            for cut in rng.uniform(0.1 * total, 0.9 * total, n_lift):
                gap = (s > cut) & (s < cut + rng.uniform(0.0, 0.08))
                wfac = np.where(gap, 0.0, wfac)
        paths.append(dense)
        widths.append(wfac)

    # ---- final placement
    allp = np.concatenate(paths)
    lo, hi = allp.min(0), allp.max(0)
    span_y = max(hi[1] - lo[1], 1e-3)
    scale = (height_px - 2 * margin - pen_px) / span_y
    out_w = int(math.ceil((hi[0] - lo[0]) * scale + 2 * margin + pen_px))
    S = _SUPER
    canvas = np.zeros((height_px * S, out_w * S), np.uint8)
    off = np.array([margin + 0.5 * pen_px, margin + 0.5 * pen_px])
    for dense, wfac in zip(paths, widths):
        xy = (dense - [lo[0], hi[1]]) * [scale, -scale] + off      # y down
        px = np.round(xy * S * (1 << _SHIFT)).astype(np.int32)
        thick = np.where(wfac > 0, np.maximum(1, np.round(wfac * pen_px * S)), 0).astype(int)
        # draw runs of equal thickness as one polyline each
        change = np.flatnonzero(np.diff(thick)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(thick)]])
        for a, b in zip(starts, ends):
            t = int(thick[a])
            if t <= 0:
                continue
            run = px[a:min(b + 1, len(px))]
            if len(run) == 1:
                run = np.concatenate([run, run])
            cv2.polylines(canvas, [run.reshape(-1, 1, 2)], False, 255, t, cv2.LINE_AA, _SHIFT)
    small = cv2.resize(canvas, (out_w, height_px), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) * np.float32(1.0 / 255.0)


def random_signature(rng: np.random.Generator, height_px: int = 120) -> np.ndarray:
    """A signature by a new random writer."""
    return render_signature(random_style(rng), rng, height_px=height_px)
