"""Tokens, tenants and roles; TLS and mutual TLS; the admission gate; deadlines and cancellation stop work.
All through a real server on port 0."""

import threading
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from helpers import encode, make_certificates, synthetic_signature

from stampauth.cancellation import checkpoint
from stampauth.errors import DeadlineExceeded, ResourceExhausted
from stampauth.modeling.card import load_encoder
from stampauth.server.admission import AdmissionGate
from stampauth.server.app import build_server, tls_credentials
from stampauth.server.auth import Authenticator
from stampauth.service import StampAuth
from stampauth.settings import TlsSettings, new_token
from stampauth.store import open_store
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

SIG = pb.MARK_KIND_SIGNATURE


def image(writer: int, variant: int = 0) -> pb.ImageData:
    return pb.ImageData(content=encode(synthetic_signature(writer, variant)))


@pytest.fixture(scope="module")
def core():
    service = StampAuth(open_store("sqlite://:memory:"), {"signature": load_encoder("signature")})
    yield service
    service.close()


@pytest.fixture(scope="module")
def tokens():
    made = {name: new_token(name, tenant, roles) for name, tenant, roles in (
        ("bank-admin", "bank", ["admin", "verify"]), ("bank-verify", "bank", ["verify"]),
        ("notary-admin", "notary", ["admin", "verify"]))}
    return {name: token for name, (token, _) in made.items()}, [entry for _, entry in made.values()]


@pytest.fixture(scope="module")
def stub(core, tokens):
    running = build_server(core, port=0, host="127.0.0.1", authenticator=Authenticator(tokens[1]))
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    yield pb_grpc.StampAuthServiceStub(channel), channel
    channel.close()
    running.stop(grace=1)


def as_(tokens, name):
    return [("authorization", f"Bearer {tokens[0][name]}")]


def code_of(call, request, metadata=None):
    with pytest.raises(grpc.RpcError) as caught:
        call(request, metadata=metadata, timeout=30)
    assert caught.value.details()
    return caught.value.code(), caught.value.details()


def test_calls_need_a_valid_token_but_health_and_reflection_stay_open(stub, tokens):
    stub, channel = stub
    request = pb.ListIdentitiesRequest()
    assert code_of(stub.ListIdentities, request)[0] == grpc.StatusCode.UNAUTHENTICATED
    code, details = code_of(stub.ListIdentities, request, [("authorization", "Bearer sa_not-a-real-token")])
    assert code == grpc.StatusCode.UNAUTHENTICATED and "sa_not" not in details  # the token is never echoed
    assert code_of(stub.ListIdentities, request, [("authorization", tokens[0]["bank-admin"])])[0] == \
        grpc.StatusCode.UNAUTHENTICATED  # no "Bearer " scheme
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answer = next(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                                  timeout=10))
    assert "stampauth.v1.StampAuthService" in [s.name for s in answer.list_services_response.service]
    assert stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=as_(tokens, "bank-verify"), timeout=10).models


def test_a_token_without_the_admin_role_cannot_enroll_or_delete(stub, tokens):
    stub, _ = stub
    verify_only = as_(tokens, "bank-verify")
    create = pb.CreateIdentityRequest(identity=pb.Identity(identity_id="roles-check"),
                                      specimens=[pb.SpecimenInput(kind=SIG, image=image(1))])
    code, details = code_of(stub.CreateIdentity, create, verify_only)
    assert code == grpc.StatusCode.PERMISSION_DENIED and "admin" in details
    stub.CreateIdentity(create, metadata=as_(tokens, "bank-admin"), timeout=30)
    for call, request in ((stub.EnrollSpecimens, pb.EnrollSpecimensRequest(
            identity_id="roles-check", specimens=[pb.SpecimenInput(kind=SIG, image=image(1, 1))])),
            (stub.DeleteIdentity, pb.DeleteIdentityRequest(identity_id="roles-check"))):
        assert code_of(call, request, verify_only)[0] == grpc.StatusCode.PERMISSION_DENIED
    # reading and verifying are open to the verify role
    assert stub.GetIdentity(pb.GetIdentityRequest(identity_id="roles-check"), metadata=verify_only, timeout=10)
    decision = stub.VerifyImage(pb.VerifyImageRequest(identity_id="roles-check", kind=SIG, image=image(1, 2)),
                                metadata=verify_only, timeout=30).decision
    assert decision.references_used == 1


