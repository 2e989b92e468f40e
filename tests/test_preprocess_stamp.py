"""Stamp preprocessing: ink separated from the print under it, any rotation on the same canvas."""

import cv2
import numpy as np
import pytest

from stampauth.errors import InvalidInput
from stampauth.preprocess import (
    PreprocessConfig,
    chroma_and_hue,
    preprocess_any,
    preprocess_mark,
    preprocess_stamp,
    rotate_canvas,
    rotation_views,
    stamp_ink,
)
from stampauth.synth.stamps import StampDesign, composite_ink, render_stamp

CONFIG = PreprocessConfig(canvas_height=128, canvas_width=128, pipeline="stamp", rotation_views=8)
SEAL = StampDesign(kind="seal", shape="round", width_mm=40, height_mm=40, ring_text="ACME TRADING LTD * LONDON *",
                   lines=("REG 104-22",), emblem="star", inner_ring_mm=0.4, ink_bgr=(165, 70, 35), seed=11)


def stamped_crop(design=SEAL, rotation=0.0, text=False, ink=None, seed=0) -> np.ndarray:
    """A scanned crop: white paper, optionally black print, the stamp multiplied on top."""
    coverage = render_stamp(design, np.random.default_rng(seed), 220, rotation)
    height, width = coverage.shape
    page = np.full((height + 40, width + 40, 3), 250, np.uint8)
    if text:
        for row in range(30, height, 36):
            cv2.putText(page, "Invoice total 4,707.97 EUR paid", (4, row), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1)
        cv2.line(page, (0, height // 2), (width + 40, height // 2), (0, 0, 0), 2)
    composite_ink(page, coverage, ink or design.ink_bgr, 20, 20)
    return page


def correlation(a: np.ndarray, b: np.ndarray, blur: float = 0.0) -> float:
    if blur:  # tolerate the one-pixel wobble of stroke edges between impressions
        a, b = cv2.GaussianBlur(a, (0, 0), blur), cv2.GaussianBlur(b, (0, 0), blur)
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def test_overlapping_black_text_does_not_reach_the_canvas():
    clean = preprocess_stamp(stamped_crop(), CONFIG)
    printed_over = preprocess_stamp(stamped_crop(text=True), CONFIG)
    assert clean.shape == (128, 128) and clean.dtype == np.float32
    assert 0.0 <= printed_over.min() and printed_over.max() <= 1.0
    # the print changes the crop a lot, and a darkness-based pipeline would take it in ...
    signature_pipeline = PreprocessConfig(canvas_height=128, canvas_width=128)
    assert correlation(preprocess_mark(stamped_crop(), signature_pipeline),
                       preprocess_mark(stamped_crop(text=True), signature_pipeline), blur=1.5) < 0.6
    # ... yet the stamp's canvas stays closer to the clean one than another impression of the stamp is
    another_impression = preprocess_stamp(stamped_crop(seed=5), CONFIG)
    assert correlation(clean, printed_over, blur=1.5) > max(0.93, correlation(clean, another_impression, blur=1.5) - 0.01)


def test_a_black_stamp_falls_back_to_darkness():
    crop = stamped_crop(ink=(40, 40, 40))
    ink, how = stamp_ink(crop, CONFIG)
    assert how == "black" and ink.max() == pytest.approx(1.0)
    _, how = stamp_ink(cv2.cvtColor(stamped_crop(), cv2.COLOR_BGR2GRAY), CONFIG)  # a grey scan has no colour
    assert how == "black"
    assert preprocess_stamp(crop, CONFIG).max() > 0.5


def test_another_colour_in_the_crop_is_left_out():
    crop = stamped_crop()
    cv2.circle(crop, (40, 40), 25, (40, 40, 220), -1)  # a red logo in the corner, inside the crop
    chroma, hue = chroma_and_hue(crop)
    assert chroma[40, 40] > 100
    ink, how = stamp_ink(crop, CONFIG)
    assert how == "colour" and ink[40, 40] == 0 and ink.max() > 0


OTHER_SEAL = StampDesign(kind="seal", shape="round", width_mm=40, height_mm=40, ring_text="NORTHERN FREIGHT CO *",
                         lines=("PAID",), emblem="star", inner_ring_mm=0.6, ink_bgr=(40, 40, 200), seed=3)


def crop_under_another_stamp(other_ink, offset=(125, 125), weight=2.5) -> tuple[np.ndarray, np.ndarray]:
    """SEAL's crop with a bolder stamp of ``other_ink`` pressed across its lower right corner; also SEAL's own
    coverage in the crop's frame (where its ink is)."""
    crop = stamped_crop()
    rubber = render_stamp(OTHER_SEAL, np.random.default_rng(1), 220, 20.0)
    rubber = np.clip(weight * cv2.dilate(rubber, np.ones((3, 3), np.uint8)), 0, 1)  # heavy ink: more colour mass
    h, w = rubber.shape
    page = np.full((crop.shape[0] + 2 * h, crop.shape[1] + 2 * w, 3), 255, np.uint8)
    page[h:h + crop.shape[0], w:w + crop.shape[1]] = crop
    composite_ink(page, rubber, other_ink, w + offset[0], h + offset[1])
    crop = page[h:h + crop.shape[0], w:w + crop.shape[1]].copy()
    own = np.zeros(crop.shape[:2], np.float32)
    coverage = render_stamp(SEAL, np.random.default_rng(0), 220, 0.0)
    own[20:20 + coverage.shape[0], 20:20 + coverage.shape[1]] = coverage
    return crop, own


def test_a_bolder_stamp_of_another_ink_across_a_corner_is_not_taken_for_the_stamp():
    crop, own = crop_under_another_stamp(other_ink=(40, 40, 200))  # red, where the seal is blue
    chroma, hue = chroma_and_hue(crop)
    red = (chroma > 60) & ((hue < 10) | (hue > 170))
    assert red.sum() > (chroma > 60).sum() / 2  # the red stamp carries most of the crop's colour
    ink, how = stamp_ink(crop, CONFIG)
    inside = own > 0.3
    assert how == "colour"
    assert (ink[inside] > 0).mean() > 0.6 and (ink[red & ~inside] > 0).mean() < 0.05


def test_a_near_hue_ink_crossing_the_stamp_stays_out():
    """Two stamp-pad inks 15-25 hue units apart (teal over blue, as on real invoices): the hues in between, where
    they cross and along the other's edges, must not let the other stamp into this one's ink."""
    teal = (140, 120, 20)
    crop, own = crop_under_another_stamp(other_ink=teal, weight=1.0)
    chroma, hue = chroma_and_hue(crop)
    teal_hue = int(hue[chroma > 60][np.abs(hue[chroma > 60].astype(int) - 90) < 10].mean())
    seal_hue = int(np.median(hue[(own > 0.5) & (chroma > 60)]))
    assert 12 <= abs(seal_hue - teal_hue) <= 25  # close enough for a fixed +-14 window to reach into the teal
    ink, how = stamp_ink(crop, CONFIG)
    other_only = (chroma > 60) & (np.abs(hue.astype(int) - teal_hue) <= 4) & (own < 0.05)
    assert how == "colour" and other_only.sum() > 500
    assert (ink[other_only] > 0).mean() < 0.05 and (ink[own > 0.3] > 0).mean() > 0.6


def test_any_rotation_lands_on_the_same_scale_and_centre():
    upright = preprocess_stamp(stamped_crop(rotation=0), CONFIG)
    turned = preprocess_stamp(stamped_crop(rotation=73), CONFIG)
    # turning the canvas back lines the two up: the enclosing circle fixes scale and centre
    assert correlation(rotate_canvas(turned, -73), upright) > 0.75
    assert correlation(turned, upright) < correlation(rotate_canvas(turned, -73), upright)
    views = rotation_views(upright, 8)
    assert views.shape == (8, 128, 128) and np.array_equal(views[0], upright)
    assert correlation(views[2], rotate_canvas(upright, 90)) > 0.99


def test_a_rectangular_stamp_is_never_cut_by_rotation():
    box = StampDesign(kind="company", shape="rectangle", width_mm=60, height_mm=24, lines=("ACME LTD", "VAT 12345"),
                      ink_bgr=(150, 55, 95), seed=3)
    canvas = preprocess_stamp(stamped_crop(box), CONFIG)
    for angle in (30, 45, 90):
        assert rotate_canvas(canvas, angle).sum() == pytest.approx(canvas.sum(), rel=0.03)


def test_blank_and_pipeline_dispatch():
    with pytest.raises(InvalidInput, match="no ink"):
        preprocess_stamp(np.full((100, 100, 3), 255, np.uint8), CONFIG)
    assert preprocess_any(stamped_crop(), CONFIG).shape == (128, 128)
    assert preprocess_any(stamped_crop(), PreprocessConfig()).shape == (96, 192)  # the signature pipeline


def test_a_dark_stamp_whose_colour_is_only_scanner_noise_still_has_ink():
    """Regression: a dark brown-black stamp over print, scanned with colour noise, reached the chroma floor (28), but
    the colour found nothing but specks, and preprocessing answered "no ink" for a plainly visible stamp. It now
    falls back to darkness, as for a black stamp."""
    crop = stamped_crop(text=True, ink=(38, 38, 40))
    rng = np.random.default_rng(0)
    for y, x in rng.integers(0, min(crop.shape[:2]) - 4, (120, 2)):  # 4-pixel blotches of colour: JPEG noise
        crop[y:y + 4, x:x + 4] = np.clip(crop[y:y + 4, x:x + 4].astype(int) + np.array([-30, 0, 30]), 0, 255)
    assert float(np.percentile(chroma_and_hue(crop)[0], 99.5)) >= 28  # the colour branch is tried
    canvas = preprocess_stamp(crop, CONFIG)
    clean = preprocess_stamp(stamped_crop(ink=(38, 38, 40)), CONFIG)
    assert (canvas > 0.3).sum() > 0.5 * (clean > 0.3).sum()


def test_a_blue_stamp_over_dense_print_stays_a_colour_stamp():
    _, how = stamp_ink(stamped_crop(text=True), CONFIG)
    assert how == "colour"
