"""The detector's pieces without trained weights: targets, decoding, input shapes, claims, annotation."""

import cv2
import numpy as np
import pytest

from stampauth.annotate import annotate_page
from stampauth.detection.detector import decode_kernels, page_input
from stampauth.detection.model import N_OUTPUTS, STRIDE, detector_model, kernel_targets
from stampauth.detection.types import Box, Detection
from stampauth.documents import ClaimOutcome, DocumentClaim, MarkVerification, judge_claim
from stampauth.scoring import Decision, Verdict


def test_kernel_targets_round_trip_through_decoding():
    boxes = [(0, (40.0, 60.0, 200.0, 120.0)), (1, (250.0, 250.0, 370.0, 370.0)), (0, (205.0, 60.0, 330.0, 110.0))]
    target = kernel_targets(boxes, 384, 384, shrink=0.5)
    assert target.shape == (384 // STRIDE, 384 // STRIDE, N_OUTPUTS)
    target[..., :2] *= 0.9
    decoded = decode_kernels(target, map_threshold=0.4)
    assert len(decoded) == 3, "two touching signatures must stay two marks"
    for cls, box in boxes:
        matches = [d for d in decoded if d[0] == cls and Box(*d[2]).iou(Box(*box)) > 0.97]
        assert len(matches) == 1, (cls, box, decoded)
        assert matches[0][1] == pytest.approx(0.9)


def test_fragmented_blob_is_merged_into_one_mark():
    target = kernel_targets([(1, (100.0, 100.0, 300.0, 300.0))], 384, 384, shrink=0.5)
    target[:, 37, 1] = 0  # a gap splits the kernel in two
    decoded = decode_kernels(target, map_threshold=0.4)
    assert len(decoded) == 1
    assert Box(*decoded[0][2]).iou(Box(100.0, 100.0, 300.0, 300.0)) > 0.97


def test_tiny_box_still_gets_a_kernel_cell():
    target = kernel_targets([(0, (10.0, 10.0, 13.0, 12.0))], 64, 64, shrink=0.5)
    assert target[..., 0].sum() >= 1


def test_page_input_keeps_aspect_and_pads_to_32():
    page = np.full((3508, 2480, 3), 255, np.uint8)
    x, sx, sy = page_input(page, 640)
    assert x.shape[0] == 640 and x.shape[1] % 32 == 0 and x.dtype == np.float32
    assert sx == pytest.approx(2480 / round(2480 * 640 / 3508)) and sy == pytest.approx(3508 / 640)
    assert x.max() <= 1.0


def test_model_output_shape_and_size_budget():
    model = detector_model()
    assert model.count_params() <= 3_000_000
    out = model(np.zeros((1, 128, 96, 3), np.float32))
    assert tuple(out.shape) == (1, 32, 24, N_OUTPUTS)
    assert float(out[..., :2].numpy().min()) >= 0 and float(out[..., :2].numpy().max()) <= 1


def _decision(verdict, score):
    return Decision(verdict, score, 0.6, 0.04, 0.5, "m", 3 if verdict is not Verdict.NO_REFERENCE else 0)


def _mark(page=1, kind="signature", box=Box(10, 10, 50, 30)):
    return Detection(kind, box, 0.9, page)


def test_claim_admits_kind_page_and_region():
    claim = DocumentClaim("alice", "signature", 2, Box(0, 0, 100, 100))
    assert claim.admits(_mark(page=2))
    assert not claim.admits(_mark(page=1))
    assert not claim.admits(_mark(page=2, kind="stamp"))
    assert not claim.admits(_mark(page=2, box=Box(200, 200, 260, 240)))
    assert DocumentClaim("alice").admits(_mark(page=5, kind="stamp"))


@pytest.mark.parametrize("verdicts, outcome, verdict", [
    ([], ClaimOutcome.MISSING_MARK, Verdict.FORGED),
    ([(Verdict.FORGED, 0.2), (Verdict.GENUINE, 0.8)], ClaimOutcome.SATISFIED, Verdict.GENUINE),
    ([(Verdict.FORGED, 0.2), (Verdict.INCONCLUSIVE, 0.58)], ClaimOutcome.INCONCLUSIVE, Verdict.INCONCLUSIVE),
    ([(Verdict.FORGED, 0.2), (Verdict.FORGED, 0.3)], ClaimOutcome.FORGED, Verdict.FORGED),
    ([(Verdict.NO_REFERENCE, float("nan"))], ClaimOutcome.NO_REFERENCE, Verdict.NO_REFERENCE),
])
def test_judge_claim(verdicts, outcome, verdict):
    claim = DocumentClaim("alice", "signature")
    items = [MarkVerification(i, _mark(), "alice", _decision(v, s)) for i, (v, s) in enumerate(verdicts)]
    result = judge_claim(claim, items)
    assert result.outcome is outcome and result.verdict is verdict
    assert result.explanation
    if outcome is ClaimOutcome.SATISFIED:
        assert result.mark_index == 1
    if outcome is ClaimOutcome.FORGED:
        assert result.mark_index == 1, "the best (highest similarity) mark explains a failed claim"


def test_annotated_page_is_a_scaled_png():
    page = np.full((3000, 2000, 3), 255, np.uint8)
    data = annotate_page(page, [(0, _mark(box=Box(100, 100, 900, 400)), Verdict.GENUINE, "alice GENUINE 0.81")])
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and max(image.shape[:2]) == 1600
    assert (image[:, :, 1].astype(int) - image[:, :, 2]).max() > 80, "a GENUINE box is drawn in green"
