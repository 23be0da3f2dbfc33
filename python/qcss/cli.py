"""css-admin: the command-line tool of qcss.

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
from qcss.migrate.cli import import_cmd, restore_cmd, write_dump

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="QCSS_URL", default=None,
              help="Store URL (mem://, sqlite:///path, mysql://user@host/db). "
                   "Default: $QCSS_URL, else the embedded SQLite store.")
@click.option("-o", "--output", type=click.Choice(["text", "json", "table"]), default="text",
              show_default=True, help="Output format.")
@click.option("--read-only", is_flag=True, help="Open the store read-only.")
@click.version_option(qcss.__version__, prog_name="css-admin")
@click.pass_context
def cli(cctx: click.Context, url: str | None, output: str, read_only: bool) -> None:
    """Administer a qcss Central State System store."""
    # An embedding program (or a test) may hand over an open store as `obj`.
    given = cctx.obj if isinstance(cctx.obj, qcss.KvInterface) else None
    cctx.obj = Ctx(url=url, output=output, read_only=read_only, _kv=given)


@cli.command()
@click.argument("key")
@pass_ctx
def get(ctx: Ctx, key: str) -> None:
    """Print the value of KEY."""
    with handled():
        value = ctx.kv().get(key)
    emit(ctx, {"key": key, "value": json_value(value)}, lambda: show_value(value))


@cli.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--version", "version", type=int, default=-1,
              help="Compare-and-set: only if KEY has this version.")
@pass_ctx
def set_cmd(ctx: Ctx, key: str, value: str, version: int) -> None:
    """Create or overwrite KEY with VALUE ('-' reads stdin, 'base64:...' decodes)."""
    with handled():
        new_version = ctx.kv().set(key, parse_value(value), version)
    emit(ctx, {"key": key, "version": new_version}, lambda: str(new_version))


@cli.command()
@click.argument("key")
@click.argument("value", required=False, default="")
@click.option("--unique", is_flag=True, help="Append a 10-digit sequence number to KEY.")
@pass_ctx
def create(ctx: Ctx, key: str, value: str, unique: bool) -> None:
    """Create KEY (and missing parents) with VALUE; print the key created."""
    with handled():
        made = ctx.kv().create(key, parse_value(value), unique)
    emit(ctx, {"key": made}, lambda: made)


@cli.command()
@click.argument("key")
@pass_ctx
def stat(ctx: Ctx, key: str) -> None:
    """Print the version, revisions, size and number of children of KEY."""
    with handled():
        s = ctx.kv().getStat(key)
    data = {
        "key": key,
        "version": s.version,
        "createRevision": s.createRevision,
        "modRevision": s.modRevision,
        "numChildren": s.numChildren,
        "dataLength": s.dataLength,
        "lease": s.lease,
    }
    emit(ctx, data, lambda: "\n".join(f"{k}: {v}" for k, v in data.items()))


@cli.command()
@click.argument("key", default="/")
@click.option("-R", "--recursive", is_flag=True, help="List the whole subtree with values.")
@pass_ctx
def ls(ctx: Ctx, key: str, recursive: bool) -> None:
    """List the children of KEY (default /); -R: every key under it, with its value."""
    with handled():
        kv = ctx.kv()
        if not recursive:
            names = kv.getChildren(key)
            emit(ctx, names, lambda: "\n".join(names))
            return
        if not kv.exists(key):
            raise qcss.NoSuchKey(f"key '{key}' does not exist")
        snap = kv.snapshot(key)
    entries = [(k, v) for k, v in snap.items() if k != key]
    if ctx.output == "json":
        emit(ctx, {k: json_value(v) for k, v in entries}, str)
    else:
        width = max((len(k) for k, _ in entries), default=0)
        emit(ctx, None, lambda: "\n".join(f"{k:<{width}}  {show_value(v)}" for k, v in entries))


@cli.command()
@click.argument("key")
@click.option("--version", "version", type=int, default=-1,
              help="Compare-and-delete: only if KEY has this version.")
@pass_ctx
def rm(ctx: Ctx, key: str, version: int) -> None:
    """Delete KEY and its whole subtree."""
    with handled():
        ctx.kv().deleteKey(key, version)


@cli.command()
@click.argument("key", default="")
@click.option("--format", "fmt", type=click.Choice(["qserv", "qcss"]), default="qserv",
              show_default=True,
              help="qserv: Qserv's JSON map of keys strictly under KEY (values must be UTF-8); "
                   "qcss: the lossless dump of KEY and its subtree (binary values in base64), "
                   "read back by `css-admin restore`.")
@pass_ctx
def dump(ctx: Ctx, key: str, fmt: str) -> None:
    """Print every key under KEY (all when omitted)."""
    with handled():
        if fmt == "qcss":
            write_dump(ctx.kv(), sys.stdout, key or "/")
            return
        text = ctx.kv().dumpKV(key)
    click.echo(text)


cli.add_command(import_cmd, "import")
cli.add_command(restore_cmd, "restore")

# The change-feed verbs (watch, history, compact) live in cli_watch.py.
from qcss.cli_watch import compact as _compact  # noqa: E402
from qcss.cli_watch import history as _history  # noqa: E402
from qcss.cli_watch import watch as _watch  # noqa: E402

cli.add_command(_watch)
cli.add_command(_history)
cli.add_command(_compact)


def main() -> None:
    cli(prog_name="css-admin")


# Verbs of other modules: imported last (they use the helpers above), each adds
# its commands to `cli` with cli.add_command(), whichever module is imported first.
from qcss import cli_lock  # noqa: E402, F401

# The CSS verbs (databases, tables, nodes, chunks), thin over CssAccess.
from qcss.cli_css import chunk, css_group, db, node, table  # noqa: E402

cli.add_command(db)
cli.add_command(table)
cli.add_command(node)
cli.add_command(chunk)
cli.add_command(css_group)


if __name__ == "__main__":
    main()
