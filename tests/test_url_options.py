"""The options of store URLs: one table (schema/url-options.tsv) read by the
library and by the schema runner; both accept what it lists for a backend and
refuse anything else with the same ConfigError."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import qcss
from qcss import _qcss, schema

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("mem", "sqlite", "mysql")


def test_the_table_has_three_columns_unique_names_and_known_backends() -> None:
    rows = [
        line.split("\t")
        for line in (ROOT / "schema" / "url-options.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rows and all(len(r) == 3 and all(r) for r in rows)
    names = [r[0] for r in rows]
    assert len(names) == len(set(names))
    for _, backends, _ in rows:
        assert backends == "all" or set(backends.split(",")) <= set(BACKENDS)


def test_library_and_runner_read_the_same_table() -> None:
    cpp = [(n, tuple(b), m) for n, b, m in _qcss._urlOptions()]
    py = [(o.name, o.backends, o.meaning) for o in schema.url_options()]
    assert cpp == py


def _names_read(path: Path, pattern: str) -> set[str]:
    return set(re.findall(pattern, path.read_text()))


def test_every_option_the_code_reads_is_in_the_table() -> None:
    table = {o.name: o.backends for o in schema.url_options()}
    mysql_reads = r'(?:param|seconds\(url,) ?\(?"(\w+)"'
    read = {
        "mysql": set().union(*(_names_read(f, mysql_reads)
                               for f in sorted((ROOT / "cpp/src/mysql").glob("*.cc"))))
        | _names_read(ROOT / "python/qcss/schema.py", r'q(?:\.get\(|\[)"(\w+)"'),
        "sqlite": _names_read(ROOT / "cpp/src/sqlite/SqliteKv.cc", r'param\("(\w+)"'),
        "mem": _names_read(ROOT / "cpp/src/core/KvInterface.cc", r'param\("(\w+)"'),
    }
    assert read["mysql"] >= {"socket", "ssl", "connect_timeout", "retry_timeout"}
    assert read["sqlite"] >= {"create", "busy_timeout"}
    assert read["mem"] >= {"read_only", "client", "max_value_size"}
    for backend, names in read.items():
        for name in names:
            assert backend in table.get(name, ()), (backend, name)


def test_every_option_is_documented() -> None:
    ops = (ROOT / "docs" / "operations.md").read_text()
    for o in schema.url_options():
        assert f"`{o.name}=" in ops, o.name


def test_listed_options_are_accepted(tmp_path: Path) -> None:
    values = {"read_only": "0", "client": "me", "max_value_size": "100", "create": "1",
              "busy_timeout": "1", "synchronous": "normal", "retry_timeout": "1",
              "pool_size": "2", "quick_check": "1"}
    for backend, base in (("mem", "mem://"), ("sqlite", f"sqlite:///{tmp_path}/a.db")):
        names = [o.name for o in schema.url_options() if backend in o.backends]
        assert set(names) <= set(values)
        kv = qcss.open(base + "?" + "&".join(f"{n}={values[n]}" for n in names))
        assert kv.create("/k", "v") == "/k"
    st = schema.status(f"sqlite:///{tmp_path}/a.db?busy_timeout=1&create=1")
    assert st.up_to_date


@pytest.mark.parametrize(
    ("url", "option"),
    [
        ("mem://?bogus=1", "bogus"),
        ("mem://?create=1", "create"),
        ("sqlite:///{tmp}/x.db?create=1&socket=/s", "socket"),
        ("sqlite:///{tmp}/x.db?Create=1", "Create"),
        ("mysql://u@127.0.0.1:1/db?bogus", "bogus"),
        ("mariadb://u:secret@127.0.0.1:1/db?synchronous=off", "synchronous"),
    ],
)
def test_an_unknown_option_is_refused_the_same_way(url: str, option: str, tmp_path: Path) -> None:
    url = url.format(tmp=tmp_path)
    backend = "mysql" if url.startswith("maria") else url.split(":", 1)[0]
    with pytest.raises(qcss.ConfigError, match=f"unknown option '{option}' in URL ") as lib:
        qcss.open(url)
    message = str(lib.value)
    assert "secret" not in message and f"a {backend} URL takes read_only, " in message
    if backend != "mem":
        with pytest.raises(qcss.ConfigError) as runner:
            schema.status(url)
        assert str(runner.value) == message
    assert not (tmp_path / "x.db").exists()
