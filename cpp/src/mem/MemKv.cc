// qcss: MemKv.cc -- the in-memory backend.
//
// One ordered map of nodes guarded by a reader/writer lock: reads share it,
// a commit holds it exclusively and applies its operations in place while
// recording an undo log, which it replays backwards if any operation fails,
// so a failed batch leaves nothing behind.
#include "mem/MemKv.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/Backends.h"
#include "core/Json.h"
#include "qcss/Key.h"
#include "qcss/Open.h"

namespace qcss::detail {

namespace {

std::string quoted(std::string const& key) { return "'" + printableKey(key) + "'"; }

}  // namespace

// One commit in progress.
class MemKv::Batch {
public:
    Batch(MemKv& kv, std::int64_t rev) : revision(rev), time(wallClockNow()), _kv(kv) {}
    ~Batch() {
        if (!_done) rollback();
    }
    Batch(Batch const&) = delete;
    Batch& operator=(Batch const&) = delete;

    void remember(std::string const& key) {
        Undo u;
        u.key = key;
        if (Node const* n = _kv.find(key)) {
            u.existed = true;
            u.node.value = n->value;
            u.node.version = n->version;
            u.node.createRev = n->createRev;
            u.node.modRev = n->modRev;
            u.node.lease = n->lease;
        }
        _undo.push_back(std::move(u));
    }
    void put(std::string const& key, Node const& n) {
        changes.push_back(Change{revision, ChangeKind::Put, key, n.value, n.version, time,
                                 _kv._opts.clientId});
        wrote = true;
    }
    void del(std::string const& key, std::int64_t version) {
        changes.push_back(
                Change{revision, ChangeKind::Delete, key, {}, version, time, _kv._opts.clientId});
        wrote = true;
    }
    void done() { _done = true; }

    std::int64_t const revision;
    double const time;
    std::vector<Change> changes;
    bool wrote = false;

private:
    void rollback() {
        for (auto it = _undo.rbegin(); it != _undo.rend(); ++it) {
            if (it->existed)
                _kv.putNode(it->key, it->node);
            else if (_kv.find(it->key) != nullptr)
                _kv.eraseNode(it->key);
        }
    }
    MemKv& _kv;
    std::vector<Undo> _undo;
    bool _done = false;
};

MemKv::MemKv(StoreOptions opts) : KvBase(std::move(opts)) {
    auto it = _nodes.emplace("/", Node{}).first;
    _index.emplace(it->first, &it->second);
}

MemKv::Node const* MemKv::find(std::string const& key) const {
    auto it = _index.find(key);
    return it == _index.end() ? nullptr : it->second;
}

MemKv::Node const* MemKv::findVisible(std::string const& key) const {
    Node const* n = find(key);
    if (n == nullptr || key != "/") return n;
    // The root is implicit: it exists once created or set, or while it has a
    // child other than qcss's own /.qcss.
    if (n->version > 0) return n;
    std::size_t const hidden = n->children.count(kInternalName);
    return n->children.size() > hidden ? n : nullptr;
}

void MemKv::requireExists(std::string const& key) const {
    if (find(key) == nullptr) throw NoSuchKey("key " + quoted(key) + " does not exist");
}

void MemKv::putNode(std::string const& key, Node node) {
    auto it = _nodes.find(key);
    if (it != _nodes.end()) {
        Node& cur = it->second;
        if (cur.lease != node.lease) {
            if (auto l = _leases.find(cur.lease); l != _leases.end()) l->second.keys.erase(key);
            if (auto l = _leases.find(node.lease); l != _leases.end()) l->second.keys.insert(key);
        }
        cur.value = std::move(node.value);
        cur.version = node.version;
        cur.createRev = node.createRev;
        cur.modRev = node.modRev;
        cur.lease = node.lease;
        return;
    }
    node.children.clear();
    if (auto l = _leases.find(node.lease); l != _leases.end()) l->second.keys.insert(key);
    auto ins = _nodes.emplace(key, std::move(node)).first;
    _index.emplace(ins->first, &ins->second);
    _nodes.at(parentKey(key)).children.insert(baseName(key));
}

void MemKv::eraseNode(std::string const& key) {
    auto it = _nodes.find(key);
    if (it == _nodes.end()) return;
    if (auto l = _leases.find(it->second.lease); l != _leases.end()) l->second.keys.erase(key);
    _index.erase(std::string_view(it->first));
    _nodes.erase(it);
    if (auto p = _nodes.find(parentKey(key)); p != _nodes.end()) p->second.children.erase(baseName(key));
}

void MemKv::deleteSubtree(std::string const& key, Batch& b) {
    std::vector<std::string> doomed;
    std::string const pre = descendantPrefix(key);
    for (auto it = _nodes.lower_bound(pre);
         it != _nodes.end() && it->first.compare(0, pre.size(), pre) == 0; ++it)
        doomed.push_back(it->first);
    if (key != "/") doomed.insert(doomed.begin(), key);
    // Reverse byte order puts every descendant before its ancestor.
    for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) {
        std::int64_t const version = _nodes.at(*it).version;
        b.remember(*it);
        eraseNode(*it);
        b.del(*it, version);
    }
}

