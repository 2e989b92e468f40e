"""Detector metrics: matching, AP, precision/recall and YOLO set reading."""

import logging
import math

import cv2
import numpy as np
import pytest

from stampauth.detection import Box, Detection
from stampauth.detection.metrics import (
    LabeledPage,
    average_precision,
    evaluate_detections,
    precision_recall_at,
    read_yolo_dataset,
)

A = Box(10, 10, 110, 60)
B = Box(200, 300, 260, 420)


def test_perfect_detections_give_ap_one():
    gt = {"p1": [("stamp", A), ("signature", B)], "p2": [("stamp", B)]}
    dets = {"p1": [Detection("stamp", A, 0.9), Detection("signature", B, 0.8)], "p2": [Detection("stamp", B, 0.3)]}
    assert average_precision(dets, gt, "stamp") == pytest.approx(1.0)
    assert average_precision(dets, gt, "signature") == pytest.approx(1.0)
    assert precision_recall_at(dets, gt, "stamp", 0.0) == (1.0, 1.0, 2, 0, 0)


def test_hand_computed_ap_with_a_false_positive_in_the_middle():
    # ranked: TP (0.9), FP (0.8), TP (0.7) over 2 GT
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1; envelope 1 up to recall 1/2, 2/3 up to 1
    # AP = 0.5 * 1 + 0.5 * 2/3 = 5/6
    gt = {"a": [("signature", A)], "b": [("signature", B)]}
    dets = {
        "a": [Detection("signature", A, 0.9), Detection("signature", Box(500, 500, 600, 550), 0.8)],
        "b": [Detection("signature", B, 0.7)],
    }
    assert average_precision(dets, gt, "signature") == pytest.approx(5 / 6)
    assert precision_recall_at(dets, gt, "signature", 0.75) == (0.5, 0.5, 1, 1, 1)
    precision, recall, tp, fp, fn = precision_recall_at(dets, gt, "signature", 0.5)
    assert (precision, recall, tp, fp, fn) == (pytest.approx(2 / 3), 1.0, 2, 1, 0)


def test_precision_envelope_lifts_earlier_recall_levels():
    # 3 GT, ranked TP FP TP TP: precision 1, 1/2, 2/3, 3/4 at recall 1/3, 1/3, 2/3, 1
    # envelope: 1 at 1/3, max(2/3, 3/4) = 3/4 at 2/3, 3/4 at 1 -> AP = (1 + 3/4 + 3/4) / 3 = 5/6
    # (without the envelope it would be (1 + 2/3 + 3/4) / 3 = 0.806)
    boxes = [Box(0, 100 * i, 50, 100 * i + 50) for i in range(3)]
    gt = {"p": [("stamp", b) for b in boxes]}
    hits = [Detection("stamp", b, score) for b, score in zip(boxes, [0.9, 0.7, 0.6])]
    dets = {"p": hits + [Detection("stamp", Box(500, 0, 550, 50), 0.8)]}
    assert average_precision(dets, gt, "stamp") == pytest.approx(5 / 6)


def test_duplicate_detections_are_false_positives():
    gt = {"p": [("stamp", A)]}
    dets = {"p": [Detection("stamp", A, 0.9), Detection("stamp", A, 0.8), Detection("stamp", A, 0.7)]}
    assert precision_recall_at(dets, gt, "stamp", 0.0) == (pytest.approx(1 / 3), 1.0, 1, 2, 0)
    # the first hit already reaches recall 1, so later duplicates do not lower AP
    assert average_precision(dets, gt, "stamp") == pytest.approx(1.0)


def test_iou_just_below_threshold_is_a_miss():
    gt = {"p": [("stamp", Box(0, 0, 100, 100))]}
    below = Box(0, 0, 100, 49.9)  # IoU 0.499
    at = Box(0, 0, 100, 50)  # IoU 0.5
    assert average_precision({"p": [Detection("stamp", below, 0.9)]}, gt, "stamp") == 0.0
    assert precision_recall_at({"p": [Detection("stamp", below, 0.9)]}, gt, "stamp", 0.5) == (0.0, 0.0, 0, 1, 1)
    assert average_precision({"p": [Detection("stamp", at, 0.9)]}, gt, "stamp") == pytest.approx(1.0)


def test_kinds_and_images_are_kept_apart():
    gt = {"p": [("stamp", A)], "q": []}
    wrong_kind = {"p": [Detection("signature", A, 0.9)]}
    wrong_image = {"q": [Detection("stamp", A, 0.9)]}
    assert average_precision(wrong_kind, gt, "stamp") == 0.0
    assert average_precision(wrong_image, gt, "stamp") == 0.0
    assert math.isnan(average_precision(wrong_kind, gt, "signature"))
    precision, recall, *_ = precision_recall_at({}, gt, "stamp", 0.5)
    assert (precision, recall) == (0.0, 0.0)


def test_low_ranked_hits_lower_ap():
    gt = {"p": [("stamp", A), ("stamp", B)]}
    miss = Box(0, 900, 9, 909)
    early = {"p": [Detection("stamp", A, 0.9), Detection("stamp", B, 0.8), Detection("stamp", miss, 0.1)]}
    late = {"p": [Detection("stamp", A, 0.9), Detection("stamp", B, 0.1), Detection("stamp", miss, 0.8)]}
    assert average_precision(early, gt, "stamp") == pytest.approx(1.0)
    # TP, FP, TP: the same 5/6 as the hand-computed case
    assert average_precision(late, gt, "stamp") == pytest.approx(5 / 6)


def _coords(box):
    return box.x0, box.y0, box.x1, box.y1


