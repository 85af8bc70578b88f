// Model ops: embedding, rope, sinusoidal positions, relative position bias, the fused relu^2
// attention kernel, padding mask, dropout and cross-entropy. Gradient checks, hand-computed
// values, the fused kernel against its composition, overflow safety and thread independence.
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "core/parallel.h"
#include "core/random.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

using test::all_close;
using test::error_message;
using test::gradcheck;
using test::random_away_from_zero;
using test::random_tensor;
using test::same_bytes;

// ---- embedding ----

TEST(Embedding, BackwardMatchesFiniteDifferences) {
  // Repeated ids check that scatter-add sums every use.
  Tensor ids = Tensor::from_ids({3, 0, 6, 3, 3, 1}, {2, 3});
  auto f = [](const std::vector<Tensor>& in) { return embedding(in[0], in[1]); };
  EXPECT_TRUE(gradcheck("embedding", f, {random_tensor({7, 5}, 1), ids}));
  EXPECT_TRUE(gradcheck("embedding", f, {random_tensor({1, 3}, 2), Tensor::from_ids({0}, {1})}));
  Tensor padded_ids = Tensor::from_ids({3, 0, 6, 2, 3, 1}, {2, 3});
  // With padding_idx = 3 the gradient of row 3 is defined to be 0 although the output uses it,
  // so finite differences cannot check that row: it is checked separately below.
  Tensor w = random_tensor({7, 5}, 3).set_requires_grad(true);
  Tensor y = embedding(w, padded_ids, 3);
  Tensor seed = random_tensor(y.shape(), 4);
  y.backward(seed);
  Tensor reference_w = w.detach().clone().set_requires_grad(true);
  embedding(reference_w, padded_ids).backward(seed);
  std::vector<float> g = w.grad().to_vector();
  std::vector<float> ref = reference_w.grad().to_vector();
  for (int64_t row = 0; row < 7; ++row) {
    for (int64_t j = 0; j < 5; ++j) {
      EXPECT_EQ(g[row * 5 + j], row == 3 ? 0.0f : ref[row * 5 + j]) << "row " << row << " col " << j;
    }
  }
}

TEST(Embedding, ForwardCopiesRows) {
  Tensor w = Tensor::from_vector({0, 1, 10, 11, 20, 21}, {3, 2});
  Tensor y = embedding(w, Tensor::from_ids({2, 0, 2}, {3}), 0);
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  // The padding row is still looked up; only its gradient is suppressed.
  EXPECT_EQ(y.to_vector(), std::vector<float>({20, 21, 0, 1, 20, 21}));
  EXPECT_EQ(embedding(w, Tensor::from_ids({}, {0})).shape(), (Shape{0, 2}));
}

TEST(Embedding, BadIdNamesIdAndPosition) {
  Tensor w = Tensor::zeros({5, 2});
  std::string msg = error_message([&] { embedding(w, Tensor::from_ids({1, 9, 2}, {3})); });
  EXPECT_NE(msg.find("embedding"), std::string::npos) << msg;
  EXPECT_NE(msg.find("id 9"), std::string::npos) << msg;
  EXPECT_NE(msg.find("position 1"), std::string::npos) << msg;
  msg = error_message([&] { embedding(w, Tensor::from_ids({-1}, {1})); });
  EXPECT_NE(msg.find("id -1"), std::string::npos) << msg;
  msg = error_message([&] { embedding(w, Tensor::from_ids({1}, {1}), 5); });
  EXPECT_NE(msg.find("padding_idx 5"), std::string::npos) << msg;
}

