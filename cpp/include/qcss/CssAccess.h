// qcss: CssAccess.h -- the CSS facade: Qserv's key layout over a KvInterface.
//
// Qserv services ask "which databases are ready, how is this table
// partitioned, which nodes hold this chunk"; CssAccess answers over any
// KvInterface (mem, sqlite, mysql, mirror), with the method names of Qserv's
// css::CssAccess. The layout (docs/css-layout.md):
//
//   /css_meta/version                    "1"
//   /DBS/<db>                            status (READY, PENDING_DROP:..., ...)
//   /DBS/<db>/.packed.json               {partitioningId, releaseStatus, storageClass}
//   /DBS/<db>/TABLES/<t>                 status
//   /DBS/<db>/TABLES/<t>/.packed.json    {schema}
//   /DBS/<db>/TABLES/<t>/partitioning[/.packed.json]   partitioned tables only
//   /DBS/<db>/TABLES/<t>/sharedScan/.packed.json       {lockInMem, scanRating}
//   /DBS/<db>/TABLES/<t>/match = "1" [/.packed.json]   match tables only
//   /DBS/<db>/TABLES/<t>/CHUNKS/<n>/REPLICAS/<10 digits>/.packed.json  {nodeName}
//   /PARTITIONING/_<10 digits>/.packed.json            {nStripes, nSubStripes, overlap}
//   /NODES/<node>                        state (ACTIVE, INACTIVE, CREATING)
//   /NODES/<node>/.packed.json           {type, host, port}
//
// Parameters are read from separate child keys (the older form, e.g. the 2017
// maps) and from the `.packed.json` child (a flat JSON object of strings); a
// child key wins over the same name in the packed object. Writes use the
// packed form. Numbers are stored as the shortest text that reads back to the
// same double, so 0.025 stays "0.025" and every value round-trips exactly.
//
// Atomicity: createDb, createDbLike, dropDb, createTable, createMatchTable,
// dropTable, addChunk(s), deleteChunk, addNode and deleteNode are each ONE
// transaction of the store (no reader ever sees half of one). Status changes
// with an expected old status are compare-and-set. Operations that change the
// set of databases serialise on the version of /DBS (its value is kept as is),
// so a /PARTITIONING entry is removed exactly when its last user is dropped.
// Conflicting concurrent writers are retried (re-reading their preconditions),
// so callers see either success or the typed error the final state implies.
//
// Thread safety: a CssAccess holds no mutable state besides its store, which
// is itself thread-safe; share one between threads freely.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <istream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "qcss/KvInterface.h"
#include "qcss/Lock.h"

