// qcss: qserv_compat_test.cc -- Qserv's CSS tests (a C++ subset) built against
// qcss through qcss/QservCompat.h only, i.e. with Qserv's names.
//
// Mirrors lsst/qserv commit 5314826faccb579ad99844c396c721891be3fe7e:
// src/css/testKvInterfaceImpl.cc (testMem), src/css/testKvInterfaceImplMySql.cc
// (EmptyDBGet, CreateUnique, GetRootChildren, KeyTooLong) and
// src/css/testCssAccess.cc (the fixture built with create(), root first;
// testGetDbStriping, testContainsTable, testGetChunks, testDataString,
// testConfigMap, testReadOnly, testCssVersion). The Python suite
// tests/qserv_compat/ covers every case on every backend.
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <unistd.h>

#include "qcss/Open.h"
#include "qcss/QservCompat.h"
#include "testing.h"

namespace css = lsst::qserv::css;
using Strings = std::vector<std::string>;

namespace {

std::vector<std::shared_ptr<css::KvInterface>> stores() {
    std::vector<std::shared_ptr<css::KvInterface>> out{qcss::open("mem://")};
#ifdef QCSS_WITH_SQLITE
    std::string const path = "/tmp/qcss_qserv_compat_" + std::to_string(getpid()) + ".db";
    std::remove(path.c_str());
    out.push_back(qcss::open("sqlite://" + path + "?create=1"));
#endif
    return out;
}

void cleanup() {
    std::string const path = "/tmp/qcss_qserv_compat_" + std::to_string(getpid()) + ".db";
    std::remove(path.c_str());
}

std::shared_ptr<css::CssAccess> fixture(std::shared_ptr<css::KvInterface> const& kvI) {
    std::vector<std::pair<std::string, std::string>> kv{
            {"/", ""},
            {"/css_meta", ""},
            {"/css_meta/version", std::to_string(css::CssAccess::cssVersion())},
            {"/PARTITIONING", ""},
            {"/PARTITIONING/_0000000001", ""},
            {"/PARTITIONING/_0000000001/nStripes", "60"},
            {"/PARTITIONING/_0000000001/nSubStripes", "18"},
            {"/PARTITIONING/_0000000001/overlap", "0.025"},
            {"/DBS", ""},
            {"/DBS/dbA", css::KEY_STATUS_READY},
            {"/DBS/dbA/partitioningId", "0000000001"},
            {"/DBS/dbB", "Bdb"},
            {"/DBS/dbA/TABLES", ""},
            {"/DBS/dbA/TABLES/Object", css::KEY_STATUS_READY},
            {"/DBS/dbA/TABLES/Object/partitioning", ""},
            {"/DBS/dbA/TABLES/Object/partitioning/lonColName", "ra_PS"},
            {"/DBS/dbA/TABLES/Object/partitioning/latColName", "decl_PS"},
            {"/DBS/dbA/TABLES/Object/partitioning/subChunks", "1"},
            {"/DBS/dbA/TABLES/Object/partitioning/dirColName", "objectId"},
            {"/DBS/dbA/TABLES/Exposure", css::KEY_STATUS_READY},
            {"/DBS/dbA/TABLES/Exposure/schema", "(I INT)"},
            {"/DBS/dbA/TABLES/Exposure/CHUNKS/1234/REPLICAS/0000000001/.packed.json",
             R"({"nodeName": "worker1"})"},
            {"/DBS/dbA/TABLES/Exposure/CHUNKS/1234/REPLICAS/0000000002/.packed.json",
             R"({"nodeName": "worker2"})"},
            {"/DBS/dbA/TABLES/Exposure/CHUNKS/5678/REPLICAS/0000000001/.packed.json",
             R"({"nodeName": "worker1"})"},
            {"/DBS/dbB/TABLES", ""},
            {"/DBS/dbB/TABLES/DeletedTable", "NOT_READY"},
    };
    for (auto const& [k, v] : kv) kvI->create(k, v);
    auto c = std::make_shared<css::CssAccess>(kvI);
    c->setLocking(false);
    return c;
}

char const* testData = R"(
{
    "/css_meta": "",
    "/css_meta/version": "1",
    "/DBS": "",
    "/DBS/LSST": "LSST"
}
)";

}  // namespace

