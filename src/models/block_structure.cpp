#include "models/block_structure.h"

#include "resnet/error.h"

namespace resnet {

Module* BlockStructure::shortcut_module() const {
  Module* module = nullptr;
  switch (shortcut) {
    case ShortcutKind::identity:
    case ShortcutKind::none:
      return nullptr;
    case ShortcutKind::projection:
      module = downsample;
      break;
    case ShortcutKind::zero_pad:
      module = zero_pad;
      break;
  }
  // A block kind's constructor that names a shortcut kind without its module (no block to name here).
  if (module == nullptr)
    throw InternalError("BlockStructure: a projection or zero_pad shortcut without its module");
  return module;
}

bool BlockStructure::describes(const Module& module) const {
  const Module* m = &module;
  for (const BranchStage& stage : branch) {
    if (m == stage.conv || m == stage.bn || m == stage.relu) return true;
  }
  return m == dropout || m == shortcut_module() || m == output_relu;
}

}  // namespace resnet
