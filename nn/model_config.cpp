#include "nn/model_config.h"

#include <cmath>
#include <set>

#include "core/check.h"

namespace fq {

namespace {

using nlohmann::json;

const char* kArchitecture = "FLASHQuadForMaskedLM";
const char* kModelType = "flash_quad";

// Reads one key when present; each reader checks the JSON type and names source and key.
class KeyReader {
 public:
  KeyReader(const json& object, const std::string& source) : object_(object), source_(source) {}

  void read_int(const char* key, int64_t& out) const {
    const json* value = find(key);
    if (!value) return;
    if (value->is_number_integer()) {
      out = value->get<int64_t>();
      return;
    }
    // An integral float such as 128.0 is accepted; 12.5 is not.
    if (value->is_number_float()) {
      double d = value->get<double>();
      FQ_CHECK(std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15,
               where(key) << ": expected an integer, got " << value->dump());
      out = static_cast<int64_t>(d);
      return;
    }
    FQ_CHECK(false, where(key) << ": expected an integer, got " << value->type_name() << " "
                               << value->dump());
  }

  void read_double(const char* key, double& out) const {
    const json* value = find(key);
    if (!value) return;
    FQ_CHECK(value->is_number(), where(key) << ": expected a number, got " << value->type_name()
                                            << " " << value->dump());
    out = value->get<double>();
    FQ_CHECK(std::isfinite(out), where(key) << ": expected a finite number, got " << out);
  }

  void read_bool(const char* key, bool& out) const {
    const json* value = find(key);
    if (!value) return;
    FQ_CHECK(value->is_boolean(), where(key) << ": expected true or false, got "
                                             << value->type_name() << " " << value->dump());
    out = value->get<bool>();
  }

  void read_string(const char* key, std::string& out) const {
    const json* value = find(key);
    if (!value) return;
    FQ_CHECK(value->is_string(), where(key) << ": expected a string, got " << value->type_name()
                                            << " " << value->dump());
    out = value->get<std::string>();
  }

