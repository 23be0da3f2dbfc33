"""Schema management of the SQL backends: apply and report the numbered files.

The schema lives in ``schema/<dialect>/NNNN_description.sql`` (shipped inside
the package as ``qcss/schema/``). A database records what was applied in
``qcss_schema_version`` (one row per file: version, dirty flag, time,
file name). This module needs no C++: it talks to the database through
SQLAlchemy (PyMySQL for MySQL/MariaDB, the stdlib sqlite3 for SQLite), so the
schema can be deployed from any machine with the Python package.

- :func:`status` reports the applied and pending versions;
- :func:`init` installs the schema in an empty database (a no-op if it is
  already at the latest version);
- :func:`upgrade` applies the pending files in order.

While applying, MySQL holds the advisory lock ``GET_LOCK('qcss_schema')`` so
that two upgraders never run at once; each file's row is written with
``dirty = 1`` first and set clean once every statement of the file succeeded
(MySQL commits DDL implicitly, so an interrupted file leaves a dirty row that
stops every later open and upgrade until an operator repairs it). On SQLite a
file and its row are applied in one transaction. Transient errors (lost
connection, deadlock, lock wait timeout, busy database) are retried with
tenacity.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

from qcss.errors import AuthError, ConfigError, ConnError, SchemaError

__all__ = [
    "SchemaFile",
    "SchemaStatus",
    "files",
    "init",
    "latest_version",
    "mask",
    "schema_dir",
    "server_version",
    "split_statements",
    "status",
    "upgrade",
    "url_options",
    "version_table",
]

LOCK_NAME = "qcss_schema"
LOCK_TIMEOUT_S = 60

_FILE_RE = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")


@dataclass(frozen=True)
class SchemaFile:
    version: int
    name: str
    sql: str


@dataclass
class SchemaStatus:
    url: str  # password masked
    dialect: str
    current: int  # 0: no schema installed
    dirty: bool
    latest: int
    applied: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return self.current == self.latest and not self.dirty

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "dialect": self.dialect,
            "current": self.current,
            "dirty": self.dirty,
            "latest": self.latest,
            "applied": self.applied,
            "pending": self.pending,
            "up_to_date": self.up_to_date,
        }


def schema_dir() -> Path:
    """The schema/ directory: inside the installed package, else the repository's."""
    try:
        packaged = resources.files("qcss").joinpath("schema")
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - odd loaders
        pass
    repo = Path(__file__).resolve().parents[2] / "schema"
    if repo.is_dir():
        return repo
    raise SchemaError("cannot find the qcss schema files (qcss/schema in the package)")


def files(dialect: str) -> list[SchemaFile]:
    """The numbered schema files of `dialect` ("mysql" or "sqlite"), in order."""
    d = schema_dir() / dialect
    out: list[SchemaFile] = []
    for p in sorted(d.iterdir()):
        m = _FILE_RE.match(p.name)
        if m:
            out.append(SchemaFile(int(m.group(1)), p.name, p.read_text(encoding="utf-8")))
    versions = [f.version for f in out]
    if versions != list(range(1, len(out) + 1)):
        raise SchemaError(f"schema files in {d} are not numbered 0001, 0002, ...: {versions}")
    return out


def latest_version(dialect: str) -> int:
    fs = files(dialect)
    return fs[-1].version if fs else 0


def split_statements(sql: str) -> list[str]:
    """Statements of a schema file: they end with ';' at the end of a line;
    comment lines (--) and blank lines are dropped."""
    out: list[str] = []
    cur: list[str] = []
    for line in sql.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        cur.append(line)
        if stripped.endswith(";"):
            out.append("\n".join(cur).strip()[:-1].strip())
            cur = []
    if cur:
        out.append("\n".join(cur).strip())
    return [s for s in out if s]


def _core() -> Any:
    """The C++ extension, or None where it cannot be imported (schema deployment
    never needs it; see tests/test_schema_without_core.py)."""
    try:
        from qcss import _qcss
    except ImportError:
        return None
    return _qcss


