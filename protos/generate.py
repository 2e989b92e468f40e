"""Generate the Python gRPC stubs from ``protos/`` into ``stampauth/v1/`` (committed).

    python protos/generate.py          # regenerate
    python protos/generate.py --check  # exit 1 if the committed stubs differ from the protos

The stubs are committed so that an install needs no code generation; the test suite runs
``--check`` so a proto edit without regeneration fails CI.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
PACKAGE_INIT = '"""Generated gRPC stubs of the stampauth.v1 API (see protos/generate.py)."""\n'


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.glob("stampauth/v1/*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc (from grpcio-tools) into ``out_dir``; returns the generated files."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in proto_files()],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the message above")
    package = out_dir / "stampauth" / "v1"
    (package / "__init__.py").write_text(PACKAGE_INIT)
    return sorted(package.iterdir())


# The generators stamp their own release into the stubs (the grpcio / protobuf runtime the code needs at least).
# A newer grpcio-tools patch release changes only these stamps, so the check compares the code around them: the
# committed stamps stay the oldest runtime the stubs accept (setup.cfg's lower bounds match them).
_VERSION_STAMPS = (
    re.compile(r"^GRPC_GENERATED_VERSION = '[^']*'$", re.MULTILINE),
    re.compile(r"^# Protobuf Python Version: \S+$", re.MULTILINE),
    re.compile(r"(ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,)\s*\d+,\s*\d+,\s*\d+,"),
)


def without_version_stamps(text: str) -> str:
    for pattern in _VERSION_STAMPS:
        text = pattern.sub(lambda match: (match.group(1) if match.groups() else "") + "<version>", text)
    return text


def same_code(generated: Path, committed: Path) -> bool:
    """Do two stub files hold the same code, whatever release of the generators stamped them?"""
    if filecmp.cmp(generated, committed, shallow=False):
        return True
    return without_version_stamps(generated.read_text()) == without_version_stamps(committed.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    if not args.check:
        generated = generate(ROOT)
        print("\n".join(str(p.relative_to(ROOT)) for p in generated))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generated = generate(Path(tmp))
        stale = [
            p.name for p in generated
            if p.suffix in (".py", ".pyi") and not (ROOT / "stampauth/v1" / p.name).exists()
            or p.suffix in (".py", ".pyi") and not same_code(p, ROOT / "stampauth/v1" / p.name)
        ]
    if stale:
        print(f"stale generated stubs: {', '.join(stale)}; run: python protos/generate.py", file=sys.stderr)
        return 1
    print("generated stubs match the protos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
