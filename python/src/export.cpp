// ONNX export from Python: m.export_onnx(path, ...) and resnet_cpp.export_onnx(m, path, ...) -- the library's
// export_onnx (resnet/onnx_export.h), the same file `resnet export` writes for the same weights and options.
#include <fmt/format.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "bindings.h"
#include "resnet/error.h"
#include "resnet/onnx_export.h"

namespace resnet::python {

using namespace nb::literals;

namespace {

void export_model(Model& m, const std::string& path, int opset, int batch, bool dynamic_batch, bool fold_bn,
                  std::optional<int> size) {
  if (size && *size < 1)
    throw InputError(fmt::format("size={}: expected at least 1 (None: the model's own)", *size));
  const OnnxExportOptions options{.opset = opset,
                                  .batch = batch,
                                  .dynamic_batch = dynamic_batch,
                                  .fold_bn = fold_bn,
                                  .image_size = size.value_or(0)};
  nb::gil_scoped_release release;
  std::lock_guard lock(m.mutex);
  if (m.resnet) {
    export_onnx(*m.resnet, path, options);
  } else {
    export_onnx(*m.unet, path, options);
  }
}

constexpr const char* kExportDoc =
    "Writes the model as ONNX (input 'input' float32 NCHW, output 'logits'; a U-Net's 'masks'), atomically. "
    "opset 13..17; batch: the fixed N, or dynamic_batch=True for a symbolic one; fold_bn: batch norm folded "
    "into the convolutions; size: H = W (None: 224, 32 for a CIFAR stem).";

}  // namespace

void bind_export(nb::module_& m, nb::class_<Model>& model_class) {
  model_class.def("export_onnx", &export_model, "path"_a, "opset"_a = 17, "batch"_a = 1,
                  "dynamic_batch"_a = false, "fold_bn"_a = false, "size"_a = nb::none(), kExportDoc);
  m.def("export_onnx", &export_model, "model"_a, "path"_a, "opset"_a = 17, "batch"_a = 1,
        "dynamic_batch"_a = false, "fold_bn"_a = false, "size"_a = nb::none(), kExportDoc);
}

}  // namespace resnet::python
