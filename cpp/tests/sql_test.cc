// qcss: sql_test.cc -- the C++ conformance loop: every backend (mem://, SQLite
// always; MySQL/MariaDB through $QCSS_TEST_MYSQL_URL, default
// mysql://root@127.0.0.1:3306/<fresh database>), plus SQL-specific cases.
// Every onEach case runs on each backend (Backends::SqlOnly: not mem://, for
// cases that reopen their URL); MySQL cases fail (not skip) when CI is set and
// no server answers.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "qcss/Key.h"
#include "qcss/KvInterface.h"
#include "qcss/Open.h"
#include "stores.h"
#include "testing.h"
#ifdef QCSS_WITH_MYSQL
#include "mysql_admin.h"
#include "sql/Driver.h"
#endif

using namespace qcss;
using namespace qcss::testing;

namespace {

struct Store {
    std::string url;
    std::function<void()> cleanup;
};


Store sqliteStore() {
    std::string const path = "/tmp/" + randomName("qcss_sqlite_test_") + ".db";
    return Store{"sqlite://" + path + "?create=1", [path] {
                     std::remove(path.c_str());
                     std::remove((path + "-wal").c_str());
                     std::remove((path + "-shm").c_str());
                 }};
}

#ifdef QCSS_WITH_MYSQL
Store mysqlStore() {
    std::string const db = randomName("qcss_t_");
    std::string const server = mysqlServer();
    detail::mysqlServerExec(withDb(server, "mysql"), "CREATE DATABASE " + db);
    std::string const url = withDb(server, db);
    detail::installMysqlSchema(url);
    return Store{url, [server, db] {
                     detail::mysqlServerExec(withDb(server, "mysql"), "DROP DATABASE " + db);
                 }};
}
#endif

/// Which backends a conformance case runs on.
enum class Backends {
    All,      ///< mem://, sqlite, mysql
    SqlOnly,  ///< the case reopens its URL (a second client, read-only): not mem://,
              ///< whose every open() is a new store
};

/// Run `fn` on a fresh store of every backend (the one C++ conformance loop:
/// mem_test.cc keeps only what is mem-specific).
void onEach(std::function<void(KvPtr, std::string const&)> const& fn,
            Backends which = Backends::All) {
    std::vector<std::pair<std::string, std::function<Store()>>> makers;
    if (which == Backends::All) makers.emplace_back("mem", [] { return Store{"mem://", [] {}}; });
#ifdef QCSS_WITH_SQLITE
    makers.emplace_back("sqlite", sqliteStore);
#endif
#ifdef QCSS_WITH_MYSQL
    if (mysqlAvailable()) makers.emplace_back("mysql", mysqlStore);
#endif
    for (auto const& [name, make] : makers) {
        Store s = make();
        try {
            fn(open(s.url), s.url);
        } catch (std::exception const& e) {
            std::cerr << "  [" << name << "] unexpected exception: " << e.what() << "\n";
            ++testing::failures();
        }
        s.cleanup();
    }
}

}  // namespace

TEST_CASE("fresh store: implicit root absent, revision 0, schema created") {
    onEach([](KvPtr kv, std::string const&) {
        CHECK(!kv->exists("/"));
        CHECK_EQ(kv->revision(), 0);
        CHECK_THROWS(kv->getChildren("/"), NoSuchKey);
        CHECK_THROWS(kv->getStat("/"), NoSuchKey);
        CHECK_THROWS(kv->get("/"), NoSuchKey);
    });
}

TEST_CASE("create, get, set, parents, versions, revisions, stat") {
    onEach([](KvPtr kv, std::string const&) {
        CHECK_EQ(kv->create("/a/b/c", "v"), std::string("/a/b/c"));
        CHECK_EQ(kv->get("/a/b/c"), std::string("v"));
        CHECK_EQ(kv->get("/a/b"), std::string());
        CHECK_EQ(kv->revision(), 1);
        KeyStat s = kv->getStat("/a/b/c");
        CHECK_EQ(s.version, 1);
        CHECK_EQ(s.createRevision, 1);
        CHECK_EQ(kv->set("/a/b/c", "ww"), 2);
        s = kv->getStat("/a/b/c");
        CHECK_EQ(s.modRevision, 2);
        CHECK_EQ(s.createRevision, 1);
        CHECK_EQ(s.dataLength, 2);
        CHECK_EQ(kv->getStat("/a").numChildren, 1);
        CHECK_EQ(kv->getStat("/").numChildren, 1);
        CHECK_THROWS(kv->create("/a/b/c"), KeyExistsError);
        CHECK_THROWS(kv->get("/nope"), NoSuchKey);
        CHECK_EQ(kv->get("/nope", "dflt"), std::string("dflt"));
        CHECK_EQ(kv->revision(), 2);
        CHECK_EQ(kv->set("/", "root"), 1);
        CHECK_THROWS(kv->create("/"), KeyExistsError);  // the root was set
        CHECK_EQ(kv->get("/"), std::string("root"));
        // Parent Puts come first, then the key, all at the batch's revision.
        auto ch = kv->changes(0);
        CHECK_EQ(ch.size(), 5u);
        if (ch.size() == 5) {
            CHECK_EQ(ch[0].key, std::string("/a"));
            CHECK_EQ(ch[1].key, std::string("/a/b"));
            CHECK_EQ(ch[2].key, std::string("/a/b/c"));
            CHECK_EQ(ch[2].value, std::string("v"));
            CHECK_EQ(ch[0].revision, 1);
            CHECK_EQ(ch[2].revision, 1);
            CHECK_EQ(ch[3].revision, 2);
            CHECK_EQ(ch[3].version, 2);
            CHECK(ch[3].time > 1.7e9);
            CHECK_EQ(ch[3].client, kv->clientId());
        }
    });
}

