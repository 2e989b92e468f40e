"""A real gRPC server on port 0, called through the generated stubs: every implemented RPC,
health Check/Watch, reflection, and bad input mapped to the right status with rich details."""

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from helpers import encode, synthetic_signature

from stampauth.modeling.card import load_encoder
from stampauth.server.app import SERVICE_NAME, build_server
from stampauth.service import StampAuth
from stampauth.store import open_store
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

SIG = pb.MARK_KIND_SIGNATURE


def png(writer, variant=0):
    return pb.ImageData(content=encode(synthetic_signature(writer, variant)))


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("signature")


@pytest.fixture(scope="module")
def server(encoder, tmp_path_factory):
    core = StampAuth(open_store(f"sqlite:///{tmp_path_factory.mktemp('store') / 'refs.db'}"), {"signature": encoder})
    running = build_server(core, port=0, host="127.0.0.1")
    yield running
    running.stop(grace=1)


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


@pytest.fixture(scope="module")
def stub(channel):
    return pb_grpc.StampAuthServiceStub(channel)


def error_of(call, *args):
    with pytest.raises(grpc.RpcError) as caught:
        call(*args)
    return caught.value


def bad_request_fields(error) -> list[str]:
    status = rpc_status.from_call(error)
    fields = []
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return fields


def test_health_check_and_watch(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE_NAME):
        assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == health_pb2.HealthCheckResponse.SERVING
    stream = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
    assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
    stream.cancel()
    assert error_of(health.Check, health_pb2.HealthCheckRequest(service="nope")).code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in next(responses).list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


def test_server_info(stub, encoder):
    info = stub.GetServerInfo(pb.GetServerInfoRequest())
    assert info.api_version == "v1" and info.store_backend == "sqlite"
    (model,) = info.models
    assert model.kind == SIG and model.version == encoder.version
    assert model.threshold == pytest.approx(encoder.card.scoring.threshold)
    assert [t.references for t in model.thresholds_by_references] == sorted(
        int(k) for k in encoder.card.scoring.thresholds_by_references)
    assert model.score_kind == pb.SCORE_KIND_SIMILARITY
    assert (model.input_spec.height, model.input_spec.width) == encoder.card.input_shape[:2]
    assert info.limits.max_document_bytes > 0
    assert list(info.unimplemented_methods) == []
    assert not info.HasField("detector"), "this fixture's server has no detector"


def test_compare_identical_images_is_genuine(stub, encoder):
    response = stub.CompareImages(pb.CompareImagesRequest(kind=SIG, reference=png(1), query=png(1)))
    decision = response.decision
    assert decision.verdict == pb.VERDICT_GENUINE
    assert decision.score == pytest.approx(1.0, abs=1e-3)
    from stampauth.scoring import threshold_for

    assert decision.threshold == pytest.approx(threshold_for(1, encoder.card.scoring))  # one reference
    assert decision.model_version == encoder.version and decision.references_used == 1
    assert decision.score_kind == pb.SCORE_KIND_SIMILARITY


