// qcss: css_test.cc -- CssAccess over Qserv's layout: Qserv's own test cases
// (testCssAccess.cc, packed and unpacked forms), the 2017 maps, atomicity.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "qcss/CssAccess.h"
#include "qcss/Open.h"
#include "testing.h"

using namespace qcss;
using Strings = std::vector<std::string>;

namespace {

// The tree of Qserv's testCssAccess.cc, with the packed keys in today's
// `.packed.json` child form next to the older child-key form.
KvPtr qservTree() {
    auto kv = open("mem://");
    std::vector<std::pair<std::string, std::string>> const keys{
            {"/css_meta/version", "1"},
            {"/PARTITIONING/_0000000001/nStripes", "60"},
            {"/PARTITIONING/_0000000001/nSubStripes", "18"},
            {"/PARTITIONING/_0000000001/overlap", "0.025"},
            {"/DBS/dbA", "READY"},
            {"/DBS/dbA/partitioningId", "0000000001"},
            {"/DBS/dbB", "Bdb"},
            {"/DBS/dbC", "DO_NOT_USE"},
            {"/DBS/dbA/TABLES/Object", "READY"},
            {"/DBS/dbA/TABLES/Object/partitioning", ""},
            {"/DBS/dbA/TABLES/Object/partitioning/lonColName", "ra_PS"},
            {"/DBS/dbA/TABLES/Object/partitioning/latColName", "decl_PS"},
            {"/DBS/dbA/TABLES/Object/partitioning/subChunks", "1"},
            {"/DBS/dbA/TABLES/Object/partitioning/dirColName", "objectId"},
            {"/DBS/dbA/TABLES/Source", "READY"},
            {"/DBS/dbA/TABLES/Source/partitioning", ""},
            {"/DBS/dbA/TABLES/Source/partitioning/lonColName", "ra"},
            {"/DBS/dbA/TABLES/Source/partitioning/latColName", "decl"},
            {"/DBS/dbA/TABLES/Source/partitioning/subChunks", "0"},
            {"/DBS/dbA/TABLES/FSource", "READY"},
            {"/DBS/dbA/TABLES/FSource/partitioning/.packed.json",
             R"({"lonColName": "ra", "latColName": "decl", "subChunks": "0", "overlap": "0.01"})"},
            {"/DBS/dbA/TABLES/Exposure", "READY"},
            {"/DBS/dbA/TABLES/Exposure/schema", "(I INT)"},
            {"/DBS/dbA/TABLES/Exposure/CHUNKS/1234/REPLICAS/0000000001/.packed.json",
             R"({"nodeName": "worker1"})"},
            {"/DBS/dbA/TABLES/Exposure/CHUNKS/1234/REPLICAS/0000000002/.packed.json",
             R"({"nodeName": "worker2"})"},
            {"/DBS/dbA/TABLES/Exposure/CHUNKS/5678/REPLICAS/0000000001/nodeName", "worker1"},
            {"/DBS/dbB/TABLES/Exposure", "READY"},
            {"/DBS/dbB/TABLES/Exposure/.packed.json", R"X({"schema": "(FLOAT X)"})X"},
            {"/DBS/dbB/TABLES/MyObject", "READY"},
            {"/DBS/dbB/TABLES/MyObject/partitioning", ""},
            {"/DBS/dbB/TABLES/MyObject/partitioning/lonColName", "ra_PS"},
            {"/DBS/dbB/TABLES/MyObject/partitioning/latColName", "decl_PS"},
            {"/DBS/dbB/TABLES/MyObject/partitioning/subChunks", "1"},
            {"/DBS/dbB/TABLES/MyObject/partitioning/dirDb", "dbA"},
            {"/DBS/dbB/TABLES/MyObject/partitioning/dirTable", "Object"},
            {"/DBS/dbB/TABLES/MyObject/partitioning/dirColName", "objectId"},
            {"/DBS/dbB/TABLES/DeletedTable", "NOT_READY"},
            {"/DBS/dbC/TABLES/RefMatch", "READY"},
            {"/DBS/dbC/TABLES/RefMatch/match", ""},
            {"/DBS/dbC/TABLES/RefMatch/match/dirTable1", "Object"},
            {"/DBS/dbC/TABLES/RefMatch/match/dirColName1", "objectId"},
            {"/DBS/dbC/TABLES/RefMatch/match/dirTable2", "Source"},
            {"/DBS/dbC/TABLES/RefMatch/match/dirColName2", "sourceId"},
            {"/DBS/dbC/TABLES/RefMatch/match/flagColName", "flag"},
            {"/DBS/dbC/TABLES/RefMatch2", "READY"},
            {"/DBS/dbC/TABLES/RefMatch2/match/.packed.json",
             R"({"dirTable1": "Object", "dirColName1": "objectId", "dirTable2": "Source", )"
             R"("dirColName2": "sourceId", "flagColName": "flag"})"},
            {"/DBS/dbC/TABLES/TempTable1", "DO_NOT_USE"},
            {"/DBS/dbC/TABLES/TempTable2", "PENDING_CREATE:12345"},
            {"/NODES/node1", "ACTIVE"},
            {"/NODES/node2", "INACTIVE"},
            {"/NODES/node2/.packed.json", R"({"type": "worker", "host": "worker2", "port": 5012})"},
            {"/NODES/node3", "ACTIVE"},
            {"/NODES/node3/type", "worker"},
            {"/NODES/node3/host", "worker3"},
            {"/NODES/node3/port", "5012"},
    };
    for (auto const& [k, v] : keys) kv->set(k, v);
    return kv;
}

Strings sorted(Strings v) {
    std::sort(v.begin(), v.end());
    return v;
}

std::ostream& operator<<(std::ostream& os, Strings const& v) {
    os << "[";
    for (auto const& s : v) os << s << ",";
    return os << "]";
}

}  // namespace

