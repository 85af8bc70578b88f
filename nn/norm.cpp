#include "nn/norm.h"

#include "core/ops.h"

namespace fq {

Norm::Norm(const std::string& prefix, const std::string& norm_type, int64_t dim, double eps,
           ParameterFactory& factory)
    : is_scale_norm(norm_type == "scale_norm"), eps(static_cast<float>(eps)) {
  FQ_CHECK(norm_type == "scale_norm" || norm_type == "layer_norm",
           "norm " << prefix << ": norm_type must be \"scale_norm\" or \"layer_norm\", got \""
                   << norm_type << "\"");
  if (is_scale_norm) {
    scala = factory.constant(prefix + ".scala", {1}, 1.0f);
  } else {
    weight = factory.constant(prefix + ".weight", {dim}, 1.0f);
    bias = factory.constant(prefix + ".bias", {dim}, 0.0f);
  }
}

Tensor Norm::forward(const Tensor& x) const {
  return is_scale_norm ? scale_norm(x, scala, eps) : layer_norm(x, weight, bias, eps);
}

}  // namespace fq
