#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

using test::gradcheck;
using test::random_tensor;

TEST(GatedLinear, BackwardMatchesFiniteDifferences) {
  auto with_bias = [](const std::vector<Tensor>& in) {
    return gated_linear(in[0], in[1], in[2], in[3]);
  };
  auto no_bias = [](const std::vector<Tensor>& in) {
    return gated_linear(in[0], in[1], in[2], Tensor());
  };
  EXPECT_TRUE(gradcheck("gated_linear", with_bias,
                        {random_tensor({2, 3, 5}, 1), random_tensor({2, 3, 5}, 2),
                         random_tensor({4, 5}, 3), random_tensor({4}, 4)}));
  EXPECT_TRUE(gradcheck("gated_linear", no_bias,
                        {random_tensor({3, 5}, 5), random_tensor({3, 5}, 6),
                         random_tensor({1, 5}, 7)}));
}

TEST(GatedLinear, EqualsMulThenLinearBitwise) {
  // Same values and gradients as the unfused ops, bit for bit.
  const Tensor u0 = random_tensor({4, 6, 8}, 11), g0 = random_tensor({4, 6, 8}, 12);
  const Tensor w0 = random_tensor({5, 8}, 13), b0 = random_tensor({5}, 14);
  const Tensor seed = random_tensor({4, 6, 5}, 15);
  std::vector<std::vector<float>> results[2];
  for (int fused = 0; fused < 2; ++fused) {
    Tensor u = u0.clone().set_requires_grad(true), g = g0.clone().set_requires_grad(true);
    Tensor w = w0.clone().set_requires_grad(true), b = b0.clone().set_requires_grad(true);
    Tensor y = fused ? gated_linear(u, g, w, b) : linear(mul(u, g), w, b);
    y.backward(seed);
    results[fused] = {y.to_vector(), u.grad().to_vector(), g.grad().to_vector(),
                      w.grad().to_vector(), b.grad().to_vector()};
  }
  const char* names[] = {"output", "du", "dg", "dweight", "dbias"};
  for (size_t k = 0; k < 5; ++k) {
    ASSERT_EQ(results[0][k].size(), results[1][k].size()) << names[k];
    for (size_t i = 0; i < results[0][k].size(); ++i) {
      ASSERT_EQ(results[0][k][i], results[1][k][i]) << names[k] << " differs at index " << i;
    }
  }
}

TEST(GatedLinear, RejectsMismatchedShapes) {
  EXPECT_THROW(gated_linear(random_tensor({2, 3}, 1), random_tensor({2, 4}, 2),
                            random_tensor({5, 3}, 3), Tensor()),
               std::invalid_argument);
  EXPECT_THROW(gated_linear(random_tensor({2, 3}, 1), random_tensor({2, 3}, 2),
                            random_tensor({5, 4}, 3), Tensor()),
               std::invalid_argument);
}

}  // namespace
}  // namespace fq
