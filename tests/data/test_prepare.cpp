// Vocab building and shard preparation on the real poetry sample: coverage, determinism,
// byte-identical shards, up-to-date detection, foreign vocab rejection and bad corpora.
#include <gtest/gtest.h>

#include "core/parallel.h"
#include "data/dataset.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "data/vocab_builder.h"
#include "tests/data/data_test_util.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

using testing_data::poetry_sample_path;
using testing_data::read_file;
using testing_data::TempDir;
using testing_data::WarningCapture;
using testing_data::write_file;

DataConfig sample_config(const TempDir& dir, const std::string& shards = "shards") {
  DataConfig config;
  config.train_files = {poetry_sample_path()};
  config.vocab = dir.file("vocab.txt");
  config.shard_dir = dir.file(shards);
  config.max_seq_length = 64;
  config.valid_fraction = 0.05;
  return config;
}

using test::error_message;

// Specials come first; every character of the corpus fits, so [UNK] stays under 0.5%.
TEST(VocabBuilder, SpecialsFirstAndLowUnkRate) {
  VocabBuildReport report = build_vocab({poetry_sample_path()}, "line", true, 3000);
  ASSERT_GE(report.tokens.size(), 6u);
  EXPECT_EQ(std::vector<std::string>(report.tokens.begin(), report.tokens.begin() + 5),
            (std::vector<std::string>{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}));
  EXPECT_LE(report.tokens.size(), 3000u);
  EXPECT_GT(report.corpus_tokens, 10000);
  EXPECT_LT(static_cast<double>(report.corpus_unk_tokens) / report.corpus_tokens, 0.005)
      << report.corpus_unk_tokens << " [UNK] of " << report.corpus_tokens;
  EXPECT_EQ(report.chars_included, report.distinct_chars);
}

// Building twice gives the same vocab; a small size keeps the most frequent characters.
TEST(VocabBuilder, DeterministicAndTruncatedByFrequency) {
  VocabBuildReport a = build_vocab({poetry_sample_path()}, "line", true, 200);
  VocabBuildReport b = build_vocab({poetry_sample_path()}, "line", true, 200);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.tokens.size(), 200u);
  EXPECT_LT(a.chars_included, a.distinct_chars);
  // The comma-like "，" and "。" are the most frequent characters of poems.
  EXPECT_EQ(a.tokens[5], "，");
  EXPECT_EQ(a.tokens[6], "。");
}

// English text gets ## forms of inner characters and whole words; nothing is [UNK].
TEST(VocabBuilder, EnglishGetsPiecesAndWords) {
  TempDir dir;
  write_file(dir.file("en.txt"), "the cat sat on the mat\nthe cats sat\nA Mat\n");
  VocabBuildReport report = build_vocab({dir.file("en.txt")}, "line", true, 100);
  auto has = [&](const std::string& t) {
    return std::find(report.tokens.begin(), report.tokens.end(), t) != report.tokens.end();
  };
  EXPECT_TRUE(has("t"));
  EXPECT_TRUE(has("##t"));
  EXPECT_TRUE(has("the"));
  EXPECT_TRUE(has("mat"));
  EXPECT_EQ(report.corpus_unk_tokens, 0);
}

// An empty or whitespace-only corpus is an error, not an empty vocab.
TEST(VocabBuilder, EmptyCorpusIsAnError) {
  TempDir dir;
  write_file(dir.file("blank.txt"), "  \n\t\n");
  WarningCapture warnings;
  std::string message = error_message([&] { build_vocab({dir.file("blank.txt")}, "line", true, 100); });
  EXPECT_NE(message.find("no text"), std::string::npos) << message;
}

