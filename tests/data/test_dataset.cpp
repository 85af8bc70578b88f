// Masked-LM dataset: packing, masking rates, whole-word masking, and batches rebuilt from their
// position alone.
#include <gtest/gtest.h>

#include <map>

#include "data/corpus.h"
#include "data/dataset.h"
#include "data/masking.h"
#include "data/prepare.h"
#include "data/vocab_builder.h"
#include "tests/data/data_test_util.h"

namespace fq {
namespace {

using testing_data::poetry_sample_path;
using testing_data::TempDir;

// One prepared copy of the poetry sample shared by the tests of this file.
class DatasetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    config_ = new DataConfig();
    config_->train_files = {poetry_sample_path()};
    config_->vocab = dir_->file("vocab.txt");
    config_->shard_dir = dir_->file("shards");
    config_->max_seq_length = 128;
    config_->valid_fraction = 0.05;
    write_vocab(config_->vocab, build_vocab(config_->train_files, "line", true, 3000).tokens);
    prepare_shards(*config_, config_->train_files, Vocab::load(config_->vocab));
  }
  static void TearDownTestSuite() {
    delete config_;
    delete dir_;
  }
  static TempDir* dir_;
  static DataConfig* config_;
};
TempDir* DatasetTest::dir_ = nullptr;
DataConfig* DatasetTest::config_ = nullptr;

bool same_batch(const Batch& a, const Batch& b) {
  return a.input_ids.to_ids() == b.input_ids.to_ids() &&
         a.attention_mask.to_ids() == b.attention_mask.to_ids() &&
         a.token_type_ids.to_ids() == b.token_type_ids.to_ids() &&
         a.labels.to_ids() == b.labels.to_ids() && a.num_targets == b.num_targets;
}

// Row b of a batch as its own one-row batch.
Batch row(const Batch& batch, int64_t b) {
  Batch out;
  out.input_ids = batch.input_ids.rows(b, 1).clone();
  out.attention_mask = batch.attention_mask.rows(b, 1).clone();
  out.token_type_ids = batch.token_type_ids.rows(b, 1).clone();
  out.labels = batch.labels.rows(b, 1).clone();
  for (int32_t label : out.labels.to_ids()) out.num_targets += label != kIgnoreLabel;
  return out;
}

// Sequences are [CLS] + the next T - 2 tokens of the training documents' concatenated stream +
// [SEP], padded at the end; the stream equals the tokenizer's output of the training documents.
TEST_F(DatasetTest, PacksTrainingDocumentsBackToBack) {
  MlmDataset data(*config_, MlmDataset::Split::kTrain, 7);
  const Vocab& vocab = data.vocab();
  Tokenizer tokenizer(vocab, true);
  std::vector<int32_t> expected;
  CorpusStats stats;
  int64_t index = 0;
  read_documents(poetry_sample_path(), "line", [&](std::string_view document) {
    if (!is_held_out(index++, config_->valid_fraction)) tokenizer.encode_into(document, expected, nullptr);
  }, stats);
  ASSERT_EQ(data.num_tokens(), static_cast<int64_t>(expected.size()));

  std::vector<int32_t> stream;
  const int64_t T = config_->max_seq_length;
  for (int64_t i = 0; i < data.num_sequences(); ++i) {
    std::vector<int32_t> ids = data.sequence(i);
    ASSERT_EQ(static_cast<int64_t>(ids.size()), T);
    ASSERT_EQ(ids[0], vocab.cls_id()) << "sequence " << i;
    int64_t t = 1;
    while (t < T && ids[t] != vocab.sep_id()) stream.push_back(ids[t++]);
    ASSERT_LT(t, T) << "sequence " << i << " has no [SEP]";
    if (i + 1 < data.num_sequences()) {
      EXPECT_EQ(t, T - 1) << "only the last sequence may be short (sequence " << i << ")";
    }
    for (++t; t < T; ++t) ASSERT_EQ(ids[t], vocab.pad_id()) << "sequence " << i << " position " << t;
  }
  EXPECT_EQ(stream, expected);
  EXPECT_EQ(data.num_sequences(), (data.num_tokens() + T - 3) / (T - 2));
}

