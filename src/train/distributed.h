// Launching a data-parallel run: which process of `mpirun -np K` this is, and its Communicator
// (core/communicator.h). The MPI code is in src/train/distributed/mpi_communicator.cpp, built when CMake
// finds MPI; without it, src/train/distributed/no_mpi.cpp refuses a multi-rank launch. Nothing else includes
// <mpi.h>.
#pragma once

#include <memory>

#include "core/communicator.h"

namespace resnet {

// The number of processes the launcher started this one among: Open MPI's OMPI_COMM_WORLD_SIZE, else the
// PMI_SIZE of MPICH-style launchers; 1 when started without a launcher (or by `mpirun -np 1`).
int launched_ranks();

// This process's communicator: single-process when launched_ranks() == 1; else the MPI world (MPI_Init here,
// MPI_Finalize when it is destroyed). A build without MPI throws InputError for a multi-rank launch.
std::unique_ptr<Communicator> launch_communicator();

// Whether this build can run across ranks (MPI found at configure time).
bool built_with_mpi();

}  // namespace resnet
