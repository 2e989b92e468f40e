"""Augmentation of grayscale mark crops (``(H, W) uint8``, ink dark on white paper).

Augmentation happens *before* the real preprocessing, so the model learns from what
:func:`stampauth.preprocess.preprocess_mark` makes of messy scans, not from clean canvases.
Every function takes a ``numpy.random.Generator`` so runs are reproducible.
"""

from __future__ import annotations

import cv2
import numpy as np

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,:-/"


def affine(gray: np.ndarray, rng: np.random.Generator, rotation_deg=4.0, shear=0.1, anisotropy=0.04) -> np.ndarray:
    """Rotation, slant (horizontal shear) and a little anisotropic scale; the canvas grows to keep all ink.

    Kept mild on purpose: slant and proportions are exactly what a forger gets wrong, so the
    model must not be taught to ignore them.
    """
    h, w = gray.shape
    angle = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg))
    sx = rng.uniform(0.9, 1.1)
    sy = sx * rng.uniform(1 - anisotropy, 1 + anisotropy)
    k = rng.uniform(-shear, shear)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation @ np.array([[1.0, k], [0.0, 1.0]]) @ np.diag([sx, sy])
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64) @ matrix.T
    low, high = corners.min(axis=0), corners.max(axis=0)
    out_w, out_h = int(np.ceil(high[0] - low[0])) + 2, int(np.ceil(high[1] - low[1])) + 2
    full = np.hstack([matrix, (-low + 1)[:, None]])
    return cv2.warpAffine(gray, full, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=255)


