// Masked-LM head: logits = norm(act(h W_dense^T + b_dense)) E^T + bias, where E is the word
// embedding (the decoder weight is tied to it, so both uses add to one gradient).
#pragma once

#include <string>

#include "core/tensor.h"
#include "nn/linear.h"
#include "nn/model_config.h"
#include "nn/norm.h"
#include "nn/parameters.h"

namespace fq {

class MlmHead {
 public:
  MlmHead() = default;
  // Parameters cls.predictions.transform.dense, cls.predictions.transform.LayerNorm and
  // cls.predictions.bias (vocab) = 0. `word_weight` (vocab, D) is the tied decoder weight.
  MlmHead(const ModelConfig& config, const Tensor& word_weight, ParameterFactory& factory);

  Tensor forward(const Tensor& h) const;  // (..., D) -> (..., vocab)

  const Tensor& bias() const { return bias_; }

 private:
  std::string act_;
  Linear dense_;
  Norm norm_;
  Tensor decoder_weight_;  // (vocab, D), the word embedding
  Tensor bias_;            // (vocab)
};

}  // namespace fq
