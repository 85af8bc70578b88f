#include "data/vocab_builder.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "core/check.h"
#include "data/corpus.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "data/vocab.h"

namespace fq {

namespace {

struct Candidate {
  std::string token;
  int64_t score;
  int64_t count = 0;
};

struct PieceTally {
  int64_t score = 0;
  int64_t count = 0;
};

// Sorts by score descending, then token ascending.
void sort_candidates(std::vector<Candidate>& candidates) {
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.token < b.token;
  });
}

// Byte offsets of the code points of `word`, plus word.size() at the end.
void char_offsets(std::string_view word, std::vector<size_t>& offsets) {
  offsets.clear();
  size_t pos = 0;
  while (pos < word.size()) {
    offsets.push_back(pos);
    int length;
    decode_utf8(word, pos, &length);
    pos += length;
  }
  offsets.push_back(word.size());
}

constexpr int64_t kMaxPieceChars = 10;
constexpr int64_t kMinPieceCount = 2;
const char* const kSpecials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

}  // namespace

VocabBuildReport build_vocab(const std::vector<std::string>& files, const std::string& separator,
                             bool lowercase, int64_t size) {
  FQ_CHECK(size >= 6, "vocab: size must be at least 6 (five special tokens and one more), got "
                          << size);
  VocabBuildReport report;

  // 1. Word counts.
  std::unordered_map<std::string, int64_t> word_counts;
  CorpusStats corpus;
  for (const std::string& file : files) {
    read_documents(file, separator, [&](std::string_view document) {
      report.invalid_utf8 += basic_tokenize(document, lowercase, nullptr, [&](const BasicWord& w) {
        ++word_counts[std::string(w.text)];
        ++report.words;
      });
    }, corpus);
  }
  report.documents = corpus.documents;
  report.invalid_utf8 += corpus.invalid_utf8;
  FQ_CHECK(report.words > 0, "vocab: the corpus (" << files.size()
                                                    << " file(s)) contains no text to build a "
                                                       "vocabulary from");

  // Words in a fixed order, so that summing does not depend on hash-table iteration.
  std::vector<std::pair<std::string, int64_t>> words(word_counts.begin(), word_counts.end());
  word_counts.clear();
  std::sort(words.begin(), words.end());

  // 2-3. Characters, as plain (word-initial) or "##" forms.
  std::unordered_map<std::string, int64_t> char_counts;
  std::unordered_map<std::string, PieceTally> piece_scores;
  std::vector<size_t> offsets;
  for (const auto& [word, count] : words) {
    char_offsets(word, offsets);
    const int64_t chars = static_cast<int64_t>(offsets.size()) - 1;
    for (int64_t k = 0; k < chars; ++k) {
      std::string form = k == 0 ? "" : "##";
      form.append(word, offsets[k], offsets[k + 1] - offsets[k]);
      char_counts[form] += count;
    }
    // 4. Multi-character candidates: the whole word, prefixes and "##" suffixes.
    if (chars < 2 || chars > 100) continue;
    auto tally = [&](const std::string& piece, int64_t len) {
      PieceTally& t = piece_scores[piece];
      t.score += count * (len - 1);
      t.count += count;
    };
    tally(word, chars);
    for (int64_t len = 2; len <= std::min<int64_t>(kMaxPieceChars, chars - 1); ++len) {
      tally(word.substr(0, offsets[len]), len);
      tally("##" + word.substr(offsets[chars - len]), len);
    }
  }

  std::vector<Candidate> chars;
  chars.reserve(char_counts.size());
  for (auto& [token, count] : char_counts) chars.push_back({token, count});
  char_counts.clear();
  sort_candidates(chars);
  report.distinct_chars = static_cast<int64_t>(chars.size());

  std::vector<std::string>& tokens = report.tokens;
  for (const char* special : kSpecials) tokens.emplace_back(special);
  std::unordered_map<std::string, bool> present;
  for (const Candidate& c : chars) {
    if (static_cast<int64_t>(tokens.size()) >= size) break;
    if (c.token.size() >= 3 && c.token.front() == '[' && c.token.back() == ']') continue;
    tokens.push_back(c.token);
    present[c.token] = true;
    ++report.chars_included;
  }

  std::vector<Candidate> pieces;
  for (auto& [token, tally] : piece_scores) {
    if (present.count(token) || tally.count < kMinPieceCount) continue;
    pieces.push_back({token, tally.score, tally.count});
  }
  piece_scores.clear();
  sort_candidates(pieces);
  for (const Candidate& c : pieces) {
    if (static_cast<int64_t>(tokens.size()) >= size) break;
    if (c.token.size() >= 3 && c.token.front() == '[' && c.token.back() == ']') continue;
    tokens.push_back(c.token);
  }

  // [UNK] rate of the corpus under the new vocab, from the word counts.
  Vocab vocab = Vocab::from_tokens(tokens, "built vocabulary");
  Tokenizer tokenizer(vocab, lowercase);
  std::vector<int32_t> ids;
  for (const auto& [word, count] : words) {
    ids.clear();
    TokenizerStats stats;
    tokenizer.encode_into(word, ids, &stats);
    report.corpus_tokens += stats.tokens * count;
    report.corpus_unk_tokens += stats.unk_tokens * count;
  }
  return report;
}

void write_vocab(const std::string& path, const std::vector<std::string>& tokens) {
  std::string text;
  for (const std::string& token : tokens) {
    text.append(token);
    text.push_back('\n');
  }
  write_file_atomic(path, text);
}

}  // namespace fq
