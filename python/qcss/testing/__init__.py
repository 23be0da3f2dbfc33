"""A test harness for services that use qcss (in the spirit of kazoo.testing).

- ``fresh_store(backend, tmp_path)``: a context manager giving a fresh, empty store of one
  backend (``mem``, ``sqlite`` or ``mysql``) as a :class:`Store`, cleaned up on exit (for
  ``mysql``: a new database with the qcss schema, dropped afterwards).
- ``qcss.testing.mysql``: finding or starting a MariaDB/MySQL server
  (``$QCSS_TEST_MYSQL_URL``, else ``127.0.0.1:3306``, else a throwaway ``mariadbd`` in a
  temporary directory).
- ``qcss.testing.pytest_plugin``: pytest fixtures ``qcss_store``, ``qcss_kv`` and
  ``qcss_mysql_server`` (loaded automatically through the ``pytest11`` entry point).

See docs/api.md, "Testing your service against qcss".
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import qcss
from qcss.testing.mysql import NoServer, Server, find_or_start, mysql_server

__all__ = [
    "BACKENDS",
    "NoServer",
    "Server",
    "Store",
    "find_or_start",
    "fresh_store",
    "mysql_server",
]

BACKENDS = ("mem", "sqlite", "mysql")


@dataclass
class Store:
    """A fresh store of one backend: its URL and a scratch directory."""

    backend: str
    url: str
    tmp: Path

    def with_params(self, **params: str) -> str:
        """The URL with extra options (``max_value_size=...``, ``client=...``)."""
        sep = "&" if "?" in self.url else "?"
        return self.url + sep + urllib.parse.urlencode(params)

    def open(self, readOnly: bool = False, **params: str) -> qcss.KvInterface:
        """A handle on the store (for ``mem``, each call opens a new, empty store)."""
        return qcss.open(self.with_params(**params) if params else self.url, readOnly=readOnly)

    def reopen(self, kv: qcss.KvInterface, readOnly: bool = False) -> qcss.KvInterface:
        """The same data through a new handle. An in-memory store cannot be
        shared, so for mem the data travels through a Qserv dump file."""
        if self.backend != "mem":
            return self.open(readOnly=readOnly)
        path = self.tmp / "reopen.json"
        path.write_text(kv.dumpKV(), encoding="utf-8")
        return qcss.open(f"mem://{path}", readOnly=readOnly)


@contextmanager
def fresh_store(backend: str, tmp_path: Path, server: Server | None = None) -> Iterator[Store]:
    """A fresh, empty store of ``backend`` (``mem``, ``sqlite`` or ``mysql``).

    ``sqlite``: a new file in ``tmp_path`` (``?create=1``; the library creates the schema).
    ``mysql``: a new database on ``server`` with the qcss schema, dropped on exit; without
    ``server`` one is found or started for this store alone (``mysql_server``), which raises
    ``NoServer`` if none can be had. Pass a server shared by many stores to avoid a start
    per store."""
    if backend == "mem":
        yield Store(backend, "mem://", tmp_path)
    elif backend == "sqlite":
        yield Store(backend, f"sqlite://{tmp_path}/css.db?create=1", tmp_path)
    elif backend == "mysql":
        with ExitStack() as stack:
            if server is None:
                server = stack.enter_context(mysql_server(tmp_path / "mariadb"))
            url = stack.enter_context(server.fresh_database())
            yield Store(backend, url, tmp_path)
    else:
        raise ValueError(f"unknown qcss backend {backend!r} (one of {', '.join(BACKENDS)})")
