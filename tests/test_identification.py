"""1:N identification: the in-memory index (exact and HNSW) against brute force, IdentifyMark through a real server
(tenants, deletions), and two replicas on one PostgreSQL seeing each other's enrollments within a second."""

import time

import grpc
import numpy as np
import pytest
from helpers import encode, synthetic_signature

from stampauth import identification
from stampauth.identification import GalleryIndex
from stampauth.modeling.card import load_encoder
from stampauth.server.app import build_server
from stampauth.server.auth import Authenticator
from stampauth.service import StampAuth
from stampauth.settings import new_token
from stampauth.store import open_store
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

SIG = pb.MARK_KIND_SIGNATURE


def unit(rows):
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def gallery(rng, identities=300, per=3, dim=32):
    centres = unit(rng.normal(size=(identities, dim)))
    return {f"id{i}": list(unit(centres[i] + rng.normal(0, 0.04, (per, dim)))) for i in range(identities)}, centres


@pytest.mark.parametrize("exact_limit", [10**9, 100])  # exact search, and the HNSW graph above a small limit
def test_index_finds_the_nearest_identities_as_brute_force_does(monkeypatch, exact_limit):
    monkeypatch.setattr(identification, "EXACT_LIMIT", exact_limit)
    rng = np.random.default_rng(0)
    refs, centres = gallery(rng)
    index = GalleryIndex(32)
    for identity, embeddings in refs.items():
        index.replace_identity(identity, embeddings)
    assert len(index) == 900 and (index._hnsw is not None) == (exact_limit == 100)
    everything = [(identity, e) for identity, es in refs.items() for e in es]
    hits = 0
    for i in range(0, 300, 7):
        query = unit(centres[i] + rng.normal(0, 0.04, 32))
        truth = {}
        for identity, e in everything:
            truth[identity] = max(truth.get(identity, -1.0), float(e @ query))
        expected = [k for k, _ in sorted(truth.items(), key=lambda kv: -kv[1])[:5]]
        found = index.search(query, 5)
        assert found[0].identity_id == f"id{i}" and abs(found[0].similarity - truth[f"id{i}"]) < 1e-4
        hits += len({m.identity_id for m in found} & set(expected))
    assert hits / (5 * len(range(0, 300, 7))) >= 0.98
    # replacing and removing identities is seen by the next search
    index.replace_identity("id0", [])
    assert "id0" not in [m.identity_id for m in index.search(centres[0], 5)] and len(index) == 897
    index.replace_identity("newcomer", [centres[0]])
    assert index.search(centres[0], 1)[0].identity_id == "newcomer"
    views = np.stack([centres[3], centres[4]])  # several views: each identity's best over all of them
    assert {m.identity_id for m in index.search(views, 2)} == {"id3", "id4"}


def image(writer, variant=0):
    return pb.ImageData(content=encode(synthetic_signature(writer, variant)))


def serve(store_url, tokens=None):
    core = StampAuth(open_store(store_url), {"signature": load_encoder("signature")})
    running = build_server(core, port=0, host="127.0.0.1", authenticator=Authenticator(tokens) if tokens else None)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    return running, channel, pb_grpc.StampAuthServiceStub(channel)


def enroll(stub, identity, writer, metadata=None):
    stub.CreateIdentity(pb.CreateIdentityRequest(
        identity=pb.Identity(identity_id=identity, display_name=f"Writer {writer}"),
        specimens=[pb.SpecimenInput(kind=SIG, image=image(writer, v)) for v in range(3)]), metadata=metadata, timeout=30)


def test_identify_mark_ranks_the_writer_first_and_follows_deletions(tmp_path):
    running, channel, stub = serve(f"sqlite:///{tmp_path / 'refs.db'}")
    try:
        assert stub.IdentifyMark(pb.IdentifyMarkRequest(kind=SIG, image=image(1, 5)), timeout=30).candidates == []
        for writer in range(6):
            enroll(stub, f"writer-{writer}", writer)
        response = stub.IdentifyMark(pb.IdentifyMarkRequest(kind=SIG, image=image(4, 5), top_k=3), timeout=30)
        ranked = [c.identity.identity_id for c in response.candidates]
        assert ranked[0] == "writer-4" and len(ranked) == 3
        scores = [c.decision.score for c in response.candidates]
        assert scores == sorted(scores, reverse=True) and response.candidates[0].decision.references_used == 3
        assert response.candidates[0].identity.display_name == "Writer 4"
        stub.DeleteIdentity(pb.DeleteIdentityRequest(identity_id="writer-4"), timeout=10)
        after = stub.IdentifyMark(pb.IdentifyMarkRequest(kind=SIG, image=image(4, 5), top_k=10), timeout=30)
        assert "writer-4" not in [c.identity.identity_id for c in after.candidates] and len(after.candidates) == 5
    finally:
        channel.close()
        running.stop(grace=1)


def test_identification_sees_only_the_callers_tenant(tmp_path):
    tokens = {name: new_token(name, tenant, ["admin", "verify"]) for name, tenant in (("a", "bank"), ("b", "notary"))}
    running, channel, stub = serve(f"sqlite:///{tmp_path / 'refs.db'}", [entry for _, entry in tokens.values()])
    try:
        as_ = {name: [("authorization", f"Bearer {token}")] for name, (token, _) in tokens.items()}
        enroll(stub, "bank-writer", 2, as_["a"])
        enroll(stub, "notary-writer", 3, as_["b"])
        found = stub.IdentifyMark(pb.IdentifyMarkRequest(kind=SIG, image=image(2, 5)), metadata=as_["b"], timeout=30)
        assert [c.identity.identity_id for c in found.candidates] == ["notary-writer"]
    finally:
        channel.close()
        running.stop(grace=1)


def test_two_replicas_on_one_postgresql_see_each_others_writes_within_a_second(postgres_store_url):
    first, first_channel, one = serve(postgres_store_url)
    second, second_channel, two = serve(postgres_store_url)
    try:
        enroll(two, "warmup", 9)
        two.IdentifyMark(pb.IdentifyMarkRequest(kind=SIG, image=image(9, 5)), timeout=30)  # the index is loaded
        enroll(one, "jansen", 5)
        started = time.monotonic()
        decision = two.VerifyImage(pb.VerifyImageRequest(identity_id="jansen", kind=SIG, image=image(5, 5)),
                                   timeout=30).decision
        found = two.IdentifyMark(pb.IdentifyMarkRequest(kind=SIG, image=image(5, 5)), timeout=30)
        assert time.monotonic() - started < 1.0
        assert decision.references_used == 3 and found.candidates[0].identity.identity_id == "jansen"
        one.DeleteIdentity(pb.DeleteIdentityRequest(identity_id="jansen"), timeout=10)
        after = two.IdentifyMark(pb.IdentifyMarkRequest(kind=SIG, image=image(5, 5)), timeout=30)
        assert "jansen" not in [c.identity.identity_id for c in after.candidates]
        with pytest.raises(grpc.RpcError) as caught:
            two.VerifyImage(pb.VerifyImageRequest(identity_id="jansen", kind=SIG, image=image(5, 5)), timeout=30)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        for channel, running in ((first_channel, first), (second_channel, second)):
            channel.close()
            running.stop(grace=1)