TEST(Embedding, BackwardIsDeterministicAcrossThreadCounts) {
  std::vector<int32_t> id_values(4000);
  CounterRng rng(3);
  for (int32_t& v : id_values) v = static_cast<int32_t>(rng.below(50));
  Tensor ids = Tensor::from_ids(id_values, {40, 100});
  Tensor seed = random_tensor({40, 100, 96}, 5);
  auto grad = [&](int threads) {
    set_num_threads(threads);
    Tensor w = random_tensor({50, 96}, 6).set_requires_grad(true);
    embedding(w, ids, 7).backward(seed);
    return w.grad();
  };
  Tensor two = grad(2);
  Tensor one = grad(1);
  set_num_threads(0);
  EXPECT_TRUE(same_bytes(two, one));
}

// ---- rope ----

TEST(Rope, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return rope(in[0]); };
  auto shifted = [](const std::vector<Tensor>& in) { return rope(in[0], 3); };
  EXPECT_TRUE(gradcheck("rope", f, {random_tensor({2, 5, 6}, 1)}));
  EXPECT_TRUE(gradcheck("rope", shifted, {random_tensor({3, 7, 4}, 2)}));
  EXPECT_TRUE(gradcheck("rope", f, {random_tensor({1, 2}, 3)}));
}

TEST(Rope, ForwardMatchesHandComputation) {
  // m = 4, halves of 2, g = [1, 10000^(-1/2)] = [1, 0.01]. Row 0 is position 0 (identity),
  // row 1 is position 1.
  const float a1 = 0.5f, a2 = -1.0f, b1 = 2.0f, b2 = 0.25f;
  Tensor x = Tensor::from_vector({a1, a2, b1, b2, a1, a2, b1, b2}, {2, 4});
  Tensor y = rope(x);
  const double c1 = std::cos(1.0), s1 = std::sin(1.0), c2 = std::cos(0.01), s2 = std::sin(0.01);
  Tensor expected = Tensor::from_vector(
      {a1, a2, b1, b2, float(a1 * c1 - b1 * s1), float(a2 * c2 - b2 * s2),
       float(b1 * c1 + a1 * s1), float(b2 * c2 + a2 * s2)},
      {2, 4});
  EXPECT_TRUE(all_close(y, expected, 1e-6, 1e-6));

  // position_offset shifts every position: row 0 at offset 5 is position 5.
  Tensor z = rope(Tensor::from_vector({a1, a2, b1, b2}, {1, 4}), 5);
  const double c5 = std::cos(5.0), s5 = std::sin(5.0), c6 = std::cos(0.05), s6 = std::sin(0.05);
  EXPECT_TRUE(all_close(z, Tensor::from_vector({float(a1 * c5 - b1 * s5), float(a2 * c6 - b2 * s6),
                                               float(b1 * c5 + a1 * s5), float(b2 * c6 + a2 * s6)},
                                              {1, 4}),
                        1e-6, 1e-6));
}

