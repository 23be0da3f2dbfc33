"""No password in any message, repr, log line or CLI output (issue 11.4).

One split rule and one masking function (cpp/src/core/Url.cc) serve the C++ core,
the Python layer (qcss.maskUrl, qcss.schema.mask) and css-admin; a table of nasty
passwords is checked against every place a URL can show up, and a real MariaDB
account with a hostile password opens through its percent-encoded URL."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import qcss
import qcss.schema
from qcss import _qcss
from qcss.testing.mysql import Server

# (as written in the URL, as the server gets it)
NASTY = [
    ("50%off", "50%off"),
    ("p#ss", "p#ss"),
    ("a/b?c", "a/b?c"),
    ("p@ss", "p@ss"),
    ("p:w:d", "p:w:d"),
    ("sésame-ключ", "sésame-ключ"),
    ("with space", "with space"),
    ("p%40ss%23%2Fx", "p@ss#/x"),
    ("x?password=y&z", "x?password=y&z"),
    ("#/?@:%", "#/?@:%"),
]
IDS = [n[0] for n in NASTY]


def leaked(text: str, raw: str, decoded: str) -> bool:
    return raw in text or decoded in text


@pytest.mark.parametrize(("raw", "decoded"), NASTY, ids=IDS)
def test_mask_and_parse_agree_on_nasty_passwords(raw: str, decoded: str) -> None:
    url = f"mysql://u:{raw}@db.example:3307/css?connect_timeout=3"
    masked = "mysql://u:***@db.example:3307/css?connect_timeout=3"
    assert qcss.maskUrl(url) == masked
    assert qcss.schema.mask(url) == masked
    p = _qcss._parseUrl(url)
    assert p["password"] == decoded.encode()
    assert (p["user"], p["host"], p["port"], p["path"]) == (b"u", b"db.example", 3307, b"/css")
    # The schema runner's own copy of the rule (used where the extension is absent).
    s = qcss.schema._split_url(url)
    assert (s.user, s.password, s.host, s.port, s.path) == ("u", decoded, "db.example", 3307,
                                                            "/css")


def test_schema_mask_without_the_extension_masks_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qcss.schema, "_core", lambda: None)
    for raw, _ in NASTY:
        url = f"mysql://u:{raw}@h/db?password={urllib.parse.quote(raw, safe='')}&ssl=1"
        assert qcss.schema.mask(url) == qcss.maskUrl(url) == "mysql://u:***@h/db?password=***&ssl=1"


def test_query_password_is_masked() -> None:
    assert qcss.maskUrl("mysql://u@h/db?password=s3cret&ssl=1") == "mysql://u@h/db?password=***&ssl=1"
    assert qcss.schema.mask("mysql://u@h/db?ssl=1&password=s3#cr/t") == "mysql://u@h/db?ssl=1&password=***"


@pytest.mark.parametrize(("raw", "decoded"), NASTY, ids=IDS)
def test_failed_opens_never_show_the_password(raw: str, decoded: str) -> None:
    urls = [
        f"mysql://u:{raw}@127.0.0.1:1/db?connect_timeout=2",   # refused: ConnError
        f"mysql://u:{raw}@h:port/db",                          # bad port: ConfigError
        f"mysql://u:{raw}@h%zz/db",                            # bad escape: ConfigError
        f"nosuch://u:{raw}@h/db",                              # unknown scheme
        f"mysql://u@127.0.0.1:1/db?password={urllib.parse.quote(raw)}&connect_timeout=2",
    ]
    for url in urls:
        with pytest.raises(qcss.CssError) as ei:
            qcss.open(url)
        for text in (str(ei.value), repr(ei.value)):
            assert not leaked(text, raw, decoded), text


def run_admin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qcss.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.parametrize(("raw", "decoded"), NASTY[:4], ids=IDS[:4])
def test_css_admin_errors_never_show_the_password(raw: str, decoded: str) -> None:
    for args in (["--url", f"mysql://u:{raw}@127.0.0.1:1/db?connect_timeout=2", "ls", "/"],
                 ["--url", f"mysql://u:{raw}@h:port/db", "status"],
                 ["--url", f"mysql://u:{raw}@127.0.0.1:1/db?connect_timeout=2", "schema",
                  "status"]):
        r = run_admin(*args)
        assert r.returncode != 0
        assert "***" in r.stderr, r.stderr
        assert not leaked(r.stdout + r.stderr, raw, decoded), r.stderr


HOSTILE = "50%o#f/a?b@c: é"


@dataclass
class Account:
    user: str
    password: str
    url_encoded: str  # percent-encoded password
    url_raw: str  # the password as it is, relying on the last-'@' rule


@pytest.fixture
def hostile_account(mysql_server: Server) -> Iterator[Account]:
    """A real MariaDB account whose password has every troublesome character."""
    user = "qcss_sec_" + secrets.token_hex(4)
    with mysql_server.fresh_database() as url:
        db = url.rsplit("/", 1)[1].split("?", 1)[0]
        conn = mysql_server.connect()
        try:
            with conn.cursor() as cur:
                for host in ("%", "localhost"):
                    cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, HOSTILE))
                    cur.execute(f"GRANT ALL ON `{db}`.* TO '{user}'@'{host}'")
            parts = urllib.parse.urlsplit(mysql_server.base_url)
            hostport = f"{parts.hostname}:{parts.port or 3306}"
            query = mysql_server.query
            yield Account(
                user, HOSTILE,
                f"mysql://{user}:{urllib.parse.quote(HOSTILE, safe='')}@{hostport}/{db}{query}",
                f"mysql://{user}:{HOSTILE}@{hostport}/{db}{query}")
        finally:
            with conn.cursor() as cur:
                for host in ("%", "localhost"):
                    cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
            conn.close()


def test_real_account_with_hostile_password(hostile_account: Account) -> None:
    a = hostile_account
    for url in (a.url_encoded, a.url_raw):
        kv = qcss.open(url)
        kv.set("/secret/probe", b"1")
        assert kv.get("/secret/probe") == b"1"
        for text in (kv.url(), repr(kv)):
            assert "***" in text
            assert HOSTILE not in text and urllib.parse.quote(HOSTILE, safe="") not in text
    # Wrong password: AuthError, and neither password shows.
    wrong = a.url_encoded.replace(urllib.parse.quote(HOSTILE, safe=""), "n0t%23it")
    with pytest.raises(qcss.AuthError) as ei:
        qcss.open(wrong)
    assert "n0t" not in str(ei.value) and "***" in str(ei.value)
    # css-admin: status and a write print the masked URL, never the password.
    env = dict(os.environ)
    for args in (["--url", a.url_encoded, "status"], ["--url", a.url_raw, "set", "/secret/x", "v"],
                 ["--url", a.url_encoded, "schema", "status"]):
        r = run_admin(*args, env=env)
        assert r.returncode == 0, r.stderr
        out = r.stdout + r.stderr
        assert HOSTILE not in out and urllib.parse.quote(HOSTILE, safe="") not in out, out
    # The watch log: css-admin watch prints the change, and no password.
    r = run_admin("--url", a.url_encoded, "watch", "/secret", "--since", "0", "--count", "1",
                  env=env)
    assert r.returncode == 0, r.stderr
    assert "put /secret" in r.stdout
    assert HOSTILE not in r.stdout + r.stderr
