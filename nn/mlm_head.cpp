#include "nn/mlm_head.h"

#include "core/ops.h"

namespace fq {

MlmHead::MlmHead(const ModelConfig& config, const Tensor& word_weight, ParameterFactory& factory)
    : act_(config.hidden_act), decoder_weight_(word_weight) {
  const int64_t d = config.hidden_size;
  dense_ = Linear("cls.predictions.transform.dense", d, d, factory);
  norm_ = Norm("cls.predictions.transform.LayerNorm", config.norm_type, d, config.layer_norm_eps,
               factory);
  bias_ = factory.constant("cls.predictions.bias", {config.vocab_size}, 0.0f);
}

Tensor MlmHead::forward(const Tensor& h) const {
  Tensor transformed = norm_.forward(activation(dense_.forward(h), act_));  // (..., D)
  return linear(transformed, decoder_weight_, bias_);                       // (..., vocab)
}

}  // namespace fq
