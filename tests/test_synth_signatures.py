"""Synthetic signatures: output contract, determinism, writer consistency, forgeries, speed."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from stampauth.synth.signatures import (
    CAPITALS,
    LOWERCASE,
    WriterStyle,
    forgery_of,
    random_signature,
    random_style,
    render_signature,
)


def _feature(image: np.ndarray) -> np.ndarray:
    """Coarse, blurred, zero-mean unit-norm ink layout: what a glance at two signatures compares."""
    f = cv2.resize(image, (128, 40), interpolation=cv2.INTER_AREA)
    f = cv2.GaussianBlur(f, (0, 0), 1.5)
    f = f - f.mean()
    return f / (np.linalg.norm(f) + 1e-9)


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float((_feature(a) * _feature(b)).sum())


def _styles(seed: int, n: int) -> list[WriterStyle]:
    rng = np.random.default_rng(seed)
    return [random_style(rng) for _ in range(n)]


@pytest.mark.parametrize("height", [40, 120, 256])
def test_output_is_a_tight_ink_map(height):
    rng = np.random.default_rng(height)
    for _ in range(15):
        img = random_signature(rng, height_px=height)
        assert img.dtype == np.float32 and img.ndim == 2
        assert img.shape[0] == height
        assert 0.0 <= img.min() and img.max() <= 1.0
        assert img.max() > 0.9, "strokes should reach full coverage somewhere"
        assert 0.8 <= img.shape[1] / height <= 9.0, img.shape
        assert 0.02 <= img.mean() <= 0.3, img.mean()
        # tight to the ink with a small margin on every side
        rows = np.flatnonzero(img.max(1) > 0.05)
        cols = np.flatnonzero(img.max(0) > 0.05)
        slack = max(4, int(0.08 * height))
        assert rows[0] <= slack and rows[-1] >= height - 1 - slack
        assert cols[0] <= slack and cols[-1] >= img.shape[1] - 1 - slack


def test_aspect_ratios_are_mostly_signature_like():
    rng = np.random.default_rng(7)
    aspects = np.array([(lambda im: im.shape[1] / im.shape[0])(random_signature(rng)) for _ in range(60)])
    assert 1.8 <= np.median(aspects) <= 4.5
    assert (aspects > 1.5).mean() > 0.75
    assert aspects.std() > 0.4, "widths should vary naturally"


def test_same_seed_same_image_and_different_seed_different_image():
    a = random_signature(np.random.default_rng(42))
    b = random_signature(np.random.default_rng(42))
    c = random_signature(np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)
    style = random_style(np.random.default_rng(5))
    s1 = render_signature(style, np.random.default_rng(9))
    s2 = render_signature(style, np.random.default_rng(9))
    np.testing.assert_array_equal(s1, s2)


def test_random_style_is_deterministic_and_varied():
    assert random_style(np.random.default_rng(3)) == random_style(np.random.default_rng(3))
    styles = _styles(11, 80)
    assert len({s.text for s in styles}) == len(styles)
    assert all(3 <= s.n_primitives <= 14 for s in styles)
    assert len({s.flourish for s in styles}) >= 5
    assert any(len(s.pieces) >= 2 for s in styles) and any(len(s.pieces) == 1 for s in styles)
    assert min(s.legibility for s in styles) < 0.4 < 0.9 < max(s.legibility for s in styles)
    for s in styles:
        for piece in s.pieces:
            assert all(k in LOWERCASE or k in CAPITALS or k in ".~" for k in piece)


def test_same_writer_is_more_alike_than_two_writers():
    rng = np.random.default_rng(2024)
    styles = _styles(1, 12)
    same, diff = [], []
    for i, style in enumerate(styles):
        a, b = render_signature(style, rng), render_signature(style, rng)
        other = render_signature(styles[(i + 1) % len(styles)], rng)
        same.append(_similarity(a, b))
        diff.append(_similarity(a, other))
    same, diff = np.array(same), np.array(diff)
    assert same.mean() > diff.mean() + 0.25, (same.mean(), diff.mean())
    assert (same > diff).mean() >= 0.8


def test_samples_of_a_writer_still_vary_and_variation_scales_it():
    style = random_style(np.random.default_rng(77))
    rng = np.random.default_rng(0)
    a, b = render_signature(style, rng), render_signature(style, rng)
    assert a.shape != b.shape or np.abs(a - b).mean() > 0.01, "two samples must not be copies"
    steady = [_similarity(render_signature(style, rng, variation=0.1), render_signature(style, rng, variation=0.1))
              for _ in range(6)]
    loose = [_similarity(render_signature(style, rng, variation=1.5), render_signature(style, rng, variation=1.5))
             for _ in range(6)]
    assert np.mean(steady) > np.mean(loose) + 0.05


def test_forgery_is_similar_but_further_than_a_genuine_resample():
    rng = np.random.default_rng(99)
    styles = _styles(2, 16)
    genuine, forged, other = [], [], []
    for i, style in enumerate(styles):
        fake = forgery_of(style, rng)
        assert fake.pieces == style.pieces and fake.flourish == style.flourish
        assert fake.tremor > style.tremor and fake.blunt_ends and fake.speed < style.speed
        ref = render_signature(style, rng)
        genuine.append(_similarity(ref, render_signature(style, rng)))
        forged.append(_similarity(ref, render_signature(fake, rng)))
        other.append(_similarity(ref, render_signature(styles[(i + 1) % len(styles)], rng)))
    assert np.mean(forged) < np.mean(genuine) - 0.03, (np.mean(forged), np.mean(genuine))
    assert np.mean(forged) > np.mean(other), "a skilled forgery still resembles the original"


def test_style_is_frozen_and_validated():
    style = random_style(np.random.default_rng(0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        style.slant_deg = 3.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        dataclasses.replace(style, pieces=(("A", "#"),))
    with pytest.raises(ValueError):
        dataclasses.replace(style, flourish="fireworks")
    with pytest.raises(ValueError):
        dataclasses.replace(style, pieces=((),))
    hash(style)


def test_handwritten_style_primitives_render_for_every_letter():
    rng = np.random.default_rng(1)
    base = random_style(rng)
    for key in list(LOWERCASE) + list(CAPITALS) + ["~"]:
        piece = (key, "a", "n") if key in CAPITALS else ("A", key, key)
        img = render_signature(dataclasses.replace(base, pieces=(piece,)), rng)
        assert img.shape[0] == 120 and img.mean() > 0.01, key
