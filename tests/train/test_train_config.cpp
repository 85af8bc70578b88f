// Parsing and validation of the "train" config object.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "train/train_config.h"

namespace fq {
namespace {

using nlohmann::json;

// Returns the message of the std::invalid_argument that parsing `train` throws, or "" if none.
std::string parse_error(const json& train) {
  try {
    parse_train_config(train, "configs/test.json", "test");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

void expect_error(const json& train, const std::string& key, const std::string& expected_part) {
  std::string message = parse_error(train);
  ASSERT_FALSE(message.empty()) << "no error for " << train.dump();
  EXPECT_NE(message.find("configs/test.json"), std::string::npos) << message;
  EXPECT_NE(message.find("key \"train." + key), std::string::npos) << message;
  EXPECT_NE(message.find(expected_part), std::string::npos) << message;
}

TEST(TrainConfig, DefaultsFollowTrainer) {
  TrainConfig c = parse_train_config(json{{"max_steps", 10}}, "configs/test.json", "test");
  EXPECT_EQ(c.output_dir, "runs/test");
  EXPECT_EQ(c.batch_size, 8);
  EXPECT_EQ(c.gradient_accumulation_steps, 1);
  EXPECT_EQ(c.max_steps, 10);
  EXPECT_EQ(c.warmup_steps, 0);
  EXPECT_EQ(c.learning_rate, 5e-5);
  EXPECT_EQ(c.weight_decay, 0.0);
  EXPECT_EQ(c.adam_beta1, 0.9);
  EXPECT_EQ(c.adam_beta2, 0.999);
  EXPECT_EQ(c.adam_epsilon, 1e-8);
  EXPECT_EQ(c.optim, "adamw_torch");
  EXPECT_EQ(c.lr_scheduler_type, "linear");
  EXPECT_EQ(c.max_grad_norm, 1.0);
  EXPECT_EQ(c.no_decay, (std::vector<std::string>{"bias", "LayerNorm."}));
  EXPECT_EQ(c.logging_steps, 500);
  EXPECT_EQ(c.eval_steps, 500);
  EXPECT_EQ(c.save_steps, 500);
  EXPECT_EQ(c.keep_checkpoints, 0);
  EXPECT_EQ(c.seed, 42u);
  EXPECT_EQ(c.threads, 0);
  EXPECT_EQ(c.eval_batch_size, 8);
  EXPECT_EQ(c.eval_batches, 0);
}

TEST(TrainConfig, EvalStepsDefaultsToLoggingSteps) {
  TrainConfig c = parse_train_config(json{{"max_steps", 10}, {"logging_steps", 7}}, "f", "n");
  EXPECT_EQ(c.eval_steps, 7);
}

TEST(TrainConfig, ReadsShippedTinyConfig) {
  std::ifstream in("configs/tiny.json");
  ASSERT_TRUE(in.good()) << "run the tests from the repository root";
  json config = json::parse(in);
  TrainConfig c = parse_train_config(config["train"], "configs/tiny.json", "tiny");
  EXPECT_EQ(c.output_dir, config["train"]["output_dir"].get<std::string>());
  EXPECT_EQ(c.max_steps, config["train"]["max_steps"].get<int64_t>());
  EXPECT_EQ(c.learning_rate, config["train"]["learning_rate"].get<double>());
  EXPECT_EQ(c.no_decay, config["train"]["no_decay"].get<std::vector<std::string>>());
  json round_trip = train_config_to_json(c);
  for (auto it = config["train"].begin(); it != config["train"].end(); ++it) {
    EXPECT_EQ(round_trip[it.key()], it.value()) << "key " << it.key();
  }
}

TEST(TrainConfig, ToJsonParsesBackEqual) {
  json train = {{"max_steps", 100},    {"warmup_steps", 200},
                {"optim", "adamw_hf"}, {"lr_scheduler_type", "cosine"},
                {"seed", 7},           {"eval_batches", 3}};
  TrainConfig c = parse_train_config(train, "f", "n");
  TrainConfig again = parse_train_config(train_config_to_json(c), "f", "n");
  EXPECT_EQ(train_config_to_json(again), train_config_to_json(c));
  EXPECT_EQ(again.warmup_steps, 200) << "warmup longer than the run is allowed";
  EXPECT_EQ(again.optim, "adamw_hf");
}

TEST(TrainConfig, AcceptsIntegralFloat) {
  TrainConfig c = parse_train_config(json{{"max_steps", 1e3}}, "f", "n");
  EXPECT_EQ(c.max_steps, 1000);
}

TEST(TrainConfig, RejectsUnknownKey) {
  expect_error(json{{"max_steps", 10}, {"learning_rat", 0.1}}, "learning_rat", "unknown key");
}

TEST(TrainConfig, RequiresMaxSteps) { expect_error(json::object(), "max_steps", "missing"); }

TEST(TrainConfig, RejectsWrongTypes) {
  expect_error(json{{"max_steps", "10"}}, "max_steps", "must be an integer");
  expect_error(json{{"max_steps", 10.5}}, "max_steps", "must be an integer");
  expect_error(json{{"max_steps", 10}, {"learning_rate", "1e-3"}}, "learning_rate", "must be a number, got string \"1e-3\"");
  expect_error(json{{"max_steps", 10}, {"optim", 3}}, "optim", "must be a string");
  expect_error(json{{"max_steps", 10}, {"no_decay", "bias"}}, "no_decay", "list of strings");
  expect_error(json{{"max_steps", 10}, {"no_decay", json::array({"bias", 1})}}, "no_decay",
               "non-empty string");
  expect_error(json{{"max_steps", 10}, {"no_decay", json::array({""})}}, "no_decay",
               "non-empty string");
  expect_error(json{{"max_steps", 10}, {"output_dir", ""}}, "output_dir", "folder path");
}

TEST(TrainConfig, RejectsImpossibleValues) {
  expect_error(json{{"max_steps", -5}}, "max_steps", ">= 1");
  expect_error(json{{"max_steps", 0}}, "max_steps", ">= 1");
  expect_error(json{{"max_steps", 10}, {"warmup_steps", -1}}, "warmup_steps", ">= 0");
  expect_error(json{{"max_steps", 10}, {"batch_size", 0}}, "batch_size", ">= 1");
  expect_error(json{{"max_steps", 10}, {"gradient_accumulation_steps", 0}},
               "gradient_accumulation_steps", ">= 1");
  expect_error(json{{"max_steps", 10}, {"learning_rate", -1e-3}}, "learning_rate", ">= 0");
  expect_error(json{{"max_steps", 10}, {"weight_decay", -0.1}}, "weight_decay", ">= 0");
  expect_error(json{{"max_steps", 10}, {"adam_beta1", 1.0}}, "adam_beta1", "[0, 1)");
  expect_error(json{{"max_steps", 10}, {"adam_beta2", -0.5}}, "adam_beta2", "[0, 1)");
  expect_error(json{{"max_steps", 10}, {"adam_epsilon", -1e-8}}, "adam_epsilon", ">= 0");
  expect_error(json{{"max_steps", 10}, {"max_grad_norm", -1}}, "max_grad_norm", ">= 0");
  expect_error(json{{"max_steps", 10}, {"logging_steps", 0}}, "logging_steps", ">= 1");
  expect_error(json{{"max_steps", 10}, {"save_steps", -1}}, "save_steps", ">= 0");
  expect_error(json{{"max_steps", 10}, {"keep_checkpoints", -2}}, "keep_checkpoints", ">= 0");
  expect_error(json{{"max_steps", 10}, {"seed", -1}}, "seed", ">= 0");
  expect_error(json{{"max_steps", 10}, {"threads", -1}}, "threads", ">= 0");
  expect_error(json{{"max_steps", 10}, {"eval_batch_size", 0}}, "eval_batch_size", ">= 1");
}

TEST(TrainConfig, RejectsUnknownOptimAndScheduler) {
  expect_error(json{{"max_steps", 10}, {"optim", "sgd"}}, "optim", "adamw_torch");
  expect_error(json{{"max_steps", 10}, {"lr_scheduler_type", "polynomial"}}, "lr_scheduler_type",
               "cosine");
}

TEST(TrainConfig, RejectsNonObject) {
  std::string message;
  try {
    parse_train_config(json::array(), "configs/test.json", "test");
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("config 'configs/test.json': key \"train\" must be a JSON object"), std::string::npos) << message;
}

}  // namespace
}  // namespace fq
