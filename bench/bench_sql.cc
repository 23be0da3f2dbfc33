// qcss: bench/bench_sql.cc -- qcss on MySQL/MariaDB against raw MariaDB
// Connector/C prepared statements, in one process and one run.
//
//   build/dev/bench_sql [mysql://root@127.0.0.1:3306]   (or $QCSS_TEST_MYSQL_URL)
//
// Creates a fresh database qcss_bench_<random>, installs the schema, measures
// get / set / create / getChildren(1000) / a 1000-key transaction through qcss
// and the same work done with raw prepared statements, prints each ratio and
// the client-server round trips per qcss operation, and drops the database.
// Timings are reported, never asserted (see docs/performance.md).
#include <mysql.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/Url.h"
#include "mysql/MysqlAdmin.h"
#include "qcss/KvInterface.h"
#include "qcss/Open.h"
#include "sql/Driver.h"

namespace {

using Clock = std::chrono::steady_clock;

double secondsOf(std::function<void()> const& f) {
    auto const t0 = Clock::now();
    f();
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void die(MYSQL* my, char const* what) {
    std::fprintf(stderr, "raw %s: %s\n", what, mysql_error(my));
    std::exit(2);
}

/// A raw prepared statement with blob/int params and (optionally) one blob result.
struct Raw {
    MYSQL* my;
    MYSQL_STMT* st;
    explicit Raw(MYSQL* m, std::string const& q) : my(m), st(mysql_stmt_init(m)) {
        if (mysql_stmt_prepare(st, q.data(), q.size()) != 0) {
            std::fprintf(stderr, "prepare %s: %s\n", q.c_str(), mysql_stmt_error(st));
            std::exit(2);
        }
    }
    ~Raw() { mysql_stmt_close(st); }
    void exec(std::vector<MYSQL_BIND>& ps) {
        if (!ps.empty() && mysql_stmt_bind_param(st, ps.data()) != 0) die(my, "bind");
        if (mysql_stmt_execute(st) != 0) {
            std::fprintf(stderr, "execute: %s\n", mysql_stmt_error(st));
            std::exit(2);
        }
    }
    /// Fetch every row's first column as a string.
    std::vector<std::string> fetchStrings() {
        std::vector<std::string> out;
        char buf[4096];
        unsigned long len = 0;
        my_bool isNull = 0;
        MYSQL_BIND b{};
        b.buffer_type = MYSQL_TYPE_BLOB;
        b.buffer = buf;
        b.buffer_length = sizeof buf;
        b.length = &len;
        b.is_null = &isNull;
        mysql_stmt_bind_result(st, &b);
        while (true) {
            int const rc = mysql_stmt_fetch(st);
            if (rc == MYSQL_NO_DATA) break;
            if (rc == 1) die(my, "fetch");
            if (len <= sizeof buf) {
                out.emplace_back(buf, len);
            } else {
                std::string s(len, '\0');
                MYSQL_BIND b2{};
                b2.buffer_type = MYSQL_TYPE_BLOB;
                b2.buffer = s.data();
                b2.buffer_length = len;
                mysql_stmt_fetch_column(st, &b2, 0, 0);
                out.push_back(std::move(s));
            }
        }
        mysql_stmt_free_result(st);
        return out;
    }
};

MYSQL_BIND blob(std::string const& s, unsigned long& len) {
    MYSQL_BIND b{};
    len = static_cast<unsigned long>(s.size());
    b.buffer_type = MYSQL_TYPE_BLOB;
    b.buffer = const_cast<char*>(s.data());
    b.buffer_length = len;
    b.length = &len;
    return b;
}

MYSQL_BIND integer(long long& v) {
    MYSQL_BIND b{};
    b.buffer_type = MYSQL_TYPE_LONGLONG;
    b.buffer = &v;
    return b;
}

void rawQuery(MYSQL* my, std::string const& q) {
    if (mysql_real_query(my, q.data(), q.size()) != 0) die(my, q.c_str());
    if (MYSQL_RES* r = mysql_store_result(my)) mysql_free_result(r);
}

/// Time `q` and `r` (each doing `n` operations per call) in `rounds`
/// alternating blocks, so that load from other processes hits both alike.
/// Returns {qcss seconds, raw seconds} summed over the rounds.
std::pair<double, double> interleaved(int rounds, std::function<void(int)> const& q,
                                      std::function<void(int)> const& r) {
    double tq = 0, tr = 0;
    for (int i = 0; i < rounds; ++i) {
        if (i % 2 == 0) {
            tq += secondsOf([&] { q(i); });
            tr += secondsOf([&] { r(i); });
        } else {
            tr += secondsOf([&] { r(i); });
            tq += secondsOf([&] { q(i); });
        }
    }
    return {tq, tr};
}

struct Line {
    std::string op;
    double qcssRate, rawRate;
    double rtPerOp;
    double target;
    std::string unit;
};

}  // namespace

int main(int argc, char** argv) {
    std::string server = argc > 1 ? argv[1] : "";
    if (server.empty()) {
        char const* env = std::getenv("QCSS_TEST_MYSQL_URL");
        server = env && *env ? env : "mysql://root@127.0.0.1:3306/test";
    }
    auto u = qcss::detail::parseUrl(server);
    std::random_device rd;
    std::string const db = "qcss_bench_" + std::to_string(rd() % 100000000);
    std::string const base = server.substr(0, server.find('/', server.find("://") + 3));
    std::string const url = base + "/" + db;
    qcss::detail::mysqlServerExec(base + "/mysql", "CREATE DATABASE " + db);
    qcss::detail::installMysqlSchema(url);
    std::vector<Line> lines;
    {
        auto kv = qcss::open(url);
        MYSQL* my = mysql_init(nullptr);
        if (!mysql_real_connect(my, u.host.c_str(), u.user.empty() ? nullptr : u.user.c_str(),
                                u.hasPassword ? u.password.c_str() : nullptr, db.c_str(),
                                static_cast<unsigned>(u.port), nullptr, CLIENT_FOUND_ROWS))
            die(my, "connect");
        rawQuery(my, "CREATE TABLE raw_kv LIKE qcss_kv");
        auto& rt = qcss::detail::sql::roundTrips;
        std::string const value(100, 'v');

        int const R = 10;  // alternating rounds per operation

        // ---- get ------------------------------------------------------------
        kv->set("/bench/get", value);
        kv->get("/bench/get");  // prepare outside the timing
        {
            Raw s(my, "SELECT value FROM qcss_kv WHERE path = ?");
            std::string const key = "/bench/get";
            unsigned long len = 0;
            std::vector<MYSQL_BIND> ps{blob(key, len)};
            int const n = 300;
            std::uint64_t const r0 = rt;
            std::uint64_t rtq = 0;
            auto [tq, tr] = interleaved(
                    R,
                    [&](int) {
                        std::uint64_t const b0 = rt;
                        for (int i = 0; i < n; ++i)
                            if (kv->get("/bench/get").size() != value.size()) std::abort();
                        rtq += rt - b0;
                    },
                    [&](int) {
                        for (int i = 0; i < n; ++i) {
                            s.exec(ps);
                            if (s.fetchStrings().at(0).size() != value.size()) std::abort();
                        }
                    });
            (void)r0;
            lines.push_back({"get", R * n / tq, R * n / tr, double(rtq) / (R * n), 0.85, "ops/s"});
        }

        // ---- set (durable) vs raw autocommit UPDATE -------------------------
        kv->set("/bench/set", value);
        kv->set("/bench/set", value);
        rawQuery(my, "INSERT INTO raw_kv VALUES ('/bench/set', 2, '', 1, 1, 1, 0)");
        {
            Raw s(my, "UPDATE raw_kv SET value = ?, version = version + 1 WHERE path = ?");
            std::string const key = "/bench/set";
            unsigned long l1 = 0, l2 = 0;
            std::vector<MYSQL_BIND> ps{blob(value, l1), blob(key, l2)};
            int const n = 40;
            std::uint64_t rtq = 0;
            auto [tq, tr] = interleaved(
                    R,
                    [&](int) {
                        std::uint64_t const b0 = rt;
                        for (int i = 0; i < n; ++i) kv->set("/bench/set", value);
                        rtq += rt - b0;
                    },
                    [&](int) {
                        for (int i = 0; i < n; ++i) s.exec(ps);
                    });
            lines.push_back({"set", R * n / tq, R * n / tr, double(rtq) / (R * n), 0.8, "ops/s"});
        }

        // ---- create vs raw autocommit INSERT ---------------------------------
        kv->create("/bench/create/x");
        {
            Raw s(my, "INSERT INTO raw_kv (path, depth, value, version, create_rev, mod_rev, "
                      "lease_id) VALUES (?, 3, ?, 1, 1, 1, 0)");
            int const n = 40;
            std::uint64_t rtq = 0;
            auto [tq, tr] = interleaved(
                    R,
                    [&](int round) {
                        std::uint64_t const b0 = rt;
                        for (int i = 0; i < n; ++i)
                            kv->create("/bench/create/k" + std::to_string(round * n + i), value);
                        rtq += rt - b0;
                    },
                    [&](int round) {
                        for (int i = 0; i < n; ++i) {
                            std::string const key = "/bench/create/k" + std::to_string(round * n + i);
                            unsigned long l1 = 0, l2 = 0;
                            std::vector<MYSQL_BIND> ps{blob(key, l1), blob(value, l2)};
                            s.exec(ps);
                        }
                    });
            lines.push_back({"create", R * n / tq, R * n / tr, double(rtq) / (R * n), 0, "ops/s"});
        }

        // ---- getChildren(1000) ----------------------------------------------
        {
            auto t = kv->transaction();
            for (int i = 0; i < 1000; ++i) {
                char name[32];
                std::snprintf(name, sizeof name, "/bench/kids/c%04d", i);
                t.set(name, value);
            }
            t.commit();
        }
        kv->getChildren("/bench/kids");
        {
            Raw s(my, "SELECT path FROM qcss_kv WHERE depth = ? AND path >= ? AND path < ? "
                      "ORDER BY depth, path");
            long long depth = 3;
            std::string const lo = "/bench/kids/", hi = "/bench/kids0";
            unsigned long l1 = 0, l2 = 0;
            std::vector<MYSQL_BIND> ps{integer(depth), blob(lo, l1), blob(hi, l2)};
            int const n = 30;
            std::uint64_t rtq = 0;
            auto [tq, tr] = interleaved(
                    R,
                    [&](int) {
                        std::uint64_t const b0 = rt;
                        for (int i = 0; i < n; ++i)
                            if (kv->getChildren("/bench/kids").size() != 1000) std::abort();
                        rtq += rt - b0;
                    },
                    [&](int) {
                        for (int i = 0; i < n; ++i) {
                            s.exec(ps);
                            auto rows = s.fetchStrings();
                            std::vector<std::string> names;
                            names.reserve(rows.size());
                            for (auto& r : rows) names.push_back(r.substr(lo.size()));
                            if (names.size() != 1000) std::abort();
                        }
                    });
            lines.push_back({"getChildren(1000)", R * n / tq, R * n / tr, double(rtq) / (R * n),
                             0.9, "ops/s"});
        }

        // ---- 1000-key transaction ----------------------------------------------
        {
            std::string sqlText = "INSERT INTO raw_kv (path, depth, value, version, create_rev, "
                                  "mod_rev, lease_id) VALUES ";
            for (int i = 0; i < 1000; ++i) sqlText += i ? ",(?,4,?,1,1,1,0)" : "(?,4,?,1,1,1,0)";
            Raw s(my, sqlText);
            int const n = 2;
            std::uint64_t rtq = 0;
            auto [tq, tr] = interleaved(
                    R,
                    [&](int round) {
                        std::uint64_t const b0 = rt;
                        for (int k = 0; k < n; ++k) {
                            auto t = kv->transaction();
                            for (int i = 0; i < 1000; ++i) {
                                char name[48];
                                std::snprintf(name, sizeof name, "/bench/txn/r%02d/k%04d",
                                              round * n + k, i);
                                t.set(name, value);
                            }
                            t.commit();
                        }
                        rtq += rt - b0;
                    },
                    [&](int round) {
                        for (int k = 0; k < n; ++k) {
                            std::vector<std::string> keys(1000);
                            std::vector<unsigned long> lens(2000);
                            std::vector<MYSQL_BIND> ps;
                            for (std::size_t i = 0; i < 1000; ++i) {
                                char name[48];
                                std::snprintf(name, sizeof name, "/bench/txn/r%02d/k%04zu",
                                              round * n + k, i);
                                keys[i] = name;
                                ps.push_back(blob(keys[i], lens[2 * i]));
                                ps.push_back(blob(value, lens[2 * i + 1]));
                            }
                            rawQuery(my, "START TRANSACTION");
                            s.exec(ps);
                            rawQuery(my, "COMMIT");
                        }
                    });
            lines.push_back({"txn(1000 keys)", R * n * 1000 / tq, R * n * 1000 / tr,
                             double(rtq) / (R * n), 50000, "keys/s"});
        }
        mysql_close(my);
    }
    qcss::detail::mysqlServerExec(base + "/mysql", "DROP DATABASE " + db);

    std::printf("%-20s %14s %14s %8s %10s %s\n", "operation", "qcss", "raw", "ratio",
                "RT/op", "target");
    for (auto const& l : lines) {
        double const ratio = l.qcssRate / l.rawRate;
        std::string target;
        if (l.unit == "keys/s")
            target = ">= 50000 keys/s: " + std::string(l.qcssRate >= l.target ? "met" : "MISSED");
        else if (l.target > 0)
            target = ">= " + std::to_string(l.target).substr(0, 4) + "x raw: " +
                     (ratio >= l.target ? "met" : "MISSED");
        std::printf("%-20s %10.0f %-3s %10.0f %-3s %8.2f %10.1f %s\n", l.op.c_str(), l.qcssRate,
                    l.unit == "keys/s" ? "k/s" : "/s", l.rawRate, l.unit == "keys/s" ? "k/s" : "/s",
                    ratio, l.rtPerOp, target.c_str());
    }
    return 0;
}