def version_table(dialect: str) -> str:
    """The DDL of the version table (schema/<dialect>/version_table.sql, which
    the library embeds too)."""
    return split_statements((schema_dir() / dialect / "version_table.sql").read_text("utf-8"))[0]


@dataclass(frozen=True)
class UrlOption:
    name: str
    backends: tuple[str, ...]  # of "mem", "sqlite", "mysql"
    meaning: str


def url_options() -> list[UrlOption]:
    """The options of store URLs: schema/url-options.tsv, the table the library
    embeds (qcss._qcss._urlOptions()); tests/test_url_options.py checks both."""
    out: list[UrlOption] = []
    text = (schema_dir() / "url-options.tsv").read_text("utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, backends, meaning = line.split("\t")
        parts = ("mem", "sqlite", "mysql") if backends == "all" else tuple(backends.split(","))
        out.append(UrlOption(name, parts, meaning))
    return out


def _check_url_options(url: str, backend: str) -> None:
    """ConfigError for an option the library would refuse (Open.cc: the same
    table, the same message)."""
    table = url_options()
    for name in _split_url(url).query:
        if any(o.name == name and backend in o.backends for o in table):
            continue
        takes = ", ".join(o.name for o in table if backend in o.backends)
        raise ConfigError(f"unknown option '{name}' in URL {mask(url)}: a {backend} URL "
                          f"takes {takes} (see docs/operations.md)")


def mask(url: str) -> str:
    """`url` with any password replaced by ***: the C++ maskUrl (cpp/src/core/Url.cc,
    the one rule); without the extension, the same rule in :func:`_split_url`."""
    core = _core()
    if core is not None:
        return str(core.maskUrl(url))
    p = _split_url(url)
    out = url if p.password is None else url[:p.password_start] + "***" + url[p.at:]
    return re.sub(r"([?&]passw(?:or)?d=)[^&]*", r"\1***", out)


@dataclass
class _UrlParts:
    user: str | None
    password: str | None
    host: str
    port: int | None
    path: str
    query: dict[str, str]
    password_start: int = -1
    at: int = -1


def _decode_password(raw: str) -> str:
    # As Url.cc: a '%' not followed by two hex digits stays as it is ("50%off").
    b = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw.encode())
    return b.decode("utf-8", "surrogateescape")


def _split_url(url: str) -> _UrlParts:
    """The split rule of cpp/src/core/Url.cc (splitUrl), for use without the
    extension: the userinfo ends at the LAST '@'; a URL with an empty authority
    (sqlite:///path) has none. tests/test_secrets.py checks that both agree."""
    sep = url.find("://")
    auth = sep + 3 if sep >= 0 else 0
    host_start, at, pw_start = auth, -1, -1
    user = password = None
    if auth < len(url) and url[auth] != "/":
        at = url.rfind("@")
        if at >= auth:
            host_start = at + 1
            colon = url.find(":", auth, at)
            if colon >= 0:
                pw_start = colon + 1
                user, password = unquote(url[auth:colon]), _decode_password(url[pw_start:at])
            else:
                user = unquote(url[auth:at])
        else:
            at = -1
    q = url.find("?", host_start)
    end = len(url) if q < 0 else q
    slash = url.find("/", host_start, end)
    hostport = url[host_start:end if slash < 0 else slash]
    path = "" if slash < 0 else unquote(url[slash:end])
    host, _, port = hostport.rpartition(":") if ":" in hostport and "]" not in hostport \
        else (hostport, "", "")
    if port and not port.isdigit():
        raise ConfigError(f"malformed store URL '{mask(url)}': bad port '{port}'")
    query: dict[str, str] = {}
    if q >= 0:
        for item in url[q + 1:].split("&"):
            if item:
                k, _, v = item.partition("=")
                query[unquote(k)] = _decode_password(v) if k in ("password", "passwd") \
                    else unquote(v)
    return _UrlParts(user, password, unquote(host), int(port) if port else None, path, query,
                     pw_start, at)


