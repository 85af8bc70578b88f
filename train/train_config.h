// The "train" object of a run config: output folder, batch and step counts, AdamW and schedule
// settings, and logging / evaluation / checkpoint intervals. Key names and defaults follow the
// Hugging Face Trainer's TrainingArguments where it has the same setting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fq {

struct TrainConfig {
  std::string output_dir;                   // run folder; default "runs/<config name>"
  int64_t batch_size = 8;                   // sequences per micro-batch
  int64_t gradient_accumulation_steps = 1;  // micro-batches per optimizer step
  int64_t max_steps = 0;                    // optimizer steps; required, >= 1
  // Linear warmup length in optimizer steps. May exceed max_steps, as in the Trainer: the rate
  // then only ramps up and never reaches learning_rate.
  int64_t warmup_steps = 0;
  double learning_rate = 5e-5;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  std::string optim = "adamw_torch";         // "adamw_torch" or "adamw_hf"
  std::string lr_scheduler_type = "linear";  // linear, cosine, constant, constant_with_warmup
  double max_grad_norm = 1.0;                // 0 disables clipping
  std::vector<std::string> no_decay = {"bias", "LayerNorm."};  // substrings of parameter names
  int64_t logging_steps = 500;                                 // >= 1
  int64_t eval_steps = 500;      // 0 disables evaluation; default logging_steps
  int64_t save_steps = 500;      // 0 disables checkpoints
  int64_t keep_checkpoints = 0;  // newest checkpoints kept; 0 keeps all
  uint64_t seed = 42;            // initialisation, dropout and masking
  int64_t threads = 0;           // OpenMP and OpenBLAS threads; 0 uses every core
  int64_t eval_batch_size = 8;   // sequences per evaluation batch
  int64_t eval_batches = 0;      // batches per evaluation; 0 evaluates the whole split
};

// Parses and validates `train`, the "train" object of the config file `source`; `config_name`
// ("tiny" for configs/tiny.json) names the default output_dir. Missing keys take the defaults
// above, except max_steps, which is required. Throws std::invalid_argument naming the file, the
// key and the expected value on an unknown key, a wrong JSON type or a value out of range.
TrainConfig parse_train_config(const nlohmann::json& train, const std::string& source,
                               const std::string& config_name);

// Every field under its config key, for logs and for storing the resolved config.
nlohmann::json train_config_to_json(const TrainConfig& config);

}  // namespace fq
