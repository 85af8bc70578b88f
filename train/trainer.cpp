#include "train/trainer.h"

#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <system_error>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "core/random.h"
#include "data/dataset.h"
#include "nn/model.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "optim/lr_schedule.h"
#include "train/atomic_file.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/model_loading.h"
#include "train/progress.h"
#include "train/run_log.h"
#include "train/signals.h"

namespace fq {

namespace {

using Clock = std::chrono::steady_clock;

// Loss and accuracy sums over the optimizer steps since the last logged record. They live in
// checkpoints (as exact hexadecimal floats), so a resumed run logs the same means.
struct LogWindow {
  double loss_sum = 0.0;  // sum over steps of each step's loss
  int64_t steps = 0;
  int64_t correct = 0;    // masked targets predicted right
  int64_t targets = 0;
};

std::string exact_double(double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%a", value);
  return buf;
}

double parse_exact_double(const std::string& text, const char* what) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  FQ_CHECK(end != text.c_str() && *end == '\0',
           "checkpoint: trainer field " << what << " = '" << text << "' is not a number");
  return value;
}

std::string extra_or(const CheckpointState& state, const std::string& key,
                     const std::string& fallback) {
  auto it = state.extra.find(key);
  return it == state.extra.end() ? fallback : it->second;
}

// Counts targets whose arg-max logit is the label. `target_logits` contains one row per label in
// `labels` that is not -100, in order.
int64_t count_correct(const Tensor& target_logits, const Tensor& labels) {
  if (!target_logits.defined()) return 0;
  const int64_t vocab = target_logits.size(-1);
  const float* logits = target_logits.data();
  const int32_t* label = labels.ids();
  int64_t row = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < labels.numel(); ++i) {
    if (label[i] == -100) continue;
    FQ_INTERNAL(row < target_logits.numel() / vocab, "count_correct: fewer logit rows than labels");
    const float* r = logits + row * vocab;
    int64_t best = 0;
    for (int64_t j = 1; j < vocab; ++j) {
      if (r[j] > r[best]) best = j;
    }
    correct += best == label[i];
    ++row;
  }
  return correct;
}

