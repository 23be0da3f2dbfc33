"""Write a plan through the public KvInterface, atomically or in resumable batches.

Atomicity: a plan of at most ``ATOMIC_LIMIT`` keys (far above any Qserv CSS, which holds a
few thousand) is written in ONE transaction: all keys or none. A larger plan is written in
transactions of ``batch_size`` keys in key order; each batch is atomic, and a failure
reports the last key committed. Re-running with ``resume=True`` skips the keys already
present with exactly the planned value, so a stopped import continues where it stopped.

Overwriting: without ``overwrite`` every key is written with ``create`` inside the
transaction, which fails the whole transaction if the key exists at commit time (what
``check(key, 0)`` would also ensure), so a key created concurrently by someone else makes the
batch fail instead of being overwritten; with ``overwrite`` the keys are ``set``. Keys of the target
absent from the source are never deleted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from qcss import errors
from qcss.migrate.plan import Plan

ATOMIC_LIMIT = 200_000
DEFAULT_BATCH = 50_000
READ_CHUNK = 10_000
PROGRESS_MIN = 10_000  # show progress bars from this many keys on


class ConflictError(Exception):
    """Keys that would be overwritten (and --overwrite was not given)."""

    def __init__(self, keys: list[str], total: int, identical: bool = False) -> None:
        self.keys = keys
        self.total = total
        shown = ", ".join(keys[:10]) + (f", ... ({total} in all)" if total > 10 else "")
        how = (
            "with the same values (use --resume to skip them)"
            if identical
            else "with other values (use --overwrite to replace them)"
        )
        super().__init__(
            f"{total} keys already exist in the target {how}: {shown}; nothing was written"
        )


class PartialWriteError(Exception):
    """A batched write stopped after some batches were committed."""

    def __init__(self, message: str, report: WriteReport) -> None:
        self.report = report
        super().__init__(message)


@dataclass
class WriteReport:
    written: int = 0
    already_present: int = 0
    batches: int = 0
    batches_total: int = 0
    revision: int = 0
    last_committed_key: str | None = None
    atomic: bool = True
    root_written: bool = False


@dataclass
class VerifyReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.different


def _chunks(seq: Sequence[tuple[str, bytes]], n: int) -> Iterator[Sequence[tuple[str, bytes]]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _progress(total: int, desc: str, enabled: bool | None) -> Any:
    from tqdm import tqdm

    if enabled is None:
        enabled = total >= PROGRESS_MIN
    # disable=None: tqdm shows the bar only on a terminal.
    return tqdm(total=total, desc=desc, unit="key", disable=None if enabled else True)


def _as_bytes(v: Any) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def _store_is_empty(kv: Any) -> bool:
    # The root is implicit: an empty store has none (NoSuchKey).
    try:
        return len(kv.getChildren("/")) == 0
    except errors.NoSuchKey:
        return True


def _root_value(kv: Any) -> bytes:
    try:
        return _as_bytes(kv.get("/"))
    except errors.NoSuchKey:
        return b""


def existing(
    kv: Any, plan: Plan, progress: bool | None = None
) -> tuple[list[str], list[str]]:
    """Planned keys already in the target: (same value, other value)."""
    same: list[str] = []
    other: list[str] = []
    if _store_is_empty(kv):
        return same, other
    with _progress(len(plan.entries), "checking target", progress) as bar:
        for chunk in _chunks(plan.entries, READ_CHUNK):
            found = kv.getMany([k for k, _ in chunk])
            for k, v in chunk:
                if k in found:
                    (same if _as_bytes(found[k]) == v else other).append(k)
            bar.update(len(chunk))
    return same, other


def _root_version(kv: Any) -> int:
    try:
        return int(kv.getStat("/").version)
    except errors.NoSuchKey:
        return 0  # the implicit root of an empty store


def write_plan(
    kv: Any,
    plan: Plan,
    *,
    overwrite: bool = False,
    resume: bool = False,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> WriteReport:
    """Write ``plan`` into ``kv``. Raises ConflictError before writing anything if keys
    exist with other values (unless ``overwrite``), PartialWriteError if a batch fails after
    earlier batches were committed."""
    report = WriteReport()
    entries = plan.entries
    skip: set[str] = set()
    if not overwrite or resume:
        same, other = existing(kv, plan, progress)
        if other and not overwrite:
            raise ConflictError(other, len(other))
        if same and not resume and not overwrite:
            raise ConflictError(same, len(same), identical=True)
        if resume:
            skip = set(same)
    root_op: tuple[bytes, int] | None = None
    if plan.root_value:
        current = _root_value(kv)
        if current != plan.root_value:
            if current and not overwrite:
                raise ConflictError(["/"], 1)
            root_op = (plan.root_value, _root_version(kv))
    if skip:
        entries = [(k, v) for k, v in entries if k not in skip]
        report.already_present = len(skip)

    if batch_size:
        size = batch_size
    else:
        size = len(entries) if len(entries) <= ATOMIC_LIMIT else DEFAULT_BATCH
    size = max(size, 1)
    report.atomic = size >= len(entries)
    batches: list[Sequence[tuple[str, bytes]]] = list(_chunks(entries, size))
    if not batches and root_op is not None:
        batches = [[]]
    report.batches_total = len(batches)
    with _progress(len(entries), "writing", progress) as bar:
        for i, chunk in enumerate(batches):
            txn = kv.transaction()
            if i == 0 and root_op is not None:
                # Compare-and-set on the root's version read above: race-free.
                txn.set("/", root_op[0], root_op[1])
            for k, v in chunk:
                if overwrite:
                    txn.set(k, v)
                else:
                    # create() inside the transaction fails the whole batch if the key
                    # exists at commit time: the same race-free guarantee as check(k, 0),
                    # without a second operation per key (15% of the commit on MariaDB).
                    txn.create(k, v)
            try:
                report.revision = int(txn.commit())
            except Exception as e:
                if report.batches == 0:
                    raise
                raise PartialWriteError(
                    f"stopped in batch {i + 1} of {report.batches_total}: {e}. "
                    f"Batches 1-{report.batches} are committed ({report.written} keys, up to "
                    f"and including {report.last_committed_key!r}); nothing of batch {i + 1} "
                    "was written. Fix the cause and re-run the same command with --resume "
                    "to continue.",
                    report,
                ) from e
            if i == 0 and root_op is not None:
                report.root_written = True
            report.batches += 1
            report.written += len(chunk)
            if chunk:
                report.last_committed_key = chunk[-1][0]
            bar.update(len(chunk))
    return report


def verify_plan(kv: Any, plan: Plan, progress: bool | None = None) -> VerifyReport:
    """Read every planned key back and compare it byte for byte."""
    rep = VerifyReport()
    with _progress(len(plan.entries), "verifying", progress) as bar:
        for chunk in _chunks(plan.entries, READ_CHUNK):
            found = kv.getMany([k for k, _ in chunk])
            for k, v in chunk:
                rep.checked += 1
                if k not in found:
                    rep.missing.append(k)
                elif _as_bytes(found[k]) != v:
                    rep.different.append(k)
            bar.update(len(chunk))
    if plan.root_value:
        rep.checked += 1
        if _root_value(kv) != plan.root_value:
            rep.different.append("/")
    return rep