TEST_CASE("unpackJson: strings, numbers, constants, empty nested kept, others skipped") {
    CHECK(CssAccess::unpackJson("k", "").empty());
    CHECK(CssAccess::unpackJson("k", "{}").empty());
    auto m = CssAccess::unpackJson("k", R"({"a": "string", "b": 1, "c": 1.234, "d": ""})");
    CHECK_EQ(m.size(), 4u);
    CHECK_EQ(m["b"], std::string("1"));
    CHECK_EQ(m["c"], std::string("1.234"));
    m = CssAccess::unpackJson("k", R"({"a": "s\u00e9\/x", "b": {"b1": 1}, "c": [{}], "n": null, "t": true})");
    CHECK_EQ(m["a"], std::string("s\xc3\xa9/x"));
    CHECK_EQ(m.count("b"), 0u);
    CHECK_EQ(m.count("c"), 0u);
    CHECK_EQ(m["n"], std::string("null"));
    CHECK_EQ(m["t"], std::string("true"));
    // Empty objects and arrays are kept as "" (as Qserv's parser does).
    m = CssAccess::unpackJson("k", R"({"a": "s", "b": {}, "c": [ ], "d": {"x": 1}})");
    CHECK_EQ(m.size(), 3u);
    CHECK_EQ(m["b"], std::string());
    CHECK_EQ(m["c"], std::string());
    CHECK_EQ(m.count("d"), 0u);
    CHECK_THROWS(CssAccess::unpackJson("k", "{\"a\": "), KeyValueError);
    CHECK_THROWS(CssAccess::unpackJson("k", "[1]"), KeyValueError);
    // Found by fuzz/ (json_cpp): raw bytes that are not UTF-8 are refused, not passed on.
    CHECK_THROWS(CssAccess::unpackJson("k", "{\"a\": \"\xa3\"}"), KeyValueError);
    CHECK_THROWS(CssAccess::unpackJson("k", "{\"\xff\": \"v\"}"), KeyValueError);
}

