"""`css-admin schema init | upgrade | status`: the schema of the SQL backends.

A click group that the main CLI adds with ``cli.add_command(schema)``. It needs
no C++: it runs the numbered files of ``qcss/schema/`` through SQLAlchemy
(see :mod:`qcss.schema`). The store URL comes from the main ``--url`` (or
``$QCSS_URL``), or from this group's own ``--url``; the default is the
embedded SQLite file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qcss import errors
from qcss.cli_common import exit_code, handled

if TYPE_CHECKING:  # qcss.schema imports SQLAlchemy: only loaded when a schema verb runs
    from qcss import schema as schema_mod


def default_url() -> str:
    """$QCSS_URL, else the embedded SQLite file (as qcss.defaultUrl())."""
    env = os.environ.get("QCSS_URL")
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite://{base}/qcss/css.db"


def _url(ctx: click.Context, own: str | None) -> str:
    if own:
        return own
    given = ctx.meta.get("qcss.global.url")  # `css-admin schema init --url ...`
    if isinstance(given, str) and given:
        return given
    obj: Any = ctx.find_root().obj
    url = getattr(obj, "url", None)
    return url if isinstance(url, str) and url else default_url()


def _json_output(ctx: click.Context) -> bool:
    obj: Any = ctx.find_root().obj
    return getattr(obj, "output", "text") == "json"


def _show(ctx: click.Context, st: schema_mod.SchemaStatus, verb: str) -> None:
    if _json_output(ctx):
        click.echo(json.dumps(st.as_dict()))
        return
    state = "none" if st.current == 0 else str(st.current)
    click.echo(f"{verb}{st.url} ({st.dialect}): schema version {state}, latest {st.latest}"
               + (" [DIRTY: an upgrade was interrupted]" if st.dirty else ""))
    if st.pending:
        click.echo("pending: " + ", ".join(st.pending))


@click.group("schema")
@click.option("--url", "own_url", default=None,
              help="Store URL (default: the main --url, $QCSS_URL, or the embedded SQLite file).")
@click.pass_context
def schema(ctx: click.Context, own_url: str | None) -> None:
    """Install, upgrade and report the SQL schema (mysql:// and sqlite:// stores)."""
    ctx.ensure_object(dict)
    ctx.meta["qcss.schema.own_url"] = own_url


@schema.command("status")
@click.pass_context
def status_cmd(ctx: click.Context) -> None:
    """Show the installed and pending schema versions (exit 12 if not up to date)."""
    from qcss import schema as schema_mod

    with handled():
        st = schema_mod.status(_url(ctx, ctx.meta.get("qcss.schema.own_url")))
    _show(ctx, st, "")
    if not st.up_to_date:
        sys.exit(exit_code(errors.SchemaError))


@schema.command("init")
@click.pass_context
def init_cmd(ctx: click.Context) -> None:
    """Install the schema in an empty database (no-op if already up to date)."""
    from qcss import schema as schema_mod

    with handled():
        st = schema_mod.init(_url(ctx, ctx.meta.get("qcss.schema.own_url")))
    _show(ctx, st, "initialised ")


@schema.command("upgrade")
@click.pass_context
def upgrade_cmd(ctx: click.Context) -> None:
    """Apply every pending schema file, in order, under an advisory lock."""
    from qcss import schema as schema_mod

    with handled():
        st = schema_mod.upgrade(_url(ctx, ctx.meta.get("qcss.schema.own_url")))
    _show(ctx, st, "upgraded ")
