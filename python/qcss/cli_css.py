"""css-admin's CSS verbs: databases, tables, nodes and chunks, thin over CssAccess.

Click groups ``db``, ``table``, ``node``, ``chunk`` and ``css``, added to the
main CLI in qcss/cli.py. Every verb is
one CssAccess call (the C++ facade does the work, each create/drop is one
transaction); this module only parses parameters and prints.

Parameters for ``db create`` and ``table create`` come from flags or from a
file (``--params FILE``): an INI file like Qserv's ``.params`` files (with or
without a section header; keys as in the CSS layout: nStripes, nSubStripes,
overlap, storageClass, releaseStatus, dirDb, dirTable, dirColName, latColName,
lonColName, subChunks, lockInMem, scanRating, dirTable1, ... angSep, schema) or
a flat JSON object with the same keys. Flags override the file.
"""

from __future__ import annotations

import configparser
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

import qcss
from qcss.cli_common import Ctx, aligned, emit, handled, plain

pass_ctx = click.make_pass_decorator(Ctx)

# ---- helpers ------------------------------------------------------------------


def css_of(ctx: Ctx) -> qcss.CssAccess:
    """The CssAccess over the command's store (checks /css_meta/version)."""
    return qcss.CssAccess(ctx.kv(), readOnly=ctx.read_only)


