// Products: matmul with shared and batched right operands and every transpose combination, and
// linear with and without bias. Checked against naive loops and by finite differences.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "core/parallel.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

using test::all_close;
using test::error_message;
using test::gradcheck;
using test::random_tensor;
using test::same_bytes;

// Naive product of stored a (batch entries of m x k, or k x m when trans_a) with b (shared or
// batched, k x n or n x k when trans_b), in double.
Tensor naive_matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const int64_t m = trans_a ? a.size(-1) : a.size(-2);
  const int64_t k = trans_a ? a.size(-2) : a.size(-1);
  const int64_t n = trans_b ? b.size(-2) : b.size(-1);
  const int64_t batch = a.numel() / (m * k);
  const bool shared = b.dim() == 2;
  Shape out_shape(a.shape().begin(), a.shape().end() - 2);
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = Tensor::zeros(out_shape);
  for (int64_t e = 0; e < batch; ++e) {
    const float* pa = a.data() + e * m * k;
    const float* pb = b.data() + (shared ? 0 : e * k * n);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int64_t p = 0; p < k; ++p) {
          const float av = trans_a ? pa[p * m + i] : pa[i * k + p];
          const float bv = trans_b ? pb[j * k + p] : pb[p * n + j];
          acc += static_cast<double>(av) * bv;
        }
        out.data()[(e * m + i) * n + j] = static_cast<float>(acc);
      }
    }
  }
  return out;
}

struct MatmulCase {
  Shape a, b;
  bool trans_a, trans_b;
};

// m = 3, k = 5, n = 7 (stored transposed where a flag is set), batches of 2 and [2, 1].
std::vector<MatmulCase> matmul_cases() {
  std::vector<MatmulCase> cases;
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      Shape a2 = ta ? Shape{5, 3} : Shape{3, 5};
      Shape b2 = tb ? Shape{7, 5} : Shape{5, 7};
      cases.push_back({a2, b2, bool(ta), bool(tb)});                        // 2-D x 2-D
      cases.push_back({{2, a2[0], a2[1]}, b2, bool(ta), bool(tb)});          // shared b
      cases.push_back({{2, 1, a2[0], a2[1]}, b2, bool(ta), bool(tb)});       // shared b, 4-D a
      cases.push_back({{2, a2[0], a2[1]}, {2, b2[0], b2[1]}, bool(ta), bool(tb)});  // batched
    }
  }
  // Size-1 dimensions: m = 1, k = 1, n = 1.
  cases.push_back({{1, 5}, {5, 7}, false, false});
  cases.push_back({{3, 1}, {1, 7}, false, false});
  cases.push_back({{2, 3, 5}, {2, 5, 1}, false, false});
  return cases;
}

TEST(Matmul, ForwardMatchesNaiveProduct) {
  uint64_t seed = 1;
  for (const MatmulCase& c : matmul_cases()) {
    Tensor a = random_tensor(c.a, seed++);
    Tensor b = random_tensor(c.b, seed++);
    EXPECT_TRUE(all_close(matmul(a, b, c.trans_a, c.trans_b),
                          naive_matmul(a, b, c.trans_a, c.trans_b), 1e-5, 1e-5))
        << "a " << shape_str(c.a) << " b " << shape_str(c.b) << " trans_a " << c.trans_a
        << " trans_b " << c.trans_b;
  }
}

TEST(Matmul, BackwardMatchesFiniteDifferences) {
  uint64_t seed = 100;
  for (const MatmulCase& c : matmul_cases()) {
    Tensor a = random_tensor(c.a, seed++);
    Tensor b = random_tensor(c.b, seed++);
    const bool ta = c.trans_a;
    const bool tb = c.trans_b;
    EXPECT_TRUE(gradcheck("matmul",
                          [ta, tb](const std::vector<Tensor>& in) {
                            return matmul(in[0], in[1], ta, tb);
                          },
                          {a, b}))
        << "a " << shape_str(c.a) << " b " << shape_str(c.b) << " trans_a " << ta << " trans_b "
        << tb;
  }
}

