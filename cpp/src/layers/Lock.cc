// qcss: Lock.cc -- locks over any KvInterface (see Lock.h for the protocol).
#include "qcss/Lock.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <thread>

#include "core/Json.h"
#include "core/KvBase.h"
#include "qcss/Key.h"

namespace qcss {

char const* const kLockRoot = "/.qcss/locks";
char const* const kTokenRoot = "/.qcss/lock-tokens";

namespace {

using Clock = std::chrono::steady_clock;
char const* const kDirName = "@lock";

std::string hostName() {
    char buf[256] = {0};
    if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
    return buf;
}

std::string fmtTime(double t) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.6f", t);
    return buf;
}

double toDouble(std::string const& s) {
    try {
        return s.empty() ? 0.0 : std::stod(s);
    } catch (...) {
        return 0.0;
    }
}

std::int64_t toInt(std::string const& s) {
    try {
        return s.empty() ? 0 : std::stoll(s);
    } catch (...) {
        return 0;
    }
}

void validateLockKey(std::string const& key) {
    validateKey(key);
    std::size_t start = 1;
    while (start < key.size()) {
        std::size_t end = key.find('/', start);
        if (end == std::string::npos) end = key.size();
        if (key.compare(start, end - start, kDirName) == 0)
            throw InvalidKeyError("cannot lock key '" + printableKey(key) +
                                  "': the component '@lock' is reserved for lock entries");
        start = end + 1;
    }
}

// Name of an entry: "x-" or "s-" and 10 digits.
bool isEntryName(std::string const& name, bool& shared) {
    if (name.size() != 12 || (name[0] != 'x' && name[0] != 's') || name[1] != '-') return false;
    for (std::size_t i = 2; i < name.size(); ++i)
        if (name[i] < '0' || name[i] > '9') return false;
    shared = name[0] == 's';
    return true;
}

struct Meta {
    std::string key, owner, host, purpose, state;
    std::int64_t pid = 0, ttlMs = 0;
    double requestedAt = 0, acquiredAt = 0;
};

std::string encodeMeta(Meta const& m, bool shared) {
    return detail::toFlatStringObject({
            {"key", m.key},
            {"mode", shared ? "shared" : "exclusive"},
            {"state", m.state},
            {"owner", m.owner},
            {"host", m.host},
            {"pid", std::to_string(m.pid)},
            {"purpose", m.purpose},
            {"ttlMs", std::to_string(m.ttlMs)},
            {"requestedAt", fmtTime(m.requestedAt)},
            {"acquiredAt", m.acquiredAt > 0 ? fmtTime(m.acquiredAt) : std::string()},
    });
}

Meta decodeMeta(std::string const& value) {
    Meta m;
    try {
        for (auto const& [k, v] : detail::parseFlatStringObject(value, "lock entry")) {
            if (k == "key") m.key = v;
            else if (k == "owner") m.owner = v;
            else if (k == "host") m.host = v;
            else if (k == "purpose") m.purpose = v;
            else if (k == "state") m.state = v;
            else if (k == "pid") m.pid = toInt(v);
            else if (k == "ttlMs") m.ttlMs = toInt(v);
            else if (k == "requestedAt") m.requestedAt = toDouble(v);
            else if (k == "acquiredAt") m.acquiredAt = toDouble(v);
        }
    } catch (CssError const&) {
        // A foreign value: list the entry with what the key itself says.
    }
    return m;
}

// The locked key of a lock directory (…/@lock), or "" if `dir` is not one.
std::string keyOfDir(std::string const& dir) {
    std::string const root = kLockRoot;
    if (baseName(dir) != kDirName) return {};
    std::string const parent = parentKey(dir);
    if (parent == root) return "/";
    if (!isUnder(parent, root)) return {};
    return parent.substr(root.size());
}

// Held/waiting for the entries of one directory, sorted by token.
void markHeld(std::vector<LockInfo>& dir) {
    std::sort(dir.begin(), dir.end(),
              [](LockInfo const& a, LockInfo const& b) { return a.token < b.token; });
    bool exclusiveBefore = false;
    for (std::size_t i = 0; i < dir.size(); ++i) {
        dir[i].held = dir[i].shared ? !exclusiveBefore : i == 0;
        if (!dir[i].shared) exclusiveBefore = true;
    }
}

std::vector<LockInfo> entriesOf(Snapshot const& snap, std::map<std::int64_t, double> const& live) {
    std::map<std::string, std::vector<LockInfo>> dirs;
    for (auto const& e : snap.entries) {
        bool shared = false;
        if (!isEntryName(baseName(e.key), shared)) continue;
        std::string const dir = parentKey(e.key);
        std::string const key = keyOfDir(dir);
        if (key.empty()) continue;
        Meta const m = decodeMeta(e.value);
        LockInfo li;
        li.key = key;
        li.entryKey = e.key;
        li.shared = shared;
        li.token = e.stat.createRevision;
        li.owner = m.owner;
        li.host = m.host;
        li.pid = m.pid;
        li.purpose = m.purpose;
        li.requestedAt = m.requestedAt;
        li.acquiredAt = m.acquiredAt;
        li.ttlMs = m.ttlMs;
        li.lease = e.stat.lease;
        if (auto it = live.find(e.stat.lease); it != live.end()) li.expiresAt = it->second;
        dirs[dir].push_back(std::move(li));
    }
    std::vector<LockInfo> out;
    for (auto& [dir, list] : dirs) {
        markHeld(list);
        for (auto& li : list) out.push_back(std::move(li));
    }
    return out;
}

std::map<std::int64_t, double> liveLeases(KvInterface& kv) {
    std::map<std::int64_t, double> live;
    for (auto const& l : kv.leases()) live.emplace(l.id, l.expiresAt);
    return live;
}

/// Who holds the lock on `key`, for messages: "owner@host pid N (purpose) since
/// 2026-11-30T12:00:00Z"; several holders (shared) joined by "; ". Best effort: a
/// failure to read them yields "".
std::string holdersOf(KvInterface& kv, std::string const& key) {
    std::string out;
    try {
        for (LockInfo const& li : locks(kv, key)) {
            if (li.key != key || !li.held) continue;
            char when[32] = "?";
            std::time_t const t = static_cast<std::time_t>(li.acquiredAt);
            std::tm tm{};
            if (li.acquiredAt > 0 && gmtime_r(&t, &tm) != nullptr)
                std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            if (!out.empty()) out += "; ";
            out += li.owner + "@" + li.host + " pid " + std::to_string(li.pid) +
                   (li.purpose.empty() ? std::string() : " (" + li.purpose + ")") + " since " +
                   when;
        }
    } catch (std::exception const&) {
        return "";
    }
    return out;
}

}  // namespace

