"""The Node.js client example (clients/node/example.js) against a real server: it runs the walkthrough and ends with
a ``RESULT {json}`` line of what the server answered, which is checked here against the server itself (its models,
its store after the example cleaned up). Skipped without ``node`` or ``clients/node/node_modules`` (``npm ci``),
unless ``STAMPAUTH_REQUIRE_CLIENTS=1``: then it fails."""

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import grpc
import pytest
from conftest import SAMPLES, missing

from stampauth.v1 import stampauth_pb2 as pb

NODE_DIR = Path(__file__).resolve().parent.parent / "clients" / "node"


def unavailable(reason: str):
    missing(reason, "STAMPAUTH_REQUIRE_CLIENTS")


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` binary, once the example's dependencies are installed."""
    node = shutil.which("node")
    if node is None:
        unavailable("no `node` on PATH: the Node.js client example needs Node.js 20 or later")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < 20:
        unavailable(f"node {version} is too old for the Node.js client example (20 or later)")
    dependencies = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    missing = [name for name in dependencies if not (NODE_DIR / "node_modules" / name / "package.json").is_file()]
    if missing:
        unavailable(f"{', '.join(missing)} not installed in clients/node/node_modules: run `npm ci` in clients/node")
    return node


def run_example(node: str, address: str, token: str, *options: str) -> dict:
    """Run example.js with a fresh identity prefix; its RESULT, after checking it exited 0 and found nothing amiss."""
    prefix = f"node-test-{uuid.uuid4().hex[:12]}"
    env = {key: value for key, value in os.environ.items() if key != "STAMPAUTH_SERVER"}
    env["STAMPAUTH_TOKEN"] = token
    command = [node, "example.js", "--server", address, "--samples", str(SAMPLES), "--prefix", prefix, "--json",
               *options]
    done = subprocess.run(command, cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120)
    output = f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"example.js printed no RESULT line; {output}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert done.returncode == 0 and result["ok"] and result["failures"] == [], output
    assert result["prefix"] == prefix
    return result | {"stdout": done.stdout}


@pytest.fixture(scope="module")
def server_info(demo_stub, demo_auth) -> pb.GetServerInfoResponse:
    return demo_stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=demo_auth, timeout=30)


def list_all(demo_stub, demo_auth) -> list[str]:
    return [i.identity_id for i in demo_stub.ListIdentities(pb.ListIdentitiesRequest(page_size=1000), metadata=demo_auth,
                                                       timeout=30).identities]


def test_node_example_walkthrough(node, demo_server, demo_stub, demo_auth, server_info):
    result = run_example(node, *demo_server)
    signature_model = next(m for m in server_info.models if m.kind == pb.MARK_KIND_SIGNATURE)

    assert result["health"] == "SERVING"

    identity = result["identity"]
    assert identity["identity_id"].startswith(result["prefix"])
    assert identity["signature_specimen_count"] == len(identity["specimen_ids"]) == 2

    image = result["verify_image"]
    assert image["verdict"] == "VERDICT_GENUINE"
    assert image["score_kind"] == "SCORE_KIND_SIMILARITY"
    assert image["score"] >= image["threshold"] + image["review_band"]  # GENUINE is above the review band
    assert image["model_version"] == signature_model.version
    assert image["references_used"] == 2
    assert sorted(r["specimen_id"] for r in image["reference_similarities"]) == sorted(identity["specimen_ids"])

    documents = {d["document"]: d for d in result["documents"]}
    signed = documents["letter-signed.jpg"]
    assert (signed["outcome"], signed["verdict"], signed["all_claims_satisfied"]) == (
        "CLAIM_OUTCOME_SATISFIED", "VERDICT_GENUINE", True)
    assert signed["detector_version"] == server_info.detector.version
    [page] = signed["pages"]
    mark = next(v for v in signed["verifications"] if v["mark_index"] == signed["mark_index"])
    assert (mark["kind"], mark["verdict"], mark["page_number"]) == ("MARK_KIND_SIGNATURE", "VERDICT_GENUINE", 1)
    assert mark["score"] >= mark["threshold"] and mark["model_version"] == signature_model.version
    box = mark["box"]
    assert 0 <= box["x_min"] < box["x_max"] <= page["width"] and 0 <= box["y_min"] < box["y_max"] <= page["height"]
    other = documents["letter-other-signer.jpg"]
    assert (other["outcome"], other["verdict"], other["all_claims_satisfied"]) == (
        "CLAIM_OUTCOME_FORGED", "VERDICT_FORGED", False)

    # Pages of at most 2, in identity_id order, covering every identity the example created exactly once; with
    # those deleted again, the store lists what it listed besides them.
    listing = result["list"]
    created = listing["created"]
    assert len(set(created)) == len(created) == 4 and identity["identity_id"] in created
    assert all(id_.startswith(result["prefix"]) for id_ in created)
    assert all(1 <= len(page) <= 2 for page in listing["pages"])
    listed = [id_ for page in listing["pages"] for id_ in page]
    assert listed == sorted(set(listed))
    assert all(listed.count(id_) == 1 for id_ in created)
    assert sorted(list_all(demo_stub, demo_auth) + created) == listed

    error = result["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert [v["field"] for v in error["field_violations"]] == ["identity.identity_id"]
    assert "identity_id" in error["message"] and error["field_violations"][0]["description"]
    assert "field violation: identity.identity_id" in result["stdout"]

    # Cleaned up: every identity it created deleted, with its specimens.
    assert [c["identity_id"] for c in result["cleanup"]] == created
    assert {c["identity_id"]: c["deleted_specimen_count"] for c in result["cleanup"]}[identity["identity_id"]] == 2
    for id_ in created:
        with pytest.raises(grpc.RpcError) as failure:
            demo_stub.GetIdentity(pb.GetIdentityRequest(identity_id=id_), metadata=demo_auth, timeout=30)
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A server that requires mutual TLS and a bearer token; yields (address, token, certificate paths)."""
    from conftest import DEMO_TOKEN
    from helpers import make_certificates

    from stampauth.server.app import build_server, tls_credentials
    from stampauth.server.auth import Authenticator
    from stampauth.service import StampAuth
    from stampauth.settings import TlsSettings, TokenEntry, hash_token

    directory = tmp_path_factory.mktemp("node-tls")
    certs = make_certificates(directory)
    core = StampAuth.open(f"sqlite:///{directory / 'refs.db'}")
    tls = TlsSettings(cert_file=certs["server.pem"], key_file=certs["server.key"], client_ca_file=certs["ca.pem"])
    tokens = [TokenEntry(name="node-tls", sha256=hash_token(DEMO_TOKEN), tenant="demo", roles=["verify", "admin"])]
    running = build_server(core, port=0, host="127.0.0.1", credentials=tls_credentials(tls),
                           authenticator=Authenticator(tokens))
    yield f"localhost:{running.port}", DEMO_TOKEN, certs
    running.stop(grace=1)
    core.close()


def test_node_example_over_mutual_tls(node, tls_server):
    address, token, certs = tls_server
    result = run_example(node, address, token, "--tls-ca", str(certs["ca.pem"]),
                         "--tls-cert", str(certs["client.pem"]), "--tls-key", str(certs["client.key"]))
    assert result["health"] == "SERVING"
    signed = next(d for d in result["documents"] if d["document"] == "letter-signed.jpg")
    assert (signed["outcome"], signed["verdict"]) == ("CLAIM_OUTCOME_SATISFIED", "VERDICT_GENUINE")
    assert result["error"]["code"] == "INVALID_ARGUMENT"
