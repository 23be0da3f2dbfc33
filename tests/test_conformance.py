"""The conformance suite: KvInterface semantics, checked on every backend.

Written once, run against each backend listed in conftest.BACKENDS. It covers
issue 2's contract point by point, and Qserv's own KvInterface test cases.
"""

from __future__ import annotations

import json
import threading

import pytest

import qcss
from conftest import Store

INVALID_KEYS = [
    "",
    "a",
    "a/b",
    "/a/",
    "//",
    "/a//b",
    "/.",
    "/a/./b",
    "/a/..",
    "/../x",
    "/a\x00b",
    "/" + "k" * qcss.MAX_KEY_LENGTH,
]


# ---- keys ------------------------------------------------------------------


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_raise_and_change_nothing(kv: qcss.KvInterface, key: str) -> None:
    rev = kv.revision()
    too_long = len(key.encode()) > qcss.MAX_KEY_LENGTH
    if too_long:
        # As Qserv (testKvInterfaceImplMySql KeyTooLong): an over-long key is absent.
        assert kv.exists(key) is False
    for call in (
        lambda: kv.create(key, "v"),
        lambda: kv.set(key, "v"),
        lambda: kv.get(key),
        *(() if too_long else (lambda: kv.exists(key),)),
        lambda: kv.getChildren(key),
        lambda: kv.deleteKey(key),
        lambda: kv.transaction().set("/ok", "v").set(key, "v").commit(),
    ):
        with pytest.raises(qcss.InvalidKeyError):
            call()
    assert kv.revision() == rev
    assert not kv.exists("/ok")


def test_invalid_utf8_key_raises(kv: qcss.KvInterface) -> None:
    with pytest.raises(qcss.InvalidKeyError, match="UTF-8"):
        kv.set(b"/bad\xff".decode("latin-1").encode("latin-1"), "v")


SURROGATE_KEYS = ["/a\udc80", "/\ud800/b", "/ok/x\udfff"]


@pytest.mark.parametrize("key", SURROGATE_KEYS)
def test_lone_surrogate_str_keys_raise_invalid_key(kv: qcss.KvInterface, key: str) -> None:
    """A str that cannot be encoded as UTF-8 is an invalid key like any other:
    InvalidKeyError naming it (escaped), never a TypeError, nothing written."""
    kv.set("/ok", "v")
    rev = kv.revision()
    escaped = ascii(key)[1:-1].replace("\\", "\\\\")
    for call in (
        lambda: kv.create(key, "v"),
        lambda: kv.create(key, "v", unique=True),
        lambda: kv.set(key, "v"),
        lambda: kv.set(key, "v", version=1),
        lambda: kv.get(key),
        lambda: kv.get(key, b"default"),
        lambda: kv.getStat(key),
        lambda: kv.getMany(["/ok", key]),
        lambda: kv.exists(key),
        lambda: kv.getChildren(key),
        lambda: kv.getChildrenValues(key),
        lambda: kv.deleteKey(key),
        lambda: kv.snapshot(key),
        lambda: kv.changes(0, key),
        lambda: kv.locks(key),
        lambda: kv.breakLock(key),
        lambda: kv.lock(key, timeout=0),
        lambda: qcss.validateKey(key),
        lambda: kv.transaction().set("/ok/t", "v").set(key, "v").commit(),
        lambda: kv.transaction().create("/ok/t", "v").create(key).commit(),
        lambda: kv.transaction().check(key, 0).set("/ok/t", "v").commit(),
        lambda: kv.transaction().checkCreateRevision(key, 1).commit(),
        lambda: kv.transaction().deleteKey(key).commit(),
    ):
        with pytest.raises(qcss.InvalidKeyError, match=escaped) as info:
            call()
        assert "UTF-8" in str(info.value)
    with pytest.raises(qcss.InvalidKeyError), kv.transaction() as t:
        t.set("/ok/t", "v")
        t.set(key, "v")
    with kv.mirror("/", interval=3600) as m:
        for mirror_call in (
            lambda: m.get(key),
            lambda: m.get(key, None),
            lambda: m.exists(key),
            lambda: m.getStat(key),
            lambda: kv.mirror(key),
            lambda: kv.watch(key, lambda changes, rev: None),
        ):
            with pytest.raises(qcss.InvalidKeyError, match=escaped):
                mirror_call()
    assert kv.revision() == rev
    assert not kv.exists("/ok/t")
    assert qcss.keyProblem(key) != ""


