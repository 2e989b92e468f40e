"""Stamps end to end through a real gRPC server: enrol impressions of a stamp, verify new impressions
at any angle as GENUINE and a re-made copy as FORGED, on crops and on whole documents."""

import dataclasses

import cv2
import grpc
import numpy as np
import pytest
from helpers import encode

from stampauth.detection.detector import load_detector
from stampauth.modeling.card import load_encoder
from stampauth.server.app import build_server
from stampauth.service import StampAuth
from stampauth.store import open_store
from stampauth.synth.stamp_sets import impression
from stampauth.synth.stamps import StampDesign, composite_ink, render_stamp
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

STAMP = pb.MARK_KIND_STAMP
SEAL = StampDesign(  # fonts are filled in by seal() from the installed ones
    kind="seal", shape="double_round", width_mm=40, height_mm=40, ring_text="NORTHWIND LOGISTICS B.V. * ROTTERDAM *",
    lines=("KVK 24587301",), emblem="star", border_mm=(0.9, 0.4), inner_ring_mm=0.4, ring_cap_mm=2.9,
    ink_bgr=(165, 70, 35), seed=8128,
)


def with_font(design: StampDesign, part: str) -> StampDesign:
    """The design with one of its fonts swapped for an installed face of another family."""
    from stampauth.synth import fonts

    current = getattr(design, part) or ""
    others = [path for path in fonts.font_files() if "serif" in path.lower() and "sans" not in path.lower()
              and path != current]
    return dataclasses.replace(design, **{part: others[0]})


def seal() -> StampDesign:
    from stampauth.synth import fonts

    files = fonts.font_files()
    bold = next((p for p in files if p.lower().endswith("dejavusans-bold.ttf")), None)
    plain = next((p for p in files if p.lower().endswith("dejavusans.ttf")), None)
    return dataclasses.replace(SEAL, font_ring=bold, font_lines=plain, font_centre=bold)


def remade(design: StampDesign) -> StampDesign:
    """A crudely re-made rubber copying the words and layout: another typeface for the ring text, a shield
    where the star was, one digit of the number changed, a single border."""
    return dataclasses.replace(with_font(design, "font_ring"), lines=("KVK 24537301",), emblem="shield",
                               border_mm=(0.9,), remake=7)


def crop(design: StampDesign, rotation: float, seed: int) -> bytes:
    return encode(impression(design, np.random.default_rng(seed), 300, rotation, clutter=seed % 2 == 0))


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    core = StampAuth(open_store(f"sqlite:///{tmp_path_factory.mktemp('stamps') / 'refs.db'}"),
                     {"signature": load_encoder("signature"), "stamp": load_encoder("stamp")}, detector=load_detector())
    running = build_server(core, port=0, host="127.0.0.1")
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield pb_grpc.StampAuthServiceStub(channel)
    running.stop(grace=1)


OTHER = StampDesign(  # another company's seal: other words, the same shape and colour
    kind="seal", shape="round", width_mm=38, height_mm=38, ring_text="HARBOUR FREIGHT SERVICES LTD * LEITH *",
    lines=("REG 5512",), emblem="globe", border_mm=(1.0,), inner_ring_mm=0.4, ring_cap_mm=3.0,
    ink_bgr=(165, 70, 35), seed=4096,
)


@pytest.fixture(scope="module")
def enrolled(stub):
    design = seal()
    stub.CreateIdentity(pb.CreateIdentityRequest(
        identity=pb.Identity(identity_id="northwind", display_name="Northwind Logistics B.V."),
        specimens=[pb.SpecimenInput(kind=STAMP, image=pb.ImageData(content=crop(design, angle, seed)))
                   for seed, angle in ((1, 0.0), (2, 140.0), (3, 255.0))],
    ))
    return design


def verify_image(stub, content: bytes):
    return stub.VerifyImage(pb.VerifyImageRequest(identity_id="northwind", kind=STAMP, image=pb.ImageData(content=content)))


def not_below_the_band(decision) -> bool:
    return decision.score >= decision.threshold - decision.review_band


# How sure the verdicts are is the model's accuracy, measured by 'stampauth eval stamps' (models/MODEL_CARD.md);
# the shipped model does not yet tell re-made stamps apart well enough for confident verdicts (its review band
# is wide), so these tests hold the behaviour: any angle scores alike, genuine above re-made above another
# company's stamp, neither of those two is ever GENUINE, and documents reach the same decisions as crops.

def test_an_impression_at_any_angle_scores_like_an_upright_one(stub, enrolled):
    upright = verify_image(stub, crop(enrolled, 0.0, 11)).decision
    for angle in (47.0, 203.7, 301.0):
        turned = verify_image(stub, crop(enrolled, angle, 11)).decision
        assert abs(turned.score - upright.score) < 0.06, (angle, turned.score, upright.score)
        assert turned.verdict != pb.VERDICT_FORGED and not_below_the_band(turned)
        assert turned.references_used == 3 and turned.model_version.startswith("stamp-")
        # the shipped stamp card has an overlay check: every decision is laid on the references too
        assert "+overlay-" in turned.model_version and turned.HasField("ink_outside_share")
        assert turned.score_kind == pb.SCORE_KIND_SIMILARITY and len(turned.reference_similarities) == 3


