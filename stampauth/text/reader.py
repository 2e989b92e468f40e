"""Read the text of every mark on a page: nearby print (PDF text layer or Tesseract) and a stamp's own text.

Each band of a mark's neighbourhood is cleaned into a tile (:func:`stampauth.text.nearby.prepare_region`); a
stamp adds its ring strips and centre (:mod:`stampauth.text.ring`). Starting Tesseract costs more than reading
a tile, so the tiles of several marks are read in one call (:func:`stampauth.text.tesseract.read_tiles`). The
page's time budget covers preparation and calls: a mark reached after it ran out, or whose call it cut short,
is marked ``BUDGET_EXCEEDED``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from stampauth.detection.types import Box, Detection
from stampauth.documents import crop_mark
from stampauth.io import Page
from stampauth.text.nearby import BAND_ORDER, PreparedRegion, bands, context_boxes, position_of, prepare_region, union
from stampauth.text import ring
from stampauth.text.tesseract import OcrTimeout, Tesseract, Tile, read_tiles
from stampauth.text.types import MarkText, NearbyConfig, OcrWord, TextSpan, TextStatus

# One uniform block of lines: the band tiles hold only the lines that reach into their band (nearby.lines_reaching),
# so nothing else on their rows gets merged in; 6 is also what the ring strips read best with, so a page's
# tiles all go into one call. Measured on the OCR evaluation pages (12 layouts): 6 in one call was more accurate
# (nearby and ring) and faster than 11 for the bands plus 6 for the stamps in two calls.
NEARBY_PSM = 6
MARKS_PER_CALL = 4  # marks read per Tesseract call: few calls (~100 ms each to start), yet a budget cut loses few marks
MIN_WORD_CONFIDENCE = 0.3  # below this Tesseract's "words" are mostly strokes and specks read as letters


def _horizontal_gap(a: Box, b: Box) -> float:
    return max(0.0, max(a.x0, b.x0) - min(a.x1, b.x1))


def group_lines(words: list[tuple[OcrWord, str | None]], source: str) -> list[TextSpan]:
    """Words (boxes in page pixels) with their positions (None: outside every band) -> one span per text line,
    in reading order (top to bottom, then left to right).

    A word joins a line when its vertical centre is within half a word height of the line's and it is at most
    four word heights from one of its words horizontally. A line takes the position that holds most of the
    characters of its in-band words, and is kept whole: a name that starts under a signature is not cut where the band ends. Lines with
    no word in any band are dropped.
    """
    # Single-link clustering: two words share a line when they are level and close (union-find over pairs).
    parent = list(range(len(words)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (a, _) in enumerate(words):
        for j in range(i + 1, len(words)):
            b = words[j][0]
            height = max(1.0, min(a.box.height, b.box.height))
            level = abs((a.box.y0 + a.box.y1) / 2 - (b.box.y0 + b.box.y1) / 2) <= 0.5 * height
            if level and _horizontal_gap(a.box, b.box) <= 4 * height:
                parent[root(i)] = root(j)
    grouped: dict[int, list[tuple[OcrWord, str | None]]] = {}
    for i, item in enumerate(words):
        grouped.setdefault(root(i), []).append(item)
    lines = list(grouped.values())
    spans = []
    for line in lines:
        in_band = [(w, p) for w, p in line if p is not None]
        if not in_band:
            continue
        line.sort(key=lambda item: item[0].box.x0)
        line_words = [w for w, _ in line]
        box = Box(min(w.box.x0 for w in line_words), min(w.box.y0 for w in line_words),
                  max(w.box.x1 for w in line_words), max(w.box.y1 for w in line_words))
        confidence = float(np.mean([w.confidence for w in line_words]))
        # the band holding most of the line's characters; a tie goes to the first in BAND_ORDER (a fixed order:
        # picking from a set made the answer depend on the process's string hashing)
        weight = {p: sum(len(w.text) for w, q in in_band if q == p) for p in BAND_ORDER}
        position = max(BAND_ORDER, key=lambda p: weight[p])
        spans.append(TextSpan(" ".join(w.text for w in line_words), box, confidence, position, source))
    spans.sort(key=lambda s: (s.box.y0, s.box.x0))
    return spans


def _layer_spans(page: Page, band_boxes: dict[str, Box], context: list[Box]) -> list[TextSpan]:
    reach = union(context)
    placed = [(w, position_of(w.box, band_boxes)) for w in page.words or () if reach.intersection(w.box) > 0
              and any(c.intersection(w.box) > 0 for c in context)]
    return group_lines(placed, "pdf_text_layer")


def _unique(words: list[tuple[OcrWord, str | None]]) -> list[tuple[OcrWord, str | None]]:
    """Where two tiles saw the same print (a name the mark's box cuts into is in the "inside" and the "below"
    tile), keep the more confident reading of each place on the page."""
    kept: list[tuple[OcrWord, str | None]] = []
    for item in sorted(words, key=lambda item: -item[0].confidence):
        if all(item[0].box.overlap_of_smaller(other.box) < 0.5 for other, _ in kept):
            kept.append(item)
    return kept


def _region_words(words: list[OcrWord], prepared: PreparedRegion, band_boxes: dict[str, Box]
                  ) -> list[tuple[OcrWord, str | None]]:
    """A tile's words in page pixels with the band each lies in (None: in the tile's context only)."""
    placed = []
    for word in words:
        if word.confidence < MIN_WORD_CONFIDENCE:
            continue
        box = prepared.word_to_page(word)
        placed.append((OcrWord(word.text, box, word.confidence, word.line), position_of(box, band_boxes)))
    return placed


@dataclass
class _Job:
    """One mark's reading in progress: its bands, what is to be read, and what was found."""

    mark: Detection
    band_boxes: dict[str, Box]
    spans: list[TextSpan] = field(default_factory=list)
    tiles: list[Tile] = field(default_factory=list)  # the neighbourhood's bands, read with NEARBY_PSM
    stamp_tiles: list[Tile] = field(default_factory=list)  # a stamp's ring strips and centre, read with ring.RING_PSM
    regions: dict[str, PreparedRegion] = field(default_factory=dict)  # tile tag -> how its pixels map to the page
    stamp_prefix: str = ""
    status: TextStatus = TextStatus.READ
    seconds: float = 0.0


