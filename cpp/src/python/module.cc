// qcss: module.cc -- the pybind11 module qcss._qcss, and the one place where
// C++ errors become Python errors.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <iterator>
#include <map>
#include <type_traits>

#include "core/UrlOptions.h"
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

namespace {
/// `text` (a str) as ascii() shows it, at most 200 characters.
std::string shownAscii(py::handle text) {
    py::str s = py::reinterpret_borrow<py::str>(text);
    std::string shown = py::str(py::module_::import("builtins").attr("ascii")(s[py::slice(0, 200, 1)]));
    if (PyUnicode_GetLength(text.ptr()) > 200) shown += "...";
    return shown;
}
}  // namespace

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
    throw InvalidKeyError("invalid key " + shownAscii(key) + ": not valid UTF-8 (a lone surrogate)");
}

void notUtf8(py::handle text, char const* what) {
    // The text itself is not shown: it may be a password (in a URL) or a large value.
    PyErr_Clear();
    Py_ssize_t const n = PyUnicode_GetLength(text.ptr());
    Py_ssize_t at = 0;
    while (at < n) {
        Py_UCS4 const c = PyUnicode_ReadChar(text.ptr(), at);
        if (c >= 0xD800 && c <= 0xDFFF) break;
        ++at;
    }
    throw ConfigError(std::string(what) + " is not valid UTF-8: a lone surrogate at index " +
                      std::to_string(at) + " (pass bytes, or a str without lone surrogates)");
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
        if (data == nullptr) notUtf8(value, what);
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

namespace {

/// One row of qcss/ErrorList.h, as the binding uses it.
struct ErrorEntry {
    char const* name;
    char const* parent;
    char const* builtin;                   ///< the Python built-in also inherited, or "none"
    bool (*is)(CssError const&);           ///< is the error this class (or below it)?
    void (*raise)(std::string const& msg);  ///< throw this class (tests)
};

template <typename E>
bool isA(CssError const& e) {
    return dynamic_cast<E const*>(&e) != nullptr;
}

template <typename E>
[[noreturn]] void raiseAs(std::string const& msg) {
    if constexpr (std::is_same_v<E, CompactedError>) {
        throw CompactedError(msg, 7);
    } else {
        throw E(msg);
    }
}

#define QCSS_ERROR_ENTRY(Name, Parent, Py, Kind) \
    ErrorEntry{#Name, #Parent, #Py, &isA<Name>, &raiseAs<Name>},
ErrorEntry const errorList[] = {QCSS_ERROR_LIST(QCSS_ERROR_ENTRY)};
#undef QCSS_ERROR_ENTRY

}  // namespace

void registerErrors(py::module_& m) {
    // The Python classes live in qcss/errors.py (they also inherit the
    // matching built-ins); each C++ class of qcss/ErrorList.h maps to exactly
    // the one of its name, whose bases are checked here, at import.
    py::module_ errors = py::module_::import("qcss.errors");
    py::module_ builtins = py::module_::import("builtins");
    m.attr("_errors") = errors;
    // Leaked on purpose: must outlive the interpreter's teardown.
    static py::dict* classes = nullptr;
    classes = new py::dict();
    (*classes)["CssError"] = errors.attr("CssError");
    py::list table;
    for (ErrorEntry const& entry : errorList) {
        if (!py::hasattr(errors, entry.name)) {
            throw py::import_error(std::string("qcss.errors has no class ") + entry.name +
                                   " (listed in cpp/include/qcss/ErrorList.h)");
        }
        py::object cls = errors.attr(entry.name);
        py::object parent = errors.attr(entry.parent);
        py::tuple expected = std::string(entry.builtin) == "none"
                                     ? py::tuple(py::make_tuple(parent))
                                     : py::tuple(py::make_tuple(parent, builtins.attr(entry.builtin)));
        py::object bases = cls.attr("__bases__");
        if (!bases.equal(expected)) {
            throw py::import_error(std::string("qcss.errors.") + entry.name +
                                   " must derive from exactly " +
                                   std::string(py::str(expected)) +
                                   " (cpp/include/qcss/ErrorList.h)");
        }
        (*classes)[entry.name] = cls;
        table.append(py::make_tuple(entry.name, entry.parent, entry.builtin));
    }
    // For tests/test_errors.py: the list, and a way to throw each C++ class.
    m.attr("_errorList") = table;
    m.def(
            "_raiseError",
            [](std::string const& name, std::string const& msg) {
                for (ErrorEntry const& entry : errorList) {
                    if (name == entry.name) entry.raise(msg);
                }
                if (name == "CssError") throw CssError(msg);
                throw py::value_error("no error class " + name);
            },
            py::arg("name"), py::arg("msg"),
            "Throw the C++ error class `name` with message `msg` (tests of the translation).");
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (CompactedError const& e) {
            py::object cls = (*classes)["CompactedError"];
            py::object exc = cls(e.what(), e.oldestAvailable());
            PyErr_SetObject(cls.ptr(), exc.ptr());
        } catch (CssError const& e) {
            // The most derived listed class: children come after their parents.
            char const* name = "CssError";
            for (auto it = std::rbegin(errorList); it != std::rend(errorList); ++it) {
                if (it->is(e)) {
                    name = it->name;
                    break;
                }
            }
            PyErr_SetString((*classes)[name].ptr(), e.what());
        }
    });
}

}  // namespace qcss::python

PYBIND11_MODULE(_qcss, m) {
    namespace qp = qcss::python;
    m.doc() = "qcss C++ core: the master KvInterface (see the qcss package for the Python API)";
    qp::registerErrors(m);
    m.def(
            "_urlOptions",
            [] {
                pybind11::list out;
                for (auto const& o : qcss::detail::urlOptions())
                    out.append(pybind11::make_tuple(o.name, o.backends, o.meaning));
                return out;
            },
            "The URL options the library takes (schema/url-options.tsv as embedded): "
            "(name, backends, meaning).");
    qp::bindKv(m);
    qp::bindRegistered(m);
    m.attr("__version__") = qcss::version();
}