def test_a_tenant_can_neither_see_nor_verify_against_nor_delete_another_tenants_identities(stub, tokens):
    stub, _ = stub
    bank, notary = as_(tokens, "bank-admin"), as_(tokens, "notary-admin")
    created = stub.CreateIdentity(pb.CreateIdentityRequest(
        identity=pb.Identity(identity_id="alice", display_name="Alice (bank)"),
        specimens=[pb.SpecimenInput(kind=SIG, image=image(2, v)) for v in range(3)]), metadata=bank, timeout=30)
    specimen_id = created.specimens[0].specimen_id
    missing = pb.GetIdentityRequest(identity_id="never-created")
    for call, request in ((stub.GetIdentity, pb.GetIdentityRequest(identity_id="alice")),
                          (stub.VerifyImage, pb.VerifyImageRequest(identity_id="alice", kind=SIG, image=image(2, 5))),
                          (stub.DeleteIdentity, pb.DeleteIdentityRequest(identity_id="alice")),
                          (stub.ListSpecimens, pb.ListSpecimensRequest(identity_id="alice")),
                          (stub.EnrollSpecimens, pb.EnrollSpecimensRequest(
                              identity_id="alice", specimens=[pb.SpecimenInput(kind=SIG, image=image(9))])),
                          (stub.GetSpecimen, pb.GetSpecimenRequest(specimen_id=specimen_id)),
                          (stub.DeleteSpecimen, pb.DeleteSpecimenRequest(specimen_id=specimen_id))):
        code, details = code_of(call, request, notary)
        # exactly what a never-created identity gets: nothing tells the notary that the bank has an "alice"
        assert code == grpc.StatusCode.NOT_FOUND and "bank" not in details, (call, details)
    assert code_of(stub.GetIdentity, missing, notary)[0] == grpc.StatusCode.NOT_FOUND
    listed = stub.ListIdentities(pb.ListIdentitiesRequest(), metadata=notary, timeout=10)
    assert "alice" not in [i.identity_id for i in listed.identities]
    # the notary may use the same id for its own identity: no ALREADY_EXISTS leaks the bank's
    stub.CreateIdentity(pb.CreateIdentityRequest(identity=pb.Identity(identity_id="alice", display_name="Alice (notary)")),
                        metadata=notary, timeout=30)
    assert stub.GetIdentity(pb.GetIdentityRequest(identity_id="alice"), metadata=bank, timeout=10
                            ).identity.display_name == "Alice (bank)"
    assert stub.GetSpecimen(pb.GetSpecimenRequest(specimen_id=specimen_id), metadata=bank, timeout=10).specimen


# -- TLS ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


def _health(channel):
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status


def test_tls_serves_only_clients_that_speak_tls(core, certificates):
    tls = TlsSettings(cert_file=certificates["server.pem"], key_file=certificates["server.key"])
    running = build_server(core.for_tenant("default"), port=0, host="127.0.0.1", credentials=tls_credentials(tls))
    try:
        trusted = grpc.ssl_channel_credentials(root_certificates=certificates["ca.pem"].read_bytes())
        with grpc.secure_channel(f"localhost:{running.port}", trusted) as channel:
            assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
            assert pb_grpc.StampAuthServiceStub(channel).GetServerInfo(pb.GetServerInfoRequest(), timeout=10).models
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel, pytest.raises(grpc.RpcError) as caught:
            _health(channel)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop(grace=1)


def test_mutual_tls_refuses_clients_without_a_certificate_from_the_ca(core, certificates):
    tls = TlsSettings(cert_file=certificates["server.pem"], key_file=certificates["server.key"],
                      client_ca_file=certificates["ca.pem"])
    running = build_server(core.for_tenant("default"), port=0, host="127.0.0.1", credentials=tls_credentials(tls))
    try:
        root = certificates["ca.pem"].read_bytes()
        with_cert = grpc.ssl_channel_credentials(root, certificates["client.key"].read_bytes(),
                                                 certificates["client.pem"].read_bytes())
        with grpc.secure_channel(f"localhost:{running.port}", with_cert) as channel:
            assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
        without = grpc.ssl_channel_credentials(root)
        with grpc.secure_channel(f"localhost:{running.port}", without) as channel, pytest.raises(grpc.RpcError) as caught:
            _health(channel)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop(grace=1)


def test_tls_settings_are_checked_before_anything_starts(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="go together"):
        TlsSettings(cert_file=tmp_path / "x.pem")
    with pytest.raises(ValidationError, match="not a readable file"):
        TlsSettings(cert_file=tmp_path / "x.pem", key_file=tmp_path / "x.key")


