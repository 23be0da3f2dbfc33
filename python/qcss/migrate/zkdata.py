"""Read a ZooKeeper data directory (snapshots and transaction logs) without ZooKeeper.

Formats (ZooKeeper 3.4 to 3.9, jute binary encoding, big-endian):

snapshot.<zxid>[.gz|.snappy]
    FileHeader {int magic "ZKSN"; int version; long dbid}, then the sessions
    {int count; count x (long id, int timeout)}, the ACL cache {int count; count x (long
    index; vector<ACL>)}, the nodes in pre-order {ustring path ("" is the root); buffer data;
    long acl; StatPersisted (czxid, mzxid, ctime, mtime: long; version, cversion, aversion:
    int; ephemeralOwner, pzxid: long)}, terminated by the path "/". Then the Adler32 of every
    byte so far (long) and "/". ZooKeeper 3.6+ may then add a digest {long zxid; int
    digestVersion; long digest} followed by a second cumulative Adler32 and "/". The
    checksums are over the uncompressed stream; ``.gz`` is gzip, ``.snappy`` is snappy-java's
    framed stream (magic "\\x82SNAPPY\\x00", two ints, then {int length; raw snappy block}*).

log.<zxid>
    FileHeader {int magic "ZKLG"; int version; long dbid}, then records {long adler32; buffer
    txn; byte 'B'}; a zero length (the preallocated tail) ends the log. txn is TxnHeader
    {long session; int cxid; long zxid; long time; int type} and a body by type, optionally
    followed (3.6+) by a digest {int version; long digest}.

Snapshots are fuzzy: the state is the newest snapshot plus every logged transaction with a
higher zxid, replayed idempotently as ZooKeeper itself does on startup.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from qcss.migrate.inflate import gunzip
from qcss.migrate.model import MigrationInputError, Node, Source, kind_from_owner

SNAP_MAGIC = 0x5A4B534E  # "ZKSN"
LOG_MAGIC = 0x5A4B4C47  # "ZKLG"
SNAPPY_MAGIC = b"\x82SNAPPY\x00"
GZIP_MAGIC = b"\x1f\x8b"
# jute.maxbuffer is 1 MiB by default; operators raise it, so accept much more but not garbage.
MAX_BUFFER = 1 << 30

SNAP_RE = re.compile(r"^snapshot\.([0-9a-fA-F]+)(\.gz|\.snappy)?$")
LOG_RE = re.compile(r"^log\.([0-9a-fA-F]+)$")

# org.apache.zookeeper.ZooDefs.OpCode
OP_ERROR = -1
OP_CREATE = 1
OP_DELETE = 2
OP_SET_DATA = 5
OP_SET_ACL = 7
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_RECONFIG = 16
OP_CREATE_CONTAINER = 19
OP_DELETE_CONTAINER = 20
OP_CREATE_TTL = 21
OP_CREATE_SESSION = -10
OP_CLOSE_SESSION = -11

_CONTAINER_OWNER = -(1 << 63)
_TTL_BASE = 0xFF << 56


_NODE_TAIL = struct.Struct(">qqqqqiiiqq")


class _Short(Exception):
    """The stream ended inside a field."""


class JuteReader:
    """A cursor over jute-encoded bytes; every error names the file and the byte offset."""

    def __init__(self, data: bytes | memoryview | mmap.mmap, name: str, base: int = 0) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.name = name
        self.base = base  # offset of data[0] in the file, for messages

    def error(self, reason: str, at: int | None = None) -> MigrationInputError:
        where = self.base + (self.pos if at is None else at)
        return MigrationInputError(self.name, f"byte {where}", reason)

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise _Short()
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def i32(self) -> int:
        v: int = struct.unpack(">i", self._take(4))[0]
        return v

    def i64(self) -> int:
        v: int = struct.unpack(">q", self._take(8))[0]
        return v

    def u8(self) -> int:
        return self._take(1)[0]

    def buffer(self) -> bytes | None:
        start = self.pos
        n = self.i32()
        if n < 0:
            return None
        if n > MAX_BUFFER:
            raise self.error(f"implausible buffer length {n}", start)
        return bytes(self._take(n))

    def string(self) -> str | None:
        start = self.pos
        n = self.i32()
        if n < 0:
            return None
        if n > MAX_BUFFER:
            raise self.error(f"implausible string length {n}", start)
        # Java writes standard UTF-8; keep undecodable bytes visible (the key check reports them).
        return bytes(self._take(n)).decode("utf-8", "surrogateescape")

    def skip_acls(self) -> None:
        n = self.i32()
        for _ in range(max(n, 0)):
            self.i32()
            self.string()
            self.string()


# ---------------------------------------------------------------------------------------------
# Decompression


def _unsnappy(raw: bytes, name: str) -> bytes:
    """Decode snappy-java's SnappyOutputStream framing (possibly concatenated streams)."""
    try:
        import cramjam
    except ImportError as e:  # pragma: no cover - cramjam is a dependency
        raise MigrationInputError(name, "byte 0", "snappy snapshot needs cramjam") from e
    out: list[bytes] = []
    pos = 0
    n = len(raw)
    while pos < n:
        if raw.startswith(SNAPPY_MAGIC, pos):
            if pos + 16 > n:
                raise MigrationInputError(name, f"byte {pos}", "truncated snappy stream header")
            pos += 16  # magic, int version, int compatible version
            continue
        if pos + 4 > n:
            raise MigrationInputError(name, f"byte {pos}", "truncated snappy chunk length")
        (clen,) = struct.unpack_from(">i", raw, pos)
        if clen < 0 or pos + 4 + clen > n:
            raise MigrationInputError(
                name, f"byte {pos}", f"truncated snappy chunk (length {clen}, {n - pos - 4} left)"
            )
        try:
            out.append(bytes(cramjam.snappy.decompress_raw(raw[pos + 4 : pos + 4 + clen])))
        except Exception as e:
            raise MigrationInputError(name, f"byte {pos}", f"corrupt snappy chunk: {e}") from e
        pos += 4 + clen
    return b"".join(out)


