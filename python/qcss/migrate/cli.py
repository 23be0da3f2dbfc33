"""``css-migrate`` and the css-admin verbs ``import``, ``restore`` and ``dump --format qcss``.

Exit codes (the same numbers as css-admin's for the same causes):
  0   done (or dry run done)
  1   --verify found differences
  2   usage error
  4   keys already exist in the target, or were created by someone else during the import
      (nothing written; --overwrite or --resume)
  7   the input holds paths that are not valid qcss keys (nothing written; --skip-invalid)
  15  the input cannot be read (the message names the file and the position)
  20  a batched write stopped after committing some batches (re-run with --resume)
  other css-admin codes: the target refused the write or cannot be opened (nothing written)
"""

from __future__ import annotations

import io
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import click

import qcss
from qcss.migrate import formats
from qcss.migrate.model import MigrationInputError
from qcss.migrate.plan import (
    RESERVED_ROOT,
    Plan,
    PlanError,
    PrefixMap,
    build_plan,
    is_reserved,
)
from qcss.migrate.sources import FORMATS, open_source
from qcss.migrate.writer import (
    ATOMIC_LIMIT,
    ConflictError,
    PartialWriteError,
    WriteReport,
    verify_plan,
    write_plan,
)

EXIT_VERIFY = 1
EXIT_CONFLICT = 4
EXIT_INVALID = 7
EXIT_INPUT = 15
EXIT_PARTIAL = 20
EXIT_OTHER = 19
EXIT_CONFIG = 17


def _code_for(exc: BaseException) -> int:
    """css-admin's exit code for a qcss error (19 for any other error)."""
    try:
        from qcss.cli_common import EXIT_CODES
    except ImportError:  # pragma: no cover - the core is not built
        return EXIT_OTHER
    for cls, code, _ in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_OTHER

__all__ = ["DumpReport", "dump_qcss", "import_cmd", "main", "restore_cmd", "write_dump"]


class Failure(Exception):
    """A migration that cannot go on: printed as ``Error: ...`` and exits with ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _run_cli(ctx: click.Context, url: str | None, **kwargs: Any) -> None:
    """Run a migration command. Without --to/--url, as a css-admin verb it uses the store of
    css-admin's group (its --url, $QCSS_URL, its default store, or one handed over)."""
    admin = ctx.find_root().obj if ctx.parent is not None and not url else None
    if admin is None and not url:
        # Standalone css-migrate: $QCSS_URL when no --to/--url. (As a css-admin verb the
        # group's store is used: its --url, else $QCSS_URL. The option itself never
        # reads the environment, so an explicit --url always wins over it.)
        url = os.environ.get("QCSS_URL") or None
    try:
        kv = None
        if admin is not None and callable(getattr(admin, "kv", None)):
            try:
                kv = admin.kv()
            except Exception as e:
                raise Failure(f"cannot open the store: {e}", _code_for(e)) from e
        code = run(url=url, kv=kv, **kwargs)
    except Failure as e:
        click.echo(f"Error: {e}", err=True)
        ctx.exit(e.code)
    ctx.exit(code)


# ---------------------------------------------------------------------------------------------
# qcss dump


SKIP_DUMP_LOCKS = f"lock namespace ({RESERVED_ROOT})"
SKIP_DUMP_LEASED = "bound to a lease (ephemeral), with their subtrees"


@dataclass
class DumpReport:
    """What a qcss dump wrote, and what it left out (by reason)."""

    keys: int
    skipped: Counter[str] = field(default_factory=Counter)

    def describe_skipped(self) -> str:
        """``dump: skipped N keys: ...`` for stderr ("" when nothing was skipped)."""
        if not self.skipped:
            return ""
        total = sum(self.skipped.values())
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return (
            f"dump: skipped {total} key(s): {parts} "
            "(they would outlive their locks and leases if restored; --include-ephemeral "
            "keeps them)"
        )


def _dropped_ancestor(key: str, dropped: dict[str, str]) -> str | None:
    """The reason a strict ancestor of ``key`` was left out, if one was."""
    if not dropped:
        return None
    parent = key
    while (i := parent.rfind("/")) > 0:
        parent = parent[:i]
        if parent in dropped:
            return dropped[parent]
    return None