namespace qcss {

/// Striping of a partitioned database (a /PARTITIONING/_<id> entry).
struct StripingParams {
    StripingParams() = default;
    StripingParams(int stripes_, int subStripes_, int partitioningId_ = 0, double overlap_ = 0)
            : stripes(stripes_), subStripes(subStripes_), partitioningId(partitioningId_),
              overlap(overlap_) {}
    int stripes = 0;         ///< nStripes; 0: the database is not partitioned
    int subStripes = 0;      ///< nSubStripes
    int partitioningId = 0;  ///< the <id> of /PARTITIONING/_<id>
    double overlap = 0;      ///< degrees
    /// True if every member has its default value (the database is not partitioned).
    bool isDefaultConstructed() const noexcept {
        return stripes == 0 && subStripes == 0 && partitioningId == 0 && overlap == 0.0;
    }
    bool operator==(StripingParams const& o) const noexcept {
        return stripes == o.stripes && subStripes == o.subStripes &&
               partitioningId == o.partitioningId && overlap == o.overlap;
    }
    bool operator!=(StripingParams const& o) const noexcept { return !(*this == o); }
};

/// Partitioning of a table (its `partitioning` subkeys).
struct PartTableParams {
    /// Not partitioned: empty names, overlap 0 (the only defaults there are).
    PartTableParams() = default;
    /// Every field given, as in Qserv (no defaults here: PartTableParams("db", "T")
    /// must not silently mean partitioned while PartTableParams() means not).
    PartTableParams(std::string dirDb_, std::string dirTable_, std::string dirColName_,
                    std::string latColName_, std::string lonColName_, double overlap_,
                    bool partitioned_, bool subChunks_)
            : dirDb(std::move(dirDb_)), dirTable(std::move(dirTable_)),
              dirColName(std::move(dirColName_)), latColName(std::move(latColName_)),
              lonColName(std::move(lonColName_)), overlap(overlap_), partitioned(partitioned_),
              subChunks(subChunks_) {}
    std::string dirDb;
    std::string dirTable;
    std::string dirColName;
    std::string latColName;
    std::string lonColName;
    double overlap = 0;
    bool partitioned = false;  ///< the `partitioning` key exists
    bool subChunks = false;
    /// The table has a `partitioning` key (director, child or match table).
    bool isPartitioned() const noexcept { return partitioned; }
    /// As Qserv defines it (css/PartTableParams.h: "chunked === partitioned"):
    /// the same as isPartitioned(), match tables included; not the same as
    /// having lat/lon columns. isSubChunked() is the separate `subChunks` flag.
    bool isChunked() const noexcept { return partitioned; }
    /// The table is sub-chunked (`partitioning/subChunks` is 1).
    bool isSubChunked() const noexcept { return subChunks; }
    /// 2 if sub-chunked, 1 if chunked, else 0.
    int chunkLevel() const noexcept { return subChunks ? 2 : (partitioned ? 1 : 0); }
    /// {lonColName, latColName, dirColName} ("" where a column is not available).
    std::vector<std::string> partitionCols() const { return {lonColName, latColName, dirColName}; }
    /// The secondary-index columns: {dirColName}, or none when it is empty.
    std::vector<std::string> secIndexColNames() const {
        return dirColName.empty() ? std::vector<std::string>{} : std::vector<std::string>{dirColName};
    }
};

/// Shared-scan parameters of a table (its `sharedScan` subkeys).
struct ScanTableParams {
    ScanTableParams() = default;
    ScanTableParams(bool lockInMem_, int scanRating_) : lockInMem(lockInMem_), scanRating(scanRating_) {}
    bool lockInMem = false;
    int scanRating = 0;
};

/// Parameters of a match table (its `match` subkeys).
struct MatchTableParams {
    MatchTableParams() = default;
    MatchTableParams(std::string dirTable1_, std::string dirColName1_, std::string dirTable2_,
                     std::string dirColName2_, std::string flagColName_, double angSep_ = 0)
            : dirTable1(std::move(dirTable1_)), dirColName1(std::move(dirColName1_)),
              dirTable2(std::move(dirTable2_)), dirColName2(std::move(dirColName2_)),
              flagColName(std::move(flagColName_)), angSep(angSep_) {}
    std::string dirTable1;
    std::string dirColName1;
    std::string dirTable2;
    std::string dirColName2;
    std::string flagColName;
    double angSep = 0;
    bool isMatchTable() const noexcept { return !dirTable1.empty(); }
};

/// Every parameter of a table, read as one consistent snapshot.
struct TableParams {
    MatchTableParams match;
    PartTableParams partitioning;
    ScanTableParams sharedScan;
};

/// A worker or czar node (/NODES/<node>).
struct NodeParams {
    NodeParams() = default;
    NodeParams(std::string type_, std::string host_, int port_ = 0, std::string state_ = "ACTIVE")
            : type(std::move(type_)), host(std::move(host_)), port(port_), state(std::move(state_)) {}
    std::string type;
    std::string host;
    int port = 0;
    std::string state;  ///< ACTIVE, INACTIVE, CREATING (or any text)
    bool isActive() const noexcept { return state == "ACTIVE"; }
};

/// Everything about one database, read as one consistent snapshot.
struct DbParams {
    std::string status;
    std::string releaseStatus;
    std::string storageClass;
    StripingParams striping;
};

/// One chunk replica: table `db`.`table`, chunk `chunk`, on `nodeName`.
struct ChunkReplica {
    std::string db;
    std::string table;
    int chunk = 0;
    std::string replica;  ///< the 10-digit replica key
    std::string nodeName;
};

/// The per-database sets of empty chunks, read (once, then cached) from
/// `<path>/empty_<db>.txt` (whitespace-separated chunk numbers), or from
/// `<path>/emptyChunks.txt` when there is no file for the database, as Qserv's
/// file-based EmptyChunks did. Thread-safe.
class EmptyChunks {
public:
    explicit EmptyChunks(std::string path);
    /// Fixed sets (no files): database -> empty chunks.
    explicit EmptyChunks(std::map<std::string, std::set<int>> const& sets);
    EmptyChunks(EmptyChunks const&) = delete;
    EmptyChunks& operator=(EmptyChunks const&) = delete;
    ~EmptyChunks();

