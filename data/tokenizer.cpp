// BERT basic tokenization and WordPiece. The hot loop decodes UTF-8 itself and classifies each
// code point through a table built once from ICU (general category, White_Space, NFD, lowercase),
// so ICU is called per character only for code points outside the Basic Multilingual Plane.
#include "data/tokenizer.h"

#include <algorithm>
#include <mutex>

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "core/check.h"

namespace fq {

// ---- UTF-8 ----

uint32_t decode_utf8(std::string_view text, size_t pos, int* length) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  unsigned char b0 = s[pos];
  if (b0 < 0x80) {
    *length = 1;
    return b0;
  }
  int need;
  uint32_t c;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    c = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    c = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    *length = 1;
    return 0xFFFD;
  }
  for (int k = 1; k <= need; ++k) {
    if (pos + k >= n) {
      *length = k;
      return 0xFFFD;
    }
    unsigned char b = s[pos + k];
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) {
      *length = k;
      return 0xFFFD;
    }
    c = (c << 6) | (b & 0x3F);
  }
  *length = need + 1;
  return c;
}

int encode_utf8(uint32_t c, char* out) {
  if (c < 0x80) {
    out[0] = static_cast<char>(c);
    return 1;
  }
  if (c < 0x800) {
    out[0] = static_cast<char>(0xC0 | (c >> 6));
    out[1] = static_cast<char>(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (c >> 12));
    out[1] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (c >> 18));
  out[1] = static_cast<char>(0x80 | ((c >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (c & 0x3F));
  return 4;
}

void append_utf8(std::string& out, uint32_t c) {
  char bytes[4];
  out.append(bytes, encode_utf8(c, bytes));
}

namespace {

// ---- character classes ----

enum class CharKind : uint8_t {
  kSkip,   // removed without splitting the word (NUL, U+FFFD, controls, or Mn when lowercasing)
  kSpace,  // White_Space: ends the current word
  kCjk,    // a CJK ideograph: a word of its own
  kPunct,  // punctuation: a one-character word (after normalization)
  kWord,   // appended to the current word (after normalization)
  kMulti,  // normalizes to several code points; see CharEntry::pool_offset
};

// Handling of one input code point. For kWord and kPunct the normalized character's UTF-8 is
// in utf8[0..utf8_len). For kMulti the normalized code points are pool[pool_offset ..
// pool_offset + pool_len), each with kPunctBit set when it is punctuation.
struct CharEntry {
  CharKind kind = CharKind::kSkip;
  uint8_t utf8_len = 0;
  char utf8[4] = {0, 0, 0, 0};
  uint32_t pool_offset = 0;
  uint32_t pool_len = 0;
};

constexpr uint32_t kPunctBit = 0x80000000u;

// Punctuation as the BERT pre-tokenizer defines it: printable ASCII that is neither a letter,
// a digit nor a space, plus every Unicode P* category.
bool is_punctuation(uint32_t c) {
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  }
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_P_MASK) != 0;
}

// Removed by cleaning: NUL, U+FFFD and general category C* (Cc, Cf, Cs, Co, Cn) except \t \n \r,
// which count as whitespace.
bool is_removed(uint32_t c) {
  if (c == 0 || c == 0xFFFD) return true;
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_C_MASK) != 0;
}

bool is_whitespace(uint32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || u_isUWhiteSpace(static_cast<UChar32>(c));
}

// The normalized code points of `c` when lowercasing: NFD, drop Mn, lowercase each.
// NOTE: the decomposition is per character, without canonical reordering across neighbouring
// characters; reordering only moves combining marks with nonzero combining class, which are
// almost all Mn and dropped here anyway.
void lowercase_normalize(uint32_t c, std::vector<uint32_t>& out) {
  out.clear();
  UErrorCode status = U_ZERO_ERROR;
  static const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  FQ_INTERNAL(U_SUCCESS(status), "ICU NFD normalizer unavailable: " << u_errorName(status));
  icu::UnicodeString decomposition;
  std::vector<uint32_t> parts;
  if (nfd->getDecomposition(static_cast<UChar32>(c), decomposition)) {
    for (int32_t i = 0; i < decomposition.length();) {
      UChar32 d = decomposition.char32At(i);
      parts.push_back(static_cast<uint32_t>(d));
      i += U16_LENGTH(d);
    }
  } else {
    parts.push_back(c);
  }
  for (uint32_t d : parts) {
    if (u_charType(static_cast<UChar32>(d)) == U_NON_SPACING_MARK) continue;
    // Simple (one-to-one) lowercase mapping. The only unconditional one-to-many lowercase
    // mapping is U+0130, which NFD has already split into I + U+0307.
    out.push_back(static_cast<uint32_t>(u_tolower(static_cast<UChar32>(d))));
  }
}

