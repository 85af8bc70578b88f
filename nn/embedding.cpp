#include "nn/embedding.h"

#include <algorithm>

#include "core/ops.h"

namespace fq {

Embedding::Embedding(const std::string& prefix, int64_t num, int64_t dim, int64_t padding_idx,
                     ParameterFactory& factory)
    : weight(factory.normal(prefix + ".weight", {num, dim})), padding_idx(padding_idx) {
  if (padding_idx >= 0) {
    float* row = weight.data() + padding_idx * dim;
    std::fill(row, row + dim, 0.0f);
  }
}

Tensor Embedding::forward(const Tensor& ids) const { return embedding(weight, ids, padding_idx); }

}  // namespace fq
