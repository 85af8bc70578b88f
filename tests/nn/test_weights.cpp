// Saving and loading model weights: round trip with the tied decoder aliases, aliases accepted
// alone, and one error that lists every missing, unexpected and mismatched name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/safetensors.h"
#include "nn/batch_json.h"
#include "nn/weights.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 20;
  c.hidden_size = 6;
  c.num_hidden_layers = 2;
  c.s = 4;
  c.max_position_embeddings = 8;
  return c;
}

class Weights : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fq_weights_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string dir_;
};

TEST_F(Weights, SaveLoadRoundTrip) {
  FlashQuadForMaskedLM source(tiny_config(), 1), target(tiny_config(), 2);
  const std::string path = dir_ + "/w.safetensors";
  save_weights(source, path);

  SafetensorsFile file = read_safetensors(path);
  EXPECT_EQ(file.metadata.at("format"), "pt");
  EXPECT_EQ(file.names.size(), source.named_parameters().size() + 2);
  EXPECT_TRUE(test::same_bytes(file.at("cls.predictions.decoder.weight"),
                               source.parameter("flash_quad.embeddings.word_embeddings.weight")));
  EXPECT_TRUE(test::same_bytes(file.at("cls.predictions.decoder.bias"),
                               source.parameter("cls.predictions.bias")));

  load_weights(target, path);
  for (const NamedParameter& p : source.named_parameters()) {
    EXPECT_TRUE(test::same_bytes(target.parameter(p.name), p.tensor)) << p.name;
  }
}

TEST_F(Weights, AliasesAloneAreAccepted) {
  FlashQuadForMaskedLM source(tiny_config(), 1), target(tiny_config(), 2);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const NamedParameter& p : source.named_parameters()) {
    std::string name = p.name;
    if (name == "flash_quad.embeddings.word_embeddings.weight") {
      name = "cls.predictions.decoder.weight";
    }
    if (name == "cls.predictions.bias") name = "cls.predictions.decoder.bias";
    tensors.emplace_back(name, p.tensor);
  }
  const std::string path = dir_ + "/aliases.safetensors";
  write_safetensors(path, tensors);
  load_weights(target, path);
  EXPECT_TRUE(test::same_bytes(target.parameter("flash_quad.embeddings.word_embeddings.weight"),
                               source.parameter("flash_quad.embeddings.word_embeddings.weight")));
  EXPECT_TRUE(test::same_bytes(target.parameter("cls.predictions.bias"),
                               source.parameter("cls.predictions.bias")));
}

TEST_F(Weights, MismatchesAreListedAndNothingIsLoaded) {
  FlashQuadForMaskedLM source(tiny_config(), 1), target(tiny_config(), 2);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const NamedParameter& p : source.named_parameters()) {
    if (p.name == "flash_quad.encoder.layer.1.w" || p.name == "cls.predictions.bias") continue;
    if (p.name == "flash_quad.encoder.layer.0.o.weight") {
      tensors.emplace_back(p.name, Tensor::zeros({6, 3}));
      continue;
    }
    tensors.emplace_back(p.name, p.tensor);
  }
  tensors.emplace_back("flash_quad.encoder.layer.2.w", Tensor::zeros({15}));
  const std::string path = dir_ + "/bad.safetensors";
  write_safetensors(path, tensors);

  const Tensor before = target.parameter("flash_quad.encoder.layer.0.uv.weight").clone();
  const std::string msg = test::error_message([&] { load_weights(target, path); });
  for (const char* part : {"Missing (2)", "flash_quad.encoder.layer.1.w", "cls.predictions.bias",
                           "Unexpected (1)", "flash_quad.encoder.layer.2.w", "Mismatched (1)",
                           "flash_quad.encoder.layer.0.o.weight has shape [6, 3], expected [6, 12]",
                           "nothing was loaded"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  }
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_TRUE(test::same_bytes(target.parameter("flash_quad.encoder.layer.0.uv.weight"), before));
}

TEST_F(Weights, DifferingTiedPairIsRejected) {
  FlashQuadForMaskedLM source(tiny_config(), 1), target(tiny_config(), 2);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const NamedParameter& p : source.named_parameters()) tensors.emplace_back(p.name, p.tensor);
  tensors.emplace_back("cls.predictions.decoder.bias", Tensor::full({20}, 1.0f));
  const std::string path = dir_ + "/tied.safetensors";
  write_safetensors(path, tensors);
  const std::string msg = test::error_message([&] { load_weights(target, path); });
  EXPECT_NE(msg.find("cls.predictions.decoder.bias differs from cls.predictions.bias"),
            std::string::npos)
      << msg;
}

TEST_F(Weights, ExportWritesFolder) {
  FlashQuadForMaskedLM model(tiny_config(), 1);
  const std::string out = dir_ + "/export";
  EXPECT_NE(test::error_message([&] {
              export_pretrained(model, dir_ + "/missing.txt", out);
            }).find("cannot open vocab"),
            std::string::npos);
  export_pretrained(model, "", out);
  EXPECT_EQ(read_safetensors(out + "/model.safetensors").names.size(),
            model.named_parameters().size() + 2);
  EXPECT_EQ(access((out + "/config.json").c_str(), R_OK), 0);
  EXPECT_NE(access((out + "/vocab.txt").c_str(), R_OK), 0) << "no vocab was given";
}

TEST(BatchJson, ParsesEveryField) {
  nlohmann::json j = {{"input_ids", {{5, 6, 0}, {7, 8, 9}}},
                      {"attention_mask", {{1, 1, 0}, {1, 1, 1}}},
                      {"token_type_ids", {{0, 1, 1}, {0, 0, 0}}},
                      {"labels", {{-100, 6, -100}, {7, -100, 9}}}};
  Batch b = batch_from_json(j, "b.json");
  EXPECT_EQ(b.input_ids.shape(), (Shape{2, 3}));
  EXPECT_EQ(b.input_ids.to_ids(), (std::vector<int32_t>{5, 6, 0, 7, 8, 9}));
  EXPECT_EQ(b.attention_mask.to_ids(), (std::vector<int32_t>{1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(b.token_type_ids.to_ids(), (std::vector<int32_t>{0, 1, 1, 0, 0, 0}));
  EXPECT_EQ(b.num_targets, 3);
  Batch only_ids = batch_from_json({{"input_ids", {{1, 2}}}}, "b.json");
  EXPECT_FALSE(only_ids.labels.defined());
  EXPECT_FALSE(only_ids.attention_mask.defined());
}

TEST(BatchJson, ErrorsNameFieldAndRow) {
  struct Case {
    nlohmann::json json;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {{{"labels", {{1}}}}, "missing \"input_ids\""},
      {{{"input_ids", {{1, 2}, {3}}}}, "\"input_ids\"[1] must be an array of 2"},
      {{{"input_ids", {{1, 2.5}}}}, "\"input_ids\"[0][1] must be an integer"},
      {{{"input_ids", {{1, 5000000000}}}}, "does not fit in int32"},
      {{{"input_ids", {{1, 2}}}, {"labels", {{1, 2}, {3, 4}}}},
       "\"labels\" has shape [2, 2] but input_ids has shape [1, 2]"},
      {{{"input_ids", {{1}}}, {"mask", {{1}}}}, "unknown field \"mask\""},
      {{{"input_ids", nlohmann::json::array()}}, "non-empty array"},
  };
  for (const Case& c : cases) {
    const std::string msg = test::error_message([&] { batch_from_json(c.json, "b.json"); });
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << c.json.dump() << ": expected '" << c.expected << "' in '" << msg << "'";
    EXPECT_NE(msg.find("b.json"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace fq
