"""Read a live ZooKeeper ensemble through kazoo (``pip install 'qcss[zookeeper]'``).

ZooKeeper has no multi-node consistent read: stop every writer before migrating live, or
migrate from the data directory of a stopped server instead. ZooKeeper also shows container
and TTL nodes to clients as persistent ones (ephemeralOwner 0), so a live read imports them as
plain keys without recognising them; the data directory reader reports them.
"""

from __future__ import annotations

from typing import Any

from qcss.migrate.model import MigrationInputError, Node, Source, kind_from_owner

SYSTEM_ROOT = "/zookeeper"


def parse_zk_url(url: str) -> tuple[str, str]:
    """``zk://host:port[,host:port...][/chroot]`` -> (hosts, root path to walk)."""
    rest = url[len("zk://") :]
    slash = rest.find("/")
    hosts, root = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:] or "/")
    if not hosts:
        raise MigrationInputError(url, "url", "no host in the ZooKeeper URL")
    if len(root) > 1 and root.endswith("/"):
        root = root.rstrip("/")
    return hosts, root


def read_live(url: str, timeout: float = 15.0) -> Source:
    """Walk the tree under the URL's path (whole tree by default) and return its nodes.

    Paths are kept absolute as ZooKeeper names them; a path below the URL's root keeps its
    full path (use --prefix-map to move it).
    """
    try:
        from kazoo.client import KazooClient
        from kazoo.exceptions import NoNodeError
    except ImportError as e:
        raise MigrationInputError(
            url, "url", "reading a live ZooKeeper needs kazoo: pip install 'qcss[zookeeper]'"
        ) from e
    hosts, root = parse_zk_url(url)
    zk: Any = KazooClient(hosts=hosts, timeout=timeout, read_only=True)
    try:
        zk.start(timeout=timeout)
    except Exception as e:
        raise MigrationInputError(url, "connect", f"cannot connect to ZooKeeper: {e}") from e
    nodes: list[Node] = []
    skipped_system = 0
    vanished = 0
    try:
        stack = [root]
        while stack:
            path = stack.pop()
            if path == SYSTEM_ROOT or path.startswith(SYSTEM_ROOT + "/"):
                # Counted, not read: its content is ZooKeeper's own.
                skipped_system += 1
                try:
                    children = zk.get_children(path)
                except NoNodeError:
                    continue
                stack.extend(f"{path}/{c}" for c in children)
                continue
            try:
                data, stat = zk.get(path)
                children = zk.get_children(path)
            except NoNodeError:
                vanished += 1
                continue
            nodes.append(Node(path, bytes(data or b""), kind_from_owner(stat.ephemeralOwner)))
            base = "" if path == "/" else path
            stack.extend(f"{base}/{c}" for c in sorted(children, reverse=True))
    finally:
        zk.stop()
        zk.close()
    nodes.sort(key=lambda n: n.key.encode("utf-8", "surrogateescape"))
    src = Source(f"live ZooKeeper {url}", nodes, zookeeper=True)
    if skipped_system:
        src.skipped["ZooKeeper system tree (/zookeeper)"] = skipped_system
    if vanished:
        src.notes.append(f"{vanished} nodes vanished during the walk (writers still running?)")
    return src
