"""css-admin's everyday operator verbs: status, tree, find, diff, cp, shell, completion.

Added to the main CLI by qcss/cli.py. ``status`` is built from :func:`store_status`,
which returns a plain dict the command renders: a backend with several nodes (Galera,
HA) adds rows to its ``nodes`` list (``{"node": ..., "state": ..., "revision": ...}``)
and the command prints them as a table under the summary.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import qcss
from qcss.cli_common import (
    EXIT_USAGE,
    Ctx,
    aligned,
    emit,
    handled,
    json_value,
    pass_ctx,
    plain,
    show_value,
)

# ---- status ------------------------------------------------------------------------------


def _sql_facts(url: str) -> dict[str, Any]:
    """Schema version and server version of a SQL store (through qcss.schema, which loads
    SQLAlchemy: only this verb pays for it)."""
    from qcss import schema as schema_mod

    out: dict[str, Any] = {}
    try:
        st = schema_mod.status(url)
        out["schemaVersion"] = st.current
        out["schemaLatest"] = st.latest
        out["serverVersion"] = schema_mod.server_version(url)
    except qcss.CssError as exc:
        out["schemaVersion"] = None
        out["schemaError"] = str(exc)
    return out


def store_status(kv: qcss.KvInterface, url: str | None) -> dict[str, Any]:
    """What `css-admin status` shows, as a dict (JSON output prints it as is).

    ``nodes`` is one row per server of a mysql:// store (node, role, state, revision,
    revisions behind the newest: qcss.cli_cluster); sqlite and mem have none.
    """
    backend = kv.backend()
    revision = kv.revision()
    compacted = kv.compactedRevision()
    data: dict[str, Any] = {
        "url": qcss.maskUrl(kv.url() or (url or "")),
        "backend": backend,
        "readOnly": kv.readOnly(),
        "revision": revision,
        "compactedRevision": compacted,
        "logRevisions": max(0, revision - compacted),
        "keys": len(kv.snapshot("/")),
        "leases": len(kv.leases()),
        "locks": len(kv.locks("/")),
        "library": qcss.__version__,
    }
    if backend in ("sqlite", "mysql"):
        # The URL as given (kv.url() has the password masked).
        data.update(_sql_facts(url or kv.url()))
    data["nodes"] = []
    if backend == "mysql" and (url or kv.url()):
        from qcss.cli_cluster import cluster_nodes

        # Each server of the store (each host of a host list): state, revision, lag.
        data["nodes"] = cluster_nodes(url or kv.url())
    return data


def _status_text(data: dict[str, Any]) -> str:
    fields = {k: v for k, v in data.items() if k != "nodes"}
    width = max(len(k) for k in fields)
    out = "\n".join(f"{k + ':':<{width + 1}} {plain(v)}" for k, v in fields.items())
    nodes = data.get("nodes") or []
    if nodes:
        headers = list(nodes[0])
        out += "\n\n" + aligned(headers, [[n.get(h) for h in headers] for n in nodes])
    return out


@click.command("status")
@pass_ctx
def status_cmd(ctx: Ctx) -> None:
    """Show the store: URL, backend, schema and server version, revision, compacted
    revision, keys, leases, locks (as `etcdctl endpoint status`, ZooKeeper's mntr)."""
    with handled():
        data = store_status(ctx.kv(), ctx.url)
    emit(ctx, data, lambda: _status_text(data))


# ---- tree, find ---------------------------------------------------------------------------


def _visible(key: str) -> bool:
    """Not in qcss's own namespace (/.qcss: locks and their tokens)."""
    from qcss.migrate.plan import is_reserved

    return not is_reserved(key)


def _rel_depth(key: str, root: str) -> int:
    rest = key[len(root):] if root != "/" else key
    return rest.strip("/").count("/") + 1 if rest.strip("/") else 0


@click.command("tree")
@click.argument("key", default="/")
@click.option("-d", "--depth", type=click.IntRange(min=1), default=None,
              help="Show at most this many levels below KEY.")
@click.option("--values", is_flag=True, help="Show each key's value.")
@click.option("-a", "--all", "show_all", is_flag=True, help="Include the lock namespace /.qcss.")
@pass_ctx
def tree_cmd(ctx: Ctx, key: str, depth: int | None, values: bool, show_all: bool) -> None:
    """Draw the subtree under KEY (default /), optionally DEPTH levels deep."""
    with handled():
        kv = ctx.kv()
        if key != "/" and not kv.exists(key):
            raise qcss.NoSuchKey(f"key '{key}' does not exist")
        snap = kv.snapshot(key)
    entries = [(k, v) for k, v in snap.items()
               if k != key and (show_all or _visible(k))
               and (depth is None or _rel_depth(k, key) <= depth)]
    lines = [key]
    for k, v in entries:
        level = _rel_depth(k, key)
        name = k.rsplit("/", 1)[-1]
        line = "  " * level + name
        if values:
            line += " = " + show_value(v)
        lines.append(line)
    emit(ctx, {k: json_value(v) for k, v in entries}, lambda: "\n".join(lines),
         rows=(["key", "value"], [[k, v] for k, v in entries]))


@click.command("find")
@click.argument("prefix", default="/")
@click.option("--name", "pattern", default="*", show_default=True,
              help="Glob matched against the last component of each key (as find -name).")
@click.option("--value", "value_pattern", default=None, help="Glob matched against the value.")
@pass_ctx
def find_cmd(ctx: Ctx, prefix: str, pattern: str, value_pattern: str | None) -> None:
    """Print the keys under PREFIX whose name matches --name (and value --value)."""
    with handled():
        snap = ctx.kv().snapshot(prefix)
    hits = [(k, v) for k, v in snap.items()
            if k != prefix and _visible(k)
            and fnmatch.fnmatchcase(k.rsplit("/", 1)[-1], pattern)
            and (value_pattern is None or fnmatch.fnmatchcase(show_value(v), value_pattern))]
    emit(ctx, [k for k, _ in hits], lambda: "\n".join(k for k, _ in hits),
         rows=(["key"], [[k] for k, _ in hits]), empty="(no matching keys)")


# ---- diff, cp ---------------------------------------------------------------------------


def _load(spec: str, prefix: str) -> dict[str, bytes]:
    """The keys of a store URL or a dump file (any format css-admin import reads)."""
    if "://" in spec and not spec.startswith("zk://"):
        snap = qcss.open(spec, readOnly=True).snapshot(prefix)
        items = dict(snap.items())
    else:
        from qcss.migrate.sources import open_source

        items = {n.key: n.value for n in open_source(spec)}
    return {k: v for k, v in items.items()
            if k != "/" and _visible(k) and (prefix == "/" or k == prefix
                                             or k.startswith(prefix.rstrip("/") + "/"))}


@click.command("diff")
@click.argument("a")
@click.argument("b")
@click.option("--prefix", default="/", show_default=True, help="Compare only this subtree.")
@pass_ctx
def diff_cmd(ctx: Ctx, a: str, b: str, prefix: str) -> None:
    """Compare two stores or dumps (URL or file each); exit 1 when they differ.

    Lines: `- KEY` only in A, `+ KEY` only in B, `~ KEY` different values. The lock
    namespace /.qcss is left out.
    """
    with handled():
        left, right = _load(a, prefix), _load(b, prefix)
    rows: list[list[str]] = []
    for k in sorted(left.keys() | right.keys()):
        if k not in right:
            rows.append(["-", k])
        elif k not in left:
            rows.append(["+", k])
        elif left[k] != right[k]:
            rows.append(["~", k])
    emit(ctx, [{"change": c, "key": k} for c, k in rows],
         lambda: "\n".join(f"{c} {k}" for c, k in rows),
         rows=(["change", "key"], rows), empty=f"no differences ({len(left)} keys)")
    if rows:
        sys.exit(1)


@click.command("cp")
@click.argument("src")
@click.argument("dst")
@click.option("-r", "--recursive", is_flag=True, help="Copy the whole subtree of SRC.")
@pass_ctx
def cp_cmd(ctx: Ctx, src: str, dst: str, recursive: bool) -> None:
    """Copy key SRC to DST (with -r its subtree too), in one transaction; DST must not
    exist."""
    with handled():
        kv = ctx.kv()
        snap = kv.snapshot(src) if recursive else None
        value = kv.get(src)
        pairs = [(src, value)] if snap is None else list(snap.items())
        if snap is not None and not any(k == src for k, _ in pairs):
            pairs.insert(0, (src, value))
        made = [(dst + k[len(src):], v) for k, v in pairs]
        with kv.transaction() as t:
            for k, v in made:
                t.create(k, v)
    emit(ctx, [k for k, _ in made], lambda: "\n".join(f"copied {k}" for k, _ in made),
         rows=(["copied"], [[k] for k, _ in made]))


# ---- completion (shell verbs and bash/zsh) ---------------------------------------------


def key_candidates(kv: qcss.KvInterface, incomplete: str) -> list[str]:
    """Keys completing `incomplete`: the children of its parent whose name starts with
    the last component (a trailing / lists the children)."""
    if not incomplete.startswith("/"):
        incomplete = "/" + incomplete
    parent, _, stem = incomplete.rpartition("/")
    parent = parent or "/"
    try:
        names = kv.getChildren(parent)
    except qcss.CssError:
        return []
    base = "" if parent == "/" else parent
    return [f"{base}/{n}" for n in names if n.startswith(stem) and _visible(f"{base}/{n}")]


def _store_for_completion(cctx: click.Context) -> qcss.KvInterface | None:
    root = cctx.find_root()
    url = root.params.get("url") or os.environ.get("QCSS_URL")
    if isinstance(root.obj, Ctx) and root.obj._kv is not None:
        return root.obj._kv
    try:
        return qcss.open(url, readOnly=True)
    except Exception:
        return None


def complete_key(cctx: click.Context, _param: click.Parameter,
                 incomplete: str) -> list[click.shell_completion.CompletionItem]:
    kv = _store_for_completion(cctx)
    if kv is None:
        return []
    return [click.shell_completion.CompletionItem(k, type="plain")
            for k in key_candidates(kv, incomplete)]


def complete_db(cctx: click.Context, _param: click.Parameter,
                incomplete: str) -> list[click.shell_completion.CompletionItem]:
    kv = _store_for_completion(cctx)
    if kv is None:
        return []
    try:
        names = kv.getChildren("/DBS")
    except qcss.CssError:
        return []
    return [click.shell_completion.CompletionItem(n) for n in names if n.startswith(incomplete)]


KEY_ARGS = {"key", "prefix", "src", "dst"}
DB_ARGS = {"dbname"}


def add_completion(cmd: click.Command, group: str = "") -> None:
    """Attach key completion to KEY-like arguments and database completion to database
    names (`db show NAME`, `table list DBNAME`, ...), for bash/zsh and the shell."""
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            add_completion(sub, name if not group else group)
        return
    for p in cmd.params:
        if not isinstance(p, click.Argument) or p.name is None:
            continue
        if p.name in KEY_ARGS:
            p._custom_shell_complete = complete_key
        elif p.name in DB_ARGS or (group == "db" and p.name == "name"):
            p._custom_shell_complete = complete_db


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_cmd(shell: str) -> None:
    """Print the completion script for SHELL (verbs, options, keys, database names).

    bash: `eval "$(css-admin completion bash)"` in ~/.bashrc;
    zsh: `eval "$(css-admin completion zsh)"` in ~/.zshrc.
    """
    from click.shell_completion import get_completion_class

    from qcss.cli import cli

    comp_cls = get_completion_class(shell)
    assert comp_cls is not None
    comp = comp_cls(cli, {}, "css-admin", "_CSS_ADMIN_COMPLETE")
    click.echo(comp.source())


# ---- shell ---------------------------------------------------------------------------------


HISTORY = "shell_history"


def _history_file() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "qcss" / HISTORY


def _verbs() -> list[str]:
    from qcss.cli import cli

    return sorted(cli.commands)


def shell_completer(kv: qcss.KvInterface) -> Callable[[str, int], str | None]:
    """A readline completer: verbs for the first word, keys for words starting with /."""
    import readline

    matches: list[str] = []

    def complete(text: str, state: int) -> str | None:
        if state == 0:
            line = readline.get_line_buffer()
            first = not line[: readline.get_begidx()].strip()
            if first:
                matches[:] = [v + " " for v in _verbs() if v.startswith(text)]
            elif text.startswith("/") or not text:
                matches[:] = key_candidates(kv, text or "/")
                # One key with children: offer its children, so that readline stops at
                # "KEY/" (several) or completes the only child.
                if len(matches) == 1 and kv.getChildren(matches[0]):
                    matches[:] = key_candidates(kv, matches[0] + "/")
            else:
                matches[:] = []
        return matches[state] if state < len(matches) else None

    return complete


def run_line(line: str, kv: qcss.KvInterface, output: str, read_only: bool) -> int:
    """Run one shell line as a css-admin command on the open store; its exit code."""
    from qcss.cli import cli

    try:
        args = shlex.split(line)
    except ValueError as exc:
        click.echo(f"Error: {exc}", err=True)
        return EXIT_USAGE
    if not args:
        return 0
    if args[0] == "help":
        args = [*args[1:], "--help"]
    pre = ["-o", output] + (["--read-only"] if read_only else [])
    try:
        cli.main([*pre, *args], prog_name="css-admin", standalone_mode=False, obj=kv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        return 1
    return 0


@click.command("shell")
@pass_ctx
def shell_cmd(ctx: Ctx) -> None:
    """Interactive session on the store: css-admin verbs without the `css-admin`
    (`ls /DBS`, `get /css_meta/version`, `help`, `exit`), with history (saved in
    $XDG_DATA_HOME/qcss/shell_history) and Tab completion of verbs and keys. Reads
    commands from stdin when it is not a terminal (one per line; exit code: the last
    failure's)."""
    with handled():
        kv = ctx.kv()
    interactive = sys.stdin.isatty()
    hist = _history_file()
    if interactive:
        import readline

        readline.set_completer_delims(" \t\n")
        readline.set_completer(shell_completer(kv))
        readline.parse_and_bind("tab: complete")
        try:
            readline.read_history_file(hist)
        except OSError:
            pass
        click.echo(f"css-admin shell on {qcss.maskUrl(kv.url())} ({kv.backend()}); "
                   "`help`, `exit`, Tab completes", err=True)
    last = 0
    try:
        while True:
            try:
                line = input("css> ") if interactive else sys.stdin.readline()
            except EOFError:
                break
            if not interactive and line == "":
                break
            line = line.strip()
            if line in ("exit", "quit"):
                break
            code = run_line(line, kv, ctx.output, ctx.read_only)
            if code:
                last = code
    except KeyboardInterrupt:
        click.echo("", err=True)
    finally:
        if interactive:
            import readline

            try:
                hist.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(hist)
            except OSError:
                pass
    sys.exit(last)


COMMANDS = [status_cmd, tree_cmd, find_cmd, diff_cmd, cp_cmd, shell_cmd, completion_cmd]