def read_params(path: str | None) -> dict[str, str]:
    """Parameters from an INI (Qserv .params) or JSON file; {} without a file."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise qcss.ConfigError(f"cannot read parameter file {path}: {exc}") from exc
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise qcss.ConfigError(f"{path}: bad JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise qcss.ConfigError(f"{path}: expected a JSON object")
        return {str(k): _scalar(v) for k, v in data.items()}
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep camelCase keys
    try:
        parser.read_string(text if stripped.startswith("[") else "[params]\n" + text, path)
    except configparser.Error as exc:
        raise qcss.ConfigError(f"{path}: bad INI file: {exc}") from exc
    out: dict[str, str] = dict(parser.defaults())
    for section in parser.sections():
        out.update({k: v for k, v in parser.items(section)})
    return out


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def _int(params: dict[str, str], *names: str, default: int = 0) -> int:
    for n in names:
        if n in params and params[n] != "":
            try:
                return int(params[n])
            except ValueError as exc:
                raise qcss.ConfigError(f"parameter {n}: {params[n]!r} is not an integer") from exc
    return default


def _float(params: dict[str, str], *names: str, default: float = 0.0) -> float:
    for n in names:
        if n in params and params[n] != "":
            try:
                return float(params[n])
            except ValueError as exc:
                raise qcss.ConfigError(f"parameter {n}: {params[n]!r} is not a number") from exc
    return default


def _bool(params: dict[str, str], name: str, default: bool = False) -> bool:
    v = params.get(name)
    if v is None or v == "":
        return default
    return v.strip().lower() in ("1", "true", "yes", "on")


def _put(params: dict[str, str], **flags: Any) -> dict[str, str]:
    """Flags given on the command line override the file."""
    out = dict(params)
    for k, v in flags.items():
        if v is not None:
            out[k] = _scalar(v)
    return out


def emit_rows(
    ctx: Ctx,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    data: Any,
    text: Callable[[], str],
) -> None:
    emit(ctx, data, text, rows=(headers, rows))


def striping_dict(s: qcss.StripingParams) -> dict[str, Any]:
    return {
        "partitioningId": s.partitioningId,
        "nStripes": s.stripes,
        "nSubStripes": s.subStripes,
        "overlap": s.overlap,
    }


def table_params_dict(p: qcss.TableParams) -> dict[str, Any]:
    part, scan, match = p.partitioning, p.sharedScan, p.match
    out: dict[str, Any] = {}
    if part.isPartitioned():
        out["partitioning"] = {
            "dirDb": part.dirDb,
            "dirTable": part.dirTable,
            "dirColName": part.dirColName,
            "latColName": part.latColName,
            "lonColName": part.lonColName,
            "subChunks": part.subChunks,
            "overlap": part.overlap,
        }
    out["sharedScan"] = {"lockInMem": scan.lockInMem, "scanRating": scan.scanRating}
    if match.isMatchTable():
        out["match"] = {
            "dirTable1": match.dirTable1,
            "dirColName1": match.dirColName1,
            "dirTable2": match.dirTable2,
            "dirColName2": match.dirColName2,
            "flagColName": match.flagColName,
            "angSep": match.angSep,
        }
    return out


def nested_text(data: dict[str, Any], indent: str = "") -> str:
    lines: list[str] = []
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"{indent}{k}:")
            lines.append(nested_text(v, indent + "  "))
        elif isinstance(v, list):
            lines.append(f"{indent}{k}: {', '.join(plain(x) for x in v)}")
        else:
            lines.append(f"{indent}{k}: {plain(v)}")
    return "\n".join(line for line in lines if line)


# Valid values (Qserv's css/constants.h and CssAccess.h); --force skips the check for
# the lenient, Qserv-compatible path (any text is stored as given).
STORAGE_CLASSES = ("L1", "L2", "L3")
RELEASE_STATUSES = ("RELEASED", "UNRELEASED")
NODE_STATES = ("ACTIVE", "INACTIVE", "CREATING")
STATUSES = ("READY", "DO_NOT_USE")
STATUS_PREFIXES = ("PENDING_CREATE:", "PENDING_DROP:", "FAILED:")
FORCE = click.option("--force", is_flag=True,
                     help="Store the value even if it is not one of the valid ones.")


def check_value(value: str | None, valid: Sequence[str], what: str, force: bool,
                prefixes: Sequence[str] = ()) -> None:
    """Refuse `value` unless it is one of `valid` or starts with one of `prefixes`."""
    if value is None or force or value in valid or any(
            value.startswith(p) and len(value) > len(p) for p in prefixes):
        return
    choices = ", ".join([*valid, *(p + "..." for p in prefixes)])
    raise click.BadParameter(f"{value!r} is not a valid {what} (one of: {choices}; "
                             "--force stores it anyway)")


def check_status(value: str | None, force: bool) -> None:
    check_value(value, STATUSES, "status", force, STATUS_PREFIXES)


def progress(msg: str) -> None:
    click.echo(msg, err=True)


def set_or_show_status(
    ctx: Ctx,
    what: str,
    new: str | None,
    expect: str | None,
    get: Callable[[], str],
    put: Callable[[str, str | None], None],
) -> None:
    with handled():
        if new is not None:
            put(new, expect)
        status = get()
    emit(ctx, {"name": what, "status": status}, lambda: status)


# ---- db ---------------------------------------------------------------------------


@click.group()
def db() -> None:
    """Databases: list, show, create, create-like, drop, status."""


@db.command("list")
@pass_ctx
def db_list(ctx: Ctx) -> None:
    """List databases with their status."""
    with handled():
        status = css_of(ctx).getDbStatus()
    rows = sorted(status.items())
    emit_rows(ctx, ["database", "status"], rows, dict(rows),
              lambda: aligned(["database", "status"], rows, rule=False).split("\n", 1)[-1]
              if rows else "")


@db.command("show")
@click.argument("name")
@pass_ctx
def db_show(ctx: Ctx, name: str) -> None:
    """Show a database: status, release status, storage class, striping, tables."""
    with handled():
        css = css_of(ctx)
        p = css.getDbParams(name)
        tables = css.getTableStatus(name)
    data: dict[str, Any] = {
        "name": name,
        "status": p.status,
        "releaseStatus": p.releaseStatus,
        "storageClass": p.storageClass,
        "striping": striping_dict(p.striping) if p.striping.stripes > 0 else None,
        "tables": tables,
    }
    rows = [[k, json.dumps(v) if isinstance(v, dict) else v] for k, v in data.items()]
    emit_rows(ctx, ["field", "value"], rows, data,
              lambda: nested_text({**data, "striping": data["striping"] or "none"}))


@db.command("create")
@click.argument("name")
@click.option("--params", "params_file", type=click.Path(dir_okay=False),
              help="INI (Qserv .params) or JSON file with the parameters.")
@click.option("--stripes", type=int, help="nStripes (0: not partitioned).")
@click.option("--sub-stripes", type=int, help="nSubStripes.")
@click.option("--overlap", type=str, help="Overlap in degrees (stored exactly).")
@click.option("--storage-class", help="L1, L2 or L3 (default L2).")
@click.option("--release-status", help="RELEASED or UNRELEASED (default UNRELEASED).")
@click.option("--status", "status", default="READY", show_default=True, help="Initial status.")
@FORCE
@pass_ctx
def db_create(ctx: Ctx, name: str, params_file: str | None, stripes: int | None,
              sub_stripes: int | None, overlap: str | None, storage_class: str | None,
              release_status: str | None, status: str, force: bool) -> None:
    """Create database NAME (one transaction, with its partitioning entry)."""
    with handled():
        p = _put(read_params(params_file), nStripes=stripes, nSubStripes=sub_stripes,
                 overlap=overlap, storageClass=storage_class, releaseStatus=release_status)
        check_value(p.get("storageClass") or None, STORAGE_CLASSES, "storage class", force)
        check_value(p.get("releaseStatus") or None, RELEASE_STATUSES, "release status", force)
        check_status(status, force)
        striping = qcss.StripingParams(
            _int(p, "nStripes", "stripes"),
            _int(p, "nSubStripes", "subStripes"),
            0,
            _float(p, "overlap"),
        )
        css = css_of(ctx)
        css.createDb(name, striping, p.get("storageClass") or "L2",
                     p.get("releaseStatus") or "UNRELEASED", status)
        made = css.getDbParams(name)
    data = {"name": name, "status": made.status, "striping": striping_dict(made.striping)}
    emit(ctx, data, lambda: f"created database {name}")


@db.command("create-like")
@click.argument("name")
@click.argument("template")
@pass_ctx
def db_create_like(ctx: Ctx, name: str, template: str) -> None:
    """Create database NAME with TEMPLATE's partitioning, storage class and release."""
    with handled():
        css_of(ctx).createDbLike(name, template)
    emit(ctx, {"name": name, "template": template},
         lambda: f"created database {name} like {template}")


