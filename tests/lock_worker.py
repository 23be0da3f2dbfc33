"""A worker process of the lock and lease tests (see lock_support.Worker).

    lock_worker.py counter URL KEY N       N increments of KEY under its lock; exit 1
                                           if a token did not grow
    lock_worker.py hold URL KEY MODE TTL   take the lock (MODE exclusive|shared), print
                                           "held TOKEN LEASE", wait for a line on stdin,
                                           then try a fenced write of /fenced and print
                                           "wrote" or "refused"; release at EOF
    lock_worker.py ephemeral URL KEY TTL   create KEY bound to a new lease, print
                                           "ready LEASE", wait for EOF
"""

from __future__ import annotations

import json
import sys

import qcss


def counter(url: str, key: str, n: int) -> int:
    kv = qcss.open(url)
    for _ in range(n):
        with kv.lock(key, timeout=60, ttl=10, purpose="count") as lk:
            cur = json.loads(kv.get(key, b'{"n": 0, "token": 0}'))
            if lk.token <= cur["token"]:
                print(f"token {lk.token} after {cur['token']}", flush=True)
                return 1
            value = json.dumps({"n": cur["n"] + 1, "token": lk.token})
            kv.transaction().checkLock(lk).set(key, value).commit()
    return 0


def hold(url: str, key: str, mode: str, ttl: float) -> int:
    kv = qcss.open(url)
    lk = kv.lock(key, shared=mode == "shared", timeout=60, ttl=ttl, purpose="hold")
    print(f"held {lk.token} {lk.lease.id}", flush=True)
    for _ in sys.stdin:
        try:
            kv.transaction().checkLock(lk).set("/fenced", str(lk.token)).commit()
            print("wrote", flush=True)
        except qcss.VersionMismatchError:
            print("refused", flush=True)
    lk.release()
    return 0


def ephemeral(url: str, key: str, ttl: float) -> int:
    kv = qcss.open(url)
    lease = kv.grantLease(ttl, purpose="worker")
    kv.create(key, "up", lease=lease)
    print(f"ready {lease.id}", flush=True)
    sys.stdin.read()
    lease.revoke()
    return 0


def main(argv: list[str]) -> int:
    verb, url, key, *rest = argv
    if verb == "counter":
        return counter(url, key, int(rest[0]))
    if verb == "hold":
        return hold(url, key, rest[0], float(rest[1]))
    if verb == "ephemeral":
        return ephemeral(url, key, float(rest[0]))
    raise SystemExit(f"unknown verb {verb}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
