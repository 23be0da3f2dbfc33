// qcss: CssAccess.cc -- the CSS facade over Qserv's key layout (see CssAccess.h).
#include "qcss/CssAccess.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <thread>

#include "core/Json.h"
#include "qcss/Key.h"
#include "qcss/Open.h"

namespace qcss {

namespace {

std::string const kPacked = CssAccess::PACKED_KEY;
std::string const kVersionStr = std::to_string(CssAccess::cssVersion());
std::string const kDbs = "/DBS";
std::string const kNodes = "/NODES";
std::string const kPartitioning = "/PARTITIONING";

// A commit lost a race with another writer: re-read the preconditions and try again.
struct Retry {};

int const kMaxAttempts = 200;

template <typename Fn>
auto retrying(std::string const& what, Fn&& fn) -> decltype(fn()) {
    thread_local std::minstd_rand rng(std::random_device{}());
    for (int attempt = 0;; ++attempt) {
        try {
            return fn();
        } catch (Retry const&) {
            if (attempt + 1 >= kMaxAttempts) {
                throw CssError(what + ": gave up after " + std::to_string(kMaxAttempts) +
                               " attempts lost to concurrent writers");
            }
        }
        // Back off a little, with jitter, so that racing writers spread out.
        int const cap = std::min(attempt + 1, 20) * 500;
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % static_cast<unsigned>(cap)));
    }
}

// Commit; a failed check or a key created/removed under our feet means a race.
// Under a lock, the commit also checks the lock's fencing token: a holder that
// lost its lease (paused process, broken lock) cannot write.
void commitOrRetry(Transaction& txn, Lock* lk = nullptr) {
    if (lk != nullptr) txn.checkLock(*lk);
    try {
        txn.commit();
    } catch (VersionMismatchError const&) {
        if (lk != nullptr && !lk->valid()) {
            throw LeaseExpired("lost the lock on " + lk->key() +
                               " (lease expired or lock broken): nothing was written");
        }
        throw Retry{};
    } catch (KeyExistsError const&) {
        throw Retry{};
    } catch (NoSuchKey const&) {
        throw Retry{};
    }
}

// True if `name` can be one component of a key (a database, table or node name).
bool validName(std::string const& name) {
    return !(name.empty() || name.find('/') != std::string::npos || name == "." || name == ".." ||
             name == kPacked || name.find('\0') != std::string::npos);
}

void checkName(std::string const& kind, std::string const& name) {
    if (!validName(name)) {
        throw InvalidKeyError("invalid " + kind + " name '" + printableKey(name) +
                              "': it must be one non-empty key component without '/'");
    }
}

std::string dbKey(std::string const& db) {
    checkName("database", db);
    return kDbs + "/" + db;
}

std::string tableKey(std::string const& db, std::string const& table) {
    checkName("table", table);
    return dbKey(db) + "/TABLES/" + table;
}

std::string nodeKey(std::string const& node) {
    checkName("node", node);
    return kNodes + "/" + node;
}

std::string pad10(long long n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%010lld", n);
    return buf;
}

bool allDigits(std::string const& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int toInt(std::string const& key, std::string const& text) {
    int v = 0;
    auto const* b = text.data();
    auto const* e = text.data() + text.size();
    auto r = std::from_chars(b, e, v);
    if (text.empty() || r.ec != std::errc() || r.ptr != e) {
        throw KeyValueError("key '" + printableKey(key) + "': '" + printableKey(text) +
                            "' is not an integer");
    }
    return v;
}

double toDouble(std::string const& key, std::string const& text) {
    double v = 0;
    auto const* b = text.data();
    auto const* e = text.data() + text.size();
    auto r = std::from_chars(b, e, v);
    if (text.empty() || r.ec != std::errc() || r.ptr != e) {
        throw KeyValueError("key '" + printableKey(key) + "': '" + printableKey(text) +
                            "' is not a number");
    }
    return v;
}

bool toBool(std::string const& key, std::string const& text) {
    if (text == "true") return true;
    if (text == "false") return false;
    return toInt(key, text) != 0;
}

// The value of `name` in `m`, or "" (and a flag).
std::string take(std::map<std::string, std::string> const& m, std::string const& name) {
    auto it = m.find(name);
    return it == m.end() ? std::string() : it->second;
}

}  // namespace

// ---- helpers -------------------------------------------------------------------

std::map<std::string, std::string> CssAccess::unpackJson(std::string const& key,
                                                         std::string const& data) {
    try {
        std::map<std::string, std::string> out;
        for (auto& [name, value] : detail::parseFlatObjectLenient(data, "key '" + printableKey(key) + "'"))
            out[std::move(name)] = std::move(value);
        return out;
    } catch (BadDumpError const& e) {
        throw KeyValueError(std::string("bad packed JSON: ") + e.what());
    }
}

std::string CssAccess::packJson(std::map<std::string, std::string> const& data) {
    std::vector<std::pair<std::string, std::string>> members(data.begin(), data.end());
    for (auto const& [k, v] : members) {
        if (!isValidUtf8(k) || !isValidUtf8(v)) {
            throw ConfigError("parameter '" + printableKey(k) + "' is not valid UTF-8 text");
        }
    }
    return detail::toFlatStringObject(members);
}

