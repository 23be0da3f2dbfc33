"""What the migration takes from the qcss core, with a fallback while it is not importable.

The migration readers are pure Python; only the writer needs the compiled module. The key
rules are the core's (``qcss.keyProblem``) whenever the core is importable, so the two
can never disagree; the fallback below restates them for the readers' own tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_KEY_BYTES = 1024


def _local_key_problem(key: str) -> str:
    """Why ``key`` is not a valid qcss key, or "" if it is (same rules as the core)."""
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if not key.startswith("/"):
        return "not absolute (must start with '/')"
    if "\0" in key:
        return "contains a NUL character"
    if len(raw) > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes ({len(raw)})"
    if key == "/":
        return ""
    if key.endswith("/"):
        return "has a trailing '/'"
    for part in key[1:].split("/"):
        if part == "":
            return "has an empty component ('//')"
        if part in (".", ".."):
            return f"has a '{part}' component"
    return ""


def _load() -> tuple[type[Exception], Callable[[str], str], Any]:
    try:
        import qcss

        return qcss.BadDumpError, qcss.keyProblem, qcss
    except (ImportError, AttributeError):
        return ValueError, _local_key_problem, None


BadDumpBase, key_problem, qcss_module = _load()
