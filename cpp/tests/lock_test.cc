// qcss: lock_test.cc -- leases and locks over the public API, with threads, on
// mem, SQLite and MariaDB (the multi-process tests are in tests/test_locks.py).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "qcss/KvInterface.h"
#include "qcss/Lease.h"
#include "qcss/Lock.h"
#include "qcss/Open.h"
#include "stores.h"
#include "testing.h"
#ifdef QCSS_WITH_MYSQL
#include "mysql_admin.h"
#endif

using namespace qcss;
using namespace qcss::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// One store per backend for the whole run: mem, a fresh SQLite file, a fresh
// MariaDB database ($QCSS_TEST_MYSQL_URL's server, default root@127.0.0.1:3306;
// skipped when unreachable unless CI is set). Dropped at exit.
struct Stores {
    std::vector<std::string> urls{"mem://"};
    std::string sqlitePath;
    std::string server, mysqlDb;
    Stores() {
#ifdef QCSS_WITH_SQLITE
        sqlitePath = "/tmp/" + randomName("qcss_l_") + ".db";
        urls.push_back("sqlite://" + sqlitePath + "?create=1");
#endif
#ifdef QCSS_WITH_MYSQL
        if (mysqlAvailable()) {
            mysqlDb = randomName("qcss_l_");
            server = mysqlServer();
            detail::mysqlServerExec(withDb(server, "mysql"), "CREATE DATABASE " + mysqlDb);
            detail::installMysqlSchema(withDb(server, mysqlDb));
            urls.push_back(withDb(server, mysqlDb));
        }
#endif
    }
    ~Stores() {
        if (!sqlitePath.empty())
            for (char const* sfx : {"", "-wal", "-shm"}) std::remove((sqlitePath + sfx).c_str());
#ifdef QCSS_WITH_MYSQL
        if (!server.empty()) {
            try {
                detail::mysqlServerExec(withDb(server, "mysql"), "DROP DATABASE " + mysqlDb);
            } catch (std::exception const&) {
            }
        }
#endif
    }
};

std::vector<std::string> const& urls() {
    static Stores stores;
    return stores.urls;
}

// Poll `cond` until true or `limit` passes; returns whether it became true.
template <typename F>
bool eventually(F cond, std::chrono::milliseconds limit) {
    auto const end = Clock::now() + limit;
    while (Clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return cond();
}

}  // namespace

TEST_CASE("lease: keys bound to it vanish on revoke, one Delete each in the feed") {
    for (auto const& url : urls()) {
        auto kv = open(url);
        auto lease = grantLease(kv, 2000ms);
        CHECK(lease->id() > 0);
        kv->create("/live/w1", "up", CreateMode::Exact, lease->id());
        kv->create("/live/w1/port", "5012", CreateMode::Exact, lease->id());
        CHECK_EQ(kv->getStat("/live/w1").lease, lease->id());
        std::int64_t const before = kv->revision();
        lease->revoke();
        CHECK(!kv->exists("/live/w1"));
        auto ch = kv->changes(before, "/live");
        CHECK_EQ(ch.size(), std::size_t(2));
        for (auto const& c : ch) CHECK(c.kind == ChangeKind::Delete);
        CHECK_THROWS(kv->create("/live/w2", "", CreateMode::Exact, lease->id()), LeaseExpired);
    }
}

TEST_CASE("lease: kept alive past its TTL by the thread") {
    auto kv = open("mem://");
    auto lease = grantLease(kv, 400ms);
    kv->create("/eph", "", CreateMode::Exact, lease->id());
    auto const until = Clock::now() + 1000ms;
    while (Clock::now() < until) {
        CHECK(kv->exists("/eph"));
        std::this_thread::sleep_for(20ms);
    }
    CHECK(lease->alive());
}

TEST_CASE("lease: lost when revoked behind its back; callback runs once") {
    auto kv = open("mem://");
    std::atomic<int> calls{0};
    LeaseOptions o;
    o.onLost = [&](std::int64_t) { ++calls; };
    auto lease = grantLease(kv, 90ms, o);
    kv->revokeLease(lease->id());
    CHECK(eventually([&] { return lease->lost(); }, 1000ms));
    CHECK_EQ(calls.load(), 1);
    CHECK(!lease->keepAlive());
}

