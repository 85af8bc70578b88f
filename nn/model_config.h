// Model hyperparameters: the "model" object of a run config, with the Hugging Face config.json
// key names of the public PyTorch FLASH-Quad implementations so a config can travel between the
// two. D hidden size, E = D * expansion_factor, S shared query/key size, L max positions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace fq {

struct ModelConfig {
  int64_t vocab_size = 12000;
  int64_t hidden_size = 768;  // D
  int64_t num_hidden_layers = 24;
  double expansion_factor = 2.0;          // E = D * expansion_factor, must be a whole number
  int64_t s = 128;                        // S, even (rotary embedding works on halves)
  int64_t max_position_embeddings = 512;  // L
  int64_t type_vocab_size = 2;
  std::string norm_type = "scale_norm";  // "scale_norm" or "layer_norm"
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "silu";  // "silu", "swish", "gelu" or "relu"
  int64_t pad_token_id = 0;
  double initializer_range = 0.02;
  double dropout = 0.0;  // after the embedding norm, training only
  // Divisor c of q.k: "max_position" (c = L) or "seq_len" (c = non-padding tokens of the row).
  std::string attention_scale = "max_position";
  bool gradient_checkpointing = false;
  bool causal = false;  // when true, position i attends only to positions j <= i

  int64_t expanded_size() const;  // E
  // True when L > 512: the relative bias comes from rotated vectors a, b instead of the
  // table w of 2L - 1 entries.
  bool uses_rotary_bias() const { return max_position_embeddings > 512; }
};

// Parses and validates a "model" object. Missing keys take the defaults above. Unknown keys,
// wrong JSON types and impossible values throw std::invalid_argument naming `source` (a file
// path or other origin), the key and what was expected. The Hugging Face bookkeeping keys
// "architectures", "model_type", "transformers_version" and "torch_dtype" are accepted and
// ignored, so an exported config.json parses back.
ModelConfig parse_model_config(const nlohmann::json& model, const std::string& source);

// Checks the invariants that parse_model_config enforces on a config built in code; throws
// std::invalid_argument naming `source`.
void validate_model_config(const ModelConfig& config, const std::string& source);

// Hugging Face style config.json: every key above plus "architectures" and "model_type".
nlohmann::json model_config_to_json(const ModelConfig& config);

}  // namespace fq
