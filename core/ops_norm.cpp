// Normalisation over the last axis (size d) of rows r:
//   scale_norm: y = x * rsqrt(mean(x^2) + eps) * scala             (one scalar gain)
//   layer_norm: y = (x - mean) * rsqrt(var + eps) * weight + bias  (biased variance)
// Row statistics are computed in double (two passes for the variance) and saved per row for
// backward. Parameter gradients are reduced over rows in row order.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/ops.h"
#include "core/ops_common.h"

namespace fq {

using detail::kParallelMin;

namespace {

// ---- scale_norm kernels ----

// y: (rows, d), rstd: (rows); x: (rows, d); gain = scala
void scale_norm_forward(float* y, float* rstd, const float* x, float gain, float eps,
                        int64_t rows, int64_t d) {
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x_r = x + r * d;
    double ss = 0.0;
    for (int64_t j = 0; j < d; ++j) ss += static_cast<double>(x_r[j]) * x_r[j];
    const float s = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
    rstd[r] = s;
    float* y_r = y + r * d;
    for (int64_t j = 0; j < d; ++j) y_r[j] = x_r[j] * s * gain;
  }
}

// With xhat = x * rstd and y = gain * xhat:
//   dx = gain * rstd * (dy - xhat * mean(dy * xhat)),  dgain = sum over rows of sum(dy * xhat).
// dx may be null; row_dot (rows) receives sum(dy * xhat) of each row.
void scale_norm_backward(float* dx, double* row_dot, const float* dy, const float* x,
                         const float* rstd, float gain, int64_t rows, int64_t d) {
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x_r = x + r * d;
    const float* dy_r = dy + r * d;
    const float s = rstd[r];
    double dot = 0.0;
    for (int64_t j = 0; j < d; ++j) dot += static_cast<double>(dy_r[j]) * (x_r[j] * s);
    row_dot[r] = dot;
    if (dx) {
      const float m = static_cast<float>(dot / static_cast<double>(d));
      const float gs = gain * s;
      float* dx_r = dx + r * d;
      for (int64_t j = 0; j < d; ++j) dx_r[j] += gs * (dy_r[j] - x_r[j] * s * m);
    }
  }
}

// ---- layer_norm kernels ----

// y: (rows, d), mean, rstd: (rows); x: (rows, d); weight, bias: (d)
void layer_norm_forward(float* y, float* mean, float* rstd, const float* x, const float* weight,
                        const float* bias, float eps, int64_t rows, int64_t d) {
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x_r = x + r * d;
    double sum = 0.0;
    for (int64_t j = 0; j < d; ++j) sum += x_r[j];
    const double mu = sum / static_cast<double>(d);
    double var = 0.0;
    for (int64_t j = 0; j < d; ++j) {
      const double c = x_r[j] - mu;
      var += c * c;
    }
    var /= static_cast<double>(d);
    const float m = static_cast<float>(mu);
    const float s = static_cast<float>(1.0 / std::sqrt(var + eps));
    mean[r] = m;
    rstd[r] = s;
    float* y_r = y + r * d;
    for (int64_t j = 0; j < d; ++j) y_r[j] = (x_r[j] - m) * s * weight[j] + bias[j];
  }
}

// With xhat = (x - mean) * rstd, y = xhat * weight + bias and g = dy * weight:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
void layer_norm_backward_input(float* dx, const float* dy, const float* x, const float* mean,
                               const float* rstd, const float* weight, int64_t rows, int64_t d) {
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x_r = x + r * d;
    const float* dy_r = dy + r * d;
    const float m = mean[r];
    const float s = rstd[r];
    double sum_g = 0.0;
    double sum_gx = 0.0;
    for (int64_t j = 0; j < d; ++j) {
      const float g = dy_r[j] * weight[j];
      sum_g += g;
      sum_gx += static_cast<double>(g) * ((x_r[j] - m) * s);
    }
    const float mean_g = static_cast<float>(sum_g / static_cast<double>(d));
    const float mean_gx = static_cast<float>(sum_gx / static_cast<double>(d));
    float* dx_r = dx + r * d;
    for (int64_t j = 0; j < d; ++j) {
      const float xhat = (x_r[j] - m) * s;
      dx_r[j] += s * (dy_r[j] * weight[j] - mean_g - xhat * mean_gx);
    }
  }
}

