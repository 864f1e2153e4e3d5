// Rank 0's state to every rank at the start of a data-parallel run: the model's parameters and buffers (a
// fresh init, --init-weights or a resumed checkpoint: every rank starts from the same weights even when only
// rank 0 can read the files) and the optimizer's state of a resumed run.
#pragma once

#include "core/communicator.h"
#include "resnet/module.h"

namespace resnet {

// Every tensor of `tensors` (the same names and shapes on every rank: the model's state_dict) takes root's
// values, in place.
void broadcast_tensors(Communicator& comm, const StateDict& tensors, int root = 0);

// Root's `state` (any names, dtypes and shapes: an optimizer's state_dict) on every rank; the return value.
StateDict broadcast_state_dict(Communicator& comm, const StateDict& state, int root = 0);

}  // namespace resnet
