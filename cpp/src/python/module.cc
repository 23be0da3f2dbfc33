// qcss: module.cc -- the pybind11 module qcss._qcss, and the one place where
// C++ errors become Python errors.
#include <pybind11/pybind11.h>

#include <map>

#include "python/bind.h"
#include "qcss/Errors.h"
#include "qcss/Open.h"

namespace qcss::python {

namespace {
std::map<std::string, BindFn>& registry() {
    static std::map<std::string, BindFn> fns;
    return fns;
}
}  // namespace

Registrar::Registrar(char const* name, BindFn fn) { registry()[name] = fn; }

void bindRegistered(py::module_& m) {
    for (auto const& [name, fn] : registry()) fn(m);
}

std::string keyBytes(py::handle key) {
    if (PyBytes_Check(key.ptr())) {
        char* data = nullptr;
        Py_ssize_t size = 0;
        PyBytes_AsStringAndSize(key.ptr(), &data, &size);
        return std::string(data, static_cast<std::size_t>(size));
    }
    if (!PyUnicode_Check(key.ptr())) throw py::type_error("a key must be str or bytes");
    Py_ssize_t size = 0;
    char const* data = PyUnicode_AsUTF8AndSize(key.ptr(), &size);
    if (data != nullptr) return std::string(data, static_cast<std::size_t>(size));
    // Not encodable (a lone surrogate): the same error as any other invalid key,
    // naming the key as ascii() shows it ("/a\udc80"), at most 200 characters.
    PyErr_Clear();
    py::str s = py::reinterpret_borrow<py::str>(key);
    std::string shown = py::str(py::module_::import("builtins").attr("ascii")(s[py::slice(0, 200, 1)]));
    if (PyUnicode_GetLength(key.ptr()) > 200) shown += "...";
    throw InvalidKeyError("invalid key " + shown + ": not valid UTF-8 (a lone surrogate)");
}

std::string toBytes(py::handle value, char const* what) {
    if (PyBytes_Check(value.ptr())) {
        char* data = nullptr;
        Py_ssize_t size = 0;
        PyBytes_AsStringAndSize(value.ptr(), &data, &size);
        return std::string(data, static_cast<std::size_t>(size));
    }
    if (PyUnicode_Check(value.ptr())) {
        Py_ssize_t size = 0;
        char const* data = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
        if (data == nullptr) throw py::error_already_set();
        return std::string(data, static_cast<std::size_t>(size));
    }
    if (PyByteArray_Check(value.ptr()) || PyMemoryView_Check(value.ptr())) {
        return std::string(py::bytes(py::reinterpret_borrow<py::object>(value)));
    }
    throw py::type_error(std::string(what) + " must be bytes or str, not " +
                         std::string(py::str(py::type::handle_of(value).attr("__name__"))));
}

std::int64_t toLeaseId(py::handle lease) {
    if (lease.is_none()) return 0;
    if (PyLong_Check(lease.ptr())) return lease.cast<std::int64_t>();
    if (py::hasattr(lease, "id")) return lease.attr("id").cast<std::int64_t>();
    throw py::type_error("lease must be None, an int lease id or a Lease");
}

void registerErrors(py::module_& m) {
    // The Python classes live in qcss/errors.py (they also inherit the
    // matching built-ins); each C++ class maps to exactly one of them.
    py::module_ errors = py::module_::import("qcss.errors");
    m.attr("_errors") = errors;
    // Leaked on purpose: must outlive the interpreter's teardown.
    static py::dict* classes = nullptr;
    classes = new py::dict();
    for (char const* name :
         {"CssError", "NoSuchKey", "KeyExistsError", "VersionMismatchError", "ReadonlyCss",
          "InvalidKeyError", "ValueTooLargeError", "ConnError", "CommitUnknownError", "AuthError",
          "SchemaError", "CompactedError", "LockTimeout", "LeaseExpired", "BadDumpError",
          "NoSuchDb", "DbExists", "NoSuchTable", "TableExists", "NoSuchNode", "NodeExists",
          "NodeInUse", "ConfigError"}) {
        (*classes)[name] = errors.attr(name);
    }
    py::register_exception_translator([](std::exception_ptr p) {
        auto raise = [](char const* name, char const* msg) {
            PyErr_SetString((*classes)[name].ptr(), msg);
        };
        try {
            if (p) std::rethrow_exception(p);
        } catch (CompactedError const& e) {
            py::object cls = (*classes)["CompactedError"];
            py::object exc = cls(e.what(), e.oldestAvailable());
            PyErr_SetObject(cls.ptr(), exc.ptr());
#define QCSS_MAP(Name) \
    }                  \
    catch (Name const& e) { raise(#Name, e.what());
            QCSS_MAP(NoSuchKey)
            QCSS_MAP(KeyExistsError)
            QCSS_MAP(VersionMismatchError)
            QCSS_MAP(ReadonlyCss)
            QCSS_MAP(InvalidKeyError)
            QCSS_MAP(ValueTooLargeError)
            QCSS_MAP(CommitUnknownError)
            QCSS_MAP(ConnError)
            QCSS_MAP(AuthError)
            QCSS_MAP(SchemaError)
            QCSS_MAP(LockTimeout)
            QCSS_MAP(LeaseExpired)
            QCSS_MAP(BadDumpError)
            QCSS_MAP(NoSuchDb)
            QCSS_MAP(DbExists)
            QCSS_MAP(NoSuchTable)
            QCSS_MAP(TableExists)
            QCSS_MAP(NoSuchNode)
            QCSS_MAP(NodeExists)
            QCSS_MAP(NodeInUse)
            QCSS_MAP(ConfigError)
            QCSS_MAP(CssError)
#undef QCSS_MAP
        }
    });
}

}  // namespace qcss::python

PYBIND11_MODULE(_qcss, m) {
    namespace qp = qcss::python;
    m.doc() = "qcss C++ core: the master KvInterface (see the qcss package for the Python API)";
    qp::registerErrors(m);
    qp::bindKv(m);
    qp::bindRegistered(m);
    m.attr("__version__") = qcss::version();
}
