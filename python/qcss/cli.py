"""css-admin: the command-line tool of qcss.

Thin click commands over the library. Every command takes the store from
``--url`` (or ``$QCSS_URL``; default: the embedded SQLite file, see
``qcss.defaultUrl()``) and prints in ``-o text|json`` (``table`` where it makes
sense). Errors go to stderr as ``Error: ...`` with an exit code per error class
(see qcss.cli_common.EXIT_CODES and docs/cli.md). The key-value verbs are here;
the others live in their own modules and are added below.
"""

from __future__ import annotations

import sys

import click

import qcss
from qcss.cli_common import (
    EXIT_CODES,
    EXIT_USAGE,
    Ctx,
    emit,
    handled,
    json_value,
    parse_value,
    pass_ctx,
    show_value,
)
from qcss.cli_css import chunk, css_group, db, node, table
from qcss.cli_lock import COMMANDS as LOCK_COMMANDS
from qcss.cli_schema import schema
from qcss.cli_watch import compact, history, watch
from qcss.migrate.cli import import_cmd, restore_cmd, write_dump

__all__ = ["EXIT_CODES", "EXIT_USAGE", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="QCSS_URL", default=None,
              help="Store URL (mem://, sqlite:///path, mysql://user@host/db). "
                   "Default: $QCSS_URL, else the embedded SQLite store.")
@click.option("-o", "--output", type=click.Choice(["text", "json", "table"]), default="text",
              show_default=True, help="Output format.")
@click.option("--read-only", is_flag=True, help="Open the store read-only.")
@click.version_option(package_name="qcss", prog_name="css-admin")
@click.pass_context
def cli(cctx: click.Context, url: str | None, output: str, read_only: bool) -> None:
    """Administer a qcss Central State System store."""
    # An embedding program (or a test) may hand over an open store as `obj`.
    # (Not checked with isinstance: `css-admin schema` must run without the C++ core.)
    given = cctx.obj
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
@click.option("--include-ephemeral", is_flag=True,
              help="--format qcss: also dump the lock namespace (/.qcss) and the keys bound "
                   "to a lease (with their subtrees), left out by default because restored "
                   "they would hold locks forever and turn ephemeral keys permanent. The "
                   "count left out is reported on stderr.")
@pass_ctx
def dump(ctx: Ctx, key: str, fmt: str, include_ephemeral: bool) -> None:
    """Print every key under KEY (all when omitted)."""
    with handled():
        if fmt == "qcss":
            report = write_dump(ctx.kv(), sys.stdout, key or "/",
                                include_ephemeral=include_ephemeral)
            if report.skipped:
                click.echo(report.describe_skipped(), err=True)
            return
        text = ctx.kv().dumpKV(key)
    click.echo(text)


cli.add_command(import_cmd, "import")
cli.add_command(restore_cmd, "restore")
for _cmd in (schema, watch, history, compact, *LOCK_COMMANDS, db, table, node, chunk, css_group):
    cli.add_command(_cmd)


def _same_help_options(cmd: click.Command) -> None:
    """Every command of the tree takes -h/--help even when invoked on its own (click
    caches a command's help option the first time it is built, so one invoked outside
    the group would otherwise keep only --help, and its help would depend on who asked
    first)."""
    cmd.context_settings.setdefault("help_option_names", ["-h", "--help"])
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _same_help_options(sub)


_same_help_options(cli)


def main() -> None:
    cli(prog_name="css-admin")


if __name__ == "__main__":
    main()
