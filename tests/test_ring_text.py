"""Round-stamp text: polar unwrap of the ring, both reading directions, centre text, non-round stamps."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from stampauth.synth.stamps import StampDesign, composite_ink, render_stamp
from stampauth.text import ring
from stampauth.text.evaluation import normalize_ring, ring_cer
from stampauth.text.ring import StampTextReading, choose_stamp_text, read_stamp_text, stamp_text_tiles
from stampauth.text.tesseract import Tesseract

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")

# Fonts left at None: Pillow's own scalable font, so the stamps look the same on any machine.
FULL_RING = StampDesign(kind="seal", shape="round", width_mm=42, height_mm=42,
                        ring_text="NORTHWIND TRADING LTD * LONDON * ", centre_text="SEAL", border_mm=(1.0,),
                        inner_ring_mm=0.4, ring_cap_mm=3.0, ink_bgr=(165, 70, 35), seed=7)
TOP_BOTTOM = StampDesign(kind="seal", shape="double_round", width_mm=42, height_mm=42,
                         ring_text="CITY COUNCIL OF EXAMPLE", ring_text_bottom="REPUBLIC OF TESTLAND",
                         band_text="OFFICE", border_mm=(1.0, 0.3), inner_ring_mm=0.4, ring_cap_mm=3.0,
                         ink_bgr=(45, 35, 190), seed=8)
OVAL = StampDesign(kind="oval", shape="oval", width_mm=54, height_mm=36, ring_text="EXAMPLE HOLDINGS GMBH",
                   ring_text_bottom="BERLIN", centre_text="PAID", border_mm=(1.0,), inner_ring_mm=0.4, ring_cap_mm=3.2,
                   ink_bgr=(165, 70, 35), seed=10)
RECTANGLE = StampDesign(kind="company", shape="rectangle", width_mm=60, height_mm=24,
                        lines=("ACME SUPPLIES LTD", "VAT NO. GB123456789"), border_mm=(0.8,), ink_bgr=(150, 55, 95),
                        seed=9)


def _crop(design: StampDesign, rotation: float, diameter: int = 500) -> np.ndarray:
    """One good impression at 300 dpi size (42 mm ~ 500 px), turned ``rotation`` degrees, on light paper."""
    coverage = render_stamp(design, np.random.default_rng(0), diameter, rotation, "good")
    page = np.full((coverage.shape[0] + 40, coverage.shape[1] + 40, 3), 245, np.uint8)
    composite_ink(page, coverage, design.ink_bgr, 20, 20)
    return page


def _ring_cer(expected: str, read: str) -> float:
    """The evaluation's ring CER: case-folded alphanumerics, best over every rotation of the expected words."""
    return ring_cer(expected, read)


@pytest.fixture(scope="module")
def engine() -> Tesseract:
    if shutil.which("tesseract") is None:
        pytest.skip("Tesseract is not installed")
    return Tesseract()


@needs_tesseract
@pytest.mark.parametrize("rotation", [37.0, 200.0])
def test_text_all_around_reads_back_at_any_rotation(engine, rotation):
    reading = read_stamp_text(_crop(FULL_RING, rotation), engine)
    assert reading.is_round
    # measured: 0.0-0.04 at rotations 0/37/123/200/301; 60 random seals average far higher (patchy ink, print)
    assert _ring_cer(FULL_RING.ring_text, reading.ring_text) <= 0.15, reading.ring_text
    assert 0 < reading.ring_confidence <= 1
    assert "SEAL" in reading.centre_text.upper()


@needs_tesseract
@pytest.mark.parametrize("rotation", [123.0, 301.0])
def test_top_and_bottom_text_read_in_their_own_directions(engine, rotation):
    reading = read_stamp_text(_crop(TOP_BOTTOM, rotation), engine)
    expected = f"{TOP_BOTTOM.ring_text} {TOP_BOTTOM.ring_text_bottom}"
    assert _ring_cer(expected, reading.ring_text) <= 0.2, reading.ring_text  # measured 0.0-0.09
    words = normalize_ring(reading.ring_text).split()
    # the clockwise top text comes first, then the counter-clockwise bottom text
    assert "city" in words and "republic" in words
    assert words.index("city") < words.index("republic")


