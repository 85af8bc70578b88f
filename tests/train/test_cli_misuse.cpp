// The flashquad binary (FLASHQUAD_BIN, set by `make test`) given inputs a user gets wrong:
// a checkpoint paired with another vocabulary, a learning rate that makes the loss NaN, a stop
// signal in a run whose folder comes from --set. Each must fail with a message that says what
// to do, or print a hint that works, and leave the checkpoints loadable.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/train/cli_test_util.h"

namespace fq {
namespace {

namespace fs = std::filesystem;

class CliMisuse : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    binary_ = test::flashquad_binary();
    if (binary_.empty()) return;
    root_ = test::make_scratch_dir("flashquad_misuse_");
    test::write_sample_corpus(root_ / "corpus.txt", 25);

    nlohmann::json config = {
        {"model",
         {{"vocab_size", 2000}, {"hidden_size", 32}, {"num_hidden_layers", 1}, {"s", 16},
          {"max_position_embeddings", 32}}},
        {"data",
         {{"train_files", {(root_ / "corpus.txt").string()}},
          {"vocab", (root_ / "vocab.txt").string()},
          {"shard_dir", (root_ / "shards").string()},
          {"max_seq_length", 32},
          {"valid_fraction", 0.1}}},
        {"train",
         {{"batch_size", 4}, {"max_steps", 2}, {"warmup_steps", 0}, {"learning_rate", 1e-3},
          {"logging_steps", 1}, {"eval_steps", 0}, {"save_steps", 1}, {"seed", 5},
          {"threads", 1}}}};
    std::ofstream(root_ / "config.json") << config.dump(2);

    // A second, smaller vocabulary of the same corpus: valid, but with other token ids.
    run("other_vocab", "vocab --input " + (root_ / "corpus.txt").string() + " --size 300 --out " +
                           (root_ / "other_vocab.txt").string());
  }

  static void TearDownTestSuite() {
    if (!root_.empty()) {
      std::error_code ec;
      fs::remove_all(root_, ec);
    }
  }

  void SetUp() override {
    if (binary_.empty()) GTEST_SKIP() << "FLASHQUAD_BIN is not set; run through `make test`";
  }

  // Runs the binary with `args` (after `env` assignments); stdout and stderr go to `name`.out.
  // Returns the exit code, or 128 + the signal number when the process was killed.
  static int run(const std::string& name, const std::string& args, const std::string& env = "") {
    return test::run_binary(binary_, args, root_ / (name + ".out"), env);
  }

  static std::string output_of(const std::string& name) {
    return test::read_text(root_ / (name + ".out"));
  }

  static std::string train_args(const std::string& run_name, const std::string& extra = "") {
    return "train --config " + (root_ / "config.json").string() + " --set train.output_dir=" +
           (root_ / run_name).string() + " " + extra;
  }

  static std::string binary_;
  static fs::path root_;
};

std::string CliMisuse::binary_;
fs::path CliMisuse::root_;

TEST_F(CliMisuse, StopHintRepeatsOverrides) {
  // SIGTERM inside step 2: the run stops after saving step 1 and prints how to resume. The hint
  // must carry the --set overrides, or it would resume another run folder.
  ASSERT_EQ(run("stopped", train_args("stopped", "--set train.seed=3"),
                "FLASHQUAD_TEST_SIGTERM_AT=2:1"),
            0)
      << output_of("stopped");
  const std::string out = output_of("stopped");
  const std::string expected = "--set train.output_dir=" + (root_ / "stopped").string() +
                               " --set train.seed=3 --resume auto";
  EXPECT_NE(out.find(expected), std::string::npos) << "expected '" << expected << "' in:\n"
                                                   << out;
  ASSERT_TRUE(fs::exists(root_ / "stopped" / "checkpoint-1.fqck")) << out;
  EXPECT_EQ(run("stopped_resume", train_args("stopped", "--set train.seed=3 --resume auto")), 0)
      << output_of("stopped_resume");
  EXPECT_TRUE(fs::exists(root_ / "stopped" / "checkpoint-2.fqck")) << output_of("stopped_resume");
}

TEST_F(CliMisuse, OtherVocabularyIsRejected) {
  ASSERT_EQ(run("vocab_run", train_args("vocab_run")), 0) << output_of("vocab_run");
  const std::string checkpoint = (root_ / "vocab_run" / "checkpoint-2.fqck").string();
  const std::string other_vocab = (root_ / "other_vocab.txt").string();
  const std::string other_data = " --set data.vocab=" + other_vocab +
                                 " --set data.shard_dir=" + (root_ / "other_shards").string();
  ASSERT_TRUE(fs::exists(other_vocab)) << output_of("other_vocab");

  struct Case {
    const char* name;
    std::string args;
  };
  const Case cases[] = {
      {"resume", train_args("vocab_run", "--set train.max_steps=3 --resume auto" + other_data)},
      {"resume_path",
       train_args("vocab_run_copy", "--set train.max_steps=3 --resume " + checkpoint + other_data)},
      {"eval", "eval --config " + (root_ / "config.json").string() + " --checkpoint " +
                   checkpoint + other_data},
      {"fill_mask", "fill-mask --checkpoint " + checkpoint + " --vocab " + other_vocab +
                        " '[MASK]'"},
      {"export", "export --checkpoint " + checkpoint + " --vocab " + other_vocab + " --out " +
                     (root_ / "exported").string()},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(run(c.name, c.args), 1) << c.name << ":\n" << output_of(c.name);
    const std::string out = output_of(c.name);
    EXPECT_NE(out.find("another vocabulary"), std::string::npos) << c.name << ":\n" << out;
    EXPECT_NE(out.find(other_vocab), std::string::npos) << c.name << ":\n" << out;
  }
  EXPECT_FALSE(fs::exists(root_ / "vocab_run" / "checkpoint-3.fqck"));
  EXPECT_FALSE(fs::exists(root_ / "exported" / "model.safetensors"));

  // The right vocabulary still works with the same checkpoint.
  EXPECT_EQ(run("fill_mask_ok", "fill-mask --checkpoint " + checkpoint + " '[MASK]'"), 0)
      << output_of("fill_mask_ok");
}