class CharTable {
 public:
  explicit CharTable(bool lowercase) : lowercase_(lowercase), entries_(0x10000) {
    std::vector<uint32_t> normalized;
    for (uint32_t c = 0; c < 0x10000; ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;  // surrogates never come out of decode_utf8
      entries_[c] = classify(c, normalized, pool_);
    }
  }

  // Entry of code point `c` computed on the spot (for code points outside the table). A kMulti
  // entry refers to `pool`, which is cleared first.
  CharEntry classify_slow(uint32_t c, std::vector<uint32_t>& pool) const {
    std::vector<uint32_t> normalized;
    pool.clear();
    return classify(c, normalized, pool);
  }

  const CharEntry& operator[](uint32_t c) const { return entries_[c]; }
  const uint32_t* pool() const { return pool_.data(); }

 private:
  CharEntry classify(uint32_t c, std::vector<uint32_t>& normalized,
                     std::vector<uint32_t>& pool) const {
    CharEntry entry;
    if (is_removed(c)) {
      entry.kind = CharKind::kSkip;
      return entry;
    }
    if (is_whitespace(c)) {
      entry.kind = CharKind::kSpace;
      return entry;
    }
    if (is_cjk_ideograph(c)) {
      // CJK compatibility ideographs decompose under NFD to a unified ideograph, which is what
      // the lowercasing (accent-stripping) tokenizer looks up.
      entry.kind = CharKind::kCjk;
      uint32_t d = c;
      if (lowercase_) {
        lowercase_normalize(c, normalized);
        if (normalized.size() == 1) d = normalized[0];
      }
      entry.utf8_len = static_cast<uint8_t>(encode_utf8(d, entry.utf8));
      return entry;
    }
    if (lowercase_) {
      lowercase_normalize(c, normalized);
    } else {
      normalized.assign(1, c);
    }
    if (normalized.empty()) {
      entry.kind = CharKind::kSkip;
      return entry;
    }
    if (normalized.size() == 1) {
      uint32_t d = normalized[0];
      entry.kind = is_punctuation(d) ? CharKind::kPunct : CharKind::kWord;
      entry.utf8_len = static_cast<uint8_t>(encode_utf8(d, entry.utf8));
      return entry;
    }
    entry.kind = CharKind::kMulti;
    entry.pool_offset = static_cast<uint32_t>(pool.size());
    entry.pool_len = static_cast<uint32_t>(normalized.size());
    for (uint32_t d : normalized) pool.push_back(d | (is_punctuation(d) ? kPunctBit : 0u));
    return entry;
  }

  bool lowercase_;
  std::vector<CharEntry> entries_;
  std::vector<uint32_t> pool_;
};

// One table per lowercase setting, built on first use and shared by every tokenizer.
const CharTable& char_table(bool lowercase) {
  static std::once_flag once[2];
  static std::unique_ptr<CharTable> tables[2];
  int k = lowercase ? 1 : 0;
  std::call_once(once[k], [&] { tables[k] = std::make_unique<CharTable>(lowercase); });
  return *tables[k];
}

enum class WordKind { kText, kCjk, kSpecial };

// Matches a bracketed special token of `vocab` at text[pos] (which is '['), leftmost-longest.
// Returns its byte length, or 0.
size_t match_special(std::string_view text, size_t pos, const Vocab& vocab, size_t max_len,
                     int32_t* id) {
  size_t best = 0;
  size_t limit = std::min(text.size(), pos + max_len);
  for (size_t end = pos + 2; end < limit; ++end) {
    if (text[end] != ']') continue;
    int32_t found = vocab.id(text.substr(pos, end + 1 - pos));
    if (found >= 0 && vocab.is_special(found)) {
      best = end + 1 - pos;
      *id = found;
    }
  }
  return best;
}

size_t max_special_length(const Vocab* vocab) {
  size_t longest = 0;
  if (vocab) {
    for (int32_t id : vocab->special_ids()) longest = std::max(longest, vocab->token(id).size());
  }
  return longest;
}

