// The normalisation used throughout the model, chosen by norm_type, over the last axis:
//   scale_norm: x * rsqrt(mean(x^2) + eps) * scala, one scalar gain `prefix`.scala (1)
//   layer_norm: (x - mean) / sqrt(var + eps) * weight + bias, `prefix`.weight and .bias (D)
// The parameter prefix is "... .LayerNorm" for both kinds, as in the PyTorch models.
#pragma once

#include <string>

#include "core/tensor.h"
#include "nn/parameters.h"

namespace fq {

class Norm {
 public:
  Norm() = default;
  // norm_type "scale_norm" or "layer_norm"; gains start at 1 and the bias at 0.
  Norm(const std::string& prefix, const std::string& norm_type, int64_t dim, double eps,
       ParameterFactory& factory);

  Tensor forward(const Tensor& x) const;  // (..., dim) -> (..., dim)

  bool is_scale_norm = true;
  float eps = 1e-5f;
  Tensor scala;   // (1), scale_norm only
  Tensor weight;  // (dim), layer_norm only
  Tensor bias;    // (dim), layer_norm only
};

}  // namespace fq