// dweight[j] += sum_r dy[r, j] * xhat[r, j]; dbias[j] += sum_r dy[r, j]. Either may be null.
// Parallel over column blocks, rows in order.
void layer_norm_backward_params(float* dweight, float* dbias, const float* dy, const float* x,
                                const float* mean, const float* rstd, int64_t rows, int64_t d) {
  const int64_t block = 64;
  const int64_t blocks = (d + block - 1) / block;
#pragma omp parallel for schedule(static) if (rows * d > kParallelMin && blocks > 1)
  for (int64_t t = 0; t < blocks; ++t) {
    const int64_t begin = t * block;
    const int64_t end = std::min(d, begin + block);
    for (int64_t r = 0; r < rows; ++r) {
      const float* x_r = x + r * d;
      const float* dy_r = dy + r * d;
      const float m = mean[r];
      const float s = rstd[r];
      if (dweight) {
        for (int64_t j = begin; j < end; ++j) dweight[j] += dy_r[j] * ((x_r[j] - m) * s);
      }
      if (dbias) {
        for (int64_t j = begin; j < end; ++j) dbias[j] += dy_r[j];
      }
    }
  }
}

int64_t norm_width(const char* op, const Tensor& x) {
  detail::check_float(op, "x", x);
  FQ_CHECK(x.dim() >= 1 && x.size(-1) > 0,
           op << ": x needs a non-empty last axis to normalise, got " << shape_str(x.shape()));
  return x.size(-1);
}

}  // namespace

Tensor scale_norm(const Tensor& x, const Tensor& scala, float eps) {
  const int64_t d = norm_width("scale_norm", x);
  detail::check_float("scale_norm", "scala", scala);
  FQ_CHECK(scala.numel() == 1, "scale_norm: scala must have one element, got "
                                   << shape_str(scala.shape()) << " for x "
                                   << shape_str(x.shape()));
  FQ_CHECK(eps >= 0.0f, "scale_norm: eps must be >= 0, got " << eps);
  const int64_t rows = x.numel() / d;
  const float gain = scala.data()[0];
  Tensor out = Tensor::empty(x.shape());
  Tensor rstd = Tensor::empty({rows});
  scale_norm_forward(out.data(), rstd.data(), x.data(), gain, eps, rows, d);

  if (needs_grad({&x, &scala})) {
    Tensor x_saved = x.detach();
    record(out, "scale_norm", {x, scala},
           [x_saved, rstd, gain, rows, d](const Tensor& dout, std::vector<Tensor>& dinputs) {
             std::vector<double> row_dot(rows);
             float* dx = dinputs[0].defined() ? dinputs[0].data() : nullptr;
             scale_norm_backward(dx, row_dot.data(), dout.data(), x_saved.data(), rstd.data(),
                                 gain, rows, d);
             if (dinputs[1].defined()) {
               double total = 0.0;
               for (double v : row_dot) total += v;
               dinputs[1].data()[0] += static_cast<float>(total);
             }
           });
  }
  return out;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  const int64_t d = norm_width("layer_norm", x);
  detail::check_float("layer_norm", "weight", weight);
  detail::check_float("layer_norm", "bias", bias);
  FQ_CHECK(weight.dim() == 1 && weight.size(0) == d,
           "layer_norm: weight must be [" << d << "] for x " << shape_str(x.shape()) << ", got "
                                          << shape_str(weight.shape()));
  FQ_CHECK(bias.dim() == 1 && bias.size(0) == d,
           "layer_norm: bias must be [" << d << "] for x " << shape_str(x.shape()) << ", got "
                                        << shape_str(bias.shape()));
  FQ_CHECK(eps >= 0.0f, "layer_norm: eps must be >= 0, got " << eps);
  const int64_t rows = x.numel() / d;
  Tensor out = Tensor::empty(x.shape());
  Tensor mean = Tensor::empty({rows});
  Tensor rstd = Tensor::empty({rows});
  layer_norm_forward(out.data(), mean.data(), rstd.data(), x.data(), weight.data(), bias.data(),
                     eps, rows, d);

  if (needs_grad({&x, &weight, &bias})) {
    Tensor x_saved = x.detach();
    Tensor w_saved = x.requires_grad() ? weight.detach() : Tensor();
    record(out, "layer_norm", {x, weight, bias},
           [x_saved, w_saved, mean, rstd, rows, d](const Tensor& dout,
                                                   std::vector<Tensor>& dinputs) {
             if (dinputs[0].defined()) {
               layer_norm_backward_input(dinputs[0].data(), dout.data(), x_saved.data(),
                                         mean.data(), rstd.data(), w_saved.data(), rows, d);
             }
             float* dw = dinputs[1].defined() ? dinputs[1].data() : nullptr;
             float* db = dinputs[2].defined() ? dinputs[2].data() : nullptr;
             if (dw || db) {
               layer_norm_backward_params(dw, db, dout.data(), x_saved.data(), mean.data(),
                                          rstd.data(), rows, d);
             }
           });
  }
  return out;
}

}  // namespace fq
