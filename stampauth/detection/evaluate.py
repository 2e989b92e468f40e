"""``stampauth eval detection``: the shipped detector and the OpenCV baseline on a labelled page set."""

from __future__ import annotations

import time
from pathlib import Path

import cv2

from stampauth.detection.types import KINDS

AP_MIN_SCORE = 0.05  # detections kept for the precision-recall curve (AP); P/R use the shipped thresholds
ERRORS_TOP = 24  # tiles per contact sheet of errors
_TILE = (120, 240)  # (height, width) of one tile in a contact sheet


def detection_errors(pages, predictions, thresholds: dict[str, float], kind: str) -> dict[str, list[dict]]:
    """``kind``'s errors at IoU 0.5, as the AP's matching counts them: ``false`` (detections matching no labelled
    mark, most confident first; every one of them costs AP, those at the threshold or above cost precision too)
    and ``missed`` (labelled marks no detection at the threshold or above matched, with the best IoU any detection
    reached and that detection's score)."""
    from stampauth.detection.metrics import match_detections

    ground_truth = {i: page.boxes for i, page in enumerate(pages)}
    ranked, _ = match_detections(dict(enumerate(predictions)), ground_truth, kind, 0.5)
    threshold = thresholds[kind]
    false = [{"page": pages[key].path.name, "score": round(score, 4), "box": _box_list(box),
              "at_threshold": score >= threshold}
             for score, key, box, index in ranked if index < 0]
    found = {(key, index) for score, key, _, index in ranked if index >= 0 and score >= threshold}
    missed = []
    for key, page in enumerate(pages):
        marks = [box for k, box in page.boxes if k == kind]
        for index, box in enumerate(marks):
            if (key, index) in found:
                continue
            near = [(d.box.iou(box), d.score) for d in predictions[key] if d.kind == kind]
            best_iou, best_score = max(near, default=(0.0, 0.0))
            missed.append({"page": page.path.name, "box": _box_list(box), "best_iou": round(best_iou, 3),
                           "best_iou_score": round(best_score, 4)})
    return {"false": false, "missed": missed}


def _box_list(box) -> list[int]:
    return [int(round(v)) for v in (box.x0, box.y0, box.x1, box.y1)]


def write_detection_errors(pages, predictions, thresholds: dict[str, float], out_dir: str | Path,
                           top: int = ERRORS_TOP) -> dict:
    """Write, per kind the set labels, ``<kind>-false.png`` and ``<kind>-missed.png`` (contact sheets of the ``top``
    most confident false detections and of the first ``top`` missed marks, each tile the box with a margin, its
    score or best IoU and its page's name) and ``errors.json`` (every error). Returns the counts and file names."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_name = {page.path.name: page for page in pages}
    report, listing = {}, {}
    for kind in KINDS:
        if not any(k == kind for page in pages for k, _ in page.boxes):
            continue
        errors = listing[kind] = detection_errors(pages, predictions, thresholds, kind)
        sheets = {}
        for what, rows, caption in (("false", errors["false"], lambda r: f"{r['score']:.2f}"),
                                    ("missed", errors["missed"], lambda r: f"IoU {r['best_iou']:.2f}")):
            tiles = [_tile(by_name[r["page"]].path, r["box"], f"{caption(r)} {r['page']}") for r in rows[:top]]
            if tiles:
                sheets[what] = f"{kind}-{what}.png"
                cv2.imwrite(str(out / sheets[what]), _contact_sheet(tiles))
        report[kind] = {"false": len(errors["false"]),
                        "false_at_threshold": sum(r["at_threshold"] for r in errors["false"]),
                        "missed_at_threshold": len(errors["missed"]), "sheets": sheets}
    (out / "errors.json").write_text(json.dumps(listing, indent=1) + "\n")
    return {"dir": str(out), **report}


def _tile(path: Path, box: list[int], caption: str):
    """One ``_TILE``-sized BGR tile: the box grown by 15 % of its size on each side, scaled to fit, captioned."""
    import numpy as np

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    x0, y0, x1, y1 = box
    mx, my = max(4, (x1 - x0) * 15 // 100), max(4, (y1 - y0) * 15 // 100)
    crop = image[max(0, y0 - my): y1 + my, max(0, x0 - mx): x1 + mx]
    height, width = _TILE
    tile = np.full((height, width, 3), 255, np.uint8)
    if crop.size:
        scale = min(width / crop.shape[1], (height - 14) / crop.shape[0])
        crop = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
        tile[: crop.shape[0], : crop.shape[1]] = crop
    cv2.putText(tile, caption[:40], (2, height - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 200), 1, cv2.LINE_AA)
    cv2.rectangle(tile, (0, 0), (width - 1, height - 1), (200, 200, 200), 1)
    return tile


def _contact_sheet(tiles, columns: int = 4):
    import numpy as np

    blank = np.full_like(tiles[0], 255)
    rows = [np.hstack(tiles[i: i + columns] + [blank] * (columns - len(tiles[i: i + columns])))
            for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


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
                       progress=None, input_long_side: int | None = None, errors_dir: str | Path | None = None,
                       errors_top: int = ERRORS_TOP) -> dict:
    """AP@0.5 and precision/recall per kind for the detector (and the baseline) on ``DIR``.

    ``DIR`` holds ``images/``, ``labels/`` (YOLO) and ``classes.txt``. Timings are per page, after decoding.
    ``input_long_side``: run the detector at this input size instead of its card's (the accuracy/speed curve).
    ``errors_dir``: also write the detector's errors there (:func:`write_detection_errors`).
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
    if errors_dir is not None:
        result["errors"] = write_detection_errors(pages, predictions, thresholds, errors_dir, errors_top)
    if baseline:
        from stampauth.detection.baseline import BASELINE_THRESHOLDS

        result["baseline"] = {
            **_report(pages, baseline_predictions, {k: BASELINE_THRESHOLDS.get(k, 0.5) for k in KINDS}),
            "ms_per_page": round(1000 * baseline_seconds / max(1, len(pages)), 1),
        }
    return result