TEST_CASE("lock: exclusive excludes, tokens grow, release frees") {
    for (auto const& url : urls()) {
        auto kv = open(url);
        LockOptions o;
        o.timeout = 0ms;
        o.purpose = "test";
        auto a = lock(kv, "/DBS/LSST", o);
        CHECK(a->token() > 0);
        CHECK(a->valid());
        CHECK_THROWS(lock(kv, "/DBS/LSST", o), LockTimeout);
        auto other = lock(kv, "/DBS/OTHER", o);  // another key: independent
        auto ls = locks(*kv, "/DBS");
        CHECK_EQ(ls.size(), std::size_t(2));
        CHECK(ls[0].held);
        CHECK_EQ(ls[0].purpose, std::string("test"));
        std::int64_t const t1 = a->token();
        a->release();
        auto b = lock(kv, "/DBS/LSST", o);
        CHECK(b->token() > t1);
        CHECK(!a->valid());
    }
}

TEST_CASE("lock: shared locks share, a writer waits for them, readers queue behind it") {
    for (auto const& url : urls()) {
        auto kv = open(url);
        LockOptions sh;
        sh.shared = true;
        sh.timeout = 0ms;
        auto r1 = lock(kv, "/k", sh);
        auto r2 = lock(kv, "/k", sh);
        std::atomic<bool> writerHas{false};
        std::thread w([&] {
            LockOptions x;
            x.timeout = 5000ms;
            auto l = lock(kv, "/k", x);
            writerHas = true;
            std::this_thread::sleep_for(50ms);
        });
        // The writer's request is queued...
        CHECK(eventually([&] { return locks(*kv, "/k").size() == 3; }, 2000ms));
        CHECK(!writerHas);
        // ...so a new reader cannot slip past it (no starvation).
        CHECK_THROWS(lock(kv, "/k", sh), LockTimeout);
        r1.reset();
        r2.reset();
        CHECK(eventually([&] { return writerHas.load(); }, 2000ms));
        w.join();
        auto r3 = lock(kv, "/k", sh);
        CHECK(r3 != nullptr);
    }
}

TEST_CASE("lock: threads incrementing under the lock lose nothing") {
    for (auto const& url : urls()) {
        auto kv = open(url);
        kv->set("/counter", "0");
        std::vector<std::thread> ts;
        int const n = 4, m = 25;
        for (int i = 0; i < n; ++i)
            ts.emplace_back([&] {
                for (int j = 0; j < m; ++j) {
                    LockOptions o;
                    o.timeout = 30000ms;
                    auto l = lock(kv, "/counter", o);
                    int const v = std::stoi(kv->get("/counter"));
                    std::this_thread::yield();
                    kv->transaction().checkLock(*l).set("/counter", std::to_string(v + 1)).commit();
                }
            });
        for (auto& t : ts) t.join();
        CHECK_EQ(kv->get("/counter"), std::to_string(n * m));
    }
}

TEST_CASE("lock: fencing refuses a stale holder's write") {
    for (auto const& url : urls()) {
        auto kv = open(url);
        LockOptions o;
        o.timeout = 0ms;
        auto a = lock(kv, "/fence", o);
        std::int64_t const token = a->token();
        kv->transaction().checkLock(token).set("/fenced", "ok").commit();
        auto broken = breakLock(*kv, "/fence");
        CHECK_EQ(broken.size(), std::size_t(1));
        CHECK(!a->valid());
        CHECK_THROWS(kv->transaction().checkLock(*a).set("/fenced", "stale").commit(),
                     VersionMismatchError);
        CHECK_THROWS(kv->transaction().checkLock(token).set("/fenced", "stale").commit(),
                     VersionMismatchError);
        CHECK_EQ(kv->get("/fenced"), std::string("ok"));
        auto b = lock(kv, "/fence", o);
        CHECK(b->token() > token);
    }
}

TEST_CASE("lock: timeout is on time and withdraws the request") {
    for (auto const& url : urls()) {
        auto kv = open(url);
        auto a = lock(kv, "/t");
        LockOptions o;
        o.timeout = 300ms;
        auto const t0 = Clock::now();
        CHECK_THROWS(lock(kv, "/t", o), LockTimeout);
        auto const took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
        CHECK(took >= 300ms);
        CHECK(took < 800ms);
        CHECK_EQ(locks(*kv, "/t").size(), std::size_t(1));
    }
}

TEST_CASE("lock: keys with an @lock component are refused") {
    auto kv = open("mem://");
    CHECK_THROWS(lock(kv, "/a/@lock/b"), InvalidKeyError);
    CHECK_EQ(lockDir("/"), std::string("/.qcss/locks/@lock"));
    CHECK_EQ(lockDir("/DBS/LSST"), std::string("/.qcss/locks/DBS/LSST/@lock"));
}

QCSS_TEST_MAIN()