TEST_CASE("testKvInterfaceImpl testMem (every backend)") {
    for (auto const& kvI : stores()) {
        std::string const prefix = "/unittest_42", k1 = prefix + "/xyzA", k2 = prefix + "/xyzB",
                          k4 = prefix + "/xyz_unique_";
        kvI->create(prefix, "firstOne");
        kvI->create(k1, "firstOne");
        kvI->create(k2, "secondOne");
        CHECK_EQ(kvI->get(k1), std::string("firstOne"));
        CHECK(kvI->exists(k1));
        CHECK(!kvI->exists(prefix + "/xyzC"));
        CHECK_EQ(kvI->getChildren(prefix).size(), 2u);
        kvI->deleteKey(k1);
        CHECK_EQ(kvI->get(k1, "xyz4"), std::string("xyz4"));
        kvI->deleteKey(k2);
        kvI->deleteKey(prefix);
        CHECK_EQ(kvI->create(k4, "uniqueValue", true), k4 + "0000000001");
        CHECK_EQ(kvI->create(k4, "", true), k4 + "0000000002");
    }
    cleanup();
}

TEST_CASE("testKvInterfaceImplMySql EmptyDBGet, CreateUnique, GetRootChildren, KeyTooLong") {
    for (auto const& kvI : stores()) {
        CHECK_THROWS(kvI->get("/"), css::NoSuchKey);
        CHECK_THROWS(kvI->getChildren("/"), css::NoSuchKey);
        std::string const pfx = "/CreateAndGetKV/uniqueKey_";
        CHECK_EQ(kvI->create(pfx, "uniqueValue1", true), pfx + "0000000001");
        kvI->create(pfx + "01234567ab", "");
        kvI->create(pfx + "abcdefghij", "");
        for (int i = 0; i != 10; ++i) {
            std::ostringstream str;
            str << pfx << std::setfill('0') << std::setw(10) << i + 2;
            CHECK_EQ(kvI->create(pfx, "", true), str.str());
        }
        kvI->create(pfx + "0000001234", "");
        CHECK_EQ(kvI->create(pfx, "", true), pfx + "0000001235");
        CHECK(kvI->getChildren("/") == (Strings{"CreateAndGetKV"}));
        std::string const tooLong = std::string("/") + std::string(9999, 'x');
        CHECK_THROWS(kvI->set(tooLong, "to value"), css::CssError);
        CHECK(!kvI->exists(tooLong));
        CHECK(css::KvInterface::MAX_KEY_LENGTH >= 255u);
    }
    cleanup();
}

TEST_CASE("testCssAccess fixture and cases (every backend)") {
    for (auto const& kvI : stores()) {
        auto c = fixture(kvI);
        CHECK(c->getKvI() == kvI);
        css::StripingParams p = c->getDbStriping("dbA");
        CHECK_EQ(p.stripes, 60);
        CHECK_EQ(p.subStripes, 18);
        CHECK_EQ(p.partitioningId, 1);
        CHECK_EQ(p.overlap, 0.025);
        CHECK(c->getDbStriping("dbB").isDefaultConstructed());
        CHECK(c->getDbStriping("dbB") != p);
        CHECK_THROWS(c->getDbStriping("dbX"), css::NoSuchDb);
        CHECK(c->containsTable("dbA", "Exposure"));
        CHECK(!c->containsTable("dbB", "DeletedTable"));
        CHECK(c->containsTable("dbB", "DeletedTable", false));
        CHECK(!c->containsTable("dbA", "x/y"));
        CHECK(!c->containsDb("a/b"));
        CHECK_THROWS(c->containsTable("dbX", "any"), css::NoSuchDb);
        auto chunks = c->getChunks("dbA", "Exposure");
        CHECK_EQ(chunks.size(), 2u);
        CHECK(chunks[1234] == (Strings{"worker1", "worker2"}));
        CHECK_THROWS(c->getChunks("dbA", "NonTable"), css::NoSuchTable);
        CHECK_THROWS(c->getNodeNames(), css::NoSuchKey);
        css::PartTableParams part = c->getPartTableParams("dbA", "Object");
        CHECK_EQ(part.chunkLevel(), 2);
        CHECK(part.partitionCols() == (Strings{"ra_PS", "decl_PS", "objectId"}));
        CHECK(part.secIndexColNames() == (Strings{"objectId"}));
        c->setTableSchema("dbA", "Exposure", "(J INT)");
        CHECK_EQ(c->getTableSchema("dbA", "Exposure"), std::string("(J INT)"));
        c->setScanTableParams("dbA", "Object", css::ScanTableParams(true, 3));
        CHECK_EQ(c->getScanTableParams("dbA", "Object").scanRating, 3);
        css::PartTableParams made("dbA", "Object", "objectId", "decl", "ra", 0.01, true, false);
        c->createTable("dbA", "Source", "(S INT)", made, css::ScanTableParams());
        CHECK_EQ(c->getPartTableParams("dbA", "Source").chunkLevel(), 1);
        c->addNode("newnode", css::NodeParams("worker", "worker100", 5012, "SICK"));
        CHECK(!c->getNodeParams("newnode").isActive());
        try {
            c->getTableSchema("dbA", "NotATable");
            CHECK(false);
        } catch (css::CssError const& e) {
            CHECK_EQ(e.typeName(), std::string("NoSuchTable"));
        }
    }
    cleanup();
}