// The basic tokenizer: calls on_word(text, kind, source_offset, code_points, special_id) for each
// word. Returns the count of invalid UTF-8 sequences.
template <typename F>
int64_t run_basic(std::string_view text, const CharTable& table, const Vocab* vocab,
                  size_t max_special, std::string& word, F&& on_word) {
  int64_t invalid = 0;
  word.clear();
  int64_t word_offset = 0;
  int64_t word_chars = 0;
  std::vector<uint32_t> slow_pool;
  char one[4];

  auto flush = [&]() {
    if (!word.empty()) {
      on_word(std::string_view(word), WordKind::kText, word_offset, word_chars, -1);
      word.clear();
    }
    word_chars = 0;
  };
  auto add_char = [&](const char* bytes, size_t len, bool punct, int64_t offset) {
    if (punct) {
      flush();
      on_word(std::string_view(bytes, len), WordKind::kText, offset, 1, -1);
      return;
    }
    if (word.empty()) word_offset = offset;
    word.append(bytes, len);
    ++word_chars;
  };

  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    unsigned char b = static_cast<unsigned char>(text[pos]);
    if (b == '[' && max_special > 0) {
      int32_t id = -1;
      size_t len = match_special(text, pos, *vocab, max_special, &id);
      if (len > 0) {
        flush();
        on_word(text.substr(pos, len), WordKind::kSpecial, static_cast<int64_t>(pos), 1, id);
        pos += len;
        continue;
      }
    }
    uint32_t c;
    int length;
    if (b < 0x80) {
      c = b;
      length = 1;
    } else {
      c = decode_utf8(text, pos, &length);
      // A replacement for invalid bytes is never 3 bytes long from a lead byte 0xEF, so this
      // skips a literal U+FFFD in the input.
      if (c == 0xFFFD && !(length == 3 && b == 0xEF)) ++invalid;
    }
    const int64_t offset = static_cast<int64_t>(pos);
    pos += length;

    CharEntry slow;
    const CharEntry* entry;
    const uint32_t* pool;
    if (c < 0x10000) {
      entry = &table[c];
      pool = table.pool();
    } else {
      slow = table.classify_slow(c, slow_pool);
      entry = &slow;
      pool = slow_pool.data();
    }
    switch (entry->kind) {
      case CharKind::kSkip:
        break;
      case CharKind::kSpace:
        flush();
        break;
      case CharKind::kCjk:
        flush();
        on_word(std::string_view(entry->utf8, entry->utf8_len), WordKind::kCjk, offset, 1, -1);
        break;
      case CharKind::kPunct:
      case CharKind::kWord:
        add_char(entry->utf8, entry->utf8_len, entry->kind == CharKind::kPunct, offset);
        break;
      case CharKind::kMulti:
        for (uint32_t k = 0; k < entry->pool_len; ++k) {
          uint32_t d = pool[entry->pool_offset + k];
          int len = encode_utf8(d & ~kPunctBit, one);
          add_char(one, len, (d & kPunctBit) != 0, offset);
        }
        break;
    }
  }
  flush();
  return invalid;
}

}  // namespace

int64_t basic_tokenize(std::string_view text, bool lowercase, const Vocab* vocab,
                       const std::function<void(const BasicWord&)>& on_word) {
  std::string word;
  return run_basic(text, char_table(lowercase), vocab, max_special_length(vocab), word,
                   [&](std::string_view w, WordKind kind, int64_t offset, int64_t, int32_t) {
                     BasicWord basic;
                     basic.text = w;
                     basic.is_special = kind == WordKind::kSpecial;
                     basic.is_cjk = kind == WordKind::kCjk;
                     basic.source_offset = offset;
                     on_word(basic);
                   });
}

// ---- Tokenizer ----

struct Tokenizer::Impl {
  const Vocab* vocab;
  bool lowercase;
  const CharTable* table;
  size_t max_special;
  size_t max_token_bytes = 0;  // maximum vocab entry length in bytes, "##" included
  // Id of each BMP CJK ideograph (index c - kCjkBase), -1 when absent from the vocab.
  static constexpr uint32_t kCjkBase = 0x3400;
  std::vector<int32_t> cjk_ids;

  static constexpr int64_t kMaxWordChars = 100;

  // Greedy longest-match-first WordPiece of one word; appends ids and word-start flags.
  // `buffer` is scratch space reused across calls.
  void wordpiece(std::string_view word, int64_t chars, std::vector<int32_t>& ids,
                 std::vector<uint8_t>* starts, std::string& buffer,
                 std::vector<int32_t>& pieces, TokenizerStats* stats) const {
    if (chars > kMaxWordChars) {
      emit_unk(ids, starts, stats);
      return;
    }
    int32_t whole = vocab->id(word);
    if (whole >= 0) {
      ids.push_back(whole);
      if (starts) starts->push_back(1);
      return;
    }
    // buffer = "##" + word. A piece starting at s > 0 is looked up as buffer[s .. e + 2) after
    // writing "##" over buffer[s], buffer[s + 1] (the bytes of word[s - 2 .. s), already used).
    buffer.assign("##");
    buffer.append(word);
    pieces.clear();
    const size_t n = word.size();
    size_t start = 0;
    while (start < n) {
      const size_t prefix = start > 0 ? 2 : 0;
      const char* base = start > 0 ? buffer.data() + start : word.data();
      if (start > 0) {
        buffer[start] = '#';
        buffer[start + 1] = '#';
      }
      size_t end = std::min(n, start + max_token_bytes);
      int32_t found = -1;
      while (end > start) {
        // Only cut at code point boundaries.
        if (end < n && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) {
          --end;
          continue;
        }
        found = vocab->id(std::string_view(base, end - start + prefix));
        if (found >= 0) break;
        --end;
      }
      if (found < 0) {
        emit_unk(ids, starts, stats);
        return;
      }
      pieces.push_back(found);
      start = end;
    }
    for (size_t k = 0; k < pieces.size(); ++k) {
      ids.push_back(pieces[k]);
      if (starts) starts->push_back(k == 0 ? 1 : 0);
    }
  }