def _snapshot_entries(
    kv: Any, key: str, include_ephemeral: bool = True
) -> tuple[int, list[tuple[str, bytes]], Counter[str]]:
    """The entries of ``key``'s subtree, sorted by bytes. Unless ``include_ephemeral``, the
    lock namespace (``/.qcss``) and the keys bound to a lease are left out, with the
    subtrees under them (a lease's end deletes those too), counted by reason."""
    snap = kv.snapshot(key)
    entries = getattr(snap, "entries", snap)
    revision = int(getattr(snap, "revision", 0))
    skipped: Counter[str] = Counter()
    items: list[tuple[str, Any, int]]
    if isinstance(entries, dict):
        items = [(str(k), v, 0) for k, v in entries.items()]
    else:
        items = [(e.key, e.value, int(getattr(e.stat, "lease", 0))) for e in entries]
    items.sort(key=lambda e: e[0].encode("utf-8"))
    out: list[tuple[str, bytes]] = []
    dropped: dict[str, str] = {}  # root of a subtree left out -> the reason
    for k, v, lease in items:
        if not include_ephemeral:
            reason = _dropped_ancestor(k, dropped)
            if reason is None and is_reserved(k):
                reason = dropped[k] = SKIP_DUMP_LOCKS
            elif reason is None and lease != 0:
                reason = dropped[k] = SKIP_DUMP_LEASED
            if reason is not None:
                skipped[reason] += 1
                continue
        out.append((k, v if isinstance(v, bytes) else str(v).encode("utf-8")))
    return revision, out, skipped


def write_dump(
    kv: Any, out: TextIO, key: str = "/", *, include_ephemeral: bool = False,
    progress: bool | None = None,
) -> DumpReport:
    """Write the lossless qcss dump of ``key`` and everything under it: one consistent
    snapshot of the store (``kv.snapshot``). The lock namespace and lease-bound keys (and
    their subtrees) are left out unless ``include_ephemeral``: restored, they would hold
    locks forever and turn ephemeral keys permanent. Returns what was written and skipped."""
    from qcss.migrate.writer import _progress

    revision, entries, skipped = _snapshot_entries(kv, key or "/", include_ephemeral)
    # A bar on stderr when it is a terminal and the dump is long (or --progress).
    with _progress(len(entries), "dump", progress) as bar:

        def counted() -> Any:
            for e in entries:
                yield e
                bar.update(1)

        n = formats.write_qcss_dump(out, counted(), prefix=key or "/", revision=revision)
    return DumpReport(n, skipped)


def dump_qcss(kv: Any, key: str = "/", *, include_ephemeral: bool = False) -> str:
    """The lossless qcss dump of ``key`` and its subtree as a string (see write_dump)."""
    buf = io.StringIO()
    write_dump(kv, buf, key, include_ephemeral=include_ephemeral)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Shared migration driver


def _open_store(url: str, read_only: bool = False) -> Any:
    try:
        return qcss.open(url, readOnly=read_only)
    except Exception as e:
        raise Failure(f"cannot open {qcss.maskUrl(url)}: {e}", _code_for(e)) from e


def _summary(echo: Callable[[str], None], plan: Plan, title: str, verbose: bool) -> None:
    # keys read = to write + skipped + (an empty "/", which always exists); the reader's
    # own omissions were never read and are listed apart.
    echo(title)
    echo(f"  keys read:          {plan.read}")
    echo(f"  keys to write:      {plan.keys}")
    for reason, n in sorted((plan.skipped - plan.source_skipped).items()):
        echo(f"  skipped, {reason}: {n}")
    if plan.root_value == b"":
        echo("  root / (empty value, always exists): 1")
    for reason, n in sorted(plan.source_skipped.items()):
        echo(f"  not read, {reason}: {n}")
    for note in plan.notes:
        echo(f"  note: {note}")
    if verbose:
        for k in plan.ephemerals:
            echo(f"  skipped ephemeral {k}")
        for k in plan.implicit_parents:
            echo(f"  implicit parent {k}")
    for path, reason in plan.invalid[:50]:
        echo(f"  invalid key {path!r}: {reason}")
    if len(plan.invalid) > 50:
        echo(f"  ... and {len(plan.invalid) - 50} more invalid keys")


