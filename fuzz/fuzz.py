"""atheris harness: python fuzz/fuzz.py TARGET [libFuzzer options] [corpus dirs].

TARGET is one of fuzz/targets.py's TARGETS; its seed corpus is fuzz/corpus/TARGET.
fuzz/run.sh runs each for a short, time-boxed session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

# A bomb in a fuzzed input must not stop the fuzzer: keep inflation small.
os.environ.setdefault("QCSS_MIGRATE_MAX_INFLATED", str(16 << 20))

sys.path.insert(0, str(Path(__file__).parent))

with atheris.instrument_imports():
    import qcss.migrate.formats
    import qcss.migrate.inflate
    import qcss.migrate.sources
    import qcss.migrate.zkdata  # noqa: F401
    import targets


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: fuzz.py TARGET [libFuzzer options]; targets: "
                 f"{', '.join(targets.TARGETS)}")
    fn = targets.TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], fn)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
