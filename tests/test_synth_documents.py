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


def test_script_and_handwriting_fonts_are_drawn_only_on_request(monkeypatch):
    from stampauth.synth import fonts

    def named(paths):
        return [p.rsplit("/", 1)[-1].lower() for p in paths]

    # body text never comes out in a handwriting or display-script font, whatever the machine has installed
    for name in named(fonts.font_files()):
        assert not name.startswith(fonts.SPECIAL_FONTS["script"] + fonts.SPECIAL_FONTS["hand"]), name
    # without any such font installed, "hand" and "script" still give a font (an italic print one, or any)
    monkeypatch.setattr(fonts, "special_font_files", lambda style: ())
    assert fonts.random_font(np.random.default_rng(0), 20, "hand") is not None
    assert fonts.random_font(np.random.default_rng(0), 20, "script") is not None


def test_handwritten_dates_and_entries_are_ink_but_not_marks():
    from stampauth.synth.documents import _fill_by_hand, _handwriting, _handwritten_date, _script_lettering

    rng = np.random.default_rng(4)
    dates = [_handwritten_date(rng) for _ in range(50)]
    assert all(any(ch.isdigit() for ch in d) for d in dates) and len(set(dates)) > 40
    coverage = _handwriting(rng, "3/13/85", 40)
    assert coverage.dtype == np.float32 and coverage.max() > 0.5 and coverage.shape[1] > coverage.shape[0]
    logo = _script_lettering(rng, "Lorimar", 40)
    assert logo.dtype == np.uint8 and logo.max() == 255 and logo.shape[1] > 2 * logo.shape[0]
    page = np.full((600, 500, 3), 245.0, np.float32)
    _fill_by_hand(page, np.random.default_rng(1), [(50, 100 + 60 * i, 200, "date") for i in range(6)], dpi=120.0)
    assert page.min() < 150, "dates were written on the page"


def test_many_pages_carry_handwritten_entries():
    """Dates and form entries by hand (hard negatives: handwriting that is not a signature) land on many pages."""
    from stampauth.synth import documents

    written = []
    original = documents._fill_by_hand

    def spy(page, rng, slots, dpi):
        before = page.copy()
        original(page, rng, slots, dpi)
        written.append(not np.array_equal(before, page))

    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(documents, "_fill_by_hand", spy)
        for index in range(20):
            generate_page(np.random.default_rng([21, index]), None, long_side=400, version=2)
    assert sum(written) >= 3, written


def test_generator_version_1_draws_no_handwritten_entries_and_unknown_versions_are_refused():
    import pytest

    from stampauth.synth import documents

    calls = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(documents, "_fill_by_hand", lambda *args: calls.append(args))
        for index in range(20):
            generate_page(np.random.default_rng([21, index]), None, long_side=400, version=1)
    assert not calls, "version 1 pages are the shipped detector's training pages, unchanged"
    with pytest.raises(ValueError, match="generator version"):
        generate_page(np.random.default_rng(0), None, long_side=400, version=9)


