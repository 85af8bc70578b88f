// The forward and export subcommands, run as the real binary: `forward` on a parity fixture
// reproduces the PyTorch reference's logits, loss and gradients, and an export loads back with
// every parameter unchanged. The binary's path comes from FLASHQUAD_BIN, which `make test` sets;
// the tests skip when it is unset.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/safetensors.h"
#include "optim/adamw.h"
#include "tests/gradcheck.h"
#include "tests/nn/parity_fixture.h"
#include "train/checkpoint.h"
#include "train/run_config.h"

namespace fq {
namespace {

class CliModel : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("FLASHQUAD_BIN");
    if (!bin || !*bin) GTEST_SKIP() << "FLASHQUAD_BIN is not set; run through `make test`";
    bin_ = bin;
    char tmpl[] = "/tmp/fq_cli_model_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // Runs the binary with `args`; returns the exit status and stores stdout + stderr in output_.
  int run(const std::string& args) {
    const std::string log = dir_ + "/log.txt";
    const int status = std::system((bin_ + " " + args + " > '" + log + "' 2>&1").c_str());
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    output_ = text.str();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string bin_;
  std::string dir_;
  std::string output_;
};

TEST_F(CliModel, ForwardReproducesReference) {
  const std::string name = "base";
  const std::string out = dir_ + "/out.safetensors";
  ASSERT_EQ(run("forward --config " + test::fixture_path(name, ".config.json") + " --weights " +
                test::fixture_path(name, ".weights.safetensors") + " --input " +
                test::fixture_path(name, ".batch.json") + " --out " + out + " --grads"),
            0)
      << output_;
  const SafetensorsFile got = read_safetensors(out);
  const SafetensorsFile expected =
      read_safetensors(test::fixture_path(name, ".expected.safetensors"));

  test::RelativeError logits = test::relative_error(got.at("logits"), expected.at("logits"));
  EXPECT_LE(logits.value, 1e-5) << "logits element " << logits.index << ": " << logits.actual
                                << " vs " << logits.expected;
  test::RelativeError loss = test::relative_error(got.at("loss"), expected.at("loss"));
  EXPECT_LE(loss.value, 1e-5) << loss.actual << " vs " << loss.expected;

  int grads = 0;
  for (const std::string& key : expected.names) {
    if (key.rfind("grad.", 0) != 0) continue;
    const std::string param = key.substr(5);
    ASSERT_TRUE(got.contains(param)) << "forward --grads wrote no gradient for " << param;
    const std::string terms = "grad_terms." + param;
    const double scale = expected.contains(terms) ? expected.at(terms).item() : 0.0;
    test::RelativeError e = test::relative_error(got.at(param), expected.at(key), scale);
    EXPECT_LE(e.value, 1e-4) << param << " element " << e.index << ": " << e.actual << " vs "
                             << e.expected;
    ++grads;
  }
  EXPECT_EQ(static_cast<size_t>(grads) + 2, got.names.size()) << "logits, loss and one per grad";
  EXPECT_NE(output_.find("loss 7.7337"), std::string::npos) << output_;
}

TEST_F(CliModel, ExportRoundTripKeepsWeights) {
  const std::string name = "rotary_bias";
  const std::string vocab = dir_ + "/vocab.txt";
  std::ofstream(vocab) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nword\n";
  const std::string out = dir_ + "/exported";
  ASSERT_EQ(
      run("export --weights " + test::fixture_path(name, ".weights.safetensors") + " --config " +
          test::fixture_path(name, ".config.json") + " --vocab " + vocab + " --out " + out),
      0)
      << output_;

  const SafetensorsFile original =
      read_safetensors(test::fixture_path(name, ".weights.safetensors"));
  const SafetensorsFile exported = read_safetensors(out + "/model.safetensors");
  EXPECT_EQ(exported.metadata.at("format"), "pt");
  EXPECT_EQ(exported.names.size(), original.names.size());
  for (const std::string& key : original.names) {
    ASSERT_TRUE(exported.contains(key)) << key;
    EXPECT_TRUE(test::same_bytes(exported.at(key), original.at(key))) << key;
  }

  std::ifstream config_in(out + "/config.json");
  ModelConfig config = parse_model_config(nlohmann::json::parse(config_in), out + "/config.json");
  test::ParityFixture f = test::load_parity_fixture(name);
  EXPECT_EQ(model_config_to_json(config), model_config_to_json(f.config));

  std::ifstream vocab_in(out + "/vocab.txt");
  std::stringstream vocab_text;
  vocab_text << vocab_in.rdbuf();
  EXPECT_EQ(vocab_text.str(), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nword\n");

  // The exported config.json works as --config of forward.
  EXPECT_EQ(run("forward --config " + out + "/config.json --weights " + out +
                "/model.safetensors --input " + test::fixture_path(name, ".batch.json") +
                " --out " + dir_ + "/forward.safetensors"),
            0)
      << output_;
}

TEST_F(CliModel, ExportFromCheckpoint) {
  // A checkpoint of configs/tiny.json whose parameters are the model at seed 5.
  RunConfig run_config =
      resolve_run_config("configs/tiny.json", {"data.vocab=" + dir_ + "/vocab.txt"});
  std::ofstream(dir_ + "/vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  FlashQuadForMaskedLM model(run_config.model, 5);
  CheckpointState state;
  state.config_json = run_config.json.dump();
  state.step = 3;
  state.parameters = snapshot_parameters(model.named_parameters());
  state.optimizer = AdamW(model.named_parameters(), AdamWOptions()).state();
  const std::string path = save_checkpoint(dir_, state);

  const std::string out = dir_ + "/exported";
  ASSERT_EQ(run("export --checkpoint " + path + " --out " + out), 0) << output_;
  const SafetensorsFile exported = read_safetensors(out + "/model.safetensors");
  for (const NamedParameter& p : model.named_parameters()) {
    ASSERT_TRUE(exported.contains(p.name)) << p.name;
    EXPECT_TRUE(test::same_bytes(exported.at(p.name), p.tensor)) << p.name;
  }
  std::ifstream vocab_in(out + "/vocab.txt");
  std::stringstream vocab_text;
  vocab_text << vocab_in.rdbuf();
  EXPECT_EQ(vocab_text.str(), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n") << "the run's data.vocab";
  std::ifstream config_in(out + "/config.json");
  EXPECT_EQ(parse_model_config(nlohmann::json::parse(config_in), "config.json").hidden_size,
            run_config.model.hidden_size);
}

TEST_F(CliModel, BadInputsFailWithMessages) {
  const std::string bad_batch = dir_ + "/bad.json";
  std::ofstream(bad_batch) << R"({"input_ids": [[1, 2, 300]], "labels": [[-100, 5, -100]]})";
  EXPECT_NE(run("forward --config " + test::fixture_path("base", ".config.json") + " --weights " +
                test::fixture_path("base", ".weights.safetensors") + " --input " + bad_batch +
                " --out " + dir_ + "/o.safetensors"),
            0);
  EXPECT_NE(output_.find("input_ids[0][2] = 300"), std::string::npos) << output_;

  // Weights of another config: every problem is listed in one message.
  EXPECT_NE(run("forward --config " + test::fixture_path("base", ".config.json") + " --weights " +
                test::fixture_path("rotary_bias", ".weights.safetensors") + " --input " +
                test::fixture_path("base", ".batch.json") + " --out " + dir_ + "/o.safetensors"),
            0);
  EXPECT_NE(output_.find("Missing"), std::string::npos) << output_;
  EXPECT_NE(output_.find("flash_quad.encoder.layer.0.w"), std::string::npos) << output_;
  EXPECT_NE(output_.find("Unexpected"), std::string::npos) << output_;
  EXPECT_NE(output_.find("flash_quad.encoder.layer.0.a"), std::string::npos) << output_;

  EXPECT_NE(run("export --out " + dir_ + "/x"), 0);
  EXPECT_NE(output_.find("either --checkpoint"), std::string::npos) << output_;
}

}  // namespace
}  // namespace fq
