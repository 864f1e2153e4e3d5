// The Python module resnet_cpp._core (nanobind): one file per topic, each adding its part to the module.
//   errors.cpp   resnet::InputError -> ValueError, InternalError -> RuntimeError
//   arrays.cpp   NumPy / DLPack arrays <-> Tensors (where a copy happens: docs/PYTHON.md)
//   model.cpp    Model: a ResNet or U-Net with torch's module conventions (eval, state_dict, __call__)
//   models.cpp   resnet_cpp.models.<zoo name>(...): the factories
//   plan.cpp     Plan: a compiled InferencePlan, callable from many Python threads at once
//   predict.cpp  resnet_cpp.predict(model, files): photos -> top-k class names
//   export.cpp   Model.export_onnx / resnet_cpp.export_onnx: the model as an ONNX file
//   module.cpp   the module: threads, names, and the calls of the others
#pragma once

#include <nanobind/nanobind.h>

#include <memory>
#include <mutex>
#include <string>

#include "resnet/model.h"
#include "resnet/unet.h"

namespace resnet::python {

namespace nb = nanobind;

// A model as Python holds it. The layer-by-layer forward keeps state (what backward needs, train mode), so
// calls on one Model are serialised by `mutex`; compiled plans (plan.cpp) are not.
struct Model {
  std::string arch;
  std::unique_ptr<Module> module;
  ResNet* resnet = nullptr;  // exactly one of these two is set
  UNet* unet = nullptr;
  std::mutex mutex;

  int in_channels() const;
  int num_classes() const;
};

// arch: a zoo name (resnet/zoo.h) or a U-Net name ("unet-resnet34", resnet/unet.h). num_classes 0: the
// architecture's default, or the weights' when given. weights: a .pth or .safetensors path, loaded strictly.
std::unique_ptr<Model> create_model(const std::string& arch, int num_classes, const std::string& weights,
                                    int in_channels, const std::string& stem, uint64_t seed);

void bind_errors(nb::module_& m);
nb::class_<Model> bind_model(nb::module_& m);
void bind_models(nb::module_& m);
void bind_plan(nb::module_& m, nb::class_<Model>& model_class);  // and Model.compile
void bind_predict(nb::module_& m);
void bind_export(nb::module_& m, nb::class_<Model>& model_class);  // and Model.export_onnx

}  // namespace resnet::python
