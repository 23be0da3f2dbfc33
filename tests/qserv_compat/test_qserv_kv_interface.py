"""Qserv's KvInterface tests, on every backend (mem, sqlite, mysql).

Mirrors lsst/qserv src/css/testKvInterfaceImpl.cc (KvInterfaceTest/testMem) and
src/css/testKvInterfaceImplMySql.cc (SqlKVInterfaceConnectionTestSuite), commit
qserv_support.HEAD. Each test names its case.
"""

from __future__ import annotations

import pytest

import qcss


def test_kvinterfaceimpl_testMem(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImpl.cc KvInterfaceTest/testMem (the fixture's doIt)."""
    prefix = "/unittest_1234"
    k1, k2, k3, k4 = prefix + "/xyzA", prefix + "/xyzB", prefix + "/xyzC", prefix + "/xyz_unique_"
    kv.create(prefix, "firstOne")
    kv.create(k1, "firstOne")
    kv.create(k2, "secondOne")
    assert kv.get(k1) == b"firstOne"
    assert kv.exists(k1) and not kv.exists(k3)
    assert sorted(kv.getChildren(prefix)) == ["xyzA", "xyzB"]
    kv.deleteKey(k1)
    assert kv.get(k1, b"xyz4") == b"xyz4"
    assert len(kv.getChildren(prefix)) == 1
    kv.deleteKey(k2)
    kv.deleteKey(prefix)
    kv.create(k1, "firstOne")
    assert kv.get(k1) == b"firstOne" and kv.exists(k1)
    kv.set(k1, "secondOne")
    assert kv.get(k1) == b"secondOne"
    key = kv.create(k4, "uniqueValue", unique=True)
    assert key == k4 + "0000000001" and kv.get(key) == b"uniqueValue"
    assert kv.create(k4, "", unique=True) == k4 + "0000000002"


def test_mysql_EmptyDBGet(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc EmptyDBGet: an empty store has no root."""
    with pytest.raises(qcss.NoSuchKey):
        kv.get("/")
    with pytest.raises(qcss.NoSuchKey):
        kv.get("/Get")
    with pytest.raises(qcss.NoSuchKey):
        kv.getChildren("/")


def test_mysql_CreateAndGetKV(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc CreateAndGetKV."""
    assert kv.create("/CreateAndGetKV/testKey", "testValue") == "/CreateAndGetKV/testKey"
    assert kv.get("/CreateAndGetKV/testKey") == b"testValue"


def test_mysql_CreateUnique(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc CreateUnique: non-numeric siblings do not confuse
    the numbering; a manually created higher number moves it on."""
    pfx = "/CreateAndGetKV/uniqueKey_"
    key = kv.create(pfx, "uniqueValue1", unique=True)
    assert key == pfx + "0000000001" and kv.get(key) == b"uniqueValue1"
    kv.create(pfx + "01234567ab", "")
    kv.create(pfx + "abcdefghij", "")
    for i in range(10):
        assert kv.create(pfx, "", unique=True) == f"{pfx}{i + 2:010d}"
    kv.create(pfx + "0000001234", "")
    assert kv.create(pfx, "", unique=True) == pfx + "0000001235"


def test_mysql_GetRootChildren(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc GetRootChildren (after CreateAndGetKV), here also
    with a lock held: qcss's /.qcss is not among the root's children."""
    kv.create("/CreateAndGetKV/testKey", "testValue")
    assert kv.getChildren("/") == ["CreateAndGetKV"]
    with kv.lock("/CreateAndGetKV", ttl=30):
        assert kv.getChildren("/") == ["CreateAndGetKV"]
        assert list(kv.getChildrenValues("/")) == ["CreateAndGetKV"]
        assert ".qcss" not in kv.dumpKV() and kv.getChildren("/.qcss") != []


def test_mysql_SetAndGetChildren(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc SetAndGetChildren."""
    kv.create("/SetAndGetChildren", "")
    kv.create("/SetAndGetChildren/child0", "abc")
    kv.create("/SetAndGetChildren/child1", "123")
    kv.create("/SetAndGetChildren/child2", "!@#")
    assert sorted(kv.getChildren("/SetAndGetChildren")) == ["child0", "child1", "child2"]


def test_mysql_Get(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc Get."""
    with pytest.raises(qcss.NoSuchKey):
        kv.get("/Get")
    assert kv.get("/Get", b"my default value") == b"my default value"


def test_mysql_GetChildrenForParentThatDoesNotExist(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc GetChildrenForParentThatDoesNotExist."""
    with pytest.raises(qcss.NoSuchKey):
        kv.getChildren("/GetChildrenForParentThatDoesNotExist")


def test_mysql_CreateDuplicateKV(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc CreateDuplicateKV."""
    kv.create("/CreateDuplicateKV", "a value")
    with pytest.raises(qcss.KeyExistsError):
        kv.create("/CreateDuplicateKV", "another value")


def test_mysql_Exists(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc Exists."""
    assert kv.exists("/Exists") is False
    kv.create("/Exists", "new value")
    assert kv.exists("/Exists") is True


def test_mysql_Delete(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc Delete."""
    kv.create("/Delete", "a value")
    kv.deleteKey("/Delete")
    with pytest.raises(qcss.NoSuchKey):
        kv.deleteKey("/Delete")


def test_mysql_RecursiveAddAndDelete(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc RecursiveAddAndDelete."""
    kv.create("/RecursiveDelete/child/a", "a")
    kv.create("/RecursiveDelete/child/b", "b")
    kv.set("/RecursiveDelete", "root")
    assert kv.get("/RecursiveDelete") == b"root"
    assert kv.exists("/RecursiveDelete/child")
    assert kv.get("/RecursiveDelete/child/a") == b"a"
    assert kv.get("/RecursiveDelete/child/b") == b"b"
    kv.deleteKey("/RecursiveDelete/child/a")
    assert kv.exists("/RecursiveDelete") and kv.exists("/RecursiveDelete/child")
    assert kv.get("/RecursiveDelete/child/b") == b"b"
    kv.deleteKey("/RecursiveDelete")
    for k in ("/RecursiveDelete", "/RecursiveDelete/child", "/RecursiveDelete/child/a",
              "/RecursiveDelete/child/b"):
        assert not kv.exists(k)


def test_mysql_Set(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc Set."""
    kv.set("/Set", "nowItExists")
    assert kv.get("/Set") == b"nowItExists"
    kv.set("/Set", "toANewValue")
    assert kv.get("/Set") == b"toANewValue"


def test_mysql_SetRecursive(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc SetRecursive."""
    kv.set("/SetRecursive/a/long/key", "a value")
    for k in ("/SetRecursive", "/SetRecursive/a", "/SetRecursive/a/long"):
        assert kv.exists(k)
    assert kv.get("/SetRecursive/a/long/key") == b"a value"


def test_mysql_KeyTooLong(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc KeyTooLong: set raises a CssError, exists is false."""
    too_long = "/" + "x" * 9999
    with pytest.raises(qcss.CssError):
        kv.set(too_long, "to value")
    assert kv.exists(too_long) is False
    assert qcss.KvInterface.MAX_KEY_LENGTH == qcss.MAX_KEY_LENGTH == 1024


def test_mysql_InvalidSql(kv: qcss.KvInterface) -> None:
    """testKvInterfaceImplMySql.cc InvalidSql: a key that looks like SQL is a key."""
    key = "/Robert'); DROP TABLE kvData;--"
    kv.create(key, "ha ha sucker")
    assert kv.get(key) == b"ha ha sucker"


def test_root_created_once_as_the_css_fixture_does(kv: qcss.KvInterface) -> None:
    """testCssAccess.cc initKVI: create("/") first on an empty store, then the tree."""
    assert not kv.exists("/")
    assert kv.create("/", "") == "/"
    assert kv.exists("/") and kv.getChildren("/") == []
    kv.create("/css_meta", "")
    assert kv.getChildren("/") == ["css_meta"]
    with pytest.raises(qcss.KeyExistsError):
        kv.create("/", "")
