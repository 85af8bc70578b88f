// End-to-end resume: a run interrupted by SIGKILL after a checkpoint, or by SIGTERM inside a
// step, and then resumed must end with the same parameter bytes, optimizer state and logged
// losses as the same run done in one go. Runs the flashquad binary (FLASHQUAD_BIN, set by
// `make test`) on a corpus small enough that the runs cross epoch boundaries.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/train/cli_test_util.h"
#include "train/checkpoint.h"

namespace fq {
namespace {

namespace fs = std::filesystem;

class ResumeTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    binary_ = test::flashquad_binary();
    if (binary_.empty()) return;
    root_ = test::make_scratch_dir("flashquad_resume_");

    // 25 documents: about 60 training sequences of 32 tokens, so 8 steps of 8 or 9 sequences
    // cross an epoch boundary.
    test::write_sample_corpus(root_ / "corpus.txt", 25);

    nlohmann::json config = {
        {"model",
         {{"vocab_size", 2000}, {"hidden_size", 32}, {"num_hidden_layers", 2}, {"s", 16},
          {"max_position_embeddings", 32}, {"dropout", 0.1}}},
        {"data",
         {{"train_files", {(root_ / "corpus.txt").string()}},
          {"vocab", (root_ / "vocab.txt").string()},
          {"shard_dir", (root_ / "shards").string()},
          {"max_seq_length", 32},
          {"valid_fraction", 0.1}}},
        {"train",
         {{"batch_size", 8}, {"gradient_accumulation_steps", 1}, {"max_steps", 8},
          {"warmup_steps", 2}, {"learning_rate", 1e-3}, {"weight_decay", 0.01},
          {"logging_steps", 1}, {"eval_steps", 4}, {"save_steps", 2}, {"keep_checkpoints", 2},
          {"seed", 7}, {"threads", 1}, {"eval_batch_size", 4}}}};
    std::ofstream(root_ / "config.json") << config.dump(2);
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

  // Runs `flashquad train` with extra environment and arguments; returns the exit code
  // (128 + signal number when the process was killed).
  static int train(const std::string& run_name, const std::string& env, const std::string& args) {
    return test::run_binary(binary_,
                            "train --config " + (root_ / "config.json").string() +
                                " --set train.output_dir=" + (root_ / run_name).string() + " " +
                                args,
                            root_ / (run_name + ".out"), env, /*append=*/true);
  }

  static std::string output_of(const std::string& run_name) {
    return test::read_text(root_ / (run_name + ".out"));
  }

  // Every logged value that must not depend on interruptions: all fields except timings.
  static std::vector<std::string> logged_values(const std::string& run_name) {
    std::ifstream in(root_ / run_name / "metrics.jsonl");
    std::vector<std::string> values;
    std::string line;
    while (std::getline(in, line)) {
      nlohmann::json record = nlohmann::json::parse(line);
      record.erase("elapsed");
      record.erase("tokens_per_second");
      values.push_back(record.dump());
    }
    return values;
  }

  static void expect_same_final_state(const std::string& a, const std::string& b) {
    CheckpointState sa = load_checkpoint((root_ / a / checkpoint_file_name(8)).string());
    CheckpointState sb = load_checkpoint((root_ / b / checkpoint_file_name(8)).string());
    ASSERT_EQ(sa.parameters.size(), sb.parameters.size());
    for (size_t i = 0; i < sa.parameters.size(); ++i) {
      EXPECT_EQ(sa.parameters[i].name, sb.parameters[i].name);
      EXPECT_TRUE(sa.parameters[i].data == sb.parameters[i].data)
          << "parameter " << sa.parameters[i].name << " differs between " << a << " and " << b;
    }
    ASSERT_EQ(sa.optimizer.params.size(), sb.optimizer.params.size());
    for (size_t i = 0; i < sa.optimizer.params.size(); ++i) {
      EXPECT_TRUE(sa.optimizer.params[i].exp_avg == sb.optimizer.params[i].exp_avg)
          << "AdamW m of " << sa.optimizer.params[i].name << " differs";
      EXPECT_TRUE(sa.optimizer.params[i].exp_avg_sq == sb.optimizer.params[i].exp_avg_sq)
          << "AdamW v of " << sa.optimizer.params[i].name << " differs";
    }
    EXPECT_EQ(sa.data_cursor, sb.data_cursor);
    EXPECT_EQ(logged_values(a), logged_values(b));
  }

  static std::string binary_;
  static fs::path root_;
};

std::string ResumeTest::binary_;
fs::path ResumeTest::root_;

TEST_F(ResumeTest, SigkillAfterCheckpointResumesBitExact) {
  ASSERT_EQ(train("straight", "", ""), 0) << output_of("straight");
  double last_epoch = 0.0;
  for (const std::string& value : logged_values("straight")) {
    nlohmann::json record = nlohmann::json::parse(value);
    if (record.contains("epoch")) last_epoch = record["epoch"].get<double>();
  }
  EXPECT_GT(last_epoch, 1.0) << "the runs should cross an epoch boundary";
  EXPECT_EQ(train("killed", "FLASHQUAD_TEST_KILL_AFTER_SAVE=4", ""), 128 + 9)
      << output_of("killed");
  ASSERT_TRUE(fs::exists(root_ / "killed" / checkpoint_file_name(4)));
  ASSERT_FALSE(fs::exists(root_ / "killed" / checkpoint_file_name(8)));
  ASSERT_EQ(train("killed", "", "--resume auto"), 0) << output_of("killed");
  expect_same_final_state("straight", "killed");
}

TEST_F(ResumeTest, SigtermInsideAccumulationWindowResumesBitExact) {
  const std::string accumulate = "--set train.gradient_accumulation_steps=3 --set train.batch_size=3";
  ASSERT_EQ(train("accum_straight", "", accumulate), 0) << output_of("accum_straight");
  // SIGTERM after the second of three micro-batches of step 6: step 6 is abandoned and the
  // checkpoint of step 5 is written.
  ASSERT_EQ(train("accum_term", "FLASHQUAD_TEST_SIGTERM_AT=6:2", accumulate), 0)
      << output_of("accum_term");
  EXPECT_TRUE(fs::exists(root_ / "accum_term" / checkpoint_file_name(5)));
  EXPECT_NE(output_of("accum_term").find("--resume auto"), std::string::npos);
  ASSERT_EQ(train("accum_term", "", accumulate + " --resume auto"), 0) << output_of("accum_term");
  expect_same_final_state("accum_straight", "accum_term");
}

TEST_F(ResumeTest, RefusesToOverwriteRunWithoutFlag) {
  ASSERT_EQ(train("guarded", "", ""), 0) << output_of("guarded");
  EXPECT_EQ(train("guarded", "", ""), 1);
  EXPECT_NE(output_of("guarded").find("--resume auto"), std::string::npos);
}

}  // namespace
}  // namespace fq
