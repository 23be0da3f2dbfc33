"""css-admin verbs of the change feed: watch, history, compact.

``watch`` follows a prefix with a C++ poller (``KvInterface.watch``) and prints
each change as it comes (text, or JSON lines with ``-o json``) until Ctrl-C.
``history`` prints the change log entries of a key. ``compact`` trims the
change log by a retention policy.
"""

from __future__ import annotations

import json
import queue
import sys
import time
from typing import Any

import click

import qcss
from qcss.cli_common import Ctx, emit, handled, json_value, show_value

# Its own (same) decorator: cli.py imports this module at its end.
pass_ctx = click.make_pass_decorator(Ctx)


def change_json(c: qcss.Change) -> dict[str, Any]:
    return {
        "revision": c.revision,
        "kind": c.kindName,
        "key": c.key,
        "value": json_value(c.value) if c.kind == qcss.ChangeKind.Put else None,
        "version": c.version,
        "time": c.time,
        "client": c.client,
    }


def change_text(c: qcss.Change) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(c.time))
    if c.kind == qcss.ChangeKind.Put:
        return (f"{c.revision} {stamp}Z put {c.key} = {show_value(c.value)} "
                f"(version {c.version}, {c.client})")
    return f"{c.revision} {stamp}Z delete {c.key} (version {c.version}, {c.client})"


@click.command()
@click.argument("prefix", default="/")
@click.option("--since", type=int, default=None,
              help="Start after this revision (0: the whole log). Default: from now.")
@click.option("-o", "--output", "output", type=click.Choice(["text", "json"]), default=None,
              help="text, or json: one JSON object per line. Default: the global -o.")
@click.option("--interval", type=float, default=0.1, show_default=True,
              help="Seconds between two polls when nothing changes.")
@click.option("--count", type=int, default=0,
              help="Exit after printing this many lines (changes and resyncs; "
                   "0: run until Ctrl-C).")
@pass_ctx
def watch(ctx: Ctx, prefix: str, since: int | None, output: str | None, interval: float,
          count: int) -> None:
    """Print changes to PREFIX and under it as they are committed, until Ctrl-C.

    Every change appears once, in revision order. If the change log was
    compacted past the position, the subtree is reloaded and a resync line is
    printed; polling errors are reported on stderr and retried.
    """
    as_json = (output or ctx.output) == "json"
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def on_changes(changes: list[qcss.Change], revision: int) -> None:
        events.put(("changes", changes))

    def on_error(exc: BaseException, attempt: int) -> None:
        events.put(("error", f"{exc} (attempt {attempt})"))

    def on_resync(snap: qcss.Snapshot) -> None:
        events.put(("resync", (snap.revision, len(snap.entries))))

    printed = 0
    with handled():
        if since is not None and since > (head := ctx.kv().revision()):
            raise qcss.ConfigError(f"--since {since} is beyond the store's head revision {head}")
        w = ctx.kv().watch(prefix, on_changes, sinceRevision=since, interval=interval,
                           onError=on_error, onResync=on_resync)
    try:
        with w:
            while count <= 0 or printed < count:
                try:
                    kind, data = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if kind == "error":
                    click.echo(f"Warning: {data}", err=True)
                elif kind == "resync":
                    rev, n = data
                    if as_json:
                        click.echo(json.dumps({"resync": rev, "keys": n}))
                    else:
                        click.echo(f"{rev} resync: log compacted, reloaded {n} keys")
                    printed += 1
                else:
                    for c in data:
                        click.echo(json.dumps(change_json(c), ensure_ascii=False) if as_json
                                   else change_text(c))
                        printed += 1
                        if 0 < count <= printed:
                            break
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass


@click.command()
@click.argument("key")
@click.option("--subtree", is_flag=True, help="Also the changes of every key under KEY.")
@pass_ctx
def history(ctx: Ctx, key: str, subtree: bool) -> None:
    """Print the change log entries of KEY still in the log (oldest first)."""
    with handled():
        kv = ctx.kv()
        changes = kv.changes(kv.compactedRevision(), key)
        if not subtree:
            changes = [c for c in changes if c.key == key]
        if not changes and not kv.exists(key):
            raise qcss.NoSuchKey(f"key '{key}' does not exist and has no history in the log")
    emit(ctx, [change_json(c) for c in changes],
         lambda: "\n".join(change_text(c) for c in changes),
         empty=f"(no changes of {key} in the log)")


@click.command()
@click.option("--keep-revisions", type=int, default=None,
              help="Keep the changes of the last N revisions.")
@click.option("--max-age", type=float, default=None,
              help="Keep the changes committed in the last SECONDS seconds.")
@click.option("--dry-run", is_flag=True, help="Only print what would be removed.")
@pass_ctx
def compact(ctx: Ctx, keep_revisions: int | None, max_age: float | None, dry_run: bool) -> None:
    """Trim the change log by a retention policy (revisions and/or age).

    With both options a change is removed only if both allow it. Watchers and
    mirrors behind the new start of the log resynchronise from a snapshot.
    """
    if keep_revisions is None and max_age is None:
        raise click.UsageError("give --keep-revisions N, --max-age SECONDS, or both")
    if (keep_revisions is not None and keep_revisions < 0) or (max_age is not None and max_age < 0):
        raise click.UsageError("--keep-revisions and --max-age must not be negative")
    with handled():
        kv = ctx.kv()
        up_to, removed = kv.compactRetaining(keep_revisions, max_age, dry_run)
        head = kv.revision()
    data = {"compactedRevision": up_to, "removed": removed, "revision": head, "dryRun": dry_run}
    emit(ctx, data, lambda: (f"{'would compact' if dry_run else 'compacted'} up to revision "
                             f"{up_to} (removed {removed} entries; head {head})"))
