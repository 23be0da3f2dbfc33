// qcss: KvInterface.cc -- Transaction, the single-key calls expressed as
// one-operation batches, dumpKV, and the helpers of KvBase.
#include "qcss/KvInterface.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <pwd.h>
#include <unistd.h>

#include "core/Json.h"
#include "core/KvBase.h"
#include "core/Url.h"
#include "qcss/Key.h"
#include "qcss/Open.h"

namespace qcss {

// ---- Transaction -----------------------------------------------------------

Transaction& Transaction::add(Op op) {
    _ops.push_back(std::move(op));
    return *this;
}

Transaction& Transaction::check(std::string const& key, std::int64_t version) {
    return add(Op{Op::Type::Check, key, {}, version, 0});
}

Transaction& Transaction::checkCreateRevision(std::string const& key,
                                              std::int64_t createRevision) {
    return add(Op{Op::Type::CheckCreateRevision, key, {}, createRevision, 0});
}

Transaction& Transaction::create(std::string const& key, std::string const& value, CreateMode mode,
                                 std::int64_t lease) {
    return add(Op{mode == CreateMode::Unique ? Op::Type::CreateUnique : Op::Type::Create, key, value, -1, lease});
}

Transaction& Transaction::set(std::string const& key, std::string const& value,
                              std::int64_t version, std::int64_t lease) {
    return add(Op{Op::Type::Set, key, value, version, lease});
}

Transaction& Transaction::deleteKey(std::string const& key, std::int64_t version) {
    return add(Op{Op::Type::Delete, key, {}, version, 0});
}

std::int64_t Transaction::commit() { return commitWithResults().revision; }

Transaction::Transaction(KvInterface& kv) : _keep(kv.weak_from_this().lock()), _kv(&kv) {}

CommitResult Transaction::commitWithResults() {
    CommitResult res = _kv->commit(_ops);
    _committed = true;
    return res;
}

// ---- KvInterface defaults ---------------------------------------------------

std::string KvInterface::create(std::string const& key, std::string const& value, CreateMode mode,
                                std::int64_t lease) {
    CommitResult r = commit({Op{mode == CreateMode::Unique ? Op::Type::CreateUnique : Op::Type::Create, key, value,
                                -1, lease}});
    return r.results.at(0).key;
}

std::int64_t KvInterface::set(std::string const& key, std::string const& value,
                              std::int64_t version, std::int64_t lease) {
    CommitResult r = commit({Op{Op::Type::Set, key, value, version, lease}});
    return r.results.at(0).version;
}

void KvInterface::deleteKey(std::string const& key, std::int64_t version) {
    commit({Op{Op::Type::Delete, key, {}, version, 0}});
}

std::string KvInterface::get(std::string const& key, std::string const& defaultValue) {
    try {
        return get(key);
    } catch (NoSuchKey const&) {
        return defaultValue;
    }
}

std::string KvInterface::dumpKV(std::string const& key) {
    std::string const prefix = key.empty() ? std::string("/") : key;
    validateKey(prefix);
    Snapshot snap = snapshot(prefix);
    std::string out = "{";
    bool first = true;
    for (auto const& e : snap.entries) {
        if (e.key == prefix) continue;  // strictly under `key`
        // qcss's own subtree is not part of Qserv's view of "/".
        if (prefix == "/" && isUnder(e.key, kInternalRoot)) continue;
        if (!isValidUtf8(e.value))
            throw BadDumpError("cannot dump key '" + printableKey(e.key) +
                               "' in Qserv's JSON format: its value is not valid UTF-8 "
                               "(use the lossless format: css-admin dump --format qcss)");
        if (!first) out += ", ";
        first = false;
        detail::appendJsonString(out, e.key, true);
        out += ": ";
        detail::appendJsonString(out, e.value, true);
    }
    out += "}";
    return out;
}

// ---- KvBase helpers ---------------------------------------------------------

namespace detail {

std::string defaultClientId() {
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
    std::string user = "unknown";
    if (passwd const* pw = getpwuid(getuid()); pw != nullptr && pw->pw_name != nullptr)
        user = pw->pw_name;
    return user + "@" + host + ":" + std::to_string(getpid());
}

double wallClockNow() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string truncateUtf8(std::string s, std::size_t maxBytes) {
    if (s.size() <= maxBytes) return s;
    std::size_t n = maxBytes;
    // Never cut a multi-byte character: back up over continuation bytes.
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s.resize(n);
    return s;
}

void checkLeasePurpose(std::string const& purpose) {
    if (purpose.size() > kMaxLeasePurposeBytes)
        throw ValueTooLargeError("lease purpose of " + std::to_string(purpose.size()) +
                                 " bytes: at most " + std::to_string(kMaxLeasePurposeBytes) +
                                 " allowed");
}

StoreOptions commonOptions(Url const& url, std::string const& rawUrl, bool readOnly) {
    StoreOptions o;
    o.readOnly = readOnly || url.param("read_only") == "1" || url.param("read_only") == "true";
    o.url = maskUrl(rawUrl);
    o.clientId = url.param("client");
    char const* source = "the URL's client=";
    if (o.clientId.empty()) {
        char const* env = std::getenv("QCSS_CLIENT_ID");
        source = "$QCSS_CLIENT_ID";
        o.clientId = (env != nullptr && *env != '\0') ? std::string(env) : std::string();
        if (o.clientId.empty()) o.clientId = truncateUtf8(defaultClientId(), kMaxClientIdBytes);
    }
    if (o.clientId.size() > kMaxClientIdBytes)
        throw ConfigError(std::string("client id from ") + source + " is " +
                          std::to_string(o.clientId.size()) + " bytes, more than the " +
                          std::to_string(kMaxClientIdBytes) + " allowed (URL " + o.url + ")");
    std::string const mvs = url.param("max_value_size");
    o.maxValueSize = kDefaultMaxValueSize;
    if (!mvs.empty()) {
        if (mvs.find_first_not_of("0123456789") != std::string::npos || mvs.size() > 12)
            throw ConfigError("bad max_value_size '" + mvs + "' in URL " + o.url);
        o.maxValueSize = static_cast<std::size_t>(std::stoull(mvs));
    }
    return o;
}

void KvBase::checkWritable(std::string const& what) const {
    if (_opts.readOnly)
        throw ReadonlyCss("store " + _opts.url + " is read-only: cannot " + what);
}

void KvBase::checkValue(std::string const& key, std::string const& value) const {
    if (value.size() > _opts.maxValueSize)
        throw ValueTooLargeError("value for key '" + printableKey(key) + "' is " +
                                 std::to_string(value.size()) + " bytes, more than the limit of " +
                                 std::to_string(_opts.maxValueSize));
}

bool KvBase::validateOps(std::vector<Op> const& ops) const {
    bool mutates = false;
    for (auto const& op : ops) {
        switch (op.type) {
            case Op::Type::Check:
            case Op::Type::CheckCreateRevision: validateKey(op.key); break;
            case Op::Type::CreateUnique:
                validateUniquePrefix(op.key);
                checkValue(op.key, op.value);
                mutates = true;
                break;
            case Op::Type::Create:
            case Op::Type::Set:
                validateKey(op.key);
                checkValue(op.key, op.value);
                mutates = true;
                break;
            case Op::Type::Delete:
                validateKey(op.key);
                if (op.key == "/") throw InvalidKeyError("invalid key '/': cannot delete the root");
                mutates = true;
                break;
        }
    }
    if (mutates) {
        for (auto const& op : ops) {
            if (op.type != Op::Type::Check && op.type != Op::Type::CheckCreateRevision) {
                checkWritable("write key '" + printableKey(op.key) + "'");
            }
        }
    }
    return mutates;
}

std::string uniqueKey(std::string const& prefix, long long seq) {
    if (seq > 9999999999LL)
        throw KeyExistsError("cannot create a unique key under '" + printableKey(prefix) +
                             "': the 10-digit sequence is exhausted");
    if (seq < 0) seq = 0;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%010lld", seq);
    return prefix + buf;
}

void throwCompacted(std::int64_t sinceRevision, std::int64_t compactedUpTo) {
    throw CompactedError("changes after revision " + std::to_string(sinceRevision) +
                                 " are no longer available: the change log was compacted up to "
                                 "revision " + std::to_string(compactedUpTo) +
                                 "; the oldest revision available is " +
                                 std::to_string(compactedUpTo + 1),
                         compactedUpTo + 1);
}

long long uniqueSuffix(std::string const& key, std::string const& prefix) {
    if (key.size() != prefix.size() + kUniqueDigits) return -1;
    if (key.compare(0, prefix.size(), prefix) != 0) return -1;
    long long v = 0;
    for (std::size_t i = prefix.size(); i < key.size(); ++i) {
        char const c = key[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

}  // namespace detail
}  // namespace qcss
