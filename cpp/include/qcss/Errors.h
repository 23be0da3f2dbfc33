// qcss: the Central State System of Qserv.
//
// Errors.h -- the one exception hierarchy of qcss.
//
// Every error qcss raises is a CssError. The tree, drawn once (the Python
// binding translates each class to exactly one Python class of the same name,
// see python/qcss/errors.py, in one place: cpp/src/python/module.cc):
//
//   CssError                          (Python: Exception)
//   +-- NoSuchKey                     (also KeyError)
//   +-- KeyExistsError
//   +-- VersionMismatchError
//   +-- ReadonlyCss
//   +-- InvalidKeyError               (also ValueError)
//   +-- ValueTooLargeError            (also ValueError)
//   +-- ConnError                     (also ConnectionError)
//   |   +-- CommitUnknownError        a commit was sent but its outcome is unknown
//   +-- AuthError                     (also PermissionError)
//   +-- SchemaError
//   +-- CompactedError                the change log was trimmed past a revision
//   +-- LockTimeout                   (also TimeoutError)
//   +-- LeaseExpired                  a lease is gone (expired or revoked)
//   +-- BadDumpError                  (also ValueError) a dump/input cannot be parsed
//   +-- NoSuchDb, DbExists, NoSuchTable, TableExists,
//       NoSuchNode, NodeExists, NodeInUse, ConfigError   (CssAccess, the facade)
//
// Every message names the key (or database, table, node) involved.

#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace qcss {

class CssError : public std::runtime_error {
public:
    explicit CssError(const std::string& msg) : std::runtime_error(msg) {}
};

#define QCSS_DECLARE_ERROR(Name, Base)                                   \
    class Name : public Base {                                           \
    public:                                                              \
        explicit Name(const std::string& msg) : Base(msg) {}             \
    }

QCSS_DECLARE_ERROR(NoSuchKey, CssError);
QCSS_DECLARE_ERROR(KeyExistsError, CssError);
QCSS_DECLARE_ERROR(VersionMismatchError, CssError);
QCSS_DECLARE_ERROR(ReadonlyCss, CssError);
QCSS_DECLARE_ERROR(InvalidKeyError, CssError);
QCSS_DECLARE_ERROR(ValueTooLargeError, CssError);
QCSS_DECLARE_ERROR(ConnError, CssError);
QCSS_DECLARE_ERROR(CommitUnknownError, ConnError);
QCSS_DECLARE_ERROR(AuthError, CssError);
QCSS_DECLARE_ERROR(SchemaError, CssError);
QCSS_DECLARE_ERROR(LockTimeout, CssError);
QCSS_DECLARE_ERROR(LeaseExpired, CssError);
QCSS_DECLARE_ERROR(BadDumpError, CssError);
// CssAccess (the facade over Qserv's key layout)
QCSS_DECLARE_ERROR(NoSuchDb, CssError);
QCSS_DECLARE_ERROR(DbExists, CssError);
QCSS_DECLARE_ERROR(NoSuchTable, CssError);
QCSS_DECLARE_ERROR(TableExists, CssError);
QCSS_DECLARE_ERROR(NoSuchNode, CssError);
QCSS_DECLARE_ERROR(NodeExists, CssError);
QCSS_DECLARE_ERROR(NodeInUse, CssError);
QCSS_DECLARE_ERROR(ConfigError, CssError);

#undef QCSS_DECLARE_ERROR

/// The change log no longer holds revisions after the one asked for.
class CompactedError : public CssError {
public:
    CompactedError(const std::string& msg, std::int64_t oldestAvailable)
            : CssError(msg), _oldest(oldestAvailable) {}
    /// The oldest revision whose changes are still in the log.
    std::int64_t oldestAvailable() const noexcept { return _oldest; }

private:
    std::int64_t _oldest;
};

}  // namespace qcss
