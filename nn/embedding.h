// Lookup table of vectors, one row per id (the layout of torch.nn.Embedding). The row
// padding_idx receives no gradient from lookups.
#pragma once

#include <string>

#include "core/tensor.h"
#include "nn/parameters.h"

namespace fq {

class Embedding {
 public:
  Embedding() = default;
  // Creates `prefix`.weight (num, dim) ~ N(0, std), with row padding_idx set to zero when
  // padding_idx >= 0.
  Embedding(const std::string& prefix, int64_t num, int64_t dim, int64_t padding_idx,
            ParameterFactory& factory);

  Tensor forward(const Tensor& ids) const;  // I32 (...) -> (..., dim)

  Tensor weight;  // (num, dim)
  int64_t padding_idx = -1;
};

}  // namespace fq
