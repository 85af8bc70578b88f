// AdamW against trajectories computed by PyTorch (tests/reference/adamw_fixture.py) and
// properties that the fixture does not cover: grouping, tied weights, state export, threads.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "optim/adamw.h"

namespace fq {
namespace {

nlohmann::json load_fixture() {
  const std::string relative = "tests/reference/fixtures/adamw_cases.json";
  std::ifstream in(relative);
  if (!in.good()) {
    // Running from another directory: locate the fixture beside this source file.
    std::string here = __FILE__;
    std::string root = here.substr(0, here.rfind("tests/optim/"));
    in.open(root + relative);
  }
  EXPECT_TRUE(in.good()) << "cannot open " << relative
                         << "; run the tests from the repository root";
  nlohmann::json fixture;
  if (in.good()) in >> fixture;
  return fixture;
}

const nlohmann::json& find_case(const std::string& name) {
  static const nlohmann::json fixture = load_fixture();
  static const nlohmann::json missing;
  if (!fixture.is_object()) return missing;
  for (const nlohmann::json& c : fixture["cases"]) {
    if (c["name"] == name) return c;
  }
  return missing;
}

std::vector<float> to_floats(const nlohmann::json& values) {
  std::vector<float> out;
  for (const nlohmann::json& v : values) out.push_back(static_cast<float>(v.get<double>()));
  return out;
}

// |actual - expected| <= 1e-6 * max(|expected|, 1e-3): relative, with a floor so values near
// zero are not held to a tolerance below float32 resolution of the update.
bool close(float actual, float expected) {
  double scale = std::max(std::fabs(static_cast<double>(expected)), 1e-3);
  return std::fabs(static_cast<double>(actual) - expected) <= 1e-6 * scale;
}

void run_fixture_case(const std::string& case_name) {
  const nlohmann::json& c = find_case(case_name);
  ASSERT_TRUE(c.is_object()) << "fixture case " << case_name << " not found";

  AdamWOptions options;
  options.beta1 = c["beta1"].get<double>();
  options.beta2 = c["beta2"].get<double>();
  options.eps = c["eps"].get<double>();
  options.weight_decay = c["weight_decay"].get<double>();
  options.no_decay = c["no_decay"].get<std::vector<std::string>>();
  options.variant = parse_adamw_variant(c["optim"].get<std::string>());

  std::vector<NamedParameter> params;
  for (const nlohmann::json& p : c["params"]) {
    Tensor t = Tensor::from_vector(to_floats(p["init"]), p["shape"].get<Shape>());
    t.set_requires_grad(true);
    params.push_back({p["name"].get<std::string>(), t});
  }
  AdamW optimizer(params, options);

  const nlohmann::json& lrs = c["lrs"];
  for (size_t step = 0; step < lrs.size(); ++step) {
    for (size_t i = 0; i < params.size(); ++i) {
      const nlohmann::json& g = c["grads"][step][i];
      if (g.is_null()) {
        params[i].tensor.set_grad(Tensor());
      } else {
        params[i].tensor.set_grad(Tensor::from_vector(to_floats(g), params[i].tensor.shape()));
      }
    }
    optimizer.step(lrs[step].get<double>());

    for (size_t i = 0; i < params.size(); ++i) {
      std::vector<float> expected = to_floats(c["expected"][step][i]);
      std::vector<float> actual = params[i].tensor.to_vector();
      ASSERT_EQ(actual.size(), expected.size());
      for (size_t j = 0; j < actual.size(); ++j) {
        ASSERT_TRUE(close(actual[j], expected[j]))
            << case_name << " step " << step + 1 << " " << params[i].name << "[" << j << "]: got "
            << actual[j] << ", torch " << expected[j] << " (diff " << actual[j] - expected[j]
            << ")";
      }
    }
  }

  AdamWState state = optimizer.state();
  EXPECT_EQ(state.step_count, static_cast<int64_t>(lrs.size()));
  for (size_t i = 0; i < params.size(); ++i) {
    const nlohmann::json& expected = c["final_state"][i];
    EXPECT_EQ(state.params[i].step, expected["step"].get<int64_t>()) << params[i].name;
    std::vector<float> m = to_floats(expected["exp_avg"]);
    std::vector<float> v = to_floats(expected["exp_avg_sq"]);
    ASSERT_EQ(state.params[i].exp_avg.size(), m.size());
    for (size_t j = 0; j < m.size(); ++j) {
      EXPECT_TRUE(close(state.params[i].exp_avg[j], m[j]))
          << case_name << " exp_avg " << params[i].name << "[" << j << "]: got "
          << state.params[i].exp_avg[j] << ", torch " << m[j];
      // v can be as small as 1e-17 (gradients of 1e-7), so compare it relative to itself.
      EXPECT_LE(std::fabs(state.params[i].exp_avg_sq[j] - v[j]), 1e-6 * std::fabs(v[j]))
          << case_name << " exp_avg_sq " << params[i].name << "[" << j << "]: got "
          << state.params[i].exp_avg_sq[j] << ", torch " << v[j];
    }
  }
}

NamedParameter make_param(const std::string& name, const std::vector<float>& values) {
  Tensor t = Tensor::from_vector(values, {static_cast<int64_t>(values.size())});
  t.set_requires_grad(true);
  return {name, t};
}

TEST(AdamWFixture, TorchWithWarmupAndDecay) { run_fixture_case("torch_decay"); }
TEST(AdamWFixture, TorchWithoutDecay) { run_fixture_case("torch_no_decay"); }
TEST(AdamWFixture, TorchWithTrainerPatterns) { run_fixture_case("torch_decay_hf_patterns"); }
TEST(AdamWFixture, HfWithWarmupAndDecay) { run_fixture_case("hf_decay"); }
TEST(AdamWFixture, HfWithoutDecay) { run_fixture_case("hf_no_decay"); }

TEST(AdamW, NoDecayPatternsMatchSubstrings) {
  AdamWOptions options;
  options.weight_decay = 0.01;
  AdamW optimizer({}, options);
  EXPECT_TRUE(optimizer.decays("flash_quad.encoder.layer.0.uv.weight"));
  EXPECT_FALSE(optimizer.decays("flash_quad.encoder.layer.0.uv.bias"));
  EXPECT_FALSE(optimizer.decays("flash_quad.encoder.layer.0.bias"));
  EXPECT_FALSE(optimizer.decays("flash_quad.embeddings.LayerNorm.scala"));
  EXPECT_FALSE(optimizer.decays("cls.predictions.transform.LayerNorm.weight"));
  EXPECT_TRUE(optimizer.decays("flash_quad.encoder.layer.0.w"));

  options.no_decay = {"bias", "LayerNorm.weight"};
  AdamW trainer_style({}, options);
  EXPECT_TRUE(trainer_style.decays("flash_quad.embeddings.LayerNorm.scala"));
  EXPECT_FALSE(trainer_style.decays("cls.predictions.transform.LayerNorm.weight"));
}

TEST(AdamW, SkipsParameterWithoutGrad) {
  NamedParameter a = make_param("a.weight", {1.0f, -2.0f});
  NamedParameter b = make_param("b.weight", {3.0f, 4.0f});
  AdamWOptions options;
  options.weight_decay = 0.5;
  AdamW optimizer({a, b}, options);

  a.tensor.set_grad(Tensor::from_vector({0.5f, 0.5f}, {2}));
  optimizer.step(0.1);
  std::vector<float> b_values = b.tensor.to_vector();
  EXPECT_EQ(b_values[0], 3.0f) << "a parameter without grad must not be decayed";
  EXPECT_EQ(b_values[1], 4.0f);
  EXPECT_NE(a.tensor.to_vector()[0], 1.0f);

  AdamWState state = optimizer.state();
  EXPECT_EQ(state.step_count, 1);
  EXPECT_EQ(state.params[0].step, 1);
  EXPECT_EQ(state.params[1].step, 0);
  EXPECT_EQ(state.params[1].exp_avg[0], 0.0f);
}

TEST(AdamW, TiedWeightDecaysOnce) {
  // Zero gradient: m and v stay 0, the Adam update is 0 / (0 + eps) = 0, so only the decoupled
  // decay moves the weight, and it must act exactly once.
  for (AdamWVariant variant : {AdamWVariant::Torch, AdamWVariant::HuggingFace}) {
    NamedParameter embedding =
        make_param("flash_quad.embeddings.word_embeddings.weight", {0.5f, -0.25f, 2.0f});
    AdamWOptions options;
    options.weight_decay = 0.1;
    options.variant = variant;
    AdamW optimizer({embedding}, options);
    embedding.tensor.set_grad(Tensor::zeros({3}));
    optimizer.step(0.5);
    std::vector<float> values = embedding.tensor.to_vector();
    const float once = static_cast<float>(1.0 - 0.5 * 0.1);
    EXPECT_NEAR(values[0], 0.5f * once, 1e-7) << adamw_variant_name(variant);
    EXPECT_NEAR(values[1], -0.25f * once, 1e-7) << adamw_variant_name(variant);
    EXPECT_NEAR(values[2], 2.0f * once, 1e-7) << adamw_variant_name(variant);
  }
}

TEST(AdamW, RejectsTensorListedTwice) {
  NamedParameter embedding =
      make_param("flash_quad.embeddings.word_embeddings.weight", {1, 2, 3, 4});
  NamedParameter decoder{"cls.predictions.decoder.weight", embedding.tensor.reshape({2, 2})};
  EXPECT_THROW(AdamW({embedding, decoder}, AdamWOptions{}), std::invalid_argument);
  EXPECT_THROW(AdamW({embedding, embedding}, AdamWOptions{}), std::invalid_argument);
}

TEST(AdamW, RejectsInvalidOptions) {
  AdamWOptions options;
  options.beta1 = 1.0;
  EXPECT_THROW(AdamW({}, options), std::invalid_argument);
  options = AdamWOptions{};
  options.beta2 = -0.1;
  EXPECT_THROW(AdamW({}, options), std::invalid_argument);
  options = AdamWOptions{};
  options.eps = -1e-8;
  EXPECT_THROW(AdamW({}, options), std::invalid_argument);
  options = AdamWOptions{};
  options.weight_decay = -0.01;
  EXPECT_THROW(AdamW({}, options), std::invalid_argument);
  EXPECT_THROW(parse_adamw_variant("adam"), std::invalid_argument);
  EXPECT_EQ(parse_adamw_variant("adamw_hf"), AdamWVariant::HuggingFace);
  EXPECT_EQ(parse_adamw_variant("adamw_torch"), AdamWVariant::Torch);
}

TEST(AdamW, StateRoundTripContinuesBitwise) {
  std::vector<float> init = {0.1f, -0.7f, 1.3f, 0.02f, -0.4f, 0.9f};
  NamedParameter a = make_param("a.weight", init);
  NamedParameter b = make_param("a.bias", {0.3f, -0.3f});
  AdamWOptions options;
  options.weight_decay = 0.05;
  AdamW first({a, b}, options);
  auto set_grads = [](NamedParameter& pa, NamedParameter& pb, int step) {
    std::vector<float> ga, gb;
    for (int i = 0; i < 6; ++i) ga.push_back(std::sin(0.7f * static_cast<float>(i + 3 * step)));
    for (int i = 0; i < 2; ++i) gb.push_back(std::cos(1.3f * static_cast<float>(i + step)));
    pa.tensor.set_grad(Tensor::from_vector(ga, {6}));
    pb.tensor.set_grad(Tensor::from_vector(gb, {2}));
  };
  for (int step = 0; step < 3; ++step) {
    set_grads(a, b, step);
    first.step(0.01 * (step + 1));
  }

  NamedParameter a2{"a.weight", a.tensor.clone().set_requires_grad(true)};
  NamedParameter b2{"a.bias", b.tensor.clone().set_requires_grad(true)};
  AdamW second({a2, b2}, options);
  second.load_state(first.state());

  for (int step = 3; step < 5; ++step) {
    set_grads(a, b, step);
    set_grads(a2, b2, step);
    first.step(0.02);
    second.step(0.02);
  }
  std::vector<float> va = a.tensor.to_vector(), va2 = a2.tensor.to_vector();
  for (size_t i = 0; i < va.size(); ++i) EXPECT_EQ(va[i], va2[i]) << "a.weight[" << i << "]";
  std::vector<float> vb = b.tensor.to_vector(), vb2 = b2.tensor.to_vector();
  for (size_t i = 0; i < vb.size(); ++i) EXPECT_EQ(vb[i], vb2[i]) << "a.bias[" << i << "]";
  EXPECT_EQ(second.step_count(), 5);
}

TEST(AdamW, LoadStateRejectsMismatch) {
  NamedParameter a = make_param("a.weight", {1.0f, 2.0f});
  AdamW optimizer({a}, AdamWOptions{});
  AdamWState good = optimizer.state();

  AdamWState renamed = good;
  renamed.params[0].name = "b.weight";
  EXPECT_THROW(optimizer.load_state(renamed), std::invalid_argument);

  AdamWState reshaped = good;
  reshaped.params[0].shape = {1, 2};
  EXPECT_THROW(optimizer.load_state(reshaped), std::invalid_argument);

  AdamWState short_moments = good;
  short_moments.params[0].exp_avg.pop_back();
  EXPECT_THROW(optimizer.load_state(short_moments), std::invalid_argument);

  AdamWState empty;
  EXPECT_THROW(optimizer.load_state(empty), std::invalid_argument);
  EXPECT_EQ(optimizer.state().params.size(), 1u) << "a failed load must leave the state intact";
}

TEST(AdamW, ThreadCountDoesNotChangeResult) {
  const int64_t n = 100003;  // above the parallel threshold, not a multiple of the thread count
  std::vector<float> init(n), grad(n);
  for (int64_t i = 0; i < n; ++i) {
    init[i] = std::sin(0.001f * static_cast<float>(i));
    grad[i] = std::cos(0.003f * static_cast<float>(i));
  }
  std::vector<std::vector<float>> results;
  const int saved_threads = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    NamedParameter p{"w", Tensor::from_vector(init, {n}).set_requires_grad(true)};
    AdamWOptions options;
    options.weight_decay = 0.01;
    AdamW optimizer({p}, options);
    for (int step = 0; step < 2; ++step) {
      p.tensor.set_grad(Tensor::from_vector(grad, {n}));
      optimizer.step(1e-3);
    }
    results.push_back(p.tensor.to_vector());
  }
  set_num_threads(saved_threads);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(results[0][i], results[1][i]) << "index " << i;
}

TEST(AdamW, ZeroGradKeepsOrDropsBuffers) {
  NamedParameter a = make_param("a", {1.0f, 2.0f});
  a.tensor.set_grad(Tensor::from_vector({3.0f, 4.0f}, {2}));
  AdamW optimizer({a}, AdamWOptions{});
  optimizer.zero_grad();
  ASSERT_TRUE(a.tensor.grad().defined());
  EXPECT_EQ(a.tensor.grad().to_vector()[0], 0.0f);
  EXPECT_EQ(a.tensor.grad().to_vector()[1], 0.0f);
  optimizer.zero_grad(/*set_to_none=*/true);
  EXPECT_FALSE(a.tensor.grad().defined());
}

}  // namespace
}  // namespace fq
