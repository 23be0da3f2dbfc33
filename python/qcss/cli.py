"""css-admin: the command-line tool of qcss.

Thin click commands over the library. Every command takes the store from
``--url`` (or ``$QCSS_URL``; default: the embedded SQLite file, see
``qcss.defaultUrl()``) and prints in ``-o text|json`` (``table`` where it makes
sense). Errors go to stderr as ``Error: ...`` with an exit code per error class
(see qcss.cli_common.EXIT_CODES and docs/cli.md). The key-value verbs are here;
the others live in their own modules and are added below.
"""

from __future__ import annotations

import json
import sys

import click

import qcss
from qcss.cli_cluster import cluster_cmd
from qcss.cli_common import (
    EXIT_CODES,
    EXIT_USAGE,
    OUTPUTS,
    URL_HELP,
    Ctx,
    add_global_options,
    emit,
    handled,
    json_value,
    parse_value,
    pass_ctx,
    plain,
    set_current,
    show_value,
)
from qcss.cli_css import chunk, css_group, db, node, table
from qcss.cli_lock import COMMANDS as LOCK_COMMANDS
from qcss.cli_ops import COMMANDS as OPS_COMMANDS
from qcss.cli_ops import add_completion
from qcss.cli_schema import schema
from qcss.cli_watch import compact, history, watch
from qcss.migrate.cli import import_cmd, restore_cmd, write_dump
from qcss.migrate.plan import RESERVED_ROOT, is_reserved

__all__ = ["EXIT_CODES", "EXIT_USAGE", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="QCSS_URL", default=None, help=URL_HELP)
@click.option("-o", "--output", type=click.Choice(OUTPUTS), default="text",
              show_default=True, help="Output format (table and tsv have a header row).")
@click.option("--read-only", is_flag=True, help="Open the store read-only.")
@click.version_option(package_name="qcss", prog_name="css-admin")
@click.pass_context
def cli(cctx: click.Context, url: str | None, output: str, read_only: bool) -> None:
    """Administer a qcss Central State System store.

    The global options (--url, -o/--output, --read-only) may also follow the verb:
    `css-admin db list -o json`, `css-admin ls / --url sqlite:///srv/css.db`.
    """
    # An embedding program (or a test) may hand over an open store as `obj`.
    # (Not checked with isinstance: `css-admin schema` must run without the C++ core.)
    given = cctx.obj
    cctx.obj = Ctx(url=url, output=output, read_only=read_only, _kv=given)
    set_current(cctx.obj)
    cctx.call_on_close(cctx.obj.name_target)


@cli.command()
@click.argument("key")
@click.option("--print-value-only", is_flag=True,
              help="Text output: the value alone (the default; kept for etcdctl users).")
@click.option("-k", "--with-key", is_flag=True, help="Text output: KEY on a line, then the value.")
@pass_ctx
def get(ctx: Ctx, key: str, print_value_only: bool, with_key: bool) -> None:
    """Print the value of KEY."""
    with handled():
        value = ctx.kv().get(key)
    emit(ctx, {"key": key, "value": json_value(value)},
         lambda: show_value(value) if print_value_only or not with_key
         else f"{key}\n{show_value(value)}")


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
    emit(ctx, {"key": key, "version": new_version}, lambda: f"{key} version {new_version}")


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
    emit(ctx, data, lambda: "\n".join(f"{k}: {plain(v)}" for k, v in data.items()))


