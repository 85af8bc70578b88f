// Autograd engine: reshape views, accumulation through a shared input, no-grad mode and graph
// release. Op gradients are checked in the per-op test files.
#include <gtest/gtest.h>

#include "core/autograd.h"

namespace fq {
namespace {

TEST(Autograd, ReshapeSharesStorageAndPassesGradient) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  x.set_requires_grad(true);
  Tensor y = x.reshape({3, 2});
  EXPECT_TRUE(y.shares_storage(x));
  y.backward(Tensor::full({3, 2}, 2.0f));
  ASSERT_TRUE(x.grad().defined());
  for (float g : x.grad().to_vector()) EXPECT_EQ(g, 2.0f);
}

TEST(Autograd, NoGradModeRecordsNothing) {
  Tensor x = Tensor::full({4}, 1.0f);
  x.set_requires_grad(true);
  NoGradGuard guard;
  Tensor y = x.reshape({2, 2});
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
}

TEST(Autograd, GraphIsReleasedAfterBackward) {
  Tensor x = Tensor::full({2}, 1.0f);
  x.set_requires_grad(true);
  Tensor y = x.reshape({1, 2});
  y.backward(Tensor::full({1, 2}, 1.0f));
  EXPECT_THROW(y.backward(Tensor::full({1, 2}, 1.0f)), std::invalid_argument);
}

TEST(Autograd, SharedInputSumsBothGradients) {
  Tensor x = Tensor::from_vector({1, 2}, {2});
  x.set_requires_grad(true);
  Tensor a = x.reshape({1, 2});
  Tensor b = x.reshape({2, 1});
  run_backward({a, b}, {Tensor::full({1, 2}, 1.0f), Tensor::full({2, 1}, 3.0f)});
  for (float g : x.grad().to_vector()) EXPECT_EQ(g, 4.0f);
}

}  // namespace
}  // namespace fq
