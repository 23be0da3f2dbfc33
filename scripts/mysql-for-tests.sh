# Source me (bash): make sure a MariaDB/MySQL server answers for the tests and
# export QCSS_TEST_MYSQL_URL (read by cpp/tests/sql_test.cc and tests/conftest.py).
# Order: $QCSS_TEST_MYSQL_URL if set; else 127.0.0.1:3306 if it answers; else a
# throwaway mariadbd in a temporary directory, stopped when the shell exits.
# (QCSS_TEST_START_MARIADB=1 forces the throwaway server.)
# Finding and starting the server is python/qcss/testing/mysql.py's (the one
# starter, also the Python tests' harness); this file only keeps a server it
# started for the lifetime of the sourcing shell and stops it by its pid.
if [ -z "${QCSS_TEST_MYSQL_URL:-}" ]; then
  QCSS_MARIADB_DIR=$(mktemp -d /tmp/qcss-mariadb.XXXXXX)
  QCSS_MARIADB_PID=
  if qcss_mysql_env=$(python3 -c 'import sys; from qcss.testing.mysql import main; sys.exit(main())' \
                     start "$QCSS_MARIADB_DIR"); then
    eval "$qcss_mysql_env"
  fi
  qcss_stop_mariadb() {
    if [ -n "$QCSS_MARIADB_PID" ]; then
      kill "$QCSS_MARIADB_PID" 2>/dev/null
      for _ in $(seq 1 600); do  # up to 60 s for its shutdown (not a child: no wait)
        kill -0 "$QCSS_MARIADB_PID" 2>/dev/null || break
        sleep 0.1
      done
    fi
    rm -rf "$QCSS_MARIADB_DIR"
  }
  trap qcss_stop_mariadb EXIT
fi
