"""The generated CLI reference is current."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from qcss.clidoc import render

DOC = Path(__file__).parent.parent / "docs" / "cli.md"


def test_cli_doc_is_generated_from_help() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `python -m qcss.clidoc > docs/cli.md`"
    )


README = Path(__file__).parent.parent / "README.md"


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file."""
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


def test_readme_python_examples_run_as_written(tmp_path: Path, monkeypatch: Any) -> None:
    # A newcomer's first run: each block in a fresh namespace, in the README's order,
    # with the embedded default store in a private data directory.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("QCSS_URL", raising=False)
    blocks = python_blocks(README)
    assert blocks, "README.md has no python example"
    for i, code in enumerate(blocks):
        namespace: dict[str, Any] = {"__name__": f"readme_block_{i}"}
        exec(compile(code, f"README.md python block {i}", "exec"), namespace)