TEST(Rope, OddWidthIsRejected) {
  std::string msg = error_message([] { rope(Tensor::zeros({2, 3, 5})); });
  EXPECT_NE(msg.find("rope"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 3, 5]"), std::string::npos) << msg;
}

// ---- sinusoidal positions ----

TEST(SinusoidalPositions, ValuesMatchFormula) {
  // d = 4: f = [1, 10000^(-1/2)] = [1, 0.01]; row p = [sin p, sin 0.01p, cos p, cos 0.01p].
  Tensor pos = sinusoidal_positions(3, 4);
  ASSERT_EQ(pos.shape(), (Shape{3, 4}));
  std::vector<float> v = pos.to_vector();
  for (int p = 0; p < 3; ++p) {
    EXPECT_FLOAT_EQ(v[p * 4 + 0], float(std::sin(p * 1.0))) << "p " << p;
    EXPECT_FLOAT_EQ(v[p * 4 + 1], float(std::sin(p * 0.01))) << "p " << p;
    EXPECT_FLOAT_EQ(v[p * 4 + 2], float(std::cos(p * 1.0))) << "p " << p;
    EXPECT_FLOAT_EQ(v[p * 4 + 3], float(std::cos(p * 0.01))) << "p " << p;
  }
  EXPECT_EQ(sinusoidal_positions(1, 2).to_vector(), std::vector<float>({0.0f, 1.0f}));
  std::string msg = error_message([] { sinusoidal_positions(3, 5); });
  EXPECT_NE(msg.find("sinusoidal_positions"), std::string::npos) << msg;
}

// ---- relative position bias ----

TEST(RelativePositionBias, ForwardMatchesHandComputation) {
  // L = 4, w = [0, 1, ..., 6]; rb[i, j] = w[j - i + 3].
  Tensor w = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6}, {7});
  EXPECT_EQ(relative_position_bias(w, 3).to_vector(),
            std::vector<float>({3, 4, 5, 2, 3, 4, 1, 2, 3}));
  EXPECT_EQ(relative_position_bias(w, 1).to_vector(), std::vector<float>({3}));
  EXPECT_EQ(relative_position_bias(w, 4).to_vector()[3], 6.0f);   // i = 0, j = 3
  EXPECT_EQ(relative_position_bias(w, 4).to_vector()[12], 0.0f);  // i = 3, j = 0
  std::string msg = error_message([&] { relative_position_bias(w, 5); });
  EXPECT_NE(msg.find("relative_position_bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("n = 5"), std::string::npos) << msg;
  msg = error_message([] { relative_position_bias(Tensor::zeros({6}), 2); });
  EXPECT_NE(msg.find("[6]"), std::string::npos) << msg;
}

TEST(RelativePositionBias, BackwardMatchesFiniteDifferences) {
  for (int64_t n : {5, 3, 1}) {
    EXPECT_TRUE(gradcheck("relative_position_bias",
                          [n](const std::vector<Tensor>& in) {
                            return relative_position_bias(in[0], n);
                          },
                          {random_tensor({9}, 1)}))
        << "n " << n;
  }
}

// ---- relu^2 attention ----

// Inputs for which z = qk * inv_scale + rb stays at least 0.1 away from the relu kink:
// |qk * inv_scale| <= 0.08 and |rb| >= 0.2.
struct AttentionInputs {
  Tensor qk, rb, inv_scale, mask;
};

AttentionInputs attention_inputs(int64_t batch, int64_t n, bool batched_rb, uint64_t seed) {
  AttentionInputs in;
  in.qk = random_tensor({batch, n, n}, seed);
  in.rb = batched_rb ? random_away_from_zero({batch, n, n}, seed + 1, 0.2f, 1.0f)
                     : random_away_from_zero({n, n}, seed + 1, 0.2f, 1.0f);
  std::vector<float> scales;
  for (int64_t b = 0; b < batch; ++b) scales.push_back(0.05f + 0.03f * (b % 2));
  in.inv_scale = Tensor::from_vector(scales, {batch});
  // The last position of every second sequence is padding.
  in.mask = Tensor::full({batch, n}, 1.0f);
  for (int64_t b = 1; b < batch; b += 2) in.mask.data()[b * n + n - 1] = 0.0f;
  return in;
}

TEST(Relu2Attention, BackwardMatchesFiniteDifferences) {
  test::GradcheckOptions options;
  options.constant = {false, false, true, true};  // inv_scale and mask are not differentiated
  for (bool causal : {false, true}) {
    for (bool batched_rb : {false, true}) {
      for (int64_t n : {5, 1}) {
        AttentionInputs in = attention_inputs(2, n, batched_rb, 7);
        EXPECT_TRUE(gradcheck("relu2_attention",
                              [causal](const std::vector<Tensor>& t) {
                                return relu2_attention(t[0], t[1], t[2], t[3], causal);
                              },
                              {in.qk, in.rb, in.inv_scale, in.mask}, options))
            << "causal " << causal << " batched_rb " << batched_rb << " n " << n;
      }
    }
  }
}

// relu(qk * inv_scale + rb)^2 * mask_i * mask_j (* lower-triangular ones when causal), built
// from the unfused ops.
Tensor composed_attention(const Tensor& qk, const Tensor& rb, const Tensor& inv_scale,
                          const Tensor& mask, bool causal) {
  const int64_t batch = qk.size(0);
  const int64_t n = qk.size(1);
  Tensor z = add(mul(qk, inv_scale.reshape({batch, 1, 1})), rb);
  Tensor a = square(relu(z));
  a = mul(a, mask.reshape({batch, n, 1}));
  a = mul(a, mask.reshape({batch, 1, n}));
  if (causal) {
    Tensor tril = Tensor::zeros({n, n});
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j <= i; ++j) tril.data()[i * n + j] = 1.0f;
    }
    a = mul(a, tril);
  }
  return a;
}

