// qcss: lock.cc -- Lease, Lock and LockInfo in Python, and the KvInterface /
// Transaction methods that use them (grantLease, lock, locks, breakLock, checkLock).
//
// GIL: every store call and every wait runs with the GIL released. A Lease or
// Lock freed by Python releases the GIL while it revokes (its keep-alive thread
// may be waiting for the GIL to run a Python lost-callback).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <cmath>

#include "python/bind.h"
#include "qcss/KvInterface.h"
#include "qcss/Lease.h"
#include "qcss/Lock.h"

namespace qcss::python {

namespace {

using Release = py::gil_scoped_release;
using PyLock = std::shared_ptr<Lock>;

std::chrono::milliseconds toMs(double seconds, char const* what) {
    if (!std::isfinite(seconds)) throw py::value_error(std::string(what) + " must be finite");
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

// Destroy a C++ object without the GIL if the caller holds it.
template <typename T>
void deleteWithoutGil(T* p) {
    if (Py_IsInitialized() != 0 && PyGILState_Check() != 0) {
        Release r;
        delete p;
    } else {
        delete p;
    }
}

LeasePtr makeLease(KvPtr const& kv, double ttl, std::string const& purpose, py::object onLost,
                   bool reap) {
    LeaseOptions o;
    o.purpose = purpose;
    o.reap = reap;
    if (!onLost.is_none()) {
        // The callable is freed with the GIL held, wherever the last copy goes.
        auto cb = std::shared_ptr<py::object>(new py::object(std::move(onLost)), [](py::object* f) {
            if (Py_IsInitialized() == 0) return;  // leaked at shutdown, on purpose
            py::gil_scoped_acquire g;
            delete f;
        });
        o.onLost = [cb](std::int64_t id) {
            if (Py_IsInitialized() == 0) return;
            py::gil_scoped_acquire g;
            try {
                (*cb)(id);
            } catch (py::error_already_set& e) {
                e.discard_as_unraisable("qcss Lease lost-callback");
            }
        };
    }
    auto const ms = toMs(ttl, "ttl");
    Lease* raw = nullptr;
    {
        Release r;
        raw = new Lease(kv, ms, std::move(o));
    }
    return LeasePtr(raw, &deleteWithoutGil<Lease>);
}

LeasePtr toLease(py::handle h) {
    if (h.is_none()) return nullptr;
    try {
        return h.cast<LeasePtr>();
    } catch (py::cast_error const&) {
        throw py::type_error("lease must be None or a qcss.Lease from kv.grantLease()");
    }
}

py::dict infoDict(LockInfo const& i) {
    py::dict d;
    d["key"] = i.key;
    d["entryKey"] = i.entryKey;
    d["mode"] = i.shared ? "shared" : "exclusive";
    d["state"] = i.held ? "held" : "waiting";
    d["token"] = i.token;
    d["owner"] = i.owner;
    d["host"] = i.host;
    d["pid"] = i.pid;
    d["purpose"] = i.purpose;
    d["requestedAt"] = i.requestedAt;
    d["acquiredAt"] = i.acquiredAt;
    d["ttlMs"] = i.ttlMs;
    d["lease"] = i.lease;
    d["expiresAt"] = i.expiresAt;
    return d;
}

}  // namespace

void bindLock(py::module_& m) {
    py::class_<Lease, LeasePtr>(m, "Lease", R"doc(
A lease kept alive by a background thread (every ttl/3) until revoked; keys
created or set with lease=<this> vanish when it is revoked or expires. Use
kv.grantLease(ttl); a context manager (revokes on exit).)doc")
            .def_property_readonly("id", &Lease::id)
            .def_property_readonly("ttl", [](Lease const& l) { return static_cast<double>(l.ttl().count()) / 1000.0; },
                                   "TTL in seconds.")
            .def_property_readonly("purpose", &Lease::purpose)
            .def_property_readonly("lost", &Lease::lost, "True once a keep-alive found the lease gone.")
            .def_property_readonly("revoked", &Lease::revoked)
            .def_property_readonly("alive", &Lease::alive)
            .def("keepAlive", [](Lease& l) {
                Release r;
                return l.keepAlive();
            }, "Renew now; False (and lost) if the lease is gone.")
            .def("revoke", [](Lease& l) {
                Release r;
                l.revoke();
            }, "Stop the keep-alive and revoke the lease, deleting its keys.")
            .def("__enter__", [](LeasePtr const& l) { return l; })
            .def("__exit__", [](Lease& l, py::handle, py::handle, py::handle) {
                Release r;
                l.revoke();
                return false;
            })
            .def("__repr__", [](Lease const& l) {
                return "<qcss.Lease id=" + std::to_string(l.id()) + " ttl=" +
                       std::to_string(l.ttl().count()) + "ms" + (l.lost() ? " lost" : "") +
                       (l.revoked() ? " revoked" : "") + ">";
            });

    py::class_<Lock, PyLock>(m, "Lock", R"doc(
A held lock (from kv.lock()); released by release(), on leaving a `with` block,
or when freed. token is its fencing token (only grows).)doc")
            .def_property_readonly("key", &Lock::key)
            .def_property_readonly("entryKey", &Lock::entryKey)
            .def_property_readonly("token", &Lock::token)
            .def_property_readonly("shared", &Lock::shared)
            .def_property_readonly("lease", &Lock::lease)
            .def_property_readonly("lost", &Lock::lost)
            .def_property_readonly("released", &Lock::released)
            .def("valid", [](Lock& l) {
                Release r;
                return l.valid();
            }, "Ask the store whether the lock is still held under this token.")
            .def("release", [](Lock& l) {
                Release r;
                l.release();
            })
            .def("__enter__", [](PyLock const& l) { return l; })
            .def("__exit__", [](Lock& l, py::handle, py::handle, py::handle) {
                Release r;
                l.release();
                return false;
            })
            .def("__repr__", [](Lock const& l) {
                return "<qcss.Lock " + l.key() + (l.shared() ? " shared" : " exclusive") +
                       " token=" + std::to_string(l.token()) + (l.released() ? " released" : "") + ">";
            });

    py::class_<LockInfo>(m, "LockInfo", "One lock entry (held or waiting), for operators.")
            .def_readonly("key", &LockInfo::key)
            .def_readonly("entryKey", &LockInfo::entryKey)
            .def_property_readonly("mode", [](LockInfo const& i) { return i.shared ? "shared" : "exclusive"; })
            .def_readonly("shared", &LockInfo::shared)
            .def_readonly("held", &LockInfo::held)
            .def_readonly("token", &LockInfo::token)
            .def_readonly("owner", &LockInfo::owner)
            .def_readonly("host", &LockInfo::host)
            .def_readonly("pid", &LockInfo::pid)
            .def_readonly("purpose", &LockInfo::purpose)
            .def_readonly("requestedAt", &LockInfo::requestedAt)
            .def_readonly("acquiredAt", &LockInfo::acquiredAt)
            .def_readonly("ttlMs", &LockInfo::ttlMs)
            .def_readonly("lease", &LockInfo::lease)
            .def_readonly("expiresAt", &LockInfo::expiresAt)
            .def("asdict", &infoDict)
            .def("__repr__", [](LockInfo const& i) {
                return "LockInfo(" + i.key + ", " + (i.shared ? "shared" : "exclusive") + ", " +
                       (i.held ? "held" : "waiting") + ", token=" + std::to_string(i.token) +
                       ", owner=" + py::repr(py::str(i.owner)).cast<std::string>() +
                       ", host=" + py::repr(py::str(i.host)).cast<std::string>() +
                       ", pid=" + std::to_string(i.pid) +
                       ", purpose=" + py::repr(py::str(i.purpose)).cast<std::string>() + ")";
            });

    m.attr("LOCK_ROOT") = kLockRoot;
    m.attr("LOCK_TOKEN_ROOT") = kTokenRoot;
    m.def("lockDir", [](Key const& key) { return lockDir(key); }, py::arg("key"), "The directory of the lock entries of key.");
    m.def("tokenKey", &tokenKey, py::arg("token"), "The key that exists while token's lock is held.");

    auto kvCls = py::reinterpret_borrow<py::class_<KvInterface, KvPtr>>(m.attr("KvInterface"));
    kvCls.def("grantLease", [](KvPtr const& kv, double ttl, std::string const& purpose, py::object onLost, bool reap) {
                return makeLease(kv, ttl, purpose, std::move(onLost), reap);
            }, py::arg("ttl"), py::arg("purpose") = "", py::arg("onLost") = py::none(),
            py::arg("reap") = true,
            "Grant a lease of ttl seconds, kept alive in the background; onLost(id) runs "
            "(on the keep-alive thread) if it is lost.")
            .def("grantLeaseId", [](KvInterface& kv, double ttl, std::string const& purpose) {
                auto const ms = toMs(ttl, "ttl");
                Release r;
                return kv.grantLease(ms, purpose);
            }, py::arg("ttl"), py::arg("purpose") = "",
            "The store primitive (C++ KvInterface::grantLease): grant a lease of ttl seconds that "
            "nothing keeps alive; returns its id.")
            .def("keepLeaseAlive", [](KvInterface& kv, std::int64_t id) {
                Release r;
                return kv.keepLeaseAlive(id);
            }, py::arg("leaseId"), "Extend a lease by its TTL; False if it already expired or was revoked.")
            .def("revokeLease", [](KvInterface& kv, std::int64_t id) {
                Release r;
                kv.revokeLease(id);
            }, py::arg("leaseId"), "Revoke a lease, deleting its keys (no-op if gone).")
            .def("lock", [](KvPtr const& kv, Key const& key, bool shared, std::optional<double> timeout,
                            double ttl, std::string const& purpose, py::handle lease, std::string const& owner) {
                LockOptions o;
                o.shared = shared;
                o.timeout = timeout ? std::max(toMs(*timeout, "timeout"), std::chrono::milliseconds(0))
                                    : std::chrono::milliseconds(-1);
                o.ttl = toMs(ttl, "ttl");
                o.purpose = purpose;
                o.lease = toLease(lease);
                o.owner = owner;
                Lock* raw = nullptr;
                {
                    Release r;
                    raw = lock(kv, key, std::move(o)).release();
                }
                return PyLock(raw, &deleteWithoutGil<Lock>);
            }, py::arg("key"), py::arg("shared") = false, py::arg("timeout") = py::none(),
            py::arg("ttl") = 10.0, py::arg("purpose") = "", py::arg("lease") = py::none(),
            py::arg("owner") = "",
            "Acquire a lock on key path key, waiting at most timeout seconds (None: forever), "
            "else LockTimeout. Use as a context manager.")
            .def("locks", [](KvInterface& kv, Key const& prefix) {
                Release r;
                return locks(kv, prefix);
            }, py::arg("prefix") = "/", "Every lock entry (held or waiting) on prefix or under it.")
            .def("breakLock", [](KvInterface& kv, Key const& key, bool includeWaiters) {
                Release r;
                return breakLock(kv, key, includeWaiters ? BreakScope::HoldersAndWaiters : BreakScope::Holders);
            }, py::arg("key"), py::arg("includeWaiters") = false,
            "Forcibly release the lock on key (delete the holders' entries); returns them.");

    auto txCls = py::reinterpret_borrow<py::object>(m.attr("Transaction"));
    py::setattr(txCls, "checkLock", py::cpp_function([](py::object self, py::handle lockOrToken) {
        if (PyLong_Check(lockOrToken.ptr())) {
            std::int64_t const token = lockOrToken.cast<std::int64_t>();
            return self.attr("check")(tokenKey(token), 1);
        }
        PyLock const l = lockOrToken.cast<PyLock>();
        return self.attr("checkCreateRevision")(l->entryKey(), l->token());
    }, py::is_method(txCls), py::arg("lock"),
    "Require the lock (a Lock or its int token) to be still held at commit (fencing)."));
}

static Registrar reg("lock", &bindLock);

}  // namespace qcss::python