std::string CssAccess::formatDouble(double value) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, value);
    return std::string(buf, r.ptr);
}

std::map<std::string, std::string> CssAccess::_getSubkeys(std::string const& key,
                                                          std::vector<std::string> const& subKeys,
                                                          bool* keyExists,
                                                          std::string* keyValue) const {
    // One getMany: the explicit keys, the packed key of every parent, and the
    // key itself, read as one consistent snapshot.
    std::set<std::string> parents;
    std::vector<std::string> all;
    if (keyExists) all.push_back(key);
    for (auto const& sub : subKeys) {
        auto const p = sub.rfind('/');
        std::string const parent = p == std::string::npos ? key : key + "/" + sub.substr(0, p);
        if (parents.insert(parent).second) all.push_back(parent + "/" + kPacked);
        all.push_back(key + "/" + sub);
    }
    auto found = _kv->getMany(all);
    if (keyExists) {
        auto it = found.find(key);
        *keyExists = it != found.end();
        if (keyValue && *keyExists) *keyValue = it->second;
    }
    // Explicit keys win over packed members of the same name.
    for (auto const& parent : parents) {
        auto it = found.find(parent + "/" + kPacked);
        if (it == found.end()) continue;
        for (auto& [name, value] : unpackJson(it->first, it->second)) {
            found.emplace(parent + "/" + name, value);
        }
    }
    std::map<std::string, std::string> result;
    for (auto const& sub : subKeys) {
        auto it = found.find(key + "/" + sub);
        if (it != found.end()) result.emplace(sub, it->second);
    }
    return result;
}

// ---- construction ----------------------------------------------------------------

std::shared_ptr<CssAccess> CssAccess::createFromUrl(std::string const& url, bool readOnly) {
    return std::make_shared<CssAccess>(open(url, readOnly), readOnly);
}

CssAccess::CssAccess(KvPtr kv, bool readOnly) : _kv(std::move(kv)), _readOnly(readOnly) {
    if (!_kv) throw ConfigError("CssAccess: no store given");
    _readOnly = _readOnly || _kv->readOnly();
    std::string version;
    try {
        version = _kv->get(VERSION_KEY);
    } catch (NoSuchKey const&) {
        if (_readOnly) {
            throw VersionMissingError("store " + _kv->url() + " holds no CSS tree (" + VERSION_KEY +
                            " is missing) and was opened read-only, so it was not initialised; "
                            "open it read-write once to write CSS layout version " + kVersionStr);
        }
        try {
            _kv->create(VERSION_KEY, kVersionStr);
            version = kVersionStr;
        } catch (KeyExistsError const&) {
            version = _kv->get(VERSION_KEY);  // another client initialised it first
        }
    }
    if (version != kVersionStr) {
        throw LayoutVersionError("CSS layout version mismatch in " + _kv->url() + ": " +
                                   VERSION_KEY + " is '" + printableKey(version) +
                                   "', this library reads version " + kVersionStr);
    }
}

void CssAccess::setLocking(bool enabled, std::chrono::milliseconds timeout) {
    _locking = enabled;
    _lockTimeout = timeout;
}

void CssAccess::_assertWritable() const {
    if (_readOnly) throw ReadonlyCss("CSS opened read-only: " + _kv->url());
}

std::shared_ptr<Lock> CssAccess::_lockDb(std::string const& dbName, std::string const& purpose) {
    if (!_locking) return nullptr;
    LockOptions opts;
    opts.timeout = _lockTimeout;
    opts.purpose = "css: " + purpose;
    return std::shared_ptr<Lock>(lock(_kv, dbKey(dbName), std::move(opts)));
}

void CssAccess::_assertDbExists(std::string const& dbName) const {
    if (!containsDb(dbName)) throw NoSuchDb("no such database: '" + dbName + "'");
}

// ---- databases -------------------------------------------------------------------

std::vector<std::string> CssAccess::getDbNames() const {
    if (!_kv->exists(kDbs)) return {};
    std::vector<std::string> names;
    try {
        names = _kv->getChildren(kDbs);
    } catch (NoSuchKey const&) {
        return {};
    }
    names.erase(std::remove(names.begin(), names.end(), kPacked), names.end());
    return names;
}

std::map<std::string, std::string> CssAccess::getDbStatus() const {
    std::map<std::string, std::string> res;
    try {
        res = _kv->getChildrenValues(kDbs);
    } catch (NoSuchKey const&) {
        return {};
    }
    res.erase(kPacked);
    return res;
}

std::string CssAccess::getDbStatus(std::string const& dbName) const {
    try {
        return _kv->get(dbKey(dbName));
    } catch (NoSuchKey const&) {
        throw NoSuchDb("no such database: '" + dbName + "'");
    }
}