DOTTED = StampDesign(kind="seal", shape="round", width_mm=42, height_mm=42, ring_text="HORA INDUSTRIES",
                     ring_text_bottom="SKIKYRUM", centre_text="ID 53283251", border_mm=(1.0,), inner_ring_mm=0.5,
                     dotted_ring=True, ring_cap_mm=3.2, ink_bgr=(170, 60, 40), seed=11)


def test_dotted_inner_ring_is_erased_and_the_ring_cut_between_top_and_bottom_text():
    # Regression: the dots ran under the letters through the gaps at 3 and 9 o'clock, so the top text and the
    # upside-down bottom text were one piece, read in one direction (CER 0.67).
    tiles = stamp_text_tiles(_crop(DOTTED, 0.0))
    pieces = [t for t in tiles if ":cw:" in t.tag]
    assert len(pieces) >= 2
    sides = {int(t.tag.rsplit(":", 1)[1]) for t in pieces}
    assert any(200 <= d <= 340 for d in sides) and any(20 <= d <= 160 for d in sides)  # above and below the centre
    for tile in pieces:  # no row of dots left along a piece's edge: each ink row is letters, not a dotted line
        ink = tile.image < 128
        rows = ink.any(axis=1)
        assert ink[rows].mean(axis=1).max() < 0.6


def test_dotted_lines_leaves_a_ring_of_small_letters_alone():
    strip = np.zeros((60, 1200), np.uint8)
    for x in range(10, 1190, 20):  # a text row all round: letters 14 px high, no taller letters beside them
        strip[20:34, x:x + 12] = 1
    assert not ring._dotted_lines(strip, 200.0).any()
    letters = strip.copy()
    letters[5:40:, 400:700] = 0
    for x in (400, 450, 500):  # now letters 35 px high beside the row: that row is dots
        letters[5:40, x:x + 25] = 1
    found = ring._dotted_lines(letters, 200.0)
    assert found[25, :390].any() and not found[20:34, 410:690].any()


@needs_tesseract
def test_dotted_seal_reads_top_and_bottom_text(engine):
    reading = read_stamp_text(_crop(DOTTED, 15.0), engine)
    words = normalize_ring(reading.ring_text).split()
    assert "industries" in words and "skikyrum" in words, reading.ring_text


@needs_tesseract
def test_oval_stamp_is_unwrapped_along_its_ellipse(engine):
    reading = read_stamp_text(_crop(OVAL, 123.0), engine)
    assert reading.is_round
    assert _ring_cer(f"{OVAL.ring_text} {OVAL.ring_text_bottom}", reading.ring_text) <= 0.2, reading.ring_text


@needs_tesseract
def test_rectangular_stamp_is_not_round_and_reads_its_lines(engine):
    reading = read_stamp_text(_crop(RECTANGLE, 123.0), engine)
    assert reading.is_round is False
    assert reading.ring_text == "" and reading.ring_confidence == 0.0
    assert "SUPPLIES" in reading.centre_text.upper()


def test_tiles_are_grey_uint8_with_the_prefix():
    tiles = stamp_text_tiles(_crop(TOP_BOTTOM, 37.0), prefix="m3/")
    assert tiles
    assert all(t.tag.startswith("m3/") for t in tiles)
    assert all(t.image.dtype == np.uint8 and t.image.ndim == 2 and t.image.size for t in tiles)
    tags = [t.tag for t in tiles]
    assert any(":cw:" in t for t in tags) and any(":ccw:" in t for t in tags) and any("centre" in t for t in tags)
    # text scaled to what Tesseract reads best, so a ring piece is a little taller than a cap height
    ring_heights = [t.image.shape[0] for t in tiles if ":cw:" in t.tag]
    assert all(ring.TARGET_CAP_PX <= h <= 3 * ring.TARGET_CAP_PX for h in ring_heights)
    # keep the OCR work small: the whole stamp's tiles hold no more pixels than a few strips
    assert sum(t.image.size for t in tiles) < 600_000


