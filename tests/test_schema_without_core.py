"""Deploying the schema never needs the C++ library: `css-admin schema ...` runs in a
Python where the extension qcss._qcss cannot be imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import qcss.schema
from conftest import Store

RUN_WITHOUT_CORE = (
    "import sys; sys.modules['qcss._qcss'] = None\n"  # importing it now raises
    "from qcss.cli import main\n"
    "sys.argv = ['css-admin'] + sys.argv[1:]\n"
    "main()\n"
)


def css_admin_without_core(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_CORE, *args], capture_output=True, text=True,
        timeout=120,
    )


def test_the_core_really_is_blocked() -> None:
    r = css_admin_without_core("ls", "/")
    assert r.returncode != 0
    assert "qcss._qcss" in r.stderr


def test_schema_init_and_status_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/css.db"
    r = css_admin_without_core("--url", url, "schema", "status")
    assert r.returncode == 12, r.stderr  # SchemaError: nothing applied yet
    r = css_admin_without_core("--url", url, "schema", "init")
    assert r.returncode == 0, r.stderr
    latest = qcss.schema.latest_version("sqlite")
    assert f"schema version {latest}, latest {latest}" in r.stdout
    r = css_admin_without_core("--url", url, "schema", "status")
    assert r.returncode == 0, r.stderr


def test_schema_status_on_every_sql_backend(store: Store) -> None:
    if store.backend == "mem":
        pytest.skip("mem has no schema")
    store.open().set("/x", "made by the C++ library")  # a store in use
    r = css_admin_without_core("--url", store.url, "schema", "status")
    assert r.returncode == 0, r.stderr
    latest = qcss.schema.latest_version(store.backend)
    assert f"schema version {latest}, latest {latest}" in r.stdout
