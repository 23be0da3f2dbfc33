// qcss: kv.cc -- KvInterface, Transaction and their value types in Python.
#include <pybind11/stl.h>

#include <optional>

#include "core/Url.h"
#include "python/bind.h"
#include "qcss/Key.h"
#include "qcss/KvInterface.h"
#include "qcss/Open.h"

namespace qcss::python {

namespace {

using Release = py::gil_scoped_release;

py::dict toDict(std::map<std::string, std::string> const& m) {
    py::dict d;
    for (auto const& [k, v] : m) d[py::str(k)] = py::bytes(v);
    return d;
}

std::string kindName(ChangeKind k) { return k == ChangeKind::Put ? "put" : "delete"; }

}  // namespace

void bindKv(py::module_& m) {
    py::class_<KeyStat>(m, "KeyStat", "Metadata of one key.")
            .def_readonly("version", &KeyStat::version)
            .def_readonly("createRevision", &KeyStat::createRevision)
            .def_readonly("modRevision", &KeyStat::modRevision)
            .def_readonly("numChildren", &KeyStat::numChildren)
            .def_readonly("dataLength", &KeyStat::dataLength)
            .def_readonly("lease", &KeyStat::lease)
            .def("__repr__", [](KeyStat const& s) {
                return "KeyStat(version=" + std::to_string(s.version) +
                       ", createRevision=" + std::to_string(s.createRevision) +
                       ", modRevision=" + std::to_string(s.modRevision) +
                       ", numChildren=" + std::to_string(s.numChildren) +
                       ", dataLength=" + std::to_string(s.dataLength) +
                       ", lease=" + std::to_string(s.lease) + ")";
            });

    py::class_<KeyValue>(m, "KeyValue", "One key of a snapshot.")
            .def_readonly("key", &KeyValue::key)
            .def_property_readonly("value", [](KeyValue const& e) { return py::bytes(e.value); })
            .def_readonly("stat", &KeyValue::stat)
            .def("__repr__", [](KeyValue const& e) { return "KeyValue(" + e.key + ")"; });

    py::class_<Snapshot>(m, "Snapshot", "A consistent copy of a subtree at one revision.")
            .def_readonly("revision", &Snapshot::revision)
            .def_readonly("entries", &Snapshot::entries)
            .def("__len__", [](Snapshot const& s) { return s.entries.size(); })
            .def("items", [](Snapshot const& s) {
                py::list out;
                for (auto const& e : s.entries) out.append(py::make_tuple(e.key, py::bytes(e.value)));
                return out;
            }, "[(key, value)] in key order.");

    py::enum_<ChangeKind>(m, "ChangeKind")
            .value("Put", ChangeKind::Put)
            .value("Delete", ChangeKind::Delete);

    py::class_<Change>(m, "Change", "One entry of the change feed.")
            .def_readonly("revision", &Change::revision)
            .def_readonly("kind", &Change::kind)
            .def_property_readonly("kindName", [](Change const& c) { return kindName(c.kind); })
            .def_readonly("key", &Change::key)
            .def_property_readonly("value", [](Change const& c) { return py::bytes(c.value); })
            .def_readonly("version", &Change::version)
            .def_readonly("time", &Change::time)
            .def_readonly("client", &Change::client)
            .def("__repr__", [](Change const& c) {
                return "Change(revision=" + std::to_string(c.revision) + ", kind=" +
                       kindName(c.kind) + ", key=" + printableKey(c.key) +
                       ", version=" + std::to_string(c.version) + ")";
            });

    py::class_<LeaseInfo>(m, "LeaseInfo", "A live lease as stored.")
            .def_readonly("id", &LeaseInfo::id)
            .def_readonly("ttlMs", &LeaseInfo::ttlMs)
            .def_readonly("grantedAt", &LeaseInfo::grantedAt)
            .def_readonly("expiresAt", &LeaseInfo::expiresAt)
            .def_readonly("owner", &LeaseInfo::owner)
            .def_readonly("purpose", &LeaseInfo::purpose)
            .def_readonly("numKeys", &LeaseInfo::numKeys)
            .def("__repr__", [](LeaseInfo const& l) {
                return "LeaseInfo(id=" + std::to_string(l.id) + ", ttlMs=" + std::to_string(l.ttlMs) +
                       ", owner=" + py::repr(py::str(l.owner)).cast<std::string>() +
                       ", purpose=" + py::repr(py::str(l.purpose)).cast<std::string>() +
                       ", numKeys=" + std::to_string(l.numKeys) + ")";
            });

    py::class_<Transaction>(m, "Transaction",
                              "Atomic multi-key transaction builder; use kv.transaction().")
            .def("check", [](Transaction& t, Key const& key, std::int64_t version) -> Transaction& {
                t.check(key, version);
                return t;
            }, py::arg("key"), py::arg("version"), py::return_value_policy::reference_internal)
            .def("checkCreateRevision", [](Transaction& t, Key const& key, std::int64_t rev) -> Transaction& {
                t.checkCreateRevision(key, rev);
                return t;
            }, py::arg("key"), py::arg("createRevision"), py::return_value_policy::reference_internal)
            .def("create", [](Transaction& t, Key const& key, py::handle value, bool unique, py::handle lease) -> Transaction& {
                t.create(key, toBytes(value), unique ? CreateMode::Unique : CreateMode::Exact, toLeaseId(lease));
                return t;
            }, py::arg("key"), py::arg("value") = py::bytes(""), py::arg("unique") = false,
               py::arg("lease") = py::none(), py::return_value_policy::reference_internal)
            .def("set", [](Transaction& t, Key const& key, py::handle value, std::int64_t version, py::handle lease) -> Transaction& {
                t.set(key, toBytes(value), version, toLeaseId(lease));
                return t;
            }, py::arg("key"), py::arg("value"), py::arg("version") = -1,
               py::arg("lease") = py::none(), py::return_value_policy::reference_internal)
            .def("deleteKey", [](Transaction& t, Key const& key, std::int64_t version) -> Transaction& {
                t.deleteKey(key, version);
                return t;
            }, py::arg("key"), py::arg("version") = -1, py::return_value_policy::reference_internal)
            .def("commit", [](Transaction& t) {
                std::int64_t rev;
                {
                    Release r;
                    rev = t.commit();
                }
                return rev;
            }, "Apply every operation atomically; returns the new revision.")
            .def("commitWithResults", [](Transaction& t) {
                CommitResult res;
                {
                    Release r;
                    res = t.commitWithResults();
                }
                py::list out;
                for (auto const& o : res.results) out.append(py::make_tuple(o.key, o.version));
                return py::make_tuple(res.revision, out);
            }, "As commit(), returning (revision, [(key, version) per operation]).")
            .def("__len__", [](Transaction& t) { return t.size(); })
            .def("__enter__", [](Transaction& t) -> Transaction& { return t; },
                 py::return_value_policy::reference_internal)
            .def("__exit__", [](Transaction& t, py::handle excType, py::handle, py::handle) {
                if (excType.is_none() && !t.committed()) {
                    Release r;
                    t.commit();
                }
                return false;
            });

    py::class_<KvInterface, KvPtr>(m, "KvInterface", R"doc(
The master interface of the Central State System: a hierarchical key-value
store with versions, a global revision, compare-and-set and transactions.
Open one with qcss.open(url). Safe to share between threads.)doc")
            .def("create", [](KvInterface& kv, Key const& key, py::handle value, bool unique, py::handle lease) {
                std::string v = toBytes(value);
                std::int64_t const l = toLeaseId(lease);
                Release r;
                return kv.create(key, v, unique ? CreateMode::Unique : CreateMode::Exact, l);
            }, py::arg("key"), py::arg("value") = py::bytes(""), py::arg("unique") = false,
               py::arg("lease") = py::none(),
               "Create key (and missing parents); returns the key created. Raises KeyExistsError.")
            .def("set", [](KvInterface& kv, Key const& key, py::handle value, std::int64_t version, py::handle lease) {
                std::string v = toBytes(value);
                std::int64_t const l = toLeaseId(lease);
                Release r;
                return kv.set(key, v, version, l);
            }, py::arg("key"), py::arg("value"), py::arg("version") = -1, py::arg("lease") = py::none(),
               "Create or overwrite key; returns its new version. version >= 0: compare-and-set.")
            .def("get", [](KvInterface& kv, Key const& key) {
                std::string v;
                {
                    Release r;
                    v = kv.get(key);
                }
                return py::bytes(v);
            }, py::arg("key"), "The value of key (bytes); raises NoSuchKey.")
            .def("get", [](KvInterface& kv, Key const& key, py::object dflt) -> py::object {
                std::optional<std::string> v;
                {
                    Release r;
                    try {
                        v = kv.get(key);
                    } catch (NoSuchKey const&) {
                    }
                }
                if (!v) return dflt;
                return py::bytes(*v);
            }, py::arg("key"), py::arg("default"), "The value of key (bytes), or default if absent.")
            .def("getStat", [](KvInterface& kv, Key const& key) {
                Release r;
                return kv.getStat(key);
            }, py::arg("key"))
            .def("getMany", [](KvInterface& kv, std::vector<Key> const& keyArgs) {
                std::vector<std::string> const keys(keyArgs.begin(), keyArgs.end());
                std::map<std::string, std::string> res;
                {
                    Release r;
                    res = kv.getMany(keys);
                }
                return toDict(res);
            }, py::arg("keys"), "Values of the keys that exist, as one consistent snapshot.")
            .def("exists", [](KvInterface& kv, Key const& key) {
                Release r;
                return kv.exists(key);
            }, py::arg("key"))
            .def("getChildren", [](KvInterface& kv, Key const& key) {
                Release r;
                return kv.getChildren(key);
            }, py::arg("key"), "Names of the direct children, sorted by bytes.")
            .def("getChildrenValues", [](KvInterface& kv, Key const& key) {
                std::map<std::string, std::string> res;
                {
                    Release r;
                    res = kv.getChildrenValues(key);
                }
                return toDict(res);
            }, py::arg("key"))
            .def("deleteKey", [](KvInterface& kv, Key const& key, std::int64_t version) {
                Release r;
                kv.deleteKey(key, version);
            }, py::arg("key"), py::arg("version") = -1, "Delete key and its subtree atomically.")
            .def("revision", [](KvInterface& kv) {
                Release r;
                return kv.revision();
            })
            .def("transaction", [](KvPtr const& kv) { return kv->transaction(); })
            .def("snapshot", [](KvInterface& kv, Key const& prefix) {
                Release r;
                return kv.snapshot(prefix);
            }, py::arg("prefix") = "/")
            .def("dumpKV", [](KvInterface& kv, Key const& key) {
                Release r;
                return kv.dumpKV(key);
            }, py::arg("key") = "", "Qserv's JSON dump of every key strictly under key.")
            .def("changes", [](KvInterface& kv, std::int64_t since, Key const& prefix, std::size_t limit) {
                Release r;
                return kv.changes(since, prefix, limit);
            }, py::arg("sinceRevision"), py::arg("prefix") = "/", py::arg("limit") = 0)
            .def("compact", [](KvInterface& kv, std::int64_t upTo) {
                Release r;
                return kv.compact(upTo);
            }, py::arg("upToRevision"))
            .def("compactedRevision", [](KvInterface& kv) {
                Release r;
                return kv.compactedRevision();
            })
            .def("reapExpiredLeases", [](KvInterface& kv) {
                Release r;
                return kv.reapExpiredLeases();
            })
            .def("leases", [](KvInterface& kv) {
                Release r;
                return kv.leases();
            })
            .def("readOnly", &KvInterface::readOnly)
            .def("url", &KvInterface::url)
            .def("backend", &KvInterface::backend)
            .def("clientId", &KvInterface::clientId)
            .def("maxValueSize", &KvInterface::maxValueSize)
            .def("__repr__", [](KvInterface const& kv) { return "<qcss.KvInterface " + kv.url() + ">"; });

    m.def("open", [](std::optional<std::string> const& url, bool readOnly) {
        std::string const u = url ? *url : defaultUrl();
        Release r;
        return open(u, readOnly);
    }, py::arg("url") = py::none(), py::arg("readOnly") = false,
       "Open a store by URL (mem://, mem:///dump.json, sqlite:///path, mysql://...). "
       "Without a URL: $QCSS_URL, else the embedded SQLite default.");
    m.def("defaultUrl", &defaultUrl);
    m.def("maskUrl", &maskUrl, py::arg("url"));
    m.def("_parseUrl", [](std::string const& url) {
        // For tests: the parts parseUrl() finds (the password percent-decoded).
        detail::Url const u = detail::parseUrl(url);
        py::dict d;
        d["scheme"] = u.scheme;
        d["user"] = py::bytes(u.user);
        d["password"] = u.hasPassword ? py::object(py::bytes(u.password)) : py::none();
        d["host"] = py::bytes(u.host);
        d["port"] = u.port;
        d["path"] = py::bytes(u.path);
        py::dict params;
        for (auto const& [k, v] : u.params) params[py::bytes(k)] = py::bytes(v);
        d["params"] = params;
        return d;
    }, py::arg("url"));
    m.def("keyProblem", [](py::handle key) -> std::string {
        try {
            return keyProblem(keyBytes(key));
        } catch (InvalidKeyError const&) {
            return "not valid UTF-8 (a lone surrogate)";
        }
    }, py::arg("key"),
          "Why key is not a valid key, or '' if it is.");
    m.def("validateKey", [](Key const& key) { validateKey(key.bytes); }, py::arg("key"));
    m.attr("MAX_KEY_LENGTH") = kMaxKeyLength;
    m.attr("KvInterface").attr("MAX_KEY_LENGTH") = kMaxKeyLength;  // Qserv's name
    m.attr("DEFAULT_MAX_VALUE_SIZE") = kDefaultMaxValueSize;
    m.attr("MAX_CLIENT_ID_BYTES") = kMaxClientIdBytes;
    m.attr("MAX_LEASE_PURPOSE_BYTES") = kMaxLeasePurposeBytes;
}

}  // namespace qcss::python