def test_generator_version_3_prints_invoice_tables_totals_and_codes_and_earlier_versions_do_not():
    import pytest

    from stampauth.synth import documents

    calls: dict[str, list] = {"dense": [], "totals": [], "code": [], "colour": []}
    table, totals, code, colour_exit = documents._table, documents._totals_box, documents._barcode, documents._InColour.__exit__

    def spy_table(*args, **kwargs):
        calls["dense"].append(bool(args[6] if len(args) > 6 else kwargs.get("dense", False)))
        return table(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(documents, "_table", spy_table)
        patch.setattr(documents, "_totals_box", lambda *a: calls["totals"].append(1) or totals(*a))
        patch.setattr(documents, "_barcode", lambda *a: calls["code"].append(1) or code(*a))
        patch.setattr(documents._InColour, "__exit__", lambda self, *e: calls["colour"].append(1) or colour_exit(self, *e))
        for version in (1, 2):
            for index in range(25):
                generate_page(np.random.default_rng([22, index]), None, long_side=400, version=version)
        assert not any(calls["dense"]) and not calls["totals"] and not calls["code"] and not calls["colour"]
        for index in range(40):
            generate_page(np.random.default_rng([22, index]), None, long_side=400, version=3)
    assert sum(calls["dense"]) >= 3 and calls["totals"] and calls["code"] and calls["colour"], {k: len(v) for k, v in calls.items()}


def test_printing_in_colour_restores_the_black_print_layer():
    from stampauth.synth import documents

    canvas = documents._Canvas(200, 100, 100)
    black_layer = canvas.ink
    with documents._InColour(canvas, (200, 30, 30)):
        canvas.text((5, 5), "Total 1,200.00", documents.fonts.random_font(np.random.default_rng(0), 14, "sans"))
    assert canvas.ink is black_layer and np.asarray(black_layer).max() == 0
    layer, colour = canvas.colour_layers[-1]
    assert colour == (200, 30, 30) and np.asarray(layer).max() == 255


def test_generator_version_4_prints_crests_and_badges_unlabelled_and_version_3_pages_are_unchanged():
    import pytest

    from stampauth.synth import documents

    before = [generate_page(np.random.default_rng([23, index]), None, long_side=400, version=3) for index in range(3)]
    drawn = []
    crest, badge = documents._crest, documents._printed_badge
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(documents, "_crest", lambda canvas, *a: drawn.append(len(canvas.colour_layers)) or crest(canvas, *a))
        patch.setattr(documents, "_printed_badge", lambda canvas, *a: drawn.append(len(canvas.colour_layers)) or badge(canvas, *a))
        for index in range(3):
            again = generate_page(np.random.default_rng([23, index]), None, long_side=400, version=3)
            assert np.array_equal(again.image, before[index].image) and again.marks == before[index].marks
        assert not drawn, "version 3 draws no crests or badges"
        for index in range(30):
            generate_page(np.random.default_rng([23, index]), None, long_side=400, version=4)
    assert len(drawn) >= 4, drawn


def test_printed_crests_and_badges_are_solid_and_in_more_than_one_colour():
    """The hard negatives that printed logos are: solid fills, two or more colours (a rubber stamp prints one ink)."""
    from stampauth.synth import documents

    for draw, seed in [(documents._crest, 1), (documents._printed_badge, 2), (documents._printed_badge, 5)]:
        for attempt in range(10):  # a badge skips designs without a frame to fill; another draw brings one
            canvas = documents._Canvas(300, 300, 150)
            draw(canvas, np.random.default_rng([seed, attempt]), 20, 20, 120)
            if canvas.colour_layers:
                break
        layers = [np.asarray(layer) > 127 for layer, _ in canvas.colour_layers]
        colours = {colour for _, colour in canvas.colour_layers}
        inked = np.logical_or.reduce(layers)
        assert len(colours) >= 1 and inked.sum() > 0.25 * 120 * 120, (draw.__name__, inked.sum())
        assert len(colours) >= 2 or draw is documents._printed_badge  # a knocked-out badge prints one solid colour


def test_generator_version_5_writes_note_blocks_and_stacks_co_signers_and_version_4_does_not():
    import pytest

    from stampauth.synth import documents

    blocks, stacked = [], []
    note_block = documents._handwritten_note_block
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(documents, "_handwritten_note_block", lambda rng, dpi: blocks.append(dpi) or note_block(rng, dpi))
        for index in range(30):
            generate_page(np.random.default_rng([24, index]), None, long_side=400, version=4)
        assert not blocks, "version 4 writes no blocks of handwritten lines"
        for index in range(40):
            page = generate_page(np.random.default_rng([24, index]), None, long_side=400, version=5)
            signatures = [box for kind, box in page.marks if kind == "signature"]
            # co-signers one above the other: boxes that share columns, one lower than the other
            stacked.append(any(a.y1 < b.y1 and min(a.x1, b.x1) - max(a.x0, b.x0) > 0 and b.y0 - a.y0 > 0.5 * a.height
                               for a in signatures for b in signatures if a is not b))
            assert all(box.width >= 3 and box.height >= 3 for _, box in page.marks)
    assert len(blocks) >= 5, blocks
    assert sum(stacked) >= 2, stacked


def test_generator_version_6_takes_nine_in_ten_labelled_signatures_from_the_bank():
    import pytest

    from stampauth.synth import documents

    bank = SignatureBank([signature_coverage(cv2.cvtColor(synthetic_signature(i), cv2.COLOR_BGR2GRAY)) for i in range(4)])
    drawn = {"real": 0, "synthetic": 0}
    sample, pen = bank.sample, documents._synthetic_signature
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bank, "sample", lambda rng: drawn.__setitem__("real", drawn["real"] + 1) or sample(rng))
        patch.setattr(documents, "_synthetic_signature",
                      lambda rng, h: drawn.__setitem__("synthetic", drawn["synthetic"] + 1) or pen(rng, h))
        shares = {}
        for version in (5, 6):
            drawn.update(real=0, synthetic=0)
            for index in range(30):
                generate_page(np.random.default_rng([25, index]), bank, long_side=400, version=version)
            shares[version] = drawn["real"] / max(1, drawn["real"] + drawn["synthetic"])
    assert 0.4 < shares[5] < 0.8 and shares[6] > 0.8, shares


def test_a_handwritten_note_block_has_several_lines_of_ink():
    from stampauth.synth.documents import _handwritten_code, _handwritten_note_block

    rng = np.random.default_rng(5)
    codes = [_handwritten_code(rng) for _ in range(40)]
    assert sum(any(ch.isdigit() for ch in code) for code in codes) >= 35 and len(set(codes)) > 30
    for seed in range(6):
        block = _handwritten_note_block(np.random.default_rng(seed), dpi=120.0)
        assert block.dtype == np.float32 and 0 <= block.min() and block.max() <= 1.0 + 1e-6
        rows = np.flatnonzero((block > 0.3).any(axis=1))
        gaps = np.flatnonzero(np.diff(rows) > 1)  # blank rows between lines of writing
        assert block.shape[0] > 0.2 * 120 and len(rows) and (len(gaps) >= 1 or block.shape[0] > 0.5 * 120), seed
