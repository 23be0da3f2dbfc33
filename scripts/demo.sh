#!/usr/bin/env bash
# The main job: a css-admin session over Qserv's own CSS tree (the 2017 test
# map shipped in tests/fixtures/qserv/), with no database server.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
URL="mem://$PWD/tests/fixtures/qserv/kvmap-2017.json"
say() { printf '\n$ %s\n' "$*"; "$@"; }
say css-admin --url "$URL" ls /
say css-admin --url "$URL" ls /DBS/LSST/TABLES
say css-admin --url "$URL" get /DBS/LSST/TABLES/Object/partitioning/latColName
say css-admin --url "$URL" -o json stat /DBS/LSST
say css-admin --url "$URL" ls -R /PARTITIONING