def _write_set(root, classes="stamp\nsignature\n"):
    (root / "images").mkdir()
    (root / "labels").mkdir()
    (root / "classes.txt").write_text(classes)
    cv2.imwrite(str(root / "images" / "a.png"), np.full((200, 400, 3), 255, np.uint8))
    cv2.imwrite(str(root / "images" / "b.jpg"), np.full((100, 50, 3), 255, np.uint8))
    cv2.imwrite(str(root / "images" / "c.png"), np.full((10, 10, 3), 255, np.uint8))
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n1 0.1 0.1 0.1 0.1\n\n")
    (root / "labels" / "b.txt").write_text("")  # empty: no mark; c.png has no label file at all


def test_read_yolo_dataset(tmp_path):
    _write_set(tmp_path)
    pages = read_yolo_dataset(tmp_path)
    assert [p.path.name for p in pages] == ["a.png", "b.jpg", "c.png"]
    a, b, c = pages
    assert (a.width, a.height) == (400, 200)
    assert [kind for kind, _ in a.boxes] == ["stamp", "signature"]
    assert _coords(a.boxes[0][1]) == pytest.approx((100, 50, 300, 150))
    assert _coords(a.boxes[1][1]) == pytest.approx((20, 10, 60, 30))
    assert (b.width, b.height, b.boxes) == (50, 100, ())
    assert c.boxes == ()


def test_read_yolo_dataset_skips_unknown_classes(tmp_path, caplog):
    _write_set(tmp_path, classes="stamp\nlogo\n")
    with caplog.at_level(logging.WARNING):
        pages = read_yolo_dataset(tmp_path)
    assert [kind for kind, _ in pages[0].boxes] == ["stamp"]
    assert "logo" in caplog.text


def test_malformed_label_names_file_and_line(tmp_path):
    _write_set(tmp_path)
    (tmp_path / "labels" / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n")
    with pytest.raises(ValueError, match=r"b\.txt:2"):
        read_yolo_dataset(tmp_path)
    (tmp_path / "labels" / "b.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    with pytest.raises(ValueError, match=r"b\.txt:1.*class id 7"):
        read_yolo_dataset(tmp_path)


@pytest.mark.parametrize("missing", ["images", "labels", "classes.txt"])
def test_missing_parts_are_named(tmp_path, missing):
    _write_set(tmp_path)
    target = tmp_path / missing
    if target.is_dir():
        for f in target.iterdir():
            f.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(ValueError, match=missing.replace(".", r"\.")):
        read_yolo_dataset(tmp_path)


def test_evaluate_detections():
    pages = [
        LabeledPage("a.png", 400, 200, (("stamp", A),)),
        LabeledPage("b.png", 400, 200, ()),
    ]
    preds = [[Detection("stamp", A, 0.9), Detection("signature", B, 0.9)], [Detection("stamp", B, 0.2)]]
    report = evaluate_detections(pages, preds, score_threshold=0.5)
    assert set(report) == {"stamp"}  # no signature GT: not reported
    assert report["stamp"] == {
        "ap50": 1.0, "precision": 1.0, "recall": 1.0, "n_images": 1, "n_boxes": 1, "n_detections": 1,
    }
    assert evaluate_detections(pages, preds, score_threshold=0.1)["stamp"]["precision"] == 0.5
    with pytest.raises(ValueError, match="one list per page"):
        evaluate_detections(pages, preds[:1], 0.5)


def test_detection_errors_list_false_and_missed_marks_and_write_contact_sheets(tmp_path):
    import json

    from stampauth.detection.evaluate import detection_errors, write_detection_errors

    paths = []
    for name in ("p1.png", "p2.png"):
        paths.append(tmp_path / name)
        cv2.imwrite(str(paths[-1]), np.full((500, 400, 3), 255, np.uint8))
    pages = [LabeledPage(paths[0], 400, 500, (("stamp", A), ("stamp", B))), LabeledPage(paths[1], 400, 500, ())]
    predictions = [
        [Detection("stamp", A, 0.9), Detection("stamp", Box(300, 10, 380, 60), 0.8),  # a hit and a false stamp
         Detection("stamp", Box(200, 300, 230, 330), 0.3)],  # B only in part: IoU under 0.5
        [Detection("stamp", B, 0.4)],  # a false stamp under the threshold
    ]
    errors = detection_errors(pages, predictions, {"signature": 0.5, "stamp": 0.5}, "stamp")
    assert [(e["page"], e["score"], e["at_threshold"]) for e in errors["false"]] == [
        ("p1.png", 0.8, True), ("p2.png", 0.4, False), ("p1.png", 0.3, False)]
    assert [(e["page"], e["box"]) for e in errors["missed"]] == [("p1.png", [200, 300, 260, 420])]
    assert errors["missed"][0]["best_iou"] == pytest.approx(900 / 7200, abs=1e-3)

    report = write_detection_errors(pages, predictions, {"signature": 0.5, "stamp": 0.5}, tmp_path / "errors", top=2)
    assert report["stamp"] == {"false": 3, "false_at_threshold": 1, "missed_at_threshold": 1,
                               "sheets": {"false": "stamp-false.png", "missed": "stamp-missed.png"}}
    assert "signature" not in report, "no signature is labelled, so there is nothing to list"
    sheet = cv2.imread(str(tmp_path / "errors" / "stamp-false.png"))
    assert sheet.shape == (120, 4 * 240, 3), "the two most confident false stamps, one row of four tiles"
    assert len(json.loads((tmp_path / "errors" / "errors.json").read_text())["stamp"]["false"]) == 3