TEST_CASE("compare-and-set, compare-and-delete") {
    onEach([](KvPtr kv, std::string const&) {
        kv->set("/k", "1");
        CHECK_THROWS(kv->set("/k", "2", 7), VersionMismatchError);
        CHECK_THROWS(kv->set("/missing", "2", 1), NoSuchKey);
        CHECK_EQ(kv->set("/k", "2", 1), 2);
        CHECK_THROWS(kv->deleteKey("/k", 1), VersionMismatchError);
        kv->deleteKey("/k", 2);
        CHECK(!kv->exists("/k"));
        CHECK_THROWS(kv->deleteKey("/k"), NoSuchKey);
        CHECK_THROWS(kv->deleteKey("/"), InvalidKeyError);
        CHECK_EQ(kv->revision(), 3);
    });
}

TEST_CASE("transactions: in order, all or nothing, one revision") {
    onEach([](KvPtr kv, std::string const&) {
        kv->create("/t/x", "1");
        std::int64_t const r0 = kv->revision();
        // Each op sees the previous ones.
        auto res = kv->transaction()
                           .create("/t/y", "a")
                           .check("/t/y", 1)
                           .set("/t/y", "b", 1)
                           .deleteKey("/t/x")
                           .create("/t/x", "again")
                           .commitWithResults();
        CHECK_EQ(res.revision, r0 + 1);
        CHECK_EQ(kv->get("/t/y"), std::string("b"));
        CHECK_EQ(kv->get("/t/x"), std::string("again"));
        CHECK_EQ(kv->getStat("/t/x").createRevision, r0 + 1);
        CHECK_EQ(res.results.at(2).version, 2);
        // A failing op undoes everything.
        std::int64_t const r1 = kv->revision();
        CHECK_THROWS(kv->transaction().set("/t/z", "1").check("/t/y", 1).commit(),
                     VersionMismatchError);
        CHECK(!kv->exists("/t/z"));
        CHECK_EQ(kv->revision(), r1);
        CHECK_THROWS(kv->transaction().set("/t/q/r", "1").create("/t/x").commit(), KeyExistsError);
        CHECK(!kv->exists("/t/q"));
        CHECK_EQ(kv->revision(), r1);
        // Checks only: no revision taken.
        CHECK_EQ(kv->transaction().check("/t/y", 2).check("/t/none", 0).commit(), r1);
        CHECK_EQ(kv->revision(), r1);
        CHECK_EQ(kv->transaction().commit(), r1);
        // checkCreateRevision
        CHECK_THROWS(kv->transaction().checkCreateRevision("/t/x", 1).commit(),
                     VersionMismatchError);
        kv->transaction().checkCreateRevision("/t/x", r0 + 1).set("/t/x", "3").commit();
        CHECK_EQ(kv->get("/t/x"), std::string("3"));
    });
}

TEST_CASE("recursive delete: whole subtree, neighbours kept, Delete per key") {
    onEach([](KvPtr kv, std::string const&) {
        kv->create("/d/a/b/c", "1");
        kv->create("/d/a/b2", "2");
        kv->create("/d/a-b", "neighbour");  // '-' sorts before '/'
        kv->create("/d/a0", "neighbour");   // '0' is the byte after '/'
        kv->create("/d/ab", "neighbour");
        std::int64_t const r = kv->revision();
        kv->deleteKey("/d/a");
        CHECK(!kv->exists("/d/a"));
        CHECK(!kv->exists("/d/a/b/c"));
        CHECK(kv->exists("/d/a-b"));
        CHECK(kv->exists("/d/a0"));
        CHECK(kv->exists("/d/ab"));
        auto ch = kv->changes(r);
        CHECK_EQ(ch.size(), 4u);
        for (auto const& c : ch) {
            CHECK(c.kind == ChangeKind::Delete);
            CHECK_EQ(c.revision, r + 1);
        }
        if (ch.size() == 4) {
            CHECK_EQ(ch[0].key, std::string("/d/a/b2"));  // descendants before ancestors
            CHECK_EQ(ch[3].key, std::string("/d/a"));
        }
        auto kids = kv->getChildren("/d");
        CHECK_EQ(kids.size(), 3u);
        if (kids.size() == 3) {
            CHECK_EQ(kids[0], std::string("a-b"));
            CHECK_EQ(kids[1], std::string("a0"));
            CHECK_EQ(kids[2], std::string("ab"));
        }
    });
}

TEST_CASE("unique keys: highest suffix + 1, under a prefix") {
    onEach([](KvPtr kv, std::string const&) {
        CHECK_EQ(kv->create("/u/item_", "a", CreateMode::Unique), std::string("/u/item_0000000001"));
        CHECK_EQ(kv->create("/u/item_", "b", CreateMode::Unique), std::string("/u/item_0000000002"));
        kv->create("/u/item_0000001234", "c");
        kv->create("/u/item_0000001234/child", "c");
        kv->create("/u/item_0000009999x", "not a unique key");
        CHECK_EQ(kv->create("/u/item_", "d", CreateMode::Unique), std::string("/u/item_0000001235"));
        CHECK_EQ(kv->create("/u/", "e", CreateMode::Unique), std::string("/u/0000000001"));
        // Within one batch, and after deleting the highest in the same batch.
        auto res = kv->transaction()
                           .create("/u/item_", "x", CreateMode::Unique)
                           .create("/u/item_", "y", CreateMode::Unique)
                           .deleteKey("/u/item_0000001237")
                           .deleteKey("/u/item_0000001236")
                           .deleteKey("/u/item_0000001235")
                           .create("/u/item_", "z", CreateMode::Unique)
                           .commitWithResults();
        CHECK_EQ(res.results.at(0).key, std::string("/u/item_0000001236"));
        CHECK_EQ(res.results.at(1).key, std::string("/u/item_0000001237"));
        CHECK_EQ(res.results.at(5).key, std::string("/u/item_0000001235"));
    });
}