void MemKv::ensureParents(std::string const& key, Batch& b) {
    std::vector<std::string> missing;
    for (std::string p = parentKey(key); find(p) == nullptr; p = parentKey(p)) missing.push_back(p);
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        Node n;
        n.version = 1;
        n.createRev = n.modRev = b.revision;
        b.remember(*it);
        putNode(*it, n);
        b.put(*it, n);
    }
}

std::string MemKv::writeKey(Batch& b, std::string const& key, std::string const& value,
                            std::int64_t lease, bool mustNotExist, std::int64_t expectVersion,
                            std::int64_t& newVersion) {
    if (lease != 0) {
        auto l = _leases.find(lease);
        if (l == _leases.end() || l->second.expires < std::chrono::steady_clock::now())
            throw LeaseExpired("cannot bind key " + quoted(key) + " to lease " +
                               std::to_string(lease) + ": it has expired or does not exist");
    }
    Node const* cur = find(key);
    if (cur != nullptr && mustNotExist) throw KeyExistsError("key " + quoted(key) + " already exists");
    if (cur == nullptr && expectVersion >= 0)
        throw NoSuchKey("key " + quoted(key) + " does not exist (compare-and-set expected version " +
                        std::to_string(expectVersion) + ")");
    if (cur != nullptr && expectVersion >= 0 && cur->version != expectVersion)
        throw VersionMismatchError("key " + quoted(key) + " has version " +
                                   std::to_string(cur->version) + ", expected " +
                                   std::to_string(expectVersion));
    Node n;
    n.value = value;
    n.modRev = b.revision;
    if (cur != nullptr) {
        n.version = cur->version + 1;
        n.createRev = cur->createRev;
        n.lease = lease != 0 ? lease : cur->lease;
    } else {
        ensureParents(key, b);
        n.version = 1;
        n.createRev = b.revision;
        n.lease = lease;
    }
    b.remember(key);
    putNode(key, n);
    b.put(key, n);
    newVersion = n.version;
    return key;
}

void MemKv::appendChanges(std::vector<Change>&& changes) {
    if (!_keepLog) return;
    for (auto& c : changes) _log.push_back(std::move(c));
}

