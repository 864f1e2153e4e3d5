// Model: a ResNet (or a U-Net) with torch's conventions: m.eval() / m.train(), m(x) on NCHW float32 arrays,
// m.features(x), m.state_dict() / m.load_state_dict(d, strict), m.compile(...) (plan.cpp).
#include <fmt/format.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "arrays.h"
#include "bindings.h"
#include "resnet/error.h"
#include "resnet/load_state_dict.h"
#include "resnet/weights.h"
#include "resnet/zoo.h"

namespace resnet::python {

using namespace nb::literals;

int Model::in_channels() const {
  return resnet ? resnet->config().in_channels : unet->config().encoder.in_channels;
}
int Model::num_classes() const {
  return resnet ? resnet->config().num_classes : unet->config().classes;
}

namespace {

// The class count a state dict's classifier has (fc.weight [classes, features]), or 0.
int classes_in(const StateDict& weights, const std::string& classifier_key) {
  for (const NamedTensor& t : weights)
    if (t.name == classifier_key && t.tensor.rank() >= 1) return static_cast<int>(t.tensor.dim(0));
  return 0;
}

}  // namespace

std::unique_ptr<Model> create_model(const std::string& arch, int num_classes, const std::string& weights,
                                    int in_channels, const std::string& stem, uint64_t seed) {
  StateDict loaded;
  if (!weights.empty()) loaded = load_weights(weights);
  auto model = std::make_unique<Model>();
  model->arch = arch;
  const Init init = weights.empty() ? Init::torchvision : Init::none;
  if (is_unet_name(arch)) {
    if (!stem.empty()) throw InputError(fmt::format("{}: stem= applies to classifiers only", arch));
    if (num_classes == 0) num_classes = classes_in(loaded, "segmentation_head.0.weight");
    auto unet = std::make_unique<UNet>(unet_zoo_config(arch, num_classes, in_channels), seed, init);
    model->unet = unet.get();
    model->module = std::move(unet);
  } else {
    if (num_classes == 0) num_classes = classes_in(loaded, "fc.weight");
    ResNetConfig config = zoo_config(arch, num_classes, in_channels);
    apply_stem(config, stem);
    auto resnet = std::make_unique<ResNet>(config, seed, init);
    model->resnet = resnet.get();
    model->module = std::move(resnet);
  }
  if (!weights.empty()) load_state_dict(*model->module, loaded, /*strict=*/true, weights);
  return model;
}

namespace {

// m(x): the layer-by-layer forward (train mode: batch statistics, as torch), GIL released.
NumpyArray call(Model& m, nb::handle x) {
  const Tensor input = nchw_input(x, m.in_channels(), m.arch + "(x)");
  Tensor out;
  {
    nb::gil_scoped_release release;
    std::lock_guard lock(m.mutex);
    out = m.module->forward(input);
  }
  return m.unet ? numpy_nchw(out) : numpy_view(std::move(out));
}

nb::dict features(Model& m, nb::handle x, std::optional<std::vector<std::string>> stages) {
  if (m.resnet == nullptr)
    throw InputError(fmt::format("{}: features() is for classifiers' backbones", m.arch));
  const std::vector<std::string> names = stages ? *stages : m.resnet->stage_names();
  const Tensor input = nchw_input(x, m.in_channels(), m.arch + ".features(x)");
  std::vector<Tensor> outputs;
  {
    nb::gil_scoped_release release;
    std::lock_guard lock(m.mutex);
    outputs = m.resnet->forward_features(input, names);
  }
  nb::dict result;
  for (size_t i = 0; i < names.size(); ++i) result[names[i].c_str()] = numpy_nchw(outputs[i]);
  return result;
}

nb::dict state_dict(Model& m) {
  nb::dict result;
  std::lock_guard lock(m.mutex);
  for (NamedTensor& t : m.module->state_dict()) result[t.name.c_str()] = numpy_view(t.tensor);
  return result;
}

// m.eval() / m.train(mode): returns the model, as torch.
nb::object set_mode(nb::handle self, bool training) {
  Model& m = nb::cast<Model&>(self);
  std::lock_guard lock(m.mutex);
  m.module->set_training(training);
  return nb::borrow(self);
}

LoadReport load(Model& m, nb::handle tensors, bool strict) {
  if (!nb::hasattr(tensors, "items")) throw InputError("load_state_dict: expected a dict of name -> tensor");
  StateDict state;
  for (nb::handle item : tensors.attr("items")()) {
    std::string key;
    if (!nb::try_cast(item[0], key)) throw InputError("load_state_dict: every key must be a str");
    state.push_back({key, state_tensor(item[1], key)});
  }
  std::lock_guard lock(m.mutex);
  return load_state_dict(*m.module, state, strict, "state_dict");
}

}  // namespace

nb::class_<Model> bind_model(nb::module_& m) {
  nb::class_<LoadReport>(m, "LoadResult",
                         "What load_state_dict(strict=False) could not load (torch's _IncompatibleKeys).")
      .def_ro("missing_keys", &LoadReport::missing)
      .def_ro("unexpected_keys", &LoadReport::unexpected)
      .def_ro("mismatched_keys", &LoadReport::mismatched)
      .def("__repr__", [](const LoadReport& r) {
        return fmt::format("LoadResult(missing_keys={}, unexpected_keys={}, mismatched_keys={})",
                           r.missing.size(), r.unexpected.size(), r.mismatched.size());
      });

  return nb::class_<Model>(m, "Model", "A ResNet or U-Net of resnet.cpp, with torch.nn.Module's conventions.")
      .def("__call__", &call, "x"_a,
           "x: float32 [N, C, H, W] (NumPy or a DLPack tensor) -> NumPy logits [N, classes] (a U-Net's: "
           "[N, classes, H, W]). The layer-by-layer forward of the current mode (eval(): running BN "
           "statistics).")
      .def("features", &features, "x"_a, "stages"_a = nb::none(),
           "The outputs of backbone stages ('stem', 'layer1'..'layer4'; default: all) as NCHW float32 "
           "arrays, by stage.")
      .def(
          "eval", [](nb::handle self) { return set_mode(self, false); }, nb::sig("def eval(self) -> Model"),
          "Eval mode (batch norm uses its running statistics); returns self.")
      .def(
          "train", [](nb::handle self, bool mode) { return set_mode(self, mode); }, "mode"_a = true,
          nb::sig("def train(self, mode: bool = True) -> Model"), "Train mode; returns self.")
      .def_prop_ro("training", [](Model& m) { return m.module->is_training(); })
      .def_prop_ro("arch", [](Model& m) { return m.arch; })
      .def_prop_ro("num_classes", &Model::num_classes)
      .def_prop_ro("in_channels", &Model::in_channels)
      .def("state_dict", &state_dict,
           "Parameters and buffers by torchvision's names, as NumPy arrays that share the model's memory "
           "(as torch's state_dict()).")
      .def(
          "load_state_dict", &load, "state_dict"_a, "strict"_a = true,
          "Copies tensors (NumPy arrays, torch tensors or anything with __array__) into the model. strict: a "
          "missing, unexpected or mis-shaped tensor raises ValueError listing each.")
      .def("__repr__", [](Model& m) { return module_repr(*m.module); });
}

}  // namespace resnet::python