def _prepare(page: Page, index: int, mark: Detection, config: NearbyConfig) -> _Job:
    height, width = page.image.shape[:2]
    job = _Job(mark, bands(mark.box, config, width, height))
    if page.words:  # a PDF page with a text layer: exact words, no OCR for the neighbourhood
        job.spans += _layer_spans(page, job.band_boxes, context_boxes(job.band_boxes, config, width, height))
    else:
        for (position, band), context in zip(job.band_boxes.items(), context_boxes(job.band_boxes, config, width, height)):
            prepared = prepare_region(page.image, context, mark.box, [context], band=band)
            if prepared is not None:
                tag = f"m{index}:{position}"
                job.tiles.append(Tile(tag, prepared.image))
                job.regions[tag] = prepared
    if mark.kind == "stamp":
        job.stamp_prefix = f"m{index}:stamp:"
        job.stamp_tiles += ring.stamp_text_tiles(crop_mark(page.image, mark), job.stamp_prefix)
    return job


def _finish(job: _Job, words: dict[str, list[OcrWord]]) -> None:
    found = []
    for tag, region in job.regions.items():
        found += _region_words(words.get(tag, []), region, job.band_boxes)
    job.spans += group_lines(_unique(found), "tesseract")
    if job.stamp_prefix and any(tag.startswith(job.stamp_prefix) for tag in words):
        reading = ring.choose_stamp_text(words, job.stamp_prefix)
        if reading.ring_text:
            job.spans.append(TextSpan(reading.ring_text, job.mark.box, reading.ring_confidence, "ring", "tesseract"))
        if reading.centre_text and not any(s.position == "inside" for s in job.spans):
            job.spans.append(TextSpan(reading.centre_text, job.mark.box, reading.centre_confidence, "inside", "tesseract"))


def read_marks_text(page: Page, marks: list[Detection], engine: Tesseract, config: NearbyConfig = NearbyConfig(),
                    language: str = "eng", budget_s: float = 0.0) -> list[MarkText]:
    """The text near and inside each of ``marks`` (all on ``page``), within ``budget_s`` seconds (0: no limit).

    The tiles of up to :data:`MARKS_PER_CALL` marks are read in one Tesseract call (one per page segmentation
    mode, should the bands' and the rings' ever differ); a mark whose call the budget
    does not reach (or cuts short) comes back ``BUDGET_EXCEEDED`` with what the PDF text layer gave, if anything.
    """
    deadline = time.monotonic() + budget_s if budget_s > 0 else None
    jobs: list[_Job] = []
    for index, mark in enumerate(marks):
        started = time.monotonic()
        if deadline is not None and started >= deadline:
            jobs.append(_Job(mark, {}, status=TextStatus.BUDGET_EXCEEDED))
            continue
        job = _prepare(page, index, mark, config)
        job.seconds = time.monotonic() - started
        jobs.append(job)
    pending = [job for job in jobs if (job.tiles or job.stamp_tiles) and job.status is TextStatus.READ]
    for first in range(0, len(pending), MARKS_PER_CALL):
        chunk = pending[first:first + MARKS_PER_CALL]
        started = time.monotonic()
        words: dict[str, list[OcrWord]] | None = {}
        by_mode: dict[int, list[Tile]] = {}  # one call per page segmentation mode (one call when they agree)
        # the stamps' tiles first, then the bands': a call's tiles affect each other's readings, and this order
        # read rings better on all three development seeds (ring CER 0.200/0.127/0.287 -> 0.199/0.099/0.270,
        # nearby CER unchanged but for seed 31's clean pages, 0.9 -> 1.8 %)
        for job in chunk:
            by_mode.setdefault(ring.RING_PSM, []).extend(job.stamp_tiles)
        for job in chunk:
            by_mode.setdefault(NEARBY_PSM, []).extend(job.tiles)
        for psm, tiles in by_mode.items():
            remaining = None if deadline is None else deadline - time.monotonic()
            if not tiles:
                continue
            if remaining is not None and remaining <= 0.01:
                words = None
                break
            try:
                words.update(read_tiles(engine, tiles, language, psm, remaining or 0.0))
            except OcrTimeout:
                words = None
                break
        share = (time.monotonic() - started) / len(chunk)
        for job in chunk:
            job.seconds += share
            if words is None:
                job.status = TextStatus.BUDGET_EXCEEDED
            else:
                _finish(job, words)
    return [MarkText(tuple(sorted(job.spans, key=lambda s: (s.box.y0, s.box.x0))), job.status, job.seconds * 1000.0)
            for job in jobs]


def read_mark_text(page: Page, mark: Detection, engine: Tesseract, config: NearbyConfig = NearbyConfig(),
                   language: str = "eng", budget_s: float = 0.0) -> MarkText:
    """:func:`read_marks_text` for one mark."""
    return read_marks_text(page, [mark], engine, config, language, budget_s)[0]
