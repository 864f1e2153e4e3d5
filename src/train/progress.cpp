#include "train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ostream>

namespace resnet {
namespace {

constexpr double kTerminalRedrawSeconds = 0.1;
constexpr double kPlainLineSeconds = 10.0;
constexpr int kBarWidth = 24;

// 83 -> "1:23", 3725 -> "1:02:05".
std::string clock_time(double seconds) {
  const int64_t s = std::max<int64_t>(0, int64_t(seconds + 0.5));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

bool stderr_is_terminal() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDERR_FILENO) == 1 && !(term != nullptr && std::strcmp(term, "dumb") == 0);
}

ProgressBar::ProgressBar(std::ostream& out, bool enabled, std::string label, int64_t total)
    : out_(out),
      enabled_(enabled && total > 0),
      tty_(stderr_is_terminal()),
      label_(std::move(label)),
      total_(total),
      start_(Clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  finish();
}

std::string ProgressBar::render(bool with_bar) const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  std::string line = label_;
  if (with_bar) {
    const int filled = int(kBarWidth * done_ / std::max<int64_t>(1, total_));
    line += fmt::format(" [{}{}]", std::string(size_t(filled), '#'),
                        std::string(size_t(kBarWidth - filled), '.'));
  }
  const int width = int(std::to_string(total_).size());
  line += fmt::format(" {:>{}}/{}", done_, width, total_);
  if (loss_ >= 0) line += fmt::format("  loss {:.4f}  acc {:6.2f}%", loss_, 100.0 * accuracy_);
  if (elapsed > 0 && images_ > 0) {
    line += fmt::format("  {:.0f} img/s", double(images_) / elapsed);
    const double eta = done_ > 0 ? elapsed * double(total_ - done_) / double(done_) : 0.0;
    line +=
        done_ < total_ ? fmt::format("  ETA {}", clock_time(eta)) : fmt::format("  {}", clock_time(elapsed));
  }
  return line;
}

void ProgressBar::update(int64_t done, int64_t images, double loss, double accuracy) {
  if (!enabled_ || finished_) return;
  done_ = done;
  images_ = images;
  loss_ = loss;
  accuracy_ = accuracy;
  const Clock::time_point now = Clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (tty_) {
    if (since < kTerminalRedrawSeconds && done_ < total_ && drawn_) return;
    out_ << "\r\033[K" << render(true) << std::flush;
  } else {
    if (since < kPlainLineSeconds) return;
    out_ << render(false) << "\n" << std::flush;
  }
  drawn_ = true;
  last_draw_ = now;
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  if (tty_) {
    if (drawn_) out_ << "\r\033[K" << std::flush;
  } else if (drawn_) {
    out_ << render(false) << "\n" << std::flush;  // only when a line was printed: short loops stay silent
  }
}

}  // namespace resnet
