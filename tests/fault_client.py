"""A writer for tests/test_faults_mysql.py, run as a subprocess and SIGKILLed
mid-stream: writes two-key transactions under /c/<tag>/ and prints each
acknowledged index (flushed) on stdout.

usage: python fault_client.py URL TAG
"""

from __future__ import annotations

import sys

import qcss


def main() -> None:
    url, tag = sys.argv[1], sys.argv[2]
    kv = qcss.open(url)
    i = 0
    while True:
        val = str(i).encode() * 200
        t = kv.transaction()
        t.set(f"/c/{tag}/a{i:06d}", val)
        t.set(f"/c/{tag}/b{i:06d}", val)
        t.commit()
        print(i, flush=True)
        i += 1


if __name__ == "__main__":
    main()
