"""Synthetic rubber stamps: designs, impressions and compositing onto pages."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stampauth.synth import fonts, stamps
from stampauth.synth.stamps import StampDesign, composite_ink, random_design, render_stamp


def _designs(n: int, seed: int = 0) -> list[StampDesign]:
    rng = np.random.default_rng(seed)
    return [random_design(rng) for _ in range(n)]


def _centred_iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.3) -> float:
    h, w = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])

    def pad(x):
        out = np.zeros((h, w), bool)
        y0, x0 = (h - x.shape[0]) // 2, (w - x.shape[1]) // 2
        out[y0:y0 + x.shape[0], x0:x0 + x.shape[1]] = x > threshold
        return out

    pa, pb = pad(a), pad(b)
    return float((pa & pb).sum() / max(1, (pa | pb).sum()))


def _ink_box(coverage: np.ndarray, threshold: float = 0.15):
    ys, xs = np.nonzero(coverage > threshold)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def test_random_designs_are_varied_and_well_formed():
    designs = _designs(200)
    assert {d.shape for d in designs} >= {"round", "double_round", "oval", "rectangle", "rounded_rectangle", "triangle"}
    assert {d.kind for d in designs} == set(stamps.KINDS)
    assert len({d.emblem for d in designs}) >= 6
    assert len({d.ink_bgr for d in designs}) > 150  # jittered, not a handful of fixed colours
    for d in designs:
        assert d.shape in stamps.SHAPES and d.emblem in stamps.EMBLEMS
        assert 10 <= d.width_mm <= 100 and 5 <= d.height_mm <= 100
        assert all(0 <= c <= 255 for c in d.ink_bgr) and sum(d.ink_bgr) < 600  # ink, not paper
        assert d.ring_text or d.lines or d.centre_text or d.band_text or d.picture
        hash(d)  # frozen: usable as a cache key / identity of a physical stamp
    seals = [d for d in designs if d.shape in ("round", "double_round")]
    assert any(d.ring_text_bottom for d in seals) and any(not d.ring_text_bottom and d.ring_text for d in seals)
    with pytest.raises(dataclasses.FrozenInstanceError):
        designs[0].width_mm = 1.0


def test_random_design_is_deterministic():
    assert _designs(20, seed=3) == _designs(20, seed=3)
    assert _designs(20, seed=3) != _designs(20, seed=4)


def test_coverage_dtype_range_and_shape():
    for i, design in enumerate(_designs(40)):
        cov = render_stamp(design, np.random.default_rng(i), 200)
        assert cov.dtype == np.float32 and cov.ndim == 2
        assert cov.min() >= 0.0 and cov.max() <= 1.0
        assert np.isfinite(cov).all()
        assert cov.max() > 0.3  # pale impressions (a dry pad) reach only 40-70 % ink
        inked = (cov > 0.3).mean()
        assert 0.01 < inked < 0.6, (design, inked)


@pytest.mark.parametrize("diameter", [40, 120, 300, 900])
def test_size_follows_diameter(diameter):
    for i, design in enumerate(_designs(12, seed=diameter)):
        cov = render_stamp(design, np.random.default_rng(i), diameter)
        assert 0.95 * diameter <= max(cov.shape) <= 1.1 * diameter + 12, (design.shape, cov.shape)
        x0, y0, x1, y1 = _ink_box(cov, 0.05)
        assert max(x1 - x0, y1 - y0) >= 0.75 * diameter, (design.shape, (x0, y0, x1, y1))
        aspect = design.width_mm / design.height_mm
        if design.shape in ("rectangle", "rounded_rectangle", "oval") and design.border_mm and aspect > 1.3:
            assert cov.shape[1] > cov.shape[0]


def test_rotation_turns_the_canvas():
    design = next(d for d in _designs(100) if d.shape == "rectangle" and d.aspect > 1.5)
    flat = render_stamp(design, np.random.default_rng(0), 300)
    upright = render_stamp(design, np.random.default_rng(0), 300, rotation_deg=90)
    assert flat.shape[1] > flat.shape[0] and upright.shape[0] > upright.shape[1]
    assert abs(upright.shape[0] - flat.shape[1]) <= 4


def test_same_seed_same_impression():
    for design in _designs(8, seed=5):
        a = render_stamp(design, np.random.default_rng(42), 250)
        b = render_stamp(design, np.random.default_rng(42), 250)
        c = render_stamp(design, np.random.default_rng(43), 250)
        np.testing.assert_array_equal(a, b)
        assert a.shape == c.shape  # the layout does not depend on the ink
        assert not np.array_equal(a, c)


def test_impressions_of_one_stamp_agree_and_differ_from_other_stamps():
    designs = _designs(41, seed=7)
    same, other = [], []
    for i, design in enumerate(designs[:-1]):
        a = render_stamp(design, np.random.default_rng([i, 1]), 200)
        b = render_stamp(design, np.random.default_rng([i, 2]), 200)
        c = render_stamp(designs[i + 1], np.random.default_rng([i, 2]), 200)
        same.append(_centred_iou(a, b))
        other.append(_centred_iou(a, c))
    same, other = np.array(same), np.array(other)
    assert np.median(same) > 0.65, np.round(same, 2)
    assert np.median(other) < 0.3, np.round(other, 2)
    assert (same > other).mean() >= 0.9
    # two impressions are still two impressions, not copies
    assert (same < 0.99).all()


def test_round_seals_with_different_text_are_distinguishable():
    seals = [d for d in _designs(200, seed=8) if d.shape == "round" and d.ring_text][:4]
    same, other = [], []
    for seal in seals:
        changed = dataclasses.replace(seal, ring_text=seal.ring_text[::-1], seed=seal.seed + 1)
        a = render_stamp(seal, np.random.default_rng(1), 300)
        b = render_stamp(seal, np.random.default_rng(2), 300)
        c = render_stamp(changed, np.random.default_rng(2), 300)
        same.append(_centred_iou(a, b))
        other.append(_centred_iou(a, c))
    assert np.mean(same) > np.mean(other) + 0.1, (same, other)


def test_text_is_actually_drawn():
    seal = next(d for d in _designs(100, seed=9) if d.shape in ("round", "double_round") and d.ring_text)
    bare = dataclasses.replace(seal, ring_text=" " * len(seal.ring_text), ring_text_bottom="")  # same layout, no glyphs
    rng = np.random.default_rng
    with_text = (render_stamp(seal, rng(0), 300) > 0.3).sum()
    without = (render_stamp(bare, rng(0), 300) > 0.3).sum()
    assert with_text > without * 1.15


@pytest.mark.parametrize("emblem", stamps.EMBLEMS)
@pytest.mark.parametrize("shape", stamps.SHAPES)
def test_every_shape_and_emblem_renders(shape, emblem):
    base = StampDesign(
        kind="seal", shape=shape, width_mm=40.0, height_mm=30.0 if shape == "oval" else 40.0,
        ring_text="SOME COMPANY LTD * CITY *", lines=("NO. 123",), emblem=emblem, monogram="AB",
        border_mm=(0.9, 0.3), inner_ring_mm=0.4, dotted_ring=emblem == "sun",
    )
    cov = render_stamp(base, np.random.default_rng(0), 160, rotation_deg=7)
    assert cov.dtype == np.float32 and (cov > 0.3).sum() > 200


def test_composite_box_contains_ink_and_nothing_changes_outside():
    design = _designs(1, seed=11)[0]
    cov = render_stamp(design, np.random.default_rng(0), 180)
    page = np.full((400, 500, 3), 250, np.uint8)
    page[100:300:12, 40:460] = (20, 20, 20)  # lines of "print" under the stamp
    before = page.copy()
    box = composite_ink(page, cov, design.ink_bgr, 60, 80, np.random.default_rng(1))
    assert box is not None
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = _ink_box(cov)
    assert (x0, y0, x1, y1) == (60 + cx0, 80 + cy0, 60 + cx1, 80 + cy1)
    changed = np.any(page != before, axis=2)
    ys, xs = np.nonzero(changed)
    assert len(xs) > 100
    assert xs.min() >= x0 and xs.max() < x1 and ys.min() >= y0 and ys.max() < y1
    # multiply blending: ink only darkens, print under the stamp stays dark
    assert (page <= before).all()
    assert (page[100:300:12, 40:460] <= 20).all()
    # full coverage takes the ink colour
    iy, ix = np.unravel_index(np.argmax(cov), cov.shape)
    pixel = page[80 + iy, 60 + ix].astype(int)
    if before[80 + iy, 60 + ix, 0] == 250:
        assert np.abs(pixel - np.array(design.ink_bgr) * 250 / 255).max() < 45


def test_composite_grayscale_page():
    design = _designs(1, seed=12)[0]
    cov = render_stamp(design, np.random.default_rng(0), 120)
    page = np.full((200, 200), 255, np.uint8)
    box = composite_ink(page, cov, (160, 60, 30), 10, 10)
    assert box is not None and page.min() < 200


@pytest.mark.parametrize("where", ["left", "top", "right", "bottom", "corner"])
def test_composite_clips_at_page_edges(where):
    design = next(d for d in _designs(50, seed=13) if d.shape == "round")
    cov = render_stamp(design, np.random.default_rng(0), 200)
    h, w = cov.shape
    H, W = 300, 400
    x, y = {"left": (-w // 2, 50), "top": (100, -h // 2), "right": (W - w // 2, 50),
            "bottom": (100, H - h // 2), "corner": (W - w // 3, H - h // 3)}[where]
    page = np.full((H, W, 3), 255, np.uint8)
    before = page.copy()
    box = composite_ink(page, cov, (40, 30, 190), x, y)
    assert box is not None
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    # the box is the tight box of the part of the stamp that is on the page
    visible = np.zeros((H, W), bool)
    ys, xs = np.nonzero(cov > 0.15)
    px, py = xs + x, ys + y
    keep = (px >= 0) & (px < W) & (py >= 0) & (py < H)
    visible[py[keep], px[keep]] = True
    vy, vx = np.nonzero(visible)
    assert (x0, y0, x1, y1) == (vx.min(), vy.min(), vx.max() + 1, vy.max() + 1)
    changed = np.any(page != before, axis=2)
    cy, cx = np.nonzero(changed)
    assert cx.min() >= x0 and cx.max() < x1 and cy.min() >= y0 and cy.max() < y1
    if where in ("left", "top"):
        assert (x0, y0)[("left", "top").index(where)] == 0


def test_composite_off_page_returns_none():
    cov = render_stamp(_designs(1)[0], np.random.default_rng(0), 100)
    page = np.full((100, 100, 3), 255, np.uint8)
    assert composite_ink(page, cov, (0, 0, 0), 100, 0) is None
    assert composite_ink(page, cov, (0, 0, 0), -cov.shape[1], 10) is None
    assert composite_ink(page, np.zeros((20, 20), np.float32), (0, 0, 0), 10, 10) is None
    assert (page == 255).all()


def test_works_without_font_files(monkeypatch):
    monkeypatch.setattr(fonts, "font_files", lambda: ())
    rng = np.random.default_rng(21)
    designs = [random_design(rng) for _ in range(15)]
    assert all(d.font_ring is None and d.font_lines is None and d.font_centre is None for d in designs)
    for i, design in enumerate(designs):
        cov = render_stamp(design, np.random.default_rng(i), 150)
        assert cov.dtype == np.float32 and (cov > 0.3).sum() > 100
    seal = next(d for d in designs if d.ring_text)
    bare = dataclasses.replace(seal, ring_text=" " * len(seal.ring_text), ring_text_bottom="")  # same layout, no glyphs
    with_text = (render_stamp(seal, np.random.default_rng(0), 250) > 0.3).sum()
    assert with_text > (render_stamp(bare, np.random.default_rng(0), 250) > 0.3).sum() * 1.1


def test_missing_font_file_falls_back():
    design = dataclasses.replace(_designs(1)[0], font_ring="/nonexistent/font.ttf",
                                 font_lines="/nonexistent/font.ttf", font_centre="/nonexistent/font.ttf")
    cov = render_stamp(design, np.random.default_rng(0), 150)
    assert (cov > 0.3).sum() > 100


def test_new_kinds_appear_in_random_designs():
    designs = _designs(300, seed=30)
    kinds = [d.kind for d in designs]
    assert 0.2 < kinds.count("picture") / len(kinds) < 0.4
    assert "text" in kinds and "signature" in kinds
    pictures = [d for d in designs if d.kind == "picture"]
    assert len({d.picture for d in pictures}) >= 12 and all(d.picture in stamps.PICTURES for d in pictures)
    assert {d.shape for d in pictures} >= {"none", "round", "rounded_rectangle", "cloud"}
    assert any(d.centre_text or d.ring_text for d in pictures) and any(not d.centre_text for d in pictures)
    assert all(d.shape == "none" and not d.border_mm for d in designs if d.kind in ("text", "signature"))
    assert any(d.footer for d in designs if d.kind == "signature")
    inks = {tuple(d.ink_bgr) for d in designs}
    assert any(b > 180 and g > 120 for b, g, r in inks)  # light blue
    assert any(r > 150 and b > 110 for b, g, r in inks)  # magenta / purple


@pytest.mark.parametrize("kind", ["picture", "text", "signature"])
def test_new_kinds_render_deterministically_within_range(kind):
    designs = [d for d in _designs(400, seed=31) if d.kind == kind][:12]
    assert len(designs) == 12
    for i, design in enumerate(designs):
        for diameter in (100, 250):
            a = render_stamp(design, np.random.default_rng(i), diameter, rotation_deg=5.0 * i)
            b = render_stamp(design, np.random.default_rng(i), diameter, rotation_deg=5.0 * i)
            np.testing.assert_array_equal(a, b)
            assert a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
            assert a.max() > 0.3
            inked = (a > 0.3).mean()
            assert 0.003 < inked < 0.6, (design, diameter, inked)
        cov = render_stamp(design, np.random.default_rng(i), 300)
        x0, y0, x1, y1 = _ink_box(cov, 0.05)
        assert 0.75 * 300 <= max(x1 - x0, y1 - y0) <= 1.1 * 300
        assert 0.95 * 300 <= max(cov.shape) <= 1.1 * 300 + 12


def test_pictures_are_fixed_by_the_design():
    designs = [d for d in _designs(300, seed=32) if d.kind == "picture"][:30]
    same, other = [], []
    for i, design in enumerate(designs[:-1]):
        a = render_stamp(design, np.random.default_rng([i, 1]), 220)
        b = render_stamp(design, np.random.default_rng([i, 2]), 220)
        c = render_stamp(designs[i + 1], np.random.default_rng([i, 2]), 220)
        same.append(_centred_iou(a, b))
        other.append(_centred_iou(a, c))
    same, other = np.array(same), np.array(other)
    assert np.median(same) > 0.6, np.round(same, 2)
    assert np.median(other) < 0.25, np.round(other, 2)
    assert np.median(same) > np.median(other) + 0.35
    assert (same > other).mean() >= 0.9
    # the drawing comes from the design's seed: a different seed is a different picture
    design = designs[0]
    redrawn = dataclasses.replace(design, seed=design.seed + 1)
    a = render_stamp(design, np.random.default_rng(0), 220)
    assert not np.array_equal(a, render_stamp(redrawn, np.random.default_rng(0), 220))


def test_some_impressions_are_pale():
    design = next(d for d in _designs(50, seed=33) if d.kind == "company")
    peaks = np.array([np.percentile(render_stamp(design, np.random.default_rng(i), 150), 99.5) for i in range(80)])
    pale = (peaks < 0.75).mean()
    assert 0.05 < pale < 0.3, np.round(peaks, 2)
    assert (peaks > 0.85).mean() > 0.6