def run(
    *,
    source: str,
    url: str | None,
    fmt: str = "auto",
    zk_log_dir: str | None = None,
    replay: bool = True,
    prefix_maps: tuple[str, ...] = (),
    dry_run: bool = False,
    verify: bool = False,
    overwrite: bool = False,
    resume: bool = False,
    skip_invalid: bool = False,
    batch_size: int | None = None,
    progress: bool | None = None,
    quiet: bool = False,
    verbose: bool = False,
    kv: Any = None,
) -> int:
    """The whole migration; returns the exit code (raises Failure for errors)."""

    def echo(s: str) -> None:
        if not quiet:
            click.echo(s)

    try:
        maps = [PrefixMap.parse(m) for m in prefix_maps]
        src = open_source(source, fmt, zk_log_dir, replay)
        plan = build_plan(src, maps)
    except MigrationInputError as e:
        hint = ""
        if fmt == "qcss":
            try:
                with open(source, "rb") as fh:
                    head = fh.read(4096)
            except OSError:
                head = b""
            if head and not formats.is_qcss_dump(head):
                hint = (f" -- {source} is not a qcss dump (`css-admin dump --format qcss` "
                        f"writes those); to load a Qserv or ZooKeeper dump, use "
                        f"`css-admin import {source}`")
        raise Failure(f"bad input: {e}{hint}", EXIT_INPUT) from e
    except PlanError as e:
        raise Failure(str(e), EXIT_INPUT) from e
    _summary(echo, plan, f"source: {src.description}", verbose)

    if plan.invalid and not skip_invalid:
        raise Failure(
            f"{len(plan.invalid)} paths are not valid qcss keys (listed above); nothing was "
            "written. Rename them at the source, map them with --prefix-map, or leave them "
            "out with --skip-invalid.",
            EXIT_INVALID,
        )
    if url is None and kv is None:
        if dry_run:
            echo("dry run: no target given, nothing compared or written")
            return 0
        raise Failure("no target: give --to URL (or set QCSS_URL)", EXIT_CONFIG)
    opened_here = kv is None
    if kv is None:
        assert url is not None
        if dry_run:
            # Read-only: a dry run never creates the target (a missing SQLite file is
            # reported as such, with everything to be written).
            try:
                kv = qcss.open(url, readOnly=True)
            except qcss.ConfigError as e:
                echo(f"dry run: the target cannot be opened ({e}); would write all "
                     f"{plan.keys} keys; nothing written")
                return 0
            except Exception as e:
                raise Failure(f"cannot open {qcss.maskUrl(url)}: {e}", _code_for(e)) from e
        else:
            kv = _open_store(url)

    mode = (
        "one atomic transaction"
        if (batch_size is None and len(plan.entries) <= ATOMIC_LIMIT)
        or (batch_size is not None and batch_size >= len(plan.entries))
        else f"batches of {batch_size or 'default size'} keys (each atomic, resumable)"
    )
    if dry_run:
        from qcss.migrate.writer import existing

        same, other = existing(kv, plan, progress)
        echo(f"dry run: would write {plan.keys - len(same)} keys in {mode}; nothing written")
        if verbose:
            if plan.root_value:
                echo(f"  would set / ({len(plan.root_value)} bytes)")
            present = set(same)
            for k, v in plan.entries:
                if k not in present:
                    echo(f"  would write {k} ({len(v)} bytes)")
        if same:
            echo(f"  {len(same)} keys already present with the same value")
        if other:
            verb = "overwritten" if overwrite else "refused (no --overwrite)"
            echo(f"  {len(other)} keys exist with other values and would be {verb}:")
            for k in other[:20]:
                echo(f"    {k}")
        return EXIT_CONFLICT if other and not overwrite else 0

    try:
        report: WriteReport = write_plan(
            kv,
            plan,
            overwrite=overwrite,
            resume=resume,
            batch_size=batch_size,
            progress=progress,
        )
    except ConflictError as e:
        # Re-running an identical import is a no-op success.
        from qcss.migrate.writer import existing

        same, other = existing(kv, plan, progress)
        root_same = plan.root_value is None or plan.root_value == b"" or (
            kv.get("/", None) == plan.root_value)
        if not other and root_same and len(same) == len(plan.entries):
            echo(f"{plan.keys} keys already identical in the target; nothing written")
            if opened_here:
                click.echo(f"target: {kv.url()} (nothing written)", err=True)
            return 0
        raise Failure(str(e), EXIT_CONFLICT) from e
    except PartialWriteError as e:
        raise Failure(f"{e} (target: {kv.url()})", EXIT_PARTIAL) from e
    except Exception as e:
        raise Failure(f"write failed, nothing was written: {e}", _code_for(e)) from e
    if opened_here:  # else css-admin names the store it opened (Ctx.name_target)
        click.echo(f"target: {kv.url()} (revision {report.revision})", err=True)
    echo(
        f"written: {report.written + (1 if report.root_written else 0)} keys in "
        f"{report.batches} transaction(s), revision {report.revision}"
        + (f"; {report.already_present} already present (resumed)" if resume else "")
    )
    if verify:
        vr = verify_plan(kv, plan, progress)
        if not vr.ok:
            for k in vr.missing[:20]:
                echo(f"  verify: missing {k}")
            for k in vr.different[:20]:
                echo(f"  verify: different {k}")
            raise Failure(
                f"verify: {len(vr.missing)} missing and {len(vr.different)} different keys "
                f"out of {vr.checked}",
                EXIT_VERIFY,
            )
        echo(f"verified: {vr.checked} keys read back, all identical")
    return 0


