// qcss: the Central State System of Qserv.
//
// ErrorList.h -- the one list of qcss errors.
//
// Every error class qcss raises below the root CssError is named here once,
// with its C++ parent and the Python built-in its Python class also inherits
// (`none` for none). The list drives:
//   - the C++ classes (qcss/Errors.h),
//   - the Python binding (cpp/src/python/module.cc): each class is translated to
//     the class of the same name in python/qcss/errors.py, whose bases are
//     checked against this list when the module is imported (a missing or
//     misplaced Python class is an ImportError, never a silent CssError),
//   - tests/test_errors.py, which raises every class from C++ and checks the
//     Python class and its bases.
// A parent is listed before its children. Adding an error: one line here, one
// class in python/qcss/errors.py (and its __all__).
//
// X(Name, Parent, PythonBuiltin, Kind): Kind `plain` declares the class in
// Errors.h; `custom` means Errors.h declares it by hand (extra members).

#pragma once

#define QCSS_ERROR_LIST(X)                                                  \
    X(NoSuchKey, CssError, KeyError, plain)                                 \
    X(KeyExistsError, CssError, none, plain)                                \
    X(VersionMismatchError, CssError, none, plain)                          \
    X(LayoutVersionError, VersionMismatchError, none, plain)                          \
    X(ReadonlyCss, CssError, none, plain)                                   \
    X(InvalidKeyError, CssError, ValueError, plain)                         \
    X(ValueTooLargeError, CssError, ValueError, plain)                      \
    X(ConnError, CssError, ConnectionError, plain)                          \
    X(CommitUnknownError, ConnError, none, plain)                           \
    X(AuthError, CssError, PermissionError, plain)                          \
    X(SchemaError, CssError, none, plain)                                   \
    X(CompactedError, CssError, none, custom)                               \
    X(LockTimeout, CssError, TimeoutError, plain)                           \
    X(LeaseExpired, CssError, none, plain)                                  \
    X(BadDumpError, CssError, ValueError, plain)                            \
    X(NoSuchDb, CssError, none, plain)                                      \
    X(DbExists, CssError, none, plain)                                      \
    X(NoSuchTable, CssError, none, plain)                                   \
    X(TableExists, CssError, none, plain)                                   \
    X(NoSuchNode, CssError, none, plain)                                    \
    X(NodeExists, CssError, none, plain)                                    \
    X(NodeInUse, CssError, none, plain)                                     \
    X(ConfigError, CssError, ValueError, plain)                             \
    X(StorageError, CssError, OSError, plain)                               \
    X(DiskFullError, StorageError, none, plain)                             \
    X(StoreFileGoneError, StorageError, none, plain)                        \
    X(CorruptStoreError, StorageError, none, plain)                         \
    X(KeyValueError, CssError, none, plain)                                 \
    X(VersionMissingError, CssError, none, plain)
