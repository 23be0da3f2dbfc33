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
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
    (errors.VersionMissingError, 3, "the key (or database, table, node) does not exist"),
    (errors.KeyExistsError, 4, "the key (or database, table, node) already exists"),
    (errors.DbExists, 4, "the key (or database, table, node) already exists"),
    (errors.TableExists, 4, "the key (or database, table, node) already exists"),
    (errors.NodeExists, 4, "the key (or database, table, node) already exists"),
    (errors.VersionMismatchError, 5,
     "a version check failed (compare-and-set, or the CSS layout version)"),
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
    (errors.KeyValueError, 17, "bad configuration, URL or parameters"),
    (errors.LeaseExpired, 18, "the lease has expired"),
    (errors.StorageError, 21, "the store's file or disk failed (disk full, file removed, corrupt)"),
    (errors.CssError, 19, "any other qcss error"),
]
EXIT_USAGE = 2  # click's own code for bad usage

F = TypeVar("F", bound=Callable[..., Any])


def _failing() -> bool:
    """Whether the command is ending with an error (called while it unwinds)."""
    exc = sys.exc_info()[1]
    if exc is None:
        return False
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code != 0
    if isinstance(exc, SystemExit):
        return exc.code not in (0, None)
    return True


@dataclass
class Ctx:
    url: str | None
    output: str
    read_only: bool
    _kv: qcss.KvInterface | None = None
    _opened_at: tuple[int, int] | None = None  # (revision, compacted) when opened writable

    def kv(self) -> qcss.KvInterface:
        if self._kv is None:
            self._kv = qcss.open(self.url, readOnly=self.read_only)
            if not self.read_only:
                self._opened_at = (self._kv.revision(), self._kv.compactedRevision())
        return self._kv

    def name_target(self) -> None:
        """On stderr, the (masked) store this command wrote to, if it wrote: so an
        operator always sees where the data went (--url, $QCSS_URL or the default).
        Only for a store this Ctx opened (an embedding program knows its own)."""
        if self._kv is None or self._opened_at is None or _failing():
            return  # a failed command's summary is its error
        try:
            now = (self._kv.revision(), self._kv.compactedRevision())
        except qcss.CssError:
            return
        if now != self._opened_at:
            click.echo(f"target: {self._kv.url()} (revision {self._opened_at[0]} -> {now[0]})",
                       err=True)


# The command's store, for the lock-wait notice (set by Ctx users through `handled`).
_current: list[Ctx] = []

def set_current(ctx: Ctx) -> None:
    """The store of the command being run (one per process; the shell reuses it)."""
    _current[:] = [ctx]


WAIT_NOTICE_AFTER = 1.0  # seconds a command may wait on a lock before saying so


def describe_holders(infos: list[Any], key: str) -> str:
    """'owner@host pid N (purpose) since T' for the holders of the lock on `key`."""
    parts = []
    for i in infos:
        if i.key != key or not i.held:
            continue
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(i.acquiredAt))
        purpose = f" ({i.purpose})" if i.purpose else ""
        parts.append(f"{i.owner}@{i.host} pid {i.pid}{purpose} since {since}")
    return "; ".join(parts)


def _wait_notice(ctx: Ctx, done: threading.Event) -> None:
    """After WAIT_NOTICE_AFTER s, if this process has a lock request waiting, say on
    stderr who holds that lock (through a handle of its own on the same store)."""
    if done.wait(WAIT_NOTICE_AFTER) or ctx._kv is None:
        return
    try:
        if ctx._kv.backend() == "mem":
            return  # a second handle would be another store; no other process shares it
        other = qcss.open(ctx.url, readOnly=True)  # kv.url() has the password masked
        host, pid = socket.gethostname(), os.getpid()
        infos = other.locks("/")
        mine = {i.key for i in infos if not i.held and i.pid == pid and i.host == host}
        for key in sorted(mine):
            holders = describe_holders(infos, key)
            if holders and not done.is_set():
                click.echo(f"waiting for lock on {key} held by {holders}", err=True)
    except Exception:  # a notice only: never fail the command for it
        return


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
    """Map qcss errors to css-admin's exit codes; while the block runs longer than a
    second waiting on a lock, tell the operator who holds it."""
    done = threading.Event()
    watcher = None
    if _current:
        watcher = threading.Thread(target=_wait_notice, args=(_current[-1], done), daemon=True)
        watcher.start()
    try:
        yield
    except qcss.CssError as exc:
        fail(exc)
    finally:
        done.set()
        if watcher is not None:
            watcher.join()


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


