// The module resnet_cpp._core; resnet_cpp/__init__.py re-exports it.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "dnnl/ops.h"
#include "resnet/zoo.h"

NB_MODULE(_core, m) {
  using namespace resnet::python;
  using namespace nb::literals;
  m.doc() = "resnet.cpp: ResNets on oneDNN, from Python.";
  bind_errors(m);
  nb::class_<Model> model_class = bind_model(m);
  bind_models(m);
  bind_plan(m, model_class);
  bind_predict(m);
  bind_export(m, model_class);
  m.def(
      "set_num_threads", [](int threads) { resnet::ops::set_num_threads(threads); }, "threads"_a,
      "OpenMP threads of this Python thread's calls (<= 0: all cores). A plan keeps the count it was "
      "compiled "
      "with.");
  m.def("get_num_threads", [] { return resnet::ops::num_threads(); });
  m.def(
      "zoo_names", [] { return resnet::zoo_names(); },
      "The classifier architectures, as torchvision names them.");
}
