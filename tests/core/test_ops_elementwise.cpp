// Elementwise ops: gradient checks (including broadcasting and size-1 axes), forward values,
// numerical stability of the activations, shape errors and determinism.
#include <gtest/gtest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

using test::all_close;
using test::error_message;
using test::gradcheck;
using test::random_away_from_zero;
using test::random_tensor;
using test::same_bytes;

using BinaryOp = Tensor (*)(const Tensor&, const Tensor&);

struct BinaryCase {
  Shape a, b;
};

// Broadcast pairs: equal shapes, [B, T, D] + [D], [n, s] * [1, s], [2, 3, 1] * [1, 3, 4], a
// scalar, size-1 axes on both sides and a missing leading axis on either side.
const std::vector<BinaryCase> kBinaryCases = {
    {{3, 5}, {3, 5}},       {{2, 5, 7}, {7}},    {{5, 3}, {1, 3}},
    {{2, 3, 1}, {1, 3, 4}}, {{3, 5}, {}},        {{}, {2, 3}},
    {{1, 1}, {1, 1}},       {{7}, {3, 1, 7}},    {{3, 1}, {1, 5}},
};

void check_binary(const char* name, BinaryOp op, float min_abs_b) {
  for (size_t c = 0; c < kBinaryCases.size(); ++c) {
    const BinaryCase& bc = kBinaryCases[c];
    Tensor a = random_tensor(bc.a, 10 + c);
    // div needs b away from 0; the other ops take the same inputs for simplicity.
    Tensor b = random_away_from_zero(bc.b, 20 + c, min_abs_b, 1.5f);
    EXPECT_TRUE(gradcheck(name, [op](const std::vector<Tensor>& in) { return op(in[0], in[1]); },
                          {a, b}))
        << "a " << shape_str(bc.a) << ", b " << shape_str(bc.b);
  }
}

TEST(Add, BackwardMatchesFiniteDifferences) { check_binary("add", add, 0.1f); }
TEST(Sub, BackwardMatchesFiniteDifferences) { check_binary("sub", sub, 0.1f); }
TEST(Mul, BackwardMatchesFiniteDifferences) { check_binary("mul", mul, 0.1f); }
TEST(Div, BackwardMatchesFiniteDifferences) { check_binary("div", div, 0.5f); }

TEST(Add, BroadcastsBiasOverRows) {
  // [B, T, D] + [D]
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 2, 3});
  Tensor bias = Tensor::from_vector({100, 200, 300}, {3});
  Tensor y = add(x, bias);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3}));
  EXPECT_TRUE(all_close(y, Tensor::from_vector({101, 202, 303, 104, 205, 306, 107, 208, 309, 110,
                                                 211, 312},
                                                {2, 2, 3})));
}

TEST(Mul, BroadcastsOuterProductShapes) {
  // [2, 3, 1] * [1, 3, 4] -> [2, 3, 4]: out[i, j, k] = a[i, j] * b[j, k]
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3, 1});
  Tensor b = Tensor::from_vector({1, 2, 3, 4, 10, 20, 30, 40, 100, 200, 300, 400}, {1, 3, 4});
  Tensor y = mul(a, b);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  std::vector<float> v = y.to_vector();
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k) {
        EXPECT_EQ(v[(i * 3 + j) * 4 + k], a.data()[i * 3 + j] * b.data()[j * 4 + k])
            << "i " << i << " j " << j << " k " << k;
      }
    }
  }
}

TEST(Mul, RowBroadcastGradientSumsRows) {
  // [n, s] * [1, s]: d/db[0, j] = sum_i a[i, j] * dout[i, j]
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor b = Tensor::from_vector({2, 3}, {1, 2});
  b.set_requires_grad(true);
  Tensor y = mul(a, b);
  EXPECT_TRUE(all_close(y, Tensor::from_vector({2, 6, 6, 12, 10, 18}, {3, 2})));
  y.backward(Tensor::full({3, 2}, 1.0f));
  EXPECT_TRUE(all_close(b.grad(), Tensor::from_vector({9, 12}, {1, 2})));
}

