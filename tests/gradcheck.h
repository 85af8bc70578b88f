// Finite-difference gradient check for ops and layers, plus deterministic random inputs.
//
// gradcheck(op, f, inputs) reduces f's output to L = sum(out * R) with a fixed random R, takes
// the analytic gradient of L for every float input by backward(), and compares each element with
// the central difference (L(x + h) - L(x - h)) / (2 h). Outputs are float32, so L is summed in
// double and h is large (1e-2 by default); the tolerances below are sized for that. Inputs near a
// kink (relu at 0) must be moved away from it by the caller.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/random.h"
#include "core/tensor.h"

namespace fq {
namespace test {

// Uniform values in [lo, hi) from a fixed seed.
inline Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::empty(shape);
  CounterRng rng(seed, 0x7e57, 0);
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) {
    p[i] = lo + (hi - lo) * static_cast<float>(rng.uniform());
  }
  return t;
}

// Values with a random sign and magnitude in [min_abs, max_abs): keeps inputs away from 0.
inline Tensor random_away_from_zero(const Shape& shape, uint64_t seed, float min_abs,
                                    float max_abs) {
  Tensor t = random_tensor(shape, seed, min_abs, max_abs);
  CounterRng rng(seed, 0x5167, 0);
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (rng.next_u64() & 1) p[i] = -p[i];
  }
  return t;
}

struct GradcheckOptions {
  double eps = 1e-2;   // finite-difference step h
  double atol = 2e-3;  // pass when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-2;
  uint64_t seed = 12345;          // seed of the weight tensor R
  std::vector<bool> constant;     // constant[i]: input i is not differentiated nor checked
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace detail {

inline double weighted_sum(const Tensor& out, const Tensor& weights) {
  const float* o = out.data();
  const float* w = weights.data();
  double total = 0.0;
  for (int64_t i = 0; i < out.numel(); ++i) total += static_cast<double>(o[i]) * w[i];
  return total;
}

}  // namespace detail

// Checks every element of every non-constant float input. Int32 inputs are passed through.
inline ::testing::AssertionResult gradcheck(const std::string& op, const GradcheckFn& f,
                                            const std::vector<Tensor>& inputs,
                                            const GradcheckOptions& options = {}) {
  auto is_checked = [&](size_t i) {
    return inputs[i].is_float() && !(i < options.constant.size() && options.constant[i]);
  };

  // 1. Analytic gradients of L = sum(out * R).
  std::vector<Tensor> leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor leaf = inputs[i].clone();
    if (is_checked(i)) leaf.set_requires_grad(true);
    leaves.push_back(leaf);
  }
  Tensor out = f(leaves);
  Tensor weights = Tensor::empty(out.shape());
  {
    CounterRng rng(options.seed, 0x6ead, 0);
    float* w = weights.data();
    for (int64_t i = 0; i < weights.numel(); ++i) {
      w[i] = static_cast<float>(2.0 * rng.uniform() - 1.0);
    }
  }
  if (!out.requires_grad()) {
    return ::testing::AssertionFailure()
           << op << ": output does not require grad although an input does";
  }
  out.backward(weights);

  // 2. Central differences, one element at a time, on copies without autograd.
  NoGradGuard no_grad;
  std::vector<Tensor> work;
  for (const Tensor& t : inputs) work.push_back(t.clone());
  int64_t failures = 0;
  int64_t checked = 0;
  double max_diff = 0.0;
  std::ostringstream first;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!is_checked(i)) continue;
    Tensor grad = leaves[i].grad();
    float* x = work[i].data();
    for (int64_t e = 0; e < work[i].numel(); ++e) {
      const float original = x[e];
      x[e] = static_cast<float>(original + options.eps);
      const double step_up = static_cast<double>(x[e]) - original;
      const double loss_up = detail::weighted_sum(f(work), weights);
      x[e] = static_cast<float>(original - options.eps);
      const double step_down = original - static_cast<double>(x[e]);
      const double loss_down = detail::weighted_sum(f(work), weights);
      x[e] = original;
      const double numeric = (loss_up - loss_down) / (step_up + step_down);
      const double analytic = grad.defined() ? grad.data()[e] : 0.0;
      const double diff = std::fabs(analytic - numeric);
      max_diff = std::max(max_diff, diff);
      ++checked;
      if (!(diff <= options.atol + options.rtol * std::fabs(numeric))) {
        if (failures == 0) {
          first << op << ": input " << i << " (shape " << shape_str(inputs[i].shape())
                << ") element " << e << ": analytic " << analytic << ", numeric " << numeric
                << ", |diff| " << diff << " > " << options.atol << " + " << options.rtol
                << " * |numeric|" << (grad.defined() ? "" : " (no gradient arrived)");
        }
        ++failures;
      }
    }
  }
  if (failures > 0) {
    return ::testing::AssertionFailure() << first.str() << "; " << failures << " of " << checked
                                         << " elements failed, max |diff| " << max_diff;
  }
  return ::testing::AssertionSuccess();
}

// Bitwise equality of two float tensors, reporting the first differing index.
inline ::testing::AssertionResult same_bytes(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure()
           << "shapes differ: " << shape_str(a.shape()) << " vs " << shape_str(b.shape());
  }
  const float* pa = a.data();
  const float* pb = b.data();
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::memcmp(pa + i, pb + i, sizeof(float)) != 0) {
      return ::testing::AssertionFailure()
             << "element " << i << " differs: " << pa[i] << " vs " << pb[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// Elementwise |a - b| <= atol + rtol * |b|, reporting the first violation.
inline ::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double atol = 1e-6,
                                            double rtol = 1e-5) {
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure()
           << "shapes differ: " << shape_str(a.shape()) << " vs " << shape_str(b.shape());
  }
  const float* pa = a.data();
  const float* pb = b.data();
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double diff = std::fabs(static_cast<double>(pa[i]) - pb[i]);
    if (!(diff <= atol + rtol * std::fabs(pb[i]))) {
      return ::testing::AssertionFailure() << "element " << i << ": " << pa[i] << " vs expected "
                                           << pb[i] << " (|diff| " << diff << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// Message of the std::invalid_argument thrown by fn, or "" when none is thrown.
inline std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace test
}  // namespace fq
