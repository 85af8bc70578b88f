// FLASH-Quad for masked language modelling: embeddings, a stack of GAU layers and the MLM head
// with the decoder tied to the word embedding. Dimension letters: B batch, T sequence length,
// D hidden size, E expanded width, S shared query/key size, vocab the vocabulary size.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "data/batch.h"
#include "nn/model_config.h"

namespace fq {

struct NamedParameter {
  std::string name;  // dotted PyTorch name, e.g. "flash_quad.encoder.layer.0.uv.weight"
  Tensor tensor;     // leaf tensor with requires_grad
};

struct ForwardOptions {
  bool training = false;      // dropout on when true and model.dropout > 0
  uint64_t dropout_seed = 0;  // dropout stream key: (dropout_seed, dropout_stream)
  uint64_t dropout_stream = 0;
  bool compute_loss = true;   // needs batch.labels
  double loss_divisor = 0.0;  // loss = sum of token losses / divisor; <= 0 means the mean
  bool output_logits = true;  // false lets the head skip positions without a label
  bool output_hidden_states = false;
  bool output_attentions = false;
};

struct ModelOutput {
  Tensor logits;  // (B, T, vocab) when output_logits
  Tensor loss;    // [] when compute_loss
  // (M, vocab) logits of the M rows whose label is not -100, in row-major order, when
  // compute_loss is set and output_logits is not (the training path). A batch without any
  // target gives one row, that of position (0, 0), which the loss ignores.
  Tensor target_logits;
  Tensor last_hidden_state;           // (B, T, D)
  std::vector<Tensor> hidden_states;  // h_0 .. h_N when requested
  std::vector<Tensor> attentions;     // A of each layer, (B, T, T), when requested
};

class FlashQuadForMaskedLM {
 public:
  // Initialises every parameter as the spec table says (normal(0, initializer_range) weights,
  // zero biases, unit norm gains, zero pad row), drawn from CounterRng keyed by `seed`.
  FlashQuadForMaskedLM(const ModelConfig& config, uint64_t seed);
  ~FlashQuadForMaskedLM();

  const ModelConfig& config() const;
  // Every trainable tensor once, in a fixed order. The tied word embedding / decoder weight is
  // listed once, as "flash_quad.embeddings.word_embeddings.weight".
  std::vector<NamedParameter> named_parameters() const;
  // The parameter called `name` (a handle sharing its storage); throws std::invalid_argument
  // when there is none.
  Tensor parameter(const std::string& name) const;

  // Runs the model on a batch. Validates ids (range, shapes, T <= max_position_embeddings) and
  // throws std::invalid_argument naming the bad value.
  ModelOutput forward(const Batch& batch, const ForwardOptions& options) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fq
