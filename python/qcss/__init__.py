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

from typing import TYPE_CHECKING, Any

from qcss import errors as _errors
from qcss.errors import *  # noqa: F403  (the exception tree, named in qcss.errors.__all__)

if TYPE_CHECKING:
    from qcss._qcss import (
        DEFAULT_MAX_VALUE_SIZE,
        LOCK_ROOT,
        LOCK_TOKEN_ROOT,
        MAX_CLIENT_ID_BYTES,
        MAX_KEY_LENGTH,
        MAX_LEASE_PURPOSE_BYTES,
        Change,
        ChangeKind,
        ChunkReplica,
        CompactResult,
        CssAccess,
        DbParams,
        EmptyChunks,
        KeyStat,
        KeyValue,
        KvInterface,
        Lease,
        LeaseInfo,
        Lock,
        LockInfo,
        MatchTableParams,
        Mirror,
        NodeParams,
        PartTableParams,
        ScanTableParams,
        Snapshot,
        StripingParams,
        TableParams,
        Transaction,
        Watcher,
        __version__,
        defaultUrl,
        keyProblem,
        lockDir,
        maskUrl,
        open,
        tokenKey,
        validateKey,
    )

# The C++ core is loaded on first use of one of its names (PEP 562), so the pure
# Python parts (qcss.errors, qcss.schema, `css-admin schema ...`) work where the
# extension is not built: deploying the schema never needs the C++ library.


def __getattr__(name: str) -> Any:
    if name in __all__:  # a name of the C++ core (the errors are bound above)
        from qcss import _qcss

        value = getattr(_qcss, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qcss' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_VALUE_SIZE",
    "LOCK_ROOT",
    "LOCK_TOKEN_ROOT",
    "MAX_CLIENT_ID_BYTES",
    "MAX_KEY_LENGTH",
    "MAX_LEASE_PURPOSE_BYTES",
    "Change",
    "ChangeKind",
    "ChunkReplica",
    "CompactResult",
    "CssAccess",
    "DbParams",
    "EmptyChunks",
    "KeyStat",
    "KeyValue",
    "KvInterface",
    "Lease",
    "LeaseInfo",
    "Lock",
    "LockInfo",
    "MatchTableParams",
    "Mirror",
    "NodeParams",
    "PartTableParams",
    "ScanTableParams",
    "Snapshot",
    "StripingParams",
    "TableParams",
    "Transaction",
    "Watcher",
    "__version__",
    "defaultUrl",
    "keyProblem",
    "lockDir",
    "maskUrl",
    "open",
    "tokenKey",
    "validateKey",
]
__all__ += _errors.__all__  # the errors