def test_genuine_scores_above_a_remade_copy_and_a_remade_copy_above_another_stamp(stub, enrolled):
    genuine = [verify_image(stub, crop(enrolled, angle, seed)).decision.score for seed, angle in ((12, 95.0), (13, 310.0))]
    remade_scores = []
    for seed, angle in ((21, 95.0), (22, 310.0)):
        decision = verify_image(stub, crop(remade(enrolled), angle, seed)).decision
        assert decision.verdict != pb.VERDICT_GENUINE, decision
        remade_scores.append(decision.score)
    other = verify_image(stub, crop(OTHER, 95.0, 23)).decision
    assert min(genuine) > max(remade_scores) > other.score
    assert other.verdict != pb.VERDICT_GENUINE, other


def test_compare_images_of_stamps(stub, enrolled):
    reference = pb.ImageData(content=crop(enrolled, 10, 31))
    same = stub.CompareImages(pb.CompareImagesRequest(kind=STAMP, reference=reference,
                                                      query=pb.ImageData(content=crop(enrolled, 190, 32))))
    other = stub.CompareImages(pb.CompareImagesRequest(kind=STAMP, reference=reference,
                                                       query=pb.ImageData(content=crop(OTHER, 190, 33))))
    assert same.decision.score > other.decision.score
    assert same.decision.references_used == 1 and other.decision.verdict != pb.VERDICT_GENUINE


def stamped_page(design: StampDesign, seed: int) -> bytes:
    page = np.full((1754, 1240, 3), 255, np.uint8)
    for row in range(8):
        cv2.putText(page, "Delivery note 4471 - goods received in good order", (120, 260 + 60 * row),
                    cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    coverage = render_stamp(design, np.random.default_rng(seed), 240, 33.0)
    composite_ink(page, coverage, design.ink_bgr, 760, 1250)
    return encode(page, ".jpg")


def test_a_stamp_claim_on_a_whole_document(stub, enrolled):
    claim = pb.Claim(identity_id="northwind", kind=STAMP)
    genuine = stub.VerifyDocument(pb.VerifyDocumentRequest(document=pb.DocumentData(content=stamped_page(enrolled, 41)),
                                                           claims=[claim]))
    marks = [v for v in genuine.verifications if v.mark.kind == STAMP]
    assert marks, "the stamp is found and compared with the identity's stamp references"
    assert 1150 < marks[0].mark.box.y_min < 1350 and 700 < marks[0].mark.box.x_min < 900
    assert genuine.claim_results[0].outcome in (pb.CLAIM_OUTCOME_SATISFIED, pb.CLAIM_OUTCOME_INCONCLUSIVE)
    assert marks[0].decision.references_used == 3 and not_below_the_band(marks[0].decision)
    forged = stub.VerifyDocument(pb.VerifyDocumentRequest(document=pb.DocumentData(content=stamped_page(OTHER, 42)),
                                                          claims=[claim]))
    assert forged.claim_results[0].outcome in (pb.CLAIM_OUTCOME_FORGED, pb.CLAIM_OUTCOME_INCONCLUSIVE)
    assert not forged.all_claims_satisfied
    other_stamp = [v for v in forged.verifications if v.mark.kind == STAMP][0].decision
    assert other_stamp.score < marks[0].decision.score


def test_stamp_bad_input(stub, enrolled):
    blank = encode(np.full((200, 200, 3), 255, np.uint8))
    with pytest.raises(grpc.RpcError) as caught:
        verify_image(stub, blank)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "no ink" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        stub.EnrollSpecimens(pb.EnrollSpecimensRequest(identity_id="northwind", specimens=[
            pb.SpecimenInput(kind=STAMP, image=pb.ImageData(content=b"\x89PNG\r\n\x1a\n broken"))]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = stub.ListSpecimens(pb.ListSpecimensRequest(identity_id="northwind"))
    assert len(listed.specimens) == 3, "a failed enrollment adds nothing"
    response = stub.VerifyImage(pb.VerifyImageRequest(identity_id="northwind", kind=pb.MARK_KIND_SIGNATURE,
                                                     image=pb.ImageData(content=crop(enrolled, 0, 5))))
    assert response.decision.verdict == pb.VERDICT_NO_REFERENCE, "stamps are not signature references"


def test_server_info_describes_the_stamp_model(stub):
    info = stub.GetServerInfo(pb.GetServerInfoRequest())
    models = {model.kind: model for model in info.models}
    stamp, signature = models[STAMP], models[pb.MARK_KIND_SIGNATURE]
    assert stamp.version.startswith("stamp-") and stamp.query_views == 48 and signature.query_views == 1
    assert stamp.input_spec.height == stamp.input_spec.width == 128 and "enclosing circle" in stamp.input_spec.normalization
    assert [t.references for t in stamp.thresholds_by_references] == [1, 2, 3, 5]
