// FlashQuadForMaskedLM: parameter names, shapes and initial values, input validation, default
// mask and token types, dropout, loss divisor and the optional outputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "nn/model.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

using test::error_message;

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 50;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.expansion_factor = 1.5;
  c.s = 4;
  c.max_position_embeddings = 10;
  return c;
}

Batch tiny_batch() {
  Batch b;
  b.input_ids = Tensor::from_ids({2, 7, 9, 11, 3, 4, 8, 0, 0, 0}, {2, 5});
  b.labels = Tensor::from_ids({-100, 7, -100, 1, -100, 4, -100, -100, -100, -100}, {2, 5});
  b.num_targets = 3;
  return b;
}

std::vector<std::pair<std::string, Shape>> names_and_shapes(const FlashQuadForMaskedLM& model) {
  std::vector<std::pair<std::string, Shape>> out;
  for (const NamedParameter& p : model.named_parameters()) {
    out.emplace_back(p.name, p.tensor.shape());
  }
  return out;
}

TEST(Model, ParameterNamesAndShapes) {
  ModelConfig c = tiny_config();  // D 8, E 12, S 4, L 10, vocab 50
  c.num_hidden_layers = 1;
  FlashQuadForMaskedLM model(c, 1);
  const std::vector<std::pair<std::string, Shape>> expected = {
      {"flash_quad.embeddings.word_embeddings.weight", {50, 8}},
      {"flash_quad.embeddings.token_type_embeddings.weight", {2, 8}},
      {"flash_quad.embeddings.scaledsin_scalar", {1}},
      {"flash_quad.embeddings.LayerNorm.scala", {1}},
      {"flash_quad.encoder.layer.0.uv.weight", {28, 8}},
      {"flash_quad.encoder.layer.0.uv.bias", {28}},
      {"flash_quad.encoder.layer.0.weight", {2, 4}},
      {"flash_quad.encoder.layer.0.bias", {2, 4}},
      {"flash_quad.encoder.layer.0.o.weight", {8, 12}},
      {"flash_quad.encoder.layer.0.o.bias", {8}},
      {"flash_quad.encoder.layer.0.LayerNorm.scala", {1}},
      {"flash_quad.encoder.layer.0.w", {19}},
      {"cls.predictions.transform.dense.weight", {8, 8}},
      {"cls.predictions.transform.dense.bias", {8}},
      {"cls.predictions.transform.LayerNorm.scala", {1}},
      {"cls.predictions.bias", {50}},
  };
  EXPECT_EQ(names_and_shapes(model), expected);
}

