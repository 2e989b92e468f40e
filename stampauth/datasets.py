"""Labelled mark sets on disk: ``DIR/labels.csv`` with columns ``path,writer,label,forger``.

``path`` is relative to DIR, ``writer`` is whose mark it claims to be (a signer or a stamp
design), ``label`` is ``genuine`` or ``forged``, ``forger`` who actually made it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stampauth.errors import InvalidInput

REQUIRED_COLUMNS = ("path", "writer", "label", "forger")


@dataclass(frozen=True)
class LabelledMark:
    path: Path
    writer: str
    genuine: bool
    forger: str


def read_labels(data_dir: str | Path) -> list[LabelledMark]:
    """Parse ``DIR/labels.csv``; raises :class:`InvalidInput` naming the first problem found."""
    root = Path(data_dir)
    labels_path = root / "labels.csv"
    if not labels_path.is_file():
        raise InvalidInput(f"{labels_path} not found: the data folder needs a labels.csv (path,writer,label,forger)")
    marks = []
    with labels_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(f"{labels_path} lacks the column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            label = row["label"].strip().lower()
            if label not in ("genuine", "forged"):
                raise InvalidInput(f"{labels_path}:{line}: label must be 'genuine' or 'forged', got {row['label']!r}")
            marks.append(LabelledMark(root / row["path"], row["writer"].strip(), label == "genuine", row["forger"].strip()))
    if not marks:
        raise InvalidInput(f"{labels_path} has no rows")
    return marks


def read_gray(path: Path) -> np.ndarray:
    """Image file -> ``(H, W) uint8`` grayscale."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InvalidInput(f"cannot read image {path}")
    return image


def split_writers(writers: list[str], n_validation: int, seed: int) -> tuple[list[str], list[str]]:
    """Writer-disjoint split: ``(training writers, validation writers)``, both sorted."""
    unique = sorted(set(writers))
    rng = np.random.default_rng(seed)
    validation = set(rng.choice(unique, size=n_validation, replace=False).tolist())
    return sorted(w for w in unique if w not in validation), sorted(validation)


def read_colour(path: Path) -> np.ndarray:
    """Image file -> ``(H, W, 3) uint8`` BGR (grey files come back with three equal channels)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidInput(f"cannot read image {path}")
    return image