TEST_F(CliMisuse, NanLossWithoutCheckpointSaysStartAgain) {
  EXPECT_EQ(run("nan_fresh", train_args("nan_fresh", "--set train.learning_rate=1e6 "
                                                     "--set train.max_steps=6 "
                                                     "--set train.save_steps=0")),
            1)
      << output_of("nan_fresh");
  const std::string out = output_of("nan_fresh");
  EXPECT_NE(out.find("training stopped at step"), std::string::npos) << out;
  EXPECT_NE(out.find("learning rate"), std::string::npos) << out;
  EXPECT_NE(out.find("No checkpoint was written yet"), std::string::npos) << out;
  EXPECT_EQ(out.find("--resume auto"), std::string::npos)
      << "no checkpoint exists, so resuming would start over:\n"
      << out;
}

TEST_F(CliMisuse, NanLossKeepsLastCheckpoint) {
  ASSERT_EQ(run("nan_base", train_args("nan_resume")), 0) << output_of("nan_base");
  EXPECT_EQ(run("nan_resume", train_args("nan_resume", "--set train.learning_rate=1e6 "
                                                       "--set train.max_steps=8 "
                                                       "--set train.save_steps=0 "
                                                       "--resume auto")),
            1)
      << output_of("nan_resume");
  const std::string out = output_of("nan_resume");
  const std::string checkpoint = (root_ / "nan_resume" / "checkpoint-2.fqck").string();
  EXPECT_NE(out.find("The last finite loss was"), std::string::npos) << out;
  EXPECT_NE(out.find(checkpoint + ", is intact"), std::string::npos) << out;
  EXPECT_NE(out.find("--resume auto"), std::string::npos) << out;
  EXPECT_EQ(run("nan_eval", "eval --config " + (root_ / "config.json").string() +
                                " --checkpoint " + checkpoint),
            0)
      << output_of("nan_eval");
}

TEST_F(CliMisuse, StopDuringEvaluationSkipsIt) {
  // SIGTERM as the evaluation after step 2 starts: the evaluation ends at once, step 2 is saved
  // and the run stops.
  ASSERT_EQ(run("eval_stop", train_args("eval_stop", "--set train.eval_steps=1 "
                                                     "--set train.max_steps=3"),
                "FLASHQUAD_TEST_SIGTERM_EVAL=2"),
            0)
      << output_of("eval_stop");
  const std::string out = output_of("eval_stop");
  EXPECT_NE(out.find("step 2 evaluation skipped"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(root_ / "eval_stop" / "checkpoint-2.fqck")) << out;
  EXPECT_FALSE(fs::exists(root_ / "eval_stop" / "checkpoint-3.fqck")) << out;

  std::ifstream metrics(root_ / "eval_stop" / "metrics.jsonl");
  std::vector<int64_t> eval_steps;
  std::string line;
  while (std::getline(metrics, line)) {
    nlohmann::json record = nlohmann::json::parse(line);
    if (record.contains("eval_loss")) eval_steps.push_back(record["step"].get<int64_t>());
  }
  EXPECT_EQ(eval_steps, std::vector<int64_t>{1}) << "only the evaluation of step 1 finished";
}

TEST_F(CliMisuse, StopBeforeFirstStepWritesNothing) {
  // SIGTERM inside step 1: no step finished, so there is nothing to save, and running the same
  // command again must start the run instead of asking for --resume or --overwrite.
  ASSERT_EQ(run("early_stop", train_args("early_stop"), "FLASHQUAD_TEST_SIGTERM_AT=1:1"), 0)
      << output_of("early_stop");
  const std::string out = output_of("early_stop");
  EXPECT_NE(out.find("before the first step finished"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(root_ / "early_stop" / "checkpoint-0.fqck")) << out;
  EXPECT_EQ(run("early_restart", train_args("early_stop")), 0) << output_of("early_restart");
  EXPECT_TRUE(fs::exists(root_ / "early_stop" / "checkpoint-2.fqck"))
      << output_of("early_restart");
}

TEST_F(CliMisuse, FullDiskForLogFailsClearly) {
  // metrics.jsonl is a link to /dev/full, where every write fails with ENOSPC.
  fs::create_directories(root_ / "full_log");
  fs::create_symlink("/dev/full", root_ / "full_log" / "metrics.jsonl");
  EXPECT_EQ(run("full_log", train_args("full_log")), 1) << output_of("full_log");
  const std::string out = output_of("full_log");
  EXPECT_NE(out.find("metrics.jsonl' failed: No space left on device"), std::string::npos) << out;
  EXPECT_NE(out.find("free disk space"), std::string::npos) << out;
}

TEST_F(CliMisuse, ForwardRejectsNegativeThreads) {
  EXPECT_NE(run("threads", "forward --config " + (root_ / "config.json").string() +
                               " --weights none.safetensors --input none.json --out x "
                               "--threads -2"),
            0);
  EXPECT_NE(output_of("threads").find("--threads"), std::string::npos) << output_of("threads");
}

}  // namespace
}  // namespace fq
