"""The committed stubs are exactly what the protos generate, and the API follows its conventions."""

import subprocess
import sys
from pathlib import Path

import pytest

from stampauth.v1 import stampauth_pb2 as pb

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"


def test_committed_stubs_match_the_protos():
    result = subprocess.run([sys.executable, str(ROOT / "protos" / "generate.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_grpcio_tools_release_that_only_restamps_the_stubs_leaves_them_current(tmp_path):
    """Regression: grpcio-tools 1.85.4 wrote GRPC_GENERATED_VERSION = '1.85.4' where the committed stubs say 1.85.1,
    and the byte-for-byte check failed CI on a fresh install without any proto change."""
    sys.path.insert(0, str(PROTOS))
    try:
        from generate import same_code
    finally:
        sys.path.remove(str(PROTOS))
    for name, old, new in (("stampauth_pb2_grpc.py", "GRPC_GENERATED_VERSION = '1.85.1'", "GRPC_GENERATED_VERSION = '1.99.7'"),
                           ("stampauth_pb2.py", "Protobuf Python Version: 7.35.1", "Protobuf Python Version: 7.40.0")):
        committed = ROOT / "stampauth" / "v1" / name
        text = committed.read_text()
        assert old in text
        restamped = tmp_path / name
        restamped.write_text(text.replace(old, new))
        assert same_code(restamped, committed)
        changed = tmp_path / f"changed-{name}"
        changed.write_text(text.replace("stampauth.v1", "stampauth.v2"))  # real code differences still count
        assert not same_code(changed, committed)


def test_every_rpc_has_its_own_request_and_response():
    service = pb.DESCRIPTOR.services_by_name["StampAuthService"]
    seen = set()
    for method in service.methods:
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"
        seen |= {method.input_type.name, method.output_type.name}
    assert len(seen) == 2 * len(service.methods)


def test_enums_start_unspecified():
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        assert enum.values[0].number == 0 and enum.values[0].name.endswith("_UNSPECIFIED")


def test_api_reference_matches_the_protos():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    checked = subprocess.run([sys.executable, str(root / "protos" / "docs.py"), "--check"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr + " (run: python protos/docs.py)"
    reference = (root / "protos" / "API.md").read_text()
    from stampauth.v1 import stampauth_pb2 as pb

    for method in pb.DESCRIPTOR.services_by_name["StampAuthService"].methods:  # every method is documented
        assert f"### `{method.name}`" in reference
    for name in pb.DESCRIPTOR.message_types_by_name:
        assert f"### {name}\n" in reference


@pytest.fixture(scope="module")
def buf() -> str:
    """The buf binary (bootstrap installs it from npm into .cache/buf); CI requires it (STAMPAUTH_REQUIRE_BUF=1)."""
    import shutil

    from conftest import missing

    local = ROOT / ".cache" / "buf" / "node_modules" / ".bin" / "buf"
    binary = str(local) if local.exists() else shutil.which("buf")
    if binary is None:
        missing("buf is not installed (bash server/bootstrap.sh test installs it with npm)", "STAMPAUTH_REQUIRE_BUF")
    return binary


def test_protos_pass_buf_lint_with_the_standard_rules(buf):
    linted = subprocess.run([buf, "lint"], cwd=PROTOS, capture_output=True, text=True, timeout=120)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_protos_make_no_breaking_change_against_the_last_release(buf):
    """``buf breaking`` (FILE rules) against the image of the last released API in protos/released/."""
    releases = sorted((PROTOS / "released").glob("stampauth-v1-*.binpb"),
                      key=lambda p: tuple(int(x) for x in p.stem.rsplit("-", 1)[1].split(".")))
    assert releases, "protos/released/ holds the image of every released API (see protos/README.md)"
    checked = subprocess.run([buf, "breaking", "--against", str(releases[-1])], cwd=PROTOS, capture_output=True,
                             text=True, timeout=120)
    assert checked.returncode == 0, f"breaking change against {releases[-1].name}:\n{checked.stdout}{checked.stderr}"
