// A build without MPI (CMake found none): one process only; a multi-rank launch is refused in one line.
#include <fmt/format.h>

#include "resnet/error.h"
#include "train/distributed.h"

namespace resnet {

bool built_with_mpi() {
  return false;
}

std::unique_ptr<Communicator> launch_communicator() {
  if (const int ranks = launched_ranks(); ranks > 1) {
    throw InputError(fmt::format(
        "launched as one of {} ranks, but this resnet was built without MPI: install libopenmpi-dev "
        "(scripts/bootstrap.sh does) and rebuild, or run a single process",
        ranks));
  }
  return std::make_unique<SingleProcessCommunicator>();
}

}  // namespace resnet
