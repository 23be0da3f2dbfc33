// qcss: watch.cc -- Watcher, Mirror and compaction in Python.
//
// The poller is the C++ Watcher thread; it takes the GIL only to call the
// Python callables. Stopping (stop(), __exit__, garbage collection, interpreter
// exit) releases the GIL while joining, so a callback waiting for the GIL
// cannot deadlock it. Mirror reads do not release the GIL: they never block
// on I/O (a shared lock held by the applier for microseconds at most), and
// releasing/re-taking the GIL would cost more than the read itself.
#include <pybind11/stl.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <thread>

#include "mem/MemKv.h"
#include "python/bind.h"
#include "qcss/Key.h"
#include "qcss/KvInterface.h"
#include "qcss/Mirror.h"
#include "qcss/Watch.h"

namespace qcss::python {

namespace {

using Release = py::gil_scoped_release;

std::chrono::milliseconds toMs(double seconds, char const* what) {
    if (!(seconds >= 0)) throw py::value_error(std::string(what) + " must be >= 0 seconds");
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0 + 0.5));
}

// TypeError now, in the caller's thread, unless f (if given) can be called with
// `n` positional arguments; callables without an introspectable signature pass.
void checkArity(py::object const& f, std::size_t n, char const* what, char const* params) {
    if (f.is_none()) return;
    if (!PyCallable_Check(f.ptr())) throw py::type_error(std::string("watch: ") + what + " must be callable");
    py::object sig;
    try {
        sig = py::module_::import("inspect").attr("signature")(f);
    } catch (py::error_already_set& e) {
        if (e.matches(PyExc_ValueError) || e.matches(PyExc_TypeError)) return;
        throw;
    }
    py::tuple args(n);
    for (std::size_t i = 0; i < n; ++i) args[i] = py::none();
    try {
        sig.attr("bind")(*args);
    } catch (py::error_already_set& e) {
        if (!e.matches(PyExc_TypeError)) throw;
        throw py::type_error(std::string("watch: ") + what + " must accept " + params + ", got " +
                             py::str(f).cast<std::string>() + py::str(sig).cast<std::string>());
    }
}

bool pythonAlive() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsInitialized() != 0 && Py_IsFinalizing() == 0;
#else
    return Py_IsInitialized() != 0 && _Py_IsFinalizing() == 0;
#endif
}

// The Python exception object for a C++ exception_ptr, through the module's
// translators (a C++ error becomes its qcss.errors class). GIL held.
py::object toPyException(std::exception_ptr ep) {
    py::cpp_function thrower([ep]() { std::rethrow_exception(ep); });
    try {
        thrower();
    } catch (py::error_already_set& e) {
        return e.value();
    }
    return py::none();
}

// The Python callables of one watcher; destroyed with the GIL held.
struct PyCallbacks {
    py::object callback, onError, onResync;
};

void reportUnraisable(char const* where) {
    // An exception inside an error handler: print it (sys.unraisablehook).
    PyErr_WriteUnraisable(py::str(where).ptr());
}

class PyWatcher;
std::mutex gLiveMu;
std::set<PyWatcher*> gLive;

class PyWatcher {
public:
    PyWatcher(KvPtr kv, std::string const& prefix, py::object callback,
              std::optional<std::int64_t> since, double interval, py::object onError,
              py::object onResync, std::size_t batchLimit, double maxBackoff) {
        if (callback.is_none()) throw py::type_error("watch: callback must be callable");
        checkArity(callback, 2, "callback", "(changes, revision)");
        checkArity(onError, 2, "onError", "(error, revision)");
        checkArity(onResync, 1, "onResync", "(snapshot)");
        auto cbs = std::make_shared<PyCallbacks>(
                PyCallbacks{std::move(callback), std::move(onError), std::move(onResync)});
        _cbs = cbs;
        WatchOptions o;
        o.interval = toMs(interval, "interval");
        o.maxBackoff = toMs(maxBackoff, "maxBackoff");
        o.batchLimit = batchLimit;
        PyCallbacks* raw = cbs.get();  // owned by this object, which outlives the thread
        o.onError = [raw](std::exception_ptr ep, int attempt) {
            if (!pythonAlive()) return;
            py::gil_scoped_acquire g;
            py::object exc = toPyException(ep);
            try {
                if (!raw->onError.is_none()) {
                    raw->onError(exc, attempt);
                } else {
                    py::module_::import("logging")
                            .attr("getLogger")("qcss.watch")
                            .attr("warning")("watcher error (attempt %d): %r", attempt, exc);
                }
            } catch (py::error_already_set& e) {
                e.restore();
                reportUnraisable("qcss watcher onError callback");
            }
        };
        if (!raw->onResync.is_none()) {
            o.onResync = [raw](Snapshot const& snap) {
                if (!pythonAlive()) return;
                py::gil_scoped_acquire g;
                raw->onResync(py::cast(snap));  // errors go to onError through the watcher
            };
        }
        WatchCallback cb = [raw](std::vector<Change> const& changes, std::int64_t rev) {
            if (!pythonAlive()) return;
            py::gil_scoped_acquire g;
            raw->callback(py::cast(changes), rev);
        };
        std::int64_t const s = since ? *since : -1;
        {
            Release r;
            _w = std::make_unique<Watcher>(std::move(kv), prefix, std::move(cb), s, std::move(o));
        }
        std::lock_guard lock(gLiveMu);
        gLive.insert(this);
    }
    ~PyWatcher() {
        {
            std::lock_guard lock(gLiveMu);
            gLive.erase(this);
        }
        if (_w && _w->onWatcherThread()) {
            // The last reference went away inside one of its own callbacks:
            // the thread cannot join itself. Let another thread finish it.
            _w->stop();
            std::thread([w = std::move(_w), cbs = std::move(_cbs)]() mutable {
                w.reset();  // joins the poller once the callback has returned
                if (pythonAlive()) {
                    py::gil_scoped_acquire g;
                    cbs.reset();
                } else {
                    new std::shared_ptr<PyCallbacks>(std::move(cbs));  // leaked: no interpreter
                }
            }).detach();
            return;
        }
        stop();
        _w.reset();
    }
    void stop() {
        if (!_w) return;
        Release r;
        _w->stop();
    }
    Watcher& w() {
        if (!_w) throw py::value_error("watcher is closed");
        return *_w;
    }

private:
    std::shared_ptr<PyCallbacks> _cbs;
    std::unique_ptr<Watcher> _w;
};

