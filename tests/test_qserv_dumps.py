"""Qserv's own 2017 CSS maps, loaded through mem:///path (as Qserv's KvInterfaceImplMem did)."""

from __future__ import annotations

import json

import pytest

import qcss
from conftest import QSERV_JSON, QSERV_TSV, read_tsv

pytestmark = pytest.mark.shared_fixtures


def test_json_dump_loads_exactly() -> None:
    kv = qcss.open(f"mem://{QSERV_JSON}")
    expected = json.loads(QSERV_JSON.read_text(encoding="utf-8"))
    assert len(expected) == 115  # the 115-key tree (the root is not listed)
    snap = dict(kv.snapshot("/").items())
    snap.pop("/")
    assert snap == {k: v.encode("utf-8") for k, v in expected.items()}
    # The TSV form of the same tree (with the root) agrees key for key.
    tsv = read_tsv(QSERV_TSV)
    tsv.pop("/")
    assert snap == tsv


def test_dump_round_trips(tmp_path: pytest.TempPathFactory) -> None:
    kv = qcss.open(f"mem://{QSERV_JSON}")
    again = qcss.open(f"mem://{QSERV_JSON}", readOnly=True)
    assert kv.dumpKV() == again.dumpKV()
    assert json.loads(kv.dumpKV()) == json.loads(QSERV_JSON.read_text(encoding="utf-8"))
    assert kv.get("/PARTITIONING/_0000000000/overlap") == b"0.025"


def test_malformed_dump_is_a_clear_error(tmp_path: pytest.TempPathFactory) -> None:
    import pathlib

    bad = pathlib.Path(str(tmp_path)) / "bad.json"
    bad.write_text('{"\\/a": "1", "\\/b": }', encoding="utf-8")
    with pytest.raises(qcss.BadDumpError, match=r"bad\.json.*byte 20"):
        qcss.open(f"mem://{bad}")
    bad.write_text('{"a/b": "1"}', encoding="utf-8")
    with pytest.raises(qcss.BadDumpError, match="must start with '/'"):
        qcss.open(f"mem://{bad}")
    with pytest.raises(qcss.ConfigError, match="cannot read"):
        qcss.open(f"mem://{tmp_path}/does-not-exist.json")