std::string lockDir(std::string const& key) {
    validateLockKey(key);
    return std::string(kLockRoot) + (key == "/" ? std::string() : key) + "/" + kDirName;
}

std::string tokenKey(std::int64_t token) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%020lld", static_cast<long long>(token));
    return std::string(kTokenRoot) + "/" + buf;
}

// ---- Lock ----------------------------------------------------------------------

Lock::Lock(KvPtr kv, std::string key, std::string entry, std::int64_t token, bool shared,
           LeasePtr lease, bool ownsLease)
        : _kv(std::move(kv)),
          _key(std::move(key)),
          _entry(std::move(entry)),
          _token(token),
          _shared(shared),
          _lease(std::move(lease)),
          _ownsLease(ownsLease) {}

Lock::~Lock() {
    try {
        release();
    } catch (...) {
        // Left to the lease's expiry.
    }
}

bool Lock::valid() {
    if (_released) return false;
    try {
        return _kv->getStat(_entry).createRevision == _token;
    } catch (NoSuchKey const&) {
        return false;
    }
}

void Lock::release() {
    if (_released.exchange(true)) return;  // one caller releases, whatever the thread
    if (_ownsLease) {
        _lease->revoke();
        return;
    }
    try {
        _kv->transaction().checkCreateRevision(_entry, _token).deleteKey(_entry).deleteKey(
                tokenKey(_token)).commit();
    } catch (CssError const&) {
        // Broken or partly gone: remove what is still ours, one key at a time.
        try {
            _kv->transaction().checkCreateRevision(_entry, _token).deleteKey(_entry).commit();
        } catch (VersionMismatchError const&) {
        } catch (NoSuchKey const&) {
        }
        try {
            _kv->deleteKey(tokenKey(_token));
        } catch (NoSuchKey const&) {
        }
    }
}

