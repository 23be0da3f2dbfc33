// qcss: mem_test.cc -- the in-memory backend through the public API.
#include <type_traits>
#include <utility>
#include <thread>

#include "qcss/Key.h"
#include "qcss/KvInterface.h"
#include "qcss/Open.h"
#include "testing.h"

using namespace qcss;

// No bare bools in the public API (issue 13.7): a mode is a CreateMode. The one
// exception is Qserv's own create(key, value, bool unique), for drop-in code.
template <typename T, typename Mode, typename = void>
struct CreatesWithLease : std::false_type {};
template <typename T, typename Mode>
struct CreatesWithLease<T, Mode,
                        std::void_t<decltype(std::declval<T&>().create(std::string(), std::string(),
                                                                       std::declval<Mode>(),
                                                                       std::int64_t(0)))>>
        : std::true_type {};
static_assert(CreatesWithLease<KvInterface, CreateMode>::value);
static_assert(!CreatesWithLease<KvInterface, bool>::value);
static_assert(CreatesWithLease<Transaction, CreateMode>::value);
static_assert(!CreatesWithLease<Transaction, bool>::value);

TEST_CASE("empty store: implicit root absent, revision 0") {
    auto kv = open("mem://");
    CHECK(!kv->exists("/"));
    CHECK_EQ(kv->revision(), 0);
    CHECK_THROWS(kv->getChildren("/"), NoSuchKey);
    CHECK_THROWS(kv->get("/"), NoSuchKey);
    CHECK_EQ(kv->backend(), std::string("mem"));
    CHECK_EQ(kv->create("/", "r"), std::string("/"));
    CHECK(kv->exists("/"));
    CHECK_EQ(kv->get("/"), std::string("r"));
    CHECK(kv->getChildren("/").empty());
    CHECK_THROWS(kv->create("/"), KeyExistsError);
}

TEST_CASE("create, get, parents, versions, revisions") {
    auto kv = open("mem://");
    CHECK_EQ(kv->create("/a/b/c", "v"), std::string("/a/b/c"));
    CHECK_EQ(kv->get("/a/b/c"), std::string("v"));
    CHECK_EQ(kv->get("/a/b"), std::string());
    CHECK_EQ(kv->revision(), 1);
    KeyStat s = kv->getStat("/a/b/c");
    CHECK_EQ(s.version, 1);
    CHECK_EQ(s.createRevision, 1);
    CHECK_EQ(kv->set("/a/b/c", "w"), 2);
    s = kv->getStat("/a/b/c");
    CHECK_EQ(s.modRevision, 2);
    CHECK_EQ(kv->getStat("/a").numChildren, 1);
    CHECK_THROWS(kv->create("/a/b/c"), KeyExistsError);
    CHECK_THROWS(kv->get("/nope"), NoSuchKey);
    CHECK_EQ(kv->get("/nope", "dflt"), std::string("dflt"));
}

TEST_CASE("compare-and-set and compare-and-delete") {
    auto kv = open("mem://");
    kv->set("/k", "1");
    CHECK_THROWS(kv->set("/k", "2", 7), VersionMismatchError);
    CHECK_EQ(kv->set("/k", "2", 1), 2);
    CHECK_THROWS(kv->set("/missing", "x", 1), NoSuchKey);
    CHECK_THROWS(kv->deleteKey("/k", 1), VersionMismatchError);
    kv->deleteKey("/k", 2);
    CHECK(!kv->exists("/k"));
}

TEST_CASE("unique keys continue the highest suffix") {
    auto kv = open("mem://");
    CHECK_EQ(kv->create("/u/x_", "", CreateMode::Unique), std::string("/u/x_0000000001"));
    kv->create("/u/x_0000001234");
    CHECK_EQ(kv->create("/u/x_", "", CreateMode::Unique), std::string("/u/x_0000001235"));
    CHECK_EQ(kv->create("/u/", "", CreateMode::Unique), std::string("/u/0000000001"));
}

TEST_CASE("failed transaction leaves nothing behind") {
    auto kv = open("mem://");
    kv->set("/t/a", "1");
    std::int64_t const rev = kv->revision();
    Transaction t = kv->transaction();
    t.set("/t/b/c", "new").deleteKey("/t/a").check("/t/z", 3);
    CHECK_THROWS(t.commit(), VersionMismatchError);
    CHECK_EQ(kv->revision(), rev);
    CHECK(kv->exists("/t/a"));
    CHECK(!kv->exists("/t/b"));
    CHECK_EQ(kv->getChildren("/t").size(), 1u);
}

TEST_CASE("recursive delete logs every key, in one revision") {
    auto kv = open("mem://");
    kv->create("/d/x/1");
    kv->create("/d/x/2");
    std::int64_t const r = kv->revision();
    kv->deleteKey("/d");
    auto ch = kv->changes(r);
    CHECK_EQ(ch.size(), 4u);
    for (auto const& c : ch) {
        CHECK(c.kind == ChangeKind::Delete);
        CHECK_EQ(c.revision, r + 1);
    }
    CHECK_THROWS(kv->deleteKey("/"), InvalidKeyError);
}

TEST_CASE("invalid keys and oversized values change nothing") {
    auto kv = open("mem://?max_value_size=4");
    for (std::string const& k : std::vector<std::string>{"", "a", "/a/", "//", "/a//b", "/./x", "/x/..", std::string("/a\0b", 4),
                          "/\xff"}) {
        CHECK_THROWS(kv->set(k, "v"), InvalidKeyError);
    }
    CHECK_THROWS(kv->set("/" + std::string(kMaxKeyLength, 'k'), "v"), InvalidKeyError);
    CHECK_THROWS(kv->set("/big", "12345"), ValueTooLargeError);
    CHECK_EQ(kv->revision(), 0);
}

TEST_CASE("many threads, no lost update") {
    auto kv = open("mem://");
    kv->set("/counter", "0");
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
        ts.emplace_back([&kv] {
            for (int i = 0; i < 500; ++i) {
                while (true) {
                    KeyStat s = kv->getStat("/counter");
                    int const v = std::stoi(kv->get("/counter"));
                    try {
                        kv->set("/counter", std::to_string(v + 1), s.version);
                        break;
                    } catch (VersionMismatchError const&) {
                    }
                }
            }
        });
    }
    for (auto& t : ts) t.join();
    CHECK_EQ(kv->get("/counter"), std::string("2000"));
}

TEST_CASE("read-only store refuses mutations") {
    auto kv = open("mem://", true);
    CHECK_THROWS(kv->set("/a", "b"), ReadonlyCss);
    CHECK_THROWS(kv->create("/a"), ReadonlyCss);
    CHECK(!kv->exists("/a"));
}

TEST_CASE("Qserv dump loads through mem:///path") {
    if (!::qcss::testing::haveFixture(QCSS_FIXTURES_DIR, "qserv/kvmap-2017.json")) return;
    auto kv = open(std::string("mem://") + QCSS_FIXTURES_DIR + "/qserv/kvmap-2017.json");
    CHECK(kv->exists("/DBS"));
    CHECK_EQ(kv->get("/css_meta/version"), std::string("1"));
    CHECK(kv->dumpKV().size() > 100);
}

TEST_CASE("a transaction keeps its store alive and knows when it committed") {
    Transaction txn = [] { return open("mem://")->transaction(); }();  // the KvPtr is gone
    txn.set("/a", "1").create("/b");
    CHECK(!txn.committed());
    CHECK_EQ(txn.commit(), 1);
    CHECK(txn.committed());
}

QCSS_TEST_MAIN()
