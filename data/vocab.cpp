#include "data/vocab.h"

#include <cstdio>
#include <fstream>

#include "core/check.h"

namespace fq {

uint64_t fnv1a64(std::string_view text, uint64_t hash) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001B3ull;
  }
  return hash;
}

Vocab Vocab::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FQ_CHECK(in.good(), "vocab: cannot open " << path
                                            << " (set data.vocab to an existing vocab.txt, or "
                                               "run `flashquad prepare` to build one)");
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    if (tokens.empty() && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    tokens.push_back(line);
  }
  FQ_CHECK(!in.bad(), "vocab: read error in " << path);
  return from_tokens(std::move(tokens), path);
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens, const std::string& source) {
  FQ_CHECK(!tokens.empty(), "vocab: " << source << " is empty; expected one token per line");
  FQ_CHECK(tokens.size() < (1ull << 31),
           "vocab: " << source << " has " << tokens.size() << " entries, more than int32 ids hold");
  Vocab vocab;
  vocab.source_ = source;
  vocab.tokens_ = std::move(tokens);

  size_t capacity = 16;
  while (capacity < vocab.tokens_.size() * 2) capacity *= 2;
  vocab.table_.assign(capacity, 0);
  vocab.table_mask_ = capacity - 1;
  vocab.checksum_ = 0xCBF29CE484222325ull;
  const int64_t n = vocab.size();
  for (int64_t i = 0; i < n; ++i) {
    const std::string& token = vocab.tokens_[i];
    vocab.checksum_ = fnv1a64(token, vocab.checksum_);
    vocab.checksum_ = fnv1a64("\n", vocab.checksum_);
    // A duplicated line maps to its last id, as the Hugging Face loaders (a dict filled line by
    // line) do.
    uint64_t slot = fnv1a64(token) & vocab.table_mask_;
    while (true) {
      int32_t entry = vocab.table_[slot];
      if (entry == 0) {
        vocab.table_[slot] = static_cast<int32_t>(i + 1);
        break;
      }
      if (vocab.tokens_[entry - 1] == token) {
        vocab.table_[slot] = static_cast<int32_t>(i + 1);
        break;
      }
      slot = (slot + 1) & vocab.table_mask_;
    }
  }

  auto require = [&](const char* name) {
    int32_t id = vocab.id(name);
    FQ_CHECK(id >= 0, "vocab: " << source << " has no " << name
                                << " token; a BERT vocab.txt must contain [PAD] [UNK] [CLS] [SEP] "
                                   "[MASK], one per line");
    return id;
  };
  vocab.pad_id_ = require("[PAD]");
  vocab.unk_id_ = require("[UNK]");
  vocab.cls_id_ = require("[CLS]");
  vocab.sep_id_ = require("[SEP]");
  vocab.mask_id_ = require("[MASK]");

  vocab.special_.assign(n, 0);
  for (int64_t i = 0; i < n; ++i) {
    const std::string& t = vocab.tokens_[i];
    bool bracketed = t.size() >= 3 && t.front() == '[' && t.back() == ']';
    if (bracketed) {
      vocab.special_[i] = 1;
      vocab.special_ids_.push_back(static_cast<int32_t>(i));
    } else {
      vocab.non_special_ids_.push_back(static_cast<int32_t>(i));
    }
  }
  FQ_CHECK(!vocab.non_special_ids_.empty(),
           "vocab: " << source << " contains only special tokens; add ordinary tokens");
  return vocab;
}

const std::string& Vocab::token(int32_t id) const {
  FQ_CHECK(id >= 0 && id < size(),
           "vocab: id " << id << " out of range [0, " << size() << ") of " << source_);
  return tokens_[id];
}

int32_t Vocab::id(std::string_view token) const {
  if (table_.empty()) return -1;
  uint64_t slot = fnv1a64(token) & table_mask_;
  while (true) {
    int32_t entry = table_[slot];
    if (entry == 0) return -1;
    if (tokens_[entry - 1] == token) return entry - 1;
    slot = (slot + 1) & table_mask_;
  }
}

bool Vocab::is_special(int32_t id) const {
  return id >= 0 && id < size() && special_[id] != 0;
}

}  // namespace fq
