#!/usr/bin/env bash
# Time-boxed fuzzing of every target in fuzz/targets.py with atheris (libFuzzer):
#   fuzz/run.sh [SECONDS per target, default 20] [TARGET...]
# Installs atheris into the project's venv if missing. New inputs found go to a
# scratch directory (the seed corpus in fuzz/corpus/ is not modified); a crash
# leaves crash-* in fuzz/artifacts/ and makes the script fail. Run from
# scripts/test.sh when $CI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SECS=${1:-20}
shift || true
if ! "$PY" -c "import atheris" 2>/dev/null; then
    "$PY" -m pip install -q atheris
fi
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <("$PY" -c "import sys; sys.path.insert(0, 'fuzz'); import targets; print('\n'.join(targets.TARGETS))")
fi
mkdir -p fuzz/artifacts
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "$scratch/$t"
    echo "fuzz: $t for ${SECS}s"
    if ! "$PY" fuzz/fuzz.py "$t" -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=65536 \
            -artifact_prefix="fuzz/artifacts/$t-" -print_final_stats=1 \
            "$scratch/$t" "fuzz/corpus/$t" >"$scratch/$t.log" 2>&1; then
        echo "fuzz: $t FAILED"; tail -40 "$scratch/$t.log"; status=1
    else
        grep -E "stat::number_of_executed_units|Done" "$scratch/$t.log" | tail -2 || true
    fi
done
exit $status
