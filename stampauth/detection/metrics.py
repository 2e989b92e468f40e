"""Scoring detectors against labelled pages: YOLO-format reading, AP50, precision and recall.

Data structures (all boxes in page pixels, see :class:`~stampauth.detection.types.Box`):

* ground truth: ``{image key: [(kind, Box), ...]}``;
* detections: ``{image key: [Detection, ...]}`` with the same keys (a missing key = no detections);
* :func:`evaluate_detections` takes ``pages`` and ``predictions_per_page`` as two aligned lists.

Matching is greedy in descending score order over the whole set: a detection is a true positive
when the not yet matched ground-truth box of its kind in its image with the highest IoU reaches
``iou_threshold``; otherwise (duplicates included) it is a false positive.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Hashable, Mapping, Sequence

import numpy as np
from PIL import Image

from stampauth.detection.types import KINDS, Box, Detection

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
_EXIF_ORIENTATION = 0x0112

GroundTruth = Mapping[Hashable, Sequence[tuple[str, Box]]]
Detections = Mapping[Hashable, Sequence[Detection]]


@dataclass(frozen=True)
class LabeledPage:
    """One page of a labelled set: image ``path``, its size in pixels and its ``(kind, Box)`` marks."""

    path: Path
    width: int
    height: int
    boxes: tuple[tuple[str, Box], ...]


def _read_classes(path: Path) -> list[str | None]:
    """Class id -> our kind (None for names we do not know, warned about once)."""
    names = path.read_text(encoding="utf-8").splitlines()
    while names and not names[-1].strip():
        names.pop()
    if not names:
        raise ValueError(f"{path} lists no class names; expected one per line, e.g. 'signature' and 'stamp'")
    kinds: list[str | None] = []
    for class_id, name in enumerate(names):
        kind = name.strip().lower()
        if kind not in KINDS:
            log.warning("%s: class %d %r is not one of %s; its boxes are skipped", path, class_id, name, KINDS)
            kind = None
        kinds.append(kind)
    return kinds


def _image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the file header, as OpenCV will load it (EXIF rotation applied)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            # orientations 5-8 are quarter turns: cv2.imread swaps the sides, so the labels do too
            if image.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                width, height = height, width
    except OSError as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    return width, height


def _read_labels(path: Path, kinds: list[str | None], width: int, height: int) -> tuple[tuple[str, Box], ...]:
    if not path.exists():
        return ()
    boxes = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 5:
                raise ValueError(f"{len(fields)} fields")
            class_id = int(fields[0])
            cx, cy, w, h = (float(f) for f in fields[1:])
            if not 0 <= class_id < len(kinds):
                raise ValueError(f"class id {class_id} is not in classes.txt (0..{len(kinds) - 1})")
            if not all(math.isfinite(v) for v in (cx, cy, w, h)) or w <= 0 or h <= 0:
                raise ValueError("box sides must be positive finite numbers")
        except ValueError as exc:
            raise ValueError(
                f"{path}:{lineno}: malformed YOLO label {line.strip()!r} ({exc}); "
                "expected 'class cx cy w h' with cx, cy, w, h normalised to the image size"
            ) from None
        kind = kinds[class_id]
        if kind is None:
            continue
        box = Box((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
        boxes.append((kind, box.clipped(width, height)))
    return tuple(boxes)


def read_yolo_dataset(data_dir: str | Path) -> list[LabeledPage]:
    """Pages of a YOLO set: ``images/``, ``labels/<image stem>.txt`` and ``classes.txt``, sorted by file name.

    A missing or empty label file means the page has no marks. Images are not decoded, only their
    headers are read for the size.
    """
    root = Path(data_dir)
    images_dir, labels_dir, classes_path = root / "images", root / "labels", root / "classes.txt"
    if not images_dir.is_dir():
        raise ValueError(f"{root} has no images/ folder; a YOLO set holds images/, labels/ and classes.txt")
    if not labels_dir.is_dir():
        raise ValueError(f"{root} has no labels/ folder; a YOLO set holds images/, labels/ and classes.txt")
    if not classes_path.is_file():
        raise ValueError(f"{root} has no classes.txt; write one class name per line (line 0 = class 0)")
    kinds = _read_classes(classes_path)
    image_paths = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not image_paths:
        raise ValueError(f"{images_dir} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    pages = []
    for path in image_paths:
        width, height = _image_size(path)
        boxes = _read_labels(labels_dir / f"{path.stem}.txt", kinds, width, height)
        pages.append(LabeledPage(path, width, height, boxes))
    return pages


def match_detections(detections: Detections, ground_truth: GroundTruth, kind: str, iou_threshold: float):
    """Greedy matching of ``kind``'s detections to its GT boxes in descending score order (each GT box at most once,
    at IoU >= ``iou_threshold``). Returns ``ranked``, ``[(score, page key, box, matched GT index or -1)]`` best
    first, and ``matched``, ``{page key: (n_gt,) bool}``."""
    gt_boxes = {key: [box for k, box in marks if k == kind] for key, marks in ground_truth.items()}
    ranked = [(d.score, key, d.box) for key, dets in detections.items() for d in dets if d.kind == kind]
    ranked.sort(key=lambda item: -item[0])  # stable: ties keep their input order
    matched = {key: np.zeros(len(boxes), bool) for key, boxes in gt_boxes.items()}
    result = []
    for score, key, box in ranked:
        best, best_iou = -1, iou_threshold
        for j, gt in enumerate(gt_boxes.get(key, ())):
            iou = box.iou(gt)
            if not matched[key][j] and iou >= best_iou:
                best, best_iou = j, iou
        if best >= 0:
            matched[key][best] = True
        result.append((score, key, box, best))
    return result, matched


def _match(detections: Detections, ground_truth: GroundTruth, kind: str, iou_threshold: float):
    """Scores (descending), true-positive flags aligned with them, and the number of GT boxes."""
    ranked, matched = match_detections(detections, ground_truth, kind, iou_threshold)
    scores = np.array([score for score, *_ in ranked], float)
    tp = np.array([index >= 0 for *_, index in ranked], bool)
    return scores, tp, int(sum(len(flags) for flags in matched.values()))


def average_precision(
    detections: Detections, ground_truth: GroundTruth, kind: str, iou_threshold: float = 0.5
) -> float:
    """All-point interpolated AP of ``kind`` (area under the monotone PR envelope); NaN without GT of ``kind``."""
    _, tp, n_gt = _match(detections, ground_truth, kind, iou_threshold)
    if n_gt == 0:
        return float("nan")
    cum_tp = np.cumsum(tp)
    recall = np.concatenate([[0.0], cum_tp / n_gt, [1.0]])
    precision = np.concatenate([[0.0], cum_tp / np.arange(1, len(tp) + 1), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at any higher recall
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def precision_recall_at(
    detections: Detections,
    ground_truth: GroundTruth,
    kind: str,
    score_threshold: float,
    iou_threshold: float = 0.5,
) -> tuple[float, float, int, int, int]:
    """``(precision, recall, tp, fp, fn)`` of the detections of ``kind`` scoring at least ``score_threshold``.

    Precision is 0 when nothing is detected; recall is NaN when there is no GT of ``kind``.
    """
    scores, tp_flags, n_gt = _match(detections, ground_truth, kind, iou_threshold)
    # matching runs in score order, so the kept prefix is matched exactly as if alone
    kept = tp_flags[scores >= score_threshold]
    tp = int(kept.sum())
    fp = len(kept) - tp
    precision = tp / len(kept) if len(kept) else 0.0
    recall = tp / n_gt if n_gt else float("nan")
    return precision, recall, tp, fp, n_gt - tp


def evaluate_detections(
    pages: Sequence[LabeledPage],
    predictions_per_page: Sequence[Sequence[Detection]],
    score_threshold: float | Mapping[str, float],
) -> dict[str, dict[str, float | int]]:
    """Per kind with GT in ``pages``: ``ap50``, ``precision``, ``recall`` (IoU 0.5, at ``score_threshold``,
    one for every kind or one per kind), counts.

    ``predictions_per_page[i]`` are the detections on ``pages[i]``. ``n_images`` counts pages holding
    that kind, ``n_boxes`` its GT boxes, ``n_detections`` its detections at ``score_threshold`` or more.
    """
    if len(predictions_per_page) != len(pages):
        raise ValueError(f"{len(predictions_per_page)} prediction lists for {len(pages)} pages; pass one list per page")
    ground_truth = {i: page.boxes for i, page in enumerate(pages)}
    detections = dict(enumerate(predictions_per_page))
    report = {}
    for kind in KINDS:
        n_boxes = sum(k == kind for page in pages for k, _ in page.boxes)
        if n_boxes == 0:
            continue
        ap = average_precision(detections, ground_truth, kind)
        threshold = score_threshold[kind] if isinstance(score_threshold, Mapping) else score_threshold
        precision, recall, tp, fp, _ = precision_recall_at(detections, ground_truth, kind, threshold)
        report[kind] = {
            "ap50": round(ap, 4),
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "n_images": sum(any(k == kind for k, _ in page.boxes) for page in pages),
            "n_boxes": n_boxes,
            "n_detections": tp + fp,
        }
    return report
