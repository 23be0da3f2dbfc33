"""qcss: the Central State System of Qserv.

A hierarchical, versioned key-value store whose master implementation is C++
(``qcss._qcss``); this package re-exports it with the same names and adds the
command-line tools. Open a store with :func:`open`::

    import qcss
    kv = qcss.open("mem://")          # or sqlite:///path/css.db, mysql://user@host/db
    kv.create("/DBS/LSST", "READY")
    kv.get("/DBS/LSST")               # b'READY'
"""

from __future__ import annotations

from qcss._qcss import (
    DEFAULT_MAX_VALUE_SIZE,
    MAX_KEY_LENGTH,
    Change,
    ChangeKind,
    KeyStat,
    KeyValue,
    KvInterface,
    LeaseInfo,
    Snapshot,
    Transaction,
    __version__,
    defaultUrl,
    keyProblem,
    maskUrl,
    open,
    validateKey,
)
from qcss.errors import (
    AuthError,
    BadDumpError,
    CommitUnknownError,
    CompactedError,
    ConfigError,
    ConnError,
    CssError,
    DbExists,
    InvalidKeyError,
    KeyExistsError,
    LeaseExpired,
    LockTimeout,
    NodeExists,
    NodeInUse,
    NoSuchDb,
    NoSuchKey,
    NoSuchNode,
    NoSuchTable,
    ReadonlyCss,
    SchemaError,
    TableExists,
    ValueTooLargeError,
    VersionMismatchError,
)

__all__ = [
    "DEFAULT_MAX_VALUE_SIZE",
    "MAX_KEY_LENGTH",
    "AuthError",
    "BadDumpError",
    "Change",
    "ChangeKind",
    "CommitUnknownError",
    "CompactedError",
    "ConfigError",
    "ConnError",
    "CssError",
    "DbExists",
    "InvalidKeyError",
    "KeyExistsError",
    "KeyStat",
    "KeyValue",
    "KvInterface",
    "LeaseExpired",
    "LeaseInfo",
    "LockTimeout",
    "NoSuchDb",
    "NoSuchKey",
    "NoSuchNode",
    "NoSuchTable",
    "NodeExists",
    "NodeInUse",
    "ReadonlyCss",
    "SchemaError",
    "Snapshot",
    "TableExists",
    "Transaction",
    "ValueTooLargeError",
    "VersionMismatchError",
    "__version__",
    "defaultUrl",
    "keyProblem",
    "maskUrl",
    "open",
    "validateKey",
]
