#!/usr/bin/env bash
# Set up a development/usage environment on a Debian/Ubuntu machine: the system
# packages needed to build and use qcss (compilers, CMake, MariaDB Connector/C,
# SQLite), a virtualenv in .venv, and qcss built and installed in it, with the
# build's progress shown. Test-only tools (MariaDB server, ZooKeeper, ...) are
# scripts/setup-test.sh's job (scripts/test.sh runs it).
# Idempotent: re-running only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build and runtime packages only; test-only ones go in scripts/setup-test.sh.
PKGS=(build-essential cmake pkg-config python3-dev python3-venv
      libmariadb-dev libsqlite3-dev)
source scripts/apt-install.sh
apt_install "${PKGS[@]}"

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
# Build requirements installed in the venv so rebuilds are incremental (build/ cache).
.venv/bin/pip install -q "scikit-build-core>=0.11" "pybind11>=2.12"
# The build's progress: ninja's "[n/N] Building ..." lines (the full log in build/).
mkdir -p build
log=build/setup-pip.log
echo "setup: building qcss (C++ library + Python extension); full log: $log" >&2
if ! .venv/bin/pip install -v --no-build-isolation ".[dev,zookeeper]" 2>&1 | tee "$log" |
    { grep --line-buffered -E '^ *\[[0-9]+/[0-9]+\] ' || true; }; then
  echo "setup: the build failed; the end of $log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
echo "setup: qcss installed in .venv ($(.venv/bin/css-admin --version))" >&2
