// Parity with the PyTorch reference (tests/reference/flash_quad_ref.py, run in float64): logits,
// loss, hidden state and attentions within 1e-5 and every parameter gradient within 1e-4,
// relative to the largest magnitude of the expected tensor. The gradient of a one-element
// parameter is a sum over every position whose terms can cancel, so its error is measured
// relative to the sum of the terms' magnitudes (grad_terms.NAME in the fixture). Also checks that
// padding and the memory-saving paths (gradient checkpointing, logits only at targets) do not
// change results. Set FQ_PARITY_VERBOSE=1 to print the errors of passing cases.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "core/autograd.h"
#include "tests/gradcheck.h"
#include "tests/nn/parity_fixture.h"

namespace fq {
namespace {

using test::load_parity_fixture;
using test::ParityFixture;
using test::relative_error;
using test::RelativeError;

constexpr double kOutputTolerance = 1e-5;
constexpr double kGradientTolerance = 1e-4;

bool verbose() { return std::getenv("FQ_PARITY_VERBOSE") != nullptr; }

::testing::AssertionResult within(const std::string& what, const Tensor& actual,
                                  const Tensor& expected, double tolerance, double* worst,
                                  double scale = 0.0) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << what << ": shape " << shape_str(actual.shape())
                                         << ", expected " << shape_str(expected.shape());
  }
  RelativeError e = relative_error(actual, expected, scale);
  if (worst) *worst = std::fmax(*worst, e.value);
  if (verbose()) std::printf("  %-55s rel err %.3g\n", what.c_str(), e.value);
  if (e.value <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": relative error " << e.value << " > " << tolerance << " at element "
         << e.index << " (got " << e.actual << ", expected " << e.expected << ")";
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, MatchesPyTorchReference) {
  ParityFixture f = load_parity_fixture(GetParam());
  FlashQuadForMaskedLM model(f.config, 1);
  load_weights(model, f.weights_path);

  ForwardOptions options;
  options.output_attentions = true;
  ModelOutput out = model.forward(f.batch, options);
  out.loss.backward();

  double worst_output = 0.0, worst_grad = 0.0;
  if (verbose()) std::printf("%s\n", GetParam().c_str());
  EXPECT_TRUE(
      within("logits", out.logits, f.expected.at("logits"), kOutputTolerance, &worst_output));
  EXPECT_TRUE(within("loss", out.loss, f.expected.at("loss"), kOutputTolerance, &worst_output));
  EXPECT_TRUE(within("last_hidden_state", out.last_hidden_state, f.expected.at("last_hidden_state"),
                     kOutputTolerance, &worst_output));
  ASSERT_EQ(static_cast<int64_t>(out.attentions.size()), f.config.num_hidden_layers);
  for (size_t i = 0; i < out.attentions.size(); ++i) {
    const std::string name = "attention." + std::to_string(i);
    EXPECT_TRUE(
        within(name, out.attentions[i], f.expected.at(name), kOutputTolerance, &worst_output));
  }

  // Every parameter has a reference gradient and no reference gradient is left unchecked.
  size_t expected_grads = 0;
  for (const std::string& name : f.expected.names) expected_grads += name.rfind("grad.", 0) == 0;
  const std::vector<NamedParameter> parameters = model.named_parameters();
  EXPECT_EQ(parameters.size(), expected_grads);
  for (const NamedParameter& p : parameters) {
    const std::string key = "grad." + p.name;
    ASSERT_TRUE(f.expected.contains(key)) << "the reference has no gradient for " << p.name;
    ASSERT_TRUE(p.tensor.grad().defined()) << "no gradient reached " << p.name;
    const std::string terms_key = "grad_terms." + p.name;
    const double scale = f.expected.contains(terms_key) ? f.expected.at(terms_key).item() : 0.0;
    EXPECT_EQ(f.expected.contains(terms_key), p.tensor.numel() == 1) << p.name;
    EXPECT_TRUE(
        within(key, p.tensor.grad(), f.expected.at(key), kGradientTolerance, &worst_grad, scale));
  }
  if (verbose()) {
    std::printf("  max output error %.3g, max gradient error %.3g\n", worst_output, worst_grad);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity,
                         ::testing::Values("base", "layer_norm_seq_len_gelu", "rotary_bias",
                                           "rotary_bias_max_position", "relu_full_length",
                                           "causal"));

// Gradients of every parameter after forward + backward on the fixture batch.
struct RunResult {
  Tensor loss;
  Tensor logits;
  std::map<std::string, Tensor> grads;
};

RunResult run(const ModelConfig& config, const std::string& weights, const Batch& batch,
              const ForwardOptions& options) {
  FlashQuadForMaskedLM model(config, 1);
  load_weights(model, weights);
  ModelOutput out = model.forward(batch, options);
  out.loss.backward();
  RunResult r{out.loss.detach(), out.logits.defined() ? out.logits.detach() : Tensor(), {}};
  for (const NamedParameter& p : model.named_parameters()) r.grads[p.name] = p.tensor.grad();
  return r;
}

TEST(ParityPaths, CheckpointingGivesBitIdenticalGradients) {
  for (const char* name : {"base", "rotary_bias", "causal"}) {
    ParityFixture f = load_parity_fixture(name);
    RunResult plain = run(f.config, f.weights_path, f.batch, {});
    ModelConfig checkpointed_config = f.config;
    checkpointed_config.gradient_checkpointing = true;
    RunResult checkpointed = run(checkpointed_config, f.weights_path, f.batch, {});
    EXPECT_TRUE(test::same_bytes(checkpointed.loss, plain.loss)) << name;
    EXPECT_TRUE(test::same_bytes(checkpointed.logits, plain.logits)) << name;
    for (const auto& [param, grad] : plain.grads) {
      ASSERT_TRUE(checkpointed.grads.at(param).defined()) << name << ": " << param;
      EXPECT_TRUE(test::same_bytes(checkpointed.grads.at(param), grad)) << name << ": " << param;
    }
  }
}

TEST(ParityPaths, LogitsOnlyAtTargetsGiveSameLossAndGradients) {
  for (const char* name : {"base", "layer_norm_seq_len_gelu"}) {
    ParityFixture f = load_parity_fixture(name);
    RunResult full = run(f.config, f.weights_path, f.batch, {});
    ForwardOptions sparse_options;
    sparse_options.output_logits = false;
    RunResult sparse = run(f.config, f.weights_path, f.batch, sparse_options);
    EXPECT_FALSE(sparse.logits.defined());
    EXPECT_TRUE(within(std::string(name) + " loss", sparse.loss, full.loss, 1e-6, nullptr));
    for (const auto& [param, grad] : full.grads) {
      EXPECT_TRUE(
          within(std::string(name) + " " + param, sparse.grads.at(param), grad, 1e-5, nullptr));
    }
  }
}

// Appends `extra` padding columns (pad id, mask 0, label -100) to every row.
Batch pad_batch(const Batch& batch, int64_t extra, int32_t pad_id) {
  const int64_t rows = batch.input_ids.size(0);
  const int64_t cols = batch.input_ids.size(1);
  auto widen = [&](const Tensor& t, int32_t fill) {
    if (!t.defined()) return Tensor();
    std::vector<int32_t> v = t.to_ids(), out;
    for (int64_t r = 0; r < rows; ++r) {
      out.insert(out.end(), v.begin() + r * cols, v.begin() + (r + 1) * cols);
      out.insert(out.end(), extra, fill);
    }
    return Tensor::from_ids(out, {rows, cols + extra});
  };
  Batch padded = batch;
  padded.input_ids = widen(batch.input_ids, pad_id);
  padded.attention_mask = widen(batch.attention_mask, 0);
  padded.token_type_ids = widen(batch.token_type_ids, 0);
  padded.labels = widen(batch.labels, -100);
  return padded;
}

TEST(ParityPaths, PaddingLeavesRealPositionsUnchanged) {
  for (const char* name : {"base", "layer_norm_seq_len_gelu", "rotary_bias", "causal"}) {
    for (const char* scale : {"max_position", "seq_len"}) {
      ParityFixture f = load_parity_fixture(name);
      f.config.attention_scale = scale;
      FlashQuadForMaskedLM model(f.config, 1);
      load_weights(model, f.weights_path);
      NoGradGuard no_grad;
      ModelOutput short_out = model.forward(f.batch, {});
      ModelOutput long_out = model.forward(pad_batch(f.batch, 7, f.config.pad_token_id), {});

      const std::vector<int32_t> mask = f.batch.attention_mask.defined()
                                            ? f.batch.attention_mask.to_ids()
                                            : std::vector<int32_t>();  // default: id != pad
      const std::vector<int32_t> ids = f.batch.input_ids.to_ids();
      const int64_t rows = f.batch.input_ids.size(0), cols = f.batch.input_ids.size(1);
      const int64_t vocab = f.config.vocab_size;
      std::vector<float> real_short, real_long;
      const float* a = short_out.logits.data();
      const float* b = long_out.logits.data();
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t t = 0; t < cols; ++t) {
          const bool real =
              mask.empty() ? ids[r * cols + t] != f.config.pad_token_id : mask[r * cols + t] != 0;
          if (!real) continue;
          real_short.insert(real_short.end(), a + (r * cols + t) * vocab,
                            a + (r * cols + t + 1) * vocab);
          real_long.insert(real_long.end(), b + (r * (cols + 7) + t) * vocab,
                           b + (r * (cols + 7) + t + 1) * vocab);
        }
      }
      const Shape shape = {static_cast<int64_t>(real_short.size())};
      EXPECT_TRUE(within(std::string(name) + " " + scale, Tensor::from_vector(real_long, shape),
                         Tensor::from_vector(real_short, shape), 1e-5, nullptr));
      // The loss only counts real positions, so it must agree as well.
      EXPECT_NEAR(long_out.loss.item(), short_out.loss.item(),
                  1e-5 * std::fabs(short_out.loss.item()))
          << name << " " << scale;
    }
  }
}

}  // namespace
}  // namespace fq
