"""The classical detector on generated pages: a stamp, a signature, a blank page, speed."""


import cv2
import numpy as np
import pytest

from stampauth.detection import KINDS, Box, Detection
from stampauth.detection.baseline import detect_baseline

PAGE_H, PAGE_W = 3508, 2480  # A4 at 300 dpi


def text_page(seed: int = 0, lines: int = 30) -> np.ndarray:
    """A white A4 page ``(3508, 2480, 3) uint8`` BGR with printed lines in the upper two thirds."""
    rng = np.random.default_rng(seed)
    page = np.full((PAGE_H, PAGE_W, 3), 255, np.uint8)
    words = ["invoice", "amount", "payable", "within", "days", "total", "account", "number", "date", "terms"]
    for i in range(lines):
        text = " ".join(rng.choice(words, 6))
        cv2.putText(page, text, (250, 300 + 70 * i), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20, 20, 20), 3, cv2.LINE_AA)
    return page


def draw_ring_stamp(page: np.ndarray, center=(1800, 2900), radius=220, colour=(170, 60, 30)) -> Box:
    """A round rubber stamp in ``colour`` (BGR, default blue); returns its box in page pixels."""
    cv2.circle(page, center, radius, colour, 12, cv2.LINE_AA)
    cv2.circle(page, center, radius - 40, colour, 6, cv2.LINE_AA)
    cx, cy = center
    cv2.putText(page, "APPROVED", (cx - 150, cy + 15), cv2.FONT_HERSHEY_DUPLEX, 1.5, colour, 4, cv2.LINE_AA)
    cv2.putText(page, "2024", (cx - 60, cy + 80), cv2.FONT_HERSHEY_DUPLEX, 1.2, colour, 3, cv2.LINE_AA)
    return Box(cx - radius - 6, cy - radius - 6, cx + radius + 7, cy + radius + 7)


def draw_scribble(page: np.ndarray, seed: int = 1, origin=(400, 2750), size=(700, 260)) -> Box:
    """A smooth, thick, looping pen scribble; returns the box of its ink in page pixels."""
    rng = np.random.default_rng(seed)
    (x0, y0), (w, h) = origin, size
    t = np.linspace(0, 1, 800)
    knots = rng.uniform(0.15, 0.85, 10)
    y = np.interp(t, np.linspace(0, 1, 10), knots) + 0.3 * np.sin(t * 9 * np.pi + rng.uniform(0, np.pi))
    x = t + 0.07 * np.cos(t * 9 * np.pi)  # loops where the pen runs back
    points = np.stack([x0 + x * w * 0.9, y0 + (y - y.min()) / np.ptp(y) * h], axis=1).astype(np.int32)
    cv2.polylines(page, [points], False, (90, 40, 20), 7, cv2.LINE_AA)
    return Box(*points.min(axis=0), *(points.max(axis=0) + 1))


def best_iou(detections, kind, box):
    return max((d.box.iou(box) for d in detections if d.kind == kind), default=0.0)


def test_blue_ring_stamp_is_found():
    page = text_page()
    truth = draw_ring_stamp(page)
    detections = detect_baseline(page)
    assert best_iou(detections, "stamp", truth) >= 0.5
    # the stamp's lettering is not reported as handwriting
    assert best_iou(detections, "signature", truth) < 0.3


def test_red_square_stamp_is_found():
    page = text_page(seed=3)
    cv2.rectangle(page, (1500, 2600), (2100, 2950), (40, 40, 200), 10)
    cv2.putText(page, "PAID", (1620, 2830), cv2.FONT_HERSHEY_DUPLEX, 4, (40, 40, 200), 10, cv2.LINE_AA)
    assert best_iou(detect_baseline(page), "stamp", Box(1495, 2595, 2106, 2956)) >= 0.5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scribble_below_text_is_a_signature(seed):
    page = text_page(seed)
    truth = draw_scribble(page, seed)
    detections = detect_baseline(page)
    assert best_iou(detections, "signature", truth) >= 0.5
    # the printed lines are not signatures: nothing reported above the scribble
    assert all(d.box.y1 > truth.y0 for d in detections if d.kind == "signature")


def test_first_and_last_name_are_one_signature():
    page = text_page(4)
    first = draw_scribble(page, 4, origin=(400, 2750), size=(380, 220))
    last = draw_scribble(page, 14, origin=(850, 2770), size=(450, 200))
    both = Box(first.x0, min(first.y0, last.y0), last.x1, max(first.y1, last.y1))
    signatures = [d for d in detect_baseline(page) if d.kind == "signature"]
    assert len(signatures) == 1 and signatures[0].box.iou(both) >= 0.8


def test_large_printed_heading_is_not_a_signature():
    page = text_page(1)
    cv2.putText(page, "INVOICE 2024", (300, 200), cv2.FONT_HERSHEY_DUPLEX, 5, (0, 0, 0), 12, cv2.LINE_AA)
    assert [d for d in detect_baseline(page) if d.kind == "signature"] == []


def test_grey_round_outline_is_a_low_scored_stamp():
    page = np.full((PAGE_H, PAGE_W, 3), 255, np.uint8)
    truth = draw_ring_stamp(page, colour=(60, 60, 60))
    stamps = [d for d in detect_baseline(page) if d.kind == "stamp"]
    assert best_iou(stamps, "stamp", truth) >= 0.5
    assert max(d.score for d in stamps) < 0.5


@pytest.mark.parametrize("noise", [0, 6])
def test_blank_page_has_no_detections(noise):
    rng = np.random.default_rng(0)
    page = np.clip(245 + rng.normal(0, noise, (PAGE_H, PAGE_W, 3)), 0, 255).astype(np.uint8)
    assert detect_baseline(page) == []


def test_text_only_page_has_no_detections():
    assert detect_baseline(text_page(seed=5, lines=45)) == []


def test_result_types_boxes_and_kinds():
    page = text_page()
    draw_ring_stamp(page)
    draw_scribble(page, 2, origin=(300, 2600))
    page = page[:, :2000]  # not A4: boxes still in this page's pixels
    detections = detect_baseline(page)
    assert {d.kind for d in detections} == set(KINDS)
    for d in detections:
        assert isinstance(d, Detection) and isinstance(d.box, Box)
        assert 0 <= d.box.x0 < d.box.x1 <= page.shape[1] and 0 <= d.box.y0 < d.box.y1 <= page.shape[0]
        assert 0.0 <= d.score <= 1.0 and d.page_number == 1
    assert {d.kind for d in detect_baseline(page, kinds=("stamp",))} == {"stamp"}
    grey = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    assert any(d.kind == "signature" for d in detect_baseline(grey))
    with pytest.raises(ValueError, match="unknown kinds"):
        detect_baseline(page, kinds=("logo",))
    with pytest.raises(ValueError, match="uint8"):
        detect_baseline(page.astype(np.float32))
