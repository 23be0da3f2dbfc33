"""A writer process for tests/test_galera.py and bench/bench_ha.py.

``python galera_worker.py URL WID STOPFILE OUT``: until STOPFILE exists, alternates
- a CAS increment of ``/shared/cas`` (read its version v, set it to ``WID:SEQ`` with
  version v: the key's version counts the increments), and
- a transaction setting ``/shared/tx`` to ``WID:SEQ`` (version-checked) and creating
  ``/w/WID/SEQ``.
Writes JSON to OUT: the acknowledged operations, the ones whose outcome is unknown
(CommitUnknownError), the typed errors seen, and the write latencies.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import qcss
from qcss import CommitUnknownError, ConnError, VersionMismatchError


def main() -> None:
    url, wid, stop, out = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    kv = qcss.open(url)
    acked: list[list[str]] = []  # [kind, "wid:seq"]
    unknown: list[list[str]] = []
    errors: dict[str, int] = {}
    lat: list[float] = []
    seq = 0
    while not stop.exists():
        seq += 1
        tag = f"{wid}:{seq}"
        kind = "cas" if seq % 2 else "tx"
        t0 = time.monotonic()
        try:
            if kind == "cas":
                v = kv.getStat("/shared/cas").version
                kv.set("/shared/cas", tag, version=v)
            else:
                v = kv.getStat("/shared/tx").version
                kv.transaction().set("/shared/tx", tag, version=v).create(
                    f"/w/{wid}/{seq:07d}", tag).commit()
            acked.append([kind, tag])
            lat.append(time.monotonic() - t0)
        except VersionMismatchError:
            errors["VersionMismatchError"] = errors.get("VersionMismatchError", 0) + 1
        except CommitUnknownError:
            unknown.append([kind, tag])
        except ConnError as exc:  # still failing after retry_timeout: not acknowledged
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        # Progress for the test (the number of acknowledged writes), cheap to poll.
        if seq % 10 == 0:
            out.with_suffix(".progress").write_text(str(len(acked)))
    out.write_text(json.dumps({"acked": acked, "unknown": unknown, "errors": errors,
                               "latencies": lat}))


if __name__ == "__main__":
    main()
