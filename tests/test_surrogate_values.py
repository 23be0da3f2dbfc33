"""A str with a lone surrogate (not encodable as UTF-8) is a qcss error, never
UnicodeEncodeError or TypeError (issue 11.8): keys raise InvalidKeyError, any
other text (values, purposes, owners, names, URLs) ConfigError; both are
ValueErrors, and nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import qcss

BAD = "x\udc80y"
BAD_KEY = "/k\ud800"


def check(kv: qcss.KvInterface, call: Callable[[], Any], cls: type[qcss.CssError]) -> None:
    before = kv.revision()
    with pytest.raises(cls) as ei:
        call()
    assert isinstance(ei.value, ValueError)
    assert "surrogate" in str(ei.value)
    assert kv.revision() == before  # nothing written
    assert not kv.exists("/new")


def test_values(kv: qcss.KvInterface) -> None:
    kv.create("/k", b"v")
    check(kv, lambda: kv.set("/k", BAD), qcss.ConfigError)
    check(kv, lambda: kv.create("/new", BAD), qcss.ConfigError)
    check(kv, lambda: kv.transaction().set("/k", b"ok").create("/new", BAD).commit(),
          qcss.ConfigError)
    check(kv, lambda: kv.transaction().set("/k", BAD).commit(), qcss.ConfigError)
    assert kv.get("/k") == b"v"


def test_keys(kv: qcss.KvInterface) -> None:
    kv.create("/k", b"v")
    for call in (lambda: kv.set(BAD_KEY, b"v"), lambda: kv.create(BAD_KEY), lambda: kv.get(BAD_KEY),
                 lambda: kv.getMany(["/k", BAD_KEY]), lambda: kv.exists(BAD_KEY),
                 lambda: kv.getChildren(BAD_KEY), lambda: kv.deleteKey(BAD_KEY),
                 lambda: kv.transaction().set("/k", b"w").set(BAD_KEY, b"v").commit(),
                 lambda: kv.lock(BAD_KEY, timeout=1)):
        check(kv, call, qcss.InvalidKeyError)
    assert kv.get("/k") == b"v"
    mirror = kv.mirror("/")
    try:
        with pytest.raises(qcss.InvalidKeyError):
            mirror.get(BAD_KEY)
    finally:
        mirror.stop()


def test_text_arguments(kv: qcss.KvInterface) -> None:
    check(kv, lambda: kv.grantLeaseId(10.0, BAD), qcss.ConfigError)
    check(kv, lambda: kv.grantLease(10.0, BAD), qcss.ConfigError)
    check(kv, lambda: kv.lock("/k", timeout=1, purpose=BAD), qcss.ConfigError)
    check(kv, lambda: kv.lock("/k", timeout=1, owner=BAD), qcss.ConfigError)
    assert kv.locks("/") == []


def test_open_and_css_access(kv: qcss.KvInterface) -> None:
    opens: list[Callable[[], Any]] = [lambda: qcss.open("mysql://u:p\udc80ss@h/db"),
                                      lambda: qcss.CssAccess.createFromUrl("mem://\udc80")]
    for call in opens:
        with pytest.raises(qcss.ConfigError) as ei:
            call()
        assert "p\udc80ss" not in str(ei.value)  # never the text: it may be a password
    css = qcss.CssAccess(kv)
    css.createDb("db1")
    calls: list[Callable[[], Any]] = [
        lambda: css.createDb("d" + BAD), lambda: css.setDbStatus("db1", BAD),
        lambda: css.getDbStatus(BAD), lambda: css.containsTable("db1", BAD)]
    for call in calls:
        check(kv, call, qcss.ConfigError)
    assert css.getDbStatus("db1") == "READY"
