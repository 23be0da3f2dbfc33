"""The generated CLI reference is current."""

from __future__ import annotations

from pathlib import Path

from qcss.clidoc import render

DOC = Path(__file__).parent.parent / "docs" / "cli.md"


def test_cli_doc_is_generated_from_help() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `python -m qcss.clidoc > docs/cli.md`"
    )