def host_urls(url: str) -> list[str]:
    """A mysql:// URL with a host list (mysql://u@h1:3306,h2,h3:3307/db) as one URL per
    host, in order (a host without a port gets 3306); any other URL as itself. The
    userinfo ends at the last '@', as in :func:`_split_url`."""
    sep = url.find("://")
    if sep < 0:
        return [url]
    auth = sep + 3
    at = url.rfind("@")
    start = at + 1 if at >= auth and not url.startswith("/", auth) else auth
    end = min((i for i in (url.find("/", start), url.find("?", start)) if i >= 0),
              default=len(url))
    hosts = url[start:end]
    if "," not in hosts:
        return [url]
    out = []
    for h in hosts.split(","):
        if not h:
            raise ConfigError(f"malformed store URL '{mask(url)}': empty host in the host list")
        out.append(url[:start] + (h if ":" in h else f"{h}:3306") + url[end:])
    return out


def first_live_host(url: str) -> str:
    """The URL of the first host of a host list that accepts a TCP connection (the
    first if none does); a single-host URL as itself. Schema changes replicate from
    any Galera node."""
    urls = host_urls(url)
    if len(urls) == 1:
        return url
    for u in urls:
        p = _split_url(u)
        try:
            with socket.create_connection((p.host or "localhost", p.port or 3306), timeout=2):
                return u
        except OSError:
            continue
    return urls[0]


def _dialect_of(url: str) -> str:
    """The dialect of a schema URL, its options checked."""
    scheme = url.split("://", 1)[0]
    if scheme in ("mysql", "mariadb", "sqlite"):
        dialect = "mysql" if scheme == "mariadb" else scheme
        _check_url_options(url, dialect)
        return dialect
    raise ConfigError(f"schema management needs a mysql:// or sqlite:// URL, not {mask(url)}")


def _sqlite_path(url: str) -> Path:
    rest = url.split("://", 1)[1].split("?", 1)[0]
    path = unquote(rest)
    if path.startswith("~"):
        path = os.path.expanduser(path)
    if not path:
        raise ConfigError(f"sqlite URL without a file path: {url}")
    if not path.startswith(("/", "./", "../")):  # as the library: sqlite://tmp/x.db is a typo
        raise ConfigError(f"SQLite URL {url} names the relative path '{path}': write "
                          f"sqlite:///{path} for an absolute path, or sqlite://./{path} for "
                          "one relative to the current directory")
    return Path(path)