TEST(Model, LayerNormAndRotaryBiasParameters) {
  ModelConfig c = tiny_config();
  c.num_hidden_layers = 1;
  c.norm_type = "layer_norm";
  c.max_position_embeddings = 513;
  FlashQuadForMaskedLM model(c, 1);
  std::vector<std::string> names;
  for (const auto& [name, shape] : names_and_shapes(model)) names.push_back(name);
  for (const char* name :
       {"flash_quad.embeddings.LayerNorm.weight", "flash_quad.embeddings.LayerNorm.bias",
        "flash_quad.encoder.layer.0.LayerNorm.weight",
        "cls.predictions.transform.LayerNorm.bias"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  EXPECT_EQ(model.parameter("flash_quad.encoder.layer.0.a").shape(), (Shape{1, 4}));
  EXPECT_EQ(model.parameter("flash_quad.encoder.layer.0.b").shape(), (Shape{1, 4}));
  EXPECT_NE(error_message([&] { model.parameter("flash_quad.encoder.layer.0.w"); }), "");
  for (const std::string& name : names) {
    EXPECT_EQ(name.find(".scala"), std::string::npos) << name;
  }
}

TEST(Model, InitialValues) {
  ModelConfig c = tiny_config();
  c.vocab_size = 2000;
  c.hidden_size = 16;
  c.pad_token_id = 3;
  FlashQuadForMaskedLM model(c, 42);

  const Tensor word = model.parameter("flash_quad.embeddings.word_embeddings.weight");
  double sum = 0.0, sum_sq = 0.0;
  for (int64_t i = 0; i < word.numel(); ++i) {
    const int64_t row = i / 16;
    const float v = word.data()[i];
    if (row == 3) {
      EXPECT_EQ(v, 0.0f) << "pad row element " << i;
      continue;
    }
    sum += v;
    sum_sq += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(word.numel() - 16);
  const double mean = sum / n;
  const double std = std::sqrt(sum_sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.002);  // 5 standard errors of the mean of 32k draws
  EXPECT_NEAR(std, 0.02, 0.001);

  EXPECT_FLOAT_EQ(model.parameter("flash_quad.embeddings.scaledsin_scalar").item(), 0.25f);
  for (const NamedParameter& p : model.named_parameters()) {
    const std::string& name = p.name;
    const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_bias) {
      for (float v : p.tensor.to_vector()) ASSERT_EQ(v, 0.0f) << name;
    }
    if (name.find("LayerNorm.scala") != std::string::npos) {
      EXPECT_EQ(p.tensor.item(), 1.0f) << name;
    }
    EXPECT_TRUE(p.tensor.requires_grad()) << name;
  }

  // Same seed, same values; another seed, other values.
  FlashQuadForMaskedLM same(c, 42), other(c, 43);
  EXPECT_TRUE(test::same_bytes(same.parameter("flash_quad.encoder.layer.1.uv.weight"),
                               model.parameter("flash_quad.encoder.layer.1.uv.weight")));
  EXPECT_NE(other.parameter("flash_quad.encoder.layer.1.uv.weight").to_vector(),
            model.parameter("flash_quad.encoder.layer.1.uv.weight").to_vector());
  // Layers draw from different streams.
  EXPECT_NE(model.parameter("flash_quad.encoder.layer.0.w").to_vector(),
            model.parameter("flash_quad.encoder.layer.1.w").to_vector());
}

TEST(Model, InvalidConfigIsRejected) {
  ModelConfig c = tiny_config();
  c.s = 5;
  const std::string message = error_message([&] { FlashQuadForMaskedLM model(c, 1); });
  EXPECT_NE(message.find("key \"model.s\""), std::string::npos) << message;
  EXPECT_NE(message.find("got 5"), std::string::npos) << message;
}

TEST(Model, ForwardValidatesInputs) {
  FlashQuadForMaskedLM model(tiny_config(), 1);
  NoGradGuard no_grad;
  struct Case {
    const char* what;
    std::function<void(Batch&)> edit;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"id too large", [](Batch& b) { b.input_ids.ids()[6] = 50; }, "input_ids[1][1] = 50"},
      {"negative id", [](Batch& b) { b.input_ids.ids()[0] = -1; }, "input_ids[0][0] = -1"},
      {"too long",
       [](Batch& b) {
         b.input_ids = Tensor::zeros({1, 11}, DType::I32);
         b.labels = Tensor();
       },
       "sequence length 11 exceeds max_position_embeddings 10"},
      {"float ids",
       [](Batch& b) {
         b.input_ids = Tensor::zeros({2, 5});
       },
       "must be int32"},
      {"1-D ids", [](Batch& b) { b.input_ids = Tensor::zeros({5}, DType::I32); }, "(B, T)"},
      {"mask shape",
       [](Batch& b) {
         b.attention_mask = Tensor::zeros({2, 4}, DType::I32);
       },
       "attention_mask has shape [2, 4]"},
      {"mask value",
       [](Batch& b) {
         b.attention_mask = Tensor::zeros({2, 5}, DType::I32);
         b.attention_mask.ids()[3] = 2;
       },
       "attention_mask[0][3] = 2"},
      {"token type",
       [](Batch& b) {
         b.token_type_ids = Tensor::zeros({2, 5}, DType::I32);
         b.token_type_ids.ids()[9] = 2;
       },
       "token_type_ids[1][4] = 2"},
      {"label", [](Batch& b) { b.labels.ids()[2] = 50; }, "labels[0][2] = 50"},
      {"no labels", [](Batch& b) { b.labels = Tensor(); }, "batch.labels is undefined"},
  };
  for (const Case& c : cases) {
    Batch batch = tiny_batch();
    batch.input_ids = batch.input_ids.clone();
    batch.labels = batch.labels.clone();
    c.edit(batch);
    const std::string msg = error_message([&] { model.forward(batch, {}); });
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << c.what << ": expected '" << c.expected << "' in '" << msg << "'";
  }
}

TEST(Model, DefaultMaskAndTokenTypes) {
  FlashQuadForMaskedLM model(tiny_config(), 1);
  NoGradGuard no_grad;
  Batch implicit = tiny_batch();
  Batch explicit_batch = tiny_batch();
  explicit_batch.attention_mask = Tensor::from_ids({1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, {2, 5});
  explicit_batch.token_type_ids = Tensor::zeros({2, 5}, DType::I32);
  ModelOutput a = model.forward(implicit, {});
  ModelOutput b = model.forward(explicit_batch, {});
  EXPECT_TRUE(test::same_bytes(a.logits, b.logits));
  EXPECT_TRUE(test::same_bytes(a.loss, b.loss));

  // A different mask changes the result, so the comparison above is not vacuous.
  explicit_batch.attention_mask.ids()[1] = 0;
  ModelOutput c = model.forward(explicit_batch, {});
  EXPECT_FALSE(test::same_bytes(a.logits, c.logits));
}

TEST(Model, DropoutOnlyWhenTraining) {
  ModelConfig config = tiny_config();
  config.dropout = 0.3;
  FlashQuadForMaskedLM model(config, 1);
  NoGradGuard no_grad;
  const Batch batch = tiny_batch();
  ForwardOptions eval;
  ForwardOptions train;
  train.training = true;
  train.dropout_seed = 5;
  train.dropout_stream = 7;
  const Tensor eval_logits = model.forward(batch, eval).logits;
  const Tensor train_a = model.forward(batch, train).logits;
  const Tensor train_b = model.forward(batch, train).logits;
  EXPECT_FALSE(test::same_bytes(train_a, eval_logits));
  EXPECT_TRUE(test::same_bytes(train_a, train_b)) << "dropout must depend only on seed and stream";
  train.dropout_stream = 8;
  EXPECT_FALSE(test::same_bytes(model.forward(batch, train).logits, train_a));

  ModelConfig no_dropout = config;
  no_dropout.dropout = 0.0;
  FlashQuadForMaskedLM plain(no_dropout, 1);
  EXPECT_TRUE(test::same_bytes(plain.forward(batch, train).logits, eval_logits));
}

TEST(Model, LossDivisorReplacesTargetCount) {
  FlashQuadForMaskedLM model(tiny_config(), 1);
  NoGradGuard no_grad;
  const Batch batch = tiny_batch();
  const float mean = model.forward(batch, {}).loss.item();
  ForwardOptions options;
  options.loss_divisor = 6.0;  // twice the 3 targets
  EXPECT_NEAR(model.forward(batch, options).loss.item(), mean / 2, 1e-6 * mean);
  options.output_logits = false;
  EXPECT_NEAR(model.forward(batch, options).loss.item(), mean / 2, 1e-6 * mean);
}

TEST(Model, NoTargetsGiveZeroLossAndGradient) {
  FlashQuadForMaskedLM model(tiny_config(), 1);
  for (bool logits : {true, false}) {
    Batch batch = tiny_batch();
    batch.labels = Tensor::from_ids(std::vector<int32_t>(10, -100), {2, 5});
    ForwardOptions options;
    options.output_logits = logits;
    ModelOutput out = model.forward(batch, options);
    EXPECT_EQ(out.loss.item(), 0.0f);
    for (NamedParameter& p : model.named_parameters()) p.tensor.set_grad(Tensor());
    out.loss.backward();
    for (const NamedParameter& p : model.named_parameters()) {
      if (!p.tensor.grad().defined()) continue;
      for (float g : p.tensor.grad().to_vector()) ASSERT_EQ(g, 0.0f) << p.name;
    }
  }
}

TEST(Model, OptionalOutputs) {
  ModelConfig config = tiny_config();
  config.num_hidden_layers = 3;
  FlashQuadForMaskedLM model(config, 1);
  NoGradGuard no_grad;
  ForwardOptions options;
  options.output_hidden_states = true;
  options.output_attentions = true;
  options.compute_loss = false;
  Batch batch = tiny_batch();
  batch.labels = Tensor();
  ModelOutput out = model.forward(batch, options);
  EXPECT_FALSE(out.loss.defined());
  EXPECT_EQ(out.logits.shape(), (Shape{2, 5, 50}));
  ASSERT_EQ(out.hidden_states.size(), 4u);
  ASSERT_EQ(out.attentions.size(), 3u);
  EXPECT_TRUE(test::same_bytes(out.hidden_states.back(), out.last_hidden_state));
  EXPECT_EQ(out.hidden_states[0].shape(), (Shape{2, 5, 8}));
  EXPECT_EQ(out.attentions[2].shape(), (Shape{2, 5, 5}));
  // Row 1 has padding at positions 2..4: its attention rows and columns there are zero.
  const float* a = out.attentions[0].data();
  for (int64_t i = 0; i < 5; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      if (i >= 2 || j >= 2) {
        EXPECT_EQ(a[25 + i * 5 + j], 0.0f) << i << " " << j;
      }
    }
  }

  ForwardOptions minimal;
  minimal.compute_loss = false;
  ModelOutput small = model.forward(batch, minimal);
  EXPECT_TRUE(small.hidden_states.empty());
  EXPECT_TRUE(small.attentions.empty());
  EXPECT_TRUE(test::same_bytes(small.logits, out.logits));
}

}  // namespace
}  // namespace fq