TEST_CASE("formatDouble: shortest text that round-trips") {
    CHECK_EQ(CssAccess::formatDouble(0.025), std::string("0.025"));
    CHECK_EQ(CssAccess::formatDouble(0.01), std::string("0.01"));
    CHECK_EQ(CssAccess::formatDouble(1.0 / 3.0), std::string("0.3333333333333333"));
    CHECK_EQ(CssAccess::formatDouble(1e-7), std::string("1e-07"));
}

TEST_CASE("Qserv: databases, names and status") {
    CssAccess css(qservTree());
    CHECK_EQ(sorted(css.getDbNames()), (Strings{"dbA", "dbB", "dbC"}));
    auto st = css.getDbStatus();
    CHECK_EQ(st.size(), 3u);
    CHECK_EQ(st["dbB"], std::string("Bdb"));
    css.setDbStatus("dbA", "DEAD");
    css.setDbStatus("dbC", "");
    CHECK_EQ(css.getDbStatus("dbA"), std::string("DEAD"));
    CHECK_EQ(css.getDbStatus("dbC"), std::string(""));
    CHECK_THROWS(css.setDbStatus("dbX", "READY"), NoSuchDb);
    CHECK(css.containsDb("dbA"));
    CHECK(!css.containsDb("db"));
    CHECK(!css.containsDb(""));
}

TEST_CASE("status compare-and-set: READY -> PENDING_DROP only from READY") {
    CssAccess css(qservTree());
    css.setDbStatus("dbA", "PENDING_DROP:1", std::string("READY"));
    CHECK_EQ(css.getDbStatus("dbA"), std::string("PENDING_DROP:1"));
    CHECK_THROWS(css.setDbStatus("dbA", "PENDING_DROP:2", std::string("READY")), VersionMismatchError);
    CHECK_EQ(css.getDbStatus("dbA"), std::string("PENDING_DROP:1"));
    css.setTableStatus("dbA", "Object", "DO_NOT_USE", std::string("READY"));
    CHECK_THROWS(css.setTableStatus("dbA", "Object", "READY", std::string("READY")),
                 VersionMismatchError);
    CHECK_THROWS(css.setTableStatus("dbA", "Nope", "READY"), NoSuchTable);
    css.setNodeState("node2", "ACTIVE", std::string("INACTIVE"));
    CHECK(css.getNodeParams("node2").isActive());
}

TEST_CASE("Qserv: striping, create, create-like, drop") {
    CssAccess css(qservTree());
    StripingParams p = css.getDbStriping("dbA");
    CHECK_EQ(p.stripes, 60);
    CHECK_EQ(p.subStripes, 18);
    CHECK_EQ(p.partitioningId, 1);
    CHECK_EQ(p.overlap, 0.025);
    p = css.getDbStriping("dbB");
    CHECK_EQ(p.stripes, 0);
    CHECK_EQ(p.partitioningId, 0);
    CHECK_THROWS(css.getDbStriping("dbX"), NoSuchDb);

    css.createDb("dbNew1", StripingParams(), "L2", "UNRELEASED");
    CHECK_EQ(css.getDbStriping("dbNew1").stripes, 0);
    css.createDb("dbNew2", StripingParams{50, 25, 0, 0.01}, "L2", "RELEASED");
    StripingParams p2 = css.getDbStriping("dbNew2");
    CHECK_EQ(p2.stripes, 50);
    CHECK_EQ(p2.subStripes, 25);
    CHECK_EQ(p2.partitioningId, 2);  // after the existing _0000000001
    CHECK_EQ(p2.overlap, 0.01);
    // Written packed, numbers as given.
    auto packed = CssAccess::unpackJson("", css.kv()->get("/PARTITIONING/_0000000002/.packed.json"));
    CHECK_EQ(packed["overlap"], std::string("0.01"));
    CHECK_EQ(packed["nStripes"], std::string("50"));
    CHECK_THROWS(css.createDb("dbNew2", StripingParams(), "L2", "RELEASED"), DbExists);

    css.createDbLike("dbNew2Like", "dbNew2");
    StripingParams pl = css.getDbStriping("dbNew2Like");
    CHECK_EQ(pl.partitioningId, p2.partitioningId);
    CHECK_EQ(pl.stripes, 50);
    CHECK_EQ(css.getDbParams("dbNew2Like").releaseStatus, std::string("RELEASED"));
    CHECK_THROWS(css.createDbLike("dbX2", "dbX"), NoSuchDb);
    CHECK_THROWS(css.createDbLike("dbNew1", "dbNew2"), DbExists);

    // The partitioning entry goes with its last user.
    css.dropDb("dbNew2");
    CHECK(css.kv()->exists("/PARTITIONING/_0000000002"));
    css.dropDb("dbNew2Like");
    CHECK(!css.kv()->exists("/PARTITIONING/_0000000002"));
    css.dropDb("dbNew1");
    CHECK_THROWS(css.dropDb("dbNew1"), NoSuchDb);
    CHECK_THROWS(css.dropDb("dbX"), NoSuchDb);
    CHECK_THROWS(css.createDb("a/b", StripingParams(), "L2", "R"), InvalidKeyError);
}

