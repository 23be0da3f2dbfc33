#!/usr/bin/env bash
# The test-only system packages, on top of scripts/setup.sh: what the test suite,
# the benchmarks and the fault/fuzz tests need but the library and css-admin never do.
# scripts/test.sh runs it; using the library needs only scripts/setup.sh.
# Append a tool here (one package per line, with why) rather than to setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_PKGS=(
  mariadb-server   # a private mariadbd for the fault tests; the MySQL tests' server
  mariadb-client   # mysql/mysqladmin for scripts/mysql-for-tests.sh
  zookeeper        # the live-ZooKeeper migration tests (tests/test_migrate_zk_live.py)
  sqlite3          # the sqlite3 shell used by the C++ schema-version test
  etcd-server      # bench/peers.py runs qcss against etcd (and ZooKeeper) on this machine
  galera-4         # the Galera cluster of tests/test_galera.py and bench/bench_ha.py
  rsync            # Galera state transfers (wsrep_sst_rsync) when a node rejoins
)
source scripts/apt-install.sh
apt_install "${TEST_PKGS[@]}"