TEST(Relu2Attention, MatchesComposedOps) {
  for (bool causal : {false, true}) {
    for (bool batched_rb : {false, true}) {
      // Plain random inputs here: about half of z is negative, so the relu is exercised.
      const int64_t batch = 3, n = 7;
      Tensor qk = random_tensor({batch, n, n}, 1, -3, 3);
      Tensor rb = batched_rb ? random_tensor({batch, n, n}, 2) : random_tensor({n, n}, 2);
      Tensor inv_scale = Tensor::from_vector({0.5f, 0.25f, 1.0f}, {batch});
      Tensor mask = Tensor::full({batch, n}, 1.0f);
      mask.data()[n + 5] = 0.0f;
      mask.data()[2 * n + 6] = 0.0f;
      Tensor seed = random_tensor({batch, n, n}, 3);

      Tensor qk1 = qk.clone().set_requires_grad(true);
      Tensor rb1 = rb.clone().set_requires_grad(true);
      Tensor fused = relu2_attention(qk1, rb1, inv_scale, mask, causal);
      fused.backward(seed);
      Tensor qk2 = qk.clone().set_requires_grad(true);
      Tensor rb2 = rb.clone().set_requires_grad(true);
      Tensor composed = composed_attention(qk2, rb2, inv_scale, mask, causal);
      composed.backward(seed);

      const std::string where = std::string("causal ") + (causal ? "1" : "0") + " batched_rb " +
                                (batched_rb ? "1" : "0");
      EXPECT_TRUE(all_close(fused, composed, 1e-6, 1e-6)) << where;
      EXPECT_TRUE(all_close(qk1.grad(), qk2.grad(), 1e-6, 1e-5)) << where;
      EXPECT_TRUE(all_close(rb1.grad(), rb2.grad(), 1e-6, 1e-5)) << where;
    }
  }
}

TEST(Relu2Attention, ShapeErrorsNameOpAndShapes) {
  Tensor qk = Tensor::zeros({2, 3, 3});
  Tensor scale = Tensor::full({2}, 1.0f);
  Tensor mask = Tensor::full({2, 3}, 1.0f);
  std::string msg =
      error_message([&] { relu2_attention(qk, Tensor::zeros({4, 4}), scale, mask, false); });
  EXPECT_NE(msg.find("relu2_attention"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 3, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4, 4]"), std::string::npos) << msg;
  msg = error_message(
      [&] { relu2_attention(qk, Tensor::zeros({3, 3}), scale, Tensor::zeros({2, 4}), false); });
  EXPECT_NE(msg.find("[2, 4]"), std::string::npos) << msg;
  msg = error_message(
      [&] { relu2_attention(qk, Tensor::zeros({3, 3}), Tensor::zeros({3}), mask, false); });
  EXPECT_NE(msg.find("inv_scale"), std::string::npos) << msg;
}

// ---- padding mask ----

TEST(PaddingMask, MarksNonPaddingTokens) {
  Tensor ids = Tensor::from_ids({5, 7, 0, 0, 3, 0}, {2, 3});
  Tensor mask = padding_mask(ids, 0);
  EXPECT_EQ(mask.shape(), (Shape{2, 3}));
  EXPECT_EQ(mask.to_vector(), std::vector<float>({1, 1, 0, 0, 1, 0}));
  EXPECT_EQ(padding_mask(Tensor::from_ids({1}, {1, 1}), 1).to_vector(), std::vector<float>({0}));
  EXPECT_THROW(padding_mask(Tensor::zeros({2}), 0), std::invalid_argument);
}

// ---- dropout ----

TEST(Dropout, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return dropout(in[0], 0.3f, true, 11, 2); };
  EXPECT_TRUE(gradcheck("dropout", f, {random_tensor({3, 5, 7}, 1)}));
  EXPECT_TRUE(gradcheck("dropout", f, {random_tensor({1}, 2)}));
}