// Over 10,000 training sequences: the target rate is within 0.5 points of 15%, the
// [MASK]/random/unchanged split within 1 point of 80/10/10, and no special or padding position
// is ever a target. Checked with and without whole-word masking.
TEST_F(DatasetTest, MaskingRatesOverTenThousandSequences) {
  for (bool whole_word : {true, false}) {
    DataConfig config = *config_;
    config.whole_word_mask = whole_word;
    MlmDataset data(config, MlmDataset::Split::kTrain, 123);
    const Vocab& vocab = data.vocab();
    int64_t candidates = 0, targets = 0, masked = 0, random = 0, unchanged = 0;
    const int64_t B = 100;
    for (uint64_t cursor = 0; cursor < 10000; cursor += B) {
      Batch batch = data.batch_at(cursor, B);
      std::vector<int32_t> ids = batch.input_ids.to_ids();
      std::vector<int32_t> labels = batch.labels.to_ids();
      std::vector<int32_t> attention = batch.attention_mask.to_ids();
      int64_t batch_targets = 0;
      for (size_t k = 0; k < ids.size(); ++k) {
        const int32_t original = labels[k] != kIgnoreLabel ? labels[k] : ids[k];
        ASSERT_EQ(attention[k], original == vocab.pad_id() ? 0 : 1) << "position " << k;
        if (vocab.is_special(original)) {
          ASSERT_EQ(labels[k], kIgnoreLabel)
              << "special token " << vocab.token(original) << " became a target at " << k;
          continue;
        }
        ++candidates;
        if (labels[k] == kIgnoreLabel) continue;
        ++targets;
        ++batch_targets;
        if (ids[k] == vocab.mask_id()) {
          ++masked;
        } else if (ids[k] != original) {
          ++random;
          ASSERT_FALSE(vocab.is_special(ids[k])) << "random replacement drew a special token";
        } else {
          ++unchanged;
        }
      }
      ASSERT_EQ(batch.num_targets, batch_targets);
    }
    const double rate = static_cast<double>(targets) / candidates;
    EXPECT_NEAR(rate, 0.15, 0.005) << "whole_word " << whole_word;
    EXPECT_NEAR(static_cast<double>(masked) / targets, 0.8, 0.01) << "whole_word " << whole_word;
    EXPECT_NEAR(static_cast<double>(random) / targets, 0.1, 0.01) << "whole_word " << whole_word;
    EXPECT_NEAR(static_cast<double>(unchanged) / targets, 0.1, 0.01) << "whole_word " << whole_word;
  }
}

// Whole-word masking takes every token of a word or none: words are runs that begin at a
// word-start flag (a token that is not a ## piece, or a CJK segment start from ICU).
TEST_F(DatasetTest, WholeWordMaskingNeverSplitsAWord) {
  MlmDataset data(*config_, MlmDataset::Split::kTrain, 5);
  int64_t multi_token_words = 0, multi_token_targets = 0;
  for (int64_t first = 0; first < data.num_sequences(); first += 16) {
    Batch batch = data.eval_batch(first, 16);
    const int64_t T = config_->max_seq_length;
    std::vector<int32_t> labels = batch.labels.to_ids();
    for (int64_t b = 0; b < batch.labels.size(0); ++b) {
      std::vector<uint8_t> starts;
      std::vector<int32_t> ids = data.sequence(first + b, &starts);
      int64_t t = 1;
      while (t < T) {
        int64_t end = t + 1;
        while (end < T && !starts[end] && !data.vocab().is_special(ids[end])) ++end;
        const bool taken = labels[b * T + t] != kIgnoreLabel;
        for (int64_t k = t; k < end; ++k) {
          ASSERT_EQ(labels[b * T + k] != kIgnoreLabel, taken)
              << "sequence " << first + b << ": word at " << t << ".." << end - 1
              << " is partly masked at " << k;
        }
        if (end - t > 1) {
          ++multi_token_words;
          multi_token_targets += taken;
        }
        t = end;
      }
    }
  }
  // The check above only means something when multi-token words exist and get masked.
  EXPECT_GT(multi_token_words, 100);
  EXPECT_GT(multi_token_targets, 10);
}

// batch_at is a pure function of (seed, cursor): batches reached by iteration equal batches
// rebuilt one sequence at a time by a fresh dataset object.
TEST_F(DatasetTest, RebuildingBatchFromPositionEqualsIteration) {
  MlmDataset iterated(*config_, MlmDataset::Split::kTrain, 99);
  MlmDataset rebuilt(*config_, MlmDataset::Split::kTrain, 99);
  const int64_t B = 8;
  const uint64_t N = static_cast<uint64_t>(iterated.num_sequences());
  for (uint64_t cursor = 0; cursor < 2 * N + 20; cursor += B) {
    Batch batch = iterated.batch_at(cursor, B);
    ASSERT_TRUE(same_batch(batch, rebuilt.batch_at(cursor, B))) << "cursor " << cursor;
    for (int64_t b = 0; b < B; ++b) {
      ASSERT_TRUE(same_batch(row(batch, b), rebuilt.batch_at(cursor + b, 1)))
          << "cursor " << cursor << " row " << b;
    }
  }
  // Another seed gives other batches.
  MlmDataset other(*config_, MlmDataset::Split::kTrain, 100);
  EXPECT_FALSE(same_batch(iterated.batch_at(0, B), other.batch_at(0, B)));
}