def test_key_arguments_take_str_or_bytes_only(kv: qcss.KvInterface) -> None:
    kv.set(b"/bytes", "v")
    assert kv.get("/bytes") == b"v"
    assert kv.get(b"/bytes") == b"v"
    with pytest.raises(TypeError):
        kv.get(42)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        kv.set(None, "v")  # type: ignore[arg-type]


def test_key_length_limit_is_bytes(kv: qcss.KvInterface) -> None:
    longest = "/" + "k" * (qcss.MAX_KEY_LENGTH - 1)
    kv.set(longest, "v")
    assert kv.get(longest) == b"v"
    # 2-byte UTF-8 characters: 600 of them are 1200 bytes, over the limit.
    with pytest.raises(qcss.InvalidKeyError, match="1024"):
        kv.set("/" + "é" * 600, "v")


def test_keys_are_case_sensitive_and_sorted_by_bytes(kv: qcss.KvInterface) -> None:
    names = ["b", "B", "a", "A", "_x", "é", "Z9", "0", "a.b", "a-b"]
    for n in names:
        kv.create(f"/p/{n}", n)
    assert kv.getChildren("/p") == sorted(names, key=lambda s: s.encode("utf-8"))
    assert kv.get("/p/a") == b"a"
    assert kv.get("/p/A") == b"A"
    kv.deleteKey("/p/a")
    assert kv.exists("/p/A")


def test_qserv_sql_injection_keys(kv: qcss.KvInterface) -> None:
    keys = [
        "/'; DROP TABLE kvData; --",
        '/a"b',
        "/back\\slash",
        "/per%cent",
        "/under_score",
        "/x'); DELETE FROM qcss_kv; --",
    ]
    for k in keys:
        kv.create(k, k)
    for k in keys:
        assert kv.get(k) == k.encode("utf-8")
    # '%' and '_' are not wildcards: no prefix query may match beyond the key.
    kv.create("/per%cent/child")
    kv.create("/perXcent/other")
    assert kv.getChildren("/per%cent") == ["child"]
    kv.deleteKey("/per%cent")
    assert kv.exists("/perXcent/other")
    assert set(kv.getChildren("/")) >= {k[1:] for k in keys if k != "/per%cent"}


# ---- values ----------------------------------------------------------------


def test_values_are_binary_safe(kv: qcss.KvInterface) -> None:
    everything = bytes(range(256)) * 3
    kv.set("/bin", everything)
    assert kv.get("/bin") == everything
    kv.set("/nul", b"\x00")
    assert kv.get("/nul") == b"\x00"
    kv.set("/empty", b"")
    assert kv.get("/empty") == b""


def test_str_values_are_utf8_and_bytes_come_back(kv: qcss.KvInterface) -> None:
    kv.set("/s", "ünïcødé ✓")
    value = kv.get("/s")
    assert isinstance(value, bytes)
    assert value == "ünïcødé ✓".encode()
    with pytest.raises(TypeError):
        kv.set("/s", 42)  # type: ignore[arg-type]


def test_value_size_limit(store: Store) -> None:
    kv = store.open(max_value_size="100")
    assert kv.maxValueSize() == 100
    kv.set("/fits", b"x" * 100)
    rev = kv.revision()
    with pytest.raises(qcss.ValueTooLargeError, match="/big"):
        kv.set("/big", b"x" * 101)
    with pytest.raises(ValueError):
        kv.transaction().set("/a", "1").create("/big", b"x" * 101).commit()
    assert kv.revision() == rev
    assert not kv.exists("/a")


def test_default_value_limit_is_16_mib(kv: qcss.KvInterface) -> None:
    assert kv.maxValueSize() == 16 * 1024 * 1024
    with pytest.raises(qcss.ValueTooLargeError):
        kv.set("/huge", b"\x00" * (16 * 1024 * 1024 + 1))
    assert not kv.exists("/huge")


