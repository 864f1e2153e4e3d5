// The MPI communicator: MPI_COMM_WORLD, sums with MPI_Allreduce / MPI_Iallreduce. MPI's default error
// handler (MPI_ERRORS_ARE_FATAL) stays: a failed collective ends the job, and mpirun ends every rank when
// one dies.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <vector>

#include "resnet/error.h"
#include "train/distributed.h"

namespace resnet {
namespace {

// MPI counts are int: larger buffers go in chunks.
constexpr int64_t kMaxCount = INT_MAX / 2;

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) MPI_Init(nullptr, nullptr);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCommunicator() override {
    wait_all();
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void allreduce_sum(double* data, int64_t n) override { sum(data, n, MPI_DOUBLE); }
  void allreduce_sum(float* data, int64_t n) override { sum(data, n, MPI_FLOAT); }

  void broadcast(void* data, int64_t bytes, int root) override {
    char* p = static_cast<char*>(data);
    for (int64_t done = 0; done < bytes; done += kMaxCount) {
      MPI_Bcast(p + done, int(std::min(kMaxCount, bytes - done)), MPI_BYTE, root, MPI_COMM_WORLD);
    }
  }

  void start_allreduce_sum(float* data, int64_t n) override {
    for (int64_t done = 0; done < n; done += kMaxCount) {
      MPI_Request request;
      MPI_Iallreduce(MPI_IN_PLACE, data + done, int(std::min(kMaxCount, n - done)), MPI_FLOAT, MPI_SUM,
                     MPI_COMM_WORLD, &request);
      pending_.push_back(request);
    }
  }
  void progress() override {
    if (pending_.empty()) return;
    int done = 0;
    MPI_Testall(int(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE);
    if (done) pending_.clear();
  }
  void wait_all() override {
    if (pending_.empty()) return;
    MPI_Waitall(int(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
    pending_.clear();
  }

  [[noreturn]] void abort(int status) override {
    MPI_Abort(MPI_COMM_WORLD, status);
    std::exit(status);  // MPI_Abort does not return; this satisfies [[noreturn]]
  }

 private:
  template <class T>
  void sum(T* data, int64_t n, MPI_Datatype type) {
    for (int64_t done = 0; done < n; done += kMaxCount) {
      MPI_Allreduce(MPI_IN_PLACE, data + done, int(std::min(kMaxCount, n - done)), type, MPI_SUM,
                    MPI_COMM_WORLD);
    }
  }

  int rank_ = 0, size_ = 1;
  std::vector<MPI_Request> pending_;
};

}  // namespace

bool built_with_mpi() {
  return true;
}

std::unique_ptr<Communicator> launch_communicator() {
  if (launched_ranks() <= 1) return std::make_unique<SingleProcessCommunicator>();
  return std::make_unique<MpiCommunicator>();
}

}  // namespace resnet
