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
