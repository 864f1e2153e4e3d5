// Plan: m.compile(dtype, batch) -- an InferencePlan for one input shape (BN folded, fused, oneDNN layouts).
// Calls release the GIL and may come from many Python threads at once: each takes its own activation memory
// from the plan (resnet/plan.h, "Concurrency") and gives the bits of the same call made alone.
#include "resnet/plan.h"

#include <fmt/format.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include "arrays.h"
#include "bindings.h"
#include "dnnl/ops.h"
#include "resnet/calibration.h"
#include "resnet/error.h"
#include "resnet/zoo.h"

namespace resnet::python {

using namespace nb::literals;

namespace {

struct Plan {
  InferencePlan plan;
  std::string arch;
  bool unet = false;
  int64_t in_channels = 3;
  // oneDNN partitions work for the thread count at compile time: every call runs with that count.
  int threads = 1;
};

std::shared_ptr<const Int8Calibration> calibrate(Model& m, nb::handle calibration) {
  if (calibration.is_none()) {
    throw InputError(fmt::format(
        "{}.compile(dtype='int8'): int8 needs calibration images: calibration=<float32 [N, {}, H, W] array>",
        m.arch, m.in_channels()));
  }
  const Tensor images = nchw_input(calibration, m.in_channels(), "calibration");
  nb::gil_scoped_release release;
  Calibrator calibrator(*m.resnet, {.method = CalibrationMethod::minmax});
  calibrator.observe(images);
  return std::make_shared<const Int8Calibration>(calibrator.finish());
}

std::unique_ptr<Plan> compile(Model& m, const std::string& dtype, int64_t batch, std::optional<int64_t> size,
                              nb::handle calibration, bool winograd, int64_t sub_batch) {
  const Precision precision = parse_precision(dtype, "dtype");
  if (batch < 1) throw InputError(fmt::format("batch={}: expected at least 1", batch));
  const int64_t side = size.value_or(m.unet ? 224 : zoo_default_image_size(m.arch));
  if (side < 1) throw InputError(fmt::format("size={}: expected at least 1", side));
  PlanOptions options{.sub_batch = sub_batch, .winograd = winograd};
  if (precision == Precision::int8) {
    if (m.unet) throw InputError(fmt::format("{}: a U-Net plan is f32 or bf16", m.arch));
    options.int8 = calibrate(m, calibration);
  }
  options.input_layout = ImageLayout::nchw;  // NumPy's NCHW buffer goes to the plan as it is
  const Shape shape = {batch, m.in_channels(), side, side};
  nb::gil_scoped_release release;
  std::lock_guard lock(m.mutex);
  InferencePlan plan = m.unet ? InferencePlan::compile(*m.unet, precision, shape, options)
                              : InferencePlan::compile(*m.resnet, precision, shape, options);
  return std::make_unique<Plan>(
      Plan{std::move(plan), m.arch, m.unet != nullptr, m.in_channels(), ops::num_threads()});
}

NumpyArray run(Plan& p, nb::handle x) {
  const nb::ndarray<nb::ro> images = nchw_array(x, p.in_channels, "plan(x)");
  const Shape shape = {int64_t(images.shape(0)), int64_t(images.shape(1)), int64_t(images.shape(2)),
                       int64_t(images.shape(3))};
  if (shape != p.plan.input_shape()) {
    throw InputError(fmt::format("plan(x): this plan was compiled for {} (NCHW), x is {}",
                                 shape_str(p.plan.input_shape()), shape_str(shape)));
  }
  Tensor out = Tensor::empty(p.plan.output_shape());
  {
    nb::gil_scoped_release release;
    Tensor contiguous;  // only for a transposed or sliced x
    const float* data = static_cast<const float*>(images.data());
    if (!is_c_contiguous(images)) {
      contiguous = Tensor::empty(shape);
      copy_in_logical_order(images, sizeof(float), contiguous.data());
      data = contiguous.f32();
    }
    ops::set_num_threads(p.threads);
    p.plan.run(data, out);
  }
  return p.unet ? numpy_nchw(out) : numpy_view(std::move(out));
}

}  // namespace

void bind_plan(nb::module_& m, nb::class_<Model>& model_class) {
  nb::class_<Plan>(m, "Plan",
                   "A model compiled for one input shape (Model.compile); callable from many threads.")
      .def("__call__", &run, "x"_a,
           "x: float32 [N, C, H, W] of input_shape -> NumPy logits [N, classes] (a U-Net's [N, classes, H, "
           "W]).")
      .def_prop_ro(
          "input_shape", [](Plan& p) { return p.plan.input_shape(); }, "NCHW")
      .def_prop_ro("dtype", [](Plan& p) { return std::string(precision_name(p.plan.precision())); })
      .def_prop_ro(
          "threads", [](Plan& p) { return p.threads; }, "OpenMP threads of every call")
      .def(
          "describe", [](Plan& p) { return p.plan.describe(); }, "One line per oneDNN primitive.")
      .def("__repr__", [](Plan& p) {
        return fmt::format("Plan({}, dtype={}, input_shape={})", p.arch, precision_name(p.plan.precision()),
                           shape_str(p.plan.input_shape()));
      });

  // Model.compile is defined here, beside the class it returns.
  model_class.def(
      "compile", &compile, "dtype"_a = "f32", "batch"_a = 1, "size"_a = nb::none(), nb::kw_only(),
      "calibration"_a = nb::none(), "winograd"_a = true, "sub_batch"_a = 0,
      "Compiles an InferencePlan for input [batch, C, size, size] (size: 224 ImageNet family, 32 CIFAR). "
      "dtype: 'f32' | 'bf16' | 'int8' (int8: calibration= float32 NCHW images, min-max scales).");
}

}  // namespace resnet::python
