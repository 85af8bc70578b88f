#include "train/train_config.h"

#include <cmath>
#include <set>

#include "core/check.h"
#include "optim/lr_schedule.h"

namespace fq {

namespace {

using nlohmann::json;

const std::set<std::string>& known_keys() {
  static const std::set<std::string> keys = {
      "output_dir",    "batch_size",   "gradient_accumulation_steps",
      "max_steps",     "warmup_steps", "learning_rate",
      "weight_decay",  "adam_beta1",   "adam_beta2",
      "adam_epsilon",  "optim",        "lr_scheduler_type",
      "max_grad_norm", "no_decay",     "logging_steps",
      "eval_steps",    "save_steps",   "keep_checkpoints",
      "seed",          "threads",      "eval_batch_size",
      "eval_batches"};
  return keys;
}

// Reads one key of the "train" object when present, checking its JSON type. Every message
// starts with the file and the key.
class TrainKeyReader {
 public:
  TrainKeyReader(const json& object, const std::string& source)
      : object_(object), source_(source) {}

  bool has(const char* key) const { return find(key) != nullptr; }

  std::string where(const char* key) const {
    return "train config '" + source_ + "': key \"train." + key + "\"";
  }

  // Integer >= min_value. Integral floats such as 1e3 are accepted (a --set value may arrive so).
  void read_int(const char* key, int64_t min_value, int64_t& out) const {
    const json* value = find(key);
    if (!value) return;
    int64_t parsed = 0;
    if (value->is_number_integer()) {
      FQ_CHECK(!value->is_number_unsigned() ||
                   value->get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX),
               where(key) << ": expected an integer >= " << min_value << ", got " << value->dump()
                          << ", which is too large");
      parsed = value->get<int64_t>();
    } else if (value->is_number_float()) {
      double d = value->get<double>();
      FQ_CHECK(std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15,
               where(key) << ": expected an integer >= " << min_value << ", got " << value->dump());
      parsed = static_cast<int64_t>(d);
    } else {
      FQ_CHECK(false, where(key) << ": expected an integer >= " << min_value << ", got "
                                 << value->type_name() << " " << value->dump());
    }
    FQ_CHECK(parsed >= min_value,
             where(key) << ": expected an integer >= " << min_value << ", got " << parsed);
    out = parsed;
  }

  // Finite number in [min_value, max_value] (max_value exclusive when max_exclusive).
  void read_double(const char* key, double min_value, double max_value, bool max_exclusive,
                   const char* expected, double& out) const {
    const json* value = find(key);
    if (!value) return;
    FQ_CHECK(value->is_number(), where(key) << ": expected " << expected << ", got "
                                            << value->type_name() << " " << value->dump());
    double d = value->get<double>();
    bool in_range =
        std::isfinite(d) && d >= min_value && (max_exclusive ? d < max_value : d <= max_value);
    FQ_CHECK(in_range, where(key) << ": expected " << expected << ", got " << value->dump());
    out = d;
  }

  void read_string(const char* key, std::string& out) const {
    const json* value = find(key);
    if (!value) return;
    FQ_CHECK(value->is_string(), where(key) << ": expected a string, got " << value->type_name()
                                            << " " << value->dump());
    out = value->get<std::string>();
  }

  void read_string_list(const char* key, std::vector<std::string>& out) const {
    const json* value = find(key);
    if (!value) return;
    FQ_CHECK(value->is_array(), where(key) << ": expected a list of strings, got "
                                           << value->type_name() << " " << value->dump());
    std::vector<std::string> items;
    for (const json& item : *value) {
      FQ_CHECK(item.is_string() && !item.get<std::string>().empty(),
               where(key) << ": expected a list of non-empty strings, got element " << item.dump()
                          << " (an empty pattern would match every name)");
      items.push_back(item.get<std::string>());
    }
    out = items;
  }

 private:
  const json* find(const char* key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  const json& object_;
  const std::string& source_;
};

}  // namespace

TrainConfig parse_train_config(const json& train, const std::string& source,
                               const std::string& config_name) {
  FQ_CHECK(train.is_object(), "train config '" << source << "': \"train\" must be an object, got "
                                               << train.type_name());
  for (auto it = train.begin(); it != train.end(); ++it) {
    FQ_CHECK(known_keys().count(it.key()) == 1,
             "train config '" << source << "': unknown key \"train." << it.key()
                              << "\"; check the spelling (keys follow the Hugging Face "
                                 "TrainingArguments names, e.g. learning_rate, max_steps)");
  }

  TrainConfig config;
  TrainKeyReader reader(train, source);
  config.output_dir = "runs/" + config_name;
  reader.read_string("output_dir", config.output_dir);
  FQ_CHECK(!config.output_dir.empty(), reader.where("output_dir")
                                           << ": expected a folder path, got \"\"");

  reader.read_int("batch_size", 1, config.batch_size);
  reader.read_int("gradient_accumulation_steps", 1, config.gradient_accumulation_steps);
  FQ_CHECK(reader.has("max_steps"),
           reader.where("max_steps")
               << " is missing: set the number of optimizer steps, e.g. "
                  "\"max_steps\": 1000 (training by epochs is not supported)");
  reader.read_int("max_steps", 1, config.max_steps);
  reader.read_int("warmup_steps", 0, config.warmup_steps);

  reader.read_double("learning_rate", 0.0, INFINITY, false, "a finite number >= 0",
                     config.learning_rate);
  reader.read_double("weight_decay", 0.0, INFINITY, false, "a finite number >= 0",
                     config.weight_decay);
  reader.read_double("adam_beta1", 0.0, 1.0, true, "a number in [0, 1)", config.adam_beta1);
  reader.read_double("adam_beta2", 0.0, 1.0, true, "a number in [0, 1)", config.adam_beta2);
  reader.read_double("adam_epsilon", 0.0, INFINITY, false, "a finite number >= 0",
                     config.adam_epsilon);
  reader.read_double("max_grad_norm", 0.0, INFINITY, false,
                     "a finite number >= 0 (0 disables clipping)", config.max_grad_norm);

  reader.read_string("optim", config.optim);
  FQ_CHECK(config.optim == "adamw_torch" || config.optim == "adamw_hf",
           reader.where("optim") << ": expected \"adamw_torch\" or \"adamw_hf\", got \""
                                 << config.optim << "\"");
  reader.read_string("lr_scheduler_type", config.lr_scheduler_type);
  try {
    parse_lr_scheduler_type(config.lr_scheduler_type);
  } catch (const std::invalid_argument&) {
    FQ_CHECK(false, reader.where("lr_scheduler_type")
                        << ": expected \"linear\", \"cosine\", \"constant\" or "
                           "\"constant_with_warmup\", got \""
                        << config.lr_scheduler_type << "\"");
  }
  reader.read_string_list("no_decay", config.no_decay);

  reader.read_int("logging_steps", 1, config.logging_steps);
  config.eval_steps = config.logging_steps;  // the Trainer's default when eval_steps is unset
  reader.read_int("eval_steps", 0, config.eval_steps);
  reader.read_int("save_steps", 0, config.save_steps);
  reader.read_int("keep_checkpoints", 0, config.keep_checkpoints);

  int64_t seed = static_cast<int64_t>(config.seed);
  reader.read_int("seed", 0, seed);
  config.seed = static_cast<uint64_t>(seed);
  reader.read_int("threads", 0, config.threads);
  reader.read_int("eval_batch_size", 1, config.eval_batch_size);
  reader.read_int("eval_batches", 0, config.eval_batches);
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