TEST_CASE("Qserv: tables, names, status, schema") {
    CssAccess css(qservTree());
    CHECK_EQ(css.getTableNames("dbA"), (Strings{"Exposure", "FSource", "Object", "Source"}));
    CHECK_EQ(css.getTableNames("dbB"), (Strings{"Exposure", "MyObject"}));
    CHECK_EQ(css.getTableNames("dbB", false), (Strings{"DeletedTable", "Exposure", "MyObject"}));
    CHECK_THROWS(css.getTableNames("dbX"), NoSuchDb);
    auto st = css.getTableStatus("dbC");
    CHECK_EQ(st.size(), 4u);
    CHECK_EQ(st["TempTable2"], std::string("PENDING_CREATE:12345"));
    CHECK(css.containsTable("dbA", "Exposure"));
    CHECK(!css.containsTable("dbA", "ExposureNotThere"));
    CHECK(!css.containsTable("dbB", "DeletedTable"));
    CHECK(css.containsTable("dbB", "DeletedTable", false));
    CHECK_THROWS(css.containsTable("dbX", "any"), NoSuchDb);
    CHECK_EQ(css.getTableSchema("dbA", "Exposure"), std::string("(I INT)"));
    CHECK_EQ(css.getTableSchema("dbA", "Object"), std::string(""));
    CHECK_EQ(css.getTableSchema("dbB", "Exposure"), std::string("(FLOAT X)"));
    CHECK_THROWS(css.getTableSchema("dbA", "NotATable"), NoSuchTable);
}

TEST_CASE("Qserv: partitioning and match params, packed and unpacked") {
    CssAccess css(qservTree());
    PartTableParams p = css.getPartTableParams("dbA", "Exposure");
    CHECK(!p.isPartitioned());
    CHECK(p.dirTable.empty());
    p = css.getPartTableParams("dbB", "MyObject");
    CHECK(p.isPartitioned());
    CHECK_EQ(p.dirDb, std::string("dbA"));
    CHECK_EQ(p.dirTable, std::string("Object"));
    CHECK_EQ(p.latColName, std::string("decl_PS"));
    CHECK_EQ(p.subChunks, true);
    p = css.getPartTableParams("dbA", "FSource");  // packed only, no explicit partitioning key
    CHECK(p.isPartitioned());
    CHECK_EQ(p.lonColName, std::string("ra"));
    CHECK_EQ(p.overlap, 0.01);
    CHECK_THROWS(css.getPartTableParams("dbC", "NoRefMatch"), NoSuchTable);

    for (char const* t : {"RefMatch", "RefMatch2"}) {
        MatchTableParams m = css.getMatchTableParams("dbC", t);
        CHECK(m.isMatchTable());
        CHECK_EQ(m.dirTable1, std::string("Object"));
        CHECK_EQ(m.dirColName2, std::string("sourceId"));
        CHECK_EQ(m.flagColName, std::string("flag"));
    }
    CHECK(!css.getMatchTableParams("dbA", "Exposure").isMatchTable());
    TableParams all = css.getTableParams("dbC", "RefMatch2");
    CHECK_EQ(all.match.dirTable2, std::string("Source"));
    CHECK(!all.partitioning.isPartitioned());
}

