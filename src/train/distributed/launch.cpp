// launched_ranks(): the launcher's environment, the same with or without MPI in the build.
#include <cstdlib>
#include <string>

#include "train/distributed.h"

namespace resnet {

int launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
      const int ranks = std::atoi(value);
      if (ranks > 0) return ranks;
    }
  }
  return 1;
}

}  // namespace resnet