def read_stream(path: Path) -> tuple[bytes, str]:
    """The uncompressed bytes of a snapshot file and how positions should be described."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise MigrationInputError(name, "byte 0", f"cannot read: {e.strerror}") from e
    if raw.startswith(GZIP_MAGIC) or name.endswith(".gz"):
        return gunzip(raw, name), f"{name} (gunzipped)"
    if raw.startswith(SNAPPY_MAGIC) or name.endswith(".snappy"):
        if not raw.startswith(SNAPPY_MAGIC):
            raise MigrationInputError(name, "byte 0", "wrong magic: not a snappy-java stream")
        return _unsnappy(raw, name), f"{name} (unsnappied)"
    return raw, name


# ---------------------------------------------------------------------------------------------
# The tree being rebuilt


@dataclass
class ZNode:
    data: bytes
    owner: int


class ZkTree:
    """ZooKeeper's DataTree reduced to what the migration needs, with replay semantics."""

    def __init__(self) -> None:
        self.nodes: dict[str, ZNode] = {"/": ZNode(b"", 0)}
        self.by_session: dict[int, set[str]] = {}

    def _parent(self, path: str) -> str:
        i = path.rfind("/")
        return "/" if i <= 0 else path[:i]

    def add(self, path: str, data: bytes, owner: int) -> None:
        self.nodes[path] = ZNode(data, owner)
        if owner != 0 and kind_from_owner(owner).value == "ephemeral":
            self.by_session.setdefault(owner, set()).add(path)

    def create(self, path: str, data: bytes, owner: int) -> None:
        # As DataTree.createNode during replay: an existing node or a missing parent is an
        # error ZooKeeper ignores (the fuzzy snapshot may already hold the change).
        if path in self.nodes or self._parent(path) not in self.nodes:
            return
        self.add(path, data, owner)

    def delete(self, path: str) -> None:
        node = self.nodes.pop(path, None)
        if node is not None and node.owner in self.by_session:
            self.by_session[node.owner].discard(path)

    def set_data(self, path: str, data: bytes) -> None:
        node = self.nodes.get(path)
        if node is not None:
            node.data = data

    def close_session(self, session: int) -> None:
        for path in sorted(self.by_session.pop(session, set())):
            self.nodes.pop(path, None)


