// MlmDataset: packed sequences over memory-mapped shards, with masking keyed by position.
#include "data/dataset.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/random.h"
#include "data/masking.h"
#include "data/prepare.h"
#include "data/shard.h"

namespace fq {

namespace {

// Seed of the evaluation masks, independent of the training seed.
constexpr uint64_t kEvalMaskSeed = 0x4556414C4D41534Bull;
// Salt that separates the epoch permutation stream from the mask streams.
constexpr uint64_t kPermutationSalt = 0x5045524D55544521ull;

// A bijection of [0, n) keyed by `key`: a 4-round Feistel network on the smallest even number of
// bits that covers n, with cycle walking (values >= n are encrypted again until they fall in
// range). O(1) per index, so any position of an epoch is found without building the permutation.
uint64_t permute(uint64_t index, uint64_t n, uint64_t key) {
  if (n <= 1) return 0;
  int bits = 2;
  while ((uint64_t(1) << bits) < n) bits += 2;
  const int half = bits / 2;
  const uint64_t mask = (uint64_t(1) << half) - 1;
  uint64_t x = index;
  do {
    uint64_t left = x >> half, right = x & mask;
    for (uint64_t round = 0; round < 4; ++round) {
      uint64_t f = mix64(key ^ mix64(right + (round << 56))) & mask;
      uint64_t next = left ^ f;
      left = right;
      right = next;
    }
    x = (left << half) | right;
  } while (x >= n);
  return x;
}

}  // namespace

struct MlmDataset::Impl {
  DataConfig config;
  Vocab vocab;
  uint64_t seed = 0;
  std::vector<ShardReader> shards;
  std::vector<int64_t> shard_start;  // stream offset of each shard's first token, plus the total
  int64_t tokens = 0;
  int64_t documents = 0;
  int64_t num_sequences = 0;
  int64_t T = 0;

  // Fills ids/starts (T each) with sequence `index` in file order.
  void fill(int64_t index, int32_t* ids, uint8_t* starts) const {
    const int64_t content = T - 2;
    const int64_t begin = index * content;
    const int64_t end = std::min(tokens, begin + content);
    ids[0] = vocab.cls_id();
    starts[0] = 1;
    int64_t t = 1;
    // Find the shard holding `begin`, then copy across shard boundaries.
    size_t s = static_cast<size_t>(
        std::upper_bound(shard_start.begin(), shard_start.end(), begin) - shard_start.begin() - 1);
    for (int64_t g = begin; g < end; ++g) {
      while (g >= shard_start[s + 1]) ++s;
      const int64_t local = g - shard_start[s];
      ids[t] = shards[s].token(local);
      starts[t] = shards[s].word_start(local) ? 1 : 0;
      ++t;
    }
    ids[t] = vocab.sep_id();
    starts[t] = 1;
    ++t;
    for (; t < T; ++t) {
      ids[t] = vocab.pad_id();
      starts[t] = 1;
    }
  }

  Batch make_batch(const std::vector<int64_t>& indices, const std::vector<CounterRng>& rngs) const {
    const int64_t B = static_cast<int64_t>(indices.size());
    std::vector<int32_t> ids(B * T), mask(B * T), types(B * T, 0), labels(B * T);
    std::vector<uint8_t> starts(T);
    int64_t targets = 0;
    for (int64_t b = 0; b < B; ++b) {
      int32_t* ids_b = ids.data() + b * T;
      fill(indices[b], ids_b, starts.data());
      for (int64_t t = 0; t < T; ++t) mask[b * T + t] = ids_b[t] == vocab.pad_id() ? 0 : 1;
      CounterRng rng = rngs[b];
      targets += mask_sequence(ids_b, labels.data() + b * T,
                               config.whole_word_mask ? starts.data() : nullptr, T, vocab,
                               config.mlm_probability, rng);
    }
    Batch batch;
    batch.input_ids = Tensor::from_ids(ids, {B, T});
    batch.attention_mask = Tensor::from_ids(mask, {B, T});
    batch.token_type_ids = Tensor::from_ids(types, {B, T});
    batch.labels = Tensor::from_ids(labels, {B, T});
    batch.num_targets = targets;
    return batch;
  }
};

MlmDataset::MlmDataset(const DataConfig& config, Split split, uint64_t seed)
    : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  impl.config = config;
  impl.seed = seed;
  impl.T = config.max_seq_length;
  FQ_CHECK(impl.T >= 3, "dataset: data.max_seq_length must be at least 3, got " << impl.T);
  const char* split_name = split == Split::kTrain ? "train" : "valid";
  const std::string manifest_path = config.shard_dir + "/" + kManifestName;
  const std::string hint = "; run `flashquad prepare --config <your config>` (or `make data "
                           "CONFIG=<name>`) first";

  std::ifstream in(manifest_path);
  FQ_CHECK(in.good(), "dataset: no prepared shards: " << manifest_path << " not found" << hint);
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
  FQ_CHECK(!manifest.is_discarded() && manifest.is_object() && manifest.contains(split_name),
           "dataset: " << manifest_path << " is damaged" << hint);
  FQ_CHECK(std::ifstream(config.vocab).good(),
           "dataset: vocab " << config.vocab << " not found" << hint);
  impl.vocab = Vocab::load(config.vocab);