_common_write_options: list[Callable[[Any], Any]] = [
    click.option("--to", "--url", "url", default=None,
                 help="Target store URL (default: $QCSS_URL; as a css-admin verb, its --url)."),
    click.option("--dry-run", is_flag=True, help="Report what would be written; write nothing."),
    click.option("--verify", is_flag=True, help="Read back and compare every key afterwards."),
    click.option("--overwrite", is_flag=True, help="Replace keys that already exist."),
    click.option(
        "--resume", is_flag=True, help="Skip keys already present with the same value."
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=None,
        help=f"Keys per transaction (default: all at once up to {ATOMIC_LIMIT} keys, then "
        "50000).",
    ),
    click.option("--progress/--no-progress", default=None, help="Progress bars."),
    click.option("-q", "--quiet", is_flag=True, help="Only errors."),
    click.option(
        "-v", "--verbose", is_flag=True,
        help="List every key (to be) written, ephemeral skipped and implicit parent.",
    ),
]


def _apply(options: list[Callable[[Any], Any]], f: Any) -> Any:
    for opt in reversed(options):
        f = opt(f)
    return f


def _make_import(name: str) -> click.Command:
    @click.pass_context
    def command(
        ctx: click.Context,
        source: str,
        fmt: str,
        zk_log_dir: str | None,
        no_replay: bool,
        prefix_map: tuple[str, ...],
        skip_invalid: bool,
        url: str | None,
        dry_run: bool,
        verify: bool,
        overwrite: bool,
        resume: bool,
        batch_size: int | None,
        progress: bool | None,
        quiet: bool,
        verbose: bool,
    ) -> None:
        """Migrate SOURCE into a qcss store.

        SOURCE is a ZooKeeper data directory (or one snapshot.<zxid> file in it), zk://host:port
        for a live ZooKeeper, or a dump file: Qserv TSV or JSON, zk-shell json://, ZooCreeper or
        zkr JSON, or a qcss dump. The format is detected unless --format is given.
        """
        _run_cli(
            ctx,
            source=source,
            url=url,
            fmt=fmt,
            zk_log_dir=zk_log_dir,
            replay=not no_replay,
            prefix_maps=prefix_map,
            dry_run=dry_run,
            verify=verify,
            overwrite=overwrite,
            resume=resume,
            skip_invalid=skip_invalid,
            batch_size=batch_size,
            progress=progress,
            quiet=quiet,
            verbose=verbose,
        )

    f: Any = command
    f = _apply(_common_write_options, f)
    f = click.option("--skip-invalid", is_flag=True, help="Leave out invalid keys (listed).")(f)
    f = click.option(
        "--prefix-map",
        multiple=True,
        metavar="/OLD=/NEW",
        help="Move the subtree /OLD to /NEW (repeatable; the longest match applies).",
    )(f)
    f = click.option(
        "--no-replay", is_flag=True, help="ZooKeeper: read the snapshot only, not the logs."
    )(f)
    f = click.option(
        "--zk-log-dir",
        type=click.Path(exists=True, file_okay=False),
        help="ZooKeeper dataLogDir, if not the data directory.",
    )(f)
    f = click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True
    )(f)
    f = click.argument("source")(f)
    if name == "css-migrate":
        f = click.version_option(package_name="qcss", prog_name="css-migrate")(f)
    return click.command(name=name, epilog=_EPILOG,
                         context_settings={"help_option_names": ["-h", "--help"]})(f)


_EPILOG = "\b\n" + (__doc__ or "").split("\n\n", 1)[1]

main: click.Command = _make_import("css-migrate")
import_cmd: click.Command = _make_import("import")


def _make_restore() -> click.Command:
    @click.pass_context
    def command(
        ctx: click.Context,
        dump: str,
        url: str | None,
        dry_run: bool,
        verify: bool,
        overwrite: bool,
        resume: bool,
        batch_size: int | None,
        progress: bool | None,
        quiet: bool,
        verbose: bool,
    ) -> None:
        """Restore a qcss dump (css-admin dump --format qcss) into a store, byte-exact."""
        _run_cli(
            ctx,
            source=dump,
            url=url,
            fmt="qcss",
            dry_run=dry_run,
            verify=verify,
            overwrite=overwrite,
            resume=resume,
            batch_size=batch_size,
            progress=progress,
            quiet=quiet,
            verbose=verbose,
        )

    f: Any = _apply(_common_write_options, command)
    f = click.argument("dump", type=click.Path(exists=True, dir_okay=False))(f)
    return click.command(name="restore")(f)


restore_cmd: click.Command = _make_restore()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
