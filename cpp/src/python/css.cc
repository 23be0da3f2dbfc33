// qcss: css.cc -- CssAccess and its parameter structs in Python (same names as C++).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <set>

#include <optional>

#include "python/bind.h"
#include "qcss/CssAccess.h"

namespace qcss::python {

namespace {

using Release = py::gil_scoped_release;
using CssPtr = std::shared_ptr<CssAccess>;

template <typename T>
std::string reprOf(char const* name, std::initializer_list<std::pair<char const*, std::string>> f) {
    std::string s = std::string(name) + "(";
    bool first = true;
    for (auto const& [k, v] : f) {
        if (!first) s += ", ";
        first = false;
        s += std::string(k) + "=" + v;
    }
    return s + ")";
}

std::string q(std::string const& s) { return "'" + s + "'"; }
std::string b(bool v) { return v ? "True" : "False"; }

// Call a const or non-const CssAccess method with the GIL released.
template <typename R, typename... Args>
auto released(R (CssAccess::*fn)(Args...) const) {
    return [fn](CssAccess const& c, Args... args) {
        Release r;
        return (c.*fn)(args...);
    };
}
template <typename R, typename... Args>
auto released(R (CssAccess::*fn)(Args...)) {
    return [fn](CssAccess& c, Args... args) {
        Release r;
        return (c.*fn)(args...);
    };
}

}  // namespace

void bindCss(py::module_& m) {
    py::class_<StripingParams>(m, "StripingParams", "Striping of a partitioned database.")
            .def(py::init<>())
            .def(py::init([](int stripes, int subStripes, int partitioningId, double overlap) {
                     return StripingParams{stripes, subStripes, partitioningId, overlap};
                 }),
                 py::arg("stripes"), py::arg("subStripes"), py::arg("partitioningId") = 0,
                 py::arg("overlap") = 0.0)
            .def_readwrite("stripes", &StripingParams::stripes)
            .def_readwrite("subStripes", &StripingParams::subStripes)
            .def_readwrite("partitioningId", &StripingParams::partitioningId)
            .def_readwrite("overlap", &StripingParams::overlap)
            .def("isDefaultConstructed", &StripingParams::isDefaultConstructed)
            .def("__eq__", [](StripingParams const& a, StripingParams const& b) { return a == b; })
            .def("__ne__", [](StripingParams const& a, StripingParams const& b) { return a != b; })
            .def("__repr__", [](StripingParams const& p) {
                return reprOf<StripingParams>(
                        "StripingParams", {{"stripes", std::to_string(p.stripes)},
                                           {"subStripes", std::to_string(p.subStripes)},
                                           {"partitioningId", std::to_string(p.partitioningId)},
                                           {"overlap", CssAccess::formatDouble(p.overlap)}});
            });

    py::class_<PartTableParams>(m, "PartTableParams",
                                "Partitioning of a table. Every field defaults as in C++ "
                                "(PartTableParams{}): empty names, overlap 0, not partitioned.")
            .def(py::init([](std::string dirDb, std::string dirTable, std::string dirColName,
                             std::string latColName, std::string lonColName, double overlap,
                             bool partitioned, bool subChunks) {
                     return PartTableParams{dirDb,   dirTable,    dirColName, latColName,
                                            lonColName, overlap, partitioned, subChunks};
                 }),
                 py::arg("dirDb") = "", py::arg("dirTable") = "", py::arg("dirColName") = "",
                 py::arg("latColName") = "", py::arg("lonColName") = "", py::arg("overlap") = 0.0,
                 py::arg("partitioned") = false, py::arg("subChunks") = false)
            .def_readwrite("dirDb", &PartTableParams::dirDb)
            .def_readwrite("dirTable", &PartTableParams::dirTable)
            .def_readwrite("dirColName", &PartTableParams::dirColName)
            .def_readwrite("latColName", &PartTableParams::latColName)
            .def_readwrite("lonColName", &PartTableParams::lonColName)
            .def_readwrite("overlap", &PartTableParams::overlap)
            .def_readwrite("partitioned", &PartTableParams::partitioned)
            .def_readwrite("subChunks", &PartTableParams::subChunks)
            .def("isPartitioned", &PartTableParams::isPartitioned)
            .def("isChunked", &PartTableParams::isChunked,
                 "The same as isPartitioned(), as Qserv defines it (match tables included).")
            .def("isSubChunked", &PartTableParams::isSubChunked)
            .def("chunkLevel", &PartTableParams::chunkLevel)
            .def("partitionCols", &PartTableParams::partitionCols)
            .def("secIndexColNames", &PartTableParams::secIndexColNames)
            .def("__repr__", [](PartTableParams const& p) {
                return reprOf<PartTableParams>(
                        "PartTableParams",
                        {{"dirDb", q(p.dirDb)}, {"dirTable", q(p.dirTable)},
                         {"dirColName", q(p.dirColName)}, {"latColName", q(p.latColName)},
                         {"lonColName", q(p.lonColName)},
                         {"overlap", CssAccess::formatDouble(p.overlap)},
                         {"partitioned", b(p.partitioned)}, {"subChunks", b(p.subChunks)}});
            });

    py::class_<ScanTableParams>(m, "ScanTableParams", "Shared-scan parameters of a table.")
            .def(py::init<>())
            .def(py::init([](bool lockInMem, int scanRating) {
                     return ScanTableParams{lockInMem, scanRating};
                 }),
                 py::arg("lockInMem"), py::arg("scanRating") = 0)
            .def_readwrite("lockInMem", &ScanTableParams::lockInMem)
            .def_readwrite("scanRating", &ScanTableParams::scanRating)
            .def("__repr__", [](ScanTableParams const& p) {
                return "ScanTableParams(lockInMem=" + b(p.lockInMem) +
                       ", scanRating=" + std::to_string(p.scanRating) + ")";
            });

    py::class_<MatchTableParams>(m, "MatchTableParams", "Parameters of a match table.")
            .def(py::init<>())
            .def(py::init([](std::string t1, std::string c1, std::string t2, std::string c2,
                             std::string flag, double angSep) {
                     return MatchTableParams{t1, c1, t2, c2, flag, angSep};
                 }),
                 py::arg("dirTable1"), py::arg("dirColName1"), py::arg("dirTable2"),
                 py::arg("dirColName2"), py::arg("flagColName"), py::arg("angSep") = 0.0)
            .def_readwrite("dirTable1", &MatchTableParams::dirTable1)
            .def_readwrite("dirColName1", &MatchTableParams::dirColName1)
            .def_readwrite("dirTable2", &MatchTableParams::dirTable2)
            .def_readwrite("dirColName2", &MatchTableParams::dirColName2)
            .def_readwrite("flagColName", &MatchTableParams::flagColName)
            .def_readwrite("angSep", &MatchTableParams::angSep)
            .def("isMatchTable", &MatchTableParams::isMatchTable)
            .def("__repr__", [](MatchTableParams const& p) {
                return reprOf<MatchTableParams>(
                        "MatchTableParams",
                        {{"dirTable1", q(p.dirTable1)}, {"dirColName1", q(p.dirColName1)},
                         {"dirTable2", q(p.dirTable2)}, {"dirColName2", q(p.dirColName2)},
                         {"flagColName", q(p.flagColName)},
                         {"angSep", CssAccess::formatDouble(p.angSep)}});
            });

    py::class_<TableParams>(m, "TableParams", "Every parameter of a table.")
            .def(py::init<>())
            .def_readwrite("match", &TableParams::match)
            .def_readwrite("partitioning", &TableParams::partitioning)
            .def_readwrite("sharedScan", &TableParams::sharedScan);

    py::class_<NodeParams>(m, "NodeParams", "A worker or czar node.")
            .def(py::init<>())
            .def(py::init([](std::string type, std::string host, int port, std::string state) {
                     return NodeParams{type, host, port, state};
                 }),
                 py::arg("type"), py::arg("host"), py::arg("port") = 0, py::arg("state") = "ACTIVE")
            .def_readwrite("type", &NodeParams::type)
            .def_readwrite("host", &NodeParams::host)
            .def_readwrite("port", &NodeParams::port)
            .def_readwrite("state", &NodeParams::state)
            .def("isActive", &NodeParams::isActive)
            .def("__repr__", [](NodeParams const& p) {
                return "NodeParams(type=" + q(p.type) + ", host=" + q(p.host) +
                       ", port=" + std::to_string(p.port) + ", state=" + q(p.state) + ")";
            });

    py::class_<DbParams>(m, "DbParams", "Status, release status, storage class and striping.")
            .def_readonly("status", &DbParams::status)
            .def_readonly("releaseStatus", &DbParams::releaseStatus)
            .def_readonly("storageClass", &DbParams::storageClass)
            .def_readonly("striping", &DbParams::striping);

    py::class_<ChunkReplica>(m, "ChunkReplica", "One chunk replica.")
            .def_readonly("db", &ChunkReplica::db)
            .def_readonly("table", &ChunkReplica::table)
            .def_readonly("chunk", &ChunkReplica::chunk)
            .def_readonly("replica", &ChunkReplica::replica)
            .def_readonly("nodeName", &ChunkReplica::nodeName)
            .def("__repr__", [](ChunkReplica const& r) {
                return "ChunkReplica(" + r.db + "." + r.table + ", chunk=" +
                       std::to_string(r.chunk) + ", node=" + r.nodeName + ")";
            });

    py::class_<EmptyChunks, std::shared_ptr<EmptyChunks>>(m, "EmptyChunks", R"doc(
The per-database sets of empty chunks, read once from <path>/empty_<db>.txt
(or <path>/emptyChunks.txt), as Qserv's file-based EmptyChunks.)doc")
            .def(py::init<std::string>(), py::arg("path"))
            .def(py::init<std::map<std::string, std::set<int>> const&>(), py::arg("sets"))
            .def("getEmpty", [](EmptyChunks& e, std::string const& db) {
                std::shared_ptr<std::set<int> const> s;
                {
                    Release r;
                    s = e.getEmpty(db);
                }
                return *s;
            }, py::arg("db"))
            .def("isEmpty", [](EmptyChunks& e, std::string const& db, int chunk) {
                Release r;
                return e.isEmpty(db, chunk);
            }, py::arg("db"), py::arg("chunk"))
            .def("clearCache", &EmptyChunks::clearCache, py::arg("db") = "")
            .def_property_readonly("path", &EmptyChunks::path);

    using Opt = std::optional<std::string>;
    py::class_<CssAccess, CssPtr>(m, "CssAccess", R"doc(
The CSS facade: Qserv's key layout (databases, tables, nodes, chunks) over a
KvInterface. CssAccess(kv, readOnly=False) wraps an open store (checking
/css_meta/version); CssAccess.createFromUrl(url, readOnly=False) opens one.
Creates and drops are each one transaction; statuses support compare-and-set.)doc")
            .def(py::init([](KvPtr kv, bool readOnly) {
                     Release r;
                     return std::make_shared<CssAccess>(std::move(kv), readOnly);
                 }),
                 py::arg("kv"), py::arg("readOnly") = false)
            .def_static("createFromUrl", [](std::string const& url, bool readOnly) {
                Release r;
                return CssAccess::createFromUrl(url, readOnly);
            }, py::arg("url"), py::arg("readOnly") = false)
            .def_static("createFromData", [](std::string const& data, std::string const& emptyChunkPath,
                                             bool readOnly) {
                Release r;
                return CssAccess::createFromData(data, emptyChunkPath, readOnly);
            }, py::arg("data"), py::arg("emptyChunkPath") = "", py::arg("readOnly") = false,
               "A CssAccess over an in-memory store loaded from a Qserv map (JSON or TSV).")
            .def_static("createFromStream", [](py::object stream, std::string const& emptyChunkPath,
                                               bool readOnly) {
                py::object text = stream.attr("read")();
                std::string data = py::isinstance<py::bytes>(text) ? std::string(py::bytes(text))
                                                                    : text.cast<std::string>();
                Release r;
                return CssAccess::createFromData(data, emptyChunkPath, readOnly);
            }, py::arg("stream"), py::arg("emptyChunkPath") = "", py::arg("readOnly") = false,
               "As createFromData, reading a file object (text or binary).")
            .def_static("createFromConfig", [](std::map<std::string, std::string> const& config,
                                               std::string const& emptyChunkPath, bool readOnly) {
                Release r;
                return CssAccess::createFromConfig(config, emptyChunkPath, readOnly);
            }, py::arg("config"), py::arg("emptyChunkPath") = "", py::arg("readOnly") = false,
               "Qserv's configuration map: technology=mem (data, file) or mysql (hostname, port, "
               "socket, username, password, database).")
            .def_static("urlFromConfig", &CssAccess::urlFromConfig, py::arg("config"))
            .def_static("cssVersion", &CssAccess::cssVersion)
            .def_property_readonly("kv", &CssAccess::kv)
            .def("getKvI", &CssAccess::getKvI)
            .def("setEmptyChunkPath", &CssAccess::setEmptyChunkPath, py::arg("path"))
            .def("getEmptyChunks", &CssAccess::getEmptyChunks)
            .def("readOnly", &CssAccess::readOnly)
            .def("setLocking", [](CssAccess& c, bool enabled, std::int64_t timeoutMs) {
                c.setLocking(enabled, std::chrono::milliseconds(timeoutMs));
            }, py::arg("enabled"), py::arg("timeoutMs") = 60000,
               "Lock /DBS/<db> around admin operations (default on); timeout then LockTimeout.")
            .def("locking", &CssAccess::locking)
            // databases
            .def("getDbNames", released(&CssAccess::getDbNames))
            .def("getDbStatus", released<std::map<std::string, std::string>>(&CssAccess::getDbStatus))
            .def("getDbStatus", released<std::string, std::string const&>(&CssAccess::getDbStatus),
                 py::arg("dbName"))
            .def("setDbStatus", released(&CssAccess::setDbStatus), py::arg("dbName"),
                 py::arg("status"), py::arg("expected") = Opt())
            .def("containsDb", released(&CssAccess::containsDb), py::arg("dbName"))
            .def("getDbStriping", released(&CssAccess::getDbStriping), py::arg("dbName"))
            .def("getDbParams", released(&CssAccess::getDbParams), py::arg("dbName"))
            .def("createDb", released(&CssAccess::createDb), py::arg("dbName"),
                 py::arg("striping") = StripingParams(), py::arg("storageClass") = "L2",
                 py::arg("releaseStatus") = "UNRELEASED", py::arg("status") = "READY")
            .def("createDbLike", released(&CssAccess::createDbLike), py::arg("dbName"),
                 py::arg("templateDbName"))
            .def("dropDb", released(&CssAccess::dropDb), py::arg("dbName"))
            // tables
            .def("getTableNames", released(&CssAccess::getTableNames), py::arg("dbName"),
                 py::arg("readyOnly") = true)
            .def("getTableStatus",
                 released<std::map<std::string, std::string>, std::string const&>(
                         &CssAccess::getTableStatus),
                 py::arg("dbName"))
            .def("getTableStatus",
                 released<std::string, std::string const&, std::string const&>(
                         &CssAccess::getTableStatus),
                 py::arg("dbName"), py::arg("tableName"))
            .def("setTableStatus", released(&CssAccess::setTableStatus), py::arg("dbName"),
                 py::arg("tableName"), py::arg("status"), py::arg("expected") = Opt())
            .def("containsTable", released(&CssAccess::containsTable), py::arg("dbName"),
                 py::arg("tableName"), py::arg("readyOnly") = true)
            .def("getTableSchema", released(&CssAccess::getTableSchema), py::arg("dbName"),
                 py::arg("tableName"))
            .def("setTableSchema", released(&CssAccess::setTableSchema), py::arg("dbName"),
                 py::arg("tableName"), py::arg("schema"))
            .def("setScanTableParams", released(&CssAccess::setScanTableParams), py::arg("dbName"),
                 py::arg("tableName"), py::arg("scanParams"))
            .def("getMatchTableParams", released(&CssAccess::getMatchTableParams),
                 py::arg("dbName"), py::arg("tableName"))
            .def("getPartTableParams", released(&CssAccess::getPartTableParams),
                 py::arg("dbName"), py::arg("tableName"))
            .def("getScanTableParams", released(&CssAccess::getScanTableParams),
                 py::arg("dbName"), py::arg("tableName"))
            .def("getTableParams", released(&CssAccess::getTableParams), py::arg("dbName"),
                 py::arg("tableName"))
            .def("createTable", released(&CssAccess::createTable), py::arg("dbName"),
                 py::arg("tableName"), py::arg("schema") = "",
                 py::arg("partParams") = PartTableParams(),
                 py::arg("scanParams") = ScanTableParams(), py::arg("status") = "READY")
            .def("createMatchTable", released(&CssAccess::createMatchTable), py::arg("dbName"),
                 py::arg("tableName"), py::arg("schema"), py::arg("matchParams"),
                 py::arg("status") = "READY")
            .def("dropTable", released(&CssAccess::dropTable), py::arg("dbName"),
                 py::arg("tableName"))
            // nodes
            .def("getNodeNames", released(&CssAccess::getNodeNames))
            .def("getNodeParams", released(&CssAccess::getNodeParams), py::arg("nodeName"))
            .def("getAllNodeParams", released(&CssAccess::getAllNodeParams))
            .def("addNode", released(&CssAccess::addNode), py::arg("nodeName"),
                 py::arg("nodeParams"))
            .def("setNodeState", released(&CssAccess::setNodeState), py::arg("nodeName"),
                 py::arg("newState"), py::arg("expected") = Opt())
            .def("deleteNode", released(&CssAccess::deleteNode), py::arg("nodeName"))
            // chunks
            .def("addChunk", released(&CssAccess::addChunk), py::arg("dbName"),
                 py::arg("tableName"), py::arg("chunk"), py::arg("nodeNames"))
            .def("addChunks", released(&CssAccess::addChunks), py::arg("dbName"),
                 py::arg("tableName"), py::arg("chunks"))
            .def("deleteChunk", released(&CssAccess::deleteChunk), py::arg("dbName"),
                 py::arg("tableName"), py::arg("chunk"), py::arg("nodeName") = "")
            .def("getChunks", released(&CssAccess::getChunks), py::arg("dbName"),
                 py::arg("tableName"))
            .def("getNodeChunks", released(&CssAccess::getNodeChunks), py::arg("nodeName"))
            .def_static("unpackJson", &CssAccess::unpackJson, py::arg("key"), py::arg("data"))
            .def_static("packJson", &CssAccess::packJson, py::arg("data"))
            .def_static("formatDouble", &CssAccess::formatDouble, py::arg("value"))
            .def("__repr__", [](CssAccess const& c) { return "<qcss.CssAccess " + c.kv()->url() + ">"; });
}

static Registrar reg("css", &bindCss);

}  // namespace qcss::python