  std::string where(const char* key) const {
    return "model config '" + source_ + "': key \"" + key + "\"";
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

int64_t ModelConfig::expanded_size() const {
  return static_cast<int64_t>(std::llround(static_cast<double>(hidden_size) * expansion_factor));
}

void validate_model_config(const ModelConfig& c, const std::string& source) {
  const std::string where = "model config '" + source + "': key ";
  FQ_CHECK(c.vocab_size > 0, where << "\"vocab_size\" must be positive, got " << c.vocab_size);
  FQ_CHECK(c.hidden_size > 0 && c.hidden_size % 2 == 0,
           where << "\"hidden_size\" must be a positive even number (the sinusoidal position "
                    "table has sin and cos halves), got "
                 << c.hidden_size);
  FQ_CHECK(c.num_hidden_layers > 0,
           where << "\"num_hidden_layers\" must be positive, got " << c.num_hidden_layers);
  FQ_CHECK(c.expansion_factor > 0,
           where << "\"expansion_factor\" must be positive, got " << c.expansion_factor);
  const double e = static_cast<double>(c.hidden_size) * c.expansion_factor;
  FQ_CHECK(std::fabs(e - std::round(e)) < 1e-9 && std::round(e) >= 1,
           where << "\"expansion_factor\": hidden_size * expansion_factor = " << c.hidden_size
                 << " * " << c.expansion_factor << " = " << e
                 << " must be a whole number of at least 1");
  FQ_CHECK(c.s > 0 && c.s % 2 == 0,
           where << "\"s\" must be a positive even number (rotary embedding rotates halves), got "
                 << c.s);
  FQ_CHECK(
      c.max_position_embeddings > 0,
      where << "\"max_position_embeddings\" must be positive, got " << c.max_position_embeddings);
  FQ_CHECK(c.type_vocab_size > 0,
           where << "\"type_vocab_size\" must be positive, got " << c.type_vocab_size);
  FQ_CHECK(c.norm_type == "scale_norm" || c.norm_type == "layer_norm",
           where << "\"norm_type\" must be \"scale_norm\" or \"layer_norm\", got \"" << c.norm_type
                 << "\"");
  FQ_CHECK(c.layer_norm_eps > 0,
           where << "\"layer_norm_eps\" must be positive, got " << c.layer_norm_eps);
  FQ_CHECK(c.hidden_act == "silu" || c.hidden_act == "swish" || c.hidden_act == "gelu" ||
               c.hidden_act == "relu",
           where << "\"hidden_act\" must be \"silu\", \"swish\", \"gelu\" or \"relu\", got \""
                 << c.hidden_act << "\"");
  FQ_CHECK(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size,
           where << "\"pad_token_id\" must be in [0, vocab_size) = [0, " << c.vocab_size
                 << "), got " << c.pad_token_id);
  FQ_CHECK(c.initializer_range >= 0,
           where << "\"initializer_range\" must not be negative, got " << c.initializer_range);
  FQ_CHECK(c.dropout >= 0 && c.dropout < 1,
           where << "\"dropout\" must be in [0, 1), got " << c.dropout);
  FQ_CHECK(c.attention_scale == "max_position" || c.attention_scale == "seq_len",
           where << "\"attention_scale\" must be \"max_position\" or \"seq_len\", got \""
                 << c.attention_scale << "\"");
}

ModelConfig parse_model_config(const nlohmann::json& model, const std::string& source) {
  FQ_CHECK(model.is_object(),
           "model config '" << source << "': expected a JSON object, got " << model.type_name());
  static const std::set<std::string> kKnown = {"vocab_size",
                                               "hidden_size",
                                               "num_hidden_layers",
                                               "expansion_factor",
                                               "s",
                                               "max_position_embeddings",
                                               "type_vocab_size",
                                               "norm_type",
                                               "layer_norm_eps",
                                               "hidden_act",
                                               "pad_token_id",
                                               "initializer_range",
                                               "dropout",
                                               "attention_scale",
                                               "gradient_checkpointing",
                                               "causal"};
  static const std::set<std::string> kIgnored = {"architectures", "model_type",
                                                 "transformers_version", "torch_dtype"};
  for (auto it = model.begin(); it != model.end(); ++it) {
    if (kKnown.count(it.key()) || kIgnored.count(it.key())) continue;
    std::string known;
    for (const std::string& k : kKnown) known += (known.empty() ? "" : ", ") + k;
    FQ_CHECK(false, "model config '" << source << "': unknown key \"" << it.key()
                                     << "\"; known keys: " << known);
  }

  ModelConfig c;
  KeyReader r(model, source);
  r.read_int("vocab_size", c.vocab_size);
  r.read_int("hidden_size", c.hidden_size);
  r.read_int("num_hidden_layers", c.num_hidden_layers);
  r.read_double("expansion_factor", c.expansion_factor);
  r.read_int("s", c.s);
  r.read_int("max_position_embeddings", c.max_position_embeddings);
  r.read_int("type_vocab_size", c.type_vocab_size);
  r.read_string("norm_type", c.norm_type);
  r.read_double("layer_norm_eps", c.layer_norm_eps);
  r.read_string("hidden_act", c.hidden_act);
  r.read_int("pad_token_id", c.pad_token_id);
  r.read_double("initializer_range", c.initializer_range);
  r.read_double("dropout", c.dropout);
  r.read_string("attention_scale", c.attention_scale);
  r.read_bool("gradient_checkpointing", c.gradient_checkpointing);
  r.read_bool("causal", c.causal);
  validate_model_config(c, source);
  return c;
}

nlohmann::json model_config_to_json(const ModelConfig& c) {
  json out = json::object();
  out["architectures"] = json::array({kArchitecture});
  out["model_type"] = kModelType;
  out["vocab_size"] = c.vocab_size;
  out["hidden_size"] = c.hidden_size;
  out["num_hidden_layers"] = c.num_hidden_layers;
  // Written as an integer when whole (2, not 2.0), as the public configs do.
  if (c.expansion_factor == std::floor(c.expansion_factor)) {
    out["expansion_factor"] = static_cast<int64_t>(c.expansion_factor);
  } else {
    out["expansion_factor"] = c.expansion_factor;
  }
  out["s"] = c.s;
  out["max_position_embeddings"] = c.max_position_embeddings;
  out["type_vocab_size"] = c.type_vocab_size;
  out["norm_type"] = c.norm_type;
  out["layer_norm_eps"] = c.layer_norm_eps;
  out["hidden_act"] = c.hidden_act;
  out["pad_token_id"] = c.pad_token_id;
  out["initializer_range"] = c.initializer_range;
  out["dropout"] = c.dropout;
  out["attention_scale"] = c.attention_scale;
  out["gradient_checkpointing"] = c.gradient_checkpointing;
  out["causal"] = c.causal;
  return out;
}

}  // namespace fq
