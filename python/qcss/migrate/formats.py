"""Readers of the text dump formats, and qcss's own lossless dump.

- Qserv TSV: one ``key<TAB>value`` a line (split at the first tab, no other escaping),
  ``\\N`` for an empty value.
- Qserv JSON (``KvInterface::dumpKV``): ``{"\\/key": "value", ...}``, values as text.
- zk-shell ``json://`` dumps: ``{"/path": {"content": base64 | null, "acls": [...]}}``.
- ZooCreeper / zkr backups: ``{"/path": {"data": base64 | null, "ephemeralOwner": n,
  "czxid": ..., "acls": [...]}}``, possibly gzipped.
- qcss dump (``css-admin dump --format qcss``): JSON lines, see ``QCSS_DUMP_DOC``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from qcss.migrate.inflate import gunzip
from qcss.migrate.model import MigrationInputError, Node, Source, kind_from_owner

QCSS_DUMP_FORMAT = "qcss-dump"
QCSS_DUMP_VERSION = 1
QCSS_DUMP_DOC = """\
qcss dump format, version 1: UTF-8 JSON lines.
  line 1:    {"format": "qcss-dump", "version": 1, "prefix": "/", "revision": R}
  each key:  {"k": "/key", "v": "text"}   value valid UTF-8
             {"k": "/key", "b64": "..."}  any other value (standard base64)
  last line: {"end": true, "keys": N}      N key lines precede it (detects truncation)
