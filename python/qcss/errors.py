"""The qcss exception tree, mirrored from cpp/include/qcss/Errors.h.

Each C++ error class is translated (in one place, cpp/src/python/module.cc) to
exactly one of these classes. Leaf classes also inherit the matching built-in,
so ``except KeyError`` catches :class:`NoSuchKey`, ``except ValueError`` an
:class:`InvalidKeyError`, ``except ConnectionError`` a :class:`ConnError`.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadDumpError",
    "CommitUnknownError",
    "CompactedError",
    "ConfigError",
    "ConnError",
    "CorruptStoreError",
    "CssError",
    "DbExists",
    "DiskFullError",
    "InvalidKeyError",
    "KeyExistsError",
    "KeyValueError",
    "LayoutVersionError",
    "LeaseExpired",
    "LockTimeout",
    "NoSuchDb",
    "NoSuchKey",
    "NoSuchNode",
    "NoSuchTable",
    "NodeExists",
    "NodeInUse",
    "ReadonlyCss",
    "SchemaError",
    "StorageError",
    "StoreFileGoneError",
    "TableExists",
    "ValueTooLargeError",
    "VersionMismatchError",
    "VersionMissingError",
]


class CssError(Exception):
    """Root of every error qcss raises."""

    def typeName(self) -> str:
        """The class name, as Qserv's errors' typeName()."""
        return type(self).__name__


class NoSuchKey(CssError, KeyError):
    """The key does not exist."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class KeyExistsError(CssError):
    """create() of a key that already exists."""


class VersionMismatchError(CssError):
    """A compare-and-set, compare-and-delete or transaction check failed."""


class LayoutVersionError(VersionMismatchError):
    """CssAccess: the store's CSS layout version (/css_meta/version) is not the
    one this library reads. A VersionMismatchError only so that Qserv code
    catching css::VersionMismatchError (Qserv's name for exactly this) still works;
    a failed compare-and-set is never a LayoutVersionError."""


class ReadonlyCss(CssError):
    """A mutation on a store opened read-only."""


class InvalidKeyError(CssError, ValueError):
    """The key breaks the key rules (see qcss.keyProblem)."""


class ValueTooLargeError(CssError, ValueError):
    """The value is larger than the store's limit (16 MiB by default)."""


class ConnError(CssError, ConnectionError):
    """The database server cannot be reached or the connection was lost."""


class CommitUnknownError(ConnError):
    """A commit was sent but the connection broke before its outcome was known:
    it may or may not have been applied. It is never retried silently."""


class AuthError(CssError, PermissionError):
    """The server refused the credentials or the privilege."""


class SchemaError(CssError):
    """The database schema is missing, older or newer than this library."""


class CompactedError(CssError):
    """The change log no longer holds the changes asked for."""

    def __init__(self, message: str, oldestAvailable: int = 0) -> None:
        super().__init__(message)
        self.oldestAvailable = oldestAvailable

    def __reduce__(self) -> tuple[type[CompactedError], tuple[str, int]]:
        return (type(self), (str(self.args[0]) if self.args else "", self.oldestAvailable))


class LockTimeout(CssError, TimeoutError):
    """A lock was not acquired within its timeout."""


class LeaseExpired(CssError):
    """The lease has expired or was revoked."""


class BadDumpError(CssError, ValueError):
    """A dump or migration input cannot be read; the message names file and position."""


class NoSuchDb(CssError):
    """CssAccess: the database does not exist."""


class DbExists(CssError):
    """CssAccess: the database already exists."""


class NoSuchTable(CssError):
    """CssAccess: the table does not exist."""


class TableExists(CssError):
    """CssAccess: the table already exists."""


class NoSuchNode(CssError):
    """CssAccess: the worker node does not exist."""


class NodeExists(CssError):
    """CssAccess: the worker node already exists."""


class NodeInUse(CssError):
    """CssAccess: the node still holds chunk replicas."""


class ConfigError(CssError, ValueError):
    """Bad configuration: a malformed URL, an unknown option, bad parameters, a str
    argument that is not valid UTF-8 (a lone surrogate; keys raise InvalidKeyError)."""


class StorageError(CssError, OSError):
    """The store's storage failed: its file or disk (SQLite). The subclasses say
    which; nothing was acknowledged by the call that raised it."""


class DiskFullError(StorageError):
    """The disk (file system) holding the store is full; the write was not applied."""


class StoreFileGoneError(StorageError):
    """The store's file was removed or replaced under the open store (its path no
    longer names the file opened): writes are refused, as they would be lost."""


class CorruptStoreError(StorageError):
    """The store's file is not a valid store (corrupt, empty, or not SQLite)."""


class KeyValueError(CssError):
    """A stored value cannot be read as what it should be (a number, packed JSON)."""


class VersionMissingError(CssError):
    """The store has no /css_meta/version and was opened read-only."""
