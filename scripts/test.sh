#!/usr/bin/env bash
# Run every check and test: lint (ruff), types (mypy), the C++ unit tests (ctest,
# warnings as errors), and the pytest suite (every backend, MySQL included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

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
echo "== pytest"; pytest "$@"
