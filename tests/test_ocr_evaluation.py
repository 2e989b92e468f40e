"""The OCR evaluation: metrics, the page generator's ground truth, saved sets, and the harness (no Tesseract)."""

import json

import cv2
import numpy as np
import pytest

from stampauth.synth.ocr_pages import generate_ocr_pages, load_ocr_set, write_ocr_set
from stampauth.text.evaluation import (cer, edit_distance, evaluate_ocr, nearby_cer, normalize_ring, normalize_space,
                                       ring_cer, ring_distance)
from stampauth.text.nearby import bands, position_of
from stampauth.text.types import MarkText, NearbyConfig, TextSpan, TextStatus

DPI = 100  # a third of the real resolution keeps the tests fast; the layout rules are the same


@pytest.fixture(scope="module")
def pages():
    return list(generate_ocr_pages(3, seed=11, dpi=DPI))


# ----------------------------------------------------------------------------- metrics


def test_edit_distance_and_cer():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3
    assert cer("abcd", "abcd") == 0.0
    assert cer("abcd", "abed") == 0.25
    assert cer("abcd", "") == 1.0
    assert cer("", "") == 0.0 and cer("", "x") == 1.0
    assert cer("ab", "abxyz") == 1.5  # insertions count: CER can exceed 1


def test_nearby_cer_normalises_whitespace_only():
    assert normalize_space("  Anna  K.\nBerrington \n\n Director ") == "Anna K. Berrington Director"
    assert nearby_cer("Anna K. Berrington\nDirector, Trelmax Ltd", "Anna K.  Berrington Director,\tTrelmax Ltd") == 0.0
    # case and punctuation count
    assert nearby_cer("Reg. No. 123", "reg. No. 123") == pytest.approx(1 / 12)
    assert nearby_cer("Reg. No. 123", "Reg No 123") == pytest.approx(2 / 12)


def test_ring_cer_folds_case_and_punctuation_and_any_start():
    assert normalize_ring("TRELMAX LTD. * OFFICE *") == "trelmax ltd office"
    ring = "TRELMAX HOLDINGS LTD * LONDON *"
    assert ring_cer(ring, "trelmax holdings ltd london") == 0.0
    assert ring_cer(ring, "LONDON * TRELMAX HOLDINGS LTD") == 0.0  # read from another point of the ring
    assert ring_cer(ring, "holdings ltd london trelmax") == 0.0
    distance, chars = ring_distance(ring, "HOLDINGS LTD LONDON TRELMAK")
    assert (distance, chars) == (1, len("trelmax holdings ltd london"))
    assert ring_cer(ring, "") == 1.0
    # the rotation is of whole words, not of characters
    assert ring_cer("ABC DEF", "CDEFAB") > 0


# ----------------------------------------------------------------------------- generator


def test_generator_is_deterministic_for_a_seed(pages):
    again = list(generate_ocr_pages(3, seed=11, dpi=DPI))
    assert [p.name for p in again] == [p.name for p in pages]
    for a, b in zip(pages, again):
        assert a.marks == b.marks
        assert np.array_equal(a.page.image, b.page.image)
    # page i does not depend on how many are made, and another seed gives other pages
    assert next(iter(generate_ocr_pages(1, seed=11, dpi=DPI))).marks == pages[0].marks
    assert next(iter(generate_ocr_pages(1, seed=12, dpi=DPI))).marks != pages[0].marks


def test_pages_are_a4_with_two_to_four_marks_in_both_conditions(pages):
    assert [p.condition for p in pages] == ["clean", "noisy"] * 3
    for page in pages:
        assert page.page.image.shape == (round(297 / 25.4 * DPI), round(210 / 25.4 * DPI), 3)
        assert page.page.image.dtype == np.uint8 and page.page.dpi == DPI
        assert 2 <= len(page.marks) <= 4
        for mark in page.marks:
            assert mark.kind in ("signature", "stamp")
            assert mark.expected and set(mark.expected) <= {"below", "right"}
            if mark.kind == "signature":
                assert list(mark.expected) == ["below"] and not mark.ring
            if mark.shape in ("round", "double_round", "oval"):
                assert mark.ring and mark.ring == mark.ring.strip()
            # the box is the tight box of the ink: the ink's colour is there, near every edge
            ink = 255 - page.page.image.min(axis=2).astype(int)
            b = mark.box
            inside = ink[int(b.y0):int(np.ceil(b.y1)), int(b.x0):int(np.ceil(b.x1))]
            assert inside.max() > 60
    clean, noisy = pages[0], pages[1]
    assert noisy.encoded and not clean.encoded
    assert "skew_deg" in noisy.scan and abs(noisy.scan["skew_deg"]) <= 2.0
    assert 45 <= noisy.scan["jpeg_quality"] <= 75


def _quads(page, clean):
    """The distractor lines of ``page`` as exact quadrilaterals: a noisy page's are its clean twin's, skewed."""
    corners = [np.array([[b.x0, b.y0], [b.x1, b.y0], [b.x1, b.y1], [b.x0, b.y1]], np.float32) for b in clean.distractors]
    if page.condition == "clean":
        return corners
    matrix = np.array(page.scan["matrix"], np.float32)
    return [(c @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32) for c in corners]


