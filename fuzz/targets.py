"""Fuzz targets: each takes arbitrary bytes and may raise only a typed qcss error
(qcss.CssError and its subclasses, which include css-migrate's
MigrationInputError). Anything else -- an untyped exception, a RecursionError, a
MemoryError, a crash -- is a bug. Run by the atheris harness fuzz/fuzz.py and
replayed over fuzz/corpus/ by tests/test_fuzz_corpus.py."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import qcss
from qcss import _qcss

_TMP = Path(tempfile.mkdtemp(prefix="qcss-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                             else None))
atexit.register(shutil.rmtree, _TMP, True)  # no qcss-fuzz-* left behind in /dev/shm


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")  # lone surrogates included on purpose


def _file(data: bytes, name: str) -> Path:
    path = _TMP / name
    path.write_bytes(data)
    return path


def url(data: bytes) -> None:
    """The one URL split rule: parse and mask agree, and no password survives masking."""
    text = _text(data)
    try:
        masked = _qcss.maskUrl(text)
    except qcss.ConfigError:
        return  # a lone surrogate: refused as text, typed
    try:
        parts = _qcss._parseUrl(text)
    except qcss.ConfigError as e:
        _no_password_in(str(e), text, None)
        return
    _no_password_in(masked, text, parts["password"])


def _no_password_in(out: str, text: str, password: bytes | None) -> None:
    """A password of 4+ plain characters, written as is (no %-escape) and occurring
    once in the URL (so nothing else there could show it), never shows in `out`
    (a masked URL or an error message)."""
    auth = text.split("://", 1)[1] if "://" in text else text
    if not auth or auth.startswith("/"):
        return  # no userinfo by the rule
    pw = auth.rpartition("@")[0].partition(":")[2]
    if password is not None and password.decode("utf-8", "surrogateescape") != pw:
        return  # escaped: the decoded text may occur elsewhere
    if (len(pw) >= 4 and text.count(pw) == 1 and not set(pw) & set("*':/@%")
            and pw not in _MESSAGE_TEXT):
        assert pw not in out, f"password {pw!r} shown in {out!r}"


# The fixed text of URL error messages (cpp/src/core/Url.cc): a "password" that is
# part of it proves nothing.
_MESSAGE_TEXT = ("malformed store URL '': expected scheme://..., e.g. mem://, "
                 "sqlite:///path/css.db, mysql://user@host:3306/db ': bad port '' "
                 "bad percent-escape in URL component ''")


def key(data: bytes) -> None:
    """Key validation: keyProblem and validateKey agree; never anything but typed errors."""
    keys: list[Any] = [data, _text(data)]  # bytes are accepted like str
    for k in keys:
        try:
            problem = qcss.keyProblem(k)
        except qcss.InvalidKeyError:
            continue
        try:
            qcss.validateKey(k)
            assert problem == "", problem
        except qcss.InvalidKeyError:
            assert problem != ""


def json_cpp(data: bytes) -> None:
    """The C++ JSON reader: CssAccess.unpackJson and a mem:// dump file."""
    try:
        qcss.CssAccess.unpackJson("/k", data)  # type: ignore[arg-type]
    except qcss.CssError:
        pass
    try:
        qcss.open(f"mem://{_file(data, 'dump.json')}")
    except qcss.CssError:
        pass


def _migrate(data: bytes, name: str, fmt: str) -> None:
    from qcss.migrate.sources import open_source

    try:
        src = open_source(str(_file(data, name)), fmt)
        len(src)
    except qcss.CssError:
        pass


def json_py(data: bytes) -> None:
    """css-migrate's JSON readers (Qserv, zk-shell, ZooCreeper/zkr), format detection."""
    _migrate(data, "input.json", "auto")


def dump(data: bytes) -> None:
    """The qcss dump reader and the Qserv TSV reader."""
    _migrate(data, "input.qcss", "qcss")
    _migrate(data, "input.tsv", "qserv-tsv")


def zk_snapshot(data: bytes) -> None:
    """ZooKeeper jute snapshot reader (plain and gzipped)."""
    _migrate(data, "snapshot.0", "zk-data")


def zk_log(data: bytes) -> None:
    """ZooKeeper transaction-log reader, replayed onto an empty tree."""
    from qcss.migrate import zkdata

    try:
        zkdata.read_log(_file(data, "log.1"), zkdata.ZkTree(), 0)
    except qcss.CssError:
        pass


def gzip_input(data: bytes) -> None:
    """Bounded gunzip."""
    from qcss.migrate.inflate import gunzip, gunzip_head

    for fn in (gunzip, gunzip_head):
        try:
            fn(data, "input.gz")
        except qcss.CssError:
            pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "url": url,
    "key": key,
    "json_cpp": json_cpp,
    "json_py": json_py,
    "dump": dump,
    "zk_snapshot": zk_snapshot,
    "zk_log": zk_log,
    "gzip": gzip_input,
}
