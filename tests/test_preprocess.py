"""Preprocessing stages: shapes, dtypes, and what each stage must do."""

import cv2
import numpy as np
import pytest
from helpers import synthetic_signature

from stampauth.errors import InvalidInput
from stampauth.preprocess import (
    PreprocessConfig,
    denoise,
    dump_stages,
    ink_bbox,
    morphology,
    normalize_to_canvas,
    otsu_binarize,
    preprocess_mark,
    remove_background,
    remove_specks,
    to_grayscale,
)


def test_grayscale_accepts_every_layout():
    bgr = synthetic_signature(3)
    gray = to_grayscale(bgr)
    assert gray.shape == bgr.shape[:2] and gray.dtype == np.uint8
    assert np.array_equal(to_grayscale(gray), gray)
    assert np.array_equal(to_grayscale(gray[:, :, None]), gray)
    bgra = np.dstack([bgr, np.zeros(bgr.shape[:2], np.uint8)])  # fully transparent
    assert to_grayscale(bgra).min() == 255  # transparent pixels are paper
    with pytest.raises(InvalidInput):
        to_grayscale(bgr.astype(np.float32))


def test_denoise_removes_salt_and_pepper():
    gray = np.full((50, 50), 255, np.uint8)
    gray[10, 10] = 0
    assert denoise(gray, 3)[10, 10] == 255
    assert denoise(gray, 1)[10, 10] == 0


def test_otsu_finds_ink_and_ignores_blank_pages():
    gray = to_grayscale(synthetic_signature(4))
    mask, threshold = otsu_binarize(gray)
    assert set(np.unique(mask)) == {0, 255}
    assert 40 < threshold < 250
    assert mask[gray < 100].min() == 255 and mask[gray > 245].max() == 0
    blank, _ = otsu_binarize(np.full((30, 30), 200, np.uint8))
    assert blank.max() == 0


def test_morphology_ops():
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 255
    assert morphology(mask, "dilate", 3).sum() > mask.sum() > morphology(mask, "erode", 3).sum()
    speckled = mask.copy()
    speckled[1, 1] = 255
    opened = morphology(speckled, "open", 3)
    assert opened[1, 1] == 0 and opened[10, 10] == 255  # speck gone, body kept
    gapped = mask.copy()
    gapped[10, 5:15] = 0
    assert morphology(gapped, "close", 3)[10, 10] == 255  # a one-pixel gap is closed
    with pytest.raises(ValueError):
        morphology(mask, "explode")


def test_specks_removed_and_bbox_tight():
    mask = np.zeros((100, 100), np.uint8)
    mask[20:40, 30:70] = 255
    mask[90, 90] = 255  # a speck
    clean = remove_specks(mask, 5)
    assert clean[90, 90] == 0
    assert ink_bbox(clean) == (30, 20, 70, 40)
    assert ink_bbox(np.zeros((5, 5), np.uint8)) is None


def test_remove_background_zeroes_paper_and_stretches_ink():
    gray = np.full((10, 10), 230, np.uint8)
    gray[2:5, 2:5] = 120  # faint ink
    mask = np.where(gray < 200, 255, 0).astype(np.uint8)
    ink = remove_background(gray, mask)
    assert ink.dtype == np.float32 and ink[0, 0] == 0.0
    assert ink[3, 3] == pytest.approx(1.0)  # contrast-stretched to full strength


def test_normalize_keeps_aspect_and_centres():
    ink = np.ones((10, 40), np.float32)
    canvas = normalize_to_canvas(ink, 80, 160)
    assert canvas.shape == (80, 160)
    rows = np.nonzero(canvas.sum(axis=1))[0]
    assert len(rows) == pytest.approx(40, abs=1)  # 160 wide -> 40 high: aspect kept
    assert rows[0] == pytest.approx(20, abs=1)  # centred vertically


def test_preprocess_mark_is_position_and_scale_invariant():
    config = PreprocessConfig(canvas_height=80, canvas_width=160)
    image = synthetic_signature(5)
    padded = cv2.copyMakeBorder(image, 60, 10, 150, 5, cv2.BORDER_CONSTANT, value=(250, 250, 250))
    bigger = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    base = preprocess_mark(image, config)
    assert base.shape == (80, 160) and base.dtype == np.float32 and 0 <= base.min() and base.max() <= 1
    for other in (padded, bigger):
        out = preprocess_mark(other, config)
        correlation = np.corrcoef(cv2.GaussianBlur(base, (0, 0), 1.5).ravel(), cv2.GaussianBlur(out, (0, 0), 1.5).ravel())[0, 1]
        assert correlation > 0.9


def test_blank_crop_is_a_clear_error():
    with pytest.raises(InvalidInput, match="no ink"):
        preprocess_mark(np.full((50, 80, 3), 255, np.uint8))


def test_stages_can_be_dumped(tmp_path):
    debug = {}
    preprocess_mark(synthetic_signature(6), PreprocessConfig(), debug)
    assert list(debug) == ["gray", "denoised", "ink_mask", "cropped_ink", "canvas"]
    written = dump_stages(debug, tmp_path, prefix="sig_")
    assert len(written) == 5 and all(p.exists() and p.stat().st_size > 0 for p in written)
    assert cv2.imread(str(written[-1]), cv2.IMREAD_GRAYSCALE).shape == (96, 192)


def test_remove_rule_lines_erases_a_signature_line_but_not_the_signature():
    from stampauth.preprocess import remove_rule_lines

    mask = np.zeros((100, 300), np.uint8)
    cv2.ellipse(mask, (150, 45), (80, 30), 0, 0, 360, 255, 3)
    cv2.line(mask, (0, 70), (299, 70), 255, 2)  # printed line crossing the crop
    cleaned = remove_rule_lines(mask)
    assert cleaned[70, 5] == 0 and cleaned[70, 295] == 0
    assert cleaned[15, 150] == 255 and cleaned[45, 70] == 255, "the pen strokes stay"
    short = np.zeros((100, 300), np.uint8)
    cv2.line(short, (100, 50), (180, 50), 255, 2)  # a short straight stroke is the writer's
    assert np.array_equal(remove_rule_lines(short), short)
