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

// gated_attention_output against the ops it replaces in the attention unit: the activation over
// the whole projection, a split into u, v and a remainder, then gated_linear(u, A v).
Tensor attention_output_composed(const Tensor& pre, const Tensor& a, const Tensor& w,
                                 const Tensor& b, const std::string& act) {
  const int64_t in = w.size(1);
  std::vector<Tensor> parts = split_last(activation(pre, act), {in, in, pre.size(2) - 2 * in});
  return gated_linear(parts[0], matmul(a, parts[1]), w, b);
}

TEST(GatedAttentionOutput, BackwardMatchesFiniteDifferences) {
  for (const char* act : {"silu", "gelu"}) {
    auto with_bias = [act](const std::vector<Tensor>& in) {
      return gated_attention_output(in[0], in[1], in[2], in[3], act);
    };
    auto no_bias = [act](const std::vector<Tensor>& in) {
      return gated_attention_output(in[0], in[1], in[2], Tensor(), act);
    };
    EXPECT_TRUE(gradcheck(std::string("gated_attention_output ") + act, with_bias,
                          {random_tensor({2, 3, 11}, 21), random_tensor({2, 3, 3}, 22),
                           random_tensor({4, 5}, 23), random_tensor({4}, 24)}));
    EXPECT_TRUE(gradcheck(std::string("gated_attention_output ") + act + " without bias",
                          no_bias,
                          {random_tensor({1, 4, 6}, 25), random_tensor({1, 4, 4}, 26),
                           random_tensor({2, 3}, 27)}));
  }
}

TEST(GatedAttentionOutput, EqualsActivationSplitGatedLinearBitwise) {
  // Same values and gradients as the unfused ops, bit for bit, with the remainder columns of
  // pre also used (as the attention unit uses them for q and k). Sizes are odd so that
  // vectorised loops also run their remainder iterations.
  for (const char* act : {"silu", "swish", "gelu", "relu"}) {
    const int64_t batch = 3, seq = 7, in = 37, rest = 5, out_features = 9;
    const Tensor pre0 = random_tensor({batch, seq, 2 * in + rest}, 31);
    const Tensor a0 = random_tensor({batch, seq, seq}, 32);
    const Tensor w0 = random_tensor({out_features, in}, 33), b0 = random_tensor({out_features}, 34);
    const Tensor wr0 = random_tensor({out_features, rest}, 35);
    const Tensor seed = random_tensor({batch, seq, out_features}, 36);
    std::vector<std::vector<float>> results[2];
    for (int fused = 0; fused < 2; ++fused) {
      Tensor pre = pre0.clone().set_requires_grad(true), a = a0.clone().set_requires_grad(true);
      Tensor w = w0.clone().set_requires_grad(true), b = b0.clone().set_requires_grad(true);
      Tensor wr = wr0.clone().set_requires_grad(true);
      Tensor y;
      if (fused) {
        Tensor rest_part = activation(narrow(pre, -1, 2 * in, rest), act);
        y = add(gated_attention_output(pre, a, w, b, act), linear(rest_part, wr, Tensor()));
      } else {
        std::vector<Tensor> parts = split_last(activation(pre, act), {in, in, rest});
        y = add(gated_linear(parts[0], matmul(a, parts[1]), w, b),
                linear(parts[2], wr, Tensor()));
      }
      y.backward(seed);
      results[fused] = {y.to_vector(),         pre.grad().to_vector(), a.grad().to_vector(),
                        w.grad().to_vector(), b.grad().to_vector(),   wr.grad().to_vector()};
    }
    const char* names[] = {"output", "dpre", "dattention", "dweight", "dbias", "drest_weight"};
    for (size_t k = 0; k < 6; ++k) {
      ASSERT_EQ(results[0][k].size(), results[1][k].size()) << act << " " << names[k];
      for (size_t i = 0; i < results[0][k].size(); ++i) {
        ASSERT_EQ(results[0][k][i], results[1][k][i])
            << act << ": " << names[k] << " differs at index " << i;
      }
    }
  }
}

TEST(GatedAttentionOutput, EqualsCompositionWithoutGrad) {
  const Tensor pre = random_tensor({2, 5, 13}, 41), a = random_tensor({2, 5, 5}, 42);
  const Tensor w = random_tensor({3, 6}, 43), b = random_tensor({3}, 44);
  const std::vector<float> fused = gated_attention_output(pre, a, w, b, "silu").to_vector();
  const std::vector<float> composed = attention_output_composed(pre, a, w, b, "silu").to_vector();
  ASSERT_EQ(fused.size(), composed.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    ASSERT_EQ(fused[i], composed[i]) << "output differs at index " << i;
  }
}

TEST(GatedAttentionOutput, RejectsMismatchedShapes) {
  const Tensor w = random_tensor({3, 4}, 51);
  // pre narrower than 2 * in
  EXPECT_THROW(gated_attention_output(random_tensor({2, 5, 7}, 52), random_tensor({2, 5, 5}, 53),
                                      w, Tensor(), "silu"),
               std::invalid_argument);
  // attention not (B, T, T)
  EXPECT_THROW(gated_attention_output(random_tensor({2, 5, 8}, 54), random_tensor({2, 5, 4}, 55),
                                      w, Tensor(), "silu"),
               std::invalid_argument);
  // unknown activation
  EXPECT_THROW(gated_attention_output(random_tensor({2, 5, 8}, 56), random_tensor({2, 5, 5}, 57),
                                      w, Tensor(), "tanh"),
               std::invalid_argument);
}

}  // namespace
}  // namespace fq