# ---- create / set / get ------------------------------------------------------


def test_empty_store(kv: qcss.KvInterface) -> None:
    # The root is implicit (as in Qserv): an empty store has none (get and
    # getChildren: tests/qserv_compat, EmptyDBGet).
    assert not kv.exists("/")
    with pytest.raises(qcss.NoSuchKey):
        kv.getStat("/")
    assert kv.getMany(["/"]) == {}
    assert kv.revision() == 0
    assert kv.dumpKV() == "{}"


def test_root_exists_with_a_key_and_is_created_once(kv: qcss.KvInterface) -> None:
    kv.create("/a", "x")
    assert kv.exists("/") and kv.getChildren("/") == ["a"]
    assert kv.getStat("/").version == 0
    assert kv.create("/", "r") == "/"
    assert kv.get("/") == b"r" and kv.getStat("/").version == 1
    with pytest.raises(qcss.KeyExistsError):
        kv.create("/")
    kv.deleteKey("/a")
    assert kv.exists("/") and kv.getChildren("/") == []  # created: stays


def test_root_create_on_an_empty_store(kv: qcss.KvInterface) -> None:
    assert kv.create("/", "") == "/"
    assert kv.exists("/") and kv.getChildren("/") == [] and kv.get("/") == b""
    with pytest.raises(qcss.KeyExistsError):
        kv.create("/", "again")


def test_create_makes_parents_and_refuses_duplicates(kv: qcss.KvInterface) -> None:
    assert kv.create("/a/b/c", "leaf") == "/a/b/c"
    assert kv.get("/a") == b""
    assert kv.get("/a/b") == b""
    assert kv.get("/a/b/c") == b"leaf"
    with pytest.raises(qcss.KeyExistsError, match="/a/b/c"):
        kv.create("/a/b/c", "again")
    with pytest.raises(qcss.KeyExistsError):
        kv.create("/a")
    assert kv.get("/a/b/c") == b"leaf"


def test_create_default_value_is_empty(kv: qcss.KvInterface) -> None:
    kv.create("/e")
    assert kv.get("/e") == b""


def test_unique_keys(kv: qcss.KvInterface) -> None:
    p = "/DBS/db/TABLES/t/CHUNKS/1/REPLICAS/"
    assert kv.create(p, "n1", unique=True) == p + "0000000001"
    assert kv.create(p, "n2", unique=True) == p + "0000000002"
    kv.create(p + "0000001234", "x")
    assert kv.create(p, "n3", unique=True) == p + "0000001235"
    # Non-numeric and other-length siblings do not count.
    kv.create(p + "notanumber")
    kv.create(p + "99999999999")
    assert kv.create(p, unique=True) == p + "0000001236"
    # With a name prefix (Qserv's /PARTITIONING/_ style).
    assert kv.create("/PARTITIONING/_", unique=True) == "/PARTITIONING/_0000000001"
    assert kv.create("/PARTITIONING/_", unique=True) == "/PARTITIONING/_0000000002"
    assert kv.get(p + "0000000001") == b"n1"


def test_set_versions_and_compare_and_set(kv: qcss.KvInterface) -> None:
    assert kv.set("/k", "1") == 1
    assert kv.set("/k", "2") == 2
    with pytest.raises(qcss.VersionMismatchError, match="/k"):
        kv.set("/k", "x", version=1)
    assert kv.get("/k") == b"2"
    assert kv.set("/k", "3", version=2) == 3
    with pytest.raises(qcss.NoSuchKey):
        kv.set("/missing", "x", version=1)
    with pytest.raises(qcss.NoSuchKey):
        kv.set("/missing", "x", version=0)
    assert not kv.exists("/missing")


def test_root_value(kv: qcss.KvInterface) -> None:
    with pytest.raises(qcss.NoSuchKey):
        kv.get("/")
    kv.set("/", "root")
    assert kv.get("/") == b"root"
    assert kv.getStat("/").version == 1


