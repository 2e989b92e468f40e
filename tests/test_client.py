"""``stampauth.client.Client`` against a real server (port 0, bearer token), and ``LocalClient`` giving the same
results in-process: every kind of input, pagination, uploads of large documents, errors as the library's
exceptions, retries while the server starts, deadlines and TLS."""

import math
import socket
import threading
import time
import uuid

import cv2
import numpy as np
import pytest
from conftest import SAMPLES
from helpers import make_certificates, synthetic_signature

from stampauth import errors
from stampauth import client as client_module
from stampauth.client import Client, LocalClient
from stampauth.documents import ClaimOutcome, DocumentClaim
from stampauth.scoring import Verdict

SIGNATURES = sorted((SAMPLES / "specimens").glob("jansen-signature-*.png"))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def client(demo_server):
    address, token = demo_server
    with Client(address, token=token, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def signer(client):
    """An identity enrolled from the sample signatures, given as a path, bytes, a numpy array and a PIL image."""
    from PIL import Image

    identity_id = unique("jansen")
    inputs = [SIGNATURES[0], SIGNATURES[1].read_bytes(), cv2.imread(str(SIGNATURES[2]))]
    identity, specimens = client.create_identity(identity_id, "J. Jansen", {"branch": "Utrecht"}, signatures=inputs)
    assert identity.specimen_counts["signature"] == 3 and len(specimens) == 3
    identity, more = client.enroll(identity_id, signatures=[Image.open(SIGNATURES[0]).convert("RGB")], note="PIL")
    assert identity.specimen_counts["signature"] == 4 and more[0].note == "PIL"
    yield identity_id
    client.delete_identity(identity_id)


def test_health_and_server_description(client):
    assert client.health() == "SERVING"
    info = client.server_info()
    assert {"signature", "stamp"} <= set(info.models) and info.detector is not None
    assert info.models["signature"]["score_kind"] == "similarity" and 0 < info.models["signature"]["threshold"] < 1
    assert info.limits["max_document_bytes"] > 0 and info.store_backend
    from stampauth.detection.detector import load_detector

    card = load_detector().card
    assert info.detector["score_thresholds"] == pytest.approx(card.score_thresholds)
    assert info.detector["stamp_one_ink_weight"] == pytest.approx(card.stamp_one_ink_weight)


def test_identities_and_specimens(client, signer):
    identity = client.get_identity(signer)
    assert (identity.display_name, identity.metadata) == ("J. Jansen", {"branch": "Utrecht"})
    assert identity.create_time > 1.7e9
    specimens = list(client.iter_specimens(signer, page_size=3))
    assert len(specimens) == 4 and {s.kind for s in specimens} == {"signature"}
    assert all(s.width > 0 and s.height > 0 and len(s.content_sha256) == 64 for s in specimens)
    assert client.get_specimen(specimens[0].specimen_id) == specimens[0]
    # the same image sent as a path and as PIL pixels decodes to the same pixels: same content, two specimens
    assert len({s.specimen_id for s in specimens}) == 4
    after = client.delete_specimen(specimens[-1].specimen_id)
    assert after.specimen_counts == {"signature": 3, "stamp": 0}


def test_listing_pages_through_every_identity_once(client):
    made = [unique("page") for _ in range(5)]
    for identity_id in made:
        client.create_identity(identity_id)
    try:
        first = client.list_identities(page_size=2)
        assert len(first.items) == 2 and first.next_page_token
        seen = [i.identity_id for i in client.iter_identities(page_size=2)]
        assert len(seen) == len(set(seen)) and set(made) <= set(seen)
    finally:
        assert [client.delete_identity(i) for i in made] == [0] * 5


def test_verify_image_compare_and_identify(client, signer):
    other = synthetic_signature(7)  # another hand
    same = client.compare(SIGNATURES[0], SIGNATURES[1])
    assert same.score_kind == "similarity" and same.model_version.startswith("signature-")
    decision = client.verify_image(signer, SIGNATURES[2])
    assert decision.verdict is Verdict.GENUINE and decision.score >= decision.threshold
    assert decision.references_used == 3 and len(decision.reference_ids) == 3
    candidates = client.identify(SIGNATURES[1], top_k=3)
    # other tests on the shared server may enroll the same sample images: the signer is (among) the best
    best = candidates[0][1].score
    assert signer in [identity.identity_id for identity, d in candidates if d.score >= best - 1e-6]
    assert client.compare(SIGNATURES[0], other).score < same.score


def test_verify_documents_as_jpeg_and_pdf_same_as_in_process(client, signer, tmp_path):
    local = LocalClient.open(f"sqlite:///{tmp_path / 'local.db'}")
    try:
        local.create_identity(signer, signatures=SIGNATURES)
        for name in ("letter-signed.jpg", "letter-signed.pdf"):
            remote = client.verify_document(SAMPLES / name, [DocumentClaim(signer, "signature")], annotate=True)
            here = local.verify_document(SAMPLES / name, [DocumentClaim(signer, "signature")], annotate=True)
            assert remote.all_claims_satisfied, remote.claim_results[0].explanation
            result = remote.claim_results[0]
            assert (result.outcome, result.verdict) == (ClaimOutcome.SATISFIED, Verdict.GENUINE)
            # the response carries the verified marks (here the signature), boxes in whole pixels
            def marks(result):
                return [(v.mark_index, v.mark.kind, math.floor(v.mark.box.x0), math.ceil(v.mark.box.y1))
                        for v in result.verifications]

            assert marks(remote) == marks(here)
            assert remote.pages == here.pages and remote.detector_version == here.detector_version
            for a, b in zip(remote.verifications, here.verifications):
                assert (a.mark_index, a.identity_id, a.decision.verdict) == (b.mark_index, b.identity_id, b.decision.verdict)
                assert math.isclose(a.decision.score, b.decision.score, abs_tol=1e-4)
            assert remote.annotated_pages[0][:4] == b"\x89PNG"
        forged = client.verify_document(str(SAMPLES / "letter-other-signer.jpg"), [signer], kinds=["signature"])
        assert forged.claim_results[0].outcome is ClaimOutcome.FORGED and not forged.all_claims_satisfied
    finally:
        local.close()


def test_large_documents_stream_in_chunks_with_the_same_result(client, signer, monkeypatch):
    content = (SAMPLES / "letter-signed.jpg").read_bytes()
    direct = client.detect(content, kinds=["signature"])
    monkeypatch.setattr(client_module, "UPLOAD_ABOVE_BYTES", 1024)
    monkeypatch.setattr(client_module, "UPLOAD_CHUNK_BYTES", 16 * 1024)
    streamed = client.detect(content, kinds=["signature"])
    assert [(m.kind, m.box, m.score) for m in streamed.marks] == [(m.kind, m.box, m.score) for m in direct.marks]
    verified = client.verify_document(content, [signer])
    assert verified.all_claims_satisfied


def test_errors_are_the_librarys_exceptions_with_the_field_at_fault(client, signer, demo_server):
    with pytest.raises(errors.InvalidInput) as caught:
        client.create_identity("not a valid id!")
    assert caught.value.field == "identity.identity_id" and caught.value.grpc_code.name == "INVALID_ARGUMENT"
    with pytest.raises(errors.NotFound):
        client.get_identity(unique("nobody"))
    with pytest.raises(errors.InvalidInput) as caught:
        client.verify_image(signer, b"not an image")
    assert caught.value.field.startswith("image")
    with pytest.raises(errors.InvalidInput, match="cannot read"):
        client.detect("/no/such/file.pdf")
    with pytest.raises(errors.InvalidInput, match="kind must be"):
        client.compare(SIGNATURES[0], SIGNATURES[1], kind="fingerprint")
    with Client(demo_server[0], token="sa_wrong") as stranger, pytest.raises(errors.Unauthenticated):
        stranger.list_identities()


def test_local_client_raises_the_same_errors(tmp_path):
    with LocalClient.open(f"sqlite:///{tmp_path / 'refs.db'}") as local:
        with pytest.raises(errors.InvalidInput) as caught:
            local.create_identity("not a valid id!")
        assert caught.value.field == "identity.identity_id"
        with pytest.raises(errors.NotFound):
            local.get_identity("nobody")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_retries_while_the_server_starts_and_gives_up_at_the_deadline(tmp_path):
    from stampauth.server.app import build_server
    from stampauth.service import StampAuth
    from stampauth.store import open_store

    port = _free_port()
    with Client(f"127.0.0.1:{port}", timeout=1.5, retries=10, backoff=0.05) as nobody:
        started = time.monotonic()
        with pytest.raises(errors.Unavailable):
            nobody.list_identities()
        assert time.monotonic() - started < 5, "the deadline bounds the retries"

    core = StampAuth(open_store(f"sqlite:///{tmp_path / 'refs.db'}"), {})
    holder = {}
    starter = threading.Timer(0.6, lambda: holder.setdefault("server", build_server(core, port=port, host="127.0.0.1")))
    starter.start()
    try:
        with Client(f"127.0.0.1:{port}", timeout=20, retries=20, backoff=0.1) as client:
            assert client.list_identities().items == []  # UNAVAILABLE at first, then served
    finally:
        starter.join()
        holder["server"].stop(grace=0)


def test_tls_with_the_servers_ca(tmp_path):
    from stampauth.server.app import build_server, tls_credentials
    from stampauth.service import StampAuth
    from stampauth.settings import TlsSettings
    from stampauth.store import open_store

    certificates = make_certificates(tmp_path)
    core = StampAuth(open_store(f"sqlite:///{tmp_path / 'refs.db'}"), {})
    tls = TlsSettings(cert_file=certificates["server.pem"], key_file=certificates["server.key"])
    running = build_server(core, port=0, host="127.0.0.1", credentials=tls_credentials(tls))
    try:
        with Client(f"localhost:{running.port}", ca_file=str(certificates["ca.pem"]), timeout=10) as client:
            assert client.health() == "SERVING"
            client.create_identity("over-tls")
            assert [i.identity_id for i in client.iter_identities()] == ["over-tls"]
        with Client(f"localhost:{running.port}", timeout=2, retries=0) as plaintext, pytest.raises(errors.Unavailable):
            plaintext.list_identities()
    finally:
        running.stop(grace=0)


def test_numpy_grey_and_bad_arrays(client):
    grey = cv2.imread(str(SIGNATURES[0]), cv2.IMREAD_GRAYSCALE)
    assert client.compare(grey, SIGNATURES[0]).score > 0.99
    with pytest.raises(errors.InvalidInput, match="cannot encode"):
        client.compare(np.zeros((4, 4, 7), np.float64), grey)