def test_compare_bad_input(stub):
    error = error_of(stub.CompareImages, pb.CompareImagesRequest(kind=SIG, reference=png(1), query=pb.ImageData()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and bad_request_fields(error) == ["query.content"]
    error = error_of(stub.CompareImages, pb.CompareImagesRequest(reference=png(1), query=png(2)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and bad_request_fields(error) == ["kind"]
    garbage = pb.ImageData(content=b"definitely not an image")
    error = error_of(stub.CompareImages, pb.CompareImagesRequest(kind=SIG, reference=garbage, query=png(2)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "not a supported file" in error.details()
    assert bad_request_fields(error) == ["reference"]
    blank = pb.ImageData(content=encode(synthetic_signature(1) * 0 + 255))
    error = error_of(stub.CompareImages, pb.CompareImagesRequest(kind=SIG, reference=blank, query=png(2)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "no ink" in error.details()
    error = error_of(stub.CompareImages, pb.CompareImagesRequest(kind=pb.MARK_KIND_STAMP, reference=png(1), query=png(2)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "no stamp model" in error.details()


def test_identity_lifecycle(stub):
    created = stub.CreateIdentity(pb.CreateIdentityRequest(
        identity=pb.Identity(identity_id="jan.de.vries", display_name="Jan de Vries", metadata={"branch": "Utrecht"}),
        specimens=[pb.SpecimenInput(kind=SIG, image=png(7, v), note=f"form {v}") for v in range(3)],
    ))
    assert created.identity.signature_specimen_count == 3 and len(created.specimens) == 3
    assert created.specimens[0].width == 320 and created.specimens[0].note == "form 0"
    assert created.identity.create_time.seconds > 0

    got = stub.GetIdentity(pb.GetIdentityRequest(identity_id="jan.de.vries")).identity
    assert got.display_name == "Jan de Vries" and dict(got.metadata) == {"branch": "Utrecht"}

    enrolled = stub.EnrollSpecimens(pb.EnrollSpecimensRequest(
        identity_id="jan.de.vries", specimens=[pb.SpecimenInput(kind=SIG, image=png(7, 3))]))
    assert enrolled.identity.signature_specimen_count == 4

    specimen_id = enrolled.specimens[0].specimen_id
    assert stub.GetSpecimen(pb.GetSpecimenRequest(specimen_id=specimen_id)).specimen.identity_id == "jan.de.vries"
    page = stub.ListSpecimens(pb.ListSpecimensRequest(identity_id="jan.de.vries", page_size=3))
    assert len(page.specimens) == 3 and page.next_page_token
    rest = stub.ListSpecimens(pb.ListSpecimensRequest(identity_id="jan.de.vries", page_size=3, page_token=page.next_page_token))
    assert [s.specimen_id for s in rest.specimens] == [specimen_id] and not rest.next_page_token

    # verify: the same image as a specimen is genuine; the decision names every reference
    verified = stub.VerifyImage(pb.VerifyImageRequest(identity_id="jan.de.vries", kind=SIG, image=png(7, 1)))
    decision = verified.decision
    assert decision.verdict in (pb.VERDICT_GENUINE, pb.VERDICT_INCONCLUSIVE)
    assert decision.references_used == 4 and len(decision.reference_similarities) == 4
    assert max(r.similarity for r in decision.reference_similarities) == pytest.approx(1.0, abs=1e-3)
    assert verified.identity.display_name == "Jan de Vries"

    after = stub.DeleteSpecimen(pb.DeleteSpecimenRequest(specimen_id=specimen_id))
    assert after.identity.signature_specimen_count == 3
    assert stub.DeleteIdentity(pb.DeleteIdentityRequest(identity_id="jan.de.vries")).deleted_specimen_count == 3
    error = error_of(stub.GetIdentity, pb.GetIdentityRequest(identity_id="jan.de.vries"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_no_reference_verdict(stub):
    stub.CreateIdentity(pb.CreateIdentityRequest(identity=pb.Identity(identity_id="acme-bv", display_name="ACME B.V.")))
    decision = stub.VerifyImage(pb.VerifyImageRequest(identity_id="acme-bv", kind=SIG, image=png(2))).decision
    assert decision.verdict == pb.VERDICT_NO_REFERENCE and decision.references_used == 0


def test_list_identities_paginates(stub):
    for i in range(5):
        stub.CreateIdentity(pb.CreateIdentityRequest(identity=pb.Identity(identity_id=f"page-{i}")))
    seen, token = [], ""
    while True:
        response = stub.ListIdentities(pb.ListIdentitiesRequest(page_size=2, page_token=token))
        seen += [i.identity_id for i in response.identities]
        token = response.next_page_token
        if not token:
            break
    assert [s for s in seen if s.startswith("page-")] == [f"page-{i}" for i in range(5)]
    assert seen == sorted(seen)
    error = error_of(stub.ListIdentities, pb.ListIdentitiesRequest(page_token="garbage"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and bad_request_fields(error) == ["page_token"]


def test_enrollment_errors_store_nothing(stub):
    stub.CreateIdentity(pb.CreateIdentityRequest(identity=pb.Identity(identity_id="kim"),
                                                 specimens=[pb.SpecimenInput(kind=SIG, image=png(3))]))
    error = error_of(stub.CreateIdentity, pb.CreateIdentityRequest(identity=pb.Identity(identity_id="kim")))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS and bad_request_fields(error) == ["identity.identity_id"]

    # one good and one corrupt specimen: nothing is stored, the corrupt one is named
    bad = pb.SpecimenInput(kind=SIG, image=pb.ImageData(content=encode(synthetic_signature(4))[:200]))
    error = error_of(stub.EnrollSpecimens, pb.EnrollSpecimensRequest(
        identity_id="kim", specimens=[pb.SpecimenInput(kind=SIG, image=png(3, 1)), bad]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and bad_request_fields(error) == ["specimens[1].image"]
    assert stub.GetIdentity(pb.GetIdentityRequest(identity_id="kim")).identity.signature_specimen_count == 1

    error = error_of(stub.EnrollSpecimens, pb.EnrollSpecimensRequest(
        identity_id="kim", specimens=[pb.SpecimenInput(kind=SIG, image=png(3))]))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS and bad_request_fields(error) == ["specimens[0]"]

    error = error_of(stub.EnrollSpecimens, pb.EnrollSpecimensRequest(
        identity_id="nobody", specimens=[pb.SpecimenInput(kind=SIG, image=png(3))]))
    assert error.code() == grpc.StatusCode.NOT_FOUND

    error = error_of(stub.EnrollSpecimens, pb.EnrollSpecimensRequest(
        identity_id="kim", specimens=[pb.SpecimenInput(image=png(5))]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and bad_request_fields(error) == ["specimens[0].kind"]

    error = error_of(stub.EnrollSpecimens, pb.EnrollSpecimensRequest(identity_id="kim"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and bad_request_fields(error) == ["specimens"]

    error = error_of(stub.CreateIdentity, pb.CreateIdentityRequest(identity=pb.Identity(identity_id="has space")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and bad_request_fields(error) == ["identity.identity_id"]


def test_not_found_and_bad_ids(stub):
    assert error_of(stub.VerifyImage, pb.VerifyImageRequest(identity_id="ghost", kind=SIG, image=png(1))).code() \
        == grpc.StatusCode.NOT_FOUND
    assert error_of(stub.GetSpecimen, pb.GetSpecimenRequest(specimen_id="0" * 32)).code() == grpc.StatusCode.NOT_FOUND
    error = error_of(stub.GetSpecimen, pb.GetSpecimenRequest(specimen_id="../etc"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and bad_request_fields(error) == ["specimen_id"]
    assert error_of(stub.DeleteIdentity, pb.DeleteIdentityRequest(identity_id="")).code() == grpc.StatusCode.INVALID_ARGUMENT


def test_oversized_image_is_resource_exhausted(stub, server):
    limits = server.servicer._core.limits
    import dataclasses

    from stampauth.io import InputLimits

    server.servicer._core.limits = dataclasses.replace(limits, input=InputLimits(max_page_pixels=1000))
    try:
        error = error_of(stub.CompareImages, pb.CompareImagesRequest(kind=SIG, reference=png(1), query=png(2)))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "pixels" in error.details()
    finally:
        server.servicer._core.limits = limits


def test_identify_mark_bad_input(stub):
    error = error_of(stub.IdentifyMark, pb.IdentifyMarkRequest(kind=SIG, image=png(1), top_k=1000))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "top_k" in error.details()
    error = error_of(stub.IdentifyMark, pb.IdentifyMarkRequest(kind=SIG))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_document_methods_without_a_detector_say_why(stub):
    document = pb.DocumentData(content=encode(synthetic_signature(1)))
    for call, request in (
        (stub.DetectMarks, pb.DetectMarksRequest(document=document)),
        (stub.VerifyDocument, pb.VerifyDocumentRequest(document=document, claims=[pb.Claim(identity_id="x")])),
    ):
        error = error_of(call, request)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "no detector model" in error.details()


def test_server_keeps_serving_after_errors(stub, channel):
    for _ in range(3):
        error_of(stub.CompareImages, pb.CompareImagesRequest(kind=SIG, reference=pb.ImageData(content=b"\x89PNG"), query=png(1)))
    assert stub.GetServerInfo(pb.GetServerInfoRequest()).api_version == "v1"


def test_not_serving_until_models_are_loaded():
    running = build_server(port=0, host="127.0.0.1")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.NOT_SERVING
            error = error_of(pb_grpc.StampAuthServiceStub(channel).GetServerInfo, pb.GetServerInfoRequest())
            assert error.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop(grace=0)
