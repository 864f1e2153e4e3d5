// The collectives a data-parallel run needs, behind one small interface, so that the layers (SyncBatchNorm in
// src/nn/batchnorm2d.cpp) and the trainer never see MPI: the single-process implementation here does nothing,
// the MPI one (src/train/distributed/mpi_communicator.cpp) is made by launch_communicator()
// (src/train/distributed.h).
//
// Every rank calls the collectives in the same order (the same code path on the same data shapes); sums are
// in place.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace resnet {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;  // 0..size()-1
  virtual int size() const = 0;  // ranks in the run

  // data[0..n) = the element-wise sum over the ranks (blocking).
  virtual void allreduce_sum(double* data, int64_t n) = 0;
  virtual void allreduce_sum(float* data, int64_t n) = 0;
  // bytes of `root`'s data into every rank's (blocking).
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;

  // Starts a non-blocking in-place sum of data[0..n) (the buffer must stay alive until wait_all()); returns
  // its number: 0, 1, ... since the last wait_all().
  virtual int64_t start_allreduce_sum(float* data, int64_t n) = 0;
  // Lets the started sums advance without waiting (Open MPI progresses only inside its calls).
  virtual void progress() = 0;
  // Whether started sum number `sum` is complete (as of the last progress() or wait).
  virtual bool completed(int64_t sum) const = 0;
  // Waits for started sum number `sum`.
  virtual void wait(int64_t sum) = 0;
  // Waits for every started sum.
  virtual void wait_all() = 0;

  // Ends every rank of the run with exit status `status` (after this rank printed why): a rank that fails
  // alone must not leave the others waiting in a collective.
  [[noreturn]] virtual void abort(int status) = 0;
};

// One process: size 1, every collective a no-op.
class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(double*, int64_t) override {}
  void allreduce_sum(float*, int64_t) override {}
  void broadcast(void*, int64_t, int) override {}
  int64_t start_allreduce_sum(float*, int64_t) override { return 0; }
  void progress() override {}
  bool completed(int64_t) const override { return true; }
  void wait(int64_t) override {}
  void wait_all() override {}
  [[noreturn]] void abort(int status) override { std::exit(status); }
};

}  // namespace resnet
