// The "data" object of a run config: corpus files, vocabulary, sequence length, masking and
// where the prepared shards live.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fq {

struct DataConfig {
  // Text or JSON Lines files; shell globs allowed. Empty means the default corpus (the
  // chinese-poetry npm package, fetched into cache_dir by scripts/fetch_corpus.sh).
  std::vector<std::string> train_files;
  std::string vocab = "cache/vocab.txt";  // built from the corpus when missing
  bool lowercase = true;                  // lowercase and strip accents, as BertTokenizer
  int64_t max_seq_length = 512;           // T, including [CLS] and [SEP]
  double mlm_probability = 0.15;
  bool whole_word_mask = true;
  double valid_fraction = 0.01;  // share of documents held out for evaluation
  std::string shard_dir = "cache/shards";
  // How plain-text files are cut into documents: "line" (every non-blank line is a document)
  // or "blank_line" (documents are separated by one or more blank lines).
  std::string document_separator = "line";
  std::string cache_dir = "cache";  // downloads and the converted default corpus
};

// Parses the "data" object. Missing keys keep their defaults. Unknown keys, wrong types and
// impossible values throw std::invalid_argument naming `source` (the config file), the key and
// what was expected.
DataConfig parse_data_config(const nlohmann::json& data, const std::string& source);

}  // namespace fq