TEST_CASE("Qserv: create and drop tables (regular, partitioned, match)") {
    auto kv = qservTree();
    CssAccess css(kv);
    css.createTable("dbA", "NewTable", "(INT I)");
    CHECK(css.containsTable("dbA", "NewTable"));
    CHECK_EQ(css.getTableSchema("dbA", "NewTable"), std::string("(INT I)"));
    CHECK(!css.getPartTableParams("dbA", "NewTable").isPartitioned());
    CHECK_THROWS(css.createTable("dbA", "NewTable", "(INT I)"), TableExists);
    CHECK_THROWS(css.createTable("dbX", "NewTable", "(INT I)"), NoSuchDb);

    PartTableParams pp{"dbA", "SomeTable", "dirColName", "latColName", "lonColName", 0.012, true, true};
    css.createTable("dbA", "NewTable2", "(INT J)", pp, ScanTableParams{true, 15});
    TableParams tp = css.getTableParams("dbA", "NewTable2");
    CHECK_EQ(tp.partitioning.dirTable, std::string("SomeTable"));
    CHECK_EQ(tp.partitioning.overlap, 0.012);
    CHECK(tp.partitioning.subChunks);
    CHECK(tp.sharedScan.lockInMem);
    CHECK_EQ(tp.sharedScan.scanRating, 15);
    auto packed = CssAccess::unpackJson("", kv->get("/DBS/dbA/TABLES/NewTable2/partitioning/.packed.json"));
    CHECK_EQ(packed["overlap"], std::string("0.012"));

    MatchTableParams mp{"dirTable1", "dirCol1", "dirTable2", "dirCol2", "flagCol", 0.5};
    css.createMatchTable("dbA", "MatchTable2", "(INT X)", mp);
    MatchTableParams got = css.getMatchTableParams("dbA", "MatchTable2");
    CHECK_EQ(got.dirColName1, std::string("dirCol1"));
    CHECK_EQ(got.angSep, 0.5);
    CHECK_EQ(kv->get("/DBS/dbA/TABLES/MatchTable2/match"), std::string("1"));

    css.dropTable("dbA", "NewTable");
    CHECK_THROWS(css.dropTable("dbA", "NewTable"), NoSuchTable);
    CHECK_THROWS(css.dropTable("WrongDb", "NeverExisted"), NoSuchTable);
}

TEST_CASE("Qserv: nodes") {
    CssAccess css(qservTree());
    CHECK_EQ(sorted(css.getNodeNames()), (Strings{"node1", "node2", "node3"}));
    NodeParams n = css.getNodeParams("node1");
    CHECK_EQ(n.type, std::string(""));
    CHECK_EQ(n.port, 0);
    CHECK(n.isActive());
    n = css.getNodeParams("node2");  // packed, port as a JSON number
    CHECK_EQ(n.host, std::string("worker2"));
    CHECK_EQ(n.port, 5012);
    CHECK(!n.isActive());
    n = css.getNodeParams("node3");  // child keys
    CHECK_EQ(n.host, std::string("worker3"));
    CHECK_EQ(n.port, 5012);
    CHECK_THROWS(css.getNodeParams("UnknownNode"), NoSuchNode);
    CHECK_EQ(css.getAllNodeParams().size(), 3u);

    css.addNode("newnode", NodeParams{"worker", "worker100", 5012, "SICK"});
    n = css.getNodeParams("newnode");
    CHECK_EQ(n.state, std::string("SICK"));
    CHECK_EQ(n.port, 5012);
    CHECK_THROWS(css.addNode("newnode", NodeParams{}), NodeExists);
    css.deleteNode("node1");
    CHECK_THROWS(css.deleteNode("node1"), NoSuchNode);
    CHECK_THROWS(css.setNodeState("nodeX", "ACTIVE"), NoSuchNode);
}