OUTPUTS = ["text", "json", "table", "tsv"]


def plain(v: Any) -> str:
    """A scalar for text, table and tsv output: booleans as true/false, None as -."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "-"
    if isinstance(v, bytes):
        return show_value(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def aligned(headers: Sequence[str], rows: Sequence[Sequence[Any]], rule: bool = True) -> str:
    """Columns padded to a common width (a rule under the header when `rule`)."""
    cells = [[str(h) for h in headers]] + [[plain(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _tsv_cell(v: Any) -> str:
    return plain(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def tabulate(data: Any) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows for any command's data: a list of dicts (one row each), a
    dict (key, value), a list of scalars (one column)."""
    if isinstance(data, list):
        if data and all(isinstance(d, dict) for d in data):
            headers = list(data[0])
            return headers, [[d.get(h) for h in headers] for d in data]
        return ["value"], [[d] for d in data]
    if isinstance(data, dict):
        return ["field", "value"], [[k, v] for k, v in data.items()]
    return ["value"], [[data]]


def emit(ctx: Ctx, data: Any, text: Callable[[], str],
         rows: tuple[Sequence[str], Sequence[Sequence[Any]]] | None = None,
         empty: str | None = None) -> None:
    """Print a result: json (data), table (aligned, with a header), tsv (tab-separated,
    with a header) or text (`text()`). `rows` (headers, rows) overrides the table/tsv
    shape derived from `data`. `empty`: said on stderr in text/table mode when there
    is nothing to show (stdout stays empty for scripts)."""
    if ctx.output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False))
        return
    if ctx.output in ("table", "tsv"):
        headers, body = rows if rows is not None else tabulate(data)
        if ctx.output == "tsv":
            for r in [list(headers), *body]:
                click.echo("\t".join(_tsv_cell(c) for c in r))
            return
        if not body and empty:
            click.echo(empty, err=True)
            return
        click.echo(aligned(headers, body))
        return
    out = text()
    if out:
        click.echo(out)
    elif empty:
        click.echo(empty, err=True)


pass_ctx = click.make_pass_decorator(Ctx)


# ---- global options, also accepted after the verb (as etcdctl's) ----------------------

URL_HELP = ("Store URL (mem://, sqlite:///path, mysql://user@host/db). "
            "Default: $QCSS_URL, else the embedded SQLite store.")


def _set_global(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(cctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is None or value is False:
            return value  # not given here: keep what the group got
        cctx.meta[f"qcss.global.{name}"] = value  # for groups run without the main CLI
        root = cctx.find_root().obj
        if isinstance(root, Ctx):
            setattr(root, name, value)
        return value
    return callback


def global_options() -> list[click.Option]:
    """--url, -o/--output and --read-only as every verb's own (hidden) options, so that
    `css-admin db list -o json` and `css-admin ls / --url ...` work."""
    return [
        click.Option(["--url"], default=None, expose_value=False, hidden=True,
                     callback=_set_global("url"), help=URL_HELP),
        click.Option(["-o", "--output"], type=click.Choice(OUTPUTS), default=None,
                     expose_value=False, hidden=True, callback=_set_global("output"),
                     help="Output format."),
        click.Option(["--read-only"], is_flag=True, default=False, expose_value=False,
                     hidden=True, callback=_set_global("read_only"),
                     help="Open the store read-only."),
    ]


def add_global_options(cmd: click.Command) -> None:
    """Give every verb under `cmd` the global options it does not define itself."""
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            add_global_options(sub)
        return
    taken = {o for p in cmd.params for o in getattr(p, "opts", [])}
    for opt in global_options():
        if not taken.intersection(opt.opts):
            cmd.params.append(opt)


