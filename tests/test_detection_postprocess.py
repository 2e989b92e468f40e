"""The one-ink cue on stamp boxes: one ink keeps its confidence, printed multi-colour logos lose some."""

import cv2
import numpy as np
import pytest

from stampauth.detection.detector import DetectorCard, MarkDetector
from stampauth.detection.model import kernel_targets
from stampauth.detection.postprocess import input_crop, one_ink_factor, one_ink_share

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