void CssAccess::_setStatus(std::string const& key, std::string const& status,
                           std::optional<std::string> const& expected,
                           std::function<void()> const& onMissing) {
    _assertWritable();
    retrying("set status of " + key, [&] {
        KeyStat st;
        std::string current;
        try {
            st = _kv->getStat(key);
            current = _kv->get(key);
        } catch (NoSuchKey const&) {
            onMissing();
            throw;
        }
        if (expected && current != *expected) {
            throw VersionMismatchError("status of '" + printableKey(key) + "' is '" +
                                       printableKey(current) + "', not the expected '" +
                                       printableKey(*expected) + "'");
        }
        try {
            _kv->set(key, status, st.version);  // compare-and-set on the version read
        } catch (VersionMismatchError const&) {
            throw Retry{};
        } catch (NoSuchKey const&) {
            throw Retry{};
        }
    });
}

void CssAccess::setDbStatus(std::string const& dbName, std::string const& status,
                            std::optional<std::string> const& expected) {
    _setStatus(dbKey(dbName), status, expected,
               [&] { throw NoSuchDb("no such database: '" + dbName + "'"); });
}

bool CssAccess::containsDb(std::string const& dbName) const {
    // A name that cannot be a key component (from user SQL) is simply absent.
    if (!validName(dbName) || kDbs.size() + 1 + dbName.size() > kMaxKeyLength) return false;
    return _kv->exists(dbKey(dbName));
}

DbParams CssAccess::getDbParams(std::string const& dbName) const {
    std::string const key = dbKey(dbName);
    bool exists = false;
    DbParams p;
    // The status and the parameters in one read.
    auto m = _getSubkeys(key, {"partitioningId", "releaseStatus", "storageClass"}, &exists,
                         &p.status);
    if (!exists) throw NoSuchDb("no such database: '" + dbName + "'");
    p.releaseStatus = take(m, "releaseStatus");
    p.storageClass = take(m, "storageClass");
    std::string const partId = take(m, "partitioningId");
    // The striping: a /PARTITIONING entry is never changed, only created and deleted.
    std::string const pKey = kPartitioning + "/_" + partId;
    std::vector<std::string> subs{"nStripes", "nSubStripes", "overlap"};
    auto s = partId.empty() ? std::map<std::string, std::string>() : _getSubkeys(pKey, subs);
    if (!partId.empty()) {
        p.striping.partitioningId = toInt(key + "/partitioningId", partId);
        if (s.count("nStripes")) p.striping.stripes = toInt(pKey + "/nStripes", s["nStripes"]);
        if (s.count("nSubStripes")) {
            p.striping.subStripes = toInt(pKey + "/nSubStripes", s["nSubStripes"]);
        }
        if (s.count("overlap")) p.striping.overlap = toDouble(pKey + "/overlap", s["overlap"]);
    }
    return p;
}

StripingParams CssAccess::getDbStriping(std::string const& dbName) const {
    return getDbParams(dbName).striping;
}

void CssAccess::createDb(std::string const& dbName, StripingParams const& striping,
                         std::string const& storageClass, std::string const& releaseStatus,
                         std::string const& status) {
    _assertWritable();
    auto guard = _lockDb(dbName, "createDb " + dbName);
    _createDbImpl(dbName, std::string(), striping, storageClass, releaseStatus, status, guard.get());
}

void CssAccess::createDbLike(std::string const& dbName, std::string const& templateDbName) {
    _assertWritable();
    dbKey(templateDbName);  // validates the name
    auto guard = _lockDb(dbName, "createDbLike " + dbName + " " + templateDbName);
    _createDbImpl(dbName, templateDbName, StripingParams(), "", "", STATUS_READY, guard.get());
}

namespace {

// Bump the version of /DBS (keeping its value): every change to the set of
// databases does this, so they serialise and see each other's partitioning use.
void bumpDbs(KvInterface& kv, Transaction& txn) {
    try {
        KeyStat const st = kv.getStat(kDbs);
        txn.set(kDbs, kv.get(kDbs), st.version);
    } catch (NoSuchKey const&) {
        txn.create(kDbs, "");
    }
}

}  // namespace

void CssAccess::_createDbImpl(std::string const& dbName, std::string const& templateDb,
                              StripingParams const& striping, std::string const& storageClass,
                              std::string const& releaseStatus, std::string const& status,
                              Lock* lk) {
    std::string const key = dbKey(dbName);
    retrying("createDb " + dbName, [&] {
        Transaction txn = _kv->transaction();
        bumpDbs(*_kv, txn);
        if (_kv->exists(key)) throw DbExists("database already exists: '" + dbName + "'");
        std::map<std::string, std::string> params;
        if (!templateDb.empty()) {
            std::string const tKey = dbKey(templateDb);
            bool exists = false;
            params = _getSubkeys(tKey, {"partitioningId", "releaseStatus", "storageClass"}, &exists);
            if (!exists) throw NoSuchDb("no such database: '" + templateDb + "'");
        } else {
            params["releaseStatus"] = releaseStatus;
            params["storageClass"] = storageClass;
            if (striping.stripes > 0) {
                // The next id after the highest one used (as create(unique) would).
                long long next = 0;
                bool any = false;
                if (_kv->exists(kPartitioning)) {
                    for (auto const& child : _kv->getChildren(kPartitioning)) {
                        if (child.size() > 1 && child[0] == '_' && allDigits(child.substr(1))) {
                            next = std::max(next, std::stoll(child.substr(1)) + 1);
                            any = true;
                        }
                    }
                }
                if (!any) next = 1;
                std::string const partId = pad10(next);
                std::string const pKey = kPartitioning + "/_" + partId;
                txn.create(pKey, "");
                txn.create(pKey + "/" + kPacked,
                           packJson({{"nStripes", std::to_string(striping.stripes)},
                                     {"nSubStripes", std::to_string(striping.subStripes)},
                                     {"overlap", formatDouble(striping.overlap)}}));
                params["partitioningId"] = partId;
            }
        }
        txn.create(key, status);
        txn.create(key + "/" + kPacked, packJson(params));
        txn.create(key + "/TABLES", "");
        commitOrRetry(txn, lk);
    });
}

