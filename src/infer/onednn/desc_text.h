// oneDNN memory descriptors as the plan describes them: "32x64x56x56:f32:aBcd16b" (logical dims, data type,
// layout).
#pragma once

#include <dnnl.hpp>
#include <string>

namespace resnet::infer {

// dims:type:layout, the layout in oneDNN's letters: logical dims a, b, c, ... outermost first, upper case
// when blocked, then the inner blocks ("acdb" is NHWC, "aBcd16b" is nChw16c); "opaque" when not blocked.
std::string desc_text(const dnnl::memory::desc& md);

}  // namespace resnet::infer
