#include "nn/flash_quad_embeddings.h"

#include <cmath>

#include "core/ops.h"

namespace fq {

FlashQuadEmbeddings::FlashQuadEmbeddings(const std::string& prefix, const ModelConfig& config,
                                         ParameterFactory& factory) {
  const int64_t d = config.hidden_size;
  word_ =
      Embedding(prefix + ".word_embeddings", config.vocab_size, d, config.pad_token_id, factory);
  token_type_ =
      Embedding(prefix + ".token_type_embeddings", config.type_vocab_size, d, -1, factory);
  scaledsin_scalar_ = factory.constant(prefix + ".scaledsin_scalar", {1},
                                       static_cast<float>(1.0 / std::sqrt(static_cast<double>(d))));
  norm_ = Norm(prefix + ".LayerNorm", config.norm_type, d, config.layer_norm_eps, factory);
}

Tensor FlashQuadEmbeddings::forward(const Tensor& ids, const Tensor& token_type_ids) const {
  const int64_t seq_len = ids.size(1);
  const int64_t d = word_.weight.size(1);
  Tensor pos = mul(sinusoidal_positions(seq_len, d), scaledsin_scalar_);              // (T, D)
  Tensor x = add(add(word_.forward(ids), token_type_.forward(token_type_ids)), pos);  // (B, T, D)
  return norm_.forward(x);
}

}  // namespace fq
