// The files of a run folder that grow while training: metrics.jsonl (one JSON object per
// logged step or evaluation), train.log (the same events as plain text) and loss.png (train
// and eval loss against step, drawn by gnuplot at each evaluation).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fq {

class RunLog {
 public:
  // Opens the files in `run_dir`. metrics.jsonl is rewritten from `history` (the records kept
  // in the checkpoint being resumed, or empty for a new run), so records a killed run wrote after
  // its last checkpoint disappear and the resumed run logs exactly what an uninterrupted run
  // would have.
  RunLog(const std::string& run_dir, const std::vector<std::string>& history);
  ~RunLog();
  RunLog(const RunLog&) = delete;
  RunLog& operator=(const RunLog&) = delete;

  // Appends one record to metrics.jsonl and to the history.
  void add_metrics(const nlohmann::json& record);
  // Appends a line of text to train.log (a newline is added).
  void add_text(const std::string& line);
  // Redraws loss.png from the history; a missing gnuplot is reported once, not fatal.
  void plot();

  const std::vector<std::string>& history() const { return history_; }

 private:
  std::string dir_;
  std::FILE* metrics_ = nullptr;
  std::FILE* text_ = nullptr;
  std::vector<std::string> history_;
  bool gnuplot_warned_ = false;
};

}  // namespace fq
