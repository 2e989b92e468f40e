"""How well the text near marks is read: character error rates and time per mark (``stampauth eval ocr``).

The reader (:func:`stampauth.text.reader.read_marks_text`) is given each page with the ground-truth mark
boxes, so the figures measure reading alone, not detection.

* Nearby CER: for each mark and each position where text is expected, the edit distance (Levenshtein:
  insertions, deletions, substitutions) between the expected lines and the mark's spans at that position
  joined by newlines, both with whitespace normalised (every run of spaces and newlines -> one space, ends
  trimmed); case and punctuation count.
* Ring CER: a round/oval stamp's border text against its ``ring`` spans, both case-folded with every run of
  characters that are not letters or digits turned into one space; the reading may start anywhere on the
  ring, so the distance is the smallest over the cyclic rotations of the expected words.
* Aggregation: micro averages, total edit distance over total reference characters (a long line counts
  more than a short one; a mark whose text was not read at all counts every one of its characters).

Text read at positions where none is expected is not in the CER; it is reported as ``spurious_chars``.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import defaultdict
from typing import Callable, Iterable

import numpy as np

from stampauth.detection.types import Detection
from stampauth.text.match import edit_distance

NEARBY_POSITIONS = ("below", "above", "left", "right")
#: The issue's targets: nearby CER on clean and noisy scans, ring CER, and milliseconds of OCR per mark.
TARGETS = {"cer_nearby_clean": 0.03, "cer_nearby_noisy": 0.10, "cer_ring": 0.15, "ms_per_mark": 250.0}
_WORST = 10  # the worst readings listed in the result


# ----------------------------------------------------------------------------- metrics


def normalize_space(text: str) -> str:
    """Runs of whitespace (newlines included) -> one space, ends trimmed; nothing else changes."""
    return " ".join(text.split())


def normalize_ring(text: str) -> str:
    """Case-folded letters and digits, every other run of characters -> one space, ends trimmed."""
    return re.sub(r"[\W_]+", " ", text.casefold()).strip()


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance / reference length, on the strings as given. An empty reference
    gives 0 for an empty hypothesis and 1 for any other."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return edit_distance(reference, hypothesis) / len(reference)


def nearby_distance(expected: str, read: str) -> tuple[int, int]:
    """``(edit distance, reference characters)`` of nearby text, whitespace normalised (module docstring)."""
    reference, hypothesis = normalize_space(expected), normalize_space(read)
    return edit_distance(reference, hypothesis), len(reference)


def ring_distance(expected: str, read: str) -> tuple[int, int]:
    """``(edit distance, reference characters)`` of ring text: both normalised by :func:`normalize_ring`,
    the distance the smallest over the cyclic rotations of the expected words."""
    reference, hypothesis = normalize_ring(expected), normalize_ring(read)
    words = reference.split(" ") if reference else []
    best = max(len(reference), len(hypothesis))  # the most any alignment can cost
    for k in range(max(1, len(words))):
        rotated = " ".join(words[k:] + words[:k])
        best = min(best, edit_distance(rotated, hypothesis))
        if best == 0:
            break
    return best, len(reference)


def nearby_cer(expected: str, read: str) -> float:
    d, n = nearby_distance(expected, read)
    return d / n if n else (0.0 if not normalize_space(read) else 1.0)


def ring_cer(expected: str, read: str) -> float:
    """:func:`ring_distance` as a rate (edit distance / normalised reference length)."""
    d, n = ring_distance(expected, read)
    return d / n if n else (0.0 if not normalize_ring(read) else 1.0)


# ----------------------------------------------------------------------------- evaluation


class _Tally:
    """Edit distances and reference characters summed over readings (micro average)."""

    def __init__(self):
        self.edits = 0
        self.chars = 0
        self.readings = 0

    def add(self, edits: int, chars: int) -> None:
        self.edits += edits
        self.chars += chars
        self.readings += 1

    @property
    def rate(self) -> float | None:
        return round(self.edits / self.chars, 4) if self.chars else None

    def as_dict(self) -> dict:
        return {"cer": self.rate, "edits": self.edits, "chars": self.chars, "readings": self.readings}


def tesseract_version(engine) -> str:
    """The first line of ``tesseract --version`` ("" when it does not run)."""
    try:
        done = subprocess.run([engine.command, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError, AttributeError):
        return ""
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else ""


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def evaluate_ocr(pages: Iterable, engine, language: str = "eng", reader: Callable | None = None) -> dict:
    """Read the marks of every page (:class:`~stampauth.synth.ocr_pages.OcrPage`) with their true boxes and
    score the readings. Returns the figures ``stampauth eval ocr --json`` prints:

    ``cer_nearby_clean``/``cer_nearby_noisy``: nearby CER per condition; ``cer_ring`` (with ``cer_ring_clean``,
    ``cer_ring_noisy``): ring CER of round/oval stamps; all micro averages (total edit distance / total
    reference characters, see the module docstring), None where there was nothing to score.
    ``ms_per_mark``: wall time of the reader over all pages / marks read; ``ms_per_mark_p95``: the 95th
    percentile of a page's time per mark; ``mark_ms_p95``: of the reader's own per-mark times.
    ``counts``: pages, marks, ring stamps and marks per status, per condition; ``by_position`` and ``by_kind``:
    the CER per condition and position / mark kind; ``ring_by_impression``: the ring CER of well and patchily
    inked stamps; ``spurious_chars``: characters read where no text is
    expected (per condition); ``worst``: the worst readings; ``targets`` and ``passed``: the issue's targets.

    ``reader``: the reading function (default :func:`stampauth.text.reader.read_marks_text`), called as
    ``reader(page, detections, engine, language=language)``.
    """
    if reader is None:
        from stampauth.text.reader import read_marks_text as reader

    nearby: dict[str, _Tally] = defaultdict(_Tally)
    ring: dict[str, _Tally] = defaultdict(_Tally)
    by_position: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    by_kind: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    ring_by_impression: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    spurious: dict[str, int] = defaultdict(int)
    page_ms: list[float] = []
    mark_ms: list[float] = []
    total_ms, total_marks = 0.0, 0
    worst: list[dict] = []
    for item in pages:
        condition = item.condition
        detections = [Detection(m.kind, m.box, 1.0, item.page.number) for m in item.marks]
        started = time.perf_counter()
        results = reader(item.page, detections, engine, language=language)
        elapsed = (time.perf_counter() - started) * 1000.0
        counts[condition]["pages"] += 1
        if detections:
            total_ms += elapsed
            total_marks += len(detections)
            page_ms.append(elapsed / len(detections))
        for mark, result in zip(item.marks, results):
            counts[condition]["marks"] += 1
            counts[condition][f"status_{getattr(result.status, 'value', result.status)}"] += 1
            mark_ms.append(float(result.milliseconds))
            for position in NEARBY_POSITIONS:
                read = "\n".join(s.text for s in result.spans if s.position == position)
                if position not in mark.expected:
                    spurious[condition] += len(normalize_space(read))
                    continue
                edits, chars = nearby_distance(mark.expected[position], read)
                for tally in (nearby[condition], by_position[condition, position], by_kind[condition, mark.kind]):
                    tally.add(edits, chars)
                worst.append({"page": item.name, "condition": condition, "kind": mark.kind, "position": position,
                              "expected": mark.expected[position], "read": read,
                              "cer": round(edits / chars, 4) if chars else 0.0})
            if mark.ring:
                counts[condition]["ring_stamps"] += 1
                read = "\n".join(s.text for s in result.spans if s.position == "ring")
                edits, chars = ring_distance(mark.ring, read)
                ring[condition].add(edits, chars)
                ring["all"].add(edits, chars)
                by_position[condition, "ring"].add(edits, chars)
                ring_by_impression[condition, mark.impression or "unknown"].add(edits, chars)
                worst.append({"page": item.name, "condition": condition, "kind": mark.kind, "position": "ring",
                              "expected": mark.ring, "read": read, "cer": round(edits / chars, 4) if chars else 0.0})
    worst.sort(key=lambda w: -w["cer"])
    result = {
        "cer_nearby_clean": nearby["clean"].rate,
        "cer_nearby_noisy": nearby["noisy"].rate,
        "cer_ring": ring["all"].rate,
        "cer_ring_clean": ring["clean"].rate,
        "cer_ring_noisy": ring["noisy"].rate,
        "ms_per_mark": round(total_ms / total_marks, 1) if total_marks else None,
        "ms_per_mark_p95": round(float(np.percentile(page_ms, 95)), 1) if page_ms else None,
        "mark_ms_p95": round(float(np.percentile(mark_ms, 95)), 1) if mark_ms else None,
        "counts": {c: dict(v) for c, v in sorted(counts.items())},
        "by_position": _nested(by_position),
        "by_kind": _nested(by_kind),
        "ring_by_impression": _nested(ring_by_impression),
        "spurious_chars": dict(spurious),
        "language": language,
        "tesseract_version": tesseract_version(engine),
        "cpu_cores": _cpu_cores(),
        "aggregation": "micro: total edit distance / total reference characters",
        "worst": [w for w in worst[:_WORST] if w["cer"] > 0],
        "targets": dict(TARGETS),
    }
    result["passed"] = {key: (result[key] is not None and result[key] <= limit) for key, limit in TARGETS.items()}
    return result


def _nested(tallies: dict[tuple[str, str], _Tally]) -> dict:
    out: dict[str, dict] = {}
    for (condition, key), tally in sorted(tallies.items()):
        out.setdefault(condition, {})[key] = tally.as_dict()
    return out


def run_ocr_evaluation(data: str | None = None, count: int = 12, seed: int = 2026, engine=None,
                       language: str = "eng") -> dict:
    """What ``stampauth eval ocr [--data DIR] [--count N] [--seed S] --json`` prints: :func:`evaluate_ocr` on
    ``count`` generated layouts of ``seed`` (each clean and noisy, made in memory), or on the set saved in
    ``data`` (:func:`stampauth.synth.ocr_pages.write_ocr_set`; ``count`` and ``seed`` are then unused)."""
    from stampauth.synth.ocr_pages import generate_ocr_pages, load_ocr_set
    from stampauth.text.tesseract import Tesseract

    engine = engine or Tesseract()
    engine.check((language,), field="ocr")  # says how to install Tesseract or the language when missing
    pages = load_ocr_set(data) if data is not None else generate_ocr_pages(count, seed)
    result = evaluate_ocr(pages, engine, language)
    result["data"] = str(data) if data is not None else None
    result["seed"] = seed if data is None else None
    result["count"] = count if data is None else None
    return result
