// Global gradient-norm clipping.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "optim/clip.h"

namespace fq {
namespace {

NamedParameter param_with_grad(const std::string& name, const std::vector<float>& grad) {
  const int64_t n = static_cast<int64_t>(grad.size());
  Tensor t = Tensor::zeros({n});
  t.set_requires_grad(true);
  t.set_grad(Tensor::from_vector(grad, {n}));
  return {name, t};
}

TEST(ClipGradNorm, NormOverAllParameters) {
  // 3-4-12-84 Pythagorean chain: sqrt(9 + 16 + 144 + 7056) = 85.
  std::vector<NamedParameter> params = {param_with_grad("a", {3.0f, 4.0f}),
                                        param_with_grad("b", {12.0f}),
                                        param_with_grad("c", {84.0f})};
  Tensor no_grad = Tensor::zeros({2});
  no_grad.set_requires_grad(true);
  params.push_back({"d", no_grad});  // undefined grad counts as zero
  EXPECT_EQ(global_grad_norm(params), 85.0);
}

TEST(ClipGradNorm, ScalesWhenAboveMax) {
  std::vector<NamedParameter> params = {param_with_grad("a", {3.0f, 4.0f})};
  ClipResult result = clip_grad_norm(params, 1.0);
  EXPECT_EQ(result.norm, 5.0) << "the pre-clip norm is returned";
  EXPECT_TRUE(result.finite);
  EXPECT_TRUE(result.clipped);
  const float scale = static_cast<float>(1.0 / (5.0 + 1e-6));
  std::vector<float> g = params[0].tensor.grad().to_vector();
  EXPECT_EQ(g[0], 3.0f * scale);
  EXPECT_EQ(g[1], 4.0f * scale);
  EXPECT_NEAR(global_grad_norm(params), 1.0, 1e-6);
}

TEST(ClipGradNorm, LeavesGradientsBelowMax) {
  std::vector<NamedParameter> params = {param_with_grad("a", {0.3f, 0.4f})};
  ClipResult result = clip_grad_norm(params, 1.0);
  EXPECT_FALSE(result.clipped);
  EXPECT_EQ(params[0].tensor.grad().to_vector()[0], 0.3f);
  EXPECT_EQ(params[0].tensor.grad().to_vector()[1], 0.4f);

  // Exactly at max_norm the factor 1 / (1 + 1e-6) is below 1, so torch scales (slightly).
  std::vector<NamedParameter> at_max = {param_with_grad("a", {0.6f, 0.8f})};
  double norm = global_grad_norm(at_max);
  EXPECT_TRUE(clip_grad_norm(at_max, norm).clipped);
}

TEST(ClipGradNorm, ZeroMaxNormDisables) {
  std::vector<NamedParameter> params = {param_with_grad("a", {30.0f, 40.0f})};
  ClipResult result = clip_grad_norm(params, 0.0);
  EXPECT_EQ(result.norm, 50.0);
  EXPECT_FALSE(result.clipped);
  EXPECT_EQ(params[0].tensor.grad().to_vector()[0], 30.0f);
}

TEST(ClipGradNorm, ReportsNonFiniteWithoutScaling) {
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<NamedParameter> params = {param_with_grad("a", {bad, 4.0f})};
    ClipResult result = clip_grad_norm(params, 1.0);
    EXPECT_FALSE(result.finite) << "gradient value " << bad;
    EXPECT_FALSE(result.clipped) << "gradient value " << bad;
    EXPECT_EQ(params[0].tensor.grad().to_vector()[1], 4.0f) << "gradient value " << bad;
  }
}

TEST(ClipGradNorm, RejectsInvalidMaxNorm) {
  std::vector<NamedParameter> params = {param_with_grad("a", {1.0f})};
  EXPECT_THROW(clip_grad_norm(params, -1.0), std::invalid_argument);
  EXPECT_THROW(clip_grad_norm(params, std::numeric_limits<double>::infinity()),
               std::invalid_argument);
}

TEST(ClipGradNorm, ThreadCountDoesNotChangeNorm) {
  std::vector<float> grad(200001);
  for (size_t i = 0; i < grad.size(); ++i)
    grad[i] = std::sin(0.37f * static_cast<float>(i)) * 1e-2f;
  const int saved_threads = num_threads();
  set_num_threads(1);
  double one = global_grad_norm({param_with_grad("a", grad)});
  set_num_threads(2);
  double two = global_grad_norm({param_with_grad("a", grad)});
  set_num_threads(saved_threads);
  EXPECT_EQ(one, two);

  double reference = 0.0;
  for (float g : grad) reference += static_cast<double>(g) * g;
  EXPECT_NEAR(one, std::sqrt(reference), 1e-12 * std::sqrt(reference));
}

}  // namespace
}  // namespace fq