TEST_CASE("Qserv: chunks, per table and per node; node in use") {
    CssAccess css(qservTree());
    auto chunks = css.getChunks("dbA", "Exposure");
    CHECK_EQ(chunks.size(), 2u);
    CHECK_EQ(chunks[1234], (Strings{"worker1", "worker2"}));
    CHECK_EQ(chunks[5678], (Strings{"worker1"}));
    CHECK(css.getChunks("dbA", "Object").empty());
    CHECK_THROWS(css.getChunks("dbA", "NonTable"), NoSuchTable);

    css.addChunk("dbB", "MyObject", 1000, {"node1", "node2"});
    css.addChunk("dbB", "MyObject", 2000, {"node3"});
    css.addChunk("dbB", "MyObject", 1000, {"node3"});
    chunks = css.getChunks("dbB", "MyObject");
    CHECK_EQ(chunks[1000], (Strings{"node1", "node2", "node3"}));
    CHECK_EQ(chunks[2000], (Strings{"node3"}));
    CHECK_EQ(css.getNodeChunks("node3").size(), 2u);
    CHECK_EQ(css.getNodeChunks("worker1").size(), 2u);
    CHECK_THROWS(css.addChunk("dbB", "Nope", 1, {"node1"}), NoSuchTable);

    CHECK_THROWS(css.deleteNode("node3"), NodeInUse);
    css.deleteChunk("dbB", "MyObject", 1000, "node3");
    chunks = css.getChunks("dbB", "MyObject");
    CHECK_EQ(chunks[1000], (Strings{"node1", "node2"}));
    css.deleteChunk("dbB", "MyObject", 2000);
    CHECK_THROWS(css.deleteChunk("dbB", "MyObject", 2000), NoSuchKey);
    css.deleteNode("node3");
    CHECK_EQ(sorted(css.getNodeNames()), (Strings{"node1", "node2"}));
    CHECK_THROWS(css.deleteNode("node2"), NodeInUse);
}

TEST_CASE("version: mismatch, read-only empty store, read-only refuses writes") {
    auto kv = open("mem://");
    kv->set("/css_meta/version", "1000000");
    CHECK_THROWS(CssAccess{kv}, LayoutVersionError);

    auto empty = open("mem://", true);
    CHECK_THROWS(CssAccess(empty), VersionMissingError);
    CHECK_EQ(empty->revision(), 0);

    auto fresh = open("mem://");
    CssAccess rw(fresh);
    CHECK_EQ(fresh->get("/css_meta/version"), std::string("1"));
    CssAccess ro(fresh, true);
    CHECK_THROWS(ro.createDb("x", StripingParams(), "L2", "R"), ReadonlyCss);
    CHECK_THROWS(ro.setDbStatus("x", "R"), ReadonlyCss);
    CHECK(ro.getDbNames().empty());
}

