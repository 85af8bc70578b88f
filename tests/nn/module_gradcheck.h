// Finite-difference check of a module's gradients with respect to tensors it reads in place
// (its parameter tensors and leaf inputs). Unlike tests/gradcheck.h, which passes fresh copies
// of the inputs to a function, this perturbs each element of the given leaves where they are,
// so a module's own parameter tensors can be checked without rebuilding the module.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/random.h"
#include "core/tensor.h"

namespace fq {
namespace test {

struct ModuleGradcheckOptions {
  double eps = 1e-2;  // step h of the central difference, large because outputs are float32
  double atol = 2e-3;
  double rtol = 1e-2;
  int64_t stride = 1;  // checks elements 0, stride, 2 stride, ... of each leaf
};

using NamedLeaves = std::vector<std::pair<std::string, Tensor>>;

// Compares the gradient of L = sum(f() * R), R fixed random weights, with central differences
// for every checked element of every leaf. Each leaf must require grad.
inline ::testing::AssertionResult module_gradcheck(const std::function<Tensor()>& f,
                                                   const NamedLeaves& leaves,
                                                   const ModuleGradcheckOptions& options = {}) {
  for (const auto& [name, leaf] : leaves) {
    Tensor t = leaf;
    t.set_grad(Tensor());
  }
  Tensor out = f();
  Tensor weights = Tensor::empty(out.shape());
  CounterRng rng(99, 0x6ead, 0);
  for (int64_t i = 0; i < weights.numel(); ++i) {
    weights.data()[i] = static_cast<float>(2.0 * rng.uniform() - 1.0);
  }
  out.backward(weights);

  auto weighted = [&](const Tensor& o) {
    double total = 0.0;
    for (int64_t i = 0; i < o.numel(); ++i)
      total += static_cast<double>(o.data()[i]) * weights.data()[i];
    return total;
  };

  NoGradGuard no_grad;
  int64_t failures = 0, checked = 0;
  double max_diff = 0.0;
  std::ostringstream first;
  for (const auto& [name, leaf] : leaves) {
    Tensor t = leaf;
    const Tensor grad = t.grad();
    float* x = t.data();
    for (int64_t e = 0; e < t.numel(); e += options.stride) {
      const float original = x[e];
      x[e] = static_cast<float>(original + options.eps);
      const double up_step = static_cast<double>(x[e]) - original;
      const double up = weighted(f());
      x[e] = static_cast<float>(original - options.eps);
      const double down_step = original - static_cast<double>(x[e]);
      const double down = weighted(f());
      x[e] = original;
      const double numeric = (up - down) / (up_step + down_step);
      const double analytic = grad.defined() ? grad.data()[e] : 0.0;
      const double diff = std::fabs(analytic - numeric);
      max_diff = std::fmax(max_diff, diff);
      ++checked;
      if (!(diff <= options.atol + options.rtol * std::fabs(numeric))) {
        if (failures++ == 0) {
          first << name << " " << shape_str(t.shape()) << " element " << e << ": analytic "
                << analytic << ", numeric " << numeric
                << (grad.defined() ? "" : " (no gradient arrived)");
        }
      }
    }
  }
  if (failures > 0) {
    return ::testing::AssertionFailure() << first.str() << "; " << failures << " of " << checked
                                         << " elements failed, max |diff| " << max_diff;
  }
  return ::testing::AssertionSuccess();
}

// Overwrites every element of `t` with uniform values in [lo, hi) (parameters are leaves, so
// writing their data is not recorded).
inline void fill_uniform(Tensor t, uint64_t seed, float lo, float hi) {
  CounterRng rng(seed, 0xf111, 0);
  for (int64_t i = 0; i < t.numel(); ++i) {
    t.data()[i] = lo + (hi - lo) * static_cast<float>(rng.uniform());
  }
}

}  // namespace test
}  // namespace fq
