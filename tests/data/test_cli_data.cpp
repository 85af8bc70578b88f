// The tokenize, vocab and prepare subcommands, run through the flashquad binary (FLASHQUAD_BIN,
// set by `make test`).
#include <gtest/gtest.h>

#include <cstdlib>
#include <sys/wait.h>

#include "tests/data/data_test_util.h"

namespace fq {
namespace {

using testing_data::poetry_sample_path;
using testing_data::read_file;
using testing_data::TempDir;
using testing_data::write_file;

class CliDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("FLASHQUAD_BIN");
    if (!bin) GTEST_SKIP() << "FLASHQUAD_BIN is not set; run through `make test`";
    binary_ = bin;
  }
  // Runs `command` with the binary substituted for {bin}; stdout and stderr go to files.
  int run(const std::string& args, std::string* out, std::string* err = nullptr) {
    std::string command = "'" + binary_ + "' " + args + " >'" + dir_.file("out") + "' 2>'" +
                          dir_.file("err") + "'";
    int status = std::system(command.c_str());
    *out = read_file(dir_.file("out"));
    if (err) *err = read_file(dir_.file("err"));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string binary_;
  TempDir dir_;
};

// One JSON array per LF-terminated line; a CR stays in its line (and is whitespace); the last
// line needs no LF; an empty line gives [].
TEST_F(CliDataTest, TokenizePrintsOneArrayPerLine) {
  write_file(dir_.file("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n我\n");
  write_file(dir_.file("in.txt"), "Hello world\r\n\n我[MASK]\nHELLO");
  std::string out, err;
  ASSERT_EQ(run("tokenize --vocab '" + dir_.file("vocab.txt") + "' --input '" +
                    dir_.file("in.txt") + "'",
                &out, &err),
            0)
      << err;
  EXPECT_EQ(out, "[5,6]\n[]\n[7,4]\n[5]\n");
  ASSERT_EQ(run("tokenize --no-lower-case --vocab '" + dir_.file("vocab.txt") + "' < '" +
                    dir_.file("in.txt") + "'",
                &out, &err),
            0)
      << err;
  EXPECT_EQ(out, "[1,6]\n[]\n[7,4]\n[1]\n");
}

// Invalid UTF-8 is reported on stderr with its count; the ids are still printed.
TEST_F(CliDataTest, TokenizeReportsInvalidUtf8) {
  write_file(dir_.file("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n");
  write_file(dir_.file("in.txt"), "hel\xFFlo\n");
  std::string out, err;
  ASSERT_EQ(run("tokenize --vocab '" + dir_.file("vocab.txt") + "' --input '" +
                    dir_.file("in.txt") + "'",
                &out, &err),
            0);
  EXPECT_EQ(out, "[5]\n");
  EXPECT_NE(err.find("replaced 1 invalid UTF-8"), std::string::npos) << err;
}

// A vocab missing a special token fails with a message naming the file and the token.
TEST_F(CliDataTest, TokenizeRejectsVocabWithoutSpecials) {
  write_file(dir_.file("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
  std::string out, err;
  EXPECT_EQ(run("tokenize --vocab '" + dir_.file("vocab.txt") + "' --input /dev/null", &out, &err),
            1);
  EXPECT_NE(err.find("[MASK]"), std::string::npos) << err;
  EXPECT_NE(err.find("vocab.txt"), std::string::npos) << err;
}

// vocab prints size, coverage and [UNK] rate; prepare builds shards from a config and then
// reports them as up to date.
TEST_F(CliDataTest, VocabAndPrepareFromConfig) {
  std::string out, err;
  ASSERT_EQ(run("vocab --input '" + poetry_sample_path() + "' --size 3000 --out '" +
                    dir_.file("v.txt") + "'",
                &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("[UNK] rate"), std::string::npos) << out;
  EXPECT_NE(out.find("characters covered"), std::string::npos) << out;

  write_file(dir_.file("cfg.json"),
             "{\"model\": {\"vocab_size\": 3000, \"max_position_embeddings\": 128},"
             " \"data\": {\"train_files\": [\"" + poetry_sample_path() + "\"], \"vocab\": \"" +
                 dir_.file("built.txt") + "\", \"shard_dir\": \"" + dir_.file("shards") +
                 "\", \"max_seq_length\": 128}}");
  ASSERT_EQ(run("prepare --config '" + dir_.file("cfg.json") + "'", &out, &err), 0) << err;
  EXPECT_NE(out.find("building a vocab of 3000"), std::string::npos) << out;
  EXPECT_NE(out.find("230 documents"), std::string::npos) << out;
  EXPECT_NE(out.find("MB/s"), std::string::npos) << out;
  ASSERT_EQ(run("prepare --config '" + dir_.file("cfg.json") + "'", &out, &err), 0) << err;
  EXPECT_NE(out.find("up to date"), std::string::npos) << out;

  // data.max_seq_length above the model's positions is rejected.
  EXPECT_EQ(run("prepare --config '" + dir_.file("cfg.json") + "' --set data.max_seq_length=512",
                &out, &err),
            1);
  EXPECT_NE(err.find("max_position_embeddings"), std::string::npos) << err;
}

}  // namespace
}  // namespace fq
