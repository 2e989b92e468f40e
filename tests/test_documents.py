"""Whole documents with the shipped detector: detection on generated pages (recall and box overlap),
VerifyDocument end to end through a real gRPC server, multi-page TIFF and PDF, and bad input."""

import cv2
import grpc
import numpy as np
import pytest
from helpers import encode, pillow_bytes

from stampauth.detection.detector import load_detector
from stampauth.detection.types import Box
from stampauth.modeling.card import load_encoder
from stampauth.server.app import build_server
from stampauth.documents import DocumentClaim
from stampauth.service import SpecimenInput, StampAuth
from stampauth.store import open_store
from stampauth.synth.documents import generate_page
from stampauth.synth.fonts import random_font
from stampauth.synth.signatures import random_style, render_signature
from stampauth.synth.stamps import composite_ink, random_design, render_stamp
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

SIG = pb.MARK_KIND_SIGNATURE
INK = (130, 40, 20)  # blue ballpoint, BGR


@pytest.fixture(scope="module")
def detector():
    return load_detector()


@pytest.fixture(scope="module")
def styles():
    rng = np.random.default_rng(2024)
    return [random_style(rng) for _ in range(2)]


def signature_crop(style, sample: int) -> np.ndarray:
    """A specimen as a scanned crop: ``(H, W, 3) uint8`` BGR, ink on white paper."""
    coverage = render_signature(style, np.random.default_rng([77, sample]), height_px=90)
    crop = np.full((*coverage.shape, 3), 255.0, np.float32)
    crop *= 1.0 - coverage[..., None] * (1.0 - np.asarray(INK, np.float32) / 255.0)
    return np.pad(crop.astype(np.uint8), ((12, 12), (12, 12), (0, 0)), constant_values=255)


