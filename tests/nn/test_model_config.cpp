// Model config parsing: defaults, every key, type and value errors, and the config.json round
// trip.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "nn/model_config.h"

namespace fq {
namespace {

using nlohmann::json;

// Returns the message of the std::invalid_argument that parsing `model` throws, or "" if none.
std::string parse_error(const json& model) {
  try {
    parse_model_config(model, "configs/test.json");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, EmptyObjectGivesDefaults) {
  ModelConfig c = parse_model_config(json::object(), "x.json");
  EXPECT_EQ(c.vocab_size, 12000);
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.num_hidden_layers, 24);
  EXPECT_EQ(c.expansion_factor, 2.0);
  EXPECT_EQ(c.s, 128);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_EQ(c.type_vocab_size, 2);
  EXPECT_EQ(c.norm_type, "scale_norm");
  EXPECT_EQ(c.layer_norm_eps, 1e-5);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_EQ(c.initializer_range, 0.02);
  EXPECT_EQ(c.dropout, 0.0);
  EXPECT_EQ(c.attention_scale, "max_position");
  EXPECT_FALSE(c.gradient_checkpointing);
  EXPECT_FALSE(c.causal);
  EXPECT_EQ(c.expanded_size(), 1536);
  EXPECT_FALSE(c.uses_rotary_bias());
}

TEST(ModelConfig, ReadsEveryKey) {
  json m = {{"vocab_size", 300},
            {"hidden_size", 64},
            {"num_hidden_layers", 3},
            {"expansion_factor", 1.5},
            {"s", 32},
            {"max_position_embeddings", 520},
            {"type_vocab_size", 3},
            {"norm_type", "layer_norm"},
            {"layer_norm_eps", 1e-6},
            {"hidden_act", "gelu"},
            {"pad_token_id", 1},
            {"initializer_range", 0.05},
            {"dropout", 0.1},
            {"attention_scale", "seq_len"},
            {"gradient_checkpointing", true},
            {"causal", true}};
  ModelConfig c = parse_model_config(m, "x.json");
  EXPECT_EQ(c.vocab_size, 300);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 3);
  EXPECT_EQ(c.expansion_factor, 1.5);
  EXPECT_EQ(c.expanded_size(), 96);
  EXPECT_EQ(c.s, 32);
  EXPECT_EQ(c.max_position_embeddings, 520);
  EXPECT_TRUE(c.uses_rotary_bias());
  EXPECT_EQ(c.type_vocab_size, 3);
  EXPECT_EQ(c.norm_type, "layer_norm");
  EXPECT_EQ(c.layer_norm_eps, 1e-6);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_EQ(c.pad_token_id, 1);
  EXPECT_EQ(c.initializer_range, 0.05);
  EXPECT_EQ(c.dropout, 0.1);
  EXPECT_EQ(c.attention_scale, "seq_len");
  EXPECT_TRUE(c.gradient_checkpointing);
  EXPECT_TRUE(c.causal);
}

TEST(ModelConfig, RepoConfigsParse) {
  for (const char* name : {"configs/tiny.json", "configs/small.json", "configs/base.json"}) {
    std::ifstream in(name);
    ASSERT_TRUE(in.good()) << name;
    json config = json::parse(in);
    EXPECT_NO_THROW(parse_model_config(config.at("model"), name)) << name;
  }
}

TEST(ModelConfig, UnknownKeyIsNamed) {
  std::string msg = parse_error({{"hiden_size", 64}});
  EXPECT_NE(msg.find("configs/test.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key \"model.hiden_size\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("hidden_size"), std::string::npos) << msg;
}

TEST(ModelConfig, WrongTypesAreNamed) {
  struct Case {
    json model;
    const char* key;
    const char* expected;
  };
  const Case cases[] = {
      {{{"hidden_size", "64"}}, "hidden_size", "must be an integer"},
      {{{"hidden_size", 64.5}}, "hidden_size", "must be an integer"},
      {{{"layer_norm_eps", "small"}}, "layer_norm_eps", "must be a number"},
      {{{"gradient_checkpointing", 1}}, "gradient_checkpointing", "must be true or false"},
      {{{"norm_type", 3}}, "norm_type", "must be a string"},
  };
  for (const Case& c : cases) {
    std::string msg = parse_error(c.model);
    EXPECT_NE(msg.find(std::string("key \"model.") + c.key + "\""), std::string::npos)
        << c.model.dump() << " -> " << msg;
    EXPECT_NE(msg.find(c.model.at(c.key).dump()), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expected), std::string::npos) << c.model.dump() << " -> " << msg;
    EXPECT_NE(msg.find("configs/test.json"), std::string::npos) << msg;
  }
}

TEST(ModelConfig, ImpossibleValuesAreRejected) {
  struct Case {
    json model;
    const char* key;
  };
  const Case cases[] = {
      {{{"hidden_size", 0}}, "hidden_size"},
      {{{"hidden_size", -8}}, "hidden_size"},
      {{{"hidden_size", 63}}, "hidden_size"},
      {{{"s", 31}}, "s"},
      {{{"s", 0}}, "s"},
      {{{"hidden_size", 10}, {"expansion_factor", 1.25}}, "expansion_factor"},
      {{{"expansion_factor", 0}}, "expansion_factor"},
      {{{"vocab_size", 0}}, "vocab_size"},
      {{{"num_hidden_layers", 0}}, "num_hidden_layers"},
      {{{"max_position_embeddings", 0}}, "max_position_embeddings"},
      {{{"type_vocab_size", 0}}, "type_vocab_size"},
      {{{"norm_type", "rms_norm"}}, "norm_type"},
      {{{"layer_norm_eps", 0}}, "layer_norm_eps"},
      {{{"hidden_act", "tanh"}}, "hidden_act"},
      {{{"vocab_size", 10}, {"pad_token_id", 10}}, "pad_token_id"},
      {{{"pad_token_id", -1}}, "pad_token_id"},
      {{{"initializer_range", -0.1}}, "initializer_range"},
      {{{"dropout", 1.0}}, "dropout"},
      {{{"attention_scale", "padded"}}, "attention_scale"},
  };
  for (const Case& c : cases) {
    std::string msg = parse_error(c.model);
    EXPECT_NE(msg.find(std::string("key \"model.") + c.key + "\""), std::string::npos)
        << c.model.dump() << " -> '" << msg << "'";
    EXPECT_NE(msg.find("config 'configs/test.json'"), std::string::npos) << msg;
    // Floats are printed as C++ streams print them (1.0 as "1").
    const json& raw = c.model.at(c.key);
    std::ostringstream formatted;
    if (raw.is_number_float()) {
      formatted << raw.get<double>();
    } else {
      formatted << raw.dump();
    }
    const std::string value = formatted.str();
    EXPECT_NE(msg.find(", got " + value), std::string::npos)
        << c.model.dump() << " -> '" << msg << "' should name the value " << value;
  }
}

TEST(ModelConfig, NonObjectIsRejected) {
  EXPECT_NE(parse_error(json::array()).find("key \"model\" must be a JSON object, got array"), std::string::npos);
}

TEST(ModelConfig, JsonRoundTripKeepsEveryValue) {
  ModelConfig c;
  c.vocab_size = 300;
  c.hidden_size = 64;
  c.num_hidden_layers = 2;
  c.expansion_factor = 1.5;
  c.s = 32;
  c.max_position_embeddings = 520;
  c.norm_type = "layer_norm";
  c.hidden_act = "relu";
  c.pad_token_id = 3;
  c.dropout = 0.25;
  c.attention_scale = "seq_len";
  c.gradient_checkpointing = true;
  c.causal = true;
  json j = model_config_to_json(c);
  EXPECT_EQ(j.at("architectures"), json::array({"FLASHQuadForMaskedLM"}));
  EXPECT_EQ(j.at("model_type"), "flash_quad");
  ModelConfig back = parse_model_config(j, "config.json");
  EXPECT_EQ(model_config_to_json(back), j);
  EXPECT_EQ(back.expansion_factor, 1.5);
  EXPECT_EQ(back.pad_token_id, 3);
  EXPECT_TRUE(back.causal);
}

TEST(ModelConfig, WholeExpansionFactorIsWrittenAsInteger) {
  ModelConfig c;
  json j = model_config_to_json(c);
  EXPECT_TRUE(j.at("expansion_factor").is_number_integer()) << j.dump();
  EXPECT_EQ(j.at("expansion_factor"), 2);
}

}  // namespace
}  // namespace fq
