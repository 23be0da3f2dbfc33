// qcss: the Central State System of Qserv.
//
// Errors.h -- the one exception hierarchy of qcss.
//
// Every error qcss raises is a CssError. The classes are declared from the one
// list in qcss/ErrorList.h, which also drives the Python binding (each class is
// translated to exactly one Python class of the same name, python/qcss/errors.py).
// The tree:
//
//   CssError                          (Python: Exception)
//   +-- NoSuchKey                     (also KeyError)
//   +-- KeyExistsError
//   +-- VersionMismatchError          a compare-and-set / transaction check failed
//   |   +-- LayoutVersionError        the CSS layout version differs (Qserv's
//   |                                 VersionMismatchError, hence the parent)
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
//       NoSuchNode, NodeExists, NodeInUse             (CssAccess, the facade)
//   +-- ConfigError                   (also ValueError) a malformed URL, an unknown option
//   +-- KeyValueError                 a stored value is not what it must be (Qserv's name)
//   +-- VersionMissingError           no /css_meta/version, opened read-only (Qserv's name)
//
// typeName() gives the class name, as Qserv's errors do.
// Every message names the key (or database, table, node) involved.

#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "qcss/ErrorList.h"

namespace qcss {

class CssError : public std::runtime_error {
public:
    explicit CssError(const std::string& msg) : std::runtime_error(msg) {}
    /// The class name ("NoSuchKey", ...), as Qserv's errors' typeName().
    virtual std::string typeName() const { return "CssError"; }
};

// The classes of qcss/ErrorList.h (`plain` ones; `custom` ones below).
#define QCSS_DECLARE_plain(Name, Parent)                                 \
    class Name : public Parent {                                         \
    public:                                                              \
        explicit Name(const std::string& msg) : Parent(msg) {}           \
        std::string typeName() const override { return #Name; }          \
    };
#define QCSS_DECLARE_custom(Name, Parent)
#define QCSS_DECLARE_ERROR(Name, Parent, Py, Kind) QCSS_DECLARE_##Kind(Name, Parent)

QCSS_ERROR_LIST(QCSS_DECLARE_ERROR)

#undef QCSS_DECLARE_ERROR
#undef QCSS_DECLARE_custom
#undef QCSS_DECLARE_plain

/// The change log no longer holds revisions after the one asked for.
class CompactedError : public CssError {
public:
    CompactedError(const std::string& msg, std::int64_t oldestAvailable)
            : CssError(msg), _oldest(oldestAvailable) {}
    std::string typeName() const override { return "CompactedError"; }
    /// The oldest revision whose changes are still in the log.
    std::int64_t oldestAvailable() const noexcept { return _oldest; }

private:
    std::int64_t _oldest;
};

// Each class, custom ones included, derives from the parent the list names.
#define QCSS_CHECK_PARENT(Name, Parent, Py, Kind) \
    static_assert(std::is_base_of_v<Parent, Name>, #Name " must derive from " #Parent);
QCSS_ERROR_LIST(QCSS_CHECK_PARENT)
#undef QCSS_CHECK_PARENT

}  // namespace qcss