TEST_CASE("the 2017 maps read through CssAccess") {
    if (!::qcss::testing::haveFixture(QCSS_FIXTURES_DIR, "qserv/kvmap-2017.json")) return;
    auto css = CssAccess::createFromUrl(std::string("mem://") + QCSS_FIXTURES_DIR +
                                        "/qserv/kvmap-2017.json", true);
    CHECK_EQ(css->getDbNames(), (Strings{"LSST", "rplante_PT1_2_u_pt12prod_im3000_qserv"}));
    DbParams d = css->getDbParams("LSST");
    CHECK_EQ(d.status, std::string("READY"));
    CHECK_EQ(d.storageClass, std::string("L2"));
    CHECK_EQ(d.releaseStatus, std::string("UNRELEASED"));
    CHECK_EQ(d.striping.partitioningId, 0);
    CHECK_EQ(d.striping.stripes, 60);
    CHECK_EQ(d.striping.subStripes, 18);
    CHECK_EQ(d.striping.overlap, 0.025);
    CHECK_EQ(css->getDbStriping("rplante_PT1_2_u_pt12prod_im3000_qserv").partitioningId, 1);
    CHECK_EQ(css->getTableNames("LSST"),
             (Strings{"Exposure", "Filter", "LeapSeconds", "Object", "RefObjMatch",
                      "Science_Ccd_Exposure", "SimRefObject", "Source", "Source2"}));
    PartTableParams p = css->getPartTableParams("LSST", "Object");
    CHECK(p.isPartitioned());
    CHECK_EQ(p.dirColName, std::string("objectIdObjTest"));
    CHECK_EQ(p.latColName, std::string("decl_Test"));
    CHECK_EQ(p.lonColName, std::string("ra_Test"));
    CHECK(p.subChunks);
    CHECK(!css->getPartTableParams("LSST", "Exposure").isPartitioned());
    MatchTableParams m = css->getMatchTableParams("LSST", "RefObjMatch");
    CHECK_EQ(m.dirTable1, std::string("SimRefObject"));
    CHECK_EQ(m.dirColName1, std::string("refObjectId"));
    CHECK_EQ(m.dirTable2, std::string("Object"));
    CHECK_EQ(m.flagColName, std::string("flags"));
    CHECK(css->getPartTableParams("LSST", "RefObjMatch").isPartitioned());
    CHECK(!css->getPartTableParams("LSST", "Source2").subChunks);
    CHECK(css->getChunks("LSST", "Object").empty());
    CHECK_THROWS(css->getNodeNames(), NoSuchKey);  // no /NODES: as Qserv
}

TEST_CASE("threads: creators and a dropper never leave a half state") {
    for (int round = 0; round < 20; ++round) {
        auto kv = open("mem://");
        CssAccess css(kv);
        // Odd rounds without the database lock: the transactions alone must hold.
        css.setLocking(round % 2 == 0);
        css.createDb("db", StripingParams{60, 18, 0, 0.025}, "L2", "UNRELEASED");
        std::atomic<int> created{0};
        auto creator = [&](int id) {
            for (int i = 0; i < 200; ++i) {
                try {
                    css.createTable("db", "T" + std::to_string(id) + "_" + std::to_string(i), "(I INT)",
                                    PartTableParams{"db", "Obj", "id", "lat", "lon", 0.5, true, true});
                    ++created;
                } catch (NoSuchDb const&) {
                    return;
                }
            }
        };
        std::thread a(creator, 1), b(creator, 2);
        std::thread c([&] {
            while (created.load() < 5) std::this_thread::yield();  // creators under way
            css.dropDb("db");
        });
        a.join();
        b.join();
        c.join();
        // The drop happened after the creators started and nobody recreates
        // the database: it must be gone whole (a late table create must not
        // resurrect it through the parents it makes), with its partitioning.
        CHECK(!css.containsDb("db"));
        for (auto const& e : kv->snapshot("/DBS").entries) {
            CHECK(e.key.rfind("/DBS/db", 0) != 0);
        }
        CHECK(!kv->exists("/PARTITIONING/_0000000001"));
    }
}

TEST_CASE("admin operations take the database lock") {
    auto kv = open("mem://");
    CssAccess css(kv);
    CHECK(css.locking());
    css.createDb("db", StripingParams(), "L2", "UNRELEASED");
    css.setLocking(true, std::chrono::milliseconds(50));
    {
        LockOptions opts;
        opts.purpose = "operator";
        auto held = lock(kv, "/DBS/db", opts);
        CHECK_THROWS(css.createTable("db", "T", "(x INT)"), LockTimeout);
        CHECK_THROWS(css.dropDb("db"), LockTimeout);
        CHECK(!css.containsTable("db", "T", false));
        // Reads take no lock.
        CHECK_EQ(css.getDbStatus("db"), std::string("READY"));
    }
    css.createTable("db", "T", "(x INT)");
    CHECK(css.containsTable("db", "T"));
    css.setLocking(false);
    {
        auto held = lock(kv, "/DBS/db");
        css.dropTable("db", "T");  // no lock taken: not blocked
    }
    CHECK(!css.containsTable("db", "T", false));
}

QCSS_TEST_MAIN()
