"""The C++ client example (clients/cpp) built with its Makefile and run against a real server: it runs the walkthrough
and ends with a ``RESULT {json}`` line of what the server answered, which is checked here against the server itself
(the same calls made from Python, its models, its store after the example cleaned up). Skipped without the toolchain
(protoc, grpc_cpp_plugin, make, a C++ compiler, pkg-config with grpc++ and protobuf), unless
``STAMPAUTH_REQUIRE_CLIENTS=1``: then it fails."""

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import grpc
import pytest
from conftest import SAMPLES, missing

from stampauth.v1 import stampauth_pb2 as pb

CPP_DIR = Path(__file__).resolve().parent.parent / "clients" / "cpp"
BINARY = CPP_DIR / "build" / "stampauth-example"
BUILD_TIMEOUT_S = 900  # the first build compiles the generated code: about a minute on 2 cores

pytestmark = pytest.mark.slow


def unavailable(reason: str):
    missing(reason, "STAMPAUTH_REQUIRE_CLIENTS")


def googleapis_proto_dir() -> Path | None:
    """The directory holding google/rpc/{status,error_details}.proto: the site-packages of googleapis-common-protos
    (a dependency of the server's grpcio-status), which ships them next to its generated modules."""
    from google.rpc import status_pb2

    root = Path(status_pb2.__file__).resolve().parent.parent.parent
    protos = [root / "google" / "rpc" / name for name in ("status.proto", "error_details.proto")]
    return root if all(p.is_file() for p in protos) else None


