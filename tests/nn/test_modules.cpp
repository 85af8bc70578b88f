// Gradient checks of every model module over its inputs and all its parameters, with small
// pairwise different sizes (B=2, T=5, D=6, E=12, S=4) so transposition mistakes show up, and
// the tiny full model on a sample of parameter elements.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/embedding.h"
#include "nn/flash_quad_embeddings.h"
#include "nn/gau.h"
#include "nn/linear.h"
#include "nn/mlm_head.h"
#include "nn/model.h"
#include "nn/norm.h"
#include "tests/gradcheck.h"
#include "tests/nn/module_gradcheck.h"

namespace fq {
namespace {

using test::fill_uniform;
using test::module_gradcheck;
using test::NamedLeaves;

// Every registered parameter, refilled with uniform values in [-0.5, 0.5) (gains in [0.5, 1.5))
// so that no term is trivially zero or one.
NamedLeaves spread(const std::vector<NamedParameter>& registry, uint64_t seed) {
  NamedLeaves leaves;
  for (const NamedParameter& p : registry) {
    const bool gain = p.name.find("LayerNorm.scala") != std::string::npos ||
                      p.name.find("LayerNorm.weight") != std::string::npos;
    fill_uniform(p.tensor, seed++, gain ? 0.5f : -0.5f, gain ? 1.5f : 0.5f);
    leaves.emplace_back(p.name, p.tensor);
  }
  return leaves;
}

Tensor leaf_input(const Shape& shape, uint64_t seed) {
  Tensor x = test::random_tensor(shape, seed);
  x.set_requires_grad(true);
  return x;
}

ModelConfig small_config() {
  ModelConfig c;
  c.vocab_size = 11;
  c.hidden_size = 6;
  c.num_hidden_layers = 2;
  c.expansion_factor = 2;
  c.s = 4;
  c.max_position_embeddings = 8;
  return c;
}

TEST(Modules, LinearGradients) {
  std::vector<NamedParameter> registry;
  ParameterFactory factory(1, 0.02, &registry);
  Linear layer("dense", 6, 4, factory);
  NamedLeaves leaves = spread(registry, 10);
  Tensor x = leaf_input({2, 5, 6}, 3);
  leaves.emplace_back("x", x);
  EXPECT_TRUE(module_gradcheck([&] { return layer.forward(x); }, leaves));
}

TEST(Modules, EmbeddingGradientsSkipPaddingRow) {
  std::vector<NamedParameter> registry;
  ParameterFactory factory(1, 0.02, &registry);
  Embedding table("emb", 7, 6, 2, factory);
  NamedLeaves leaves = spread(registry, 20);
  Tensor ids = Tensor::from_ids({0, 2, 5, 2, 6, 1, 0, 3, 2, 4}, {2, 5});
  // Lookups add nothing to the padding row's gradient (PyTorch's padding_idx semantics). The
  // output does depend on that row, so the finite-difference check uses a copy without one.
  Tensor out = table.forward(ids);
  out.backward(Tensor::full(out.shape(), 1.0f));
  for (int64_t j = 0; j < 6; ++j) EXPECT_EQ(table.weight.grad().data()[2 * 6 + j], 0.0f) << j;

  Embedding no_padding = table;
  no_padding.padding_idx = -1;
  EXPECT_TRUE(module_gradcheck([&] { return no_padding.forward(ids); }, leaves));
}

TEST(Modules, ScaleNormGradients) {
  std::vector<NamedParameter> registry;
  ParameterFactory factory(1, 0.02, &registry);
  Norm norm("n.LayerNorm", "scale_norm", 6, 1e-5, factory);
  NamedLeaves leaves = spread(registry, 30);
  Tensor x = leaf_input({2, 5, 6}, 4);
  leaves.emplace_back("x", x);
  EXPECT_TRUE(module_gradcheck([&] { return norm.forward(x); }, leaves));
}

TEST(Modules, LayerNormGradients) {
  std::vector<NamedParameter> registry;
  ParameterFactory factory(1, 0.02, &registry);
  Norm norm("n.LayerNorm", "layer_norm", 6, 1e-5, factory);
  NamedLeaves leaves = spread(registry, 40);
  Tensor x = leaf_input({2, 5, 6}, 5);
  leaves.emplace_back("x", x);
  EXPECT_TRUE(module_gradcheck([&] { return norm.forward(x); }, leaves));
}

struct GauCase {
  const char* name;
  int64_t max_position;
  const char* norm_type;
  const char* act;
  const char* scale;
  bool causal;
};

class GauGradients : public ::testing::TestWithParam<GauCase> {};

TEST_P(GauGradients, MatchFiniteDifferences) {
  const GauCase& c = GetParam();
  ModelConfig config = small_config();
  config.max_position_embeddings = c.max_position;
  config.norm_type = c.norm_type;
  config.hidden_act = c.act;
  config.attention_scale = c.scale;
  config.causal = c.causal;
  std::vector<NamedParameter> registry;
  ParameterFactory factory(1, 0.02, &registry);
  GauLayer layer("layer", config, factory);
  NamedLeaves leaves = spread(registry, 50);
  EXPECT_EQ(leaves.size(), layer.parameters().size());
  Tensor x = leaf_input({2, 5, 6}, 6);
  leaves.emplace_back("x", x);
  // Second row: two padding positions.
  AttentionContext context =
      make_attention_context(config, Tensor::from_ids({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 5}));
  EXPECT_TRUE(module_gradcheck([&] { return layer.forward(x, context).y; }, leaves)) << c.name;
  // The checkpointed layer has the same gradients.
  EXPECT_TRUE(module_gradcheck([&] { return layer.forward_checkpointed(x, context).y; }, leaves))
      << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Configs, GauGradients,
    ::testing::Values(GauCase{"table_bias", 8, "scale_norm", "silu", "max_position", false},
                      GauCase{"rotary_bias", 520, "layer_norm", "gelu", "seq_len", false},
                      GauCase{"causal_relu", 8, "scale_norm", "relu", "seq_len", true}),
    [](const ::testing::TestParamInfo<GauCase>& info) { return std::string(info.param.name); });

TEST(Modules, GauAttentionIsMaskedAndCausal) {
  ModelConfig config = small_config();
  config.causal = true;
  std::vector<NamedParameter> registry;
  ParameterFactory factory(1, 0.02, &registry);
  GauLayer layer("layer", config, factory);
  spread(registry, 60);
  Tensor x = test::random_tensor({2, 5, 6}, 7);
  AttentionContext context =
      make_attention_context(config, Tensor::from_ids({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 5}));
  Tensor a = layer.forward(x, context).attention;  // (2, 5, 5)
  int64_t positive = 0;
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < 5; ++i) {
      for (int64_t j = 0; j < 5; ++j) {
        const float v = a.data()[(b * 5 + i) * 5 + j];
        const bool padded = b == 1 && (i >= 3 || j >= 3);
        if (j > i || padded) {
          EXPECT_EQ(v, 0.0f) << "b " << b << " i " << i << " j " << j;
        }
        positive += v > 0.0f;
      }
    }
  }
  EXPECT_GT(positive, 5) << "the check is vacuous if every weight is zero";
}