// Each epoch visits every sequence exactly once, in an order that changes between epochs.
TEST_F(DatasetTest, EpochIsAPermutationOfSequences) {
  MlmDataset data(*config_, MlmDataset::Split::kTrain, 3);
  const int64_t N = data.num_sequences();
  std::map<std::vector<int32_t>, int64_t> index_of;
  for (int64_t i = 0; i < N; ++i) index_of[data.sequence(i)] = i;
  ASSERT_EQ(static_cast<int64_t>(index_of.size()), N) << "sequences are not distinct";
  std::vector<int64_t> orders[2];
  for (int epoch = 0; epoch < 2; ++epoch) {
    Batch batch = data.batch_at(static_cast<uint64_t>(epoch * N), N);
    std::vector<int32_t> ids = batch.input_ids.to_ids();
    std::vector<int32_t> labels = batch.labels.to_ids();
    const int64_t T = config_->max_seq_length;
    std::vector<int> seen(N, 0);
    for (int64_t b = 0; b < N; ++b) {
      std::vector<int32_t> original(T);
      for (int64_t t = 0; t < T; ++t) {
        original[t] = labels[b * T + t] != kIgnoreLabel ? labels[b * T + t] : ids[b * T + t];
      }
      auto found = index_of.find(original);
      ASSERT_NE(found, index_of.end()) << "epoch " << epoch << " row " << b;
      ++seen[found->second];
      orders[epoch].push_back(found->second);
    }
    for (int64_t i = 0; i < N; ++i) EXPECT_EQ(seen[i], 1) << "epoch " << epoch << " sequence " << i;
  }
  EXPECT_NE(orders[0], orders[1]);
}

// Evaluation batches are in file order with masks independent of the training seed, so two
// evaluations agree; the count is clipped at the end.
TEST_F(DatasetTest, EvalBatchesAreFixed) {
  MlmDataset a(*config_, MlmDataset::Split::kValid, 1);
  MlmDataset b(*config_, MlmDataset::Split::kValid, 2);
  ASSERT_GT(a.num_sequences(), 0);
  EXPECT_TRUE(same_batch(a.eval_batch(0, 4), b.eval_batch(0, 4)));
  Batch tail = a.eval_batch(a.num_sequences() - 1, 10);
  EXPECT_EQ(tail.input_ids.size(0), 1);
  EXPECT_EQ(tail.input_ids.size(1), config_->max_seq_length);
  EXPECT_THROW(a.eval_batch(a.num_sequences(), 1), std::invalid_argument);
}

// Target counts follow Python's round (half to even) on 0.15 * candidates, at least 1.
TEST(Masking, TargetCountRoundsHalfToEven) {
  EXPECT_EQ(round_half_even(1.5), 2);
  EXPECT_EQ(round_half_even(2.5), 2);
  EXPECT_EQ(round_half_even(4.5), 4);
  EXPECT_EQ(round_half_even(4.51), 5);
  EXPECT_EQ(round_half_even(0.45), 0);
  Vocab vocab = Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"}, "t");
  // candidates -> targets: 0.15 * 10 = 1.5 -> 2, 0.15 * 30 = 4.5 -> 4, 0.15 * 70 = 10.5 -> 10,
  // 0.15 * 3 = 0.45 -> 0 -> at least 1.
  for (auto [candidates, expected] : std::vector<std::pair<int64_t, int64_t>>{
           {10, 2}, {30, 4}, {70, 10}, {3, 1}, {1, 1}}) {
    std::vector<int32_t> ids(candidates + 2, 5);
    ids.front() = vocab.cls_id();
    ids.back() = vocab.sep_id();
    std::vector<int32_t> labels(ids.size());
    CounterRng rng(1, 2, 3);
    int64_t got = mask_sequence(ids.data(), labels.data(), nullptr,
                                static_cast<int64_t>(ids.size()), vocab, 0.15, rng);
    EXPECT_EQ(got, expected) << candidates << " candidates";
    EXPECT_EQ(labels.front(), kIgnoreLabel);
    EXPECT_EQ(labels.back(), kIgnoreLabel);
  }
}

// A sequence with only special tokens gets no target.
TEST(Masking, OnlySpecialTokensGiveNoTarget) {
  Vocab vocab = Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"}, "t");
  std::vector<int32_t> ids = {2, 3, 0, 0};
  std::vector<int32_t> labels(4);
  CounterRng rng(1);
  EXPECT_EQ(mask_sequence(ids.data(), labels.data(), nullptr, 4, vocab, 0.15, rng), 0);
  EXPECT_EQ(ids, (std::vector<int32_t>{2, 3, 0, 0}));
}

}  // namespace
}  // namespace fq