Transaction& Transaction::checkLock(Lock const& lock) {
    return checkCreateRevision(lock.entryKey(), lock.token());
}

Transaction& Transaction::checkLock(std::int64_t token) { return check(tokenKey(token), 1); }

// ---- acquisition -----------------------------------------------------------------

LockPtr lock(KvPtr kv, std::string const& key, LockOptions opts) {
    if (!kv) throw ConfigError("lock: no store");
    std::string const dir = lockDir(key);
    auto const start = Clock::now();
    bool const forever = opts.timeout.count() < 0;
    auto const deadline = start + (forever ? std::chrono::milliseconds(0) : opts.timeout);

    if (opts.purpose.size() > kMaxLeasePurposeBytes)
        throw ValueTooLargeError("lock " + printableKey(key) + ": purpose of " +
                                 std::to_string(opts.purpose.size()) + " bytes, at most " +
                                 std::to_string(kMaxLeasePurposeBytes) + " allowed");
    bool const ownsLease = !opts.lease;
    LeasePtr lease = opts.lease;
    if (ownsLease) {
        LeaseOptions lo;
        // The lease's purpose names the lock; a long key and purpose are cut
        // to the limit (the lock entry keeps both whole).
        lo.purpose = detail::truncateUtf8(
                "lock " + key + (opts.purpose.empty() ? "" : ": " + opts.purpose),
                kMaxLeasePurposeBytes);
        lease = grantLease(kv, opts.ttl, lo);
    }
    Meta m;
    m.key = key;
    m.owner = opts.owner.empty() ? kv->clientId() : opts.owner;
    m.host = hostName();
    m.pid = static_cast<std::int64_t>(getpid());
    m.purpose = opts.purpose;
    m.ttlMs = lease->ttl().count();
    m.state = "waiting";
    m.requestedAt = detail::wallClockNow();

    // Withdraw the request on any failure (timeout, lost lease, store error).
    std::string entry;
    std::int64_t token = 0;
    auto withdraw = [&]() {
        try {
            if (ownsLease) {
                lease->revoke();
            } else if (!entry.empty()) {
                kv->transaction().checkCreateRevision(entry, token).deleteKey(entry).commit();
            }
        } catch (...) {
            // The lease's expiry removes it.
        }
    };

    try {
        Transaction t = kv->transaction();
        t.create(dir + (opts.shared ? "/s-" : "/x-"), encodeMeta(m, opts.shared), CreateMode::Unique, lease->id());
        CommitResult const r = t.commitWithResults();
        entry = r.results.at(0).key;
        token = r.revision;

        auto backoff = std::chrono::milliseconds(2);
        auto const maxBackoff = std::chrono::milliseconds(100);
        for (;;) {
            Snapshot const snap = kv->snapshot(dir);
            std::int64_t const seenRev = snap.revision;
            bool mine = false;
            std::set<std::int64_t> blockerLeases;
            for (auto const& e : snap.entries) {
                bool shared = false;
                if (parentKey(e.key) != dir || !isEntryName(baseName(e.key), shared)) continue;
                if (e.key == entry) {
                    mine = e.stat.createRevision == token;
                    continue;
                }
                if (e.stat.createRevision < token && (!opts.shared || !shared))
                    blockerLeases.insert(e.stat.lease);
            }
            if (!mine)
                throw LeaseExpired("lock request " + entry + " on '" + printableKey(key) +
                                   "' was removed while waiting (lease expired or lock broken)");
            if (blockerLeases.empty()) {
                m.state = "held";
                m.acquiredAt = detail::wallClockNow();
                try {
                    kv->transaction()
                            .checkCreateRevision(entry, token)
                            .set(entry, encodeMeta(m, opts.shared))
                            .create(tokenKey(token), entry, CreateMode::Exact, lease->id())
                            .commit();
                } catch (VersionMismatchError const&) {
                    throw LeaseExpired("lock request " + entry + " on '" + printableKey(key) +
                                       "' was removed just before it was granted (lease "
                                       "expired or lock broken)");
                }
                return LockPtr(new Lock(kv, key, entry, token, opts.shared, lease, ownsLease));
            }
            // Blocked. Wait for the directory to change (any new revision), reaping
            // leases of blockers that expired unrenewed.
            for (;;) {
                if (lease->lost())
                    throw LeaseExpired("lease " + std::to_string(lease->id()) +
                                       " was lost while waiting for the lock on '" +
                                       printableKey(key) + "'");
                auto const now = Clock::now();
                if (!forever && now >= deadline)
                    throw LockTimeout("timed out after " +
                                      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                             now - start).count()) +
                                      " ms waiting for the " +
                                      (opts.shared ? "shared" : "exclusive") + " lock on '" +
                                      printableKey(key) + "'" + [&] {
                                          std::string const h = holdersOf(*kv, key);
                                          return h.empty() ? h : " held by " + h;
                                      }());
                auto sleep = backoff;
                if (!forever) sleep = std::min<std::chrono::milliseconds>(
                        sleep, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                                       std::chrono::milliseconds(1));
                std::this_thread::sleep_for(sleep);
                backoff = std::min(backoff * 2, maxBackoff);
                if (kv->revision() != seenRev) break;
                if (backoff == maxBackoff) {
                    auto const live = liveLeases(*kv);
                    bool expired = false;
                    for (auto id : blockerLeases) expired = expired || live.count(id) == 0;
                    if (expired && !kv->readOnly()) {
                        kv->reapExpiredLeases();
                        break;
                    }
                }
            }
            backoff = std::chrono::milliseconds(2);
        }
    } catch (...) {
        withdraw();
        throw;
    }
}