def test_get_default(kv: qcss.KvInterface) -> None:
    with pytest.raises(qcss.NoSuchKey) as info:
        kv.get("/nope")
    assert isinstance(info.value, KeyError)
    assert "/nope" in str(info.value)
    assert kv.get("/nope", b"dflt") == b"dflt"
    assert kv.get("/nope", None) is None
    kv.set("/yes", "v")
    assert kv.get("/yes", b"dflt") == b"v"


def test_get_stat(kv: qcss.KvInterface) -> None:
    kv.create("/s/a", "12345")
    r1 = kv.revision()
    kv.create("/s/b")
    kv.set("/s/a", "123")
    r3 = kv.revision()
    st = kv.getStat("/s/a")
    assert (st.version, st.createRevision, st.modRevision) == (2, r1, r3)
    assert st.dataLength == 3
    assert st.numChildren == 0
    assert kv.getStat("/s").numChildren == 2
    assert kv.getStat("/s").version == 1
    with pytest.raises(qcss.NoSuchKey):
        kv.getStat("/none")


def test_get_many(kv: qcss.KvInterface) -> None:
    kv.set("/m/a", "1")
    kv.set("/m/b", b"\xff")
    assert kv.getMany(["/m/a", "/m/b", "/m/c"]) == {"/m/a": b"1", "/m/b": b"\xff"}
    assert kv.getMany([]) == {}


def test_children(kv: qcss.KvInterface) -> None:
    kv.create("/c/x", "1")
    kv.create("/c/y/deep", "2")
    kv.create("/c/z", "3")
    kv.create("/cc", "not a child")
    assert kv.getChildren("/c") == ["x", "y", "z"]
    assert kv.getChildrenValues("/c") == {"x": b"1", "y": b"", "z": b"3"}
    assert kv.getChildren("/c/x") == []
    with pytest.raises(qcss.NoSuchKey):
        kv.getChildren("/nope")
    with pytest.raises(qcss.NoSuchKey):
        kv.getChildrenValues("/nope")
    assert kv.getChildren("/") == ["c", "cc"]


def test_many_children(kv: qcss.KvInterface) -> None:
    with kv.transaction() as t:
        for i in range(1000):
            t.create(f"/many/{i:04d}", str(i))
    names = kv.getChildren("/many")
    assert names == [f"{i:04d}" for i in range(1000)]
    assert kv.getChildrenValues("/many")["0999"] == b"999"


# ---- delete ------------------------------------------------------------------


def test_recursive_delete(kv: qcss.KvInterface) -> None:
    for k in ["/r/a/1", "/r/a/2/x", "/r/b", "/r2/keep", "/r/a!sibling"]:
        kv.create(k)
    kv.deleteKey("/r/a")
    assert not kv.exists("/r/a")
    assert not kv.exists("/r/a/2/x")
    assert kv.exists("/r/b")
    assert kv.exists("/r2/keep")
    assert kv.exists("/r/a!sibling")
    assert kv.getChildren("/r") == ["a!sibling", "b"]
    with pytest.raises(qcss.NoSuchKey):
        kv.deleteKey("/r/a")


def test_delete_root_refused(kv: qcss.KvInterface) -> None:
    kv.create("/x")
    with pytest.raises(qcss.InvalidKeyError):
        kv.deleteKey("/")
    assert kv.exists("/x")


def test_compare_and_delete(kv: qcss.KvInterface) -> None:
    kv.set("/d", "1")
    kv.set("/d", "2")
    with pytest.raises(qcss.VersionMismatchError):
        kv.deleteKey("/d", version=1)
    assert kv.exists("/d")
    kv.deleteKey("/d", version=2)
    assert not kv.exists("/d")


def test_qserv_recursive_add_and_delete(kv: qcss.KvInterface) -> None:
    # Qserv's testKvInterfaceImpl: build a tree, delete its top, nothing left.
    for i in range(3):
        for j in range(3):
            kv.create(f"/tree/n{i}/m{j}/leaf", f"{i}{j}")
    assert len(kv.snapshot("/tree")) == 1 + 3 + 9 + 9
    kv.deleteKey("/tree")
    assert not kv.exists("/")  # nothing left, not even the implicit root
    assert len(kv.snapshot("/tree")) == 0


