"""Read the text of every mark on a page: nearby print (PDF text layer or Tesseract) and a stamp's own text.

Per mark, at most one Tesseract call per page-segmentation mode: the cleaned neighbourhood (all bands in
one image) and, for a stamp, its ring strips and centre (:mod:`stampauth.text.ring`) are read as tiles of
one mosaic (:func:`stampauth.text.tesseract.read_tiles`). The page's time budget is shared by its marks in
order: a mark reached after it ran out, or whose call it cut short, is marked ``BUDGET_EXCEEDED``.
"""

from __future__ import annotations

import time

import numpy as np

from stampauth.detection.types import Box, Detection
from stampauth.documents import crop_mark
from stampauth.io import Page
from stampauth.text.nearby import PreparedRegion, bands, context_boxes, position_of, prepare_region, union
from stampauth.text.tesseract import OcrTimeout, Tesseract, Tile, read_tiles
from stampauth.text.types import MarkText, NearbyConfig, OcrWord, TextSpan, TextStatus

NEARBY_PSM = 11  # sparse text: the bands hold scattered lines, not one block
MIN_WORD_CONFIDENCE = 0.3  # below this Tesseract's "words" are mostly strokes and specks read as letters


def _horizontal_gap(a: Box, b: Box) -> float:
    return max(0.0, max(a.x0, b.x0) - min(a.x1, b.x1))


def group_lines(words: list[tuple[OcrWord, str | None]], source: str) -> list[TextSpan]:
    """Words (boxes in page pixels) with their positions (None: outside every band) -> one span per text line,
    in reading order (top to bottom, then left to right).

    A word joins a line when its vertical centre is within half a word height of the line's and it is at most
    four word heights from one of its words horizontally. A line takes the position most of its in-band words
    have, and is kept whole: a name that starts under a signature is not cut where the band ends. Lines with
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
        positions = [p for _, p in line if p is not None]
        if not positions:
            continue
        line.sort(key=lambda item: item[0].box.x0)
        line_words = [w for w, _ in line]
        box = Box(min(w.box.x0 for w in line_words), min(w.box.y0 for w in line_words),
                  max(w.box.x1 for w in line_words), max(w.box.y1 for w in line_words))
        confidence = float(np.mean([w.confidence for w in line_words]))
        position = max(set(positions), key=positions.count)
        spans.append(TextSpan(" ".join(w.text for w in line_words), box, confidence, position, source))
    spans.sort(key=lambda s: (s.box.y0, s.box.x0))
    return spans


def _layer_spans(page: Page, band_boxes: dict[str, Box], context: list[Box]) -> list[TextSpan]:
    reach = union(context)
    placed = [(w, position_of(w.box, band_boxes)) for w in page.words or () if reach.intersection(w.box) > 0
              and any(c.intersection(w.box) > 0 for c in context)]
    return group_lines(placed, "pdf_text_layer")


def _ocr_spans(words: list[OcrWord], prepared: PreparedRegion, band_boxes: dict[str, Box]) -> list[TextSpan]:
    placed = []
    for word in words:
        if word.confidence < MIN_WORD_CONFIDENCE:
            continue
        box = prepared.word_to_page(word)
        placed.append((OcrWord(word.text, box, word.confidence, word.line), position_of(box, band_boxes)))
    return group_lines(placed, "tesseract")


def read_mark_text(page: Page, mark: Detection, engine: Tesseract, config: NearbyConfig = NearbyConfig(),
                   language: str = "eng", deadline: float | None = None) -> MarkText:
    """The text near and inside one mark. ``deadline``: a ``time.monotonic()`` value after which no
    Tesseract call is started or let run; None for no limit."""
    started = time.monotonic()
    height, width = page.image.shape[:2]
    band_boxes = bands(mark.box, config, width, height)
    context = context_boxes(band_boxes, config, width, height)
    spans: list[TextSpan] = []
    tiles: dict[int, list[Tile]] = {}
    prepared = None
    if page.words:  # a PDF page with a text layer: exact words, no OCR
        spans += _layer_spans(page, band_boxes, context)
    elif band_boxes:
        prepared = prepare_region(page.image, union(context), mark.box, context)
        if prepared is not None:
            tiles.setdefault(NEARBY_PSM, []).append(Tile("nearby", prepared.image))
    stamp_prefix = "stamp:"
    if mark.kind == "stamp":
        from stampauth.text import ring  # noqa: PLC0415 - the unwrap code is only needed for stamps

        tiles.setdefault(ring.RING_PSM, []).extend(ring.stamp_text_tiles(crop_mark(page.image, mark), stamp_prefix))
    words: dict[str, list[OcrWord]] = {}
    status = TextStatus.READ
    for psm, group in tiles.items():
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0.01:
            status = TextStatus.BUDGET_EXCEEDED
            break
        try:
            words.update(read_tiles(engine, group, language, psm, remaining or 0.0))
        except OcrTimeout:
            status = TextStatus.BUDGET_EXCEEDED
            break
    if prepared is not None and "nearby" in words:
        spans += _ocr_spans(words["nearby"], prepared, band_boxes)
    if mark.kind == "stamp" and any(tag.startswith(stamp_prefix) for tag in words):
        from stampauth.text import ring  # noqa: PLC0415

        reading = ring.choose_stamp_text(words, stamp_prefix)
        if reading.ring_text:
            spans.append(TextSpan(reading.ring_text, mark.box, reading.ring_confidence, "ring", "tesseract"))
        if reading.centre_text and not any(s.position == "inside" for s in spans):
            spans.append(TextSpan(reading.centre_text, mark.box, reading.centre_confidence, "inside", "tesseract"))
    return MarkText(tuple(spans), status, (time.monotonic() - started) * 1000.0)


def read_marks_text(page: Page, marks: list[Detection], engine: Tesseract, config: NearbyConfig = NearbyConfig(),
                    language: str = "eng", budget_s: float = 0.0) -> list[MarkText]:
    """:func:`read_mark_text` for each of ``marks`` (all on ``page``), sharing ``budget_s`` seconds (0: no limit)."""
    deadline = time.monotonic() + budget_s if budget_s > 0 else None
    results = []
    for mark in marks:
        if deadline is not None and time.monotonic() >= deadline:
            results.append(MarkText((), TextStatus.BUDGET_EXCEEDED, 0.0))
            continue
        results.append(read_mark_text(page, mark, engine, config, language, deadline))
    return results