// Preparing twice (into two folders) gives byte-identical shards; the second prepare in the
// same folder is skipped as up to date.
TEST(Prepare, RepeatIsByteIdenticalOrSkipped) {
  TempDir dir;
  DataConfig a = sample_config(dir, "a");
  DataConfig b = sample_config(dir, "b");
  write_vocab(a.vocab, build_vocab(a.train_files, "line", true, 3000).tokens);
  Vocab vocab = Vocab::load(a.vocab);
  PrepareReport ra = prepare_shards(a, a.train_files, vocab);
  PrepareReport rb = prepare_shards(b, b.train_files, vocab);
  EXPECT_FALSE(ra.up_to_date);
  EXPECT_FALSE(rb.up_to_date);
  EXPECT_EQ(rb.documents, ra.documents);
  EXPECT_EQ(ra.documents, 230);
  EXPECT_GT(ra.valid_documents, 0);
  EXPECT_EQ(ra.train_documents + ra.valid_documents, ra.documents);
  for (const char* name : {"train-00000.fqs", "valid-00000.fqs"}) {
    std::string bytes_a = read_file(a.shard_dir + "/" + name);
    EXPECT_FALSE(bytes_a.empty()) << name;
    EXPECT_TRUE(bytes_a == read_file(b.shard_dir + "/" + name)) << name << " differs";
  }
  PrepareReport again = prepare_shards(a, a.train_files, vocab);
  EXPECT_TRUE(again.up_to_date);
  EXPECT_EQ(again.train_tokens, ra.train_tokens);
  // Another setting (the held-out fraction) makes the shards stale.
  a.valid_fraction = 0.2;
  EXPECT_FALSE(prepare_shards(a, a.train_files, vocab).up_to_date);
}

// Documents are tokenized in parallel but written in order: one thread and two threads give
// the same bytes.
TEST(Prepare, ThreadCountDoesNotChangeShards) {
  TempDir dir;
  DataConfig a = sample_config(dir, "a");
  DataConfig b = sample_config(dir, "b");
  write_vocab(a.vocab, build_vocab(a.train_files, "line", true, 3000).tokens);
  Vocab vocab = Vocab::load(a.vocab);
  const int saved = num_threads();
  set_num_threads(1);
  prepare_shards(a, a.train_files, vocab);
  set_num_threads(2);
  prepare_shards(b, b.train_files, vocab);
  set_num_threads(saved);
  for (const char* name : {"train-00000.fqs", "valid-00000.fqs"}) {
    EXPECT_TRUE(read_file(a.shard_dir + "/" + name) == read_file(b.shard_dir + "/" + name))
        << name << " differs between 1 and 2 threads";
  }
}

// The held-out split is decided per document index, so it does not depend on anything else.
TEST(Prepare, HeldOutSplitIsStableByDocumentIndex) {
  int held_out = 0;
  for (int64_t d = 0; d < 100000; ++d) held_out += is_held_out(d, 0.01) ? 1 : 0;
  EXPECT_NEAR(held_out / 100000.0, 0.01, 0.002);
  EXPECT_EQ(is_held_out(12345, 0.01), is_held_out(12345, 0.01));
  EXPECT_FALSE(is_held_out(7, 0.0));
}

// Shards roll over at the token limit; the dataset reads across them as one stream.
TEST(Prepare, ManyShardsReadAsOneStream) {
  TempDir dir;
  DataConfig one = sample_config(dir, "one");
  DataConfig many = sample_config(dir, "many");
  write_vocab(one.vocab, build_vocab(one.train_files, "line", true, 3000).tokens);
  Vocab vocab = Vocab::load(one.vocab);
  prepare_shards(one, one.train_files, vocab);
  prepare_shards(many, many.train_files, vocab, /*max_shard_tokens=*/2000);
  std::ifstream probe(many.shard_dir + "/train-00003.fqs");
  EXPECT_TRUE(probe.good()) << "expected at least four training shards";
  MlmDataset a(one, MlmDataset::Split::kTrain, 1);
  MlmDataset b(many, MlmDataset::Split::kTrain, 1);
  ASSERT_EQ(a.num_sequences(), b.num_sequences());
  for (int64_t i = 0; i < a.num_sequences(); ++i) {
    ASSERT_EQ(a.sequence(i), b.sequence(i)) << "sequence " << i;
  }
}

