// BERT WordPiece tokenizer with the behaviour of Hugging Face BertTokenizerFast on the same
// vocab.txt (tokenizers' BertNormalizer, BertPreTokenizer and WordPiece):
//   1. special tokens typed in the text ([MASK], [unused7], any bracketed vocab entry) are
//      matched on the raw text and kept whole;
//   2. cleaning drops NUL, U+FFFD and control characters (general category C* except \t \n \r)
//      and maps White_Space characters to a space;
//   3. every CJK ideograph becomes a word of its own;
//   4. when lowercasing: NFD, drop nonspacing marks (Mn), lowercase;
//   5. words split on spaces, and every punctuation character (printable ASCII that is not a
//      letter or digit, plus Unicode P*) is a word of its own;
//   6. greedy longest-match WordPiece with "##" continuation pieces; a word of more than 100
//      code points, or one that cannot be covered, becomes [UNK].
// Invalid UTF-8 is replaced by U+FFFD (so dropped) and counted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data/vocab.h"

namespace fq {

struct TokenizerStats {
  int64_t bytes = 0;
  int64_t tokens = 0;
  int64_t unk_tokens = 0;
  int64_t invalid_utf8 = 0;  // invalid byte sequences replaced by U+FFFD
};

// A word of the basic (pre-WordPiece) step. CJK ideographs and punctuation are one-character
// words.
struct BasicWord {
  std::string_view text;  // normalized UTF-8; valid until the next callback returns
  bool is_special = false;  // a bracketed vocab entry typed in the text
  bool is_cjk = false;      // one CJK ideograph
  int64_t source_offset = 0;  // byte offset in the input text where the word starts
};

class Tokenizer {
 public:
  // Keeps a reference to `vocab`, which must outlive the tokenizer.
  Tokenizer(const Vocab& vocab, bool lowercase);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  std::vector<int32_t> encode(std::string_view text) const;

  // Appends the ids of `text` to `ids` and updates `stats` when given. When `word_starts` is
  // given, appends one flag per id: 1 when the token starts a whole-masking word (a token that is
  // not a "##" piece), 0 otherwise. For CJK ideographs `cjk_word_breaks` (sorted byte offsets of
  // `text` where a segmentation puts a word boundary) decides: an ideograph continues the word
  // of the ideograph before it unless its offset is a boundary. Without it every ideograph starts
  // a word.
  void encode_into(std::string_view text, std::vector<int32_t>& ids, TokenizerStats* stats,
                   std::vector<uint8_t>* word_starts = nullptr,
                   const std::vector<int64_t>* cjk_word_breaks = nullptr) const;

  const Vocab& vocab() const;
  bool lowercase() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs steps 1-5 (everything before WordPiece) over `text` and calls `on_word` for each word.
// `lowercase` as in Tokenizer; `vocab` supplies the bracketed special tokens (may be null: then
// no text is treated as a special token). Returns the number of invalid UTF-8 sequences.
int64_t basic_tokenize(std::string_view text, bool lowercase, const Vocab* vocab,
                       const std::function<void(const BasicWord&)>& on_word);

// True for the code points BERT treats as CJK ideographs (CJK Unified Ideographs, Extensions A
// to E, CJK Compatibility Ideographs and their Supplement), the ranges of the original BERT
// tokenizer's _is_chinese_char.
// NOTE: the Rust `tokenizers` normalizer (normalizers/bert.rs) starts the Extension E range at
// U+2B920 instead of U+2B820, so for the 256 rare ideographs U+2B820..U+2B91F BertTokenizerFast
// keeps them inside the surrounding word while this tokenizer splits them off.
inline bool is_cjk_ideograph(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Decodes one UTF-8 code point at text[pos]. Returns the code point and sets `length` to the
// bytes consumed; an invalid or truncated sequence returns U+FFFD with `length` = bytes of the
// maximal invalid subpart (at least 1), as the WHATWG / Unicode replacement practice does.
uint32_t decode_utf8(std::string_view text, size_t pos, int* length);

// Writes the UTF-8 encoding of `c` to out[0..4) and returns its length in bytes.
int encode_utf8(uint32_t c, char* out);

// Appends the UTF-8 encoding of `c` to `out`.
void append_utf8(std::string& out, uint32_t c);

}  // namespace fq
