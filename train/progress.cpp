#include "train/progress.h"

#include <cmath>
#include <cstdio>
#include <unistd.h>

namespace fq {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
  long s = static_cast<long>(seconds + 0.5);
  char buf[64];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lds", s);
  }
  return buf;
}

ProgressPrinter::ProgressPrinter(double plain_interval_seconds)
    : terminal_(isatty(STDERR_FILENO) == 1), plain_interval_(plain_interval_seconds) {}

void ProgressPrinter::update(const ProgressState& state, bool force) {
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  double interval = terminal_ ? 0.25 : plain_interval_;
  if (printed_once_ && !force && since < interval) return;
  last_print_ = now;
  printed_once_ = true;

  char micro[48] = "";
  if (state.micro_batches > 1) {
    std::snprintf(micro, sizeof(micro), " micro %lld/%lld",
                  static_cast<long long>(state.micro_batch),
                  static_cast<long long>(state.micro_batches));
  }
  char loss[32];
  if (std::isnan(state.loss)) {
    std::snprintf(loss, sizeof(loss), "-");
  } else {
    std::snprintf(loss, sizeof(loss), "%.4f", state.loss);
  }
  char line[256];
  std::snprintf(line, sizeof(line), "step %lld/%lld%s | loss %s | lr %.3e | %.0f tokens/s | ETA %s",
                static_cast<long long>(state.step), static_cast<long long>(state.max_steps), micro,
                loss, state.learning_rate, state.tokens_per_second,
                format_duration(state.eta_seconds).c_str());
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s", line);
    line_open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

void ProgressPrinter::finish_line() {
  if (line_open_) {
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
    line_open_ = false;
  }
}

}  // namespace fq