def _engine(url: str) -> tuple[Engine, str]:
    dialect = _dialect_of(url)
    if dialect == "sqlite":
        path = _sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        eng = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
        return eng, dialect
    parts = _split_url(first_live_host(url))
    q = parts.query
    password = parts.password if parts.password is not None else q.get("password")
    if password is None:
        password = os.environ.get("QCSS_MYSQL_PASSWORD", os.environ.get("MYSQL_PWD"))
    connect_args: dict[str, Any] = {"connect_timeout": int(float(q.get("connect_timeout", "10")))}
    if "read_timeout" in q:
        connect_args["read_timeout"] = int(float(q["read_timeout"]))
    if "write_timeout" in q:
        connect_args["write_timeout"] = int(float(q["write_timeout"]))
    if "socket" in q:
        connect_args["unix_socket"] = q["socket"]
    if "read_default_file" in q:
        connect_args["read_default_file"] = os.path.expanduser(q["read_default_file"])
        connect_args["read_default_group"] = q.get("read_default_group", "client")
    ssl: dict[str, Any] = {}
    for k in ("ssl_ca", "ssl_cert", "ssl_key"):
        if k in q:
            ssl[k.split("_", 1)[1]] = q[k]
    if q.get("ssl") in ("1", "true"):  # TLS required, as the library (a non-empty dict)
        ssl["check_hostname"] = False
    if q.get("ssl_verify") in ("1", "true", "yes"):
        ssl["check_hostname"] = True
        connect_args["ssl_verify_cert"] = True
    if ssl:
        connect_args["ssl"] = ssl
    if password is not None:
        # As bytes: PyMySQL would encode a str as latin-1, the C client sends UTF-8.
        connect_args["password"] = password.encode("utf-8", "surrogateescape")
    sa_url = sa.engine.URL.create(
        "mysql+pymysql",
        username=parts.user or None,
        host=parts.host or ("localhost" if "socket" in q else None),
        port=parts.port,
        database=parts.path.lstrip("/") or None,
    )
    if not sa_url.database:
        raise ConfigError(f"mysql URL without a database: {mask(url)}")
    eng = sa.create_engine(sa_url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    return eng, dialect


def _mysql_code(exc: BaseException) -> int | None:
    orig = getattr(exc, "orig", None)
    args = getattr(orig, "args", None)
    if args and isinstance(args[0], int):
        return args[0]
    return None


_TRANSIENT_MYSQL = {1205, 1213, 2006, 2013, 2055}


def _transient(exc: BaseException) -> bool:
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    code = _mysql_code(exc)
    if code in _TRANSIENT_MYSQL:
        return True
    msg = str(exc).lower()
    return "database is locked" in msg or "database is busy" in msg


def _translate(exc: BaseException, url: str) -> Exception:
    code = _mysql_code(exc)
    msg = f"{mask(url)}: {getattr(exc, 'orig', exc)}"
    if code in (1044, 1045, 1142, 1698):
        return AuthError(msg)
    if code == 1049:
        return SchemaError(msg + " (create the database first)")
    if code in (2002, 2003, 2005, 2006, 2013) or isinstance(exc, sa.exc.OperationalError):
        return ConnError(msg)
    return SchemaError(msg)


_retrying = retry(
    retry=retry_if_exception(_transient),
    wait=wait_random_exponential(multiplier=0.05, max=2),
    stop=stop_after_delay(30),
    reraise=True,
)


def _read_state(conn: Connection, dialect: str) -> tuple[int, bool, list[str]]:
    insp = sa.inspect(conn)
    if not insp.has_table("qcss_schema_version"):
        return 0, False, []
    rows = conn.execute(
        sa.text("SELECT version, dirty, description FROM qcss_schema_version ORDER BY version")
    ).all()
    if not rows:
        return 0, False, []
    return int(rows[-1][0]), bool(rows[-1][1]), [str(r[2]) for r in rows]


def _status(conn: Connection, url: str, dialect: str) -> SchemaStatus:
    current, dirty, applied = _read_state(conn, dialect)
    fs = files(dialect)
    return SchemaStatus(
        url=mask(url),
        dialect=dialect,
        current=current,
        dirty=dirty,
        latest=fs[-1].version if fs else 0,
        applied=applied,
        pending=[f.name for f in fs if f.version > current],
    )


@contextmanager
def _connected(url: str) -> Iterator[tuple[Connection, str]]:
    eng, dialect = _engine(url)
    try:
        try:
            conn = eng.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise _translate(exc, url) from exc
        try:
            yield conn, dialect
        finally:
            conn.close()
    finally:
        eng.dispose()


@contextmanager
def _advisory_lock(conn: Connection, dialect: str) -> Iterator[None]:
    if dialect != "mysql":
        yield
        return
    got = conn.execute(
        sa.text("SELECT GET_LOCK(:n, :t)"), {"n": LOCK_NAME, "t": LOCK_TIMEOUT_S}
    ).scalar()
    conn.commit()
    if got != 1:
        raise SchemaError(
            f"another schema upgrade holds the lock '{LOCK_NAME}' (waited {LOCK_TIMEOUT_S} s)"
        )
    try:
        yield
    finally:
        conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": LOCK_NAME})
        conn.commit()


@_retrying
def status(url: str) -> SchemaStatus:
    """The schema state of the database at `url` (a missing SQLite file: version 0,
    and it is not created)."""
    if _dialect_of(url) == "sqlite" and not _sqlite_path(url).exists():
        fs = files("sqlite")
        return SchemaStatus(url=mask(url), dialect="sqlite", current=0, dirty=False,
                            latest=fs[-1].version if fs else 0, applied=[],
                            pending=[f.name for f in fs])
    with _connected(url) as (conn, dialect):
        try:
            st = _status(conn, url, dialect)
            conn.rollback()
            return st
        except sa.exc.SQLAlchemyError as exc:
            if _transient(exc):
                raise
            raise _translate(exc, url) from exc


def _apply(conn: Connection, dialect: str, f: SchemaFile) -> None:
    now = time.time()
    if dialect == "sqlite":
        # DDL is transactional: the file and its row commit together.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            for stmt in split_statements(f.sql):
                conn.exec_driver_sql(stmt)
            conn.execute(
                sa.text(
                    "INSERT INTO qcss_schema_version (version, dirty, applied_at, description) "
                    "VALUES (:v, 0, :t, :d)"
                ),
                {"v": f.version, "t": now, "d": f.name},
            )
            conn.exec_driver_sql("COMMIT")
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        return
    # MySQL: DDL commits implicitly; mark the version dirty while applying.
    conn.execute(
        sa.text(
            "INSERT INTO qcss_schema_version (version, dirty, applied_at, description) "
            "VALUES (:v, 1, :t, :d)"
        ),
        {"v": f.version, "t": now, "d": f.name},
    )
    conn.commit()
    for stmt in split_statements(f.sql):
        conn.exec_driver_sql(stmt)
    conn.execute(
        sa.text("UPDATE qcss_schema_version SET dirty = 0, applied_at = :t WHERE version = :v"),
        {"v": f.version, "t": time.time()},
    )
    conn.commit()


def _migrate(url: str, *, fresh_only: bool) -> SchemaStatus:
    with _connected(url) as (conn, dialect):
        try:
            if dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            with _advisory_lock(conn, dialect):
                conn.exec_driver_sql(version_table(dialect))
                conn.commit()
                st = _status(conn, url, dialect)
                if st.dirty:
                    raise SchemaError(
                        f"{st.url}: schema version {st.current} is dirty (an upgrade was "
                        "interrupted): repair the database by hand, then delete or clear its "
                        "row in qcss_schema_version"
                    )
                if st.current > st.latest:
                    raise SchemaError(
                        f"{st.url}: schema version {st.current} is newer than this qcss "
                        f"({st.latest}): upgrade qcss"
                    )
                if fresh_only and 0 < st.current < st.latest:
                    raise SchemaError(
                        f"{st.url}: schema version {st.current} is installed; run "
                        "`css-admin schema upgrade` to reach "
                        f"{st.latest}"
                    )
                if dialect == "mysql" and st.current == 0:
                    n = conn.execute(
                        sa.text(
                            "SELECT COUNT(*) FROM information_schema.tables WHERE "
                            "table_schema = DATABASE() AND table_name LIKE 'qcss\\_%' "
                            "AND table_name <> 'qcss_schema_version'"
                        )
                    ).scalar()
                    if n:
                        raise SchemaError(
                            f"{st.url}: qcss tables exist without a schema version: "
                            "refusing to touch them"
                        )
                for f in files(dialect):
                    if f.version > st.current:
                        _apply(conn, dialect, f)
                return _status(conn, url, dialect)
        except sa.exc.SQLAlchemyError as exc:
            if _transient(exc):
                raise
            raise _translate(exc, url) from exc


def server_version(url: str) -> str:
    """The server's version: MariaDB/MySQL's VERSION(), or "SQLite x.y.z"."""
    with _connected(url) as (conn, dialect):
        try:
            if dialect == "sqlite":
                return "SQLite " + str(conn.execute(sa.text("SELECT sqlite_version()")).scalar())
            return str(conn.execute(sa.text("SELECT VERSION()")).scalar())
        except sa.exc.SQLAlchemyError as exc:
            raise _translate(exc, url) from exc


@_retrying
def init(url: str) -> SchemaStatus:
    """Install the schema in an empty database (no-op if already up to date)."""
    return _migrate(url, fresh_only=True)


@_retrying
def upgrade(url: str) -> SchemaStatus:
    """Apply every pending schema file, in order (installs a fresh database too)."""
    return _migrate(url, fresh_only=False)