TEST(Modules, CheckpointGradientsAreBitIdentical) {
  ModelConfig config = small_config();
  std::vector<NamedParameter> registry;
  ParameterFactory factory(1, 0.02, &registry);
  GauLayer layer("layer", config, factory);
  spread(registry, 70);
  AttentionContext context =
      make_attention_context(config, Tensor::from_ids({1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, {2, 5}));
  Tensor weights = test::random_tensor({2, 5, 6}, 8);
  std::vector<std::vector<float>> grads[2];
  for (int run = 0; run < 2; ++run) {
    for (const NamedParameter& p : registry) {
      Tensor t = p.tensor;
      t.set_grad(Tensor());
    }
    Tensor x = leaf_input({2, 5, 6}, 9);
    // Two stacked uses of the layer, so the first one's input gradient passes through the second.
    Tensor y =
        run == 0 ? layer.forward(layer.forward(x, context).y, context).y
                 : layer.forward_checkpointed(layer.forward_checkpointed(x, context).y, context).y;
    y.backward(weights);
    grads[run].push_back(x.grad().to_vector());
    for (const NamedParameter& p : registry) grads[run].push_back(p.tensor.grad().to_vector());
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) {
    EXPECT_EQ(grads[0][i], grads[1][i]) << "gradient " << i << " (0 is x)";
  }
}

TEST(Modules, CheckpointWithoutGradModeRecordsNothing) {
  Tensor x = leaf_input({3}, 1);
  NoGradGuard no_grad;
  std::vector<Tensor> out =
      checkpoint([](const Tensor& in) { return std::vector<Tensor>{mul_scalar(in, 2.0f)}; }, x, {});
  EXPECT_FALSE(out[0].requires_grad());
}

TEST(Modules, EmbeddingsGradients) {
  ModelConfig config = small_config();
  config.type_vocab_size = 3;
  std::vector<NamedParameter> registry;
  ParameterFactory factory(1, 0.02, &registry);
  FlashQuadEmbeddings embeddings("flash_quad.embeddings", config, factory);
  NamedLeaves leaves = spread(registry, 80);
  Tensor ids = Tensor::from_ids({3, 4, 5, 6, 7, 8, 9, 10, 1, 2}, {2, 5});  // no pad id 0
  Tensor types = Tensor::from_ids({0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, {2, 5});
  EXPECT_TRUE(module_gradcheck([&] { return embeddings.forward(ids, types); }, leaves));
}

TEST(Modules, MlmHeadGradients) {
  ModelConfig config = small_config();
  config.norm_type = "layer_norm";
  config.hidden_act = "gelu";
  std::vector<NamedParameter> registry;
  ParameterFactory factory(1, 0.02, &registry);
  Embedding word("word", config.vocab_size, 6, -1, factory);
  MlmHead head(config, word.weight, factory);
  NamedLeaves leaves = spread(registry, 90);
  Tensor h = leaf_input({2, 5, 6}, 10);
  leaves.emplace_back("h", h);
  EXPECT_TRUE(module_gradcheck([&] { return head.forward(h); }, leaves));
}

TEST(Modules, FullModelLossGradients) {
  ModelConfig config = small_config();
  FlashQuadForMaskedLM model(config, 3);
  NamedLeaves leaves = spread(model.named_parameters(), 100);
  Batch batch;
  batch.input_ids = Tensor::from_ids({2, 3, 4, 5, 6, 7, 8, 9, 0, 0}, {2, 5});
  batch.token_type_ids = Tensor::from_ids({0, 0, 1, 1, 1, 0, 1, 0, 0, 0}, {2, 5});
  batch.labels = Tensor::from_ids({-100, 5, -100, 1, 10, 3, -100, 0, -100, -100}, {2, 5});
  // NOTE: every third element of each parameter is checked to keep the test fast; the modules
  // above check every element.
  test::ModuleGradcheckOptions options;
  options.stride = 3;
  EXPECT_TRUE(module_gradcheck([&] { return model.forward(batch, {}).loss; }, leaves, options));
}

}  // namespace
}  // namespace fq
