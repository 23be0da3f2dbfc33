// qcss: bind.h -- pieces of the pybind11 module qcss._qcss (internal).
//
// module.cc creates the module, translates the error tree once and calls each
// bindX() below. Conventions every binding follows:
// - convert Python arguments while holding the GIL, release it around every
//   call into the store (each may do a SQL round trip or wait on a lock), and
//   take it back to build the result;
// - values go out as `bytes`, come in as `bytes` or `str` (UTF-8).
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace qcss::python {

namespace py = pybind11;

/// A key or prefix argument. Its caster (below) accepts `str` (encoded UTF-8)
/// or `bytes`; a `str` that cannot be encoded (a lone surrogate such as
/// "/a\udc80") raises InvalidKeyError naming the key, like every other invalid
/// key, instead of pybind11's generic "incompatible function arguments".
/// Every key/prefix parameter of the module takes a `Key const&`.
struct Key {
    std::string bytes;
    operator std::string const&() const noexcept { return bytes; }  // NOLINT: implicit on purpose
};

/// The key bytes of a `str` or `bytes` object (see Key); raises InvalidKeyError
/// for a `str` that is not encodable as UTF-8, TypeError for anything else.
std::string keyBytes(py::handle key);

/// Raise the error for a `str` argument that is not encodable as UTF-8 (a lone
/// surrogate): ConfigError (a ValueError) naming `what` and the index of the
/// surrogate, never the text (it may be a password in a URL). Never
/// UnicodeEncodeError or pybind11's "incompatible function arguments".
[[noreturn]] void notUtf8(py::handle text, char const* what);

/// bytes -> raw bytes, str -> UTF-8; anything else raises TypeError naming `what`.
std::string toBytes(py::handle value, char const* what = "value");

/// A lease argument: None or 0 (no lease), an int id, or an object with `.id`.
std::int64_t toLeaseId(py::handle lease);

void registerErrors(py::module_& m);
void bindKv(py::module_& m);

/// Further binding files register themselves, so adding one touches no other file:
///   static qcss::python::Registrar reg("watch", &bindWatch);
/// module.cc calls every registered function after bindKv, in name order.
using BindFn = void (*)(py::module_&);
struct Registrar {
    Registrar(char const* name, BindFn fn);
};

}  // namespace qcss::python

namespace pybind11::detail {

template <>
struct type_caster<qcss::python::Key> {
    PYBIND11_TYPE_CASTER(qcss::python::Key, const_name("str"));

    bool load(handle src, bool /*convert*/) {
        if (!PyUnicode_Check(src.ptr()) && !PyBytes_Check(src.ptr())) return false;
        value.bytes = qcss::python::keyBytes(src);  // may throw InvalidKeyError
        return true;
    }

    static handle cast(qcss::python::Key const& k, return_value_policy, handle) {
        return PyUnicode_DecodeUTF8(k.bytes.data(), static_cast<Py_ssize_t>(k.bytes.size()),
                                    "surrogateescape");
    }
};

/// Every `std::string` parameter of the module (names, purposes, owners, URLs):
/// pybind11's own caster, except that a `str` with a lone surrogate raises
/// ConfigError (see notUtf8) instead of failing the overload with TypeError.
/// Declared here, before any binding instantiates the caster (every binding file
/// includes bind.h).
template <>
struct type_caster<std::string> : string_caster<std::string> {
    bool load(handle src, bool convert) {
        if (string_caster<std::string>::load(src, convert)) return true;
        if (src && PyUnicode_Check(src.ptr())) qcss::python::notUtf8(src, "text argument");
        return false;
    }
};

}  // namespace pybind11::detail
