"""css-admin verbs for locks and leases: locks, lock, break-lock, leases.

See docs/locks.md for what they guarantee.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

import click

import qcss
from qcss.cli_common import Ctx, emit, exit_code, handled, pass_ctx


def _when(t: float) -> str:
    if t <= 0:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines)


def _lock_rows(infos: list[qcss.LockInfo]) -> str:
    header = ["KEY", "MODE", "STATE", "TOKEN", "OWNER", "HOST", "PID", "PURPOSE", "ACQUIRED",
              "EXPIRES"]
    rows = [[i.key, i.mode, "held" if i.held else "waiting", str(i.token), i.owner, i.host,
             str(i.pid), i.purpose, _when(i.acquiredAt), _when(i.expiresAt)] for i in infos]
    return _table(rows, header)


@click.command("locks")
@click.argument("prefix", default="/")
@pass_ctx
def locks_cmd(ctx: Ctx, prefix: str) -> None:
    """List the locks (held and waiting) on PREFIX and keys under it."""
    with handled():
        infos = ctx.kv().locks(prefix)
    emit(ctx, [i.asdict() for i in infos], lambda: _lock_rows(infos),
         empty=f"(no locks on {prefix} or under it)")


@click.command("leases")
@click.option("--reap", is_flag=True, help="First delete every expired lease and its keys.")
@pass_ctx
def leases_cmd(ctx: Ctx, reap: bool) -> None:
    """List the live leases (expiry on the store's clock)."""
    with handled():
        kv = ctx.kv()
        reaped = kv.reapExpiredLeases() if reap else 0
        leases = kv.leases()
    data: list[dict[str, Any]] = [
        {"id": li.id, "ttlMs": li.ttlMs, "grantedAt": li.grantedAt, "expiresAt": li.expiresAt,
         "owner": li.owner, "purpose": li.purpose, "numKeys": li.numKeys} for li in leases
    ]

    def text() -> str:
        rows = [[str(li.id), str(li.ttlMs), li.owner, li.purpose, str(li.numKeys),
                 _when(li.grantedAt), _when(li.expiresAt)] for li in leases]
        out = _table(rows, ["ID", "TTL_MS", "OWNER", "PURPOSE", "KEYS", "GRANTED", "EXPIRES"])
        if reap:
            out = f"reaped {reaped} expired lease(s)" + ("\n" + out if out else "")
        return out

    emit(ctx, {"reaped": reaped, "leases": data} if reap else data, text,
         empty="(no live leases)")


@click.command("lock", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--shared", is_flag=True, help="A shared (reader) lock; default exclusive.")
@click.option("--timeout", type=float, default=None,
              help="Seconds to wait for the lock (default: forever); exit 13 on timeout.")
@click.option("--ttl", type=float, default=10.0, show_default=True,
              help="Seconds the lock outlives this process if it dies.")
@click.option("--purpose", default="", help="Shown to operators by `css-admin locks`.")
@pass_ctx
def lock_cmd(ctx: Ctx, key: str, command: tuple[str, ...], shared: bool, timeout: float | None,
             ttl: float, purpose: str) -> None:
    """Hold a lock on KEY while running COMMAND (after --); exit with its code.

    If the lock was lost meanwhile (lease expired, `break-lock`), exit 18 even when
    COMMAND succeeded.

    COMMAND gets QCSS_LOCK_KEY and QCSS_LOCK_TOKEN (the fencing token) in its
    environment, so it can guard its writes with txn.checkLock(token).
    """
    with handled():
        kv = ctx.kv()
        lk = kv.lock(key, shared=shared, timeout=timeout, ttl=ttl,
                     purpose=purpose or " ".join(command)[:200])
    env = dict(os.environ, QCSS_LOCK_KEY=key, QCSS_LOCK_TOKEN=str(lk.token))
    try:
        proc = subprocess.Popen(list(command), env=env)
    except OSError as exc:
        lk.release()
        click.echo(f"Error: cannot run {command[0]}: {exc}", err=True)
        sys.exit(127)

    # Pass SIGTERM/SIGHUP on to COMMAND and release after it ends (SIGINT from a
    # terminal reaches it directly).
    def forward(signum: int, _frame: FrameType | None) -> None:
        proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if code < 0:
        code = 128 - code  # killed by a signal: the shell's convention
    with handled():
        # Lost: the lease expired, or an operator ran `css-admin break-lock` (which
        # deletes the token key): COMMAND ran (partly) without the lock.
        lost = lk.lost or not kv.exists(qcss.tokenKey(lk.token))
    try:
        lk.release()
    except qcss.CssError:
        lost = True
    if lost:
        click.echo(f"Error: the lock on {key} was lost while the command ran (lease expired "
                   "or lock broken); writes fenced with its token were refused", err=True)
        if code == 0:
            code = exit_code(qcss.LeaseExpired)
    sys.exit(code)


@click.command("break-lock")
@click.argument("key")
@click.option("--all", "include_waiters", is_flag=True, help="Remove waiting requests too.")
@pass_ctx
def break_lock_cmd(ctx: Ctx, key: str, include_waiters: bool) -> None:
    """Forcibly release the lock on KEY (its holders lose it; fenced writes fail)."""
    with handled():
        removed = ctx.kv().breakLock(key, includeWaiters=include_waiters)
    emit(ctx, [i.asdict() for i in removed],
         lambda: f"removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'}"
         + ("\n" + _lock_rows(removed) if removed else ""))


COMMANDS = [locks_cmd, leases_cmd, lock_cmd, break_lock_cmd]
