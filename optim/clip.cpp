#include "optim/clip.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"

namespace fq {

namespace {

// Squares are summed in fixed blocks so the partition, and with it the rounding, is the same
// for any thread count.
constexpr int64_t kBlock = 16384;

double sum_of_squares(const float* x, int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  // Each iteration writes only its own partial sum.
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * kBlock;
    const int64_t end = std::min(n, begin + kBlock);
    double sum = 0.0;
    for (int64_t i = begin; i < end; ++i)
      sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    partial[static_cast<size_t>(b)] = sum;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace

double global_grad_norm(const std::vector<NamedParameter>& params) {
  double total = 0.0;
  for (const NamedParameter& param : params) {
    Tensor grad = param.tensor.grad();
    if (!grad.defined()) continue;
    total += sum_of_squares(grad.data(), grad.numel());
  }
  return std::sqrt(total);
}

ClipResult clip_grad_norm(const std::vector<NamedParameter>& params, double max_norm) {
  FQ_CHECK(
      std::isfinite(max_norm) && max_norm >= 0.0,
      "clip_grad_norm: max_norm must be finite and >= 0 (0 disables clipping), got " << max_norm);
  ClipResult result;
  result.norm = global_grad_norm(params);
  result.finite = std::isfinite(result.norm);
  if (!result.finite || max_norm == 0.0) return result;

  const double coef = max_norm / (result.norm + 1e-6);
  if (coef >= 1.0) return result;
  const float scale = static_cast<float>(coef);
  for (const NamedParameter& param : params) {
    Tensor grad = param.tensor.grad();
    if (!grad.defined()) continue;
    float* g = grad.data();
    const int64_t n = grad.numel();
    // Elementwise scaling: each iteration writes one element.
#pragma omp parallel for schedule(static) if (n >= 32768)
    for (int64_t i = 0; i < n; ++i) g[i] *= scale;
  }
  result.clipped = true;
  return result;
}

}  // namespace fq