void CssAccess::dropDb(std::string const& dbName) {
    _assertWritable();
    std::string const key = dbKey(dbName);
    auto guard = _lockDb(dbName, "dropDb " + dbName);
    retrying("dropDb " + dbName, [&] {
        Transaction txn = _kv->transaction();
        bumpDbs(*_kv, txn);
        bool exists = false;
        auto mine = _getSubkeys(key, {"partitioningId"}, &exists);
        if (!exists) throw NoSuchDb("no such database: '" + dbName + "'");
        std::string const partId = take(mine, "partitioningId");
        txn.deleteKey(key);
        if (!partId.empty()) {
            bool used = false;
            for (auto const& other : getDbNames()) {
                if (other == dbName) continue;
                auto m = _getSubkeys(kDbs + "/" + other, {"partitioningId"});
                if (take(m, "partitioningId") == partId) {
                    used = true;
                    break;
                }
            }
            std::string const pKey = kPartitioning + "/_" + partId;
            if (!used && _kv->exists(pKey)) txn.deleteKey(pKey);
        }
        commitOrRetry(txn, guard.get());
    });
}

// ---- tables ----------------------------------------------------------------------

std::vector<std::string> CssAccess::getTableNames(std::string const& dbName, bool readyOnly) const {
    std::map<std::string, std::string> statuses = getTableStatus(dbName);
    std::vector<std::string> names;
    for (auto const& [name, status] : statuses) {
        if (!readyOnly || status == STATUS_READY) names.push_back(name);
    }
    return names;
}

std::map<std::string, std::string> CssAccess::getTableStatus(std::string const& dbName) const {
    std::string const key = dbKey(dbName) + "/TABLES";
    std::map<std::string, std::string> res;
    try {
        res = _kv->getChildrenValues(key);
    } catch (NoSuchKey const&) {
        _assertDbExists(dbName);
    }
    res.erase(kPacked);
    return res;
}

std::string CssAccess::getTableStatus(std::string const& dbName, std::string const& tableName) const {
    try {
        return _kv->get(tableKey(dbName, tableName));
    } catch (NoSuchKey const&) {
        _assertDbExists(dbName);
        throw NoSuchTable("no such table: '" + dbName + "." + tableName + "'");
    }
}

void CssAccess::setTableStatus(std::string const& dbName, std::string const& tableName,
                               std::string const& status,
                               std::optional<std::string> const& expected) {
    _setStatus(tableKey(dbName, tableName), status, expected, [&] {
        throw NoSuchTable("no such table: '" + dbName + "." + tableName + "'");
    });
}

bool CssAccess::containsTable(std::string const& dbName, std::string const& tableName,
                              bool readyOnly) const {
    // Names from user SQL that cannot be key components are absent, as in Qserv
    // (whose callers catch only NoSuchDb/NoSuchTable, or read false).
    if (!validName(dbName) || kDbs.size() + 1 + dbName.size() > kMaxKeyLength)
        throw NoSuchDb("no such database: '" + printableKey(dbName) + "'");
    if (!validName(tableName) ||
        kDbs.size() + dbName.size() + tableName.size() + 9 > kMaxKeyLength) {
        _assertDbExists(dbName);
        return false;
    }
    std::string const key = tableKey(dbName, tableName);
    auto m = _kv->getMany({dbKey(dbName), key});
    if (!m.count(dbKey(dbName))) throw NoSuchDb("no such database: '" + dbName + "'");
    auto it = m.find(key);
    if (it == m.end()) return false;
    return !readyOnly || it->second == STATUS_READY;
}