    /// The empty chunks of `db`. ConfigError if neither file exists (or no path
    /// was given), KeyValueError if the file holds something else than integers.
    std::shared_ptr<std::set<int> const> getEmpty(std::string const& db);
    bool isEmpty(std::string const& db, int chunk);
    /// Forget the cached set of `db` (every database when empty).
    void clearCache(std::string const& db = std::string());
    std::string const& path() const noexcept { return _path; }

private:
    struct Cache;  // the sets read so far, under a mutex
    std::string _path;
    bool _fixed = false;
    std::unique_ptr<Cache> _cache;
};

class CssAccess {
public:
    /// The layout version this library reads and writes ("1", as Qserv).
    static int cssVersion() noexcept { return 1; }
    static constexpr char const* VERSION_KEY = "/css_meta/version";
    static constexpr char const* PACKED_KEY = ".packed.json";
    static constexpr char const* STATUS_READY = "READY";

    /// Open the store at `url` (see Open.h) and wrap it.
    static std::shared_ptr<CssAccess> createFromUrl(std::string const& url, bool readOnly = false);

    // ---- Qserv's factories (an in-memory store loaded from a map) -----------
    /// A CssAccess over a new in-memory store loaded from `data`: a JSON map
    /// (Qserv's dumpKV format, {"/key": "value", ...}) or the older TSV map (one
    /// `key<TAB>value` a line, `\N` for an empty value). "" is an empty store.
    /// The keys are written with set (parents created empty), then the store
    /// is made read-only if `readOnly`. `emptyChunkPath` is where
    /// getEmptyChunks() reads empty_<db>.txt. BadDumpError on malformed data;
    /// VersionMismatchError if the map holds another /css_meta/version.
    static std::shared_ptr<CssAccess> createFromData(std::string const& data,
                                                     std::string const& emptyChunkPath,
                                                     bool readOnly = false);
    static std::shared_ptr<CssAccess> createFromData(std::string const& data, bool readOnly = false) {
        return createFromData(data, std::string(), readOnly);
    }
    /// As createFromData, reading the whole stream.
    static std::shared_ptr<CssAccess> createFromStream(std::istream& stream,
                                                       std::string const& emptyChunkPath,
                                                       bool readOnly = false);
    static std::shared_ptr<CssAccess> createFromStream(std::istream& stream, bool readOnly = false) {
        return createFromStream(stream, std::string(), readOnly);
    }
    /// Qserv's configuration map: "technology" is "mem" (optional "data" or
    /// "file" with a map as createFromData reads) or "mysql" (optional
    /// "hostname", "port", "socket", "username", "password", "database"; the
    /// database defaults to qservCssData). ConfigError for a missing or
    /// unknown technology, a bad port, an unreadable file, or both data and file.
    static std::shared_ptr<CssAccess> createFromConfig(std::map<std::string, std::string> const& config,
                                                       std::string const& emptyChunkPath,
                                                       bool readOnly = false);
    static std::shared_ptr<CssAccess> createFromConfig(std::map<std::string, std::string> const& config,
                                                       bool readOnly = false) {
        return createFromConfig(config, std::string(), readOnly);
    }
    /// The store URL a Qserv configuration map names (what createFromConfig
    /// opens for "mysql"; "mem://" for "mem"). ConfigError as createFromConfig.
    static std::string urlFromConfig(std::map<std::string, std::string> const& config);

    /// Wrap an open store. Checks /css_meta/version: a different version throws
    /// VersionMismatchError; a missing one is written ("1") unless `readOnly`
    /// (or the store is read-only), in which case NoSuchKey says the store holds
    /// no CSS tree. `readOnly` also makes every mutating call throw ReadonlyCss.
    explicit CssAccess(KvPtr kv, bool readOnly = false);