TEST(Add, ShapeMismatchNamesOpAndShapes) {
  Tensor a = Tensor::zeros({2, 3});
  Tensor b = Tensor::zeros({4, 3});
  EXPECT_THROW(add(a, b), std::invalid_argument);
  std::string msg = error_message([&] { add(a, b); });
  EXPECT_NE(msg.find("add"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4, 3]"), std::string::npos) << msg;
}

TEST(Mul, RejectsInt32Operand) {
  Tensor a = Tensor::zeros({2});
  Tensor ids = Tensor::from_ids({1, 2}, {2});
  std::string msg = error_message([&] { mul(a, ids); });
  EXPECT_NE(msg.find("mul"), std::string::npos) << msg;
  EXPECT_NE(msg.find("int32"), std::string::npos) << msg;
}

TEST(Add, EmptyTensorsGiveEmptyResults) {
  Tensor a = Tensor::zeros({0, 3});
  Tensor b = Tensor::zeros({3});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor y = add(a, b);
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
  y.backward(Tensor::zeros({0, 3}));
  EXPECT_EQ(b.grad().to_vector(), std::vector<float>({0, 0, 0}));
}

TEST(Mul, BroadcastBackwardIsDeterministicAcrossThreadCounts) {
  // Large enough that the kernels run in parallel.
  Tensor a = random_tensor({96, 50, 40}, 1);
  Tensor b = random_tensor({50, 1}, 2);
  Tensor seed = random_tensor({96, 50, 40}, 3);
  auto run = [&](int threads) {
    set_num_threads(threads);
    Tensor a2 = a.clone().set_requires_grad(true);
    Tensor b2 = b.clone().set_requires_grad(true);
    Tensor y = mul(a2, b2);
    y.backward(seed);
    return std::vector<Tensor>{y, a2.grad(), b2.grad()};
  };
  std::vector<Tensor> first = run(2);
  std::vector<Tensor> again = run(2);
  std::vector<Tensor> single = run(1);
  set_num_threads(0);
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_TRUE(same_bytes(first[i], again[i])) << "tensor " << i << ", same thread count";
    EXPECT_TRUE(same_bytes(first[i], single[i])) << "tensor " << i << ", 1 vs 2 threads";
  }
}

// ---- unary ops ----

using UnaryFn = std::function<Tensor(const Tensor&)>;

void check_unary(const char* name, const UnaryFn& op, const Tensor& x,
                 test::GradcheckOptions options = {}) {
  EXPECT_TRUE(gradcheck(name, [op](const std::vector<Tensor>& in) { return op(in[0]); }, {x},
                        options))
      << "x " << shape_str(x.shape());
}

TEST(AddScalar, BackwardMatchesFiniteDifferences) {
  auto op = [](const Tensor& x) { return add_scalar(x, 2.5f); };
  check_unary("add_scalar", op, random_tensor({3, 5}, 1));
  check_unary("add_scalar", op, random_tensor({1}, 2));
  EXPECT_TRUE(all_close(add_scalar(Tensor::from_vector({1, -2}, {2}), 0.5f),
                        Tensor::from_vector({1.5f, -1.5f}, {2})));
}

TEST(MulScalar, BackwardMatchesFiniteDifferences) {
  auto op = [](const Tensor& x) { return mul_scalar(x, -1.5f); };
  check_unary("mul_scalar", op, random_tensor({3, 5}, 1));
  check_unary("mul_scalar", op, random_tensor({1, 1}, 2));
  EXPECT_TRUE(all_close(mul_scalar(Tensor::from_vector({2, -4}, {2}), 0.5f),
                        Tensor::from_vector({1, -2}, {2})));
}

TEST(Neg, BackwardMatchesFiniteDifferences) {
  check_unary("neg", [](const Tensor& x) { return neg(x); }, random_tensor({5, 3}, 1));
  check_unary("neg", [](const Tensor& x) { return neg(x); }, random_tensor({1}, 2));
}

TEST(Silu, BackwardMatchesFiniteDifferences) {
  check_unary("silu", [](const Tensor& x) { return silu(x); }, random_tensor({3, 7}, 1, -4, 4));
  check_unary("silu", [](const Tensor& x) { return silu(x); }, random_tensor({1, 1}, 2, -4, 4));
}

TEST(Gelu, BackwardMatchesFiniteDifferences) {
  check_unary("gelu", [](const Tensor& x) { return gelu(x); }, random_tensor({3, 7}, 1, -4, 4));
  check_unary("gelu", [](const Tensor& x) { return gelu(x); }, random_tensor({1}, 2, -4, 4));
}

TEST(Relu, BackwardMatchesFiniteDifferences) {
  // Inputs stay at least 0.1 away from the kink at 0, with h = 1e-2 < 0.1.
  check_unary("relu", [](const Tensor& x) { return relu(x); },
              random_away_from_zero({5, 7}, 1, 0.1f, 2.0f));
  check_unary("relu", [](const Tensor& x) { return relu(x); },
              random_away_from_zero({1}, 2, 0.1f, 2.0f));
}

TEST(Square, BackwardMatchesFiniteDifferences) {
  check_unary("square", [](const Tensor& x) { return square(x); }, random_tensor({3, 5}, 1, -2, 2));
  check_unary("square", [](const Tensor& x) { return square(x); }, random_tensor({1}, 2));
}

TEST(Exp, BackwardMatchesFiniteDifferences) {
  check_unary("exp", [](const Tensor& x) { return exp(x); }, random_tensor({3, 5}, 1, -2, 2));
  check_unary("exp", [](const Tensor& x) { return exp(x); }, random_tensor({1, 1}, 2));
}