Keys are sorted by bytes and parents precede children; the prefix itself is included.
"""


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise MigrationInputError(str(path), "byte 0", f"cannot read: {e.strerror}") from e
    if raw.startswith(b"\x1f\x8b"):
        return gunzip(raw, str(path))
    return raw


def _decode_text(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise MigrationInputError(
            name, f"line {line} (byte {e.start})", "not valid UTF-8 text"
        ) from e


# ---------------------------------------------------------------------------------------------
# Qserv TSV


def read_qserv_tsv(path: Path) -> Source:
    name = str(path)
    raw = _read_bytes(path)
    nodes: list[Node] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            continue
        tab = line.find(b"\t")
        if tab < 0:
            raise MigrationInputError(name, f"line {lineno}", "no tab between key and value")
        key = line[:tab].decode("utf-8", "surrogateescape")
        value = line[tab + 1 :]
        if value == b"\\N":
            value = b""
        if key in seen:
            raise MigrationInputError(
                name, f"line {lineno}", f"key {key!r} already given on line {seen[key]}"
            )
        seen[key] = lineno
        nodes.append(Node(key, value))
    return Source(f"Qserv TSV dump {name}", nodes)


# ---------------------------------------------------------------------------------------------
# JSON object formats


class _Duplicate(Exception):
    pass


class _HugeInt(Exception):
    pass


MAX_INT_DIGITS = 40  # no field of any supported format needs more (zxids are 64-bit)
MAX_JSON_DEPTH = 200


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS + 1:
        raise _HugeInt(text)
    return int(text)


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line} column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1} (char {pos})"


def _too_deep_at(text: str) -> int:
    """Where the nesting of ``text`` first passes MAX_JSON_DEPTH (iterative scan, strings
    skipped); -1 if it never does."""
    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return m.start()
        elif c in "]}":
            depth -= 1
    return -1


def json_loads(text: str, name: str, where: str = "", **kw: Any) -> Any:
    """json.loads for untrusted input: every failure is a MigrationInputError naming
    ``name`` and the position (prefixed by ``where``, e.g. "line 7 "); integers of
    more than MAX_INT_DIGITS digits and nesting deeper than MAX_JSON_DEPTH are
    refused (checked by an iterative scan, never by recursing as deep as the input)."""
    deep = _too_deep_at(text) if text.count("[") + text.count("{") > MAX_JSON_DEPTH else -1
    if deep >= 0:
        raise MigrationInputError(name, where + _line_col(text, deep),
                                  f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_int=_bounded_int, **kw)
    except json.JSONDecodeError as e:
        raise MigrationInputError(
            name, where + f"line {e.lineno} column {e.colno} (char {e.pos})",
            f"malformed JSON: {e.msg}") from e
    except _HugeInt as e:
        pos = text.find(e.args[0])
        raise MigrationInputError(
            name, where + _line_col(text, max(pos, 0)),
            f"integer of {len(e.args[0])} digits (at most {MAX_INT_DIGITS})") from e
    except RecursionError as e:  # not reached after the depth check; never let it out
        raise MigrationInputError(name, where + "char 0", "JSON nested too deeply") from e


def _load_json_object(raw: bytes, name: str) -> list[tuple[str, Any]]:
    text = _decode_text(raw, name)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise _Duplicate(k)
            out[k] = v
        return out

    try:
        obj = json_loads(text, name, object_pairs_hook=pairs)
    except _Duplicate as e:
        raise MigrationInputError(name, f"key {e.args[0]!r}", "name given twice") from e
    if not isinstance(obj, dict):
        raise MigrationInputError(name, "line 1", "expected a JSON object mapping paths")
    return list(obj.items())


def _b64(text: Any, name: str, key: str, field: str) -> bytes:
    if text is None:
        return b""
    if not isinstance(text, str):
        raise MigrationInputError(name, f"key {key!r}", f"{field} is not a string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise MigrationInputError(name, f"key {key!r}", f"{field} is not base64: {e}") from e


def detect_json_kind(items: list[tuple[str, Any]]) -> str:
    """'qserv', 'zkshell' or 'zoocreeper' from the shape of the values."""
    for _, v in items:
        if isinstance(v, str):
            return "qserv"
        if isinstance(v, dict):
            if "content" in v:
                return "zkshell"
            if "data" in v or "ephemeralOwner" in v:
                return "zoocreeper"
        break
    return "qserv"


def read_json_object(path: Path, kind: str | None = None) -> Source:
    name = str(path)
    items = _load_json_object(_read_bytes(path), name)
    kind = kind or detect_json_kind(items)
    nodes: list[Node] = []
    if kind == "qserv":
        for k, v in items:
            if not isinstance(v, str):
                raise MigrationInputError(name, f"key {k!r}", "value is not a string")
            nodes.append(Node(k, v.encode("utf-8", "surrogatepass")))
        return Source(f"Qserv JSON dump {name}", nodes)
    if kind == "zkshell":
        for k, v in items:
            if not isinstance(v, dict) or "content" not in v:
                raise MigrationInputError(name, f"key {k!r}", "entry has no 'content'")
            nodes.append(Node(k, _b64(v["content"], name, k, "content")))
        return Source(f"zk-shell JSON dump {name}", nodes, zookeeper=True)
    if kind == "zoocreeper":
        for k, v in items:
            if not isinstance(v, dict) or "data" not in v:
                raise MigrationInputError(name, f"key {k!r}", "entry has no 'data'")
            owner = v.get("ephemeralOwner", 0)
            if not isinstance(owner, int):
                raise MigrationInputError(name, f"key {k!r}", "ephemeralOwner is not a number")
            nodes.append(Node(k, _b64(v["data"], name, k, "data"), kind_from_owner(owner)))
        return Source(f"ZooCreeper/zkr JSON backup {name}", nodes, zookeeper=True)
    raise ValueError(f"unknown JSON dump kind {kind!r}")


# ---------------------------------------------------------------------------------------------
# qcss's own dump


def encode_entry(key: str, value: bytes) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return json.dumps({"k": key, "b64": base64.b64encode(value).decode("ascii")})
    return json.dumps({"k": key, "v": text}, ensure_ascii=False)


def write_qcss_dump(
    out: TextIO, entries: Iterable[tuple[str, bytes]], prefix: str = "/", revision: int = 0
) -> int:
    """Write the qcss dump of ``entries`` (sorted by key) to ``out``; returns the key count."""
    header = {
        "format": QCSS_DUMP_FORMAT,
        "version": QCSS_DUMP_VERSION,
        "prefix": prefix,
        "revision": revision,
    }
    out.write(json.dumps(header) + "\n")
    n = 0
    for key, value in entries:
        out.write(encode_entry(key, value) + "\n")
        n += 1
    out.write(json.dumps({"end": True, "keys": n}) + "\n")
    return n


def is_qcss_dump(raw: bytes) -> bool:
    first = raw[:200].lstrip()
    return first.startswith(b"{") and b'"format": "qcss-dump"' in first.split(b"\n", 1)[0]


def _qcss_entry(obj: Any, name: str, lineno: int) -> Node:
    if not isinstance(obj, dict):
        raise MigrationInputError(name, f"line {lineno}", "expected a JSON object")
    key = obj.get("k")
    if not isinstance(key, str):
        raise MigrationInputError(name, f"line {lineno}", "entry without a string 'k'")
    v = obj.get("v")
    if isinstance(v, str):
        return Node(key, v.encode("utf-8", "surrogatepass"))
    if "b64" in obj:
        try:
            return Node(key, base64.b64decode(str(obj["b64"]).encode("ascii"), validate=True))
        except (binascii.Error, UnicodeEncodeError) as e:
            raise MigrationInputError(name, f"line {lineno}", f"bad base64: {e}") from e
    raise MigrationInputError(name, f"line {lineno}", "entry without 'v' or 'b64'")


def _parse_line(line: str, name: str, lineno: int) -> Any:
    return json_loads(line, name, f"line {lineno}: ")


def read_qcss_dump(path: Path) -> Source:
    name = str(path)
    text = _decode_text(_read_bytes(path), name)
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise MigrationInputError(name, "line 1", "empty file: not a qcss dump")
    header = _parse_line(lines[0], name, 1)
    if not isinstance(header, dict) or header.get("format") != QCSS_DUMP_FORMAT:
        raise MigrationInputError(name, "line 1", "not a qcss dump (no header)")
    if header.get("version") != QCSS_DUMP_VERSION:
        raise MigrationInputError(
            name, "line 1", f"unsupported qcss dump version {header.get('version')!r}"
        )
    last = _parse_line(lines[-1], name, len(lines)) if len(lines) > 1 else None
    if not isinstance(last, dict) or last.get("end") is not True:
        raise MigrationInputError(name, f"line {len(lines)}", "truncated: no end line")
    body = lines[1:-1]
    try:
        # Fast path: the whole body in one C-level parse.
        objs: list[Any] = json.loads("[" + ",".join(ln for ln in body if ln.strip()) + "]",
                                     parse_int=_bounded_int)
        numbered = [(i + 2, ln) for i, ln in enumerate(body) if ln.strip()]
        if len(objs) != len(numbered):  # a line "1, 2" joins into two values
            raise ValueError("not one value per line")
    except (ValueError, _HugeInt, RecursionError):  # JSONDecodeError is a ValueError
        numbered = [(i + 2, ln) for i, ln in enumerate(body) if ln.strip()]
        objs = [_parse_line(ln, name, no) for no, ln in numbered]  # raises with the line
    nodes = [_qcss_entry(o, name, no) for o, (no, _) in zip(objs, numbered, strict=True)]
    if last.get("keys") != len(nodes):
        raise MigrationInputError(
            name,
            f"line {len(lines)}",
            f"end line counts {last.get('keys')!r} keys but {len(nodes)} were read",
        )
    if len({n.key for n in nodes}) != len(nodes):
        seen: set[str] = set()
        for n, (no, _) in zip(nodes, numbered, strict=True):
            if n.key in seen:
                raise MigrationInputError(name, f"line {no}", f"key {n.key!r} given twice")
            seen.add(n.key)
    return Source(f"qcss dump {name} (revision {header.get('revision')})", nodes)