  void emit_unk(std::vector<int32_t>& ids, std::vector<uint8_t>* starts,
                TokenizerStats* stats) const {
    ids.push_back(vocab->unk_id());
    if (starts) starts->push_back(1);
    if (stats) ++stats->unk_tokens;
  }

  int32_t cjk_id(std::string_view bytes) const {
    int length;
    uint32_t c = decode_utf8(bytes, 0, &length);
    if (c >= kCjkBase && c < 0x10000 && is_cjk_ideograph(c)) return cjk_ids[c - kCjkBase];
    return vocab->id(bytes);
  }
};

Tokenizer::Tokenizer(const Vocab& vocab, bool lowercase) : impl_(std::make_unique<Impl>()) {
  impl_->vocab = &vocab;
  impl_->lowercase = lowercase;
  impl_->table = &char_table(lowercase);
  impl_->max_special = max_special_length(&vocab);
  for (int64_t i = 0; i < vocab.size(); ++i) {
    impl_->max_token_bytes =
        std::max(impl_->max_token_bytes, vocab.token(static_cast<int32_t>(i)).size());
  }
  // Indexed by the normalized ideograph that the basic step hands over.
  impl_->cjk_ids.assign(0x10000 - Impl::kCjkBase, -1);
  std::string bytes;
  for (uint32_t c = Impl::kCjkBase; c < 0x10000; ++c) {
    if (!is_cjk_ideograph(c)) continue;
    bytes.clear();
    append_utf8(bytes, c);
    impl_->cjk_ids[c - Impl::kCjkBase] = vocab.id(bytes);
  }
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;

const Vocab& Tokenizer::vocab() const { return *impl_->vocab; }
bool Tokenizer::lowercase() const { return impl_->lowercase; }

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  encode_into(text, ids, nullptr);
  return ids;
}

void Tokenizer::encode_into(std::string_view text, std::vector<int32_t>& ids,
                            TokenizerStats* stats, std::vector<uint8_t>* word_starts,
                            const std::vector<int64_t>* cjk_word_breaks) const {
  const Impl& impl = *impl_;
  const size_t first_token = ids.size();
  // Scratch buffers live per thread so that encode stays const and allocation-free in steady
  // state.
  thread_local std::string word;
  thread_local std::string buffer;
  thread_local std::vector<int32_t> pieces;
  bool previous_cjk = false;
  size_t next_break = 0;

  int64_t invalid = run_basic(
      text, *impl.table, impl.vocab, impl.max_special, word,
      [&](std::string_view w, WordKind kind, int64_t offset, int64_t chars, int32_t special_id) {
        if (kind == WordKind::kSpecial) {
          ids.push_back(special_id);
          if (word_starts) word_starts->push_back(1);
          previous_cjk = false;
          return;
        }
        if (kind == WordKind::kCjk) {
          int32_t id = impl.cjk_id(w);
          bool start = true;
          if (cjk_word_breaks && previous_cjk) {
            const auto& breaks = *cjk_word_breaks;
            while (next_break < breaks.size() && breaks[next_break] < offset) ++next_break;
            start = next_break < breaks.size() && breaks[next_break] == offset;
          }
          if (id < 0) {
            ids.push_back(impl.vocab->unk_id());
            if (stats) ++stats->unk_tokens;
          } else {
            ids.push_back(id);
          }
          if (word_starts) word_starts->push_back(start ? 1 : 0);
          previous_cjk = true;
          return;
        }
        impl.wordpiece(w, chars, ids, word_starts, buffer, pieces, stats);
        previous_cjk = false;
      });

  if (stats) {
    stats->bytes += static_cast<int64_t>(text.size());
    stats->tokens += static_cast<int64_t>(ids.size() - first_token);
    stats->invalid_utf8 += invalid;
  }
}

}  // namespace fq