// Shards built with another vocab are rejected with a message saying to rerun prepare.
TEST(Prepare, ShardFromAnotherVocabIsRejected) {
  TempDir dir;
  DataConfig config = sample_config(dir);
  write_vocab(config.vocab, build_vocab(config.train_files, "line", true, 3000).tokens);
  prepare_shards(config, config.train_files, Vocab::load(config.vocab));
  write_vocab(config.vocab, build_vocab(config.train_files, "line", true, 2000).tokens);
  std::string message = error_message([&] { MlmDataset(config, MlmDataset::Split::kTrain, 1); });
  EXPECT_NE(message.find("another vocabulary"), std::string::npos) << message;
  EXPECT_NE(message.find("prepare"), std::string::npos) << message;
  // The shard header carries the checksum too.
  Vocab other = Vocab::load(config.vocab);
  message = error_message([&] {
    ShardReader(config.shard_dir + "/train-00000.fqs", other.checksum(), config.vocab);
  });
  EXPECT_NE(message.find("another vocabulary"), std::string::npos) << message;
}

// The error for a dataset that was never prepared names the prepare command.
TEST(Prepare, MissingShardsSayToRunPrepare) {
  TempDir dir;
  DataConfig config = sample_config(dir);
  std::string message = error_message([&] { MlmDataset(config, MlmDataset::Split::kTrain, 1); });
  EXPECT_NE(message.find("flashquad prepare"), std::string::npos) << message;
}

// A corpus of control characters only yields no token: an error, not an empty dataset.
TEST(Prepare, CorpusWithoutTokensIsAnError) {
  TempDir dir;
  DataConfig config = sample_config(dir);
  write_file(dir.file("controls.txt"), std::string("\x01\x02\n\x03\n"));
  config.train_files = {dir.file("controls.txt")};
  Vocab vocab = Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"}, "test");
  std::string message = error_message([&] { prepare_shards(config, config.train_files, vocab); });
  EXPECT_NE(message.find("no training tokens"), std::string::npos) << message;
}

// A 50 MB single-line document with invalid bytes is tokenized; the bytes are counted.
TEST(Prepare, FiftyMegabyteLineWithInvalidBytes) {
  TempDir dir;
  DataConfig config = sample_config(dir);
  std::string big;
  big.reserve(50u << 20);
  int64_t repeats = 0;
  for (; big.size() < (50u << 20); ++repeats) big += "hello world \xFF ";
  write_file(dir.file("big.txt"), big + "\n");
  config.train_files = {dir.file("big.txt")};
  config.valid_fraction = 0.0;
  Vocab vocab =
      Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"}, "test");
  PrepareReport report = prepare_shards(config, config.train_files, vocab);
  EXPECT_EQ(report.documents, 1);
  EXPECT_EQ(report.invalid_utf8, repeats);
  EXPECT_EQ(report.train_tokens, 2 * repeats);
  EXPECT_EQ(report.unk_tokens, 0);
}

// The data config parser rejects unknown keys, wrong types and impossible values by name.
TEST(DataConfigParse, RejectsBadKeysAndValues) {
  using nlohmann::json;
  DataConfig config = parse_data_config(
      json{{"train_files", {"a.txt"}}, {"max_seq_length", 128}, {"document_separator", "blank_line"}},
      "c.json");
  EXPECT_EQ(config.train_files, std::vector<std::string>{"a.txt"});
  EXPECT_EQ(config.max_seq_length, 128);
  EXPECT_EQ(config.document_separator, "blank_line");
  struct Case {
    json data;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {json{{"bogus", 1}}, "unknown key \"data.bogus\""},
      {json{{"lowercase", "yes"}}, "key \"data.lowercase\" must be"},
      {json{{"max_seq_length", 2}}, "key \"data.max_seq_length\" must be"},
      {json{{"mlm_probability", 1.5}}, "key \"data.mlm_probability\" must be"},
      {json{{"valid_fraction", -0.1}}, "key \"data.valid_fraction\" must be"},
      {json{{"train_files", {1}}}, "key \"data.train_files[0]\" must be"},
      {json{{"document_separator", "para"}}, "key \"data.document_separator\" must be"},
  };
  for (const Case& c : cases) {
    std::string message = error_message([&] { parse_data_config(c.data, "c.json"); });
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.data.dump() << ": " << message;
    EXPECT_NE(message.find("config 'c.json'"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace fq