namespace {
std::vector<std::string> const kSchemaKeys{"schema"};
std::vector<std::string> const kPartKeys{"partitioning",          "partitioning/subChunks",
                                         "partitioning/dirDb",    "partitioning/dirTable",
                                         "partitioning/dirColName", "partitioning/latColName",
                                         "partitioning/lonColName", "partitioning/overlap"};
std::vector<std::string> const kScanKeys{"sharedScan/lockInMem", "sharedScan/scanRating"};
std::vector<std::string> const kMatchKeys{"match/dirTable1",  "match/dirColName1",
                                          "match/dirTable2",  "match/dirColName2",
                                          "match/flagColName", "match/angSep"};

void fillPart(std::map<std::string, std::string> const& m, PartTableParams& p,
              std::string const& tKey) {
    p.dirDb = take(m, "partitioning/dirDb");
    p.dirTable = take(m, "partitioning/dirTable");
    p.dirColName = take(m, "partitioning/dirColName");
    p.latColName = take(m, "partitioning/latColName");
    p.lonColName = take(m, "partitioning/lonColName");
    p.partitioned = m.count("partitioning") > 0;
    if (m.count("partitioning/subChunks")) {
        p.subChunks = toBool(tKey + "/partitioning/subChunks", take(m, "partitioning/subChunks"));
    }
    if (m.count("partitioning/overlap")) {
        p.overlap = toDouble(tKey + "/partitioning/overlap", take(m, "partitioning/overlap"));
    }
}

void fillScan(std::map<std::string, std::string> const& m, ScanTableParams& p,
              std::string const& tKey) {
    if (m.count("sharedScan/lockInMem")) {
        p.lockInMem = toBool(tKey + "/sharedScan/lockInMem", take(m, "sharedScan/lockInMem"));
    }
    if (m.count("sharedScan/scanRating")) {
        p.scanRating = toInt(tKey + "/sharedScan/scanRating", take(m, "sharedScan/scanRating"));
    }
}

void fillMatch(std::map<std::string, std::string> const& m, MatchTableParams& p,
               std::string const& tKey) {
    p.dirTable1 = take(m, "match/dirTable1");
    p.dirColName1 = take(m, "match/dirColName1");
    p.dirTable2 = take(m, "match/dirTable2");
    p.dirColName2 = take(m, "match/dirColName2");
    p.flagColName = take(m, "match/flagColName");
    if (m.count("match/angSep")) p.angSep = toDouble(tKey + "/match/angSep", take(m, "match/angSep"));
}

std::vector<std::string> concat(std::initializer_list<std::vector<std::string> const*> parts) {
    std::vector<std::string> out;
    for (auto const* p : parts) out.insert(out.end(), p->begin(), p->end());
    return out;
}

}  // namespace

std::string CssAccess::getTableSchema(std::string const& dbName, std::string const& tableName) const {
    std::string const key = tableKey(dbName, tableName);
    bool exists = false;
    auto m = _getSubkeys(key, kSchemaKeys, &exists);
    if (!exists) throw NoSuchTable("no such table: '" + dbName + "." + tableName + "'");
    return take(m, "schema");
}

MatchTableParams CssAccess::getMatchTableParams(std::string const& dbName,
                                                std::string const& tableName) const {
    return getTableParams(dbName, tableName).match;
}

PartTableParams CssAccess::getPartTableParams(std::string const& dbName,
                                              std::string const& tableName) const {
    return getTableParams(dbName, tableName).partitioning;
}

ScanTableParams CssAccess::getScanTableParams(std::string const& dbName,
                                              std::string const& tableName) const {
    return getTableParams(dbName, tableName).sharedScan;
}

namespace {

// A transaction requiring the table key to keep the version it has now (a
// concurrent drop or status change makes the commit fail and retry); NoSuchTable.
Transaction tableTransaction(KvInterface& kv, std::string const& dbName, std::string const& tableName,
                             std::string const& tKey) {
    KeyStat tStat;
    try {
        tStat = kv.getStat(tKey);
    } catch (NoSuchKey const&) {
        throw NoSuchTable("no such table: '" + dbName + "." + tableName + "'");
    }
    Transaction txn = kv.transaction();
    txn.check(tKey, tStat.version);
    return txn;
}

}  // namespace

void CssAccess::setTableSchema(std::string const& dbName, std::string const& tableName,
                               std::string const& schema) {
    _assertWritable();
    std::string const tKey = tableKey(dbName, tableName);
    std::string const packedKey = tKey + "/" + kPacked;
    retrying("setTableSchema " + dbName + "." + tableName, [&] {
        Transaction txn = tableTransaction(*_kv, dbName, tableName, tKey);
        if (_kv->exists(tKey + "/schema")) {
            // The older form: a child key, which wins over the packed member.
            txn.set(tKey + "/schema", schema);
        } else {
            // Stat first, then value: a write in between fails the check.
            std::int64_t version = 0;
            std::map<std::string, std::string> packed;
            try {
                version = _kv->getStat(packedKey).version;
                packed = unpackJson(packedKey, _kv->get(packedKey));
            } catch (NoSuchKey const&) {
                version = 0;
            }
            packed["schema"] = schema;
            if (version == 0) {
                txn.create(packedKey, packJson(packed));
            } else {
                txn.set(packedKey, packJson(packed), version);
            }
        }
        commitOrRetry(txn);
    });
}

void CssAccess::setScanTableParams(std::string const& dbName, std::string const& tableName,
                                   ScanTableParams const& scanParams) {
    _assertWritable();
    std::string const tKey = tableKey(dbName, tableName);
    std::string const scanKey = tKey + "/sharedScan";
    retrying("setScanTableParams " + dbName + "." + tableName, [&] {
        Transaction txn = tableTransaction(*_kv, dbName, tableName, tKey);
        // The whole subtree is replaced (child keys of the older form included).
        if (_kv->exists(scanKey)) txn.deleteKey(scanKey);
        txn.create(scanKey, "");
        txn.create(scanKey + "/" + kPacked,
                   packJson({{"lockInMem", scanParams.lockInMem ? "1" : "0"},
                             {"scanRating", std::to_string(scanParams.scanRating)}}));
        commitOrRetry(txn);
    });
}