CommitResult MemKv::commit(std::vector<Op> const& ops) {
    bool const mutates = validateOps(ops);
    std::unique_lock lock(_mu);
    if (mutates && !_leases.empty()) {
        std::vector<std::int64_t> expired;
        auto const now = std::chrono::steady_clock::now();
        for (auto const& [id, l] : _leases)
            if (l.expires < now) expired.push_back(id);
        if (!expired.empty()) reapLocked(expired);
    }
    CommitResult result;
    Batch b(*this, _revision + 1);
    for (auto const& op : ops) {
        OpResult r;
        r.key = op.key;
        switch (op.type) {
            case Op::Type::Check: {
                Node const* n = find(op.key);
                std::int64_t const actual = n == nullptr ? 0 : n->version;
                bool const ok = op.version == 0 ? n == nullptr
                                                : (n != nullptr && (op.version < 0 || actual == op.version));
                if (!ok)
                    throw VersionMismatchError(
                            "check failed for key " + quoted(op.key) + ": expected " +
                            (op.version == 0 ? std::string("no key")
                                             : "version " + std::to_string(op.version)) +
                            ", found " +
                            (n == nullptr ? std::string("no key")
                                          : "version " + std::to_string(actual)));
                r.version = actual;
                break;
            }
            case Op::Type::CheckCreateRevision: {
                Node const* n = find(op.key);
                if (n == nullptr || n->createRev != op.version)
                    throw VersionMismatchError(
                            "check failed for key " + quoted(op.key) + ": expected create revision " +
                            std::to_string(op.version) + ", found " +
                            (n == nullptr ? std::string("no key")
                                          : std::to_string(n->createRev)));
                r.version = n->version;
                break;
            }
            case Op::Type::Create:
                if (op.key == "/") {
                    // The root can be created once (as in Qserv): until then it
                    // has version 0; create gives it its value and version 1.
                    if (find("/")->version > 0) throw KeyExistsError("key '/' already exists");
                    writeKey(b, op.key, op.value, op.lease, false, 0, r.version);
                    break;
                }
                writeKey(b, op.key, op.value, op.lease, true, -1, r.version);
                break;
            case Op::Type::CreateUnique: {
                // The highest 10-digit suffix under the prefix: scan backwards
                // from the largest key that could carry one.
                std::string const hi = op.key + "9999999999";
                long long best = 0;
                auto it = _nodes.upper_bound(hi);
                while (it != _nodes.begin()) {
                    --it;
                    if (it->first.compare(0, op.key.size(), op.key) != 0) break;
                    long long const s = uniqueSuffix(it->first, op.key);
                    if (s >= 0) {
                        best = s;
                        break;
                    }
                }
                r.key = uniqueKey(op.key, best + 1);
                writeKey(b, r.key, op.value, op.lease, true, -1, r.version);
                break;
            }
            case Op::Type::Set:
                writeKey(b, op.key, op.value, op.lease, false, op.version, r.version);
                break;
            case Op::Type::Delete: {
                Node const* n = find(op.key);
                if (n == nullptr) throw NoSuchKey("key " + quoted(op.key) + " does not exist");
                if (op.version >= 0 && n->version != op.version)
                    throw VersionMismatchError("key " + quoted(op.key) + " has version " +
                                               std::to_string(n->version) + ", expected " +
                                               std::to_string(op.version));
                deleteSubtree(op.key, b);
                break;
            }
        }
        result.results.push_back(std::move(r));
    }
    b.done();
    if (b.wrote) {
        _revision = b.revision;
        appendChanges(std::move(b.changes));
    }
    result.revision = _revision;
    return result;
}

// Point reads look the key up first and validate it only when it is absent:
// every key in the index is valid, so a hit needs no validation (this keeps a
// mirror's get at tens of nanoseconds).
std::string MemKv::get(std::string const& key) {
    {
        std::shared_lock lock(_mu);
        if (Node const* n = findVisible(key)) return n->value;
    }
    validateKey(key);
    throw NoSuchKey("key " + quoted(key) + " does not exist");
}

std::string MemKv::get(std::string const& key, std::string const& defaultValue) {
    {
        std::shared_lock lock(_mu);
        if (Node const* n = findVisible(key)) return n->value;
    }
    validateKey(key);
    return defaultValue;
}

KeyStat MemKv::getStat(std::string const& key) {
    validateKey(key);
    std::shared_lock lock(_mu);
    Node const* n = findVisible(key);
    if (n == nullptr) throw NoSuchKey("key " + quoted(key) + " does not exist");
    KeyStat s;
    s.version = n->version;
    s.createRevision = n->createRev;
    s.modRevision = n->modRev;
    s.numChildren = static_cast<std::int64_t>(n->children.size());
    s.dataLength = static_cast<std::int64_t>(n->value.size());
    s.lease = n->lease;
    return s;
}

