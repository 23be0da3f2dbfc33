#!/usr/bin/env bash
# Set up a development/usage environment on a Debian/Ubuntu machine:
# system packages (compilers, CMake, MariaDB Connector/C, SQLite, ZooKeeper for
# the migration tests), a virtualenv in .venv, and qcss built and installed in it.
# Idempotent: re-running only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config python3-dev python3-venv
      libmariadb-dev libsqlite3-dev mariadb-server mariadb-client zookeeper)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
# Build requirements installed in the venv so rebuilds are incremental (build/ cache).
.venv/bin/pip install -q "scikit-build-core>=0.10" "pybind11>=2.12"
.venv/bin/pip install -q --no-build-isolation ".[dev,zookeeper]"