TableParams CssAccess::getTableParams(std::string const& dbName, std::string const& tableName) const {
    std::string const key = tableKey(dbName, tableName);
    bool exists = false;
    auto m = _getSubkeys(key, concat({&kPartKeys, &kScanKeys, &kMatchKeys}), &exists);
    if (!exists) throw NoSuchTable("no such table: '" + dbName + "." + tableName + "'");
    TableParams p;
    fillPart(m, p.partitioning, key);
    fillScan(m, p.sharedScan, key);
    fillMatch(m, p.match, key);
    return p;
}

void CssAccess::_createTableImpl(std::string const& dbName, std::string const& tableName,
                                 std::vector<std::pair<std::string, std::string>> const& keys,
                                 std::string const& status) {
    _assertWritable();
    std::string const dKey = dbKey(dbName);
    std::string const tKey = tableKey(dbName, tableName);
    auto guard = _lockDb(dbName, "createTable " + dbName + "." + tableName);
    retrying("createTable " + dbName + "." + tableName, [&] {
        KeyStat dbStat;
        try {
            dbStat = _kv->getStat(dKey);
        } catch (NoSuchKey const&) {
            throw NoSuchDb("no such database: '" + dbName + "'");
        }
        if (_kv->exists(tKey)) {
            throw TableExists("table already exists: '" + dbName + "." + tableName + "'");
        }
        Transaction txn = _kv->transaction();
        // The database must still be there (a concurrent drop makes this fail;
        // the retry then reports NoSuchDb instead of resurrecting it).
        txn.check(dKey, dbStat.version);
        txn.create(tKey, status);
        for (auto const& [sub, value] : keys) txn.create(tKey + "/" + sub, value);
        commitOrRetry(txn, guard.get());
    });
}

void CssAccess::createTable(std::string const& dbName, std::string const& tableName,
                            std::string const& schema, PartTableParams const& partParams,
                            ScanTableParams const& scanParams, std::string const& status) {
    std::vector<std::pair<std::string, std::string>> keys;
    keys.emplace_back(kPacked, packJson({{"schema", schema}}));
    if (partParams.isPartitioned()) {
        std::map<std::string, std::string> part{{"dirDb", partParams.dirDb},
                                                {"dirTable", partParams.dirTable},
                                                {"dirColName", partParams.dirColName},
                                                {"latColName", partParams.latColName},
                                                {"lonColName", partParams.lonColName},
                                                {"subChunks", partParams.subChunks ? "1" : "0"}};
        if (partParams.overlap != 0.0) part["overlap"] = formatDouble(partParams.overlap);
        keys.emplace_back("partitioning", "");
        keys.emplace_back("partitioning/" + kPacked, packJson(part));
        if (scanParams.lockInMem || scanParams.scanRating != 0) {
            std::map<std::string, std::string> scan;
            if (scanParams.lockInMem) scan["lockInMem"] = "1";
            if (scanParams.scanRating != 0) scan["scanRating"] = std::to_string(scanParams.scanRating);
            keys.emplace_back("sharedScan", "");
            keys.emplace_back("sharedScan/" + kPacked, packJson(scan));
        }
    }
    _createTableImpl(dbName, tableName, keys, status);
}

void CssAccess::createMatchTable(std::string const& dbName, std::string const& tableName,
                                 std::string const& schema, MatchTableParams const& matchParams,
                                 std::string const& status) {
    std::vector<std::pair<std::string, std::string>> keys;
    keys.emplace_back(kPacked, packJson({{"schema", schema}}));
    if (matchParams.isMatchTable()) {
        std::map<std::string, std::string> match{{"dirTable1", matchParams.dirTable1},
                                                 {"dirColName1", matchParams.dirColName1},
                                                 {"dirTable2", matchParams.dirTable2},
                                                 {"dirColName2", matchParams.dirColName2},
                                                 {"flagColName", matchParams.flagColName}};
        if (matchParams.angSep != 0.0) match["angSep"] = formatDouble(matchParams.angSep);
        keys.emplace_back("match", "1");  // older readers look at this value
        keys.emplace_back("match/" + kPacked, packJson(match));
        keys.emplace_back("partitioning", "");  // a match table is partitioned
    }
    _createTableImpl(dbName, tableName, keys, status);
}

void CssAccess::dropTable(std::string const& dbName, std::string const& tableName) {
    _assertWritable();
    std::string const tKey = tableKey(dbName, tableName);
    auto guard = _lockDb(dbName, "dropTable " + dbName + "." + tableName);
    retrying("dropTable " + dbName + "." + tableName, [&] {
        if (!_kv->exists(tKey)) throw NoSuchTable("no such table: '" + dbName + "." + tableName + "'");
        Transaction txn = _kv->transaction();
        txn.deleteKey(tKey);
        commitOrRetry(txn, guard.get());
    });
}

// ---- nodes -----------------------------------------------------------------------

std::vector<std::string> CssAccess::getNodeNames() const {
    // Without /NODES: NoSuchKey, as Qserv raises.
    std::vector<std::string> names = _kv->getChildren(kNodes);
    names.erase(std::remove(names.begin(), names.end(), kPacked), names.end());
    return names;
}