def stroke_width(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thicker (min filter) or thinner (max filter) strokes, as with another pen."""
    kernel = np.ones((2, 2), np.uint8)
    return cv2.erode(gray, kernel) if rng.random() < 0.5 else cv2.dilate(gray, kernel)


def elastic(gray: np.ndarray, rng: np.random.Generator, amplitude=1.5, smoothness=8.0) -> np.ndarray:
    """Smooth random displacement field: the natural wobble between two signings."""
    h, w = gray.shape
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), smoothness)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), smoothness)
    dx *= amplitude / (np.abs(dx).max() + 1e-6)
    dy *= amplitude / (np.abs(dy).max() + 1e-6)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(gray, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=255)


def ink_strength(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fainter or darker ink (pen pressure, scanner exposure)."""
    factor = rng.uniform(0.55, 1.15)
    darkness = (255.0 - gray.astype(np.float32)) * factor
    return np.clip(255.0 - darkness, 0, 255).astype(np.uint8)


def document_background(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paper tone and gradient, a signature line, bits of printed text at the edges."""
    h, w = gray.shape
    paper = np.full((h, w), rng.uniform(215, 255), np.float32)
    gradient = np.linspace(0, rng.uniform(-25, 25), w, dtype=np.float32)[None, :]
    paper = np.clip(paper + gradient, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:  # the line people sign on
        y = int(rng.uniform(0.6, 0.95) * h)
        x0, x1 = int(rng.uniform(0, 0.2) * w), int(rng.uniform(0.8, 1.0) * w)
        cv2.line(paper, (x0, y), (x1, y), int(rng.uniform(40, 140)), int(rng.integers(1, 3)))
    if rng.random() < 0.3:  # printed words creeping in from a border, smaller than the writing
        text = "".join(rng.choice(list(_LETTERS), size=int(rng.integers(3, 10))))
        scale = rng.uniform(0.15, 0.3) * h / 60
        y = int(rng.choice([rng.uniform(0.05, 0.2), rng.uniform(0.85, 1.0)]) * h)
        x = int(rng.uniform(-0.3, 0.6) * w)
        cv2.putText(paper, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, int(rng.uniform(0, 90)), 1, cv2.LINE_AA)
    ink = 255.0 - gray.astype(np.float32)
    return np.clip(paper.astype(np.float32) - ink, 0, 255).astype(np.uint8)


# chance that the scan effects end in fax-like binarisation (what the shipped signature members were trained with)
BINARIZE_SHARE = 0.1


def scan_effects(gray: np.ndarray, rng: np.random.Generator, binarize: float = BINARIZE_SHARE) -> np.ndarray:
    """Blur, low resolution, sensor noise, JPEG artefacts, fax-like binarisation (each sometimes; ``binarize`` is
    the chance of the last)."""
    out = gray
    if rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.1))
    if rng.random() < 0.25:
        h, w = out.shape
        factor = rng.uniform(1.5, 3.0)
        small = cv2.resize(out, (max(8, int(w / factor)), max(8, int(h / factor))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.25:
        noise = rng.normal(0, rng.uniform(2, 12), out.shape)
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 85))])
        if ok:
            out = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if rng.random() < binarize:
        _, out = cv2.threshold(out, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return out


def augment_mark(gray: np.ndarray, rng: np.random.Generator, strength: float = 1.0,
                 binarize: float = BINARIZE_SHARE) -> np.ndarray:
    """The full chain, each stage applied with a probability scaled by ``strength`` (``binarize``: the chance that
    the scan effects, when applied, end in fax-like binarisation)."""
    out = gray
    if rng.random() < 0.9 * strength:
        out = affine(out, rng)
    if rng.random() < 0.2 * strength:
        out = elastic(out, rng)
    if rng.random() < 0.2 * strength:
        out = stroke_width(out, rng)
    if rng.random() < 0.4 * strength:
        out = ink_strength(out, rng)
    if rng.random() < 0.35 * strength:
        out = document_background(out, rng)
    if rng.random() < 0.8 * strength:
        out = scan_effects(out, rng, binarize)
    return out


def imitate(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A synthetic skilled forgery of a genuine mark: the same shape, drawn wrong.

    Changes what forgers get wrong, by more than a writer's own variation: slant, proportions,
    local stroke placement.  Used only as hard negatives of the writer it came from.
    """
    h, w = gray.shape
    changes = rng.permutation(3)[: rng.integers(1, 3)]
    out = gray
    for change in changes:
        if change == 0:  # slant
            k = rng.choice([-1, 1]) * rng.uniform(0.18, 0.35)
            out = cv2.warpAffine(out, np.array([[1, k, max(0.0, -k * h)], [0, 1, 0]], np.float32),
                                 (out.shape[1] + int(abs(k) * h) + 1, out.shape[0]), borderValue=255)
        elif change == 1:  # proportions
            ratio = rng.choice([rng.uniform(0.75, 0.87), rng.uniform(1.15, 1.3)])
            out = cv2.resize(out, (max(8, int(out.shape[1] * ratio)), out.shape[0]), interpolation=cv2.INTER_LINEAR)
        else:  # strokes placed differently here and there
            out = elastic(out, rng, amplitude=rng.uniform(4.0, 7.0), smoothness=rng.uniform(10.0, 16.0))
    return out


def writer_style(rng: np.random.Generator) -> dict:
    """Parameters of a consistent 'new writer' transform, drawn once per writer per batch."""
    return {
        "rotation": rng.uniform(-5, 5),
        "shear": rng.uniform(-0.3, 0.3),
        "aspect": float(np.exp(rng.uniform(np.log(0.8), np.log(1.25)))),
        "stroke": int(rng.choice([-1, 0, 0, 1])),
    }


def apply_writer_style(gray: np.ndarray, style: dict) -> np.ndarray:
    """The same global change (slant, proportions, rotation, pen) applied to every mark of a
    writer turns them into a plausible *other* writer: more identities to learn from, with the
    genuine/forgery relations of the original kept intact."""
    h, w = gray.shape
    angle = np.deg2rad(style["rotation"])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation @ np.array([[1.0, style["shear"]], [0.0, 1.0]]) @ np.diag([style["aspect"], 1.0])
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64) @ matrix.T
    low, high = corners.min(axis=0), corners.max(axis=0)
    size = (int(np.ceil(high[0] - low[0])) + 2, int(np.ceil(high[1] - low[1])) + 2)
    out = cv2.warpAffine(gray, np.hstack([matrix, (-low + 1)[:, None]]), size, flags=cv2.INTER_LINEAR, borderValue=255)
    if style["stroke"] > 0:
        out = cv2.erode(out, np.ones((2, 2), np.uint8))
    elif style["stroke"] < 0:
        out = cv2.dilate(out, np.ones((2, 2), np.uint8))
    return out