TEST(Dropout, KeepsElementsChosenByCounterRng) {
  const float p = 0.25f;
  Tensor x = random_tensor({11, 13}, 1, 0.5f, 1.5f);
  Tensor y = dropout(x, p, true, 42, 9);
  const CounterRng rng(42, 9, 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double u = static_cast<double>(rng.at(i) >> 11) * 0x1.0p-53;
    const float expected = u >= p ? x.data()[i] * static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
    EXPECT_EQ(y.data()[i], expected) << "element " << i << " draw " << u;
  }
}

TEST(Dropout, RateIsCloseToP) {
  Tensor x = Tensor::full({100000}, 1.0f);
  Tensor y = dropout(x, 0.1f, true, 5, 0);
  int64_t zeros = 0;
  for (float v : y.to_vector()) zeros += v == 0.0f;
  // Binomial(1e5, 0.1) has standard deviation about 95; 0.01 is over 10 of them.
  EXPECT_NEAR(static_cast<double>(zeros) / x.numel(), 0.1, 0.01);
  // Another stream gives another mask.
  EXPECT_FALSE(same_bytes(y, dropout(x, 0.1f, true, 5, 1)));
}

TEST(Dropout, IdentityWhenEvaluatingOrPZero) {
  Tensor x = random_tensor({3, 5}, 1);
  EXPECT_TRUE(same_bytes(dropout(x, 0.5f, false, 1, 0), x));
  EXPECT_TRUE(same_bytes(dropout(x, 0.0f, true, 1, 0), x));
  EXPECT_EQ(dropout(x, 1.0f, true, 1, 0).to_vector(), std::vector<float>(15, 0.0f));
  std::string msg = error_message([&] { dropout(x, 1.5f, true, 1, 0); });
  EXPECT_NE(msg.find("dropout"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1.5"), std::string::npos) << msg;
}

TEST(Dropout, SameMaskForAnyThreadCount) {
  Tensor x = random_tensor({64, 1000}, 1);
  set_num_threads(2);
  Tensor two = dropout(x, 0.2f, true, 3, 4);
  set_num_threads(1);
  Tensor one = dropout(x, 0.2f, true, 3, 4);
  set_num_threads(0);
  EXPECT_TRUE(same_bytes(two, one));
}

// ---- cross-entropy ----

TEST(CrossEntropy, BackwardMatchesFiniteDifferences) {
  Tensor labels = Tensor::from_ids({2, -100, 6, 0, 3}, {5});
  auto mean = [](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1]); };
  auto divided = [](const std::vector<Tensor>& in) {
    return cross_entropy(in[0], in[1], -100, 10.0);
  };
  auto other_ignore = [](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1], 6); };
  EXPECT_TRUE(gradcheck("cross_entropy", mean, {random_tensor({5, 7}, 1, -3, 3), labels}));
  EXPECT_TRUE(gradcheck("cross_entropy", divided, {random_tensor({5, 7}, 2, -3, 3), labels}));
  EXPECT_TRUE(gradcheck("cross_entropy", other_ignore,
                        {random_tensor({5, 7}, 3, -3, 3), Tensor::from_ids({2, 1, 6, 0, 3}, {5})}));
  EXPECT_TRUE(gradcheck("cross_entropy", mean,
                        {random_tensor({1, 5}, 4), Tensor::from_ids({4}, {1})}));
  EXPECT_TRUE(gradcheck("cross_entropy", mean,
                        {random_tensor({3, 1}, 5), Tensor::from_ids({0, 0, -100}, {3})}));
}

