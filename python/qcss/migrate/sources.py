"""Open any supported source by name and format (``auto`` guesses from the content)."""

from __future__ import annotations

from pathlib import Path

from qcss.migrate import formats
from qcss.migrate.model import MigrationInputError, Source

FORMATS = (
    "auto",
    "zk-data",
    "zk-live",
    "qserv-tsv",
    "qserv-json",
    "zk-shell",
    "zoocreeper",
    "qcss",
)


def detect_format(spec: str) -> str:
    if spec.startswith("zk://"):
        return "zk-live"
    path = Path(spec)
    if not path.exists():
        raise MigrationInputError(spec, "file", "no such file or directory")
    from qcss.migrate import zkdata  # only when reading files: css-admin starts faster

    if zkdata.is_zk_source(path):
        return "zk-data"
    if path.is_dir():
        raise MigrationInputError(spec, "directory", "no ZooKeeper snapshot.* or log.* here")
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"\x1f\x8b"):
        from qcss.migrate.inflate import gunzip_head

        with path.open("rb") as f:
            head = gunzip_head(f.read(1 << 20), spec)
    if formats.is_qcss_dump(head):
        return "qcss"
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        return "json"  # Qserv, zk-shell or ZooCreeper: decided from the values
    if stripped.startswith(b"ZKSN") or stripped.startswith(b"ZKLG"):
        return "zk-data"
    return "qserv-tsv"


def open_source(
    spec: str,
    fmt: str = "auto",
    zk_log_dir: str | None = None,
    replay: bool = True,
) -> Source:
    """Read the whole source into memory (nothing is written before it parsed completely)."""
    kind = detect_format(spec) if fmt == "auto" else fmt
    if kind == "zk-live":
        from qcss.migrate.live import read_live

        return read_live(spec)
    path = Path(spec)
    if kind == "zk-data":
        from qcss.migrate import zkdata

        return zkdata.read_zk_data(
            path, Path(zk_log_dir) if zk_log_dir else None, replay=replay
        )
    if kind == "qserv-tsv":
        return formats.read_qserv_tsv(path)
    if kind == "json":
        return formats.read_json_object(path)
    if kind == "qserv-json":
        return formats.read_json_object(path, "qserv")
    if kind == "zk-shell":
        return formats.read_json_object(path, "zkshell")
    if kind == "zoocreeper":
        return formats.read_json_object(path, "zoocreeper")
    if kind == "qcss":
        return formats.read_qcss_dump(path)
    raise MigrationInputError(spec, "format", f"unknown format {fmt!r}")
