"""`css-admin cluster`: the servers behind a mysql:// store -- each Galera node or
host of a host list, and any asynchronous replicas -- with their state, their
revision and how far each is behind the newest (also the ``nodes`` rows of
`css-admin status`)."""

from __future__ import annotations

import os
from typing import Any

import click

from qcss.cli_common import Ctx, aligned, emit, handled, pass_ctx

__all__ = ["cluster_cmd", "cluster_nodes"]


def _probe(url: str) -> dict[str, Any]:
    """One server: its role, state and the store's revision there."""
    import pymysql

    from qcss.schema import _split_url

    p = _split_url(url)
    q = p.query
    password = p.password if p.password is not None else q.get("password", os.environ.get(
        "QCSS_MYSQL_PASSWORD", os.environ.get("MYSQL_PWD", "")))
    node = f"{p.host}:{p.port or 3306}"
    row: dict[str, Any] = {"node": node, "role": "server", "state": "", "revision": None,
                           "behind": None}
    try:
        conn = pymysql.connect(host=p.host or "localhost", port=p.port or 3306,
                               user=p.user or "", password=password or "",
                               database=p.path.lstrip("/") or None,
                               connect_timeout=int(float(q.get("connect_timeout", "3"))),
                               autocommit=True)
    except pymysql.MySQLError as exc:
        row["state"] = f"down ({exc.args[-1] if exc.args else exc})"
        return row
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep%'")
            ws = {str(k): str(v) for k, v in cur.fetchall()}
            cur.execute("SHOW GLOBAL VARIABLES LIKE 'wsrep_on'")
            on = cur.fetchone()
            if on is not None and str(on[1]).upper() == "ON":
                row["role"] = "galera"
                state = ws.get("wsrep_local_state_comment", "?")
                if ws.get("wsrep_cluster_status", "Primary") != "Primary":
                    state += f" ({ws.get('wsrep_cluster_status')})"
                if ws.get("wsrep_ready") != "ON":
                    state += " not ready"
                row["state"] = state
            else:
                cur.execute("SHOW SLAVE STATUS")
                st = cur.fetchone()
                if st is not None:
                    s = dict(zip([d[0] for d in cur.description or []], st, strict=False))
                    row["role"] = "replica"
                    ok = s.get("Slave_IO_Running") == "Yes" and s.get("Slave_SQL_Running") == "Yes"
                    lag = s.get("Seconds_Behind_Master")
                    row["state"] = ("replicating" if ok else "stopped") + (
                        f", {lag} s behind" if lag is not None else "")
                else:
                    row["role"] = "primary" if ws.get("wsrep_ready") is None else "server"
                    row["state"] = "up"
            try:
                cur.execute("SELECT revision FROM qcss_meta WHERE id = 1")
                r = cur.fetchone()
                row["revision"] = int(r[0]) if r else None
            except pymysql.MySQLError as exc:
                row["state"] += f"; no qcss store ({exc.args[-1] if exc.args else exc})"
    except pymysql.MySQLError as exc:
        row["state"] = f"error ({exc.args[-1] if exc.args else exc})"
    finally:
        conn.close()
    return row


def cluster_nodes(url: str, replicas: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One row per server of a mysql:// store (each host of a host list, then each
    replica URL): node, role (galera/primary/replica/server), state, revision, and
    ``behind``: revisions behind the newest one seen."""
    from qcss.schema import host_urls

    rows = [_probe(u) for u in host_urls(url)] + [_probe(u) for u in replicas]
    newest = max((r["revision"] for r in rows if r["revision"] is not None), default=None)
    for r in rows:
        if r["revision"] is not None and newest is not None:
            r["behind"] = newest - r["revision"]
    return rows


@click.command("cluster")
@click.option("--replica", "replicas", multiple=True, metavar="URL",
              help="Also show this read replica (repeatable).")
@pass_ctx
def cluster_cmd(ctx: Ctx, replicas: tuple[str, ...]) -> None:
    """Show the servers of a mysql:// store: each node (Galera, or each host of a host
    list) and replica, its state, its revision and how many revisions it is behind."""
    with handled():
        url = ctx.url or ""
        if not url.startswith(("mysql://", "mariadb://")):
            raise click.UsageError("css-admin cluster needs a mysql:// URL (--url or $QCSS_URL)")
        rows = cluster_nodes(url, replicas)
    headers = ["node", "role", "state", "revision", "behind"]
    emit(ctx, rows, lambda: aligned(headers, [[r[h] for h in headers] for r in rows]),
         rows=(headers, [[r[h] for h in headers] for r in rows]))