TEST(CrossEntropy, ForwardMatchesHandComputation) {
  Tensor logits = Tensor::from_vector({1, 2, 3, 1, 1, 1, 5, 0, 0}, {3, 3});
  Tensor labels = Tensor::from_ids({2, 0, -100}, {3});
  // Row 0: log(e + e^2 + e^3) - 3 = 0.40760596; row 1: log 3 = 1.09861229; row 2 ignored.
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  const double row1 = std::log(3.0);
  EXPECT_NEAR(cross_entropy(logits, labels).item(), (row0 + row1) / 2.0, 1e-6);
  EXPECT_NEAR(cross_entropy(logits, labels, -100, 4.0).item(), (row0 + row1) / 4.0, 1e-6);

  Tensor x = logits.clone().set_requires_grad(true);
  cross_entropy(x, labels).backward();
  std::vector<float> g = x.grad().to_vector();
  const double z0 = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(g[0], std::exp(1.0) / z0 / 2.0, 1e-7);
  EXPECT_NEAR(g[2], (std::exp(3.0) / z0 - 1.0) / 2.0, 1e-7);
  EXPECT_NEAR(g[3], (1.0 / 3.0 - 1.0) / 2.0, 1e-7);
  EXPECT_NEAR(g[4], (1.0 / 3.0) / 2.0, 1e-7);
  for (int j = 6; j < 9; ++j) EXPECT_EQ(g[j], 0.0f) << "ignored row, column " << j - 6;
}

TEST(CrossEntropy, HugeLogitsStayExact) {
  // All values are exact in float32 (multiples of 8 near 1e8).
  Tensor logits = Tensor::from_vector({1e8f, 1e8f + 1e4f, 1e8f - 1e4f,  // gap of 1e4 at 1e8
                                       0.0f, 1e4f, -1e4f,               // gap of 1e4 at 0
                                       1e8f, 1e8f + 1e4f, 1e8f},
                                      {3, 3});
  Tensor labels = Tensor::from_ids({0, 2, 1}, {3});
  Tensor x = logits.clone().set_requires_grad(true);
  Tensor loss = cross_entropy(x, labels, -100, 1.0);
  // Row losses: 1e4, 2e4 and 0 (the label is the maximum, and the others are e^-1e4 = 0 away).
  EXPECT_EQ(loss.item(), 30000.0f);
  loss.backward();
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>({-1, 1, 0, 0, 1, -1, 0, 0, 0}));
}

TEST(CrossEntropy, NoTargetsGiveZeroLossAndGradient) {
  Tensor x = random_tensor({2, 4}, 1).set_requires_grad(true);
  Tensor loss = cross_entropy(x, Tensor::from_ids({-100, -100}, {2}));
  EXPECT_EQ(loss.item(), 0.0f);
  loss.backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>(8, 0.0f));
  EXPECT_EQ(cross_entropy(Tensor::zeros({0, 4}), Tensor::from_ids({}, {0})).item(), 0.0f);
}

TEST(CrossEntropy, BadLabelAndShapeErrors) {
  Tensor logits = Tensor::zeros({3, 5});
  std::string msg =
      error_message([&] { cross_entropy(logits, Tensor::from_ids({1, 7, 2}, {3})); });
  EXPECT_NE(msg.find("cross_entropy"), std::string::npos) << msg;
  EXPECT_NE(msg.find("label 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("position 1"), std::string::npos) << msg;
  msg = error_message([&] { cross_entropy(logits, Tensor::from_ids({1, 2}, {2})); });
  EXPECT_NE(msg.find("[3, 5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2]"), std::string::npos) << msg;
}

}  // namespace
}  // namespace fq