TEST_CASE("binary-safe keys and values; invalid keys change nothing") {
    onEach([](KvPtr kv, std::string const&) {
        std::vector<std::string> keys = {"/q/it's", "/q/a\"b", "/q/back\\slash", "/q/100%",
                                         "/q/under_score", "/q/%", "/q/_", "/q/'; DROP TABLE qcss_kv; --",
                                         "/q/\xc3\xa9t\xc3\xa9", "/q/UPPER", "/q/upper"};
        std::string value("\0\x01\xff\xfe' \" \\ %_", 12);
        for (auto const& k : keys) kv->create(k, value + k);
        for (auto const& k : keys) CHECK_EQ(kv->get(k), value + k);
        CHECK_EQ(kv->getChildren("/q").size(), keys.size());
        // LIKE wildcards are not wildcards.
        CHECK(!kv->exists("/q/1000"));
        CHECK_EQ(kv->getChildren("/q/%").size(), 0u);
        std::int64_t const r = kv->revision();
        CHECK_THROWS(kv->create(std::string("/q/nul\0x", 8), "v"), InvalidKeyError);
        CHECK_THROWS(kv->create("/q/bad\xff\xfe", "v"), InvalidKeyError);
        CHECK_THROWS(kv->set("/q/x/", "v"), InvalidKeyError);
        CHECK_THROWS(kv->set(std::string(2000, 'a'), "v"), InvalidKeyError);
        CHECK_THROWS(kv->set("/q/big", std::string(kv->maxValueSize() + 1, 'x')),
                     ValueTooLargeError);
        CHECK_THROWS(kv->transaction().set("/q/ok", "1").set("/q/big2", std::string(kv->maxValueSize() + 1, 'x')).commit(),
                     ValueTooLargeError);
        CHECK(!kv->exists("/q/ok"));
        CHECK_EQ(kv->revision(), r);
        // A large value round-trips.
        std::string big(3 * 1024 * 1024 + 7, '\0');
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131);
        kv->set("/q/large", big);
        CHECK(kv->get("/q/large") == big);
        auto many = kv->getMany({"/q/large", "/q/it's", "/q/none"});
        CHECK_EQ(many.size(), 2u);
        CHECK(many["/q/large"] == big);
    });
}

TEST_CASE("snapshot and dumpKV: one consistent sorted copy") {
    onEach([](KvPtr kv, std::string const&) {
        kv->create("/s/b", "2");
        kv->create("/s/a/x", "1");
        kv->create("/sibling", "no");
        Snapshot snap = kv->snapshot("/s");
        CHECK_EQ(snap.revision, kv->revision());
        CHECK_EQ(snap.entries.size(), 4u);
        if (snap.entries.size() == 4) {
            CHECK_EQ(snap.entries[0].key, std::string("/s"));
            CHECK_EQ(snap.entries[0].stat.numChildren, 2);
            CHECK_EQ(snap.entries[1].key, std::string("/s/a"));
            CHECK_EQ(snap.entries[2].key, std::string("/s/a/x"));
            CHECK_EQ(snap.entries[3].key, std::string("/s/b"));
        }
        CHECK(kv->snapshot("/none").entries.empty());
        CHECK_EQ(kv->snapshot("/").entries.size(), 6u);
        CHECK_EQ(kv->dumpKV("/s"), std::string(R"({"\/s\/a": "", "\/s\/a\/x": "1", "\/s\/b": "2"})"));
        auto kids = kv->getChildrenValues("/s");
        CHECK_EQ(kids.size(), 2u);
        CHECK_EQ(kids["b"], std::string("2"));
        CHECK_THROWS(kv->getChildren("/none"), NoSuchKey);
        CHECK(kv->getChildren("/s/b").empty());
    });
}

TEST_CASE("change feed: prefix, limit never splits a revision, compaction") {
    onEach([](KvPtr kv, std::string const&) {
        kv->create("/c/a", "1");                               // rev 1: /c, /c/a
        kv->transaction().set("/c/b", "2").set("/c/c", "3").set("/other", "x").commit();  // rev 2
        kv->deleteKey("/c");                                   // rev 3
        auto all = kv->changes(0, "/c");
        CHECK_EQ(all.size(), 2u + 2u + 4u);
        auto lim = kv->changes(1, "/", 1);
        CHECK_EQ(lim.size(), 3u);  // all of revision 2
        auto lim2 = kv->changes(0, "/c", 3);
        CHECK_EQ(lim2.size(), 4u);
        CHECK_EQ(kv->compact(2), 5);
        CHECK_EQ(kv->compactedRevision(), 2);
        try {
            kv->changes(1);
            CHECK(false);
        } catch (CompactedError const& e) {
            CHECK_EQ(e.oldestAvailable(), 3);
        }
        CHECK_EQ(kv->changes(2).size(), 4u);
        CHECK_EQ(kv->compact(100), 4);  // clamped to the current revision
        CHECK_EQ(kv->compactedRevision(), 3);
    });
}