TEST(Log, BackwardMatchesFiniteDifferences) {
  check_unary("log", [](const Tensor& x) { return log(x); }, random_tensor({3, 5}, 1, 0.5f, 3.0f));
  check_unary("log", [](const Tensor& x) { return log(x); }, random_tensor({1}, 2, 0.5f, 3.0f));
}

TEST(Rsqrt, BackwardMatchesFiniteDifferences) {
  check_unary("rsqrt", [](const Tensor& x) { return rsqrt(x); },
              random_tensor({3, 5}, 1, 0.5f, 3.0f));
  check_unary("rsqrt", [](const Tensor& x) { return rsqrt(x); },
              random_tensor({1}, 2, 0.5f, 3.0f));
}

TEST(Activation, BackwardMatchesFiniteDifferencesForEachName) {
  for (const char* name : {"silu", "swish", "gelu", "relu"}) {
    std::string act = name;
    check_unary(name, [act](const Tensor& x) { return activation(x, act); },
                random_away_from_zero({3, 5}, 4, 0.1f, 3.0f));
  }
}

TEST(Activation, DispatchesByName) {
  Tensor x = Tensor::from_vector({-1.5f, -0.2f, 0.3f, 2.0f}, {4});
  EXPECT_TRUE(same_bytes(activation(x, "silu"), silu(x)));
  EXPECT_TRUE(same_bytes(activation(x, "swish"), silu(x)));
  EXPECT_TRUE(same_bytes(activation(x, "gelu"), gelu(x)));
  EXPECT_TRUE(same_bytes(activation(x, "relu"), relu(x)));
  std::string msg = error_message([&] { activation(x, "tanh"); });
  EXPECT_NE(msg.find("tanh"), std::string::npos) << msg;
}

TEST(Activation, ForwardValuesMatchClosedForms) {
  Tensor x = Tensor::from_vector({-2.0f, -0.5f, 0.0f, 1.0f, 3.0f}, {5});
  std::vector<float> s = silu(x).to_vector();
  std::vector<float> g = gelu(x).to_vector();
  std::vector<float> r = relu(x).to_vector();
  std::vector<float> in = x.to_vector();
  for (size_t i = 0; i < in.size(); ++i) {
    const double v = in[i];
    EXPECT_NEAR(s[i], v / (1.0 + std::exp(-v)), 1e-6) << "silu at " << v;
    EXPECT_NEAR(g[i], 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))), 1e-6) << "gelu at " << v;
    EXPECT_EQ(r[i], v > 0 ? static_cast<float>(v) : 0.0f) << "relu at " << v;
  }
  // Exact GELU (erf form) at 1 is 0.8413447; the tanh approximation gives 0.8411920.
  EXPECT_NEAR(g[3], 0.8413447f, 1e-6);
}

TEST(Silu, StaysFiniteForLargeInputs) {
  Tensor x = Tensor::from_vector({-1000.0f, -100.0f, 100.0f, 1000.0f}, {4});
  x.set_requires_grad(true);
  Tensor y = silu(x);
  std::vector<float> v = y.to_vector();
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_NEAR(v[1], 0.0f, 1e-30);
  EXPECT_EQ(v[2], 100.0f);
  EXPECT_EQ(v[3], 1000.0f);
  y.backward(Tensor::full({4}, 1.0f));
  for (float g : x.grad().to_vector()) EXPECT_TRUE(std::isfinite(g)) << g;
  EXPECT_EQ(x.grad().to_vector()[3], 1.0f);
}

TEST(Relu, GradientAtZeroIsZero) {
  Tensor x = Tensor::from_vector({0.0f, 1.0f}, {2});
  x.set_requires_grad(true);
  relu(x).backward(Tensor::full({2}, 1.0f));
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>({0.0f, 1.0f}));
}

TEST(Neg, EmptyTensorWorks) {
  Tensor x = Tensor::zeros({0});
  EXPECT_EQ(neg(x).numel(), 0);
  EXPECT_EQ(gelu(x).numel(), 0);
}

TEST(Gradcheck, ReportsWrongGradient) {
  // An op computing 2x whose recorded backward claims the derivative 3.
  auto wrong = [](const std::vector<Tensor>& in) {
    Tensor out = mul_scalar(in[0].detach(), 2.0f);
    record(out, "wrong", {in[0]}, [](const Tensor& dout, std::vector<Tensor>& dinputs) {
      for (int64_t i = 0; i < dout.numel(); ++i) dinputs[0].data()[i] += 3.0f * dout.data()[i];
    });
    return out;
  };
  ::testing::AssertionResult result = gradcheck("wrong", wrong, {random_tensor({3}, 1)});
  EXPECT_FALSE(result);
  std::string msg = result.message();
  EXPECT_NE(msg.find("wrong: input 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("element 0"), std::string::npos) << msg;
}

}  // namespace
}  // namespace fq
