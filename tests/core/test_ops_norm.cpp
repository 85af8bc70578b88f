// Normalisation over the last axis: gradient checks for x and the parameters, hand-computed
// values and stability for large or offset inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

using test::all_close;
using test::error_message;
using test::gradcheck;
using test::random_tensor;

TEST(ScaleNorm, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return scale_norm(in[0], in[1], 1e-5f); };
  for (const Shape& shape : {Shape{3, 5, 7}, Shape{1, 7}, Shape{5, 1}, Shape{11}}) {
    // NOTE: with d = 1 the output is about sign(x) * scala, a step of width sqrt(eps) at 0, so
    // inputs keep |x| >= 0.3 for the finite differences to resolve it.
    EXPECT_TRUE(gradcheck("scale_norm", f,
                          {test::random_away_from_zero(shape, 1, 0.3f, 1.0f),
                           random_tensor({1}, 2, 0.5f, 1.5f)}))
        << "x " << shape_str(shape);
  }
}

TEST(LayerNorm, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2], 1e-5f); };
  for (const Shape& shape : {Shape{3, 5, 7}, Shape{1, 7}, Shape{5, 1}, Shape{13}}) {
    const int64_t d = shape.back();
    EXPECT_TRUE(gradcheck("layer_norm", f,
                          {random_tensor(shape, 1, -2, 2), random_tensor({d}, 2, 0.5f, 1.5f),
                           random_tensor({d}, 3)}))
        << "x " << shape_str(shape);
  }
}

TEST(ScaleNorm, ForwardMatchesHandComputation) {
  // x = [3, 4]: mean(x^2) = 12.5, so y = x / sqrt(12.5 + eps) * scala.
  Tensor x = Tensor::from_vector({3, 4, -1, 0}, {2, 2});
  Tensor scala = Tensor::from_vector({2.0f}, {1});
  const double eps = 1e-5;
  Tensor y = scale_norm(x, scala, static_cast<float>(eps));
  const double r0 = 2.0 / std::sqrt(12.5 + eps);
  const double r1 = 2.0 / std::sqrt(0.5 + eps);
  EXPECT_TRUE(all_close(y, Tensor::from_vector({float(3 * r0), float(4 * r0), float(-r1), 0.0f},
                                               {2, 2})));
}

TEST(ScaleNorm, HugeInputsDoNotOverflow) {
  // x^2 = 1.6e41 overflows float; the statistics are accumulated in double.
  Tensor x = Tensor::from_vector({3e20f, 4e20f}, {1, 2});
  Tensor y = scale_norm(x, Tensor::full({1}, 1.0f), 1e-5f);
  EXPECT_TRUE(all_close(y, Tensor::from_vector({0.84852814f, 1.13137085f}, {1, 2}), 1e-6, 1e-6));
}

TEST(LayerNorm, ForwardMatchesHandComputation) {
  // x = [1, 2, 3]: mean 2, biased variance 2/3.
  Tensor x = Tensor::from_vector({1, 2, 3}, {1, 3});
  Tensor w = Tensor::from_vector({1, 2, 3}, {3});
  Tensor b = Tensor::from_vector({0, 1, -1}, {3});
  const double s = 1.0 / std::sqrt(2.0 / 3.0 + 1e-5);
  Tensor y = layer_norm(x, w, b, 1e-5f);
  EXPECT_TRUE(all_close(y, Tensor::from_vector({float(-s), 1.0f, float(3 * s - 1)}, {1, 3})));
}

TEST(LayerNorm, LargeOffsetIsStable) {
  // A one-pass E[x^2] - E[x]^2 in float loses all precision at an offset of 1e4.
  Tensor x = Tensor::from_vector({10000, 10001, 10002, 10003}, {1, 4});
  Tensor y = layer_norm(x, Tensor::full({4}, 1.0f), Tensor::zeros({4}), 0.0f);
  const double s = 1.0 / std::sqrt(1.25);
  EXPECT_TRUE(all_close(y, Tensor::from_vector({float(-1.5 * s), float(-0.5 * s),
                                                float(0.5 * s), float(1.5 * s)},
                                               {1, 4}),
                        1e-6, 1e-6));
}

TEST(LayerNorm, ShapeMismatchNamesOpAndShapes) {
  Tensor x = Tensor::zeros({2, 5});
  std::string msg = error_message(
      [&] { layer_norm(x, Tensor::zeros({4}), Tensor::zeros({5}), 1e-5f); });
  EXPECT_NE(msg.find("layer_norm"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
  msg = error_message([&] { scale_norm(x, Tensor::zeros({2}), 1e-5f); });
  EXPECT_NE(msg.find("scale_norm"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2]"), std::string::npos) << msg;
  msg = error_message([&] { scale_norm(Tensor::zeros({3, 0}), Tensor::zeros({1}), 1e-5f); });
  EXPECT_NE(msg.find("[3, 0]"), std::string::npos) << msg;
}

TEST(ScaleNorm, EmptyRowsGiveEmptyOutput) {
  Tensor x = Tensor::zeros({0, 4}).set_requires_grad(true);
  Tensor scala = Tensor::full({1}, 1.0f).set_requires_grad(true);
  Tensor y = scale_norm(x, scala, 1e-5f);
  EXPECT_EQ(y.shape(), (Shape{0, 4}));
  y.backward(Tensor::zeros({0, 4}));
  EXPECT_EQ(scala.grad().item(), 0.0f);
}

}  // namespace
}  // namespace fq
