"""The whole service on the PostgreSQL store, through a real gRPC server: enroll, verify, list and delete, each
tenant on its own identities; and two stores (as two replicas would hold) see each other's writes at once."""

import grpc
import pytest
from helpers import encode, synthetic_signature

from stampauth.modeling.card import load_encoder
from stampauth.server.app import build_server
from stampauth.server.auth import Authenticator
from stampauth.service import StampAuth
from stampauth.settings import new_token
from stampauth.store import open_store
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

SIG = pb.MARK_KIND_SIGNATURE


def image(writer, variant=0):
    return pb.ImageData(content=encode(synthetic_signature(writer, variant)))


@pytest.fixture
def served(postgres_store_url):
    tokens = {name: new_token(name, tenant, ["admin", "verify"]) for name, tenant in (("a", "bank"), ("b", "notary"))}
    core = StampAuth(open_store(postgres_store_url), {"signature": load_encoder("signature")})
    running = build_server(core, port=0, host="127.0.0.1", authenticator=Authenticator([e for _, e in tokens.values()]))
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    metadata = {name: [("authorization", f"Bearer {token}")] for name, (token, _) in tokens.items()}
    yield pb_grpc.StampAuthServiceStub(channel), metadata, postgres_store_url
    channel.close()
    running.stop(grace=1)


def test_enroll_verify_list_delete_on_postgresql(served):
    stub, as_, _ = served
    created = stub.CreateIdentity(pb.CreateIdentityRequest(
        identity=pb.Identity(identity_id="jan", display_name="Jan"),
        specimens=[pb.SpecimenInput(kind=SIG, image=image(7, v)) for v in range(3)]), metadata=as_["a"], timeout=30)
    assert len(created.specimens) == 3
    decision = stub.VerifyImage(pb.VerifyImageRequest(identity_id="jan", kind=SIG, image=image(7, 4)),
                                metadata=as_["a"], timeout=30).decision
    assert decision.references_used == 3 and decision.model_version
    with pytest.raises(grpc.RpcError) as caught:  # the other tenant sees nothing
        stub.VerifyImage(pb.VerifyImageRequest(identity_id="jan", kind=SIG, image=image(7, 4)), metadata=as_["b"], timeout=30)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed = stub.ListIdentities(pb.ListIdentitiesRequest(), metadata=as_["a"], timeout=10)
    assert [i.identity_id for i in listed.identities] == ["jan"]
    assert stub.DeleteIdentity(pb.DeleteIdentityRequest(identity_id="jan"), metadata=as_["a"], timeout=10
                               ).deleted_specimen_count == 3
    info = stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=as_["a"], timeout=10)
    assert info.store_backend == "postgresql"


def test_a_second_store_on_the_same_database_sees_writes_at_once(served):
    stub, as_, url = served
    other = open_store(url).scoped("bank")  # what another replica holds
    try:
        stub.CreateIdentity(pb.CreateIdentityRequest(
            identity=pb.Identity(identity_id="shared"), specimens=[pb.SpecimenInput(kind=SIG, image=image(8))]),
            metadata=as_["a"], timeout=30)
        assert other.get_identity("shared").specimen_counts["signature"] == 1
        assert len(other.reference_embeddings("shared", "signature")) == 1
        stub.DeleteIdentity(pb.DeleteIdentityRequest(identity_id="shared"), metadata=as_["a"], timeout=10)
        assert other.list_identities(10, "").items == []
    finally:
        other.store.close()
