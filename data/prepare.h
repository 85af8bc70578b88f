// The steps behind prepare_data, exposed for tests: corpus to shards, and the default corpus.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/data_config.h"
#include "data/vocab.h"

namespace fq {

struct PrepareReport {
  bool up_to_date = false;  // shards already matched the inputs; nothing was written
  int64_t documents = 0;    // documents read from the corpus
  int64_t empty_documents = 0;  // documents that produced no token (skipped)
  int64_t train_documents = 0, valid_documents = 0;
  int64_t train_tokens = 0, valid_tokens = 0;
  int64_t unk_tokens = 0;
  int64_t invalid_utf8 = 0;
  int64_t bad_json_lines = 0;
  int64_t bytes = 0;
  double seconds = 0.0;  // wall time of reading, tokenization, segmentation and shard writing
  // Busy time summed over threads: ICU word segmentation (whole-word masking only),
  // tokenization, and shard writing.
  double segment_seconds = 0.0;
  double tokenize_seconds = 0.0;
  double write_seconds = 0.0;
};

// Tokenizes `files` into shards under config.shard_dir: train-NNNNN.fqs and valid-NNNNN.fqs
// (a new shard starts once one contains `max_shard_tokens` tokens) and manifest.json, written
// last. Document d (counted over the whole corpus in file order) is held out when
// hash(d) < valid_fraction. CJK word boundaries for whole-word masking come from ICU's word
// break iterator (dictionary segmentation for Chinese) when config.whole_word_mask is set.
// Segmentation and tokenization run on all OpenMP threads, and the shards are the same for any
// thread count. Skips the work when the manifest records the same inputs (paths, sizes,
// modification times), vocab, settings and shard sizes, unless `force`.
PrepareReport prepare_shards(const DataConfig& config, const std::vector<std::string>& files,
                             const Vocab& vocab, int64_t max_shard_tokens = int64_t(1) << 28,
                             bool force = false);

// True when document `index` belongs to the held-out split.
bool is_held_out(int64_t index, double valid_fraction);

// The files the config describes: its globs expanded, or the default corpus (fetched and
// converted by scripts/fetch_corpus.sh into config.cache_dir on first use).
std::vector<std::string> resolve_corpus(const DataConfig& config, const std::string& source);

// Name of the manifest inside a shard folder.
constexpr const char* kManifestName = "manifest.json";

}  // namespace fq