@db.command("drop")
@click.argument("name")
@click.option("--expect-status", default=None,
              help="Only if the database's status is this (compare-and-set to PENDING_DROP).")
@pass_ctx
def db_drop(ctx: Ctx, name: str, expect_status: str | None) -> None:
    """Drop database NAME with its tables and chunks (one transaction)."""
    start = time.monotonic()
    with handled():
        css = css_of(ctx)
        if expect_status is not None:
            css.setDbStatus(name, f"PENDING_DROP:{int(time.time())}", expect_status)
        tables = css.getTableNames(name, False)
        progress(f"drop {name}: {len(tables)} table(s); counting chunk replicas...")
        replicas = 0
        for i, t in enumerate(tables, 1):
            replicas += sum(len(nodes) for nodes in css.getChunks(name, t).values())
            if len(tables) > 1:
                progress(f"  [{i}/{len(tables)}] {t}: {replicas} replica(s) so far")
        progress(f"drop {name}: deleting {len(tables)} table(s), {replicas} chunk replica(s) "
                 "in one transaction...")
        css.dropDb(name)
    elapsed = time.monotonic() - start
    progress(f"drop {name}: done in {elapsed:.2f}s")
    emit(ctx, {"name": name, "tables": len(tables), "replicas": replicas,
               "seconds": round(elapsed, 3)}, lambda: f"dropped database {name}")


@db.command("status")
@click.argument("name")
@click.argument("new_status", required=False)
@click.option("--expect", default=None, help="Compare-and-set: only if the status is this.")
@FORCE
@pass_ctx
def db_status(ctx: Ctx, name: str, new_status: str | None, expect: str | None,
              force: bool) -> None:
    """Print NAME's status, or set it to NEW_STATUS (with --expect: compare-and-set).

    Valid statuses: READY, DO_NOT_USE, PENDING_CREATE:<time>, PENDING_DROP:<time>,
    FAILED:<message>."""
    check_status(new_status, force)
    with handled():
        css = css_of(ctx)
    set_or_show_status(ctx, name, new_status, expect, lambda: css.getDbStatus(name),
                       lambda s, e: css.setDbStatus(name, s, e))


# ---- table --------------------------------------------------------------------------


@click.group()
def table() -> None:
    """Tables: list, show, create, drop, status."""


@table.command("list")
@click.argument("dbname")
@click.option("--all", "all_", is_flag=True, help="Every table, not only READY ones.")
@pass_ctx
def table_list(ctx: Ctx, dbname: str, all_: bool) -> None:
    """List the tables of DBNAME (READY ones unless --all) with their status."""
    with handled():
        status = css_of(ctx).getTableStatus(dbname)
    rows = sorted((t, s) for t, s in status.items() if all_ or s == "READY")
    emit_rows(ctx, ["table", "status"], rows, dict(rows),
              lambda: aligned(["table", "status"], rows, rule=False).split("\n", 1)[-1]
              if rows else "")