std::map<std::string, std::string> MemKv::getMany(std::vector<std::string> const& keys) {
    for (auto const& k : keys) validateKey(k);
    std::map<std::string, std::string> out;
    std::shared_lock lock(_mu);
    for (auto const& k : keys)
        if (Node const* n = findVisible(k)) out.emplace(k, n->value);
    return out;
}

bool MemKv::tryGet(std::string const& key, std::string& out) {
    {
        std::shared_lock lock(_mu);
        if (Node const* n = findVisible(key)) {
            out = n->value;
            return true;
        }
    }
    validateKey(key);
    return false;
}

bool MemKv::exists(std::string const& key) {
    {
        std::shared_lock lock(_mu);
        if (findVisible(key) != nullptr) return true;
    }
    if (key.size() > kMaxKeyLength) return false;  // as Qserv: absent, not invalid
    validateKey(key);
    return false;
}

std::vector<std::string> MemKv::getChildren(std::string const& key) {
    validateKey(key);
    std::shared_lock lock(_mu);
    Node const* n = findVisible(key);
    if (n == nullptr) throw NoSuchKey("key " + quoted(key) + " does not exist");
    std::vector<std::string> out;
    out.reserve(n->children.size());
    for (auto const& name : n->children)
        if (key != "/" || name != kInternalName) out.push_back(name);
    return out;
}

std::map<std::string, std::string> MemKv::getChildrenValues(std::string const& key) {
    validateKey(key);
    std::shared_lock lock(_mu);
    Node const* n = findVisible(key);
    if (n == nullptr) throw NoSuchKey("key " + quoted(key) + " does not exist");
    std::map<std::string, std::string> out;
    std::string const pre = descendantPrefix(key);
    for (auto const& name : n->children)
        if (key != "/" || name != kInternalName) out.emplace(name, _nodes.at(pre + name).value);
    return out;
}

Snapshot MemKv::snapshot(std::string const& prefix) {
    validateKey(prefix);
    std::shared_lock lock(_mu);
    Snapshot s;
    s.revision = _revision;
    auto it = _nodes.find(prefix);
    if (it == _nodes.end()) return s;
    std::string const pre = descendantPrefix(prefix);
    auto add = [&s](std::string const& k, Node const& n) {
        KeyStat st;
        st.version = n.version;
        st.createRevision = n.createRev;
        st.modRevision = n.modRev;
        st.dataLength = static_cast<std::int64_t>(n.value.size());
        st.numChildren = static_cast<std::int64_t>(n.children.size());
        st.lease = n.lease;
        s.entries.push_back(KeyValue{k, n.value, st});
    };
    add(it->first, it->second);
    for (auto d = _nodes.lower_bound(pre);
         d != _nodes.end() && d->first.compare(0, pre.size(), pre) == 0; ++d) {
        if (d->first != prefix) add(d->first, d->second);
    }
    return s;
}

std::int64_t MemKv::revision() {
    std::shared_lock lock(_mu);
    return _revision;
}

std::vector<Change> MemKv::changes(std::int64_t sinceRevision, std::string const& prefix,
                                   std::size_t limit) {
    validateKey(prefix);
    std::shared_lock lock(_mu);
    if (sinceRevision < _compacted)
        throwCompacted(sinceRevision, _compacted);
    std::vector<Change> out;
    auto it = std::upper_bound(_log.begin(), _log.end(), sinceRevision,
                               [](std::int64_t r, Change const& c) { return r < c.revision; });
    for (; it != _log.end(); ++it) {
        if (limit > 0 && out.size() >= limit && out.back().revision != it->revision) break;
        if (isUnder(it->key, prefix)) out.push_back(*it);
    }
    return out;
}

