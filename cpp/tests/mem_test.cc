// qcss: mem_test.cc -- what is specific to the in-memory backend (URL options,
// dumps, read-only, its empty store). The shared semantics run on mem:// in the
// one conformance loop of sql_test.cc (onEach).
#include <type_traits>
#include <utility>

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
