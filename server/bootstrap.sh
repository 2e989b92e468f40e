#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine with Python 3.11 to a running server or a
# test run: creates .venv, installs stampauth with its dependencies, installs the Tesseract
# binary and the fonts of the synthetic page generator through apt when they are missing, then
# runs what was asked.
#
#   bash server/bootstrap.sh serve [stampauth serve options]   # e.g. --port 50051 --store sqlite:///srv/refs.db
#   bash server/bootstrap.sh test  [pytest options]
set -euo pipefail
cd "$(dirname "$0")/.."

action="${1:-}"
case "$action" in
  serve|test) shift ;;
  *) echo "usage: bash server/bootstrap.sh serve|test [options]" >&2; exit 64 ;;
esac

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  echo "bootstrap: installing $* with apt" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
command -v tesseract >/dev/null 2>&1 || apt_install tesseract-ocr
# Fonts for the synthetic page generator (training data); it falls back to Pillow's font without them.
# Print, then printed script (logos) and handwriting (dates and notes that are not signatures).
[ -e /usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf ] ||
  apt_install fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-urw-base35 fonts-crosextra-carlito fonts-linuxlibertine || true
[ -e /usr/share/fonts/opentype/lobster/lobster.otf ] && [ -e /usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf ] ||
  apt_install fonts-lobster fonts-lobstertwo fonts-dancingscript fonts-dkg-handwriting fonts-ecolier-court fonts-breip \
    fonts-femkeklaver fonts-humor-sans fonts-comic-neue || true
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv 2>/dev/null || { apt_install python3-venv && "$python" -m venv .venv; }
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]" 2> >(grep -v "^WARNING: Location" >&2)

if [ "$action" = test ] && [ ! -x .cache/buf/node_modules/.bin/buf ] && command -v npm >/dev/null 2>&1; then
  # buf (proto lint) for the tests, from the npm registry; the proto test says where it is missing
  npm install --silent --no-fund --no-audit --prefix .cache/buf @bufbuild/buf@1 >/dev/null 2>&1 || true
fi

if [ "$action" = test ] && [ "${STAMPAUTH_SKIP_CLIENTS:-0}" != 1 ]; then
  # The cross-language client examples in clients/ are built and run against a real server by the tests:
  # C++ from Debian's gRPC packages, Node.js from the npm registry (versions pinned by clients/node/package-lock.json).
  { command -v grpc_cpp_plugin && command -v protoc && pkg-config --exists grpc++ protobuf; } >/dev/null 2>&1 ||
    apt_install g++ make pkg-config libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc || true
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm || true
  if [ -f clients/node/package-lock.json ] && [ ! -d clients/node/node_modules ] && command -v npm >/dev/null 2>&1; then
    (cd clients/node && npm ci --silent --no-fund --no-audit >/dev/null 2>&1) || echo "bootstrap: npm ci in clients/node failed" >&2
  fi
fi

case "$action" in
  serve) exec .venv/bin/stampauth serve "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
esac