@table.command("show")
@click.argument("dbname")
@click.argument("tablename")
@pass_ctx
def table_show(ctx: Ctx, dbname: str, tablename: str) -> None:
    """Show a table: status, schema, partitioning, shared scan, match, chunk count."""
    with handled():
        css = css_of(ctx)
        status = css.getTableStatus(dbname, tablename)
        schema = css.getTableSchema(dbname, tablename)
        params = css.getTableParams(dbname, tablename)
        chunks = css.getChunks(dbname, tablename)
    data: dict[str, Any] = {"db": dbname, "table": tablename, "status": status,
                            "schema": schema, **table_params_dict(params),
                            "chunks": len(chunks)}
    rows = [[k, json.dumps(v) if isinstance(v, dict) else v] for k, v in data.items()]
    emit_rows(ctx, ["field", "value"], rows, data, lambda: nested_text(data))


@table.command("create")
@click.argument("dbname")
@click.argument("tablename")
@click.option("--params", "params_file", type=click.Path(dir_okay=False),
              help="INI (Qserv .params) or JSON file with the parameters.")
@click.option("--schema", help="Table schema, e.g. '(id BIGINT, ra DOUBLE)'.")
@click.option("--schema-file", type=click.Path(dir_okay=False), help="Read the schema from a file.")
@click.option("--partitioned/--not-partitioned", default=None,
              help="Partitioned (chunked) table; implied by --lat-col/--lon-col/--dir-table.")
