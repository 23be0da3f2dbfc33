#!/usr/bin/env bash
# Run every check and test: lint (ruff), types (mypy), the C++ unit tests (ctest,
# warnings as errors), and the pytest suite (every backend, MySQL included).
#   --sanitize  also the C++ tests under ASan+UBSan and TSan (scripts/sanitize.sh);
#               on by default when CI is set
#   --fast      (or QCSS_FAST=1) for local runs: no slow tests, no sanitizers
# Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
[[ -n "${CI:-}" ]] && sanitize=1
fast="${QCSS_FAST:-0}"
args=()
for a in "$@"; do
  case "$a" in
    --sanitize) sanitize=1 ;;
    --fast) fast=1 ;;
    *) args+=("$a") ;;
  esac
done
if [[ "$fast" == 1 ]]; then
  sanitize=0
  args=(-m "not slow" "${args[@]}")
fi
bash scripts/setup.sh
bash scripts/setup-test.sh   # the test-only system packages (MariaDB server, ZooKeeper, ...)
export PATH="$PWD/.venv/bin:$PATH"
# A MariaDB server for the C++ and Python MySQL tests (exports QCSS_TEST_MYSQL_URL).
source scripts/mysql-for-tests.sh

echo "== ruff"; ruff check python tests bench
echo "== mypy"; mypy
echo "== C++ build + ctest"
cmake -S . -B build/cpp -DQCSS_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/cpp -j"$(nproc)"
ctest --test-dir build/cpp --output-on-failure
echo "== C++ package: install, then find_package(qcss) from a consumer project"
rm -rf build/install build/consumer
cmake --install build/cpp --prefix build/install >/dev/null
cmake -S examples/cpp-consumer -B build/consumer -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build/consumer -j"$(nproc)" >/dev/null
build/consumer/consumer mem://
echo "== C++ package, shared libqcss (-DQCSS_SHARED=ON): install, consumer links libqcss.so"
rm -rf build/install-shared build/consumer-shared
cmake -S . -B build/cpp-shared -DQCSS_SHARED=ON -DQCSS_BUILD_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/cpp-shared -j"$(nproc)"
cmake --install build/cpp-shared --prefix build/install-shared >/dev/null
cmake -S examples/cpp-consumer -B build/consumer-shared \
      -DCMAKE_PREFIX_PATH="$PWD/build/install-shared" >/dev/null
cmake --build build/consumer-shared -j"$(nproc)" >/dev/null
ldd build/consumer-shared/consumer | grep -q "build/install-shared/lib/libqcss.so" || {
  echo "consumer-shared does not link the installed libqcss.so" >&2; exit 1; }
build/consumer-shared/consumer mem://
echo "== wheel: auditwheel-repaired manylinux wheel, installed in a fresh venv"
bash scripts/wheel.sh
if [[ "$sanitize" == 1 ]]; then
  bash scripts/sanitize.sh
fi
echo "== pytest"; pytest "${args[@]}"
if [ -n "${CI:-}" ]; then
  echo "== fuzz: every target of fuzz/targets.py, time-boxed (atheris)"
  bash fuzz/run.sh "${QCSS_FUZZ_SECONDS:-20}"
fi