# ---- revisions and transactions ---------------------------------------------


def test_revision_counts_mutations(kv: qcss.KvInterface) -> None:
    r0 = kv.revision()
    kv.create("/v/a")
    assert kv.revision() == r0 + 1
    kv.set("/v/a", "x")
    assert kv.revision() == r0 + 2
    kv.deleteKey("/v")
    assert kv.revision() == r0 + 3
    rev = kv.transaction().set("/t1", "1").set("/t2", "2").create("/t3/x").commit()
    assert rev == r0 + 4 == kv.revision()
    assert kv.getStat("/t1").createRevision == rev
    assert kv.getStat("/t3").modRevision == rev
    # Failed calls and reads do not move it.
    with pytest.raises(qcss.KeyExistsError):
        kv.create("/t1")
    kv.get("/t1")
    assert kv.revision() == rev


def test_transaction_all_or_nothing(kv: qcss.KvInterface) -> None:
    kv.set("/acct/a", "100")
    kv.set("/acct/b", "0")
    rev = kv.revision()
    t = kv.transaction()
    t.set("/acct/a", "50").set("/acct/b", "50").create("/acct/new/deep").check("/acct/a", 99)
    with pytest.raises(qcss.VersionMismatchError, match="/acct/a"):
        t.commit()
    assert kv.revision() == rev
    assert kv.get("/acct/a") == b"100"
    assert kv.get("/acct/b") == b"0"
    assert not kv.exists("/acct/new")
    # A failing delete in the middle also rolls back the writes before it.
    with pytest.raises(qcss.NoSuchKey):
        kv.transaction().set("/acct/a", "1").deleteKey("/acct/zzz").commit()
    assert kv.get("/acct/a") == b"100"


def test_transaction_checks(kv: qcss.KvInterface) -> None:
    kv.set("/c1", "x")
    v = kv.getStat("/c1").version
    rev = kv.transaction().check("/c1", v).check("/c2", 0).set("/c2", "new").commit()
    assert kv.get("/c2") == b"new"
    assert kv.getStat("/c2").createRevision == rev
    with pytest.raises(qcss.VersionMismatchError, match="/c2"):
        kv.transaction().check("/c2", 0).set("/c3", "x").commit()
    assert not kv.exists("/c3")
    # A transaction of checks only takes no revision.
    assert kv.transaction().check("/c1", v).commit() == kv.revision() == rev


def test_transaction_sees_its_own_writes(kv: qcss.KvInterface) -> None:
    rev, results = (
        kv.transaction()
        .create("/seq/q_", "a", unique=True)
        .create("/seq/q_", "b", unique=True)
        .set("/seq/x", "1")
        .set("/seq/x", "2", version=1)
        .deleteKey("/seq/q_0000000001")
        .commitWithResults()
    )
    assert [k for k, _ in results][:2] == ["/seq/q_0000000001", "/seq/q_0000000002"]
    assert results[3] == ("/seq/x", 2)
    assert kv.getChildren("/seq") == ["q_0000000002", "x"]
    assert kv.getStat("/seq/x").version == 2
    assert kv.getStat("/seq/x").modRevision == rev


def test_transaction_context_manager(kv: qcss.KvInterface) -> None:
    with kv.transaction() as t:
        t.set("/cm/a", "1").set("/cm/b", "2")
    assert kv.getMany(["/cm/a", "/cm/b"]) == {"/cm/a": b"1", "/cm/b": b"2"}
    with pytest.raises(RuntimeError), kv.transaction() as t:
        t.set("/cm/c", "3")
        raise RuntimeError("abandon")
    assert not kv.exists("/cm/c")


def test_empty_transaction(kv: qcss.KvInterface) -> None:
    kv.set("/x", "1")
    assert kv.transaction().commit() == kv.revision()


# ---- dump --------------------------------------------------------------------


