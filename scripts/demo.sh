#!/usr/bin/env bash
# The main job: a css-admin session on the embedded default store (a SQLite
# file in the user's data directory, created on first use; no server needed),
# loaded with Qserv's own CSS tree (the 2017 test map in tests/fixtures/qserv/).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
say() { printf '\n$ %s\n' "$*"; "$@"; }
say css-admin schema upgrade   # installs a fresh store, or brings an older one up to date
say css-admin import tests/fixtures/qserv/kvmap-2017.json --overwrite
say css-admin db list
say css-admin table list LSST
say css-admin -o json table show LSST Object
say css-admin set /DBS/LSST/TABLES/Object/sharedScan/lockInMem 1
say css-admin db status LSST DO_NOT_USE --expect READY
say css-admin history /DBS/LSST
say css-admin db status LSST READY --expect DO_NOT_USE
say css-admin locks