NodeParams CssAccess::getNodeParams(std::string const& nodeName) const {
    std::string const key = nodeKey(nodeName);
    auto m = _getSubkeys(kNodes, {nodeName, nodeName + "/type", nodeName + "/host", nodeName + "/port"});
    if (!m.count(nodeName)) throw NoSuchNode("no such node: '" + nodeName + "'");
    NodeParams p;
    p.state = take(m, nodeName);
    p.type = take(m, nodeName + "/type");
    p.host = take(m, nodeName + "/host");
    if (m.count(nodeName + "/port")) p.port = toInt(key + "/port", take(m, nodeName + "/port"));
    return p;
}

std::map<std::string, NodeParams> CssAccess::getAllNodeParams() const {
    std::map<std::string, NodeParams> res;
    for (auto const& n : getNodeNames()) {
        try {
            res.emplace(n, getNodeParams(n));
        } catch (NoSuchNode const&) {
            // deleted meanwhile
        }
    }
    return res;
}

void CssAccess::addNode(std::string const& nodeName, NodeParams const& p) {
    _assertWritable();
    std::string const key = nodeKey(nodeName);
    Transaction txn = _kv->transaction();
    txn.create(key, p.state.empty() ? std::string("ACTIVE") : p.state);
    txn.create(key + "/" + kPacked,
               packJson({{"type", p.type}, {"host", p.host}, {"port", std::to_string(p.port)}}));
    try {
        txn.commit();
    } catch (KeyExistsError const&) {
        throw NodeExists("node already exists: '" + nodeName + "'");
    }
}

void CssAccess::setNodeState(std::string const& nodeName, std::string const& newState,
                             std::optional<std::string> const& expected) {
    _setStatus(nodeKey(nodeName), newState, expected,
               [&] { throw NoSuchNode("no such node: '" + nodeName + "'"); });
}

namespace {

// Parse the keys of a snapshot under /DBS (or under one table's CHUNKS) into
// replicas. `base` is the snapshot prefix; keys look like
// /DBS/<db>/TABLES/<t>/CHUNKS/<n>/REPLICAS/<r>[/nodeName | /.packed.json].
std::vector<ChunkReplica> parseReplicas(Snapshot const& snap) {
    std::map<std::string, ChunkReplica> byKey;  // replica key -> replica
    std::map<std::string, std::string> explicitNode;
    for (auto const& e : snap.entries) {
        std::string_view k = e.key;
        if (k.rfind("/DBS/", 0) != 0) continue;
        std::vector<std::string_view> parts;
        std::size_t pos = 1;
        while (pos <= k.size()) {
            std::size_t const next = k.find('/', pos);
            std::size_t const end = next == std::string_view::npos ? k.size() : next;
            parts.push_back(k.substr(pos, end - pos));
            pos = end + 1;
        }
        // DBS db TABLES t CHUNKS n REPLICAS r [leaf]
        if (parts.size() != 9 || parts[2] != "TABLES" || parts[4] != "CHUNKS" ||
            parts[6] != "REPLICAS") {
            continue;
        }
        std::string const chunk(parts[5]);
        if (!allDigits(chunk) || chunk.size() > 9) continue;
        std::string const repKey(k.substr(0, k.rfind('/')));
        auto& r = byKey[repKey];
        r.db = std::string(parts[1]);
        r.table = std::string(parts[3]);
        r.chunk = std::stoi(chunk);
        r.replica = std::string(parts[7]);
        if (parts[8] == "nodeName") {
            explicitNode[repKey] = e.value;
        } else if (parts[8] == kPacked) {
            auto m = CssAccess::unpackJson(e.key, e.value);
            if (r.nodeName.empty()) r.nodeName = take(m, "nodeName");
        }
    }
    std::vector<ChunkReplica> out;
    for (auto& [repKey, r] : byKey) {
        auto it = explicitNode.find(repKey);
        if (it != explicitNode.end()) r.nodeName = it->second;
        if (!r.nodeName.empty()) out.push_back(std::move(r));
    }
    return out;
}

}  // namespace

std::vector<ChunkReplica> CssAccess::getNodeChunks(std::string const& nodeName) const {
    checkName("node", nodeName);
    std::vector<ChunkReplica> out;
    for (auto& r : parseReplicas(_kv->snapshot(kDbs))) {
        if (r.nodeName == nodeName) out.push_back(std::move(r));
    }
    return out;
}

void CssAccess::deleteNode(std::string const& nodeName) {
    _assertWritable();
    std::string const key = nodeKey(nodeName);
    retrying("deleteNode " + nodeName, [&] {
        KeyStat st;
        try {
            st = _kv->getStat(key);
        } catch (NoSuchKey const&) {
            throw NoSuchNode("no such node: '" + nodeName + "'");
        }
        auto const used = getNodeChunks(nodeName);
        if (!used.empty()) {
            auto const& r = used.front();
            throw NodeInUse("node '" + nodeName + "' holds " + std::to_string(used.size()) +
                            " chunk replica(s), e.g. chunk " + std::to_string(r.chunk) + " of " +
                            r.db + "." + r.table);
        }
        // addChunk bumps the node's version: a replica added since we looked
        // makes this compare-and-delete fail, and the retry sees it.
        Transaction txn = _kv->transaction();
        txn.deleteKey(key, st.version);
        commitOrRetry(txn);
    });
}

