"""A small real same-stamp / different-stamp set from the shared stamp-detection pages.

The pages of ``documents/stamp-detection`` reuse a few physical rubber stamps.  Which box shows
which stamp was decided by looking at every crop; that grouping is committed here
(``resources/stamp_detection_groups.csv``: page, box index in the page's YOLO file, stamp name).
The images are not committed: :func:`build_real_stamp_set` cuts them out of a copy of the pages
and writes them in the layout ``stampauth eval stamps`` reads (every row genuine, ``writer`` = the
physical stamp), so the evaluation reports same-stamp versus different-stamp EER (``eer_random``).
"""

from __future__ import annotations

import csv
from collections import Counter
from importlib import resources
from pathlib import Path

import cv2

from stampauth.detection.types import Box, Detection
from stampauth.documents import crop_mark  # cut exactly as the service cuts a detected mark
from stampauth.errors import InvalidInput

def read_groups(path: str | Path | None = None) -> list[dict]:
    """The committed grouping (or another file with columns page,box,stamp)."""
    if path is None:
        text = resources.files("stampauth.resources").joinpath("stamp_detection_groups.csv").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not {"page", "box", "stamp"} <= set(rows[0]):
        raise InvalidInput("a grouping file needs the columns page,box,stamp")
    return rows


def build_real_stamp_set(pages_dir: str | Path, out_dir: str | Path, groups_file: str | Path | None = None) -> dict:
    """Crop every grouped stamp box of ``pages_dir`` (``images/*.jpg`` + ``labels/*.txt``, YOLO), as the service
    crops a detected mark, into
    ``out_dir/<stamp>/<page>_<box>.png`` and write ``out_dir/labels.csv``.  Returns counts per stamp."""
    pages_dir, out_dir = Path(pages_dir), Path(out_dir)
    rows = read_groups(groups_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for row in rows:
        image_path = next((p for p in (pages_dir / "images").glob(f"{row['page']}.*")), None)
        label_path = pages_dir / "labels" / f"{row['page']}.txt"
        if image_path is None or not label_path.is_file():
            raise InvalidInput(f"{row['page']}: page image or YOLO label file missing under {pages_dir}; "
                               "pass the stamp-detection folder (with images/ and labels/)")
        boxes = [line.split() for line in label_path.read_text().splitlines() if line.strip()]
        index = int(row["box"])
        if index >= len(boxes):
            raise InvalidInput(f"{label_path} has {len(boxes)} boxes, the grouping names box {index}")
        page = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        height, width = page.shape[:2]
        _, cx, cy, bw, bh = map(float, boxes[index][:5])
        box = Box((cx - bw / 2) * width, (cy - bh / 2) * height, (cx + bw / 2) * width, (cy + bh / 2) * height)
        relative = Path(row["stamp"]) / f"{row['page']}_{index}.png"
        (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out_dir / relative), crop_mark(page, Detection("stamp", box, 1.0)))
        written.append((relative.as_posix(), row["stamp"]))
    with (out_dir / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "writer", "label", "forger"])
        for relative, stamp in written:
            writer.writerow([relative, stamp, "genuine", stamp])
    return dict(Counter(stamp for _, stamp in written))