TEST_CASE("testCssAccess factory suite: testDataString, testConfigMap, testReadOnly, testCssVersion") {
    auto css1 = css::CssAccess::createFromData("{}");
    auto css2 = css::CssAccess::createFromData(testData);
    CHECK(css2->getDbNames() == (Strings{"LSST"}));
    using StringMap = std::map<std::string, std::string>;
    CHECK_THROWS(css::CssAccess::createFromConfig(StringMap()), css::ConfigError);
    CHECK_THROWS(css::CssAccess::createFromConfig(StringMap{{"technology", "monkeys"}}), css::ConfigError);
    CHECK_EQ(css::CssAccess::createFromConfig(StringMap{{"technology", "mem"}, {"data", testData}})
                     ->getDbNames()
                     .size(),
             1u);
    CHECK_THROWS(css::CssAccess::createFromConfig(StringMap{{"technology", "mem"}, {"file", "/~~~"}}),
                 css::ConfigError);
    for (char const* port : {"X", "12bad", "0xdead"}) {
        CHECK_THROWS(css::CssAccess::createFromConfig(StringMap{{"technology", "mysql"}, {"port", port}}),
                     css::ConfigError);
    }
    css::StripingParams params1;
    css::CssAccess::createFromData(testData)->createDb("dbNew1", params1, "L2", "UNRELEASED");
    CHECK_THROWS(css::CssAccess::createFromData(testData, true)->createDb("dbNew1", params1, "L2", "UNRELEASED"),
                 css::ReadonlyCss);
    CHECK_THROWS(css::CssAccess::createFromConfig(StringMap{{"technology", "mem"}, {"data", testData}}, true)
                         ->createDb("dbNew1", params1, "L2", "UNRELEASED"),
                 css::ReadonlyCss);
    CHECK_THROWS(css::CssAccess::createFromData(R"({"/": "", "/css_meta": "", "/css_meta/version": "1000000"})"),
                 css::VersionMismatchError);
    // The older TSV map, through a stream, with an empty-chunk path.
    std::istringstream tsv("/\t\\N\n/css_meta\t\\N\n/css_meta/version\t1\n/DBS\t\\N\n/DBS/LSST\tREADY\n");
    auto fromStream = css::CssAccess::createFromStream(tsv, std::string("."));
    CHECK(fromStream->getDbStatus() == (std::map<std::string, std::string>{{"LSST", "READY"}}));
    CHECK_EQ(fromStream->getEmptyChunks()->path(), std::string("."));
}

TEST_CASE("the Qserv test maps load (shared fixtures)") {
    char const* maps[] = {"qserv-maps/testKvMap-head.json", "qserv-maps/testPlugins.tsv",
                          "qserv-maps/testQueryContext-head.json"};
    for (char const* rel : maps) {
        if (!::qcss::testing::haveFixture(QCSS_FIXTURES_DIR, rel)) continue;
        std::ifstream in(std::string(QCSS_FIXTURES_DIR) + "/" + rel);
        auto c = css::CssAccess::createFromStream(in, std::string("."), true);
        CHECK(c->containsDb("LSST"));
        CHECK(c->containsTable("LSST", "Object"));
        CHECK(!c->containsTable("LSST", "x/y"));
        CHECK_EQ(c->getPartTableParams("LSST", "Object").chunkLevel(), 2);
        CHECK_THROWS(c->createDb("x", css::StripingParams(), "L2", "RELEASED"), css::ReadonlyCss);
    }
}

QCSS_TEST_MAIN()