TEST_CASE("leases: bind, keep, revoke deletes in one revision, expiry") {
    onEach([](KvPtr kv, std::string const&) {
        std::int64_t const l = kv->grantLease(std::chrono::milliseconds(60000), "test");
        CHECK(l > 0);
        kv->create("/w/node1", "alive", CreateMode::Exact, l);
        kv->create("/w/node1/sub", "x");
        kv->set("/w/node2", "alive", -1, l);
        CHECK_EQ(kv->getStat("/w/node1").lease, l);
        kv->set("/w/node1", "again");  // lease 0 keeps the binding
        CHECK_EQ(kv->getStat("/w/node1").lease, l);
        auto ls = kv->leases();
        CHECK_EQ(ls.size(), 1u);
        if (!ls.empty()) {
            CHECK_EQ(ls[0].numKeys, 2);
            CHECK_EQ(ls[0].purpose, std::string("test"));
            CHECK(ls[0].expiresAt > ls[0].grantedAt);
        }
        CHECK(kv->keepLeaseAlive(l));
        CHECK_THROWS(kv->create("/w/x", "", CreateMode::Exact, 999999), LeaseExpired);
        std::int64_t const r = kv->revision();
        kv->revokeLease(l);
        CHECK_EQ(kv->revision(), r + 1);
        CHECK(!kv->exists("/w/node1"));
        CHECK(!kv->exists("/w/node1/sub"));
        CHECK(!kv->exists("/w/node2"));
        CHECK(kv->exists("/w"));
        auto ch = kv->changes(r);
        CHECK_EQ(ch.size(), 3u);
        for (auto const& c : ch) CHECK(c.kind == ChangeKind::Delete);
        CHECK(!kv->keepLeaseAlive(l));
        CHECK(kv->leases().empty());
        kv->revokeLease(l);  // no-op
        CHECK_EQ(kv->revision(), r + 1);
        // Expiry by the server clock, reaped in one revision.
        std::int64_t const s1 = kv->grantLease(std::chrono::milliseconds(150));
        std::int64_t const s2 = kv->grantLease(std::chrono::milliseconds(150));
        kv->create("/e/1", "", CreateMode::Exact, s1);
        kv->create("/e/2", "", CreateMode::Exact, s2);
        CHECK_EQ(kv->reapExpiredLeases(), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(400));  // let the TTL pass
        CHECK(!kv->keepLeaseAlive(s1));
        std::int64_t const r2 = kv->revision();
        CHECK_EQ(kv->reapExpiredLeases(), 2);
        CHECK_EQ(kv->revision(), r2 + 1);
        CHECK(!kv->exists("/e/1"));
        CHECK(!kv->exists("/e/2"));
        CHECK_THROWS(kv->set("/e/3", "", -1, s2), LeaseExpired);
        CHECK_EQ(kv->revision(), r2 + 1);
    });
}

TEST_CASE("leases: an expired lease's keys go before the next write, in their own revision") {
    onEach([](KvPtr kv, std::string const&) {
        kv->set("/other", "0");
        std::int64_t const l = kv->grantLease(std::chrono::milliseconds(150));
        kv->create("/live/node", "up", CreateMode::Exact, l);
        std::this_thread::sleep_for(std::chrono::milliseconds(400));  // let the TTL pass
        CHECK(kv->exists("/live/node"));  // nothing reaped yet: no write happened
        std::int64_t const r = kv->revision();
        CHECK_EQ(kv->set("/other", "1"), 2);
        CHECK(!kv->exists("/live/node"));
        CHECK(kv->leases().empty());
        CHECK_EQ(kv->revision(), r + 2);
        auto ch = kv->changes(r);
        CHECK_EQ(ch.size(), 2u);
        if (ch.size() == 2) {
            CHECK(ch[0].kind == ChangeKind::Delete);
            CHECK_EQ(ch[0].key, std::string("/live/node"));
            CHECK_EQ(ch[0].revision, r + 1);
            CHECK(ch[1].kind == ChangeKind::Put);
            CHECK_EQ(ch[1].revision, r + 2);
        }
        CHECK_EQ(kv->getStat("/other").modRevision, r + 2);
    });
}