@pytest.fixture(scope="module")
def example() -> Path:
    """The example's binary, built (or brought up to date) with ``make -C clients/cpp``."""
    missing = [tool for tool in ("make", "protoc", "grpc_cpp_plugin", "pkg-config") if shutil.which(tool) is None]
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        missing.append(os.environ.get("CXX", "g++"))
    if missing:
        unavailable(f"{', '.join(missing)} not found: the C++ client example needs g++ make pkg-config "
                    "libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc")
    found = subprocess.run(["pkg-config", "--exists", "--print-errors", "grpc++", "protobuf"], capture_output=True,
                           text=True, timeout=30)
    if found.returncode != 0:
        unavailable(f"pkg-config finds no grpc++/protobuf ({found.stderr.strip()}): install libgrpc++-dev "
                    "libprotobuf-dev")
    googleapis = googleapis_proto_dir()
    if googleapis is None:
        unavailable("google/rpc/status.proto and error_details.proto are not next to google.rpc.status_pb2: "
                    "googleapis-common-protos ships them")
    started = time.monotonic()
    built = subprocess.run(["make", "-C", str(CPP_DIR), "-j2", f"GOOGLEAPIS_PROTO_DIR={googleapis}"],
                           capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert built.returncode == 0, f"make -C clients/cpp failed ({time.monotonic() - started:.0f} s):\n" \
                                  f"{built.stdout[-6000:]}\n{built.stderr[-6000:]}"
    assert BINARY.is_file() and os.access(BINARY, os.X_OK)
    return BINARY


def run_example(binary: Path, address: str, token: str | None, prefix: str, *options: str):
    """Run the example; its exit status, output and parsed RESULT."""
    env = {key: value for key, value in os.environ.items() if key != "STAMPAUTH_TOKEN"}
    if token is not None:
        env["STAMPAUTH_TOKEN"] = token  # the token comes from the environment, as the README shows
    command = [str(binary), "--address", address, "--samples", str(SAMPLES), "--prefix", prefix, "--timeout", "60",
               *options]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    output = f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"the example printed {len(lines)} RESULT lines; {output}"
    return done.returncode, output, json.loads(lines[0][len("RESULT "):])


def identity_ids(demo_stub, demo_auth) -> list[str]:
    ids, token = [], ""
    while True:
        page = demo_stub.ListIdentities(pb.ListIdentitiesRequest(page_size=1000, page_token=token), metadata=demo_auth,
                                   timeout=30)
        ids += [identity.identity_id for identity in page.identities]
        if not (token := page.next_page_token):
            return ids


def signature(number: int) -> pb.SpecimenInput:
    path = SAMPLES / "specimens" / f"jansen-signature-{number}.png"
    return pb.SpecimenInput(kind=pb.MARK_KIND_SIGNATURE, image=pb.ImageData(content=path.read_bytes(),
                                                                             filename=path.name))


def python_walkthrough(demo_stub, demo_auth, identity_id: str) -> dict:
    """The example's verification steps made from Python against the same server: what the C++ client must have
    reported. The identity is deleted afterwards."""
    demo_stub.CreateIdentity(pb.CreateIdentityRequest(identity=pb.Identity(identity_id=identity_id),
                                                 specimens=[signature(1), signature(2)]), metadata=demo_auth, timeout=60)
    try:
        image = demo_stub.VerifyImage(pb.VerifyImageRequest(identity_id=identity_id, kind=pb.MARK_KIND_SIGNATURE,
                                                       image=signature(3).image), metadata=demo_auth, timeout=60)
        demo_stub.EnrollSpecimens(pb.EnrollSpecimensRequest(identity_id=identity_id, specimens=[signature(3)]),
                             metadata=demo_auth, timeout=60)
        documents = {}
        for name in ("letter-signed.jpg", "letter-other-signer.jpg"):
            documents[name] = demo_stub.VerifyDocument(pb.VerifyDocumentRequest(
                document=pb.DocumentData(content=(SAMPLES / name).read_bytes(), filename=name),
                claims=[pb.Claim(identity_id=identity_id, kind=pb.MARK_KIND_SIGNATURE)]), metadata=demo_auth, timeout=60)
        return {"image": image.decision, "documents": documents}
    finally:
        demo_stub.DeleteIdentity(pb.DeleteIdentityRequest(identity_id=identity_id), metadata=demo_auth, timeout=60)


def assert_decision(reported: dict, expected: pb.Decision):
    assert reported["verdict"] == pb.Verdict.Name(expected.verdict)
    assert reported["score_kind"] == pb.ScoreKind.Name(expected.score_kind) == "SCORE_KIND_SIMILARITY"
    assert reported["model_version"] == expected.model_version
    assert reported["references_used"] == expected.references_used
    for field in ("score", "threshold", "review_band", "probability_genuine"):
        assert reported[field] == pytest.approx(getattr(expected, field), abs=1e-4), field
    # the verdict is the one the numbers call for (API: GENUINE at or above threshold + band, FORGED below - band)
    if reported["verdict"] == "VERDICT_GENUINE":
        assert reported["score"] >= reported["threshold"] + reported["review_band"] - 1e-6
    elif reported["verdict"] == "VERDICT_FORGED":
        assert reported["score"] < reported["threshold"] - reported["review_band"] + 1e-6


def test_cpp_example_walkthrough(example, demo_server, demo_stub, demo_auth):
    address, token = demo_server
    prefix = f"cpp-test-{uuid.uuid4().hex[:12]}"
    code, output, result = run_example(example, address, token, prefix)
    assert code == 0 and result["ok"] is True, output
    assert result["prefix"] == prefix

    # 1. health
    assert result["health"] == "SERVING"

    # 2-4. the decisions are the server's: the same calls from Python give the same numbers
    info = demo_stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=demo_auth, timeout=30)
    signature_model = next(m for m in info.models if m.kind == pb.MARK_KIND_SIGNATURE)
    expected = python_walkthrough(demo_stub, demo_auth, f"py-{prefix}")
    identity_id = result["identity_id"]
    assert identity_id == f"{prefix}-jansen"
    assert result["signature_specimens"] == 3
    assert result["verify_image"]["verdict"] == "VERDICT_GENUINE", output
    assert result["verify_image"]["references_used"] == 2
    assert result["verify_image"]["model_version"] == signature_model.version
    assert_decision(result["verify_image"], expected["image"])

    signed = result["documents"]["letter-signed.jpg"]
    assert (signed["outcome"], signed["verdict"]) == ("CLAIM_OUTCOME_SATISFIED", "VERDICT_GENUINE"), output
    assert signed["all_claims_satisfied"] is True
    other = result["documents"]["letter-other-signer.jpg"]
    assert (other["outcome"], other["verdict"]) == ("CLAIM_OUTCOME_FORGED", "VERDICT_FORGED"), output
    assert other["all_claims_satisfied"] is False
    for name, reported in result["documents"].items():
        response = expected["documents"][name]
        claim = response.claim_results[0]
        assert reported["outcome"] == pb.ClaimOutcome.Name(claim.outcome)
        assert reported["verdict"] == pb.Verdict.Name(claim.verdict)
        assert reported["explanation"] == claim.explanation  # it names no identity, so it is the same
        assert reported["mark_index"] == claim.mark_index
        assert reported["verifications"] == len(response.verifications)
        match = next(v for v in response.verifications if v.mark.mark_index == claim.mark_index)
        assert reported["page"] == match.mark.page_number
        assert reported["kind"] == "MARK_KIND_SIGNATURE" == pb.MarkKind.Name(match.mark.kind)
        box = match.mark.box
        assert reported["box"] == [box.x_min, box.y_min, box.x_max, box.y_max]
        assert reported["decision"]["model_version"] == signature_model.version
        assert_decision(reported["decision"], match.decision)

    # 5. pagination: pages of at most 2, in identity_id order, covering each created identity exactly once
    listing = result["list"]
    created = listing["created"]
    assert listing["page_size"] == 2
    assert sorted(created) == sorted([identity_id] + [f"{prefix}-extra-{i}" for i in (1, 2, 3)])
    pages = listing["pages"]
    assert len(pages) >= 2 and all(1 <= len(page) <= 2 for page in pages[:-1]) and len(pages[-1]) <= 2
    listed = [identity for page in pages for identity in page]
    assert listed == sorted(listed)
    assert all(listed.count(identity) == 1 for identity in created)
    assert [identity for identity in listed if identity.startswith(prefix)] == sorted(created)

    # 6. the error and its google.rpc.BadRequest
    error = result["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "type.googleapis.com/google.rpc.BadRequest" in error["detail_types"]
    assert [v["field"] for v in error["field_violations"]] == ["identity.identity_id"]
    assert "identity_id" in error["message"]

    # clean up: everything it created was deleted, with its specimens, and is gone from the store
    deleted = {entry["identity_id"]: entry["specimens"] for entry in result["deleted"]}
    assert deleted == {identity: (3 if identity == identity_id else 0) for identity in created}
    assert not [identity for identity in identity_ids(demo_stub, demo_auth) if identity.startswith(prefix)]
    with pytest.raises(grpc.RpcError) as raised:
        demo_stub.GetIdentity(pb.GetIdentityRequest(identity_id=identity_id), metadata=demo_auth, timeout=30)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_cpp_example_fails_on_a_bad_token(example, demo_server, demo_stub, demo_auth):
    """An unexpected error makes the example exit non-zero with the status it got, after cleaning up."""
    address, _ = demo_server
    prefix = f"cpp-test-{uuid.uuid4().hex[:12]}"
    code, output, result = run_example(example, address, "sa_not-a-valid-token", prefix)
    assert code == 1 and result["ok"] is False, output
    assert result["health"] == "SERVING"  # the health service needs no token
    assert "CreateIdentity failed with UNAUTHENTICATED" in output
    assert result["deleted"] == []
    assert not [identity for identity in identity_ids(demo_stub, demo_auth) if identity.startswith(prefix)]


def test_cpp_example_usage(example):
    done = subprocess.run([str(example)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--address is required" in done.stderr
    done = subprocess.run([str(example), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "--tls-ca FILE" in done.stdout
