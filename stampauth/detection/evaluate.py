"""``stampauth eval detection``: the shipped detector and the OpenCV baseline on a labelled page set."""

from __future__ import annotations

import time
from pathlib import Path

import cv2

from stampauth.detection.types import KINDS

AP_MIN_SCORE = 0.05  # detections kept for the precision-recall curve (AP); P/R use the shipped thresholds


def _report(pages, predictions, thresholds: dict[str, float]) -> dict:
    from stampauth.detection.metrics import evaluate_detections

    report = {}
    for kind, row in evaluate_detections(pages, predictions, thresholds).items():  # kinds the set holds
        report[kind] = {
            "ap50": row["ap50"],
            "precision": row["precision"],
            "recall": row["recall"],
            "threshold": thresholds[kind],
            "n_images": len(pages),
            "n_images_with_marks": row["n_images"],
            "n_boxes": row["n_boxes"],
            "n_detections": row["n_detections"],
        }
    return report


def evaluate_detection(data_dir: str | Path, models_dir: str | Path | None = None, baseline: bool = True,
                       progress=None, input_long_side: int | None = None) -> dict:
    """AP@0.5 and precision/recall per kind for the detector (and the baseline) on ``DIR``.

    ``DIR`` holds ``images/``, ``labels/`` (YOLO) and ``classes.txt``. Timings are per page, after decoding.
    ``input_long_side``: run the detector at this input size instead of its card's (the accuracy/speed curve).
    """
    from stampauth.detection.baseline import detect_baseline
    from stampauth.detection.detector import load_detector
    from stampauth.detection.metrics import read_yolo_dataset

    detector = load_detector(models_dir)
    if input_long_side:
        from dataclasses import replace

        detector.card = replace(detector.card, input_long_side=int(input_long_side))
    pages = read_yolo_dataset(data_dir)
    predictions, baseline_predictions = [], []
    detector_seconds = baseline_seconds = 0.0
    for done, page in enumerate(pages, start=1):
        image = cv2.imread(str(page.path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read image {page.path}")
        started = time.perf_counter()
        predictions.append(detector.detect(image, min_score=AP_MIN_SCORE))
        detector_seconds += time.perf_counter() - started
        if baseline:
            started = time.perf_counter()
            baseline_predictions.append(detect_baseline(image))
            baseline_seconds += time.perf_counter() - started
        if progress is not None:
            progress(done, len(pages))
    thresholds = {kind: float(detector.card.score_thresholds.get(kind, 0.5)) for kind in KINDS}
    result = {
        "data": str(data_dir),
        "detector_version": detector.version,
        "input_long_side": detector.card.input_long_side,
        "n_images": len(pages),
        **_report(pages, predictions, thresholds),
        "ms_per_page": round(1000 * detector_seconds / max(1, len(pages)), 1),
    }
    if baseline:
        from stampauth.detection.baseline import BASELINE_THRESHOLDS

        result["baseline"] = {
            **_report(pages, baseline_predictions, {k: BASELINE_THRESHOLDS.get(k, 0.5) for k in KINDS}),
            "ms_per_page": round(1000 * baseline_seconds / max(1, len(pages)), 1),
        }
    return result
