// Reductions: sums and means over the last axis or over all elements. Sums accumulate in double.
// sum_all splits the input into fixed-size chunks whose partial sums are added in chunk order,
// so the result is the same for every thread count.
#include <vector>

#include "core/ops.h"
#include "core/ops_common.h"

namespace fq {

using detail::kParallelMin;

namespace {

// ---- kernels ----

// out[r] = scale * sum_j x[r, j]; x: (rows, n)
void sum_last_forward(float* out, const float* x, int64_t rows, int64_t n, double scale) {
#pragma omp parallel for schedule(static) if (rows * n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x_r = x + r * n;
    double acc = 0.0;
    for (int64_t j = 0; j < n; ++j) acc += x_r[j];
    out[r] = static_cast<float>(acc * scale);
  }
}

// dx[r, j] += scale * dout[r]
void sum_last_backward(float* dx, const float* dout, int64_t rows, int64_t n, float scale) {
#pragma omp parallel for schedule(static) if (rows * n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float g = scale * dout[r];
    float* dx_r = dx + r * n;
    for (int64_t j = 0; j < n; ++j) dx_r[j] += g;
  }
}

constexpr int64_t kSumChunk = 4096;

double sum_all_forward(const float* x, int64_t n) {
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kSumChunk;
    const int64_t end = begin + kSumChunk < n ? begin + kSumChunk : n;
    double acc = 0.0;
    for (int64_t i = begin; i < end; ++i) acc += x[i];
    partial[c] = acc;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

void sum_all_backward(float* dx, float g, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] += g;
}

Tensor reduce_last(const char* op, const Tensor& x, bool mean) {
  detail::check_float(op, "x", x);
  FQ_CHECK(x.dim() >= 1, op << ": expected at least one axis, got shape " << shape_str(x.shape()));
  const int64_t n = x.size(-1);
  FQ_CHECK(!mean || n > 0,
           op << ": the mean over an empty last axis is undefined (shape " << shape_str(x.shape())
              << ")");
  const int64_t rows = n == 0 ? detail::prod(x.shape(), 0, x.dim() - 1) : x.numel() / n;
  Shape out_shape = x.shape();
  out_shape.back() = 1;
  Tensor out = Tensor::empty(out_shape);
  const double scale = mean ? 1.0 / static_cast<double>(n) : 1.0;
  sum_last_forward(out.data(), x.data(), rows, n, scale);
  record(out, op, {x}, [rows, n, scale](const Tensor& dout, std::vector<Tensor>& dinputs) {
    sum_last_backward(dinputs[0].data(), dout.data(), rows, n, static_cast<float>(scale));
  });
  return out;
}

Tensor reduce_all(const char* op, const Tensor& x, bool mean) {
  detail::check_float(op, "x", x);
  const int64_t n = x.numel();
  FQ_CHECK(!mean || n > 0,
           op << ": the mean of an empty tensor is undefined (shape " << shape_str(x.shape())
              << ")");
  const double scale = mean ? 1.0 / static_cast<double>(n) : 1.0;
  Tensor out = Tensor::scalar(static_cast<float>(sum_all_forward(x.data(), n) * scale));
  record(out, op, {x}, [n, scale](const Tensor& dout, std::vector<Tensor>& dinputs) {
    sum_all_backward(dinputs[0].data(), static_cast<float>(scale * dout.item()), n);
  });
  return out;
}

}  // namespace

Tensor sum_last(const Tensor& x) { return reduce_last("sum_last", x, false); }
Tensor mean_last(const Tensor& x) { return reduce_last("mean_last", x, true); }
Tensor sum_all(const Tensor& x) { return reduce_all("sum_all", x, false); }
Tensor mean_all(const Tensor& x) { return reduce_all("mean_all", x, true); }

}  // namespace fq