def test_expected_text_lies_in_its_band_and_nothing_else_does(pages):
    config = NearbyConfig()
    clean_of = {p.name: p for p in pages if p.condition == "clean"}
    for page in pages:
        W, H = page.page.width, page.page.height
        quads = _quads(page, clean_of[page.name])
        for i, mark in enumerate(page.marks):
            band_boxes = bands(mark.box, config, W, H)
            assert mark.lines
            for line in mark.lines:
                assert position_of(line.box, band_boxes) == line.position, (page.name, page.condition, line)
                band = band_boxes[line.position]
                if page.condition == "clean":  # the skew of a noisy page can tilt a line's box a little out
                    assert band.x0 <= line.box.x0 and line.box.x1 <= band.x1, (page.name, line)
                    assert band.y0 <= line.box.y0 and line.box.y1 <= band.y1, (page.name, line)
            assert "\n".join(l.text for l in mark.lines if l.position in mark.expected) == \
                "\n".join(mark.expected.values())
            for band in band_boxes.values():
                rect = np.array([[band.x0, band.y0], [band.x1, band.y0], [band.x1, band.y1], [band.x0, band.y1]],
                                np.float32)
                for quad in quads:
                    area, _ = cv2.intersectConvexConvex(rect, quad)
                    assert area <= 0, (page.name, page.condition, quad)
                for j, other in enumerate(page.marks):
                    if j == i:
                        continue
                    assert band.intersection(other.box) == 0
                    assert all(band.intersection(line.box) == 0 for line in other.lines)
        assert len(page.distractors) >= 5  # there is body text on the page


def test_write_and_load_round_trip(tmp_path):
    out = write_ocr_set(tmp_path / "set", count=1, seed=5, dpi=DPI)
    records = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    assert [r["condition"] for r in records] == ["clean", "noisy"]
    assert records[0]["file"].endswith(".png") and records[1]["file"].endswith(".jpg")
    assert records[0]["marks"][0]["expected"]
    made = list(generate_ocr_pages(1, seed=5, dpi=DPI))
    loaded = list(load_ocr_set(out))
    assert [p.condition for p in loaded] == ["clean", "noisy"]
    for a, b in zip(made, loaded):
        assert np.array_equal(a.page.image, b.page.image)  # PNG is lossless; the JPEG bytes are the same file
        assert a.page.dpi == b.page.dpi and a.name == b.name
        assert len(a.marks) == len(b.marks)
        for ma, mb in zip(a.marks, b.marks):
            assert (ma.kind, ma.expected, ma.ring, ma.shape) == (mb.kind, mb.expected, mb.ring, mb.shape)
            assert ma.box.iou(mb.box) > 0.99


def test_load_needs_truth(tmp_path):
    with pytest.raises(FileNotFoundError, match="truth.jsonl"):
        list(load_ocr_set(tmp_path))


# ----------------------------------------------------------------------------- harness


def _oracle(page_truth):
    """A stand-in reader that returns the expected text (optionally damaged) for the true boxes."""
    by_box = {(m.kind, m.box): m for p in page_truth for m in p.marks}

    def read(page, marks, engine, language="eng"):
        results = []
        for detection in marks:
            mark = by_box[detection.kind, detection.box]
            spans = [TextSpan(line.text, line.box, 0.9, line.position, "tesseract") for line in mark.lines]
            if mark.ring:
                words = mark.ring.split()
                spans.append(TextSpan(" ".join(words[1:] + words[:1]).lower(), mark.box, 0.8, "ring", "tesseract"))
            results.append(MarkText(tuple(spans), TextStatus.READ, 5.0))
        return results

    return read


def test_evaluate_ocr_scores_a_perfect_reader_zero(pages):
    result = evaluate_ocr(pages, engine=None, reader=_oracle(pages))
    assert result["cer_nearby_clean"] == 0.0 and result["cer_nearby_noisy"] == 0.0
    rings = sum(1 for p in pages for m in p.marks if m.ring)
    assert result["cer_ring"] == (0.0 if rings else None)
    assert result["counts"]["clean"]["pages"] == 3 and result["counts"]["noisy"]["pages"] == 3
    assert result["counts"]["clean"]["marks"] == sum(len(p.marks) for p in pages if p.condition == "clean")
    assert result["ms_per_mark"] >= 0 and result["mark_ms_p95"] == 5.0
    assert result["spurious_chars"]["clean"] == 0
    assert result["by_position"]["clean"]["below"]["cer"] == 0.0
    assert result["passed"]["cer_nearby_clean"] and result["worst"] == []


def test_evaluate_ocr_is_a_micro_average(pages):
    page = pages[0]
    first = page.marks[0]
    position, text = next(iter(first.expected.items()))

    def reader(p, marks, engine, language="eng"):
        out = []
        for detection in marks:
            if detection.box == first.box:  # drop one expected line altogether, read extra text to its left
                spans = (TextSpan("noise", first.box, 0.5, "left", "tesseract"),)
            else:
                mark = next(m for m in page.marks if m.box == detection.box)
                spans = tuple(TextSpan(t, mark.box, 0.9, pos, "tesseract") for pos, t in mark.expected.items())
            out.append(MarkText(spans, TextStatus.READ, 1.0))
        return out

    result = evaluate_ocr([page], engine=None, reader=reader)
    total = sum(len(normalize_space(t)) for m in page.marks for t in m.expected.values())
    assert result["cer_nearby_clean"] == pytest.approx(len(normalize_space(text)) / total, abs=1e-4)
    assert result["cer_nearby_noisy"] is None
    assert result["spurious_chars"]["clean"] == len("noise")
    assert result["worst"][0]["expected"] == text and result["worst"][0]["cer"] == 1.0
    assert not result["passed"]["cer_nearby_clean"]

