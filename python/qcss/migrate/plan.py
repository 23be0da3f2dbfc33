"""The migration rules: from what a source holds to exactly what will be written."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from qcss.migrate.model import Node, NodeKind, Source, key_problem

SYSTEM_ROOT = "/zookeeper"
SKIP_SYSTEM = "ZooKeeper system tree (/zookeeper)"
SKIP_EPHEMERAL = "ephemeral node"
SKIP_INVALID = "invalid key"
# qcss's reserved namespace: lock entries and fencing tokens (qcss.LOCK_ROOT,
# qcss.LOCK_TOKEN_ROOT). Never written by a migration or restore: a copied entry has
# no lease and would hold its lock forever.
RESERVED_ROOT = "/.qcss"
SKIP_RESERVED = f"qcss lock namespace ({RESERVED_ROOT}), never restored"


def is_reserved(key: str) -> bool:
    """True if ``key`` lies in qcss's reserved namespace ``/.qcss``."""
    return key == RESERVED_ROOT or key.startswith(RESERVED_ROOT + "/")


class PlanError(ValueError):
    """The rules cannot produce a well-defined result (e.g. two paths map to one key)."""


@dataclass(frozen=True)
class PrefixMap:
    old: str
    new: str

    @classmethod
    def parse(cls, text: str) -> PrefixMap:
        old, sep, new = text.partition("=")
        if not sep or not old.startswith("/") or not new.startswith("/"):
            raise PlanError(f"--prefix-map {text!r}: expected /old=/new")
        for p in (old, new):
            if p != "/" and (p.endswith("/") or key_problem(p)):
                raise PlanError(f"--prefix-map {text!r}: {p!r} is not a valid key prefix")
        return cls(old, new)

    def apply(self, key: str) -> str | None:
        if self.old == "/":
            rest = key
        elif key == self.old:
            return self.new
        elif key.startswith(self.old + "/"):
            rest = key[len(self.old) :]
        else:
            return None
        if rest == "/":
            return self.new
        return rest if self.new == "/" else self.new + rest


@dataclass
class Plan:
    """Keys to write, sorted by bytes so that parents precede children."""

    entries: list[tuple[str, bytes]]
    root_value: bytes | None  # the source's value of "/", if it has one
    read: int
    skipped: Counter[str] = field(default_factory=Counter)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (source path, reason)
    kept_special: Counter[str] = field(default_factory=Counter)  # container / ttl kept
    implicit_parents: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ephemerals: list[str] = field(default_factory=list)  # the ephemeral paths skipped
    # Left out by the reader itself (never among the keys read), part of `skipped`.
    source_skipped: Counter[str] = field(default_factory=Counter)

    @property
    def keys(self) -> int:
        return len(self.entries) + (1 if self.root_value else 0)


def _sort_key(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _parent(key: str) -> str:
    i = key.rfind("/")
    return "/" if i <= 0 else key[:i]


def build_plan(source: Source, prefix_maps: list[PrefixMap] | None = None) -> Plan:
    """Apply the rules: skip ZooKeeper's system tree, ephemerals and qcss's reserved lock
    namespace (``/.qcss``, checked on the key as written), keep container and TTL nodes as
    plain keys, map prefixes, and set aside (never alter) invalid keys."""
    maps = sorted(prefix_maps or [], key=lambda m: len(m.old), reverse=True)
    skipped: Counter[str] = Counter(source.skipped)
    kept: Counter[str] = Counter()
    invalid: list[tuple[str, str]] = []
    ephemerals: list[str] = []
    out: dict[str, bytes] = {}
    origin: dict[str, str] = {}
    root_value: bytes | None = None
    node: Node
    for node in source.nodes:
        key = node.key
        if source.zookeeper and (key == SYSTEM_ROOT or key.startswith(SYSTEM_ROOT + "/")):
            skipped[SKIP_SYSTEM] += 1
            continue
        if node.kind is NodeKind.EPHEMERAL:
            skipped[SKIP_EPHEMERAL] += 1
            ephemerals.append(key)
            continue
        if node.kind in (NodeKind.CONTAINER, NodeKind.TTL):
            kept[node.kind.value] += 1
        for m in maps:
            mapped = m.apply(key)
            if mapped is not None:
                key = mapped
                break
        if is_reserved(key):
            skipped[SKIP_RESERVED] += 1
            continue
        problem = key_problem(key)
        if problem:
            shown = node.key if key == node.key else f"{node.key} -> {key}"
            invalid.append((shown, problem))
            skipped[SKIP_INVALID] += 1
            continue
        if key == "/":
            if root_value is not None:
                raise PlanError(f"{node.key!r} and {origin['/']!r} both map to '/'")
            root_value = node.value
            origin["/"] = node.key
            continue
        if key in out:
            raise PlanError(f"{node.key!r} and {origin[key]!r} both map to {key!r}")
        out[key] = node.value
        origin[key] = node.key
    entries = sorted(out.items(), key=lambda kv: _sort_key(kv[0]))
    implicit = sorted(
        {p for k, _ in entries if (p := _parent(k)) != "/" and p not in out}, key=_sort_key
    )
    plan = Plan(entries, root_value, len(source.nodes), skipped, invalid, kept, implicit)
    plan.ephemerals = ephemerals
    plan.source_skipped = Counter(source.skipped)
    plan.notes.extend(source.notes)
    if kept:
        plan.notes.append(
            "kept as plain keys (qcss has no container or TTL nodes): "
            + ", ".join(f"{n} {k}" for k, n in sorted(kept.items()))
        )
    if implicit:
        plan.notes.append(
            f"{len(implicit)} parent keys absent from the source will exist with empty values"
        )
    return plan
