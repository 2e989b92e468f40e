"""The synthetic page generator: valid pages and boxes for many seeds, determinism, real-signature bank."""

import cv2
import numpy as np
from helpers import synthetic_signature

from stampauth.synth.documents import SignatureBank, generate_page, signature_coverage


def test_many_seeds_give_valid_pages_and_boxes():
    kinds_seen = set()
    square = 0
    for index in range(40):
        page = generate_page(np.random.default_rng([11, index]), None, long_side=400)
        h, w = page.image.shape[:2]
        assert page.image.dtype == np.uint8 and page.image.ndim == 3 and max(h, w) == 400
        square += h == w
        for kind, box in page.marks:
            kinds_seen.add(kind)
            assert 0 <= box.x0 < box.x1 <= w and 0 <= box.y0 < box.y1 <= h, (index, kind, box)
            assert box.width >= 3 and box.height >= 3
            # the box holds ink: it is darker inside than the page on average
            inside = page.image[int(box.y0):int(box.y1), int(box.x0):int(box.x1)]
            assert inside.min() < 200
    assert kinds_seen == {"signature", "stamp"}
    assert 2 <= square <= 30, "some pages are exported stretched to a square, most keep their aspect"


def test_same_seed_same_page():
    a = generate_page(np.random.default_rng(3), None, long_side=300)
    b = generate_page(np.random.default_rng(3), None, long_side=300)
    assert np.array_equal(a.image, b.image) and a.marks == b.marks


def test_signature_bank_from_a_labelled_set(tmp_path):
    rows = ["path,writer,label,forger"]
    for writer in ("001", "002"):
        for variant in range(2):
            path = f"{writer}/genuine/{variant}.png"
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / path), cv2.cvtColor(synthetic_signature(int(writer), variant), cv2.COLOR_BGR2GRAY))
            rows.append(f"{path},{writer},genuine,{writer}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    bank = SignatureBank.from_dir(tmp_path, writers={"001"})
    assert len(bank) == 2, "only the named writers' signatures are taken"
    coverage = bank.sample(np.random.default_rng(0))
    assert coverage.dtype == np.float32 and 0 <= coverage.min() and coverage.max() <= 1 and coverage.max() > 0.8
    page = generate_page(np.random.default_rng(5), bank, long_side=500)
    assert page.image.shape[0] == 500 or page.image.shape[1] == 500


def test_blank_scan_has_no_signature_coverage():
    assert signature_coverage(np.full((50, 80), 250, np.uint8)) is None


def test_regression_emblem_parts_never_drawn_inside_out():
    """Nested emblem parts once got insets past the centre and Pillow refused the box (x1 < x0)."""
    from stampauth.synth.documents import _Canvas, _emblem

    canvas = _Canvas(300, 300, 100.0)
    for seed in range(60):
        _emblem(canvas, np.random.default_rng(seed), 20, 20, 40)
    assert canvas.colour_layers


def test_regression_handwritten_notes_at_low_resolution():
    """Notes on low-dpi pages were rendered 12 px tall while the gaps between words were shorter."""
    from stampauth.synth.documents import _hand_annotations

    page = np.full((900, 640, 3), 245.0, np.float32)
    for seed in range(30):
        _hand_annotations(page, np.random.default_rng(seed), dpi=50.0)
    assert page.min() < 200, "some ink landed"