@cli.command()
@click.argument("key", default="/")
@click.option("-R", "--recursive", is_flag=True, help="List the whole subtree with values.")
@pass_ctx
def ls(ctx: Ctx, key: str, recursive: bool) -> None:
    """List the children of KEY (default /); -R: every key under it, with its value."""
    with handled():
        kv = ctx.kv()
        if not recursive:
            try:
                names = kv.getChildren(key)
            except qcss.NoSuchKey:
                if key != "/":
                    raise
                names = []  # an empty store: the implicit root does not exist yet
            emit(ctx, names, lambda: "\n".join(names), rows=(["name"], [[n] for n in names]),
                 empty=f"(no keys under {key})")
            return
        if key != "/" and not kv.exists(key):
            raise qcss.NoSuchKey(f"key '{key}' does not exist")
        snap = kv.snapshot(key)
    entries = [(k, v) for k, v in snap.items() if k != key]
    width = max((len(k) for k, _ in entries), default=0)
    emit(ctx, {k: json_value(v) for k, v in entries},
         lambda: "\n".join(f"{k:<{width}}  {show_value(v)}" for k, v in entries),
         rows=(["key", "value"], [[k, v] for k, v in entries]), empty=f"(no keys under {key})")


@cli.command()
@click.argument("key")
@click.option("--version", "version", type=int, default=-1,
              help="Compare-and-delete: only if KEY has this version.")
@click.option("-r", "--recursive", is_flag=True, help="Also delete every key under KEY.")
@pass_ctx
def rm(ctx: Ctx, key: str, version: int, recursive: bool) -> None:
    """Delete KEY (with -r: and its whole subtree); print what was removed."""
    with handled():
        kv = ctx.kv()
        st = kv.getStat(key)
        if st.numChildren and not recursive and key != "/":  # "/": the library refuses
            click.echo(f"Error: {key} has {st.numChildren} child key(s); "
                       "use `rm -r` to delete the subtree", err=True)
            sys.exit(EXIT_USAGE)
        removed = ([k for k, _ in kv.snapshot(key).items()] if recursive and st.numChildren
                   else [key])
        # The subtree read above may change before the delete: a version check of KEY
        # cannot see its children, so the listing is what was there just before.
        kv.deleteKey(key, version)
    emit(ctx, {"removed": removed}, lambda: "\n".join(f"removed {k}" for k in removed),
         rows=(["removed"], [[k] for k in removed]))


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
@click.option("--progress/--no-progress", default=None,
              help="--format qcss: a progress bar on stderr (default: on a terminal, for "
                   "long dumps).")
@pass_ctx
def dump(ctx: Ctx, key: str, fmt: str, include_ephemeral: bool, progress: bool | None) -> None:
    """Print every key under KEY (all when omitted).

    The Qserv format is read back by `css-admin import`; the qcss format by
    `css-admin restore` (or import).
    """
    with handled():
        if fmt == "qcss":
            report = write_dump(ctx.kv(), sys.stdout, key or "/",
                                include_ephemeral=include_ephemeral, progress=progress)
            if report.skipped:
                click.echo(report.describe_skipped(), err=True)
            return
        kv = ctx.kv()
        text = kv.dumpKV(key)
        # dumpKV of "/" leaves the lock namespace out (Qserv's view); read it
        # separately to say so, or to keep it when asked for.
        reserved = (kv.snapshot(RESERVED_ROOT).items() if key in ("", "/") else [])
    # One key per line, and without the lock namespace unless asked for.
    pairs = json.loads(text, object_pairs_hook=list)
    kept = [(k, v) for k, v in pairs if include_ephemeral or not is_reserved(k)]
    skipped = len(pairs) - len(kept)
    if include_ephemeral:
        kept = sorted(kept + [(k, bytes(v).decode("utf-8")) for k, v in reserved])
    else:
        skipped += len(reserved)
    if skipped:
        click.echo(f"dump: skipped {skipped} key(s) of the lock namespace "
                   f"({RESERVED_ROOT}; --include-ephemeral keeps them)", err=True)
    click.echo(json.dumps(dict(kept), indent=1, ensure_ascii=False))


cli.add_command(import_cmd, "import")
cli.add_command(restore_cmd, "restore")
for _cmd in (schema, watch, history, compact, *LOCK_COMMANDS, db, table, node, chunk, css_group,
             *OPS_COMMANDS, cluster_cmd):
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
add_global_options(cli)
add_completion(cli)


def main() -> None:
    cli(prog_name="css-admin")


if __name__ == "__main__":
    main()