std::int64_t MemKv::compact(std::int64_t upToRevision) {
    checkWritable("compact the change log");
    std::unique_lock lock(_mu);
    upToRevision = std::min(upToRevision, _revision);
    std::int64_t n = 0;
    while (!_log.empty() && _log.front().revision <= upToRevision) {
        _log.pop_front();
        ++n;
    }
    _compacted = std::max(_compacted, upToRevision);
    return n;
}

std::int64_t MemKv::compactedRevision() {
    std::shared_lock lock(_mu);
    return _compacted;
}

std::int64_t MemKv::grantLease(std::chrono::milliseconds ttl, std::string const& purpose) {
    std::int64_t const ttlMs = ttl.count();
    checkWritable("grant a lease");
    if (ttlMs <= 0) throw ConfigError("lease TTL must be positive, got " + std::to_string(ttlMs) + " ms");
    checkLeasePurpose(purpose);
    std::unique_lock lock(_mu);
    Lease l;
    l.ttlMs = ttlMs;
    l.expires = std::chrono::steady_clock::now() + std::chrono::milliseconds(ttlMs);
    l.grantedAt = wallClockNow();
    l.expiresAtWall = l.grantedAt + static_cast<double>(ttlMs) / 1000.0;
    l.owner = _opts.clientId;
    l.purpose = purpose;
    std::int64_t const id = _nextLease++;
    _leases.emplace(id, std::move(l));
    return id;
}

bool MemKv::keepLeaseAlive(std::int64_t leaseId) {
    checkWritable("keep a lease alive");
    std::unique_lock lock(_mu);
    auto it = _leases.find(leaseId);
    auto const now = std::chrono::steady_clock::now();
    if (it == _leases.end() || it->second.expires < now) return false;
    it->second.expires = now + std::chrono::milliseconds(it->second.ttlMs);
    it->second.expiresAtWall = wallClockNow() + static_cast<double>(it->second.ttlMs) / 1000.0;
    return true;
}

void MemKv::reapLocked(std::vector<std::int64_t> const& ids) {
    Batch b(*this, _revision + 1);
    for (std::int64_t id : ids) {
        auto it = _leases.find(id);
        if (it == _leases.end()) continue;
        std::vector<std::string> keys(it->second.keys.begin(), it->second.keys.end());
        // Delete ancestors first so a subtree goes in one step.
        for (auto const& k : keys)
            if (find(k) != nullptr) deleteSubtree(k, b);
        _leases.erase(id);
    }
    b.done();
    if (b.wrote) {
        _revision = b.revision;
        appendChanges(std::move(b.changes));
    }
}

void MemKv::revokeLease(std::int64_t leaseId) {
    checkWritable("revoke a lease");
    std::unique_lock lock(_mu);
    reapLocked({leaseId});
}

std::int64_t MemKv::reapExpiredLeases() {
    checkWritable("reap expired leases");
    std::unique_lock lock(_mu);
    std::vector<std::int64_t> expired;
    auto const now = std::chrono::steady_clock::now();
    for (auto const& [id, l] : _leases)
        if (l.expires < now) expired.push_back(id);
    if (!expired.empty()) reapLocked(expired);
    return static_cast<std::int64_t>(expired.size());
}

std::vector<LeaseInfo> MemKv::leases() {
    std::shared_lock lock(_mu);
    std::vector<LeaseInfo> out;
    auto const now = std::chrono::steady_clock::now();
    for (auto const& [id, l] : _leases) {
        if (l.expires < now) continue;
        out.push_back(LeaseInfo{id, l.ttlMs, l.grantedAt, l.expiresAtWall, l.owner, l.purpose,
                                static_cast<std::int64_t>(l.keys.size())});
    }
    return out;
}

// ---- replication -------------------------------------------------------------