@click.option("--dir-db")
@click.option("--dir-table")
@click.option("--dir-col")
@click.option("--lat-col")
@click.option("--lon-col")
@click.option("--overlap", type=str, help="Overlap in degrees (stored exactly).")
@click.option("--sub-chunks/--no-sub-chunks", default=None)
@click.option("--lock-in-mem/--no-lock-in-mem", default=None)
@click.option("--scan-rating", type=int)
@click.option("--match", "match", is_flag=True, default=None, help="A match table.")
@click.option("--dir-table1")
@click.option("--dir-col1")
@click.option("--dir-table2")
@click.option("--dir-col2")
@click.option("--flag-col")
@click.option("--ang-sep", type=str)
@click.option("--status", "status", default="READY", show_default=True, help="Initial status.")
@pass_ctx
def table_create(ctx: Ctx, dbname: str, tablename: str, params_file: str | None,
                 schema: str | None, schema_file: str | None, partitioned: bool | None,
                 dir_db: str | None, dir_table: str | None, dir_col: str | None,
                 lat_col: str | None, lon_col: str | None, overlap: str | None,
                 sub_chunks: bool | None, lock_in_mem: bool | None, scan_rating: int | None,
                 match: bool | None, dir_table1: str | None, dir_col1: str | None,
                 dir_table2: str | None, dir_col2: str | None, flag_col: str | None,
                 ang_sep: str | None, status: str) -> None:
    """Create table DBNAME.TABLENAME (regular, partitioned or match; one transaction)."""
    with handled():
        p = _put(read_params(params_file), dirDb=dir_db, dirTable=dir_table,
                 dirColName=dir_col, latColName=lat_col, lonColName=lon_col, overlap=overlap,
                 subChunks=sub_chunks, lockInMem=lock_in_mem, scanRating=scan_rating,
                 match=match, dirTable1=dir_table1, dirColName1=dir_col1, dirTable2=dir_table2,
                 dirColName2=dir_col2, flagColName=flag_col, angSep=ang_sep,
                 partitioning=partitioned)
        if schema_file is not None:
            try:
                p["schema"] = Path(schema_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise qcss.ConfigError(f"cannot read schema file {schema_file}: {exc}") from exc
        if schema is not None:
            p["schema"] = schema
        css = css_of(ctx)
        is_match = _bool(p, "match") or bool(p.get("dirTable1"))
        if is_match:
            mp = qcss.MatchTableParams(
                p.get("dirTable1", ""), p.get("dirColName1", ""), p.get("dirTable2", ""),
                p.get("dirColName2", ""), p.get("flagColName", ""), _float(p, "angSep"))
            if not mp.isMatchTable():
                raise qcss.ConfigError("a match table needs --dir-table1 (dirTable1)")
            css.createMatchTable(dbname, tablename, p.get("schema", ""), mp, status)
        else:
            implied = any(p.get(k) for k in ("latColName", "lonColName", "dirTable", "dirColName"))
            part = qcss.PartTableParams(
                p.get("dirDb", ""), p.get("dirTable", ""), p.get("dirColName", ""),
                p.get("latColName", ""), p.get("lonColName", ""), _float(p, "overlap"),
                _bool(p, "partitioning", implied), _bool(p, "subChunks"))
            scan = qcss.ScanTableParams(_bool(p, "lockInMem"), _int(p, "scanRating"))
            css.createTable(dbname, tablename, p.get("schema", ""), part, scan, status)
    emit(ctx, {"db": dbname, "table": tablename, "match": is_match},
         lambda: f"created table {dbname}.{tablename}")


@table.command("drop")
@click.argument("dbname")
@click.argument("tablename")
@pass_ctx
def table_drop(ctx: Ctx, dbname: str, tablename: str) -> None:
    """Drop table DBNAME.TABLENAME with its chunks (one transaction)."""
    with handled():
        css_of(ctx).dropTable(dbname, tablename)
    emit(ctx, {"db": dbname, "table": tablename},
         lambda: f"dropped table {dbname}.{tablename}")


@table.command("status")
@click.argument("dbname")
@click.argument("tablename")
@click.argument("new_status", required=False)
@click.option("--expect", default=None, help="Compare-and-set: only if the status is this.")
@FORCE
@pass_ctx
def table_status(ctx: Ctx, dbname: str, tablename: str, new_status: str | None,
                 expect: str | None, force: bool) -> None:
    """Print a table's status, or set it to NEW_STATUS (--expect: compare-and-set)."""
    check_status(new_status, force)
    with handled():
        css = css_of(ctx)
    set_or_show_status(ctx, f"{dbname}.{tablename}", new_status, expect,
                       lambda: css.getTableStatus(dbname, tablename),
                       lambda s, e: css.setTableStatus(dbname, tablename, s, e))


# ---- node -----------------------------------------------------------------------------


def node_dict(name: str, p: qcss.NodeParams) -> dict[str, Any]:
    return {"name": name, "state": p.state, "type": p.type, "host": p.host, "port": p.port}


@click.group()
def node() -> None:
    """Nodes: list, show, add, set-state, delete."""


@node.command("list")
@pass_ctx
def node_list(ctx: Ctx) -> None:
    """List nodes with their state, type, host and port."""
    with handled():
        nodes = css_of(ctx).getAllNodeParams()
    data = [node_dict(n, p) for n, p in sorted(nodes.items())]
    rows = [[d["name"], d["state"], d["type"], d["host"], d["port"]] for d in data]
    emit_rows(ctx, ["node", "state", "type", "host", "port"], rows, data,
              lambda: aligned(["node", "state", "type", "host", "port"], rows,
                              rule=False).split("\n", 1)[-1] if rows else "")


@node.command("show")
@click.argument("name")
@pass_ctx
def node_show(ctx: Ctx, name: str) -> None:
    """Show a node and how many chunk replicas it holds."""
    with handled():
        css = css_of(ctx)
        data = node_dict(name, css.getNodeParams(name))
        data["replicas"] = len(css.getNodeChunks(name))
    emit_rows(ctx, ["field", "value"], list(data.items()), data, lambda: nested_text(data))


@node.command("add")
@click.argument("name")
@click.option("--type", "type_", default="worker", show_default=True)
@click.option("--host", default="", help="Host name (default: NAME).")
@click.option("--port", type=int, default=0)
@click.option("--state", default="ACTIVE", show_default=True,
              help="ACTIVE, INACTIVE or CREATING.")
@FORCE
@pass_ctx
def node_add(ctx: Ctx, name: str, type_: str, host: str, port: int, state: str,
             force: bool) -> None:
    """Add node NAME."""
    check_value(state, NODE_STATES, "node state", force)
    with handled():
        css_of(ctx).addNode(name, qcss.NodeParams(type_, host or name, port, state))
    emit(ctx, {"name": name}, lambda: f"added node {name}")


@node.command("set-state")
@click.argument("name")
@click.argument("state")
@click.option("--expect", default=None, help="Compare-and-set: only if the state is this.")
@FORCE
@pass_ctx
def node_set_state(ctx: Ctx, name: str, state: str, expect: str | None, force: bool) -> None:
    """Set node NAME's state (ACTIVE, INACTIVE or CREATING)."""
    check_value(state, NODE_STATES, "node state", force)
    with handled():
        css_of(ctx).setNodeState(name, state, expect)
    emit(ctx, {"name": name, "state": state}, lambda: state)


@node.command("delete")
@click.argument("name")
@pass_ctx
def node_delete(ctx: Ctx, name: str) -> None:
    """Delete node NAME (refused while a chunk replica names it)."""
    with handled():
        css_of(ctx).deleteNode(name)
    emit(ctx, {"name": name}, lambda: f"deleted node {name}")


# ---- chunk ------------------------------------------------------------------------------


@click.group()
def chunk() -> None:
    """Chunks: list, add, delete."""


@chunk.command("list")
@click.argument("dbname", required=False)
@click.argument("tablename", required=False)
@click.option("--node", "node_name", default=None, help="The replicas held by this node.")
@pass_ctx
def chunk_list(ctx: Ctx, dbname: str | None, tablename: str | None,
               node_name: str | None) -> None:
    """List the chunks of DBNAME.TABLENAME (chunk -> nodes), or those on --node."""
    with handled():
        css = css_of(ctx)
        if node_name is not None:
            reps = [r for r in css.getNodeChunks(node_name)
                    if (dbname is None or r.db == dbname)
                    and (tablename is None or r.table == tablename)]
            rows = [[r.db, r.table, r.chunk, r.replica] for r in reps]
            data: Any = [dict(zip(["db", "table", "chunk", "replica"], r, strict=True))
                         for r in rows]
            emit_rows(ctx, ["db", "table", "chunk", "replica"], rows, data,
                      lambda: aligned(["table", "chunk"], [[f"{r[0]}.{r[1]}", r[2]] for r in rows],
                                      rule=False).split("\n", 1)[-1] if rows else "")
            return
        if dbname is None or tablename is None:
            raise click.UsageError("give DBNAME TABLENAME, or --node NODE")
        chunks = css.getChunks(dbname, tablename)
    rows2 = [[c, ",".join(nodes)] for c, nodes in sorted(chunks.items())]
    emit_rows(ctx, ["chunk", "nodes"], rows2, {str(c): n for c, n in sorted(chunks.items())},
              lambda: aligned(["chunk", "nodes"], rows2, rule=False).split("\n", 1)[-1]
              if rows2 else "")


@chunk.command("add")
@click.argument("dbname")
@click.argument("tablename")
@click.argument("chunk_id", metavar="CHUNK", type=int)
@click.argument("nodes", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Accept nodes that are not registered (node add).")
@pass_ctx
def chunk_add(ctx: Ctx, dbname: str, tablename: str, chunk_id: int, nodes: tuple[str, ...],
              force: bool) -> None:
    """Add replicas of CHUNK of DBNAME.TABLENAME on NODES (one transaction); every node
    must be registered (`node add`) unless --force."""
    with handled():
        css = css_of(ctx)
        if not force:
            css.getTableStatus(dbname, tablename)  # NoSuchDb / NoSuchTable first
            known = css.getAllNodeParams()
            unknown = [n for n in nodes if n not in known]
            if unknown:
                raise click.BadParameter(
                    f"unknown node(s) {', '.join(unknown)} (registered: "
                    f"{', '.join(sorted(known)) or 'none'}; --force adds the replica anyway)")
        css.addChunk(dbname, tablename, chunk_id, list(nodes))
    emit(ctx, {"db": dbname, "table": tablename, "chunk": chunk_id, "nodes": list(nodes)},
         lambda: f"added chunk {chunk_id} on {', '.join(nodes)}")


@chunk.command("delete")
@click.argument("dbname")
@click.argument("tablename")
@click.argument("chunk_id", metavar="CHUNK", type=int)
@click.option("--node", "node_name", default="", help="Only the replicas on this node.")
@pass_ctx
def chunk_delete(ctx: Ctx, dbname: str, tablename: str, chunk_id: int, node_name: str) -> None:
    """Delete CHUNK of DBNAME.TABLENAME (every replica, or those on --node)."""
    with handled():
        css_of(ctx).deleteChunk(dbname, tablename, chunk_id, node_name)
    emit(ctx, {"db": dbname, "table": tablename, "chunk": chunk_id},
         lambda: f"deleted chunk {chunk_id}")


# ---- css ----------------------------------------------------------------------------------


@click.group("css")
def css_group() -> None:
    """The CSS tree itself: version."""


@css_group.command("version")
@pass_ctx
def css_version(ctx: Ctx) -> None:
    """Print the CSS layout version of the store and of this library."""
    with handled():
        stored = ctx.kv().get("/css_meta/version", None)
    lib = qcss.CssAccess.cssVersion()
    value = stored.decode("utf-8", "replace") if stored is not None else None
    data = {"store": value, "library": str(lib), "compatible": value == str(lib)}
    emit(ctx, data, lambda: f"store: {value if value is not None else '(none)'}\n"
                            f"library: {lib}")
    if value is not None and value != str(lib):
        sys.exit(5)



