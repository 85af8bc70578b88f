// Fully connected layer y = x W^T + b (the layout of torch.nn.Linear).
#pragma once

#include <string>

#include "core/tensor.h"
#include "nn/parameters.h"

namespace fq {

class Linear {
 public:
  Linear() = default;
  // Creates `prefix`.weight (out, in) ~ N(0, std) and `prefix`.bias (out) = 0.
  Linear(const std::string& prefix, int64_t in_features, int64_t out_features,
         ParameterFactory& factory);

  Tensor forward(const Tensor& x) const;  // (..., in) -> (..., out)

  Tensor weight;  // (out, in)
  Tensor bias;    // (out)
};

}  // namespace fq
