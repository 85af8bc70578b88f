// Progress line on stderr for long jobs: step, loss, learning rate, tokens/s and ETA.
// On a terminal one line is redrawn in place; otherwise plain lines are printed, at most one per
// `plain_interval_seconds` (plus forced lines), so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace fq {

struct ProgressState {
  int64_t step = 0;        // optimizer steps completed
  int64_t max_steps = 0;
  int64_t micro_batch = 0;  // micro-batches done in the current step
  int64_t micro_batches = 1;
  double loss = 0.0;        // last logged loss (NaN before the first)
  double learning_rate = 0.0;
  double tokens_per_second = 0.0;
  double eta_seconds = -1.0;  // < 0: unknown
};

class ProgressPrinter {
 public:
  explicit ProgressPrinter(double plain_interval_seconds = 10.0);
  // Prints when enough time has passed since the last line, or when `force` is set.
  void update(const ProgressState& state, bool force = false);
  // Ends the redrawn terminal line so that ordinary messages start on a fresh line.
  void finish_line();
  bool is_terminal() const { return terminal_; }

 private:
  bool terminal_;
  bool line_open_ = false;
  double plain_interval_;
  std::chrono::steady_clock::time_point last_print_;
  bool printed_once_ = false;
};

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace fq
