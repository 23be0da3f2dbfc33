"""Stores for the CssAccess tests on every backend that can be reached.

``mem`` always; ``sqlite`` when the library was built with it; ``mysql`` when
the MariaDB/MySQL server of $QCSS_TEST_MYSQL_URL (default
mysql://root@127.0.0.1:3306) answers (with $CI set, an unreachable server is a
failure, not a skip). Each store is fresh: a temporary SQLite file, or a new
MySQL database dropped afterwards. The multi-process tests use the URL.
"""

from __future__ import annotations

import os
import secrets
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

import qcss

ALL_BACKENDS = ["mem", "sqlite", "mysql"]
SHARED_BACKENDS = ["sqlite", "mysql"]  # can be opened by several processes


def _mysql_server() -> str:
    url = os.environ.get("QCSS_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))


def _mysql_connect(server: str) -> object:
    import pymysql

    p = urllib.parse.urlsplit(server)
    return pymysql.connect(host=p.hostname or "127.0.0.1", port=p.port or 3306,
                           user=urllib.parse.unquote(p.username or "root"),
                           password=urllib.parse.unquote(p.password or ""), autocommit=True)


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def make_url(backend: str, tmp: Path) -> Iterator[str]:
    """A fresh, empty store of `backend`; yields its URL."""
    if backend == "mem":
        yield "mem://"
        return
    if backend == "sqlite":
        url = f"sqlite://{tmp / 'css.db'}"
        try:
            qcss.open(url)
        except qcss.ConfigError as exc:
            _skip_or_fail(f"sqlite backend not built: {exc}")
        yield url
        return
    if backend == "mysql":
        server = _mysql_server()
        try:
            conn: object = _mysql_connect(server)
        except Exception as exc:
            _skip_or_fail(f"MySQL not reachable at {qcss.maskUrl(server)}: {exc}")
            return
        name = "qcss_css_" + secrets.token_hex(6)
        cur = conn.cursor()  # type: ignore[attr-defined]
        cur.execute(f"CREATE DATABASE {name}")
        url = f"{server}/{name}"
        try:
            from qcss import schema

            schema.init(url)
            yield url
        finally:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.close()  # type: ignore[attr-defined]
        return
    raise AssertionError(backend)
