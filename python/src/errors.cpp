// The library's errors as Python exceptions: bad user input (resnet::InputError) is a ValueError with the
// library's message ("conv1.weight: expected [64,3,7,7], file has [64,1,7,7] (model.pth)"), a failure inside
// (InternalError) a RuntimeError. Other C++ exceptions keep nanobind's mapping.
#include "bindings.h"
#include "resnet/error.h"

namespace resnet::python {

void bind_errors(nb::module_&) {
  nb::register_exception_translator([](const std::exception_ptr& error, void*) {
    try {
      std::rethrow_exception(error);
    } catch (const InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const InternalError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
}

}  // namespace resnet::python