# -- admission and cancellation ------------------------------------------------------------------------


def test_admission_gate_queues_up_to_its_bound_then_refuses_at_once():
    gate = AdmissionGate(max_active=1, max_queued=1)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with gate.slot():
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(5)
    waiter_in, waiter_release = threading.Event(), threading.Event()

    def wait_then_hold():
        with gate.slot():
            waiter_in.set()
            waiter_release.wait(10)

    waiter = threading.Thread(target=wait_then_hold)
    waiter.start()
    deadline = time.monotonic() + 5
    while gate.queued != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(ResourceExhausted, match="busy"):
        with gate.slot():
            pass
    assert time.monotonic() - started < 0.5  # refused at once, not after waiting
    release.set()
    holder.join(5)
    assert waiter_in.wait(5) and gate.active == 1 and gate.queued == 0  # the queued call got the slot
    with pytest.raises(DeadlineExceeded):
        with gate.slot(timeout=0.05):
            pass
    waiter_release.set()
    waiter.join(5)
    assert gate.active == 0 and gate.queued == 0


@pytest.fixture
def busy_server(core):
    """A server with one slot and no queue whose CompareImages works until told to stop (or until stopped)."""
    release, progress = threading.Event(), {"stopped_by": None}
    view = StampAuth(core.store.scoped("default"), core.encoders)  # stopping the server leaves the shared store open

    def slow_compare(kind, reference, query):
        try:
            while not release.wait(0.02):
                checkpoint()  # what the real stages do between pages
        except Exception as error:
            progress["stopped_by"] = type(error).__name__
            raise
        return core.compare_images(kind, reference, query)

    view.compare_images = slow_compare
    running = build_server(view, port=0, host="127.0.0.1", max_active=1, max_queued=0)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    yield pb_grpc.StampAuthServiceStub(channel), release, progress
    release.set()
    channel.close()
    running.stop(grace=1)


def test_beyond_the_slots_and_queue_calls_get_resource_exhausted_at_once(busy_server):
    stub, release, _ = busy_server
    request = pb.CompareImagesRequest(kind=SIG, reference=image(3), query=image(3, 1))
    first = stub.CompareImages.future(request, timeout=30)
    time.sleep(0.3)
    started = time.monotonic()
    code, details = code_of(stub.CompareImages, request)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "retry" in details
    assert time.monotonic() - started < 1.0
    assert stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=5).models  # never queued behind work
    release.set()
    assert first.result().decision.references_used == 1


def test_a_call_past_its_deadline_stops_its_work_and_frees_its_slot(busy_server):
    stub, release, progress = busy_server
    request = pb.CompareImagesRequest(kind=SIG, reference=image(4), query=image(4, 1))
    code, _ = code_of(lambda r, metadata=None, timeout=None: stub.CompareImages(r, timeout=0.5), request)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 5
    while progress["stopped_by"] is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert progress["stopped_by"] in ("DeadlineExceeded", "Cancelled")
    release.set()
    assert stub.CompareImages(request, timeout=30).decision  # the slot is free again
    assert np.isfinite(stub.CompareImages(request, timeout=30).decision.score)


def test_graceful_stop_finishes_calls_in_flight_refuses_new_ones_and_closes_the_store(core):
    release, started = threading.Event(), threading.Event()
    store = open_store("sqlite://:memory:")
    view = StampAuth(store, core.encoders)

    def slow_compare(kind, reference, query):
        started.set()
        release.wait(10)
        return core.compare_images(kind, reference, query)

    view.compare_images = slow_compare
    running = build_server(view, port=0, host="127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    stub = pb_grpc.StampAuthServiceStub(channel)
    request = pb.CompareImagesRequest(kind=SIG, reference=image(5), query=image(5, 1))
    in_flight = stub.CompareImages.future(request, timeout=30)
    assert started.wait(10)
    stopper = threading.Thread(target=running.stop, kwargs={"grace": 10})
    stopper.start()
    time.sleep(0.3)
    with pytest.raises(grpc.RpcError) as caught:  # new calls are refused while the server drains
        stub.CompareImages(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    release.set()
    assert in_flight.result().decision.references_used == 1  # the call in flight finished
    stopper.join(15)
    with pytest.raises(Exception, match="closed"):
        store.get_identity("anyone")  # the store was closed after the calls drained
    channel.close()