def test_rectangle_gives_only_centre_tiles():
    tags = [t.tag for t in stamp_text_tiles(_crop(RECTANGLE, 0.0))]
    assert tags and all(t.startswith("centre:") for t in tags)


def test_grey_input_is_accepted():
    gray = _crop(FULL_RING, 10.0).mean(axis=2).astype(np.uint8)
    tiles = stamp_text_tiles(gray)
    assert any(":cw:" in t.tag for t in tiles)


@pytest.mark.parametrize("crop", [np.full((300, 300, 3), 250, np.uint8), np.zeros((0, 0, 3), np.uint8),
                                  np.full((5, 5), 255, np.uint8)])
def test_blank_crop_gives_an_empty_reading(crop):
    assert stamp_text_tiles(crop) == []
    assert choose_stamp_text({}) == StampTextReading()
    assert read_stamp_text(crop, Tesseract(command="/nonexistent/tesseract")) == StampTextReading()


def test_choose_prefers_the_confident_direction_and_orders_top_then_bottom():
    from stampauth.detection.types import Box
    from stampauth.text.types import OcrWord

    def w(text, confidence, x=0):
        return OcrWord(text, Box(x, 0, x + 10 * len(text), 30), confidence, (1, 1, 1))

    words = {
        "p/ring:cw:0": [w("CITY", 0.9), w("COUNCIL", 0.85, 60)],
        "p/ring:ccw:0": [w("ALIS", 0.6), w("7IONNOD", 0.1, 60)],
        "p/ring:cw:1": [w("oIlduqaR", 0.2)],
        "p/ring:ccw:1": [w("REPUBLIC", 0.92)],
        "p/ring:centre:0": [w("SEAL", 0.95)],
        "p/ring:centre:180": [w("7A3S", 0.4)],
    }
    reading = choose_stamp_text(words, prefix="p/")
    assert reading.ring_text == "CITY COUNCIL REPUBLIC"
    assert reading.centre_text == "SEAL"
    assert reading.is_round and 0.8 < reading.ring_confidence <= 1
    # another stamp's tiles in the same dict are ignored
    assert choose_stamp_text(words, prefix="q/") == StampTextReading()


def test_text_that_reads_the_same_upside_down_goes_by_its_side_of_the_stamp():
    from stampauth.detection.types import Box
    from stampauth.text.types import OcrWord

    def w(text, confidence):
        return OcrWord(text, Box(0, 0, 10 * len(text), 30), confidence, (1, 1, 1))

    def words(bottom_deg, top_deg=270):
        return {
            f"ring:cw:0:{top_deg}": [w("CITY", 0.9), w("COUNCIL", 0.9)],
            f"ring:ccw:0:{top_deg}": [w("7IONNOD", 0.2)],
            # NISI upside down reads ISIN, equally confident: no score can tell the direction
            f"ring:cw:1:{bottom_deg}": [w("ISIN", 0.8)],
            f"ring:ccw:1:{bottom_deg}": [w("NISI", 0.8)],
        }

    # below the centre, opposite the clockwise top text: counter-clockwise
    assert choose_stamp_text(words(90)).ring_text == "CITY COUNCIL NISI"
    # a seal turned upside down on the page: the clear top text says where its bottom is
    assert choose_stamp_text(words(270, top_deg=90)).ring_text == "CITY COUNCIL NISI"
    # beside the top text (text all around the ring): clockwise
    assert choose_stamp_text(words(300)).ring_text == "CITY COUNCIL ISIN"
    # tags without the piece's direction (older callers): the score alone decides, as before
    plain = {t.rsplit(":", 1)[0]: v for t, v in words(90).items()}
    assert choose_stamp_text(plain).ring_text.startswith("CITY COUNCIL")