// `text` quoted for a POSIX shell when it contains anything but plain path and option characters.
std::string shell_quote(const std::string& text) {
  const bool plain = !text.empty() && text.find_first_not_of(
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789_./=:,+-@%") == std::string::npos;
  if (plain) return text;
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The command that continues `run`: the same config file and --set overrides plus
// --resume auto, so that it finds the same run folder. Adds the make equivalent when the
// config is configs/NAME.json.
std::string resume_command(const RunConfig& run) {
  std::string command = "flashquad train --config " + shell_quote(run.source);
  std::string make_set;
  for (const std::string& o : run.overrides) {
    command += " --set " + shell_quote(o);
    make_set += (make_set.empty() ? "" : " ") + o;
  }
  command += " --resume auto";
  if (run.source == "configs/" + run.name + ".json") {
    command += "   (or: make train CONFIG=" + run.name + " RESUME=auto";
    if (!make_set.empty()) command += " SET=" + shell_quote(make_set);
    command += ")";
  }
  return command;
}

// The whole mutable state of a run, as saved in checkpoints.
struct RunState {
  int64_t step = 0;          // optimizer steps completed
  uint64_t cursor = 0;       // global index of the next training sequence
  LogWindow window;
  double elapsed = 0.0;      // training seconds before this process, from the checkpoint
  double last_finite_loss = std::numeric_limits<double>::quiet_NaN();
  int64_t last_finite_step = 0;
  int64_t last_saved_step = -1;
};

class Trainer {
 public:
  Trainer(const RunConfig& run, const TrainOptions& options);
  int run();

 private:
  void prepare_run_dir();
  void start_or_resume();
  bool train_one_step();  // false when a stop signal abandoned the step
  void log_step(double lr, double grad_norm);
  void run_evaluation();
  void save();
  std::string now_text() const;
  double elapsed_seconds() const;

  const RunConfig& run_;
  TrainOptions options_;
  const TrainConfig& tc_;
  std::string run_dir_;

  std::optional<MlmDataset> train_data_;
  std::optional<MlmDataset> valid_data_;
  std::unique_ptr<FlashQuadForMaskedLM> model_;
  std::vector<NamedParameter> params_;
  std::unique_ptr<AdamW> optimizer_;
  LrSchedule schedule_;
  std::unique_ptr<RunLog> log_;
  ProgressPrinter progress_;
  ProgressState progress_state_;

  RunState state_;
  Clock::time_point process_start_;
  // Fault injection for the resume tests, from the environment (see read_test_hooks).
  int64_t kill_after_save_step_ = -1;
  int64_t sigterm_step_ = -1;
  int64_t sigterm_micro_ = -1;
  int64_t sigterm_eval_step_ = -1;
  int64_t tokens_this_process_ = 0;
  int64_t micro_batches_this_process_ = 0;
  double last_lr_ = 0.0;
  double last_grad_norm_ = 0.0;
};

Trainer::Trainer(const RunConfig& run, const TrainOptions& options)
    : run_(run), options_(options), tc_(run.train), run_dir_(run.train.output_dir) {
  // Test hooks that deliver real signals at exact points, so the resume tests do not depend on
  // timing: FLASHQUAD_TEST_KILL_AFTER_SAVE=N sends SIGKILL to this process right after the
  // checkpoint of step N is written; FLASHQUAD_TEST_SIGTERM_AT=S:M sends SIGTERM after micro-batch
  // M (1-based) of step S (1-based), inside that step; FLASHQUAD_TEST_SIGTERM_EVAL=S sends it as
  // the evaluation after step S starts.
  if (const char* eval_step = std::getenv("FLASHQUAD_TEST_SIGTERM_EVAL")) {
    sigterm_eval_step_ = std::atoll(eval_step);
  }
  if (const char* kill_step = std::getenv("FLASHQUAD_TEST_KILL_AFTER_SAVE")) {
    kill_after_save_step_ = std::atoll(kill_step);
  }
  if (const char* term = std::getenv("FLASHQUAD_TEST_SIGTERM_AT")) {
    long long step = -1;
    long long micro = -1;
    if (std::sscanf(term, "%lld:%lld", &step, &micro) == 2) {
      sigterm_step_ = step;
      sigterm_micro_ = micro;
    }
  }
}

std::string Trainer::now_text() const {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

double Trainer::elapsed_seconds() const {
  return state_.elapsed + std::chrono::duration<double>(Clock::now() - process_start_).count();
}

void Trainer::prepare_run_dir() {
  std::error_code ec;
  std::filesystem::create_directories(run_dir_, ec);
  FQ_CHECK(!ec, "train: cannot create the run folder '" << run_dir_ << "': " << ec.message()
                                                        << "; set train.output_dir to a writable "
                                                           "folder");
  std::vector<CheckpointFile> existing = list_checkpoints(run_dir_);
  if (options_.resume.empty() && !existing.empty()) {
    if (!options_.overwrite) {
      FQ_CHECK(false, "train: the run folder '"
                          << run_dir_ << "' already holds " << existing.size()
                          << " checkpoint(s), the newest " << existing.back().path
                          << "; continue it with --resume auto (make train RESUME=auto), start "
                             "over with --overwrite, or set train.output_dir to another folder");
    }
    for (const CheckpointFile& file : existing) std::filesystem::remove(file.path, ec);
  }
}

void Trainer::start_or_resume() {
  // Data first: prepare (a no-op when the shards are up to date), then open both splits.
  prepare_data(run_.data, run_.model.vocab_size);
  train_data_.emplace(run_.data, MlmDataset::Split::kTrain, tc_.seed);
  valid_data_.emplace(run_.data, MlmDataset::Split::kValid, tc_.seed);
  const Vocab& vocab = train_data_->vocab();
  FQ_CHECK(vocab.size() <= run_.model.vocab_size,
           run_.source << ": the vocabulary " << run_.data.vocab << " has " << vocab.size()
                       << " entries but model.vocab_size is " << run_.model.vocab_size
                       << "; set model.vocab_size to at least " << vocab.size());
  FQ_CHECK(train_data_->num_sequences() > 0,
           "train: the training split of " << run_.data.shard_dir
                                           << " has no sequences; add documents to the corpus");
  FQ_CHECK(tc_.eval_steps == 0 || valid_data_->num_sequences() > 0,
           "train: the validation split has no sequences but train.eval_steps = "
               << tc_.eval_steps << "; raise data.valid_fraction or set train.eval_steps to 0");
  if (run_.model.pad_token_id != vocab.pad_id()) {
    FQ_CHECK(false, run_.source << ": model.pad_token_id = " << run_.model.pad_token_id
                                << " but [PAD] is id " << vocab.pad_id() << " in "
                                << run_.data.vocab << "; set model.pad_token_id to "
                                << vocab.pad_id());
  }

  model_ = std::make_unique<FlashQuadForMaskedLM>(run_.model, tc_.seed);
  params_ = model_->named_parameters();
  AdamWOptions adam;
  adam.beta1 = tc_.adam_beta1;
  adam.beta2 = tc_.adam_beta2;
  adam.eps = tc_.adam_epsilon;
  adam.weight_decay = tc_.weight_decay;
  adam.no_decay = tc_.no_decay;
  adam.variant = parse_adamw_variant(tc_.optim);
  optimizer_ = std::make_unique<AdamW>(params_, adam);
  schedule_.type = parse_lr_scheduler_type(tc_.lr_scheduler_type);
  schedule_.base_lr = tc_.learning_rate;
  schedule_.warmup_steps = tc_.warmup_steps;
  schedule_.max_steps = tc_.max_steps;

  std::vector<std::string> history;
  if (!options_.resume.empty()) {
    const std::vector<ParameterSpec> specs = parameter_specs(params_);
    auto validator = [&](const CheckpointState& s) {
      validate_checkpoint(s, specs, "checkpoint");
    };
    std::optional<ResumeCheckpoint> found;
    if (options_.resume == "auto") {
      found = find_resume_checkpoint(run_dir_, validator, [](const std::string& warning) {
        std::fprintf(stderr, "flashquad: warning: %s\n", warning.c_str());
      });
      if (!found) {
        std::fprintf(stderr, "flashquad: no checkpoint in %s to resume from; starting a new run\n",
                     run_dir_.c_str());
      }
    } else {
      ResumeCheckpoint explicit_checkpoint{options_.resume, load_checkpoint(options_.resume)};
      validate_checkpoint(explicit_checkpoint.state, specs, options_.resume);
      found = std::move(explicit_checkpoint);
    }
    if (found) {
      const CheckpointState& s = found->state;
      nlohmann::json stored = nlohmann::json::parse(s.config_json, nullptr, false);
      std::string stored_vocab = "?";
      if (stored.is_object() && stored.contains("data") && stored["data"].contains("vocab") &&
          stored["data"]["vocab"].is_string()) {
        stored_vocab = stored["data"]["vocab"].get<std::string>();
      }
      check_checkpoint_vocab(extra_or(s, "vocab_checksum", ""), vocab, found->path,
                             "set data.vocab to the vocab.txt the run trained with (the "
                             "checkpoint's config names " + stored_vocab +
                                 "), or start a new run with --overwrite");
      restore_parameters(s.parameters, params_);
      optimizer_->load_state(s.optimizer);
      state_.step = s.step;
      state_.cursor = s.data_cursor;
      state_.window.loss_sum = parse_exact_double(extra_or(s, "window_loss_sum", "0x0p+0"),
                                                  "window_loss_sum");
      state_.window.steps = std::stoll(extra_or(s, "window_steps", "0"));
      state_.window.correct = std::stoll(extra_or(s, "window_correct", "0"));
      state_.window.targets = std::stoll(extra_or(s, "window_targets", "0"));
      state_.elapsed = parse_exact_double(extra_or(s, "elapsed", "0x0p+0"), "elapsed");
      state_.last_finite_loss =
          parse_exact_double(extra_or(s, "last_finite_loss", "nan"), "last_finite_loss");
      state_.last_finite_step = std::stoll(extra_or(s, "last_finite_step", "0"));
      state_.last_saved_step = s.step;
      history = s.metrics_history;
      std::string seed_text = extra_or(s, "seed", std::to_string(tc_.seed));
      if (seed_text != std::to_string(tc_.seed)) {
        std::fprintf(stderr,
                     "flashquad: warning: the checkpoint was trained with seed %s but train.seed "
                     "is %" PRIu64 "; data order and masks follow the new seed from here on\n",
                     seed_text.c_str(), tc_.seed);
      }
      std::fprintf(stderr, "flashquad: resuming from %s at step %" PRId64 "\n", found->path.c_str(),
                   s.step);
    }
  }
  log_ = std::make_unique<RunLog>(run_dir_, history);
}

bool Trainer::train_one_step() {
  const int64_t k = tc_.gradient_accumulation_steps;
  const int64_t b = tc_.batch_size;
  const int64_t t = run_.data.max_seq_length;

  // 1. Build every micro-batch first: the loss of the step divides by the targets of all of them.
  std::vector<Batch> batches;
  batches.reserve(k);
  int64_t step_targets = 0;
  for (int64_t i = 0; i < k; ++i) {
    batches.push_back(train_data_->batch_at(state_.cursor + static_cast<uint64_t>(i * b), b));
    step_targets += batches.back().num_targets;
  }

  // 2. Forward and backward each micro-batch; gradients add up in the parameters.
  double step_loss = 0.0;
  int64_t step_correct = 0;
  for (int64_t i = 0; i < k; ++i) {
    ForwardOptions fwd;
    fwd.training = true;
    fwd.dropout_seed = tc_.seed;
    fwd.dropout_stream = static_cast<uint64_t>(state_.step * k + i);
    fwd.compute_loss = true;
    fwd.loss_divisor = step_targets > 0 ? static_cast<double>(step_targets) : 1.0;
    fwd.output_logits = false;
    ModelOutput out = model_->forward(batches[i], fwd);
    step_loss += out.loss.item();
    step_correct += count_correct(out.target_logits, batches[i].labels);
    out.target_logits = Tensor();
    out.loss.backward();
    tokens_this_process_ += b * t;

    if (state_.step + 1 == sigterm_step_ && i + 1 == sigterm_micro_) std::raise(SIGTERM);
    micro_batches_this_process_ += 1;
    const double seconds = std::chrono::duration<double>(Clock::now() - process_start_).count();
    const int64_t remaining = (tc_.max_steps - state_.step) * k - (i + 1);
    progress_state_.step = state_.step + 1;  // the step in progress
    progress_state_.micro_batch = i + 1;
    progress_state_.tokens_per_second = seconds > 0 ? tokens_this_process_ / seconds : 0.0;
    progress_state_.eta_seconds =
        seconds / static_cast<double>(micro_batches_this_process_) * static_cast<double>(remaining);
    progress_.update(progress_state_);
    if (stop_signal() != 0) {
      optimizer_->zero_grad();  // the unfinished step is abandoned
      return false;
    }
  }

  // 3. Clip, check, update.
  ClipResult clip = clip_grad_norm(params_, tc_.max_grad_norm);
  const double lr = schedule_.lr_at(state_.step);
  if (!std::isfinite(step_loss) || !clip.finite) {
    progress_.finish_line();
    std::ostringstream message;
    message << "training stopped at step " << state_.step + 1 << ": the "
            << (!std::isfinite(step_loss) ? "loss" : "gradient norm") << " is not finite (loss "
            << step_loss << ", gradient norm " << clip.norm << ", learning rate " << lr << "). ";
    if (std::isnan(state_.last_finite_loss)) {
      message << "No earlier step had a finite loss. ";
    } else {
      message << "The last finite loss was " << state_.last_finite_loss << " at step "
              << state_.last_finite_step << ". ";
    }
    std::vector<CheckpointFile> files = list_checkpoints(run_dir_);
    if (files.empty()) {
      message << "No checkpoint was written yet. Lower train.learning_rate or "
                 "train.max_grad_norm and start the run again.";
    } else {
      message << "The last checkpoint, " << files.back().path
              << ", is intact. Lower train.learning_rate or train.max_grad_norm (add --set "
                 "train.learning_rate=VALUE) and resume with: "
              << resume_command(run_);
    }
    log_->add_text(message.str());
    throw std::runtime_error(message.str());
  }
  optimizer_->step(lr);
  optimizer_->zero_grad();

  state_.step += 1;
  state_.cursor += static_cast<uint64_t>(k * b);
  state_.last_finite_loss = step_loss;
  state_.last_finite_step = state_.step;
  state_.window.loss_sum += step_loss;
  state_.window.steps += 1;
  state_.window.correct += step_correct;
  state_.window.targets += step_targets;
  last_lr_ = lr;
  last_grad_norm_ = clip.norm;
  return true;
}

void Trainer::log_step(double lr, double grad_norm) {
  const LogWindow& w = state_.window;
  const double loss = w.steps > 0 ? w.loss_sum / static_cast<double>(w.steps) : 0.0;
  const double accuracy =
      w.targets > 0 ? static_cast<double>(w.correct) / static_cast<double>(w.targets) : 0.0;
  const double seconds = std::chrono::duration<double>(Clock::now() - process_start_).count();
  const double tokens_per_second = seconds > 0 ? tokens_this_process_ / seconds : 0.0;
  const double epoch = static_cast<double>(state_.cursor) /
                       static_cast<double>(train_data_->num_sequences());
  nlohmann::json record = {{"step", state_.step},
                           {"loss", loss},
                           {"accuracy", accuracy},
                           {"learning_rate", lr},
                           {"grad_norm", grad_norm},
                           {"epoch", epoch},
                           {"tokens_per_second", tokens_per_second},
                           {"elapsed", elapsed_seconds()}};
  log_->add_metrics(record);
  char line[256];
  std::snprintf(line, sizeof(line),
                "%s step %" PRId64 " loss %.4f accuracy %.4f lr %.4e grad_norm %.4f epoch %.3f "
                "tokens/s %.0f",
                now_text().c_str(), state_.step, loss, accuracy, lr, grad_norm, epoch,
                tokens_per_second);
  log_->add_text(line);
  progress_.finish_line();
  std::fprintf(stderr, "%s\n", line + 20);  // without the date
  state_.window = LogWindow();
  progress_state_.loss = loss;
}

void Trainer::run_evaluation() {
  progress_.finish_line();
  if (state_.step == sigterm_eval_step_) std::raise(SIGTERM);
  // A stop signal ends the evaluation between batches, so that a large held-out split does not
  // delay the checkpoint the signal requests.
  EvalResult result = evaluate(*model_, *valid_data_, tc_.eval_batch_size, tc_.eval_batches,
                               [] { return stop_signal() != 0; });
  if (result.stopped) {
    const std::string line = now_text() + " step " + std::to_string(state_.step) +
                             " evaluation skipped: stop requested";
    log_->add_text(line);
    std::fprintf(stderr, "%s\n", line.c_str() + 20);  // without the date
    return;
  }
  nlohmann::json record = eval_result_to_json(result);
  record["step"] = state_.step;
  record["elapsed"] = elapsed_seconds();
  log_->add_metrics(record);
  char line[256];
  std::snprintf(line, sizeof(line),
                "%s step %" PRId64 " eval_loss %.4f perplexity %.2f accuracy %.4f "
                "(unigram reference loss %.4f, %" PRId64 " targets)",
                now_text().c_str(), state_.step, result.loss, result.perplexity, result.accuracy,
                result.unigram_loss, result.targets);
  log_->add_text(line);
  std::fprintf(stderr, "%s\n", line + 20);
  log_->plot();
}

void Trainer::save() {
  progress_.finish_line();
  CheckpointState s;
  s.config_json = run_.json.dump();
  s.step = state_.step;
  s.parameters = snapshot_parameters(params_);
  s.optimizer = optimizer_->state();
  s.scheduler_step = state_.step;
  // Masks and dropout come from counter-based streams keyed by the seed and positions, so these
  // keys plus the data cursor and step rebuild every random draw.
  s.rng_states = {{"masking", stream_key(tc_.seed, 0, 0), state_.cursor},
                  {"dropout", stream_key(tc_.seed, 1, 0), static_cast<uint64_t>(state_.step)}};
  s.data_cursor = state_.cursor;
  s.extra["seed"] = std::to_string(tc_.seed);
  s.extra["vocab_checksum"] = vocab_checksum_text(train_data_->vocab());
  s.extra["window_loss_sum"] = exact_double(state_.window.loss_sum);
  s.extra["window_steps"] = std::to_string(state_.window.steps);
  s.extra["window_correct"] = std::to_string(state_.window.correct);
  s.extra["window_targets"] = std::to_string(state_.window.targets);
  s.extra["elapsed"] = exact_double(elapsed_seconds());
  s.extra["last_finite_loss"] = exact_double(state_.last_finite_loss);
  s.extra["last_finite_step"] = std::to_string(state_.last_finite_step);
  s.metrics_history = log_->history();
  std::string path = save_checkpoint(run_dir_, s);
  prune_checkpoints(run_dir_, tc_.keep_checkpoints);
  state_.last_saved_step = state_.step;
  log_->add_text(now_text() + " saved " + path);
  std::fprintf(stderr, "saved %s\n", path.c_str());
}

int Trainer::run() {
  set_num_threads(static_cast<int>(tc_.threads));
  install_stop_handlers();
  prepare_run_dir();
  start_or_resume();

  const std::string config_text = run_.json.dump(2) + "\n";
  try {
    write_file_atomically(run_dir_ + "/config.json", {config_text});
  } catch (const std::system_error& e) {
    FQ_CHECK(false, "train: cannot write the run config: " << e.what()
                                                            << "; free disk space or set "
                                                               "train.output_dir to a writable "
                                                               "folder");
  }
  int64_t param_count = 0;
  for (const NamedParameter& p : params_) param_count += p.tensor.numel();
  std::printf("flashquad train: %s, %" PRId64 " parameters, %" PRId64 " training sequences of %"
              PRId64 " tokens, %d threads, run folder %s\n",
              run_.source.c_str(), param_count, train_data_->num_sequences(),
              run_.data.max_seq_length, num_threads(), run_dir_.c_str());
  std::printf("effective config:\n%s\n", run_.json.dump(2).c_str());
  std::fflush(stdout);

  process_start_ = Clock::now();
  progress_state_.max_steps = tc_.max_steps;
  progress_state_.micro_batches = tc_.gradient_accumulation_steps;
  progress_state_.loss = std::numeric_limits<double>::quiet_NaN();
  if (state_.step >= tc_.max_steps) {
    std::fprintf(stderr, "flashquad: the run is already at step %" PRId64
                         " (train.max_steps = %" PRId64 "); nothing to train. Raise "
                         "train.max_steps to continue.\n",
                 state_.step, tc_.max_steps);
    return 0;
  }

  // A stop signal that came during data preparation or model setup ends the run before a step.
  while (state_.step < tc_.max_steps && stop_signal() == 0) {
    progress_state_.step = state_.step;
    progress_state_.learning_rate = schedule_.lr_at(state_.step);
    if (!train_one_step()) break;

    progress_state_.step = state_.step;
    const bool last = state_.step == tc_.max_steps;
    if (state_.step % tc_.logging_steps == 0 || last) log_step(last_lr_, last_grad_norm_);
    if (tc_.eval_steps > 0 && (state_.step % tc_.eval_steps == 0 || last)) {
      run_evaluation();
    }
    if ((tc_.save_steps > 0 && state_.step % tc_.save_steps == 0) || last) {
      save();
      if (state_.step == kill_after_save_step_) std::raise(SIGKILL);
    }
    if (stop_signal() != 0) break;
  }
  progress_.finish_line();
  if (stop_signal() != 0 && state_.step == 0) {
    // Nothing was learned, so no checkpoint-0: it would only block a plain restart.
    std::fprintf(stderr,
                 "flashquad: stopped by signal %d before the first step finished; no checkpoint "
                 "was written. Run the same command again to start the run.\n",
                 stop_signal());
    return 0;
  }
  if (stop_signal() != 0) {
    if (state_.last_saved_step != state_.step) save();
    std::vector<CheckpointFile> files = list_checkpoints(run_dir_);
    std::fprintf(stderr,
                 "flashquad: stopped by signal %d after step %" PRId64 "; checkpoint %s.\n"
                 "Resume with: %s\n",
                 stop_signal(), state_.step, files.empty() ? "none" : files.back().path.c_str(),
                 resume_command(run_).c_str());
    return 0;
  }
  std::fprintf(stderr, "flashquad: finished %" PRId64 " steps in %s; run folder %s\n",
               state_.step, format_duration(elapsed_seconds()).c_str(), run_dir_.c_str());
  return 0;
}

}  // namespace

int run_training(const RunConfig& run, const TrainOptions& options) {
  Trainer trainer(run, options);
  return trainer.run();
}

}  // namespace fq
