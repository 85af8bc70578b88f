#include "nn/model_config.h"

#include <cmath>
#include <sstream>
#include <vector>

#include "core/check.h"
#include "core/config_reader.h"

namespace fq {

namespace {

using nlohmann::json;

const char* kArchitecture = "FLASHQuadForMaskedLM";
const char* kModelType = "flash_quad";

}  // namespace

int64_t ModelConfig::expanded_size() const {
  return static_cast<int64_t>(std::llround(static_cast<double>(hidden_size) * expansion_factor));
}

namespace {

// Throws the config error for model key `key` unless `ok`; `value` is the value found.
template <typename T>
void check_model_value(bool ok, const std::string& source, const char* key,
                       const std::string& expected, const T& value) {
  if (ok) return;
  std::ostringstream got;
  got << value;
  throw_config_error(source, std::string("model.") + key, expected, got.str());
}

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

}  // namespace

void validate_model_config(const ModelConfig& c, const std::string& source) {
  check_model_value(c.vocab_size > 0, source, "vocab_size", "a positive integer", c.vocab_size);
  check_model_value(c.hidden_size > 0 && c.hidden_size % 2 == 0, source, "hidden_size",
                    "a positive even number (the sinusoidal position table has sin and cos "
                    "halves)",
                    c.hidden_size);
  check_model_value(c.num_hidden_layers > 0, source, "num_hidden_layers", "a positive integer",
                    c.num_hidden_layers);
  check_model_value(c.expansion_factor > 0, source, "expansion_factor", "a positive number",
                    c.expansion_factor);
  const double e = static_cast<double>(c.hidden_size) * c.expansion_factor;
  if (!(std::fabs(e - std::round(e)) < 1e-9 && std::round(e) >= 1)) {
    std::ostringstream got;
    got << c.expansion_factor << " (hidden_size * expansion_factor = " << c.hidden_size << " * "
        << c.expansion_factor << " = " << e << ")";
    throw_config_error(source, "model.expansion_factor",
                       "a number that makes hidden_size * expansion_factor a whole number of at "
                       "least 1",
                       got.str());
  }
  check_model_value(c.s > 0 && c.s % 2 == 0, source, "s",
                    "a positive even number (rotary embedding rotates halves)", c.s);
  check_model_value(c.max_position_embeddings > 0, source, "max_position_embeddings",
                    "a positive integer", c.max_position_embeddings);
  check_model_value(c.type_vocab_size > 0, source, "type_vocab_size", "a positive integer",
                    c.type_vocab_size);
  check_model_value(c.norm_type == "scale_norm" || c.norm_type == "layer_norm", source,
                    "norm_type", "\"scale_norm\" or \"layer_norm\"", quoted(c.norm_type));
  check_model_value(c.layer_norm_eps > 0, source, "layer_norm_eps", "a positive number",
                    c.layer_norm_eps);
  check_model_value(c.hidden_act == "silu" || c.hidden_act == "swish" || c.hidden_act == "gelu" ||
                        c.hidden_act == "relu",
                    source, "hidden_act", "\"silu\", \"swish\", \"gelu\" or \"relu\"",
                    quoted(c.hidden_act));
  check_model_value(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size, source, "pad_token_id",
                    "in [0, vocab_size) = [0, " + std::to_string(c.vocab_size) + ")",
                    c.pad_token_id);
  check_model_value(c.initializer_range >= 0, source, "initializer_range", "a number >= 0",
                    c.initializer_range);
  check_model_value(c.dropout >= 0 && c.dropout < 1, source, "dropout", "a number in [0, 1)",
                    c.dropout);
  check_model_value(c.attention_scale == "max_position" || c.attention_scale == "seq_len", source,
                    "attention_scale", "\"max_position\" or \"seq_len\"",
                    quoted(c.attention_scale));
}

ModelConfig parse_model_config(const nlohmann::json& model, const std::string& source) {
  ConfigReader r(model, source, "model");
  r.require_object();
  r.reject_unknown_keys({"vocab_size", "hidden_size", "num_hidden_layers", "expansion_factor", "s",
                         "max_position_embeddings", "type_vocab_size", "norm_type",
                         "layer_norm_eps", "hidden_act", "pad_token_id", "initializer_range",
                         "dropout", "attention_scale", "gradient_checkpointing", "causal"},
                        {"architectures", "model_type", "transformers_version", "torch_dtype"});

  ModelConfig c;
  r.read_int("vocab_size", c.vocab_size);
  r.read_int("hidden_size", c.hidden_size);
  r.read_int("num_hidden_layers", c.num_hidden_layers);
  r.read_number("expansion_factor", c.expansion_factor);
  r.read_int("s", c.s);
  r.read_int("max_position_embeddings", c.max_position_embeddings);
  r.read_int("type_vocab_size", c.type_vocab_size);
  r.read_string("norm_type", c.norm_type);
  r.read_number("layer_norm_eps", c.layer_norm_eps);
  r.read_string("hidden_act", c.hidden_act);
  r.read_int("pad_token_id", c.pad_token_id);
  r.read_number("initializer_range", c.initializer_range);
  r.read_number("dropout", c.dropout);
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
