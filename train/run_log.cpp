#include "train/run_log.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sys/wait.h>

#include "core/check.h"

namespace fq {

namespace {
std::FILE* open_or_throw(const std::string& path, const char* mode) {
  std::FILE* f = std::fopen(path.c_str(), mode);
  FQ_CHECK(f != nullptr, "run log: cannot open '" << path << "': " << std::strerror(errno)
                                                   << "; set train.output_dir to a writable "
                                                      "folder");
  return f;
}

// Flushes `f` and throws when that or an earlier write to it failed, so that a full disk stops
// the run with a message instead of silently dropping log lines.
void flush_or_throw(std::FILE* f, const std::string& path) {
  errno = 0;
  const bool failed = std::fflush(f) != 0 || std::ferror(f) != 0;
  const int error_number = errno;
  FQ_CHECK(!failed, "run log: writing '" << path << "' failed: "
                                         << (error_number != 0 ? std::strerror(error_number)
                                                               : "write error")
                                         << "; free disk space and resume with --resume auto "
                                            "(the checkpoints written so far are intact)");
}
}  // namespace

RunLog::RunLog(const std::string& run_dir, const std::vector<std::string>& history)
    : dir_(run_dir), history_(history) {
  metrics_ = open_or_throw(dir_ + "/metrics.jsonl", "w");
  for (const std::string& line : history_) std::fprintf(metrics_, "%s\n", line.c_str());
  flush_or_throw(metrics_, dir_ + "/metrics.jsonl");
  text_ = open_or_throw(dir_ + "/train.log", "a");
}

RunLog::~RunLog() {
  if (metrics_) std::fclose(metrics_);
  if (text_) std::fclose(text_);
}

void RunLog::add_metrics(const nlohmann::json& record) {
  std::string line = record.dump();
  history_.push_back(line);
  std::fprintf(metrics_, "%s\n", line.c_str());
  flush_or_throw(metrics_, dir_ + "/metrics.jsonl");
}

void RunLog::add_text(const std::string& line) {
  std::fprintf(text_, "%s\n", line.c_str());
  flush_or_throw(text_, dir_ + "/train.log");
}

void RunLog::plot() {
  std::string train_path = dir_ + "/loss_train.dat";
  std::string eval_path = dir_ + "/loss_eval.dat";
  bool have_eval = false;
  {
    std::ofstream train(train_path), eval(eval_path);
    for (const std::string& line : history_) {
      nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
      if (!record.is_object() || !record.contains("step")) continue;
      if (record.contains("loss")) train << record["step"] << ' ' << record["loss"] << '\n';
      if (record.contains("eval_loss")) {
        eval << record["step"] << ' ' << record["eval_loss"] << '\n';
        have_eval = true;
      }
    }
  }
  std::string script = dir_ + "/loss.gp";
  {
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 900,540 noenhanced\n"
       << "set output '" << dir_ << "/loss.png'\n"
       << "set xlabel 'optimizer step'\nset ylabel 'masked-LM loss'\nset grid\n"
       << "set key top right\n"
       << "plot '" << train_path << "' using 1:2 with lines title 'train'";
    if (have_eval) gp << ", '" << eval_path << "' using 1:2 with linespoints title 'eval'";
    gp << '\n';
  }
  std::string command = "gnuplot '" + script + "' 2>/dev/null";
  int status = std::system(command.c_str());
  if (status != 0 && !gnuplot_warned_) {
    gnuplot_warned_ = true;
    add_text("warning: gnuplot failed (exit status " + std::to_string(WEXITSTATUS(status)) +
             "); loss.png is not updated. Install it with: apt-get install gnuplot-nox");
    std::fprintf(stderr, "flashquad: warning: gnuplot failed; loss.png is not updated "
                         "(install gnuplot-nox)\n");
  }
}

}  // namespace fq