# ---------------------------------------------------------------------------------------------
# Snapshots


@dataclass
class SnapshotInfo:
    zxid_in_name: int | None
    sessions: int
    nodes: int
    digest: bool


def read_snapshot(path: Path, tree: ZkTree) -> SnapshotInfo:
    """Load a snapshot file into ``tree``, verifying its magic and checksum(s)."""
    data, name = read_stream(path)
    r = JuteReader(data, name)
    try:
        magic = r.i32()
        if magic != SNAP_MAGIC:
            raise r.error(f"wrong magic 0x{magic & 0xFFFFFFFF:08x}: not a ZooKeeper snapshot", 0)
        version = r.i32()
        if version != 2:
            raise r.error(f"unsupported snapshot version {version}", 4)
        r.i64()  # dbid
        nsessions = r.i32()
        if nsessions < 0:
            raise r.error(f"negative session count {nsessions}")
        for _ in range(nsessions):
            r.i64()
            r.i32()
        nacl = r.i32()
        for _ in range(max(nacl, 0)):
            r.i64()
            r.skip_acls()
        count = 0
        while True:
            at = r.pos
            p = r.string()
            if p is None:
                raise r.error("null node path", at)
            if p == "/":
                break
            value = r.buffer()
            # acl index; StatPersisted: czxid, mzxid, ctime, mtime, version, cversion,
            # aversion, ephemeralOwner, pzxid
            owner = _NODE_TAIL.unpack(r._take(_NODE_TAIL.size))[8]
            key = p if p else "/"
            if not key.startswith("/"):
                raise r.error(f"node path {p!r} is not absolute", at)
            tree.add(key, value or b"", owner)
            count += 1
        digest = False
        _seal(r, data)
        if r.remaining() > 0:
            # 3.6+: ZxidDigest then a second checksum over everything before it.
            r.i64()
            r.i32()
            r.i64()
            digest = True
            _seal(r, data)
        if r.remaining() > 0:
            raise r.error(f"{r.remaining()} unexpected bytes after the snapshot's end")
    except _Short:
        raise r.error("truncated snapshot: the file ends inside a record") from None
    m = SNAP_RE.match(path.name)
    return SnapshotInfo(int(m.group(1), 16) if m else None, nsessions, count, digest)


def _seal(r: JuteReader, data: bytes) -> None:
    end = r.pos
    stored = r.i64()
    actual = zlib.adler32(data[:end]) & 0xFFFFFFFF
    if stored != actual:
        raise r.error(
            f"bad checksum: stored adler32 0x{stored & 0xFFFFFFFFFFFFFFFF:x}, "
            f"computed 0x{actual:08x} over bytes 0..{end}",
            end,
        )
    at = r.pos
    if r.string() != "/":
        raise r.error("missing '/' end marker after the checksum", at)


# ---------------------------------------------------------------------------------------------
# Transaction logs


@dataclass
class LogStats:
    txns: int = 0
    applied: int = 0
    ended: str = ""


def _apply_body(tree: ZkTree, t: int, r: JuteReader, session: int) -> None:
    """Apply one transaction body. ZooKeeper never nests a multi in a multi: a record
    that does is refused (so no input makes the reader recurse)."""
    if t != OP_MULTI:
        _apply_one(tree, t, r, session)
        return
    n = r.i32()
    subs: list[tuple[int, int, bytes]] = []
    for _ in range(max(n, 0)):
        at = r.base + r.pos
        st = r.i32()
        if st == OP_MULTI:
            raise r.error("a multi operation nested in a multi (ZooKeeper never writes one)",
                          r.pos - 4)
        subs.append((st, at, r.buffer() or b""))
    if any(st == OP_ERROR for st, _, _ in subs):
        return  # a failed multi applied nothing
    for st, at, body in subs:
        _apply_one(tree, st, JuteReader(body, r.name, at + 8), session)


