// SIGINT and SIGTERM during a long command (`resnet train`): the first one only raises a flag that the work
// polls between steps, so it stops at a clean point (nothing half-written) and exits 130 / 143 (128 + the
// signal, as a shell reports a process killed by it). The handler is installed with SA_RESETHAND, so a second
// signal takes the default action and ends the process at once, as kill -9 would: files are written to a
// temp name and renamed, so that too leaves every committed file whole.
#pragma once

#include <csignal>

namespace resnet::cli {

class StopSignals {
 public:
  StopSignals();   // installs the handlers of SIGINT and SIGTERM
  ~StopSignals();  // restores the ones before
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The first signal received since construction (SIGINT or SIGTERM), 0 if none.
  int received() const;
  // "SIGINT" or "SIGTERM".
  static const char* name(int signal);
  // 128 + signal: 130 for SIGINT, 143 for SIGTERM.
  static int exit_status(int signal) { return 128 + signal; }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace resnet::cli
