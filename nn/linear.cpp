#include "nn/linear.h"

#include "core/ops.h"

namespace fq {

Linear::Linear(const std::string& prefix, int64_t in_features, int64_t out_features,
               ParameterFactory& factory)
    : weight(factory.normal(prefix + ".weight", {out_features, in_features})),
      bias(factory.constant(prefix + ".bias", {out_features}, 0.0f)) {}

Tensor Linear::forward(const Tensor& x) const { return linear(x, weight, bias); }

}  // namespace fq
