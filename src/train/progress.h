// A progress line for a loop over batches, on stderr: loss, accuracy, images/s and ETA.
// On a terminal it is one line redrawn in place (at most 10 times a second) and erased by finish(); otherwise
// a plain line every 10 seconds and one at the end, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace resnet {

class ProgressBar {
 public:
  // label: "epoch 3/10"; total: batches in the loop. enabled = false prints nothing.
  ProgressBar(std::ostream& out, bool enabled, std::string label, int64_t total);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // After batch `done` (1-based) of `total`: images so far, and the running loss and accuracy (fraction);
  // a negative loss omits loss and accuracy.
  void update(int64_t done, int64_t images, double loss, double accuracy);
  // Erases the terminal line (or prints the last plain line).
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  std::string render(bool with_bar) const;

  std::ostream& out_;
  bool enabled_;
  bool tty_;
  std::string label_;
  int64_t total_;
  int64_t done_ = 0, images_ = 0;
  double loss_ = -1.0, accuracy_ = 0.0;
  Clock::time_point start_, last_draw_;
  bool drawn_ = false;
  bool finished_ = false;
};

// Whether stderr is a terminal (and TERM is not "dumb").
bool stderr_is_terminal();

}  // namespace resnet
