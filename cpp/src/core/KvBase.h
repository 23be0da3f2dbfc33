// qcss: KvBase.h -- what every backend shares (internal).
//
// A backend derives from KvBase and implements the pure virtuals of
// KvInterface. KvBase holds the options common to all stores and does the
// checks every mutation needs before the backend touches anything: keys and
// values valid, store writable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qcss/KvInterface.h"

namespace qcss::detail {

struct Url;

struct StoreOptions {
    bool readOnly = false;
    std::string url;          ///< masked
    std::string clientId;     ///< recorded in the change log
    std::size_t maxValueSize = 0;
};

/// Options every backend reads from its URL (max_value_size, client).
StoreOptions commonOptions(Url const& url, std::string const& rawUrl, bool readOnly);

/// `s` cut to at most `maxBytes` bytes, never inside a UTF-8 character.
std::string truncateUtf8(std::string s, std::size_t maxBytes);

/// Throws ValueTooLargeError if `purpose` is over kMaxLeasePurposeBytes.
void checkLeasePurpose(std::string const& purpose);

/// Throws the CompactedError of changes(sinceRevision) when the change log
/// was compacted up to `compactedUpTo`: one message for every backend.
[[noreturn]] void throwCompacted(std::int64_t sinceRevision, std::int64_t compactedUpTo);

/// "user@host:pid" of this process.
std::string defaultClientId();

/// Seconds since the epoch, wall clock of this machine.
double wallClockNow();

class KvBase : public KvInterface {
public:
    explicit KvBase(StoreOptions opts) : _opts(std::move(opts)) {}

    bool readOnly() const noexcept override { return _opts.readOnly; }
    std::string url() const override { return _opts.url; }
    std::string clientId() const override { return _opts.clientId; }
    std::size_t maxValueSize() const noexcept override { return _opts.maxValueSize; }

protected:
    /// Throws ReadonlyCss (naming `what`) if the store is read-only.
    void checkWritable(std::string const& what) const;
    /// Validate a whole batch before anything is applied: keys, value sizes,
    /// read-only. Returns true if the batch mutates anything.
    bool validateOps(std::vector<Op> const& ops) const;
    /// Throws ValueTooLargeError naming `key` if `value` is over the limit.
    void checkValue(std::string const& key, std::string const& value) const;

    StoreOptions _opts;
};

/// The key create(unique=true) makes: `prefix` + the 10-digit `seq`.
/// Throws KeyExistsError if `seq` overflows 10 digits.
std::string uniqueKey(std::string const& prefix, long long seq);

/// If `key` is `prefix` followed by exactly 10 digits, their value; else -1.
long long uniqueSuffix(std::string const& key, std::string const& prefix);

}  // namespace qcss::detail