    KvPtr const& kv() const noexcept { return _kv; }
    /// Qserv's name for kv().
    KvPtr const& getKvI() const noexcept { return _kv; }
    /// Where getEmptyChunks() reads empty_<db>.txt ("" when not set).
    void setEmptyChunkPath(std::string const& path);
    /// The empty chunks of every database, read from the empty-chunk path.
    std::shared_ptr<EmptyChunks> getEmptyChunks() const { return _emptyChunks; }
    bool readOnly() const noexcept { return _readOnly; }

    /// Admin operations on a database (create, create-like, drop, table create
    /// and drop, chunk add/delete) take the exclusive lock (Lock.h) on the key
    /// path /DBS/<db> for their duration, waiting at most `timeout` (then
    /// LockTimeout), and their transaction checks the lock's fencing token (a
    /// holder that lost its lease cannot commit: LeaseExpired). On by default;
    /// `enabled` false takes no lock: each operation is still one atomic
    /// transaction with compare-and-set preconditions. Set it before sharing
    /// the CssAccess between threads.
    void setLocking(bool enabled,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));
    bool locking() const noexcept { return _locking; }

    // ---- databases ----------------------------------------------------------
    std::vector<std::string> getDbNames() const;
    /// Status of every database.
    std::map<std::string, std::string> getDbStatus() const;
    /// Status of one database; NoSuchDb.
    std::string getDbStatus(std::string const& dbName) const;
    /// Set a database's status. With `expected`, only if the current status is
    /// exactly that (compare-and-set): else VersionMismatchError. NoSuchDb.
    void setDbStatus(std::string const& dbName, std::string const& status,
                     std::optional<std::string> const& expected = std::nullopt);
    bool containsDb(std::string const& dbName) const;
    /// Striping (default-constructed when not partitioned); NoSuchDb.
    StripingParams getDbStriping(std::string const& dbName) const;
    /// Status, release status, storage class and striping; NoSuchDb.
    DbParams getDbParams(std::string const& dbName) const;
    /// Create a database (status READY unless `status` given): one transaction
    /// writing the database, its TABLES key and, when striping.stripes > 0, a
    /// new /PARTITIONING/_<id>. DbExists.
    void createDb(std::string const& dbName, StripingParams const& striping,
                  std::string const& storageClass, std::string const& releaseStatus,
                  std::string const& status = STATUS_READY);
    /// Create a database sharing the template's partitioning, storage class and
    /// release status. NoSuchDb (template), DbExists.
    void createDbLike(std::string const& dbName, std::string const& templateDbName);
    /// Delete a database with its tables and chunks, and its /PARTITIONING
    /// entry when no other database uses it, in one transaction (one batch,
    /// whatever the number of chunks). NoSuchDb.
    void dropDb(std::string const& dbName);

    // ---- tables -------------------------------------------------------------
    std::vector<std::string> getTableNames(std::string const& dbName, bool readyOnly = true) const;
    std::map<std::string, std::string> getTableStatus(std::string const& dbName) const;
    std::string getTableStatus(std::string const& dbName, std::string const& tableName) const;
    void setTableStatus(std::string const& dbName, std::string const& tableName,
                        std::string const& status,
                        std::optional<std::string> const& expected = std::nullopt);
    bool containsTable(std::string const& dbName, std::string const& tableName,
                       bool readyOnly = true) const;
    std::string getTableSchema(std::string const& dbName, std::string const& tableName) const;
    /// Replace a table's schema (in its packed key). NoSuchTable.
    void setTableSchema(std::string const& dbName, std::string const& tableName,
                        std::string const& schema);
    MatchTableParams getMatchTableParams(std::string const& dbName, std::string const& tableName) const;
    PartTableParams getPartTableParams(std::string const& dbName, std::string const& tableName) const;
    ScanTableParams getScanTableParams(std::string const& dbName, std::string const& tableName) const;
    TableParams getTableParams(std::string const& dbName, std::string const& tableName) const;
    /// Replace a table's shared-scan parameters (its sharedScan subtree). NoSuchTable.
    void setScanTableParams(std::string const& dbName, std::string const& tableName,
                            ScanTableParams const& scanParams);
    /// Create a regular (partParams not partitioned) or partitioned table in one
    /// transaction. NoSuchDb, TableExists.
    void createTable(std::string const& dbName, std::string const& tableName,
                     std::string const& schema, PartTableParams const& partParams = {},
                     ScanTableParams const& scanParams = {},
                     std::string const& status = STATUS_READY);
    /// Create a match table in one transaction. NoSuchDb, TableExists.
    void createMatchTable(std::string const& dbName, std::string const& tableName,
                          std::string const& schema, MatchTableParams const& matchParams,
                          std::string const& status = STATUS_READY);
    /// Delete a table with its chunks (one transaction). NoSuchTable.
    void dropTable(std::string const& dbName, std::string const& tableName);