void MemKv::loadSnapshot(Snapshot const& snap) {
    std::unique_lock lock(_mu);
    _index.clear();
    _nodes.clear();
    auto root = _nodes.emplace("/", Node{}).first;
    _index.emplace(root->first, &root->second);
    for (auto const& e : snap.entries) {
        // Ancestors above a mirrored prefix are placeholders (version 0).
        std::vector<std::string> missing;
        if (e.key != "/")
            for (std::string p = parentKey(e.key); find(p) == nullptr; p = parentKey(p))
                missing.push_back(p);
        for (auto it = missing.rbegin(); it != missing.rend(); ++it) putNode(*it, Node{});
        Node n;
        n.value = e.value;
        n.version = e.stat.version;
        n.createRev = e.stat.createRevision;
        n.modRev = e.stat.modRevision;
        n.lease = e.stat.lease;
        putNode(e.key, std::move(n));
    }
    _revision = snap.revision;
}

std::int64_t MemKv::applyChanges(std::vector<Change> const& changes, std::int64_t upToRevision) {
    std::unique_lock lock(_mu);
    std::int64_t const start = _revision;
    std::int64_t reached = start;
    for (auto const& c : changes) {
        if (c.revision <= start) continue;
        reached = std::max(reached, c.revision);
        if (c.kind == ChangeKind::Put) {
            std::vector<std::string> missing;
            if (c.key != "/")
                for (std::string p = parentKey(c.key); find(p) == nullptr; p = parentKey(p))
                    missing.push_back(p);
            for (auto it = missing.rbegin(); it != missing.rend(); ++it) putNode(*it, Node{});
            Node n;
            Node const* cur = find(c.key);
            n.value = c.value;
            n.version = c.version;
            // A Put of version 1 is a (re)creation: the key was absent before
            // this change (possibly deleted earlier in the same transaction).
            // "/" is never created: it keeps create revision 0.
            bool const created = c.key != "/" && (cur == nullptr || cur->version == 0 || c.version == 1);
            n.createRev = created ? c.revision : cur->createRev;
            n.modRev = c.revision;
            n.lease = cur != nullptr ? cur->lease : 0;
            putNode(c.key, std::move(n));
        } else if (c.key != "/" && find(c.key) != nullptr) {
            std::string const pre = descendantPrefix(c.key);
            std::vector<std::string> doomed{c.key};
            for (auto it = _nodes.lower_bound(pre);
                 it != _nodes.end() && it->first.compare(0, pre.size(), pre) == 0; ++it)
                doomed.push_back(it->first);
            for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) eraseNode(*it);
        }
    }
    _revision = std::max(reached, upToRevision);
    return _revision;
}

void MemKv::loadQservDump(std::string const& text, std::string const& source) {
    std::vector<Op> ops;
    for (auto& [k, v] : parseFlatStringObject(text, source)) {
        std::string const why = keyProblem(k);
        if (!why.empty())
            throw BadDumpError(source + ": invalid key '" + printableKey(k) + "': " + why);
        ops.push_back(Op{Op::Type::Set, std::move(k), std::move(v), -1, 0});
    }
    if (!ops.empty()) commit(ops);
}

KvPtr openMem(Url const& url, std::string const& raw, bool readOnly) {
    StoreOptions opts = commonOptions(url, raw, readOnly);
    bool const ro = opts.readOnly;
    opts.readOnly = false;
    auto kv = std::make_shared<MemKv>(opts);
    if (!url.host.empty())
        throw ConfigError("mem URL '" + maskUrl(raw) +
                          "' names a host; use mem:// (empty) or mem:///path/dump.json");
    if (!url.path.empty() && url.path != "/") {
        std::ifstream in(url.path, std::ios::binary);
        if (!in) throw ConfigError("cannot read dump file '" + url.path + "' for " + maskUrl(raw));
        std::ostringstream ss;
        ss << in.rdbuf();
        kv->loadQservDump(ss.str(), url.path);
    }
    if (ro) {
        opts.readOnly = true;
        auto frozen = std::make_shared<MemKv>(opts);
        frozen->loadSnapshot(kv->snapshot("/"));
        return frozen;
    }
    return kv;
}

}  // namespace qcss::detail
