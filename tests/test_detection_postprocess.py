"""The one-ink cue on stamp boxes: one ink keeps its confidence, printed multi-colour logos lose some."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from stampauth.detection.detector import DetectorCard, MarkDetector
from stampauth.detection.model import kernel_targets
from stampauth.detection.postprocess import (
    apply_layout_prior,
    fit_layout_prior,
    input_crop,
    layout_features,
    one_ink_factor,
    one_ink_share,
)

BLUE, GOLD, RED, BLACK = (170, 60, 20), (40, 170, 215), (40, 30, 200), (30, 30, 30)


def _ring(colour, size=120):
    crop = np.full((size, size, 3), 255, np.uint8)
    cv2.circle(crop, (size // 2, size // 2), size // 2 - 8, colour, 4)
    cv2.putText(crop, "SEAL", (size // 4, size // 2 + 8), cv2.FONT_HERSHEY_SIMPLEX, 0.7, colour, 2)
    return crop


def _two_colour_logo(size=120):
    crop = np.full((size, size, 3), 255, np.uint8)
    cv2.rectangle(crop, (10, 10), (size - 10, size // 2), GOLD, -1)
    cv2.rectangle(crop, (10, size // 2), (size - 10, size - 10), BLUE, -1)
    return crop


def test_one_ink_stamp_has_share_one():
    assert one_ink_share(_ring(BLUE)) == pytest.approx(1.0, abs=0.02)


def test_red_ink_on_both_ends_of_the_hue_circle_is_one_ink():
    crop = _ring((60, 20, 200))  # hue near 178
    cv2.circle(crop, (60, 60), 20, (20, 40, 200), 3)  # hue near 3: the same red, across the wrap
    assert one_ink_share(crop) == pytest.approx(1.0, abs=0.02)


def test_two_colour_logo_has_share_near_half():
    assert 0.4 < one_ink_share(_two_colour_logo()) < 0.6


def test_black_stamp_and_blank_crop_are_not_penalised():
    assert one_ink_share(_ring(BLACK)) == 1.0
    assert one_ink_share(np.full((50, 50, 3), 255, np.uint8)) == 1.0
    assert one_ink_share(np.zeros((0, 0, 3), np.uint8)) == 1.0


def test_factor_is_one_when_off_and_falls_with_mixed_ink():
    assert one_ink_factor(0.5, 0.0) == 1.0
    assert one_ink_factor(1.0, 2.0) == 1.0
    assert one_ink_factor(0.5, 1.0) == pytest.approx(np.exp(-0.5))


def test_input_crop_clips_to_the_input_and_returns_uint8():
    page = np.ones((64, 96, 3), np.float32)
    crop = input_crop(page, (-5.2, 10.0, 20.5, 70.0))
    assert crop.shape == (54, 21, 3) and crop.dtype == np.uint8 and crop.max() == 255


def _detector_on(page_bgr, boxes, weight):
    """A detector whose network output is the exact kernel maps of ``boxes`` (stamps), at full confidence 0.9."""
    def network(batch):
        height, width = batch.shape[1:3]
        target = kernel_targets([(1, box) for box in boxes], height, width, shrink=0.5)
        target[..., :2] *= 0.9
        return target[None]

    card = DetectorCard(name="mark_detector", version="test", input_long_side=max(page_bgr.shape[:2]),
                        score_thresholds={"signature": 0.5, "stamp": 0.5}, stamp_one_ink_weight=weight)
    return MarkDetector(card, lite_model=network, load_keras=lambda: None)  # the "network" stands in for LiteRT


def test_detector_lowers_a_multi_colour_logo_and_keeps_a_one_ink_stamp():
    page = np.full((256, 384, 3), 255, np.uint8)
    page[40:160, 20:140] = _ring(BLUE)
    page[40:160, 220:340] = _two_colour_logo()
    boxes = [(20.0, 40.0, 140.0, 160.0), (220.0, 40.0, 340.0, 160.0)]
    plain = _detector_on(page, boxes, 0.0).detect(page, min_score=0.05)
    cued = _detector_on(page, boxes, 1.0).detect(page, min_score=0.05)
    assert [d.score for d in plain] == pytest.approx([0.9, 0.9], abs=1e-3)
    stamp, logo = sorted(cued, key=lambda d: d.box.x0)
    assert stamp.score == pytest.approx(0.9, abs=0.02)
    assert logo.score < 0.6, "a gold-and-blue printed logo is not one stamp ink"
    # at the card's threshold the logo is no longer reported
    assert [d.box.x0 < 200 for d in _detector_on(page, boxes, 2.0).detect(page)] == [True]


def test_layout_prior_learns_that_marks_lie_low_on_the_page():
    rng = np.random.default_rng(0)
    rows, truth = [], []
    for _ in range(400):  # true marks in the lower half, false ones (letterhead logos) at the top
        is_true = rng.random() < 0.6
        centre_y = rng.uniform(0.5, 0.95) if is_true else rng.uniform(0.02, 0.2)
        rows.append(layout_features(rng.uniform(0.5, 0.95), centre_y))
        truth.append(is_true)
    prior = fit_layout_prior(np.array(rows), np.array(truth))
    assert prior["features"] == ["logit_score", "centre_y", "centre_y_squared"]
    assert apply_layout_prior(0.9, 0.8, prior) > 0.8 > 0.2 > apply_layout_prior(0.9, 0.08, prior)


def test_layout_prior_is_off_without_a_fit_and_needs_both_outcomes():
    assert apply_layout_prior(0.73, 0.1, None) == 0.73 and apply_layout_prior(0.73, 0.1, {}) == 0.73
    with pytest.raises(ValueError, match="true and false"):
        fit_layout_prior(np.array([layout_features(0.9, 0.5)] * 3), np.array([True] * 3))


def test_layout_features_clip_certain_scores_and_positions():
    assert np.all(np.isfinite(layout_features(1.0, 1.4))) and layout_features(0.0, -0.2)[1] == 0.0


def test_detector_applies_the_layout_prior_of_its_card():
    page = np.full((400, 300, 3), 255, np.uint8)
    boxes = [(100.0, 20.0, 200.0, 60.0), (100.0, 320.0, 200.0, 360.0)]  # one near the top, one near the bottom
    detector = _detector_on(page, boxes, 0.0)
    prior = {"weights": [1.0, 4.0, 0.0], "bias": -2.0}
    detector.card = replace(detector.card, layout_prior={"stamp": prior})
    top, bottom = sorted(detector.detect(page, min_score=0.0), key=lambda d: d.box.y0)
    logit = np.log(0.9 / 0.1)
    assert top.score == pytest.approx(1 / (1 + np.exp(-(logit + 4.0 * 40 / 400 - 2.0))), abs=2e-3)
    assert bottom.score == pytest.approx(1 / (1 + np.exp(-(logit + 4.0 * 340 / 400 - 2.0))), abs=2e-3)


def _validation_pages(rng, n_pages, informative: bool):
    """Labelled pages with stamp detections: true ones (on a mark) and false ones, the false ones near the top when
    ``informative`` (letterhead logos), where the true ones lie otherwise; scores overlap either way."""
    from pathlib import Path

    from stampauth.detection.metrics import LabeledPage
    from stampauth.detection.types import Box, Detection

    labeled, predictions = [], []
    for index in range(n_pages):
        y_true = rng.uniform(0.5, 0.9) * 1000
        y_false = (rng.uniform(0.03, 0.15) if informative else rng.uniform(0.5, 0.9)) * 1000
        mark = Box(300, y_true - 50, 400, y_true + 50)
        labeled.append(LabeledPage(Path(f"p{index}"), 800, 1000, (("stamp", mark),)))
        predictions.append([Detection("stamp", mark, float(rng.uniform(0.5, 0.9))),
                            Detection("stamp", Box(600, y_false - 40, 700, y_false + 40), float(rng.uniform(0.5, 0.9)))])
    return labeled, predictions


def test_ensemble_step_keeps_a_layout_prior_only_where_it_helps_out_of_sample():
    from stampauth.training.detector import fit_layout_priors

    rng = np.random.default_rng(3)
    labeled, predictions = _validation_pages(rng, 80, informative=True)
    priors, rescored, checks = fit_layout_priors(labeled, predictions)
    assert "stamp" in priors and checks["stamp"]["two_fold_ap50_with"] > checks["stamp"]["two_fold_ap50_without"]
    true_scores = [page[0].score for page in rescored]
    false_scores = [page[1].score for page in rescored]
    assert min(true_scores) > max(false_scores), "the prior ranks every low box above every letterhead box"

    labeled, predictions = _validation_pages(np.random.default_rng(4), 80, informative=False)
    priors, rescored, checks = fit_layout_priors(labeled, predictions)
    assert "stamp" not in priors and rescored == predictions


def test_coloured_paper_is_not_a_second_ink():
    """Regression: on a yellow form the saturated paper counted as coloured ink beside a blue stamp's."""
    crop = _ring(BLUE)
    yellow_paper = np.array([110, 225, 245], np.uint8)
    crop[(crop == 255).all(axis=2)] = yellow_paper
    assert one_ink_share(crop) == pytest.approx(1.0, abs=0.02)
    logo = _two_colour_logo()
    logo[(logo == 255).all(axis=2)] = yellow_paper
    assert one_ink_share(logo) < 0.7, "two inks on coloured paper are still two inks"