    // ---- nodes --------------------------------------------------------------
    std::vector<std::string> getNodeNames() const;
    NodeParams getNodeParams(std::string const& nodeName) const;
    std::map<std::string, NodeParams> getAllNodeParams() const;
    /// Add a node (one transaction). NodeExists.
    void addNode(std::string const& nodeName, NodeParams const& nodeParams);
    void setNodeState(std::string const& nodeName, std::string const& newState,
                      std::optional<std::string> const& expected = std::nullopt);
    /// Delete a node; NodeInUse while any chunk replica names it. NoSuchNode.
    void deleteNode(std::string const& nodeName);

    // ---- chunks -------------------------------------------------------------
    /// Add replicas of `chunk` on `nodeNames` (one transaction). NoSuchTable.
    void addChunk(std::string const& dbName, std::string const& tableName, int chunk,
                  std::vector<std::string> const& nodeNames);
    /// Add many chunks at once (one transaction): chunk -> nodes.
    void addChunks(std::string const& dbName, std::string const& tableName,
                   std::map<int, std::vector<std::string>> const& chunks);
    /// Delete a chunk (every replica), or only its replicas on `nodeName` when
    /// given. NoSuchTable; NoSuchKey if the chunk (or replica) does not exist.
    void deleteChunk(std::string const& dbName, std::string const& tableName, int chunk,
                     std::string const& nodeName = std::string());
    /// chunk -> node names (in replica order) of a table. NoSuchTable.
    std::map<int, std::vector<std::string>> getChunks(std::string const& dbName,
                                                      std::string const& tableName) const;
    /// Every replica held by `nodeName` (in all databases and tables).
    std::vector<ChunkReplica> getNodeChunks(std::string const& nodeName) const;

    // ---- helpers (public for tools and tests) -------------------------------
    /// Unpack a `.packed.json` value: a flat JSON object whose values are
    /// strings (numbers, true, false and null are kept as their text; nested
    /// objects and arrays are skipped). "" is an empty object. ConfigError
    /// naming `key` on malformed input.
    static std::map<std::string, std::string> unpackJson(std::string const& key,
                                                         std::string const& data);
    /// Pack a flat map of strings (valid UTF-8) as JSON.
    static std::string packJson(std::map<std::string, std::string> const& data);
    /// The shortest decimal text that reads back as `value` (0.025 -> "0.025").
    static std::string formatDouble(double value);

private:
    std::map<std::string, std::string> _getSubkeys(std::string const& key,
                                                   std::vector<std::string> const& subKeys,
                                                   bool* keyExists = nullptr,
                                                   std::string* keyValue = nullptr) const;
    void _assertWritable() const;
    void _assertDbExists(std::string const& dbName) const;
    std::shared_ptr<Lock> _lockDb(std::string const& dbName, std::string const& purpose);
    void _createDbImpl(std::string const& dbName, std::string const& templateDb,
                       StripingParams const& striping, std::string const& storageClass,
                       std::string const& releaseStatus, std::string const& status, Lock* lk);
    void _createTableImpl(std::string const& dbName, std::string const& tableName,
                          std::vector<std::pair<std::string, std::string>> const& keys,
                          std::string const& status);
    void _setStatus(std::string const& key, std::string const& status,
                    std::optional<std::string> const& expected,
                    std::function<void()> const& onMissing);

    KvPtr _kv;
    bool _readOnly;
    bool _locking = true;
    std::chrono::milliseconds _lockTimeout{60000};
    std::shared_ptr<EmptyChunks> _emptyChunks = std::make_shared<EmptyChunks>(std::string());
};

}  // namespace qcss