// ---- chunks ----------------------------------------------------------------------

void CssAccess::addChunk(std::string const& dbName, std::string const& tableName, int chunk,
                         std::vector<std::string> const& nodeNames) {
    addChunks(dbName, tableName, {{chunk, nodeNames}});
}

void CssAccess::addChunks(std::string const& dbName, std::string const& tableName,
                          std::map<int, std::vector<std::string>> const& chunks) {
    _assertWritable();
    std::string const tKey = tableKey(dbName, tableName);
    std::set<std::string> nodes;
    for (auto const& [chunk, names] : chunks) {
        if (chunk < 0) throw ConfigError("chunk number must not be negative: " + std::to_string(chunk));
        for (auto const& n : names) {
            checkName("node", n);
            nodes.insert(n);
        }
    }
    auto guard = _lockDb(dbName, "addChunk " + dbName + "." + tableName);
    retrying("addChunk " + dbName + "." + tableName, [&] {
        KeyStat tStat;
        try {
            tStat = _kv->getStat(tKey);
        } catch (NoSuchKey const&) {
            _assertDbExists(dbName);
            throw NoSuchTable("no such table: '" + dbName + "." + tableName + "'");
        }
        Transaction txn = _kv->transaction();
        txn.check(tKey, tStat.version);
        // Bump each known node's version (value kept): deleteNode's
        // compare-and-delete then notices this replica.
        for (auto const& n : nodes) {
            std::string const nKey = kNodes + "/" + n;
            try {
                KeyStat const ns = _kv->getStat(nKey);
                txn.set(nKey, _kv->get(nKey), ns.version);
            } catch (NoSuchKey const&) {
                // Qserv allowed replicas on nodes not (yet) registered.
            }
        }
        for (auto const& [chunk, names] : chunks) {
            std::string const rKey = tKey + "/CHUNKS/" + std::to_string(chunk) + "/REPLICAS";
            long long next = 1;
            if (_kv->exists(rKey)) {
                for (auto const& child : _kv->getChildren(rKey)) {
                    if (allDigits(child)) next = std::max(next, std::stoll(child) + 1);
                }
            }
            for (auto const& n : names) {
                std::string const rep = rKey + "/" + pad10(next++);
                txn.create(rep, "");
                txn.create(rep + "/" + kPacked, packJson({{"nodeName", n}}));
            }
        }
        commitOrRetry(txn, guard.get());
    });
}

void CssAccess::deleteChunk(std::string const& dbName, std::string const& tableName, int chunk,
                            std::string const& nodeName) {
    _assertWritable();
    std::string const tKey = tableKey(dbName, tableName);
    std::string const cKey = tKey + "/CHUNKS/" + std::to_string(chunk);
    auto guard = _lockDb(dbName, "deleteChunk " + dbName + "." + tableName);
    if (!_kv->exists(tKey)) {
        _assertDbExists(dbName);
        throw NoSuchTable("no such table: '" + dbName + "." + tableName + "'");
    }
    std::string const what = "chunk " + std::to_string(chunk) + " of " + dbName + "." + tableName;
    retrying("deleteChunk " + what, [&] {
        Transaction txn = _kv->transaction();
        if (nodeName.empty()) {
            if (!_kv->exists(cKey)) throw NoSuchKey("no " + what + " (" + cKey + ")");
            txn.deleteKey(cKey);
        } else {
            for (auto const& r : parseReplicas(_kv->snapshot(cKey))) {
                if (r.nodeName != nodeName) continue;
                txn.deleteKey(cKey + "/REPLICAS/" + r.replica);
            }
            if (txn.size() == 0) {
                throw NoSuchKey("no replica of " + what + " on node '" + nodeName + "'");
            }
        }
        commitOrRetry(txn, guard.get());
    });
}

std::map<int, std::vector<std::string>> CssAccess::getChunks(std::string const& dbName,
                                                             std::string const& tableName) const {
    std::string const tKey = tableKey(dbName, tableName);
    Snapshot snap = _kv->snapshot(tKey);
    if (snap.entries.empty() || snap.entries.front().key != tKey) {
        // Qserv raises NoSuchTable for a missing database too.
        throw NoSuchTable("no such table: '" + dbName + "." + tableName + "'");
    }
    std::map<int, std::vector<std::string>> res;
    for (auto const& r : parseReplicas(snap)) res[r.chunk].push_back(r.nodeName);
    // A chunk key without replicas is still a chunk.
    std::string const cPrefix = tKey + "/CHUNKS/";
    for (auto const& e : snap.entries) {
        if (e.key.compare(0, cPrefix.size(), cPrefix) != 0) continue;
        std::string const rest = e.key.substr(cPrefix.size());
        if (rest.find('/') == std::string::npos && allDigits(rest) && rest.size() <= 9) {
            res.try_emplace(std::stoi(rest));
        }
    }
    return res;
}

}  // namespace qcss
