// The MPI communicator: MPI_COMM_WORLD, sums with MPI_Allreduce / MPI_Iallreduce. MPI's default error
// handler (MPI_ERRORS_ARE_FATAL) stays: a failed collective ends the job, and mpirun ends every rank when
// one dies.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <utility>
#include <vector>

#include "resnet/error.h"
#include "train/distributed.h"

namespace resnet {
namespace {

// MPI counts are int: larger buffers go in chunks.
constexpr int64_t kMaxCount = INT_MAX / 2;

// Open MPI's non-blocking all-reduce (coll/libnbc) picks the binomial tree for fewer than 4 ranks and for
// every in-place sum: the whole buffer is copied into a fresh temporary inside MPI_Iallreduce (a serial
// ~40-80 ms for resnet18's 34 MB bucket, in the middle of backward), sent to rank 0, summed there alone and
// sent back. The ring (libnbc algorithm 1) starts at once, moves half as many bytes per rank and splits the
// summing evenly (docs/BENCHMARKS.md "Distributed training"). Set before MPI_Init, unless the user chose
// (mpirun --mca coll_libnbc_iallreduce_algorithm N, or the variable itself); other MPIs ignore it.
void prefer_ring_iallreduce() {
  setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", /*overwrite=*/0);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      prefer_ring_iallreduce();
      MPI_Init(nullptr, nullptr);
    }
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

  int64_t start_allreduce_sum(float* data, int64_t n) override {
    first_request_.push_back(requests_.size());
    for (int64_t done = 0; done < n; done += kMaxCount) {
      MPI_Request request;
      MPI_Iallreduce(MPI_IN_PLACE, data + done, int(std::min(kMaxCount, n - done)), MPI_FLOAT, MPI_SUM,
                     MPI_COMM_WORLD, &request);
      requests_.push_back(request);
    }
    return int64_t(first_request_.size()) - 1;
  }
  // A completed request becomes MPI_REQUEST_NULL (MPI_Testsome / MPI_Waitall set it so).
  void progress() override {
    if (requests_.empty()) return;
    int count = 0;
    indices_.resize(requests_.size());
    MPI_Testsome(int(requests_.size()), requests_.data(), &count, indices_.data(), MPI_STATUSES_IGNORE);
  }
  bool completed(int64_t sum) const override {
    const auto [first, last] = requests_of(sum);
    return std::all_of(requests_.begin() + ptrdiff_t(first), requests_.begin() + ptrdiff_t(last),
                       [](MPI_Request r) { return r == MPI_REQUEST_NULL; });
  }
  void wait(int64_t sum) override {
    const auto [first, last] = requests_of(sum);
    MPI_Waitall(int(last - first), requests_.data() + first, MPI_STATUSES_IGNORE);
  }
  void wait_all() override {
    if (requests_.empty()) return;
    MPI_Waitall(int(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
    requests_.clear();
    first_request_.clear();
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

  // The requests of started sum `sum`: requests_[first, last).
  std::pair<size_t, size_t> requests_of(int64_t sum) const {
    const size_t i = size_t(sum);
    return {first_request_.at(i), i + 1 < first_request_.size() ? first_request_[i + 1] : requests_.size()};
  }

  int rank_ = 0, size_ = 1;
  std::vector<MPI_Request> requests_;  // of the sums started since the last wait_all()
  std::vector<size_t> first_request_;  // per started sum
  std::vector<int> indices_;           // MPI_Testsome's output
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
