"""Genuine and re-made (forged) stamp impressions and the labelled stamp set writer."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from stampauth.synth import stamps
from stampauth.synth.stamp_sets import (
    FORGERY_CHANGES,
    forge_design,
    impression,
    place_on_paper,
    verification_design,
    write_stamp_set,
)
from stampauth.synth.stamps import StampDesign, render_stamp

_TEXT_FIELDS = ("ring_text", "ring_text_bottom", "centre_text", "band_text")


def _designs(n: int, seed: int = 0) -> list[StampDesign]:
    rng = np.random.default_rng(seed)
    return [verification_design(rng) for _ in range(n)]


def _texts(d: StampDesign) -> list[str]:
    return [getattr(d, f) for f in _TEXT_FIELDS] + list(d.lines)


def test_verification_designs_are_mostly_official():
    kinds = [d.kind for d in _designs(150, seed=1)]
    official = sum(k in ("seal", "oval", "company", "date", "word", "qc") for k in kinds)
    assert official / len(kinds) > 0.65
    assert {"seal", "oval", "company", "picture"} <= set(kinds)


def test_forgeries_differ_with_the_reported_changes_and_are_never_a_no_op():
    rng = np.random.default_rng(2)
    seen = set()
    for i, design in enumerate(_designs(80, seed=2)):
        forged, changes = forge_design(design, rng)
        assert forged != design and forged.remake != 0 and forged.remake != design.remake
        assert 1 <= len(changes) <= 2 and len(set(changes)) == len(changes)
        assert set(changes) <= set(FORGERY_CHANGES)
        seen.update(changes)
        # the same text and layout: a copy, not another stamp
        assert (forged.kind, forged.seed, forged.picture) == (design.kind, design.seed, design.picture)
        if "character" not in changes:
            assert _texts(forged) == _texts(design)
        # the change itself shows on the clean rubber (not only the new rubber's wear) ...
        needs_new_rubber = {"emblem", "redraw"} & set(changes)
        same_rubber = forged if needs_new_rubber else dataclasses.replace(forged, remake=design.remake)
        a, b = stamps._draw_design(design, 180), stamps._draw_design(same_rubber, 180)
        assert a.shape != b.shape or not np.array_equal(a, b), (design, changes)
        # ... and in an impression
        ga = render_stamp(design, np.random.default_rng(i), 200, 0)
        gb = render_stamp(forged, np.random.default_rng(i), 200, 0)
        assert ga.shape != gb.shape or np.abs(ga - gb).max() > 0.05
    assert len(seen) >= 7, seen


def test_remade_copy_never_draws_like_the_original():
    """Regression: about one re-made copy in ten drew (almost) exactly like the original (a ring-width change on a
    stamp framed by a line, a size change that only scales the whole stamp) and was still labelled forged."""
    from stampauth.synth.stamp_sets import MIN_VISIBLE_CHANGE, visible_change

    rng = np.random.default_rng(11)
    shares = []
    for design in _designs(60, seed=11):
        forged, _ = forge_design(design, rng)
        shares.append(visible_change(design, forged))
    assert min(shares) >= MIN_VISIBLE_CHANGE
    assert visible_change(design, design) == 0.0


def test_visible_change_sees_a_thicker_ring():
    from stampauth.synth.stamp_sets import visible_change

    design = next(d for d in _designs(40, seed=12) if d.kind == "seal")
    thicker = dataclasses.replace(design, border_mm=tuple(b * 1.6 for b in design.border_mm))
    assert visible_change(design, thicker) > 0.01


def test_character_change_keeps_length_and_changes_one_character():
    rng = np.random.default_rng(3)
    checked = 0
    for design in _designs(300, seed=3):
        forged, changes = forge_design(design, rng)
        if changes != ("character",):
            continue
        before, after = _texts(design), _texts(forged)
        diffs = [(x, y) for x, y in zip(before, after) if x != y]
        assert len(before) == len(after) and len(diffs) == 1
        x, y = diffs[0]
        assert len(x) == len(y)
        pos = [k for k in range(len(x)) if x[k] != y[k]]
        assert len(pos) == 1
        a, b = x[pos[0]], y[pos[0]]
        assert a.isdigit() == b.isdigit() and a.isalpha() == b.isalpha()
        checked += 1
    assert checked >= 10


def test_faithful_copy_keeps_the_emblem_drawing():
    """A re-made rubber draws its own emblem details, but a copy that does not change the emblem matches them."""
    from stampauth.synth.stamp_sets import _emblem_draws

    rng = np.random.default_rng(4)
    checked = 0
    for design in _designs(400, seed=4):
        if not _emblem_draws(design):
            continue
        forged, changes = forge_design(design, rng)
        if {"emblem", "redraw"} & set(changes):
            continue
        assert _emblem_draws(forged)[0] == _emblem_draws(design)[0]
        checked += 1
    assert checked >= 5


def test_remake_zero_is_the_original_rubber():
    for design in _designs(6, seed=5):
        assert design.remake == 0
        again = dataclasses.replace(design, remake=0)
        first = render_stamp(design, np.random.default_rng(0), 200)
        np.testing.assert_array_equal(first, render_stamp(again, np.random.default_rng(0), 200))
        other = render_stamp(dataclasses.replace(design, remake=7), np.random.default_rng(0), 200)
        assert other.shape != first.shape or not np.array_equal(other, first) or design.kind != "picture"


def test_impression_is_a_bgr_crop_around_the_stamp():
    rng = np.random.default_rng(6)
    for design in _designs(12, seed=6):
        for clutter in (True, False):
            img = impression(design, rng, 200, float(rng.uniform(0, 360)), clutter=clutter)
            assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
            assert 0.6 * 200 <= max(img.shape[:2]) <= 1.35 * 200 * 1.42, img.shape
            assert min(img.shape[:2]) >= 16
            assert img.mean() > 60 and img.min() < 200  # paper with ink on it


def test_place_on_paper_keeps_a_margin():
    cov = np.zeros((100, 160), np.float32)
    cov[20:80, 30:130] = 1.0
    img = place_on_paper(cov, (165, 70, 35), np.random.default_rng(0), clutter=False)
    h, w = img.shape[:2]
    assert 100 * 1.06 <= w <= 100 * 1.25 + 3 and 60 * 1.06 <= h <= 60 * 1.25 + 3
    assert img[h // 2, w // 2].astype(int).sum() < img[1, 1].astype(int).sum()  # ink inside, paper at the edge


def test_another_stamp_overlaps_in_another_ink_and_is_separated_from_this_one():
    """``other_stamp_probability``: another stamp's ink of another hue appears in the crop; at 0 the crop is the
    one made without the option (the evaluation sets stay as they were); the stamp preprocessing keeps it out."""
    import cv2

    from stampauth.preprocess import PreprocessConfig, preprocess_stamp

    cov = np.zeros((120, 120), np.float32)
    cv2.circle(cov, (60, 60), 52, 1.0, 4)
    red = (45, 35, 190)
    plain = place_on_paper(cov, red, np.random.default_rng(3), clutter=True)
    assert np.array_equal(plain, place_on_paper(cov, red, np.random.default_rng(3), clutter=True,
                                                other_stamp_probability=0.0))
    config = PreprocessConfig(canvas_height=128, canvas_width=128, pipeline="stamp", min_component_frac=0.0003)
    colour_scans = 0
    for seed in range(8):
        crop = place_on_paper(cov, red, np.random.default_rng(seed), clutter=False)
        overlapped = place_on_paper(cov, red, np.random.default_rng(seed), clutter=True, other_stamp_probability=1.0)
        hsv = cv2.cvtColor(overlapped, cv2.COLOR_BGR2HSV_FULL)
        inked = hsv[..., 1] > 80
        if not inked.any():  # a grey scan: no hue to tell the inks apart by
            continue
        colour_scans += 1
        hue = hsv[..., 0][inked].astype(int)
        red_share = ((hue < 20) | (hue > 236)).mean()
        assert 0.05 < red_share < 0.97, red_share  # two inks: the ring's red and another hue
        # the other stamp does not enter this stamp's canvas: what is left is the ring
        canvas, clean = preprocess_stamp(overlapped, config), preprocess_stamp(crop, config)
        assert np.abs((canvas > 0.35).mean() - (clean > 0.35).mean()) < 0.05
    assert colour_scans >= 4


def _read_labels(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_write_stamp_set(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    summary = write_stamp_set(a, count=3, seed=11, genuine_per_design=3, forged_per_design=2)
    assert summary["designs"] == 3 and summary["genuine"] == 9 and summary["forged"] == 6
    assert sum(summary["changes"].values()) >= 6
    rows = _read_labels(a / "labels.csv")
    assert list(rows[0].keys()) == ["path", "writer", "label", "forger"]
    assert len(rows) == 15
    for row in rows:
        assert (a / row["path"]).is_file()
        assert row["label"] in ("genuine", "forged")
        assert row["path"].startswith(f"{row['writer']}/{row['label']}/")
        assert row["writer"].startswith("d") and len(row["writer"]) == 6
        if row["label"] == "genuine":
            assert row["forger"] == row["writer"]
        else:
            prefix = f"{row['writer']}-remade-"
            assert row["forger"].startswith(prefix)
            assert set(row["forger"][len(prefix):].split("+")) <= set(FORGERY_CHANGES)
    designs = [json.loads(line) for line in (a / "designs.jsonl").read_text().splitlines()]
    assert [d["id"] for d in designs] == ["d00000", "d00001", "d00002"] and "ring_text" in designs[0]

    write_stamp_set(b, count=3, seed=11, genuine_per_design=3, forged_per_design=2)
    assert _read_labels(b / "labels.csv") == rows
    first = rows[0]["path"]
    assert (a / first).read_bytes() == (b / first).read_bytes()
    forged = next(r["path"] for r in rows if r["label"] == "forged")
    assert (a / forged).read_bytes() == (b / forged).read_bytes()
    # with other stamps pressed across every impression: the same designs and labels, other crops
    c = tmp_path / "c"
    write_stamp_set(c, count=3, seed=11, genuine_per_design=3, forged_per_design=2, other_stamp_probability=1.0)
    assert [(r["writer"], r["label"]) for r in _read_labels(c / "labels.csv")] == [(r["writer"], r["label"]) for r in rows]
    assert (c / first).read_bytes() != (a / first).read_bytes()


@pytest.mark.parametrize("change", FORGERY_CHANGES)
def test_every_change_occurs(change):
    rng = np.random.default_rng(7)
    for design in _designs(250, seed=7):
        if change in forge_design(design, rng)[1]:
            return
    pytest.fail(f"{change} never chosen")
