"""Bounded gunzip: every gzip input css-migrate reads goes through here.

The stream is inflated in chunks and refused (a typed MigrationInputError, exit 15)
as soon as the output would pass ``QCSS_MIGRATE_MAX_INFLATED`` bytes (default
1 GiB), so a small ``.gz`` expanding to gigabytes (a "gzip bomb") costs at most
the limit in memory, never the whole expansion. Concatenated members are read
as gzip does."""

from __future__ import annotations

import os
import zlib

from qcss.migrate.model import MigrationInputError

DEFAULT_MAX_INFLATED = 1 << 30
_CHUNK = 1 << 20


def max_inflated() -> int:
    """The limit in bytes ($QCSS_MIGRATE_MAX_INFLATED, else 1 GiB)."""
    text = os.environ.get("QCSS_MIGRATE_MAX_INFLATED", "")
    try:
        value = int(text) if text else DEFAULT_MAX_INFLATED
    except ValueError:
        value = DEFAULT_MAX_INFLATED
    return value if value > 0 else DEFAULT_MAX_INFLATED


def gunzip(raw: bytes, name: str, limit: int | None = None) -> bytes:
    """The inflated content of the gzip stream ``raw`` (from file ``name``), at most
    ``limit`` bytes (default: :func:`max_inflated`); a corrupt, truncated or
    oversized stream raises MigrationInputError with the input byte position."""
    cap = max_inflated() if limit is None else limit
    out: list[bytes] = []
    total = 0
    data = memoryview(raw)
    consumed = 0  # input bytes of the members already finished
    while True:
        d = zlib.decompressobj(wbits=31)
        pending = data[consumed:]
        try:
            while True:
                chunk = d.decompress(pending, min(_CHUNK, cap - total + 1))
                total += len(chunk)
                if total > cap:
                    raise MigrationInputError(
                        name, f"byte {len(raw) - len(d.unconsumed_tail)}",
                        f"gzip stream inflates to more than {cap} bytes "
                        "(QCSS_MIGRATE_MAX_INFLATED)")
                out.append(chunk)
                if not d.unconsumed_tail:
                    break
                pending = memoryview(d.unconsumed_tail)
        except zlib.error as e:
            raise MigrationInputError(name, f"byte {consumed}", f"bad gzip stream: {e}") from e
        if not d.eof:
            raise MigrationInputError(name, f"byte {len(raw)}",
                                      "bad gzip stream: truncated (no end of stream)")
        rest = d.unused_data
        consumed = len(raw) - len(rest)
        if not rest or not rest.lstrip(b"\0"):
            return b"".join(out)  # trailing zeros: as gzip.decompress, the end
        if not rest.startswith(b"\x1f\x8b"):
            raise MigrationInputError(name, f"byte {consumed}",
                                      "bad gzip stream: garbage after the compressed data")


def gunzip_head(raw: bytes, name: str, size: int = 4096) -> bytes:
    """The first ``size`` inflated bytes of ``raw`` (format detection), bounded alike."""
    d = zlib.decompressobj(wbits=31)
    try:
        head = d.decompress(raw, size)
    except zlib.error as e:
        raise MigrationInputError(name, "byte 0", f"bad gzip stream: {e}") from e
    return head  # a truncated stream is reported when the whole file is read