// ---- admin -------------------------------------------------------------------------

std::vector<LockInfo> locks(KvInterface& kv, std::string const& prefix) {
    validateKey(prefix);
    std::string const root = std::string(kLockRoot) + (prefix == "/" ? std::string() : prefix);
    Snapshot const snap = kv.snapshot(root);
    if (snap.entries.empty()) return {};
    std::vector<LockInfo> out = entriesOf(snap, liveLeases(kv));
    std::stable_sort(out.begin(), out.end(), [](LockInfo const& a, LockInfo const& b) {
        return a.key != b.key ? a.key < b.key : a.token < b.token;
    });
    return out;
}

std::vector<LockInfo> breakLock(KvInterface& kv, std::string const& key, BreakScope scope) {
    std::string const dir = lockDir(key);
    for (int attempt = 0;; ++attempt) {
        Snapshot const snap = kv.snapshot(dir);
        std::vector<LockInfo> all = entriesOf(snap, liveLeases(kv));
        std::vector<LockInfo> doomed;
        Transaction t = kv.transaction();
        for (auto const& li : all) {
            if (li.key != key || (!li.held && scope != BreakScope::HoldersAndWaiters)) continue;
            // The entry's version too: a grant committed since the snapshot (it sets the
            // entry and creates the token key) must make this transaction retry, or the
            // token key would outlive the broken lock and its holder never see the break.
            std::int64_t version = -1;
            for (auto const& e : snap.entries)
                if (e.key == li.entryKey) version = e.stat.version;
            t.checkCreateRevision(li.entryKey, li.token).check(li.entryKey, version)
                    .deleteKey(li.entryKey);
            if (kv.exists(tokenKey(li.token))) t.deleteKey(tokenKey(li.token));
            doomed.push_back(li);
        }
        if (doomed.empty()) return doomed;
        try {
            t.commit();
            return doomed;
        } catch (CssError const&) {
            // An entry vanished meanwhile (released, expired): look again.
            if (attempt >= 10) throw;
        }
    }
}

}  // namespace qcss