  char checksum[17];
  std::snprintf(checksum, sizeof(checksum), "%016llx",
                static_cast<unsigned long long>(impl.vocab.checksum()));
  FQ_CHECK(manifest.value("vocab_checksum", "") == checksum,
           "dataset: the shards in " << config.shard_dir << " were built with another vocabulary "
                                     << "than " << config.vocab << " (checksum "
                                     << manifest.value("vocab_checksum", "?") << " vs " << checksum
                                     << "); rerun `flashquad prepare --config <your config>` to "
                                        "rebuild them");
  FQ_CHECK(manifest.value("lowercase", true) == config.lowercase,
           "dataset: the shards in " << config.shard_dir << " were built with data.lowercase = "
                                     << (config.lowercase ? "false" : "true")
                                     << " but the config says "
                                     << (config.lowercase ? "true" : "false")
                                     << "; rerun `flashquad prepare` with this config");

  FQ_CHECK(!config.whole_word_mask ||
               manifest["fingerprint"].value("cjk_word_segmentation", false),
           "dataset: the shards in " << config.shard_dir
                                     << " were prepared with data.whole_word_mask = false, so they "
                                        "lack the Chinese word boundaries whole-word masking "
                                        "needs; rerun `flashquad prepare` with this config");

  impl.shard_start.push_back(0);
  for (const auto& entry : manifest[split_name]["shards"]) {
    std::string path = config.shard_dir + "/" + entry["file"].get<std::string>();
    impl.shards.emplace_back(path, impl.vocab.checksum(), config.vocab);
    impl.tokens += impl.shards.back().num_tokens();
    impl.documents += impl.shards.back().num_documents();
    impl.shard_start.push_back(impl.tokens);
  }
  FQ_CHECK(impl.tokens > 0,
           "dataset: the " << split_name << " split in " << config.shard_dir
                           << " is empty (no document was "
                           << (split == Split::kValid ? "held out; raise data.valid_fraction or "
                                                        "add documents, then rerun `flashquad "
                                                        "prepare`"
                                                      : "tokenized; check data.train_files)"));
  impl.num_sequences = (impl.tokens + (impl.T - 2) - 1) / (impl.T - 2);
}

MlmDataset::~MlmDataset() = default;
MlmDataset::MlmDataset(MlmDataset&&) noexcept = default;
MlmDataset& MlmDataset::operator=(MlmDataset&&) noexcept = default;

int64_t MlmDataset::num_sequences() const { return impl_->num_sequences; }
int64_t MlmDataset::num_tokens() const { return impl_->tokens; }
int64_t MlmDataset::num_documents() const { return impl_->documents; }
const Vocab& MlmDataset::vocab() const { return impl_->vocab; }

Batch MlmDataset::batch_at(uint64_t cursor, int64_t count) const {
  FQ_CHECK(count > 0, "dataset: batch_at needs a positive count, got " << count);
  const uint64_t n = static_cast<uint64_t>(impl_->num_sequences);
  std::vector<int64_t> indices;
  std::vector<CounterRng> rngs;
  for (int64_t b = 0; b < count; ++b) {
    const uint64_t g = cursor + static_cast<uint64_t>(b);
    const uint64_t epoch = g / n;
    const uint64_t key = stream_key(impl_->seed ^ kPermutationSalt, epoch, 0);
    const uint64_t index = permute(g % n, n, key);
    indices.push_back(static_cast<int64_t>(index));
    rngs.emplace_back(impl_->seed, epoch, index);
  }
  return impl_->make_batch(indices, rngs);
}

Batch MlmDataset::eval_batch(int64_t first, int64_t count) const {
  const int64_t n = impl_->num_sequences;
  FQ_CHECK(first >= 0 && first < n,
           "dataset: eval_batch first " << first << " out of range [0, " << n << ")");
  FQ_CHECK(count > 0, "dataset: eval_batch needs a positive count, got " << count);
  const int64_t B = std::min(count, n - first);
  std::vector<int64_t> indices;
  std::vector<CounterRng> rngs;
  for (int64_t b = 0; b < B; ++b) {
    indices.push_back(first + b);
    rngs.emplace_back(kEvalMaskSeed, 0, static_cast<uint64_t>(first + b));
  }
  return impl_->make_batch(indices, rngs);
}

std::vector<int32_t> MlmDataset::sequence(int64_t index, std::vector<uint8_t>* word_starts) const {
  FQ_CHECK(index >= 0 && index < impl_->num_sequences,
           "dataset: sequence " << index << " out of range [0, " << impl_->num_sequences << ")");
  std::vector<int32_t> ids(impl_->T);
  std::vector<uint8_t> starts(impl_->T);
  impl_->fill(index, ids.data(), starts.data());
  if (word_starts) *word_starts = std::move(starts);
  return ids;
}

}  // namespace fq