TEST_CASE("leases: a batch that fails after the reap does not undo it") {
    onEach([](KvPtr kv, std::string const&) {
        kv->set("/other", "0");
        std::int64_t const l = kv->grantLease(std::chrono::milliseconds(150));
        kv->create("/live/node", "up", CreateMode::Exact, l);
        kv->create("/live/node/child", "c");  // in the lease's subtree
        // Wait for the store to see the lease expired (its clock decides).
        auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        auto alive = [&] {
            for (auto const& li : kv->leases())
                if (li.id == l) return true;
            return false;
        };
        while (alive() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(!alive());
        std::int64_t const r = kv->revision();
        CHECK_THROWS(kv->transaction().check("/other", 99).set("/other", "1").commit(),
                     VersionMismatchError);
        CHECK(!kv->exists("/live/node"));
        CHECK(!kv->exists("/live/node/child"));
        CHECK_EQ(kv->get("/other"), std::string("0"));
        CHECK_EQ(kv->revision(), r + 1);
        auto ch = kv->changes(r);
        CHECK_EQ(ch.size(), 2u);
        for (auto const& c : ch) {
            CHECK(c.kind == ChangeKind::Delete);
            CHECK_EQ(c.revision, r + 1);
        }
        if (ch.size() == 2) {
            CHECK_EQ(ch[0].key, std::string("/live/node/child"));
            CHECK_EQ(ch[1].key, std::string("/live/node"));
        }
        CHECK_EQ(kv->reapExpiredLeases(), 0);  // nothing left: no lock, no revision
        CHECK_EQ(kv->revision(), r + 1);
    });
}

TEST_CASE("changes: the history of one key (and its subtree) among many") {
    onEach([](KvPtr kv, std::string const&) {
        // Over 4096 change rows: SQLite reads a prefix through the path index.
        auto t = kv->transaction();
        for (int i = 0; i < 5000; ++i) t.set("/h/k" + std::to_string(i), "v");
        std::int64_t const r0 = t.commit();
        kv->set("/h/k7", "a");
        kv->set("/h/k70", "sibling");  // shares the byte prefix, not the path
        kv->set("/h/k7/child", "c");
        kv->set("/h/k8", "other");
        kv->deleteKey("/h/k7");
        auto mine = [&](std::int64_t since, std::string const& prefix, std::size_t limit) {
            std::vector<std::string> out;
            for (auto const& c : kv->changes(since, prefix, limit))
                out.push_back(std::to_string(c.revision) + (c.kind == ChangeKind::Put ? "+" : "-") +
                              c.key);
            return out;
        };
        std::string const r = std::to_string(r0);
        auto rv = [&](int d) { return std::to_string(r0 + d); };
        CHECK(mine(0, "/h/k7", 0) ==
              std::vector<std::string>({r + "+/h/k7", rv(1) + "+/h/k7", rv(3) + "+/h/k7/child",
                                        rv(5) + "-/h/k7/child", rv(5) + "-/h/k7"}));
        CHECK(mine(r0, "/h/k7", 0) ==
              std::vector<std::string>({rv(1) + "+/h/k7", rv(3) + "+/h/k7/child",
                                        rv(5) + "-/h/k7/child", rv(5) + "-/h/k7"}));
        CHECK(mine(0, "/h/k7/child", 0) ==
              std::vector<std::string>({rv(3) + "+/h/k7/child", rv(5) + "-/h/k7/child"}));
        CHECK(mine(0, "/h/k70", 0) == std::vector<std::string>({r + "+/h/k70", rv(2) + "+/h/k70"}));
        // limit never splits a revision.
        CHECK(mine(0, "/h/k7", 3) ==
              std::vector<std::string>({r + "+/h/k7", rv(1) + "+/h/k7", rv(3) + "+/h/k7/child"}));
        CHECK(mine(0, "/h/k7", 4) ==
              std::vector<std::string>({r + "+/h/k7", rv(1) + "+/h/k7", rv(3) + "+/h/k7/child",
                                        rv(5) + "-/h/k7/child", rv(5) + "-/h/k7"}));
        CHECK_EQ(kv->changes(0, "/h", 1).size(), 5001u);  // /h and its 5000 keys
        CHECK_EQ(kv->changes(r0, "/h", 0).size(), 6u);
    });
}

TEST_CASE("read-only store refuses writes and changes nothing") {
    onEach([](KvPtr kv, std::string const& url) {
        kv->set("/ro", "1");
        auto ro = open(url, true);
        CHECK(ro->readOnly());
        CHECK_EQ(ro->get("/ro"), std::string("1"));
        CHECK_THROWS(ro->set("/ro", "2"), ReadonlyCss);
        CHECK_THROWS(ro->deleteKey("/ro"), ReadonlyCss);
        CHECK_THROWS(ro->grantLease(std::chrono::milliseconds(1000)), ReadonlyCss);
        CHECK_THROWS(ro->compact(1), ReadonlyCss);
        CHECK_EQ(ro->transaction().check("/ro", 1).commit(), 1);
        CHECK_EQ(kv->get("/ro"), std::string("1"));
    }, Backends::SqlOnly);
}

TEST_CASE("threads: compare-and-set increments lose nothing; concurrent creates") {
    onEach([](KvPtr kv, std::string const&) {
        kv->set("/ctr", "0");
        int const threads = 4, each = 25;
        std::atomic<int> conflicts{0};
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; ++t) {
            ts.emplace_back([&, t] {
                for (int i = 0; i < each; ++i) {
                    while (true) {
                        KeyStat const s = kv->getStat("/ctr");
                        long const v = std::stol(kv->get("/ctr"));
                        try {
                            // get and stat are two reads: re-check with the version.
                            kv->transaction().check("/ctr", s.version).commit();
                            kv->set("/ctr", std::to_string(v + 1), s.version);
                            break;
                        } catch (VersionMismatchError const&) {
                            ++conflicts;
                        }
                    }
                    kv->create("/new/parent/t" + std::to_string(t) + "_" + std::to_string(i));
                }
            });
        }
        for (auto& th : ts) th.join();
        CHECK_EQ(kv->get("/ctr"), std::to_string(threads * each));
        CHECK_EQ(kv->getChildren("/new/parent").size(), static_cast<std::size_t>(threads * each));
        // Revisions in the change log are gapless.
        auto ch = kv->changes(0);
        std::int64_t prev = 0;
        bool gapless = true;
        for (auto const& c : ch) {
            if (c.revision != prev && c.revision != prev + 1) gapless = false;
            prev = c.revision;
        }
        CHECK(gapless);
        CHECK_EQ(prev, kv->revision());
    });
}

TEST_CASE("getMany: many keys in one consistent read; bad options are ConfigError") {
    onEach([](KvPtr kv, std::string const& url) {
        auto t = kv->transaction();
        std::vector<std::string> keys;
        for (int i = 0; i < 1200; ++i) {
            keys.push_back("/m/k" + std::to_string(i));
            t.set(keys.back(), std::to_string(i));
        }
        t.commit();
        keys.push_back("/m/none");
        auto got = kv->getMany(keys);
        CHECK_EQ(got.size(), 1200u);
        CHECK_EQ(got["/m/k1199"], std::string("1199"));
        CHECK_EQ(kv->getChildren("/m").size(), 1200u);
        CHECK_EQ(kv->changes(0).size(), 1201u);
        std::string const sep = url.find('?') == std::string::npos ? "?" : "&";
        CHECK_THROWS(open(url + sep + "pool_size=lots"), ConfigError);
        CHECK_THROWS(open(url + sep + "retry_timeout=-1"), ConfigError);
    }, Backends::SqlOnly);
}

TEST_CASE("sqlite: schema version checks") {
#ifdef QCSS_WITH_SQLITE
    Store s = sqliteStore();
    { auto kv = open(s.url); kv->set("/a", "1"); }
    std::string const path = s.url.substr(9, s.url.find('?') - 9);
    CHECK_EQ(std::system(("sqlite3 " + path + " \"UPDATE qcss_schema_version SET version = version + 98\"").c_str()), 0);
    CHECK_THROWS(open(s.url), SchemaError);
    s.cleanup();
    CHECK_THROWS(open("sqlite:///nonexistent-dir-qcss/x.db", true), ConfigError);
#endif
}