void stopAllWatchers() {
    std::vector<PyWatcher*> live;
    {
        std::lock_guard lock(gLiveMu);
        live.assign(gLive.begin(), gLive.end());
    }
    for (PyWatcher* w : live) w->stop();
}

std::string_view utf8(py::str const& key) {
    Py_ssize_t size = 0;
    char const* data = PyUnicode_AsUTF8AndSize(key.ptr(), &size);
    if (data == nullptr) {
        PyErr_Clear();
        keyBytes(key);  // not encodable: raises InvalidKeyError naming the key
        throw py::value_error("key is not encodable as UTF-8");
    }
    return std::string_view(data, static_cast<std::size_t>(size));
}

// The value of `key` as bytes, or a null object if absent.
py::object lookup(Mirror& mr, py::str const& key) {
    PyObject* out = nullptr;
    mr.withValue(utf8(key), [&](std::string const& v) {
        out = PyBytes_FromStringAndSize(v.data(), static_cast<Py_ssize_t>(v.size()));
    });
    if (out == nullptr && PyErr_Occurred()) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(out);
}

}  // namespace

void bindWatch(py::module_& m) {
    py::class_<PyWatcher>(m, "Watcher", R"doc(
A running poller (see KvInterface.watch). The callback runs in the watcher's
own thread, holding the GIL only while it runs. stop() (or leaving a `with`
block) stops it at once.)doc")
            .def("stop", &PyWatcher::stop, "Stop polling and join the thread (idempotent).")
            .def("wake", [](PyWatcher& w) { w.w().wake(); }, "Poll now.")
            .def_property_readonly("running", [](PyWatcher& w) { return w.w().running(); })
            .def_property_readonly("position", [](PyWatcher& w) { return w.w().position(); },
                                   "The revision up to which every change was delivered.")
            .def_property_readonly("prefix", [](PyWatcher& w) { return w.w().prefix(); })
            .def_property_readonly("polls", [](PyWatcher& w) { return w.w().polls(); })
            .def_property_readonly("errors", [](PyWatcher& w) { return w.w().errors(); })
            .def_property_readonly("resyncs", [](PyWatcher& w) { return w.w().resyncs(); })
            .def_property_readonly("batches", [](PyWatcher& w) { return w.w().batches(); })
            .def("__enter__", [](PyWatcher& w) -> PyWatcher& { return w; },
                 py::return_value_policy::reference)
            .def("__exit__", [](PyWatcher& w, py::handle, py::handle, py::handle) {
                w.stop();
                return false;
            });

    py::class_<KvInterface, KvPtr> kv(py::reinterpret_borrow<py::object>(m.attr("KvInterface")));
    kv.def("watch", [](KvPtr const& self, Key const& prefix, py::object callback,
                       std::optional<std::int64_t> since, double interval, py::object onError,
                       py::object onResync, std::size_t batchLimit, double maxBackoff) {
        return std::make_unique<PyWatcher>(self, prefix, std::move(callback), since, interval,
                                           std::move(onError), std::move(onResync), batchLimit,
                                           maxBackoff);
    }, py::arg("prefix"), py::arg("callback"), py::arg("sinceRevision") = py::none(),
       py::arg("interval") = 0.1, py::arg("onError") = py::none(),
       py::arg("onResync") = py::none(), py::arg("batchLimit") = 10000,
       py::arg("maxBackoff") = 2.0, R"doc(
Call callback(changes, revision) from a poller thread with every batch of
changes to prefix or under it after sinceRevision (None: from now), in order,
each change exactly once. onError(exc, attempt) is told of polling errors
(retried with backoff) and of exceptions raised by the callback (the batch is
not redelivered); without it they are logged to the "qcss.watch" logger.
onResync(snapshot) is called when the log was compacted past the watcher's
position and it reloaded the subtree (without it: a CompactedError goes to
onError).)doc");
    kv.def("mirror", [](KvPtr const& self, Key const& prefix, double interval) {
        MirrorOptions o;
        o.interval = toMs(interval, "interval");
        Release r;
        return mirror(self, prefix, o);
    }, py::arg("prefix") = "/", py::arg("interval") = 0.1,
       "A read-only local copy of prefix, kept current by a watcher (see Mirror).");
    // compactRetaining's result: a named tuple (still unpacks as (upToRevision, removed)).
    py::object compactResult = py::module_::import("collections").attr("namedtuple")(
            "CompactResult", py::make_tuple("upToRevision", "removed"));
    compactResult.attr("__module__") = "qcss";
    m.attr("CompactResult") = compactResult;
    kv.def("compactRetaining", [compactResult](KvInterface& self, std::optional<std::int64_t> keepRevisions,
                                  std::optional<double> maxAgeSeconds, bool dryRun) {
        CompactPlan p;
        {
            Release r;
            p = compactRetaining(self, keepRevisions ? *keepRevisions : -1,
                                 maxAgeSeconds ? *maxAgeSeconds : -1.0,
                                 dryRun ? CompactMode::DryRun : CompactMode::Apply);
        }
        return compactResult(p.upToRevision, p.removed);
    }, py::arg("keepRevisions") = py::none(), py::arg("maxAgeSeconds") = py::none(),
       py::arg("dryRun") = false,
       "Compact the change log keeping the last keepRevisions revisions and/or the changes "
       "younger than maxAgeSeconds; returns CompactResult(upToRevision, removed).");

    py::class_<Mirror, KvInterface, std::shared_ptr<Mirror>>(m, "Mirror", R"doc(
A read-only KvInterface over a local in-memory copy of a subtree of another
store, kept current by polling. Reads never touch the source; revision() is the
source revision the copy is at; waitFor(rev) blocks until it got there.)doc")
            // Point reads keep the GIL (see the file comment).
            // The key's UTF-8 is read in place and the bytes object built
            // from the stored value under the read lock: no std::string copy.
            .def("get", [](Mirror& mr, py::str key) -> py::object {
                py::object out = lookup(mr, key);
                if (out) return out;
                // Absent (or invalid): the C++ get raises the right error.
                return py::bytes(mr.get(std::string(utf8(key))));
            }, py::arg("key"))
            .def("get", [](Mirror& mr, py::str key, py::object dflt) -> py::object {
                py::object out = lookup(mr, key);
                if (out) return out;
                validateKey(std::string(utf8(key)));
                return dflt;
            }, py::arg("key"), py::arg("default"))
            // bytes keys, as KvInterface.get takes (the str overloads above are the fast path).
            .def("get", [](Mirror& mr, Key const& key) { return py::bytes(mr.get(key)); },
                 py::arg("key"))
            .def("get", [](Mirror& mr, Key const& key, py::object dflt) -> py::object {
                if (!mr.exists(key)) return dflt;
                return py::bytes(mr.get(key));
            }, py::arg("key"), py::arg("default"))
            .def("exists", [](Mirror& mr, Key const& key) { return mr.exists(key); },
                 py::arg("key"))
            .def("getStat", [](Mirror& mr, Key const& key) { return mr.getStat(key); },
                 py::arg("key"))
            .def("revision", [](Mirror& mr) { return mr.revision(); })
            .def("waitFor", [](Mirror& mr, std::int64_t rev, std::optional<double> timeout, bool wake) {
                auto const t = timeout ? toMs(*timeout, "timeout")
                                       : std::chrono::milliseconds(std::chrono::hours(24 * 365));
                Release r;
                return mr.waitFor(rev, t, wake ? MirrorWake::PollNow : MirrorWake::NextTick);
            }, py::arg("revision"), py::arg("timeout") = py::none(), py::arg("wake") = true,
               "Block until the mirror applied revision (True), or timeout seconds passed "
               "(False). wake: poll the source now rather than at the next tick.")
            .def("stop", [](Mirror& mr) {
                Release r;
                mr.stop();
            }, "Stop following the source; reads keep working on the last state.")
            .def("wake", &Mirror::wake, "Poll the source now.")
            .def_property_readonly("prefix", &Mirror::prefix)
            .def_property_readonly("source", &Mirror::source)
            .def_property_readonly("resyncs", &Mirror::resyncs)
            .def_property_readonly("errors", &Mirror::errors)
            .def("__enter__", [](py::object self) { return self; })
            .def("__exit__", [](Mirror& mr, py::handle, py::handle, py::handle) {
                Release r;
                mr.stop();
                return false;
            })
            .def("__repr__", [](Mirror& mr) { return "<qcss.Mirror " + mr.url() + ">"; });

    py::module_::import("atexit").attr("register")(py::cpp_function(&stopAllWatchers));
}

static Registrar reg("watch", &bindWatch);

}  // namespace qcss::python
