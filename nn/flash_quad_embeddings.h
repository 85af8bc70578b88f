// Input embeddings of FLASH-Quad for ids (B, T):
//   h0 = norm(word[ids] + token_type[token_type_ids] + pos * scaledsin_scalar)
// pos is the fixed sinusoidal table (T, D): sin(p f_j) for j < D/2 and cos(p f_(j-D/2)) for the
// rest, f_j = 10000^(-j / (D/2)). Dropout follows the norm in training.
#pragma once

#include <string>

#include "core/tensor.h"
#include "nn/embedding.h"
#include "nn/model_config.h"
#include "nn/norm.h"
#include "nn/parameters.h"

namespace fq {

class FlashQuadEmbeddings {
 public:
  FlashQuadEmbeddings() = default;
  // Parameters under `prefix` (normally "flash_quad.embeddings"): word_embeddings.weight
  // (vocab, D) with a zero pad row, token_type_embeddings.weight (types, D),
  // scaledsin_scalar (1) = 1/sqrt(D) and the LayerNorm parameters.
  FlashQuadEmbeddings(const std::string& prefix, const ModelConfig& config,
                      ParameterFactory& factory);

  // ids, token_type_ids: I32 (B, T), already validated. Returns h0 (B, T, D) before dropout.
  Tensor forward(const Tensor& ids, const Tensor& token_type_ids) const;

  const Tensor& word_weight() const { return word_.weight; }

 private:
  Embedding word_;
  Embedding token_type_;
  Tensor scaledsin_scalar_;  // (1)
  Norm norm_;
};

}  // namespace fq