TEST_CASE("sqlite: a missing file is refused unless ?create=1; sqlite://relative is refused") {
#ifdef QCSS_WITH_SQLITE
    std::string const dir = "/tmp/" + randomName("qcss_missing_");
    std::string const file = dir + "/x.db";
    struct stat st{};
    CHECK_THROWS(open("sqlite://" + file), ConfigError);
    CHECK_THROWS(open("sqlite://" + file, true), ConfigError);
    CHECK(::stat(dir.c_str(), &st) != 0);  // nothing created
    CHECK_THROWS(open("sqlite://tmp/x.db"), ConfigError);
    open("sqlite://" + file + "?create=1")->set("/a", "1");
    CHECK_EQ(open("sqlite://" + file, true)->get("/a"), "1");
    for (char const* sfx : {"", "-wal", "-shm"}) std::remove((file + sfx).c_str());
    ::rmdir(dir.c_str());
#endif
}

TEST_CASE("mysql: errors are typed (auth, server down, no schema, bad db)") {
#ifdef QCSS_WITH_MYSQL
    if (!mysqlAvailable()) testing::skipCase("no MySQL server (CI fails instead)");
    Store s = mysqlStore();
    std::string const server = mysqlServer();
    std::string const user = randomName("qcss_u_");
    detail::mysqlServerExec(withDb(server, "mysql"),
                            "CREATE USER '" + user + "'@'%' IDENTIFIED BY 'right'; "
                            "GRANT SELECT ON " + s.url.substr(s.url.rfind('/') + 1) + ".* TO '" +
                                    user + "'@'%'");
    std::string const db = s.url.substr(s.url.rfind('/') + 1);
    // host:port of the test server, from its URL.
    std::string const afterAt = server.substr(server.find('@') + 1);
    std::string const hostPart = afterAt.substr(0, afterAt.find('/'));
    {
        auto kv = open(s.url);
        kv->set("/x", "1");
    }
    CHECK_THROWS(open("mysql://" + user + ":wrong@" + hostPart + "/" + db), AuthError);
    // A SELECT-only user opens a read-only store and reads.
    auto ro = open("mysql://" + user + ":right@" + hostPart + "/" + db, true);
    CHECK_EQ(ro->get("/x"), std::string("1"));
    CHECK_EQ(ro->snapshot("/").entries.size(), 2u);
    CHECK_THROWS(ro->set("/x", "2"), ReadonlyCss);
    // The same user opening read-write fails on the first write, typed.
    auto rw = open("mysql://" + user + ":right@" + hostPart + "/" + db);
    CHECK_THROWS(rw->set("/x", "2"), AuthError);
    CHECK_EQ(ro->get("/x"), std::string("1"));
    std::string const masked = maskUrl("mysql://" + user + ":right@" + hostPart + "/" + db);
    CHECK(masked.find("right") == std::string::npos);
    // Server down.
    CHECK_THROWS(open("mysql://root@127.0.0.1:1/" + db + "?connect_timeout=2"), ConnError);
    // No schema; unknown database.
    std::string const empty = randomName("qcss_t_");
    detail::mysqlServerExec(withDb(server, "mysql"), "CREATE DATABASE " + empty);
    CHECK_THROWS(open(withDb(server, empty)), SchemaError);
    detail::mysqlServerExec(withDb(server, "mysql"), "DROP DATABASE " + empty);
    CHECK_THROWS(open(withDb(server, empty)), SchemaError);
    detail::mysqlServerExec(withDb(server, "mysql"), "DROP USER '" + user + "'@'%'");
    s.cleanup();
#endif
}

TEST_CASE("mysql: a killed connection is re-established and the read retried") {
#ifdef QCSS_WITH_MYSQL
    if (!mysqlAvailable()) testing::skipCase("no MySQL server (CI fails instead)");
    Store s = mysqlStore();
    {
        auto kv = open(s.url + (s.url.find('?') == std::string::npos ? "?" : "&") + "pool_size=1");
        kv->set("/x", "1");
        // Kill every connection of this database but ours-to-come: the pooled one dies.
        detail::mysqlServerExec(withDb(mysqlServer(), "mysql"),
                                "BEGIN NOT ATOMIC FOR r IN (SELECT id FROM information_schema.processlist "
                                "WHERE db = '" + s.url.substr(s.url.rfind('/') + 1) +
                                        "') DO KILL CONNECTION r.id; END FOR; END");
        CHECK_EQ(kv->get("/x"), std::string("1"));
        CHECK_EQ(kv->set("/x", "2"), 2);
    }
    s.cleanup();
#endif
}

TEST_CASE("mysql: lost after the COMMIT was sent -> CommitUnknownError; before -> retried") {
#ifdef QCSS_WITH_MYSQL
    if (!mysqlAvailable()) testing::skipCase("no MySQL server (CI fails instead)");
    Store s = mysqlStore();
    {
        auto kv = open(s.url);
        kv->set("/x", "1");
        std::int64_t const r = kv->revision();
        // The connection is lost after the server committed, before its reply
        // arrived: CommitUnknownError, and the write is not retried (applied once).
        detail::sql::failAfterCommitSent = 1;
        CHECK_THROWS(kv->set("/x", "2"), CommitUnknownError);  // one-round-trip set
        CHECK_EQ(kv->revision(), r + 1);
        CHECK_EQ(kv->getStat("/x").version, 2);
        detail::sql::failAfterCommitSent = 1;
        CHECK_THROWS(kv->create("/y/z", "1"), CommitUnknownError);  // general path
        CHECK_EQ(kv->revision(), r + 2);
        CHECK(kv->exists("/y/z"));
        detail::sql::failAfterCommitSent = 1;
        CHECK_THROWS(kv->deleteKey("/x"), CommitUnknownError);
        CHECK_EQ(detail::sql::failAfterCommitSent.load(), 0);
        CHECK_EQ(kv->revision(), r + 3);
        CHECK(!kv->exists("/x"));
        // The store reconnects for the next call; one log row per key written.
        CHECK_EQ(kv->set("/x", "3"), 1);
        CHECK_EQ(kv->changes(0).size(), 6u);
        // Lost before anything was committed: retried on a new connection, once.
        std::int64_t const r2 = kv->revision();
        detail::sql::failNextBegins = 2;
        CHECK_EQ(kv->create("/w/v", "1"), std::string("/w/v"));
        CHECK_EQ(detail::sql::failNextBegins.load(), 0);
        CHECK_EQ(kv->revision(), r2 + 1);
        CHECK_EQ(kv->changes(r2).size(), 2u);
        // Lost before a round trip carrying the COMMIT was sent (a pooled
        // connection the server had closed): nothing reached the server, so
        // the write is retried on a new connection and applied once, on
        // the one-round-trip path and the general one.
        std::int64_t const r3 = kv->revision();
        std::int64_t const v = kv->getStat("/x").version;
        detail::sql::failBeforeCommitSent = 1;
        CHECK_EQ(kv->set("/x", "4"), v + 1);
        CHECK_EQ(detail::sql::failBeforeCommitSent.load(), 0);
        detail::sql::failBeforeCommitSent = 1;
        CHECK_EQ(kv->create("/u/t", "1"), std::string("/u/t"));
        CHECK_EQ(detail::sql::failBeforeCommitSent.load(), 0);
        CHECK_EQ(kv->revision(), r3 + 2);
        CHECK_EQ(kv->get("/x"), std::string("4"));
        CHECK_EQ(kv->changes(r3).size(), 3u);
    }
    s.cleanup();
#endif
}