def _apply_one(tree: ZkTree, t: int, r: JuteReader, session: int) -> None:
    if t in (OP_CREATE, OP_CREATE2, OP_CREATE_CONTAINER, OP_CREATE_TTL):
        path = r.string() or ""
        data = r.buffer() or b""
        r.skip_acls()
        if t == OP_CREATE_CONTAINER:
            owner = _CONTAINER_OWNER
        elif t == OP_CREATE_TTL:
            r.i32()  # parentCVersion
            ttl = r.i64()
            owner = struct.unpack(">q", struct.pack(">Q", _TTL_BASE | (ttl & ((1 << 56) - 1))))[0]
        else:
            ephemeral = r.u8() != 0
            owner = session if ephemeral else 0
        tree.create(path, data, owner)
    elif t in (OP_DELETE, OP_DELETE_CONTAINER):
        tree.delete(r.string() or "")
    elif t in (OP_SET_DATA, OP_RECONFIG):
        path = r.string() or ""
        data = r.buffer() or b""
        tree.set_data(path, data)
    elif t == OP_CLOSE_SESSION:
        tree.close_session(session)
    elif t in (OP_ERROR, OP_SET_ACL, OP_CHECK, OP_CREATE_SESSION):
        pass
    else:
        raise r.error(f"unknown transaction type {t}", 0)


def read_log(path: Path, tree: ZkTree, after_zxid: int) -> LogStats:
    """Replay every transaction of ``path`` with zxid > ``after_zxid`` onto ``tree``."""
    name = str(path)
    try:
        with path.open("rb") as f:
            # Logs are preallocated (64 MiB of zeros by default): map, do not read.
            size = os.fstat(f.fileno()).st_size
            data: bytes | mmap.mmap = (
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            )
    except OSError as e:
        raise MigrationInputError(name, "byte 0", f"cannot read: {e.strerror}") from e
    try:
        return _read_log(data, name, tree, after_zxid)
    finally:
        if isinstance(data, mmap.mmap):
            try:
                data.close()
            except BufferError:
                pass  # a view is still referenced (by an error's traceback): GC closes it


def _read_log(data: bytes | mmap.mmap, name: str, tree: ZkTree, after_zxid: int) -> LogStats:
    r = JuteReader(data, name)
    stats = LogStats()
    try:
        magic = r.i32()
        if magic != LOG_MAGIC:
            raise r.error(f"wrong magic 0x{magic & 0xFFFFFFFF:08x}: not a ZooKeeper txn log", 0)
        version = r.i32()
        if version != 2:
            raise r.error(f"unsupported txn log version {version}", 4)
        r.i64()
    except _Short:
        raise r.error("truncated txn log header") from None
    while True:
        start = r.pos
        try:
            crc = r.i64()
            blen = r.i32()
            if blen <= 0:
                stats.ended = f"end of log at byte {start}"
                break
            if blen > MAX_BUFFER:
                raise r.error(f"implausible record length {blen}", start + 8)
            body = bytes(r._take(blen))
            eor = r.u8()
        except _Short:
            # As FileTxnIterator: a record cut short by a crash is the end of the log.
            stats.ended = (
                f"incomplete last record at byte {start} ignored (as ZooKeeper does)"
                if start < len(data)
                else f"end of file at byte {start}"
            )
            break
        if eor != 0x42:
            stats.ended = f"partial last record at byte {start} ignored (as ZooKeeper does)"
            break
        actual = zlib.adler32(body) & 0xFFFFFFFF
        if crc != actual:
            raise r.error(
                f"bad checksum of the transaction record: stored 0x{crc & 0xFFFFFFFFFFFFFFFF:x}, "
                f"computed 0x{actual:08x}",
                start,
            )
        tr = JuteReader(body, name, start + 12)
        try:
            session = tr.i64()
            tr.i32()  # cxid
            zxid = tr.i64()
            tr.i64()  # time
            t = tr.i32()
            stats.txns += 1
            if zxid > after_zxid:
                _apply_body(tree, t, tr, session)
                stats.applied += 1
        except _Short:
            raise tr.error("truncated transaction inside a record with a valid checksum") from None
    return stats


# ---------------------------------------------------------------------------------------------
# A data directory


