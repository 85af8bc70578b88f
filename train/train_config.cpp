#include "train/train_config.h"

#include <cmath>
#include <sstream>

#include "core/check.h"
#include "core/config_reader.h"
#include "optim/lr_schedule.h"

namespace fq {

namespace {

using nlohmann::json;

// Reads a finite number and throws unless `in_range`(value); `expected` describes the range.
template <typename InRange>
void read_number_in(const ConfigReader& reader, const char* key, const char* expected,
                    InRange in_range, double& out) {
  double value = out;
  reader.read_number(key, value);
  if (!in_range(value)) {
    std::ostringstream got;
    got << value;
    reader.fail(key, expected, got.str());
  }
  out = value;
}

bool non_negative(double x) { return x >= 0.0; }
bool in_unit_interval(double x) { return x >= 0.0 && x < 1.0; }

}  // namespace

TrainConfig parse_train_config(const json& train, const std::string& source,
                               const std::string& config_name) {
  ConfigReader reader(train, source, "train");
  reader.require_object();
  reader.reject_unknown_keys(
      {"output_dir", "batch_size", "gradient_accumulation_steps", "max_steps", "warmup_steps",
       "learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "optim",
       "lr_scheduler_type", "max_grad_norm", "no_decay", "logging_steps", "eval_steps",
       "save_steps", "keep_checkpoints", "seed", "threads", "eval_batch_size", "eval_batches"},
      {}, "Keys follow the Hugging Face TrainingArguments names, for example learning_rate and max_steps.");

  TrainConfig config;
  config.output_dir = "runs/" + config_name;
  reader.read_string("output_dir", config.output_dir);
  if (config.output_dir.empty()) reader.fail("output_dir", "a folder path", "\"\"");

  reader.read_int("batch_size", config.batch_size, 1);
  reader.read_int("gradient_accumulation_steps", config.gradient_accumulation_steps, 1);
  FQ_CHECK(reader.has("max_steps"),
           reader.where("max_steps")
               << " is missing: set the number of optimizer steps, e.g. "
                  "\"max_steps\": 1000 (training by epochs is not supported)");
  reader.read_int("max_steps", config.max_steps, 1);
  reader.read_int("warmup_steps", config.warmup_steps, 0);

  read_number_in(reader, "learning_rate", "a finite number >= 0", non_negative,
                 config.learning_rate);
  read_number_in(reader, "weight_decay", "a finite number >= 0", non_negative,
                 config.weight_decay);
  read_number_in(reader, "adam_beta1", "a number in [0, 1)", in_unit_interval, config.adam_beta1);
  read_number_in(reader, "adam_beta2", "a number in [0, 1)", in_unit_interval, config.adam_beta2);
  read_number_in(reader, "adam_epsilon", "a finite number >= 0", non_negative,
                 config.adam_epsilon);
  read_number_in(reader, "max_grad_norm", "a finite number >= 0 (0 disables clipping)",
                 non_negative, config.max_grad_norm);

  reader.read_string("optim", config.optim);
  if (config.optim != "adamw_torch" && config.optim != "adamw_hf") {
    reader.fail("optim", "\"adamw_torch\" or \"adamw_hf\"", "\"" + config.optim + "\"");
  }
  reader.read_string("lr_scheduler_type", config.lr_scheduler_type);
  try {
    parse_lr_scheduler_type(config.lr_scheduler_type);
  } catch (const std::invalid_argument&) {
    reader.fail("lr_scheduler_type",
                "\"linear\", \"cosine\", \"constant\" or \"constant_with_warmup\"",
                "\"" + config.lr_scheduler_type + "\"");
  }
  reader.read_string_list("no_decay", config.no_decay, "a list of strings",
                          "a non-empty string (an empty pattern would match every name)");

  reader.read_int("logging_steps", config.logging_steps, 1);
  config.eval_steps = config.logging_steps;  // the Trainer's default when eval_steps is unset
  reader.read_int("eval_steps", config.eval_steps, 0);
  reader.read_int("save_steps", config.save_steps, 0);
  reader.read_int("keep_checkpoints", config.keep_checkpoints, 0);

  int64_t seed = static_cast<int64_t>(config.seed);
  reader.read_int("seed", seed, 0);
  config.seed = static_cast<uint64_t>(seed);
  reader.read_int("threads", config.threads, 0);
  reader.read_int("eval_batch_size", config.eval_batch_size, 1);
  reader.read_int("eval_batches", config.eval_batches, 0);
  return config;
}

nlohmann::json train_config_to_json(const TrainConfig& config) {
  json out = json::object();
  out["output_dir"] = config.output_dir;
  out["batch_size"] = config.batch_size;
  out["gradient_accumulation_steps"] = config.gradient_accumulation_steps;
  out["max_steps"] = config.max_steps;
  out["warmup_steps"] = config.warmup_steps;
  out["learning_rate"] = config.learning_rate;
  out["weight_decay"] = config.weight_decay;
  out["adam_beta1"] = config.adam_beta1;
  out["adam_beta2"] = config.adam_beta2;
  out["adam_epsilon"] = config.adam_epsilon;
  out["optim"] = config.optim;
  out["lr_scheduler_type"] = config.lr_scheduler_type;
  out["max_grad_norm"] = config.max_grad_norm;
  out["no_decay"] = config.no_decay;
  out["logging_steps"] = config.logging_steps;
  out["eval_steps"] = config.eval_steps;
  out["save_steps"] = config.save_steps;
  out["keep_checkpoints"] = config.keep_checkpoints;
  out["seed"] = config.seed;
  out["threads"] = config.threads;
  out["eval_batch_size"] = config.eval_batch_size;
  out["eval_batches"] = config.eval_batches;
  return out;
}

}  // namespace fq