TEST_CASE("mysql: one-key writes, CAS and their change-log rows") {
#ifdef QCSS_WITH_MYSQL
    if (!mysqlAvailable()) testing::skipCase("no MySQL server (CI fails instead)");
    Store s = mysqlStore();
    {
        auto kv = open(s.url);
        CHECK_EQ(kv->create("/a", "1"), std::string("/a"));
        CHECK_EQ(kv->set("/a", "2"), 2);
        CHECK_EQ(kv->set("/a", "3", 2), 3);
        CHECK_THROWS(kv->set("/a", "4", 2), VersionMismatchError);
        CHECK_EQ(kv->set("/b/c", "x"), 1);      // absent: the general path
        CHECK_THROWS(kv->create("/a"), KeyExistsError);
        CHECK_EQ(kv->revision(), 4);
        auto ch = kv->changes(0);
        CHECK_EQ(ch.size(), 5u);
        if (ch.size() == 5) {
            CHECK_EQ(ch[2].version, 3);
            CHECK_EQ(ch[2].revision, 3);
            CHECK_EQ(ch[2].value, std::string("3"));
        }
    }
    s.cleanup();
#endif
}

TEST_CASE("one-key writes: create under an existing parent, set of a new key, CAS") {
    onEach([](KvPtr kv, std::string const&) {
        kv->create("/p", "");
        CHECK_EQ(kv->create("/p/c", "1"), std::string("/p/c"));  // parent exists
        CHECK_THROWS(kv->create("/p/c", "again"), KeyExistsError);
        CHECK_EQ(kv->set("/p/new", "n"), 1);                      // absent, parent exists
        CHECK_EQ(kv->set("/p/new", "m", 1), 2);
        CHECK_THROWS(kv->set("/p/none", "x", 0), NoSuchKey);
        CHECK_EQ(kv->get("/p/c"), std::string("1"));
        CHECK_EQ(kv->getStat("/p/new").createRevision, 3);
        CHECK_EQ(kv->getStat("/p").numChildren, 2);
        CHECK_EQ(kv->revision(), 4);
        auto ch = kv->changes(1);
        CHECK_EQ(ch.size(), 3u);
        for (auto const& c : ch) CHECK(c.kind == ChangeKind::Put);
    });
}

