# Source me (bash): make sure a MariaDB/MySQL server answers for the tests and
# export QCSS_TEST_MYSQL_URL (read by cpp/tests/sql_test.cc and tests/conftest.py).
# Order: $QCSS_TEST_MYSQL_URL if set; else 127.0.0.1:3306 if it answers; else a
# throwaway mariadbd in a temporary directory, stopped when the shell exits.
# (QCSS_TEST_START_MARIADB=1 forces the throwaway server.)
qcss_port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "${QCSS_TEST_MYSQL_URL:-}" ]; then
  if [ "${QCSS_TEST_START_MARIADB:-0}" != 1 ] && qcss_port_answers 3306; then
    export QCSS_TEST_MYSQL_URL="mysql://root@127.0.0.1:3306"
  else
    QCSS_MARIADB_DIR=$(mktemp -d /tmp/qcss-mariadb.XXXXXX)
    QCSS_MARIADB_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mariadb-install-db --no-defaults --datadir="$QCSS_MARIADB_DIR/data" \
      --auth-root-authentication-method=normal --skip-test-db --user="$(id -un)" \
      >"$QCSS_MARIADB_DIR/install.log" 2>&1
    mariadbd --no-defaults --datadir="$QCSS_MARIADB_DIR/data" --socket="$QCSS_MARIADB_DIR/sock" \
      --port="$QCSS_MARIADB_PORT" --bind-address=127.0.0.1 --max-allowed-packet=64M \
      --skip-log-bin --user="$(id -un)" >"$QCSS_MARIADB_DIR/mariadbd.log" 2>&1 &
    QCSS_MARIADB_PID=$!
    trap 'kill "$QCSS_MARIADB_PID" 2>/dev/null; wait "$QCSS_MARIADB_PID" 2>/dev/null; rm -rf "$QCSS_MARIADB_DIR"' EXIT
    for _ in $(seq 1 120); do
      qcss_port_answers "$QCSS_MARIADB_PORT" && break
      kill -0 "$QCSS_MARIADB_PID" 2>/dev/null || { cat "$QCSS_MARIADB_DIR/mariadbd.log" >&2; break; }
      sleep 0.5  # waiting for the server process to come up
    done
    export QCSS_TEST_MYSQL_URL="mysql://root@127.0.0.1:$QCSS_MARIADB_PORT"
    echo "mysql-for-tests: started a throwaway mariadbd on port $QCSS_MARIADB_PORT" >&2
  fi
fi
