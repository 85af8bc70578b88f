// Masked-LM training data: preparing shards from the configured corpus, and reading them back
// as batches of packed, masked sequences.
//
// Sequences: the token streams of a split's documents are concatenated in file order and cut
// into pieces of T - 2 tokens; each piece becomes [CLS] piece [SEP] (a long document continues in
// the next sequence). The last sequence is padded with [PAD] (attention_mask 0).
//
// Masking: round-half-even(mlm_probability * count) targets (at least 1) among the non-special,
// non-padding positions; each target becomes [MASK] with probability 0.8, a uniform random
// non-special id with probability 0.1, and stays unchanged otherwise. Labels hold the original id
// at targets and -100 elsewhere. With whole-word masking, targets are chosen word by word (a word
// is a token plus its "##" pieces, or a run of CJK ideographs that the word segmentation marked as
// one word): candidate words are shuffled and each whole word is taken while the total stays
// within the target count.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "data/batch.h"
#include "data/data_config.h"
#include "data/tokenizer.h"
#include "data/vocab.h"

namespace fq {

// Makes sure the corpus, vocab and shards the config describes exist (fetching the default
// corpus and building the vocab of `vocab_size` entries when needed); prints a summary.
// Skips the work when up-to-date shards exist for the same inputs, vocab and settings.
void prepare_data(const DataConfig& config, int64_t vocab_size);

class MlmDataset {
 public:
  enum class Split { kTrain, kValid };

  // Opens the memory-mapped shards of `split`; throws if missing (saying to run
  // `flashquad prepare`) or built with another vocab.
  MlmDataset(const DataConfig& config, Split split, uint64_t seed);
  ~MlmDataset();
  MlmDataset(MlmDataset&&) noexcept;
  MlmDataset& operator=(MlmDataset&&) noexcept;

  int64_t num_sequences() const;
  int64_t num_tokens() const;     // tokens of the split, without [CLS]/[SEP]/[PAD]
  int64_t num_documents() const;
  const Vocab& vocab() const;

  // Sequences cursor .. cursor+count-1 of the endless training stream: global index g is
  // position g % N of epoch g / N; each epoch visits the N sequences in a permutation keyed
  // by (seed, epoch); masks keyed by (seed, epoch, sequence index). Pure function of its args.
  Batch batch_at(uint64_t cursor, int64_t count) const;

  // Evaluation: sequences first .. first+count-1 in file order (count clipped at the end),
  // masks from a fixed seed independent of the training seed.
  Batch eval_batch(int64_t first, int64_t count) const;

  // The unmasked sequence `index` in file order: T ids ([CLS] ... [SEP] [PAD]...), and when
  // `word_starts` is given, T flags (1 where a whole-masking word starts, also on specials).
  std::vector<int32_t> sequence(int64_t index, std::vector<uint8_t>* word_starts = nullptr) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fq
