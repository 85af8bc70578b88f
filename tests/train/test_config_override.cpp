// Command-line overrides (--set key=value) applied to a run config.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "train/config.h"

namespace fq {
namespace {

using nlohmann::json;

// Returns the message of the std::invalid_argument that applying `text` throws, or "" if none.
std::string override_error(const std::string& text) {
  json config = {{"train", {{"max_steps", 10}}}};
  try {
    apply_override(config, text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigOverride, ParsesJsonValuesAndPlainStrings) {
  json config = {{"train", {{"max_steps", 10}}}};
  apply_override(config, "train.max_steps=200");
  apply_override(config, "data.vocab=/tmp/some vocab.txt");
  apply_override(config, "train.no_decay=[\"bias\"]");
  EXPECT_EQ(config["train"]["max_steps"], 200);
  EXPECT_EQ(config["data"]["vocab"], "/tmp/some vocab.txt");
  EXPECT_EQ(config["train"]["no_decay"], json::array({"bias"}));
}

TEST(ConfigOverride, RejectsMalformedKeys) {
  const char* cases[] = {"train.max_steps", "=5", "train=5", "foo.bar=1", "train..max_steps=3",
                         ".train.max_steps=3", "train.max_steps.=3"};
  for (const char* text : cases) {
    std::string message = override_error(text);
    EXPECT_NE(message.find(std::string("--set '") + text + "'"), std::string::npos)
        << "override '" << text << "' gave message: '" << message << "'";
  }
}

TEST(ConfigOverride, RejectsNumberOutOfRange) {
  std::string message = override_error("train.learning_rate=1e400");
  EXPECT_NE(message.find("--set 'train.learning_rate=1e400'"), std::string::npos) << message;
  EXPECT_NE(message.find("out of range"), std::string::npos) << message;
}

}  // namespace
}  // namespace fq
