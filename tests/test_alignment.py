"""Registering stamp canvases (stampauth.alignment) on generated stamps."""

import cv2
import numpy as np
import pytest

from stampauth.alignment import align_to, coarse_rotations, ink_outside, rotation_candidates
from stampauth.preprocess import PreprocessConfig, preprocess_stamp, rotate_canvas
from stampauth.synth.stamp_sets import forge_design, impression, verification_design

CONFIG = PreprocessConfig(canvas_height=160, canvas_width=160, pipeline="stamp", min_component_frac=0.0003)


def _design(seed: int, kind: str | None = None):
    rng = np.random.default_rng(seed)
    while True:
        design = verification_design(rng)
        if kind is None or design.kind == kind:
            return design


def _canvas(design, seed: int, rotation: float, clutter: bool = False) -> np.ndarray:
    return preprocess_stamp(impression(design, np.random.default_rng(seed), 240, rotation, clutter=clutter), CONFIG)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    x, y = cv2.GaussianBlur(a, (0, 0), 1.0).ravel(), cv2.GaussianBlur(b, (0, 0), 1.0).ravel()
    x, y = x - x.mean(), y - y.mean()
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9))


@pytest.mark.parametrize("angle", [0.0, 37.0, 181.0, 295.5])
def test_a_turned_copy_is_turned_back(angle):
    reference = _canvas(_design(1, "seal"), 0, 0.0)
    query = rotate_canvas(reference, angle)
    best_angle, _ = rotation_candidates(query, reference)[0]
    # the query turned by best_angle lies on the reference: within the 3-degree search step either way
    assert min(abs(best_angle + angle) % 360, 360 - abs(best_angle + angle) % 360) <= 3.0
    result = align_to(query, reference)
    assert result.correlation > 0.95
    assert _overlap(result.aligned, reference) > 0.95
    if angle:
        assert _overlap(query, reference) < _overlap(result.aligned, reference)


def test_two_impressions_of_one_rubber_align_better_than_before():
    design = _design(2, "company")
    reference, query = _canvas(design, 1, 10.0), _canvas(design, 2, 133.0)
    result = align_to(query, reference)
    assert result.matrix.shape == (2, 3) and result.aligned.shape == reference.shape
    assert result.aligned.dtype == np.float32
    assert _overlap(result.aligned, reference) > 0.6 > _overlap(query, reference)


def test_probing_the_candidates_ends_where_full_runs_of_every_candidate_do():
    """The probe stage only skips iterations on angles that lose: the alignment is the one that running ECC to
    the end on every candidate finds (probe_iterations = iterations), for genuine and re-made queries alike.
    (Regression, 2026-12-07: with the cut alone, a right angle that converged slowly behind an unsure leader on a
    real impression overlapped by another stamp was dropped; the leader must now be sure, probe_confident.)"""
    design = _design(4, "seal")
    reference = _canvas(design, 1, 0.0, clutter=True)
    queries = [_canvas(design, 2, 71.0, clutter=True), _canvas(design, 3, 250.0, clutter=True),
               _canvas(forge_design(design, np.random.default_rng(5))[0], 4, 160.0, clutter=True)]
    queries.append(_canvas(_design(7, "company"), 6, 20.0, clutter=True))  # another stamp: no angle fits well
    for query in queries:
        full = align_to(query, reference, probe_iterations=50)
        # the defaults, and a leader never sure enough to cut the others off (every candidate runs to the end)
        for probed in (align_to(query, reference), align_to(query, reference, probe_confident=1.01)):
            assert probed.correlation == pytest.approx(full.correlation, abs=2e-3)
            assert np.abs(probed.aligned - full.aligned).max() < 0.1
            assert np.abs(probed.matrix - full.matrix).max() < 0.05


def test_a_query_turned_once_for_several_references_aligns_as_alone():
    design = _design(6, "company")
    query = _canvas(design, 1, 200.0)
    rotations = coarse_rotations(query)
    for seed, angle in ((2, 15.0), (3, 300.0)):
        reference = _canvas(design, seed, angle)
        shared, alone = align_to(query, reference, query_rotations=rotations), align_to(query, reference)
        assert np.array_equal(shared.aligned, alone.aligned) and shared.correlation == alone.correlation
    with pytest.raises(ValueError, match="coarse_rotations"):
        rotation_candidates(query, reference, step_deg=5.0, query_rotations=rotations)


def test_candidates_are_distinct_angles_best_first():
    reference = _canvas(_design(3), 0, 0.0)
    found = rotation_candidates(rotate_canvas(reference, 90.0), reference, top=3, min_separation_deg=15.0)
    assert len(found) == 3
    angles = [a for a, _ in found]
    assert all(min(abs(a - b), 360 - abs(a - b)) >= 15.0 for i, a in enumerate(angles) for b in angles[i + 1:])
    assert [c for _, c in found] == sorted((c for _, c in found), reverse=True)


def test_ink_outside_is_low_for_the_same_rubber_and_higher_for_another_stamp():
    design = _design(4, "seal")
    references = np.stack([_canvas(design, s, 0.0) for s in (10, 11, 12)])
    frame = references[0]
    aligned_references = np.stack([frame] + [align_to(r, frame).aligned for r in references[1:]])
    genuine = align_to(_canvas(design, 13, 77.0), frame).aligned
    other = align_to(_canvas(_design(5, "company"), 14, 0.0), frame).aligned
    assert ink_outside(genuine, aligned_references) < 0.1
    assert ink_outside(other, aligned_references) > ink_outside(genuine, aligned_references) + 0.1
    assert ink_outside(np.zeros_like(frame), aligned_references) == 1.0


def test_a_remade_rubber_with_a_thicker_ring_puts_ink_outside():
    import dataclasses

    design = _design(6, "seal")
    remade = dataclasses.replace(forge_design(design, np.random.default_rng(0))[0],
                                 border_mm=tuple(b * 2.0 for b in design.border_mm))
    references = np.stack([_canvas(design, 20, 0.0)])
    genuine = align_to(_canvas(design, 21, 50.0), references[0]).aligned
    forged = align_to(_canvas(remade, 22, 50.0), references[0]).aligned
    assert ink_outside(forged, references) > ink_outside(genuine, references)


def test_shapes_must_match():
    with pytest.raises(ValueError):
        align_to(np.zeros((32, 32), np.float32), np.zeros((48, 48), np.float32))