def letter_page(seed: int, signature: np.ndarray | None = None, stamp: bool = False):
    """A printed A4 letter at 150 dpi (1240 x 1754) with a signature above the signature line and,
    optionally, a stamp beside it. Returns ``(page BGR, {kind: Box})`` with the marks' ink boxes."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(image)
    font = random_font(rng, 24, "serif")
    draw.text((120, 120), "ACME Holding B.V.", font=random_font(rng, 44, "bold"), fill="black")
    for line in range(22):
        words = " ".join("".join(rng.choice(list("abcdefghilmnoprstuv"), size=rng.integers(2, 9))) for _ in range(9))
        draw.text((120, 300 + line * 38), words, font=font, fill="black")
    draw.line([(150, 1390), (600, 1390)], fill="black", width=2)
    draw.text((150, 1400), "J. Jansen, Director", font=font, fill="black")
    page = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR).copy()
    marks = {}
    if signature is not None:
        h, w = signature.shape[:2]
        x, y = 200, 1400 - h
        region = page[y:y + h, x:x + w]
        np.minimum(region, signature, out=region)
        ys, xs = np.nonzero(signature.min(axis=2) < 200)
        marks["signature"] = Box(x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1)
    if stamp:
        # an official round seal: the kind every detector must find (pale and frameless ones are harder)
        design = next(d for d in (random_design(np.random.default_rng([seed, k])) for k in range(200)) if d.kind == "seal")
        coverage = render_stamp(design, np.random.default_rng(seed + 1), 260)
        marks["stamp"] = Box(*composite_ink(page, coverage, design.color_bgr, 760, 1250))
    return page, marks


# -- detection ----------------------------------------------------------------------------------


def test_detects_signature_and_stamp_on_a_printed_letter(detector, styles):
    page, truth = letter_page(1, signature_crop(styles[0], 0), stamp=True)
    found = detector.detect(page)
    for kind, box in truth.items():
        best = max((d.box.iou(box) for d in found if d.kind == kind), default=0.0)
        assert best >= 0.5, f"{kind} at {box} not found (best IoU {best:.2f}); detections {found}"
    assert all(0 < d.score <= 1 for d in found)
    assert len(found) <= 3, f"printed text should not be taken for marks: {found}"


def test_page_without_marks_has_none(detector):
    page, _ = letter_page(2)
    assert [d for d in detector.detect(page) if d.score >= 0.5] == []


def test_recall_on_generated_pages(detector):
    """Synthetic pages from a seed the detector never trained on (synthetic signatures only, pale and
    frameless stamps included): most marks found with IoU >= 0.5."""
    found = total = 0
    for index in range(16):
        page = generate_page(np.random.default_rng([4242, index]), None, long_side=1100)
        detections = detector.detect(page.image, min_score=0.5)
        for kind, box in page.marks:
            total += 1
            found += any(d.kind == kind and d.box.iou(box) >= 0.5 for d in detections)
    assert total >= 16
    assert found / total >= 0.65, f"recall {found}/{total}"


def test_min_score_and_kind_filters(detector, styles):
    page, _ = letter_page(3, signature_crop(styles[0], 1), stamp=True)
    only_stamps = detector.detect(page, kinds=("stamp",))
    assert only_stamps and all(d.kind == "stamp" for d in only_stamps)
    assert detector.detect(page, min_score=0.999) == []


# -- VerifyDocument through a real server ---------------------------------------------------------


@pytest.fixture(scope="module")
def stub(detector, tmp_path_factory):
    core = StampAuth(open_store(f"sqlite:///{tmp_path_factory.mktemp('docs') / 'refs.db'}"),
                     {"signature": load_encoder("signature")}, detector=detector)
    running = build_server(core, port=0, host="127.0.0.1")
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield pb_grpc.StampAuthServiceStub(channel)
    running.stop(grace=1)


@pytest.fixture(scope="module")
def enrolled(stub, styles):
    stub.CreateIdentity(pb.CreateIdentityRequest(
        identity=pb.Identity(identity_id="jansen", display_name="J. Jansen"),
        specimens=[pb.SpecimenInput(kind=SIG, image=pb.ImageData(content=encode(signature_crop(styles[0], s))))
                   for s in range(2, 7)],
    ))
    stub.CreateIdentity(pb.CreateIdentityRequest(identity=pb.Identity(identity_id="no-specimens")))
    return "jansen"


def verify(stub, page_bytes, *claims, **options):
    return stub.VerifyDocument(pb.VerifyDocumentRequest(
        document=pb.DocumentData(content=page_bytes), claims=list(claims), options=pb.DetectOptions(**options)))


def test_verify_document_genuine_signature(stub, enrolled, styles):
    page, truth = letter_page(5, signature_crop(styles[0], 20))
    response = verify(stub, encode(page, ".jpg"), pb.Claim(identity_id=enrolled, kind=SIG), annotate=True)
    assert response.all_claims_satisfied, response.claim_results[0].explanation
    result = response.claim_results[0]
    assert result.outcome == pb.CLAIM_OUTCOME_SATISFIED and result.verdict == pb.VERDICT_GENUINE
    mark = next(v for v in response.verifications if v.mark.mark_index == result.mark_index)
    b = mark.mark.box
    assert Box(b.x_min, b.y_min, b.x_max, b.y_max).iou(truth["signature"]) >= 0.5
    d = mark.decision
    assert d.score_kind == pb.SCORE_KIND_SIMILARITY and d.score >= d.threshold and d.model_version
    assert d.references_used == 5 and 0 <= d.probability_genuine <= 1 and mark.mark.detection_score > 0
    assert response.detector_version and response.pages[0].width == 1240
    assert len(response.annotated_pages) == 1 and response.annotated_pages[0][:4] == b"\x89PNG"


def test_verify_document_other_writer_is_not_genuine(stub, enrolled, styles):
    page, _ = letter_page(6, signature_crop(styles[1], 0))
    response = verify(stub, encode(page), pb.Claim(identity_id=enrolled, kind=SIG))
    result = response.claim_results[0]
    assert not response.all_claims_satisfied
    assert result.outcome == pb.CLAIM_OUTCOME_FORGED and result.verdict == pb.VERDICT_FORGED, result.explanation
    assert any(v.decision.verdict == pb.VERDICT_FORGED for v in response.verifications)


def test_verify_document_without_claims_identifies_each_mark(stub, enrolled, styles):
    page, truth = letter_page(5, signature_crop(styles[0], 21))
    response = verify(stub, encode(page, ".jpg"))
    assert not response.claim_results and not response.all_claims_satisfied
    signature = [v for v in response.verifications if v.mark.kind == SIG]
    assert signature and signature[0].identity_id == enrolled  # the enrolled writer, best first
    assert signature[0].decision.references_used == 5
    b = signature[0].mark.box
    assert Box(b.x_min, b.y_min, b.x_max, b.y_max).iou(truth["signature"]) >= 0.5


def test_claim_outcomes_missing_mark_and_no_reference(stub, enrolled, styles):
    page, _ = letter_page(7, signature_crop(styles[0], 21))
    response = verify(stub, encode(page), pb.Claim(identity_id=enrolled, kind=SIG, page_number=2),
                      pb.Claim(identity_id="no-specimens", kind=SIG),
                      pb.Claim(identity_id=enrolled, kind=SIG, region=pb.BoundingBox(x_min=0, y_min=0, x_max=300, y_max=200)))
    missing_page, no_reference, missing_region = response.claim_results
    assert missing_page.outcome == pb.CLAIM_OUTCOME_MISSING_MARK and not missing_page.HasField("mark_index")
    assert no_reference.outcome == pb.CLAIM_OUTCOME_NO_REFERENCE and no_reference.verdict == pb.VERDICT_NO_REFERENCE
    assert "enroll" in no_reference.explanation
    assert missing_region.outcome == pb.CLAIM_OUTCOME_MISSING_MARK
    assert not response.all_claims_satisfied


def test_multi_page_tiff_and_pdf(stub, enrolled, styles):
    blank, _ = letter_page(8)
    signed, truth = letter_page(9, signature_crop(styles[0], 22))
    for data in (pillow_bytes([blank, signed], "TIFF", compression="tiff_lzw"), pillow_bytes([blank, signed], "PDF", resolution=150)):
        detected = stub.DetectMarks(pb.DetectMarksRequest(document=pb.DocumentData(content=data)))
        assert [p.page_number for p in detected.pages] == [1, 2]
        assert any(m.page_number == 2 and m.kind == SIG for m in detected.marks)
        assert not any(m.page_number == 1 and m.detection_score >= 0.5 for m in detected.marks)
        response = verify(stub, data, pb.Claim(identity_id=enrolled, kind=SIG, page_number=2))
        assert response.claim_results[0].outcome == pb.CLAIM_OUTCOME_SATISFIED, response.claim_results[0].explanation


def test_server_info_describes_the_detector(stub):
    info = stub.GetServerInfo(pb.GetServerInfoRequest())
    assert info.detector.version.startswith("detector-") and info.detector.input_long_side > 0
    assert {t.kind for t in info.detector.score_thresholds} == {SIG, pb.MARK_KIND_STAMP}
    assert info.detector.stamp_one_ink_weight == pytest.approx(load_detector().card.stamp_one_ink_weight)
    assert "DetectMarks" not in info.unimplemented_methods and "VerifyDocument" not in info.unimplemented_methods


def test_annotating_too_many_pages_is_refused_before_any_work(stub):
    page, _ = letter_page(11)
    small = cv2.resize(page, (124, 175))
    data = pillow_bytes([small] * 21, "TIFF")
    with pytest.raises(grpc.RpcError) as caught:
        stub.DetectMarks(pb.DetectMarksRequest(document=pb.DocumentData(content=data), options=pb.DetectOptions(annotate=True)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "annotate" in caught.value.details()
    assert len(stub.DetectMarks(pb.DetectMarksRequest(document=pb.DocumentData(content=data))).pages) == 21


def test_document_bad_input(stub, enrolled):
    page, _ = letter_page(10)
    good = encode(page)
    cases = [
        (stub.DetectMarks, pb.DetectMarksRequest(document=pb.DocumentData(content=b"")), grpc.StatusCode.INVALID_ARGUMENT),
        (stub.DetectMarks, pb.DetectMarksRequest(document=pb.DocumentData(content=b"not an image at all")),
         grpc.StatusCode.INVALID_ARGUMENT),
        (stub.DetectMarks, pb.DetectMarksRequest(document=pb.DocumentData(content=good[: len(good) // 2])),
         grpc.StatusCode.INVALID_ARGUMENT),
        (stub.DetectMarks, pb.DetectMarksRequest(document=pb.DocumentData(content=good),
                                                 options=pb.DetectOptions(min_score=2.0)), grpc.StatusCode.INVALID_ARGUMENT),
        (stub.DetectMarks, pb.DetectMarksRequest(document=pb.DocumentData(content=good),
                                                 options=pb.DetectOptions(ocr_languages=["eng"])),
         grpc.StatusCode.INVALID_ARGUMENT),
        (stub.DetectMarks, pb.DetectMarksRequest(document=pb.DocumentData(content=good),
                                                 options=pb.DetectOptions(ocr=True, ocr_budget_ms=10**7)),
         grpc.StatusCode.INVALID_ARGUMENT),
        (stub.DetectMarks, pb.DetectMarksRequest(document=pb.DocumentData(content=good),
                                                 options=pb.DetectOptions(ocr=True, ocr_languages=["../etc"])),
         grpc.StatusCode.INVALID_ARGUMENT),
        (stub.VerifyDocument, pb.VerifyDocumentRequest(document=pb.DocumentData(content=good),
                                                       claims=[pb.Claim(identity_id="nobody")]), grpc.StatusCode.NOT_FOUND),
        (stub.VerifyDocument, pb.VerifyDocumentRequest(document=pb.DocumentData(content=good),
                                                       claims=[pb.Claim(identity_id=enrolled, kind=pb.MARK_KIND_STAMP)]),
         grpc.StatusCode.FAILED_PRECONDITION),
        (stub.VerifyDocument, pb.VerifyDocumentRequest(document=pb.DocumentData(content=good),
                                                       claims=[pb.Claim(identity_id="bad id!")]), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for call, request, code in cases:
        with pytest.raises(grpc.RpcError) as caught:
            call(request)
        assert caught.value.code() == code, (request, caught.value.details())
        assert caught.value.details()
    assert stub.DetectMarks(pb.DetectMarksRequest(document=pb.DocumentData(content=good))).pages, "still serving"


def test_claim_of_any_kind_on_a_stamp_only_page_says_stamps_cannot_be_verified_yet(stub, enrolled):
    page, truth = letter_page(12, stamp=True)
    response = verify(stub, encode(page), pb.Claim(identity_id=enrolled))
    result = response.claim_results[0]
    assert result.outcome == pb.CLAIM_OUTCOME_MISSING_MARK
    assert "no stamp model" in result.explanation, result.explanation


def test_a_300_dpi_jpeg_decoded_smaller_reports_the_same_marks_in_page_pixels(detector, styles, monkeypatch):
    """Without OCR a large JPEG is decoded at half size (faster); boxes and page size stay in the file's pixels and
    the verdicts match a full-size decode."""
    page, truth = letter_page(11, signature_crop(styles[0], 21), stamp=True)
    page = cv2.resize(page, (2480, 3508), interpolation=cv2.INTER_CUBIC)  # 300 dpi
    content = encode(page, ".jpg")
    core = StampAuth(open_store("sqlite://:memory:"), {"signature": load_encoder("signature")}, detector=detector)
    core.create_identity("jansen", specimens=[SpecimenInput("signature", encode(signature_crop(styles[0], s)))
                                              for s in range(2, 7)])
    claims = [DocumentClaim("jansen", "signature")]
    half = core.verify_document(content, claims)
    monkeypatch.setattr(StampAuth, "WORKING_LONG_SIDE", 0)
    full = core.verify_document(content, claims)
    assert half.pages == full.pages and (half.pages[0].width, half.pages[0].height) == (2480, 3508)
    assert len(half.marks) == len(full.marks) >= 2
    for a, b in zip(half.marks, full.marks):
        assert a.kind == b.kind and a.box.iou(b.box) >= 0.9
    signature = next(m for m in half.marks if m.kind == "signature")
    assert signature.box.iou(truth["signature"].scaled(2, 2)) >= 0.5
    assert [r.verdict for r in half.claim_results] == [r.verdict for r in full.claim_results]
    # the same page as PNG (decoded at full size, its crops cut at the working resolution) gives the same scores
    monkeypatch.setattr(StampAuth, "WORKING_LONG_SIDE", 1600)
    png = core.verify_document(encode(page, ".png"), claims)
    assert [r.verdict for r in png.claim_results] == [r.verdict for r in half.claim_results]
    for a, b in zip(png.verifications, half.verifications):
        assert a.mark_index == b.mark_index and abs(a.decision.score - b.decision.score) < 0.03
