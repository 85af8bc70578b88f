// WordPiece vocabulary loaded from a BERT-style vocab.txt: one token a line, id = line number
// from 0. A leading UTF-8 byte-order mark and a trailing \r on any line are removed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fq {

class Vocab {
 public:
  // Reads `path`. Throws std::invalid_argument naming the file when it cannot be read, is empty,
  // or lacks one of [PAD] [UNK] [CLS] [SEP] [MASK].
  static Vocab load(const std::string& path);
  // Builds a vocabulary from tokens in id order (same checks; `source` names it in errors).
  static Vocab from_tokens(std::vector<std::string> tokens, const std::string& source);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t mask_id() const { return mask_id_; }
  const std::string& token(int32_t id) const;
  int32_t id(std::string_view token) const;  // -1 if absent
  // FNV-1a 64 over the tokens in id order, each followed by '\n'. Shards store it so that a
  // shard built with another vocabulary is detected.
  uint64_t checksum() const { return checksum_; }
  // True for [PAD] [UNK] [CLS] [SEP] [MASK] and every other entry written in brackets, like
  // [unused7].
  bool is_special(int32_t id) const;
  // Ids of every special entry (including the bracketed ones), ascending.
  const std::vector<int32_t>& special_ids() const { return special_ids_; }
  // Ids that are not special, ascending: the range random replacement draws from.
  const std::vector<int32_t>& non_special_ids() const { return non_special_ids_; }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::string> tokens_;
  // Open-addressing hash table from token text to id (slots hold id + 1, 0 = empty).
  std::vector<int32_t> table_;
  uint64_t table_mask_ = 0;
  std::vector<uint8_t> special_;
  std::vector<int32_t> special_ids_;
  std::vector<int32_t> non_special_ids_;
  uint64_t checksum_ = 0;
  int32_t pad_id_ = -1, unk_id_ = -1, cls_id_ = -1, sep_id_ = -1, mask_id_ = -1;
};

// Hash of a byte string used by the vocabulary tables (FNV-1a 64).
uint64_t fnv1a64(std::string_view text, uint64_t hash = 0xCBF29CE484222325ull);

}  // namespace fq