def _zk_files(d: Path) -> tuple[list[tuple[int, Path]], list[tuple[int, Path]]]:
    snaps: list[tuple[int, Path]] = []
    logs: list[tuple[int, Path]] = []
    for entry in sorted(os.listdir(d)):
        m = SNAP_RE.match(entry)
        if m:
            snaps.append((int(m.group(1), 16), d / entry))
        m = LOG_RE.match(entry)
        if m:
            logs.append((int(m.group(1), 16), d / entry))
    snaps.sort()
    logs.sort()
    return snaps, logs


def _version_dir(d: Path) -> Path:
    return d / "version-2" if (d / "version-2").is_dir() else d


def is_zk_source(path: Path) -> bool:
    if path.is_file():
        return bool(SNAP_RE.match(path.name) or LOG_RE.match(path.name))
    if path.is_dir():
        snaps, logs = _zk_files(_version_dir(path))
        return bool(snaps or logs)
    return False


def read_zk_data(source: Path, log_dir: Path | None = None, replay: bool = True) -> Source:
    """The final state of a ZooKeeper data directory (or of one chosen snapshot file).

    ``source`` is a dataDir (or its version-2/), or one snapshot file to start from; logs are
    read from ``log_dir`` (ZooKeeper's dataLogDir) or else from the snapshot's directory.
    """
    explicit = source.is_file()
    if explicit:
        m = SNAP_RE.match(source.name)
        if not m:
            raise MigrationInputError(str(source), "byte 0", "not a snapshot.<zxid> file name")
        candidates = [(int(m.group(1), 16), source)]
        sdir = source.parent
    else:
        sdir = _version_dir(source)
        snaps, _ = _zk_files(sdir)
        candidates = list(reversed(snaps))  # newest first
    ldir = _version_dir(log_dir) if log_dir is not None else sdir
    _, logs = _zk_files(ldir)
    if not candidates and not logs:
        raise MigrationInputError(str(source), "byte 0", "no snapshot.* or log.* files here")

    # As ZooKeeper does on start (FileSnap.deserialize): the newest snapshot that reads
    # back whole; an incomplete newer one (a server stopped while writing it) is skipped
    # and said so. A snapshot named explicitly must be whole.
    tree = ZkTree()
    notes: list[str] = []
    snap_zxid = 0
    first_error: MigrationInputError | None = None
    for zxid, path in candidates:
        try:
            info = read_snapshot(path, tree)
        except MigrationInputError as e:
            if explicit:
                raise
            first_error = first_error or e
            notes.append(f"snapshot {path.name} skipped, unreadable: {e}")
            tree = ZkTree()
            continue
        snap_zxid = zxid
        notes.append(
            f"snapshot {path.name}: {info.nodes} nodes, {info.sessions} sessions, "
            f"checksum ok{' (with digest)' if info.digest else ''}"
        )
        break
    else:
        if first_error is not None:
            raise MigrationInputError(
                first_error.source,
                first_error.position,
                first_error.reason + " (and no older snapshot of this directory reads back "
                "whole)",
            ) from first_error
    if replay and logs and logs[0][0] > snap_zxid + 1 and not any(z <= snap_zxid for z, _ in logs):
        raise MigrationInputError(
            str(ldir), "byte 0",
            f"the transaction logs after zxid {snap_zxid:#x} are missing (the oldest log is "
            f"{logs[0][1].name}): the state cannot be rebuilt",
        )
    if replay and logs:
        # As FileTxnLog.getLogFiles: the newest log starting at or before the snapshot, and
        # every later one.
        first = max((z for z, _ in logs if z <= snap_zxid), default=logs[0][0])
        for z, lp in logs:
            if z < first:
                continue
            st = read_log(lp, tree, snap_zxid)
            notes.append(
                f"log {lp.name}: {st.txns} transactions, {st.applied} replayed; {st.ended}"
            )
    nodes = [
        Node(path, n.data, kind_from_owner(n.owner)) for path, n in sorted(tree.nodes.items())
    ]
    return Source(f"ZooKeeper data {source}", nodes, notes=notes, zookeeper=True)
