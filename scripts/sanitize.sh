#!/usr/bin/env bash
# The C++ tests under sanitizers, each in its own build directory:
#   build/asan: every C++ test (ctest) with AddressSanitizer + UndefinedBehaviorSanitizer
#               (leaks included; any report fails the run);
#   build/tsan: the threaded tests (watch_test: watchers and mirrors; lock_test:
#               leases and locks; sql_test: the SQL core's connection pool shared by
#               threads) with ThreadSanitizer (scripts/tsan.supp for reports in
#               uninstrumented system libraries, if any).
# MySQL tests use $QCSS_TEST_MYSQL_URL like the plain run. Run by scripts/test.sh
# when CI is set or with --sanitize; alone: bash scripts/sanitize.sh [asan|tsan].
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${QCSS_JOBS:-$(nproc)}"
what="${1:-all}"
export CMAKE_CXX_COMPILER_LAUNCHER="${CMAKE_CXX_COMPILER_LAUNCHER:-$(command -v ccache || true)}"

configure() {  # dir, flags
  cmake -S . -B "$1" -DQCSS_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS="$2 -fno-omit-frame-pointer" \
        -DCMAKE_EXE_LINKER_FLAGS="$2" -DCMAKE_SHARED_LINKER_FLAGS="$2" >/dev/null
}

if [[ "$what" == all || "$what" == asan ]]; then
  echo "== C++ tests under ASan + UBSan (build/asan)"
  flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
  configure build/asan "$flags"
  cmake --build build/asan -j"$jobs"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir build/asan --output-on-failure
fi

if [[ "$what" == all || "$what" == tsan ]]; then
  echo "== watcher/mirror, lock/lease and pool tests under TSan (build/tsan)"
  configure build/tsan "-fsanitize=thread"
  cmake --build build/tsan -j"$jobs" --target watch_test lock_test sql_test
  for t in watch_test lock_test sql_test; do
    echo "-- $t"
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp" \
      "build/tsan/$t"
  done
fi
