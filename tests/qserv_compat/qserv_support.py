"""What the Qserv-compatibility tests share: the Qserv commits they mirror, and
loading a Qserv CSS map into any store.

Each test in tests/qserv_compat/ names the Qserv file, test case and commit whose
assertions it repeats (facts carried over, no Qserv code). Qserv's own maps are read
from ../shared/fixtures/qserv-maps/ (see tests/conftest.py, marker ``shared_fixtures``).
"""

from __future__ import annotations

import json

import qcss

# github.com/lsst/qserv commits the tests mirror.
HEAD = "5314826faccb579ad99844c396c721891be3fe7e"  # src/css/test*.cc, test maps
CSS_VERSION_PY = "d7a095b1649f2c607aa549bf3b6d23bba7850744"  # admin test_cssVersion.py
CSS_NODES_PY = "7d5e51cb90d6cf2fecffad02209739f43488e887"  # admin tests/test_cssNodes.py


def parse_map(text: str) -> list[tuple[str, str]]:
    """The test's own reader of both Qserv map forms: JSON ({"/k": "v"}) or TSV
    (key TAB value per line, \\N for empty)."""
    if text.lstrip().startswith("{"):
        return list(json.loads(text).items())
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition("\t")
        out.append((key, "" if value == "\\N" else value))
    return out


def load_map(kv: qcss.KvInterface, text: str) -> None:
    """Write a Qserv map into `kv` as Qserv's KvInterfaceImplMem loads it (set per key)."""
    with kv.transaction() as txn:
        for key, value in parse_map(text):
            txn.set(key, value)


def css_on(kv: qcss.KvInterface, text: str) -> qcss.CssAccess:
    """A CssAccess over `kv` holding the map `text` (any backend), without locks
    (Qserv's CssAccess takes none)."""
    load_map(kv, text)
    css = qcss.CssAccess(kv)
    css.setLocking(False)
    return css