def test_dump_kv(kv: qcss.KvInterface) -> None:
    kv.create("/d/b", 'quote " and \\ back')
    kv.create("/d/a/x", "ü")
    kv.create("/e", "other")
    text = kv.dumpKV("/d")
    assert json.loads(text) == {"/d/a": "", "/d/a/x": "ü", "/d/b": 'quote " and \\ back'}
    assert list(json.loads(text)) == ["/d/a", "/d/a/x", "/d/b"]
    everything = json.loads(kv.dumpKV())
    assert "/" not in everything
    assert set(everything) == {"/d", "/d/a", "/d/a/x", "/d/b", "/e"}
    assert kv.dumpKV("/") == kv.dumpKV("")


def test_dump_refuses_binary_values(kv: qcss.KvInterface) -> None:
    kv.set("/bin/v", b"\xff\xfe")
    with pytest.raises(qcss.BadDumpError, match="/bin/v"):
        kv.dumpKV()


# ---- read-only ---------------------------------------------------------------


def test_read_only_refuses_every_mutation(store: Store, kv: qcss.KvInterface) -> None:
    kv.set("/ro/a", "1")
    ro = store.reopen(kv, readOnly=True)
    assert ro.readOnly()
    assert ro.get("/ro/a") == b"1"
    rev = ro.revision()
    for call in (
        lambda: ro.create("/ro/b"),
        lambda: ro.set("/ro/a", "2"),
        lambda: ro.deleteKey("/ro/a"),
        lambda: ro.transaction().set("/ro/c", "x").commit(),
        lambda: ro.create("/ro/", unique=True),
    ):
        with pytest.raises(qcss.ReadonlyCss):
            call()
    assert ro.revision() == rev
    assert ro.getChildren("/ro") == ["a"]
    assert ro.get("/ro/a") == b"1"


# ---- threads -----------------------------------------------------------------


def test_threads_compare_and_set_lose_nothing(kv: qcss.KvInterface) -> None:
    kv.set("/counter", "0")
    n_threads, n_incr = 4, 50

    def work() -> None:
        for _ in range(n_incr):
            while True:
                st = kv.getStat("/counter")
                value = int(kv.get("/counter"))
                try:
                    kv.set("/counter", str(value + 1), version=st.version)
                    break
                except qcss.VersionMismatchError:
                    continue

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert int(kv.get("/counter")) == n_threads * n_incr


# ---- change feed (the log every backend keeps) --------------------------------


def test_change_log_records_every_key(kv: qcss.KvInterface) -> None:
    r0 = kv.revision()
    kv.create("/f/a/b", "v")
    kv.transaction().set("/f/a/b", "w").set("/f/c", "x").commit()
    kv.deleteKey("/f")
    ch = kv.changes(r0)
    assert [(c.revision - r0, c.kindName, c.key) for c in ch] == [
        (1, "put", "/f"),
        (1, "put", "/f/a"),
        (1, "put", "/f/a/b"),
        (2, "put", "/f/a/b"),
        (2, "put", "/f/c"),
        (3, "delete", "/f/c"),
        (3, "delete", "/f/a/b"),
        (3, "delete", "/f/a"),
        (3, "delete", "/f"),
    ]
    assert ch[3].value == b"w" and ch[3].version == 2
    assert all(c.client == kv.clientId() for c in ch)
    assert [c.key for c in kv.changes(r0, "/f/a/b")] == ["/f/a/b"] * 3
    assert [c.revision for c in kv.changes(r0 + 1)] == [r0 + 2] * 2 + [r0 + 3] * 4


def test_compaction(kv: qcss.KvInterface) -> None:
    for i in range(5):
        kv.set("/cp", str(i))
    top = kv.revision()
    kv.compact(top - 2)
    assert kv.compactedRevision() == top - 2
    assert [c.revision for c in kv.changes(top - 2)] == [top - 1, top]
    with pytest.raises(qcss.CompactedError) as info:
        kv.changes(top - 3)
    assert info.value.oldestAvailable == top - 1
    # One message on every backend (mem and SQL had drifted apart).
    assert str(info.value) == (
        f"changes after revision {top - 3} are no longer available: the change log was "
        f"compacted up to revision {top - 2}; the oldest revision available is {top - 1}")
