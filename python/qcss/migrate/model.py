"""Common types of the migration: what a reader yields and the errors it raises."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import qcss

__all__ = [
    "MigrationInputError",
    "Node",
    "NodeKind",
    "Source",
    "key_problem",
]


def key_problem(key: str) -> str:
    """Why ``key`` cannot be a qcss key ("" if it can), by the core's own rules."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8"
    return qcss.keyProblem(key)


class MigrationInputError(qcss.BadDumpError):
    """Input that cannot be read: names the file and the position (byte offset or line)."""

    def __init__(self, source: str, position: str, reason: str) -> None:
        self.source = source
        self.position = position
        self.reason = reason
        super().__init__(f"{source}: {position}: {reason}")


class NodeKind(enum.Enum):
    """What a node was in its source system (ZooKeeper's node types; plain keys elsewhere)."""

    PERSISTENT = "persistent"
    EPHEMERAL = "ephemeral"
    CONTAINER = "container"
    TTL = "ttl"


# ZooKeeper encodes the node type in the ephemeralOwner field of its Stat
# (org.apache.zookeeper.server.EphemeralType): 0 persistent, Long.MIN_VALUE container,
# top byte 0xFF a TTL node (the TTL in the low bits), anything else a session id.
_CONTAINER_OWNER = -(1 << 63)
_EXTENDED_MASK = 0xFF << 56


def kind_from_owner(owner: int) -> NodeKind:
    """The node type from ZooKeeper's ephemeralOwner (signed 64-bit, as jute stores it)."""
    if owner == 0:
        return NodeKind.PERSISTENT
    if owner == _CONTAINER_OWNER:
        return NodeKind.CONTAINER
    if (owner & ((1 << 64) - 1)) & _EXTENDED_MASK == _EXTENDED_MASK:
        return NodeKind.TTL
    return NodeKind.EPHEMERAL


class Node(NamedTuple):
    """One key read from a source, before any rule is applied."""

    key: str
    value: bytes
    kind: NodeKind = NodeKind.PERSISTENT


@dataclass
class Source:
    """The whole content of a source, read completely before anything is written."""

    description: str
    nodes: list[Node]
    # Counts the reader itself skipped (e.g. ephemerals a live walk never returns).
    skipped: dict[str, int] = field(default_factory=dict)
    # Facts worth telling the operator (snapshot used, logs replayed, ...).
    notes: list[str] = field(default_factory=list)
    # True for ZooKeeper sources: their /zookeeper system tree is skipped.
    zookeeper: bool = False

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)