TEST(Matmul, OnlyRequestedGradientsAreFilled) {
  Tensor a = random_tensor({3, 5}, 1).set_requires_grad(true);
  Tensor b = random_tensor({5, 7}, 2);
  matmul(a, b).backward(Tensor::full({3, 7}, 1.0f));
  EXPECT_TRUE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(Matmul, InnerMismatchNamesOpAndShapes) {
  Tensor a = Tensor::zeros({2, 3});
  Tensor b = Tensor::zeros({4, 5});
  EXPECT_THROW(matmul(a, b), std::invalid_argument);
  EXPECT_EQ(error_message([&] { matmul(a, b); }),
            "matmul: inner dimensions differ: a [2, 3] x b [4, 5]");
  std::string msg = error_message([&] { matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 5})); });
  EXPECT_NE(msg.find("batch axes differ"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 3, 4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3, 4, 5]"), std::string::npos) << msg;
  msg = error_message([&] { matmul(Tensor::zeros({3}), Tensor::zeros({3, 5})); });
  EXPECT_NE(msg.find("matmul"), std::string::npos) << msg;
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  Tensor a = Tensor::full({2, 0}, 1.0f).set_requires_grad(true);
  Tensor b = Tensor::full({0, 3}, 1.0f).set_requires_grad(true);
  Tensor y = matmul(a, b);
  EXPECT_EQ(y.to_vector(), std::vector<float>(6, 0.0f));
  y.backward(Tensor::full({2, 3}, 1.0f));
  EXPECT_EQ(a.grad().numel(), 0);
  Tensor empty_rows = matmul(Tensor::zeros({0, 4}), Tensor::zeros({4, 3}));
  EXPECT_EQ(empty_rows.shape(), (Shape{0, 3}));
}

TEST(Matmul, RepeatedRunsGiveIdenticalBytes) {
  Tensor a = random_tensor({4, 37, 29}, 1);
  Tensor b = random_tensor({29, 41}, 2);
  auto run = [&] {
    Tensor a2 = a.clone().set_requires_grad(true);
    Tensor b2 = b.clone().set_requires_grad(true);
    Tensor y = matmul(a2, b2);
    y.backward(random_tensor(y.shape(), 3));
    return std::vector<Tensor>{y, a2.grad(), b2.grad()};
  };
  std::vector<Tensor> first = run();
  std::vector<Tensor> second = run();
  for (size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(same_bytes(first[i], second[i])) << i;
}

// ---- linear ----

TEST(Linear, BackwardMatchesFiniteDifferences) {
  auto with_bias = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); };
  auto no_bias = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); };
  EXPECT_TRUE(gradcheck("linear", with_bias,
                        {random_tensor({2, 3, 5}, 1), random_tensor({7, 5}, 2),
                         random_tensor({7}, 3)}));
  EXPECT_TRUE(gradcheck("linear", no_bias,
                        {random_tensor({3, 5}, 4), random_tensor({7, 5}, 5)}));
  // Size-1 axes: one row, one output feature, one input feature.
  EXPECT_TRUE(gradcheck("linear", with_bias,
                        {random_tensor({1, 5}, 6), random_tensor({1, 5}, 7),
                         random_tensor({1}, 8)}));
  EXPECT_TRUE(gradcheck("linear", with_bias,
                        {random_tensor({3, 1}, 9), random_tensor({7, 1}, 10),
                         random_tensor({7}, 11)}));
}

TEST(Linear, ForwardMatchesHandComputation) {
  // y = x W^T + b with x [2, 3], W [2, 3]
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = Tensor::from_vector({1, 0, -1, 2, 1, 0}, {2, 3});
  Tensor b = Tensor::from_vector({10, 20}, {2});
  EXPECT_EQ(linear(x, w, b).to_vector(), std::vector<float>({8, 24, 8, 33}));
  EXPECT_EQ(linear(x, w, Tensor()).to_vector(), std::vector<float>({-2, 4, -2, 13}));
}

TEST(Linear, ShapeMismatchNamesOpAndShapes) {
  Tensor x = Tensor::zeros({4, 3});
  std::string msg = error_message([&] { linear(x, Tensor::zeros({5, 6}), Tensor()); });
  EXPECT_NE(msg.find("linear"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[5, 6]"), std::string::npos) << msg;
  msg = error_message([&] { linear(x, Tensor::zeros({5, 3}), Tensor::zeros({4})); });
  EXPECT_NE(msg.find("bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
}

TEST(Linear, BiasGradientIsDeterministicAcrossThreadCounts) {
  Tensor x = random_tensor({300, 40}, 1);
  Tensor w = random_tensor({200, 40}, 2);
  Tensor dy = random_tensor({300, 200}, 3);
  auto bias_grad = [&](int threads) {
    set_num_threads(threads);
    Tensor b = Tensor::zeros({200}).set_requires_grad(true);
    linear(x, w, b).backward(dy);
    return b.grad();
  };
  Tensor two = bias_grad(2);
  Tensor one = bias_grad(1);
  set_num_threads(0);
  EXPECT_TRUE(same_bytes(two, one));
}

}  // namespace
}  // namespace fq
