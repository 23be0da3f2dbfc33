"""What every css-admin command module shares: the store context, output and errors.

css-admin: the command-line tool of qcss.

Thin click commands over the library. Every command takes the store from
``--url`` (or ``$QCSS_URL``; default: the embedded SQLite file, see
``qcss.defaultUrl()``) and prints in ``-o text|json`` (``table`` where it makes
sense). Errors go to stderr as ``Error: ...`` with an exit code per error class
(see EXIT_CODES and docs/cli.md).
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import click

import qcss
from qcss import errors

# Exit codes, one per failure class (documented in docs/cli.md).
EXIT_CODES: list[tuple[type[BaseException], int, str]] = [
    (errors.NoSuchKey, 3, "the key (or database, table, node) does not exist"),
    (errors.NoSuchDb, 3, "the key (or database, table, node) does not exist"),
    (errors.NoSuchTable, 3, "the key (or database, table, node) does not exist"),
    (errors.NoSuchNode, 3, "the key (or database, table, node) does not exist"),
    (errors.KeyExistsError, 4, "the key (or database, table, node) already exists"),
    (errors.DbExists, 4, "the key (or database, table, node) already exists"),
    (errors.TableExists, 4, "the key (or database, table, node) already exists"),
    (errors.NodeExists, 4, "the key (or database, table, node) already exists"),
    (errors.VersionMismatchError, 5, "a version check (compare-and-set) failed"),
    (errors.ReadonlyCss, 6, "the store is read-only"),
    (errors.InvalidKeyError, 7, "invalid key"),
    (errors.ValueTooLargeError, 8, "value too large"),
    (errors.CommitUnknownError, 9, "the outcome of a commit is unknown (check before retrying)"),
    (errors.AuthError, 10, "the server refused the credentials or privilege"),
    (errors.ConnError, 11, "the server cannot be reached"),
    (errors.SchemaError, 12, "the database schema is missing or of another version"),
    (errors.LockTimeout, 13, "a lock was not acquired in time"),
    (errors.CompactedError, 14, "the change log was compacted past the revision asked for"),
    (errors.BadDumpError, 15, "the input (dump, snapshot) cannot be read"),
    (errors.NodeInUse, 16, "the node still holds chunk replicas"),
    (errors.ConfigError, 17, "bad configuration, URL or parameters"),
    (errors.LeaseExpired, 18, "the lease has expired"),
    (errors.CssError, 19, "any other qcss error"),
]
EXIT_USAGE = 2  # click's own code for bad usage

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Ctx:
    url: str | None
    output: str
    read_only: bool
    _kv: qcss.KvInterface | None = None

    def kv(self) -> qcss.KvInterface:
        if self._kv is None:
            self._kv = qcss.open(self.url, readOnly=self.read_only)
        return self._kv


def exit_code(cls: type[BaseException]) -> int:
    """The exit code css-admin uses for errors of class `cls`."""
    return next(code for c, code, _ in EXIT_CODES if issubclass(cls, c))


def fail(exc: BaseException) -> NoReturn:
    for cls, code, _ in EXIT_CODES:
        if isinstance(exc, cls):
            click.echo(f"Error: {exc}", err=True)
            sys.exit(code)
    raise exc


@contextmanager
def handled() -> Iterator[None]:
    try:
        yield
    except qcss.CssError as exc:
        fail(exc)


def show_value(value: bytes) -> str:
    """A value for text output: UTF-8 as is, anything else as base64: prefixed."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode("ascii")


def json_value(value: bytes) -> dict[str, str] | str:
    """A value for JSON output: a string when UTF-8, else {"base64": ...}."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode("ascii")}


def parse_value(value: str) -> bytes:
    """A value given on the command line; 'base64:...' is decoded, '-' reads stdin."""
    if value == "-":
        return sys.stdin.buffer.read()
    if value.startswith("base64:"):
        return base64.b64decode(value[len("base64:") :], validate=True)
    return value.encode("utf-8")


def emit(ctx: Ctx, data: Any, text: Callable[[], str]) -> None:
    if ctx.output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False))
    else:
        out = text()
        if out:
            click.echo(out)


pass_ctx = click.make_pass_decorator(Ctx)