TEST_CASE("row cache: a repeated write is one round trip, and never hides another writer") {
    onEach([](KvPtr a, std::string const& url) {
        auto b = open(url);  // another client of the same store
        CHECK_EQ(a->set("/s/k", "1"), 1);
        CHECK_EQ(a->set("/s/k", "2"), 2);
#ifdef QCSS_WITH_MYSQL
        if (url.rfind("mysql:", 0) == 0) {
            auto const rt0 = detail::sql::roundTrips.load();
            CHECK_EQ(a->set("/s/k", "3", 2), 3);  // remembered: START..COMMIT in one
            CHECK_EQ(detail::sql::roundTrips.load() - rt0, 1u);
            auto const rt1 = detail::sql::roundTrips.load();
            CHECK_EQ(a->create("/s/k2", "c"), std::string("/s/k2"));  // parent remembered
            CHECK_EQ(a->set("/s/k2", "d"), 2);  // remembered since its create
            CHECK_EQ(detail::sql::roundTrips.load() - rt1, 2u);
        } else
#endif
        {
            CHECK_EQ(a->set("/s/k", "3", 2), 3);
            CHECK_EQ(a->create("/s/k2", "c"), std::string("/s/k2"));
            CHECK_EQ(a->set("/s/k2", "d"), 2);
        }
        CHECK_EQ(b->set("/s/k", "b"), 4);           // a's rows are now stale
        CHECK_EQ(a->set("/s/k", "4"), 5);           // not 4: a re-reads
        CHECK_THROWS(a->set("/s/k", "x", 4), VersionMismatchError);
        CHECK_EQ(a->set("/s/k", "5", 5), 6);
        CHECK_EQ(a->set("/s/k", "6", 6), 7);        // from the cache again
        CHECK_THROWS(a->create("/s/k"), KeyExistsError);
        b->create("/s/hidden", "h");                  // a does not know it exists
        a->set("/s/k", "6b");                         // a misses, then remembers /s again
        a->set("/s/k", "6b2");                        // (one batch skips the cache after a miss)
#ifdef QCSS_WITH_MYSQL
        auto const rt2 = detail::sql::roundTrips.load();
#endif
        CHECK_THROWS(a->create("/s/hidden", "x"), KeyExistsError);
#ifdef QCSS_WITH_MYSQL
        // Tried from the cache (its INSERT hit the key: 1 round trip), then
        // the general path (1: its read finds the key).
        if (url.rfind("mysql:", 0) == 0) CHECK_EQ(detail::sql::roundTrips.load() - rt2, 2u);
#endif
        CHECK_EQ(a->get("/s/hidden"), std::string("h"));
        a->set("/s/k", "6c");
        CHECK_EQ(a->create("/s/fresh", "f"), std::string("/s/fresh"));
        CHECK_EQ(b->getStat("/s/fresh").version, 1);
        b->deleteKey("/s");
        CHECK_EQ(a->set("/s/k", "7"), 1);           // recreated, with its parent
        CHECK(a->exists("/s"));
        CHECK(!a->exists("/s/k2"));
        CHECK_EQ(b->get("/s/k"), std::string("7"));
        // A lease expiring makes the next write reap first, cache or not.
        std::int64_t const l = b->grantLease(std::chrono::milliseconds(100));
        b->create("/eph", "up", CreateMode::Exact, l);
        CHECK_EQ(a->set("/s/k", "8"), 2);
        while (!b->leases().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK_EQ(a->set("/s/k", "9"), 3);
        CHECK(!b->exists("/eph"));
        // Every write is in the log, revisions gapless, versions as returned.
        auto ch = b->changes(0);
        CHECK_EQ(static_cast<std::int64_t>(ch.back().revision), b->revision());
        for (std::size_t i = 1; i < ch.size(); ++i)
            CHECK(ch[i].revision == ch[i - 1].revision || ch[i].revision == ch[i - 1].revision + 1);
        CHECK_EQ(b->getStat("/s/k").version, 3);
        CHECK_EQ(b->get("/s/k"), std::string("9"));
    }, Backends::SqlOnly);
}

TEST_CASE("mysql: row cache: a store restored from a backup is never taken for the one remembered") {
#ifdef QCSS_WITH_MYSQL
    if (!mysqlAvailable()) testing::skipCase("no MySQL server (CI fails instead)");
    Store s = mysqlStore();
    {
        auto a = open(s.url);
        auto b = open(s.url);
        std::string const db = s.url.substr(s.url.rfind('/') + 1);
        auto sql = [&](std::string const& text) {
            detail::mysqlServerExec(s.url, "USE " + db + "; " + text);
        };
        CHECK_EQ(a->set("/s/k", "1"), 1);
        CHECK_EQ(a->set("/s/k", "2"), 2);  // revision 2
        sql("CREATE TABLE bk_meta AS SELECT * FROM qcss_meta");
        sql("CREATE TABLE bk_kv AS SELECT * FROM qcss_kv");
        CHECK_EQ(a->set("/s/k", "3"), 3);  // a remembers /s/k at version 3, revision 3
        // The backup of revision 2 is restored; another client writes revision 3.
        sql("DELETE FROM qcss_kv");
        sql("INSERT INTO qcss_kv SELECT * FROM bk_kv");
        sql("DELETE FROM qcss_changes WHERE revision > 2");
        sql("UPDATE qcss_meta m JOIN bk_meta k ON m.id = k.id SET m.revision = k.revision, "
            "m.write_token = k.write_token");
        CHECK_EQ(b->revision(), 2);
        b->set("/s/other", "x");
        CHECK_EQ(b->revision(), 3);
        CHECK_EQ(b->getStat("/s/k").version, 2);
        // Same revision as remembered, other rows: a must not write version 4.
        CHECK_EQ(a->set("/s/k", "4"), 3);
        CHECK_EQ(b->getStat("/s/k").version, 3);
        CHECK_EQ(b->get("/s/k"), std::string("4"));
    }
    s.cleanup();
#endif
}

TEST_CASE("big batches read parents first: new subtrees, existing keys, top-level keys") {
    onEach([](KvPtr kv, std::string const& url) {
        auto bulk = [&](std::string const& prefix, int n, std::int64_t version) {
            auto t = kv->transaction();
            for (int i = 0; i < n; ++i) t.set(prefix + std::to_string(i), "v", version);
            return t.commitWithResults();
        };
        // Top-level keys: no parent among the batch's rows (nothing read first).
        auto r1 = bulk("/t", 100, -1);
        CHECK_EQ(r1.results.size(), 100u);
        CHECK_EQ(r1.results[99].version, 1);
        CHECK_EQ(bulk("/t", 100, 1).results[42].version, 2);
        CHECK_THROWS(bulk("/t", 100, 1), VersionMismatchError);
        // A new subtree: its keys are known absent once their parent is.
#ifdef QCSS_WITH_MYSQL
        auto const rt0 = detail::sql::roundTrips.load();
#endif
        CHECK_EQ(bulk("/new/sub/k", 300, -1).results[299].version, 1);
#ifdef QCSS_WITH_MYSQL
        if (url.rfind("mysql:", 0) == 0) CHECK_EQ(detail::sql::roundTrips.load() - rt0, 2u);
#endif
        // Existing keys (read after their parent), mixed with new ones.
        auto t = kv->transaction();
        for (int i = 0; i < 300; ++i) t.set("/new/sub/k" + std::to_string(i), "w", 1);
        t.create("/new/sub/extra", "x");
        t.create("/new/other/y", "y");
        auto r = t.commitWithResults();
        CHECK_EQ(r.results[0].version, 2);
        CHECK_EQ(r.results[300].version, 1);
        CHECK_EQ(kv->getChildren("/new/sub").size(), 301u);
        CHECK_EQ(kv->get("/new/sub/k7"), std::string("w"));
        CHECK(kv->exists("/new/other"));
        CHECK_EQ(kv->getStat("/t5").version, 2);
    });
}

QCSS_TEST_MAIN()
