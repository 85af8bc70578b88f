// Builds a WordPiece vocab.txt from a corpus.
//
// Algorithm (deterministic; ties are broken by byte order of the token):
//   1. Run the basic tokenizer (cleaning, CJK split, optional lowercasing, punctuation split) and
//      count every word.
//   2. Reserve [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4.
//   3. Add every character seen: a character at the start of a word as itself, one inside a word
//      as "##" + character (CJK ideographs are always whole words, so only the plain form).
//      Characters are ranked by how often they occur; when they do not all fit, the rarest
//      are left out and become [UNK].
//   4. Fill the remaining entries with multi-character candidates: whole words, word prefixes
//      and "##" suffixes of 2 to 10 characters, each scored by the characters it saves,
//      frequency * (length - 1) summed over the words that contain it; candidates that occur
//      fewer than 2 times are skipped.
// This is a frequency heuristic, not the likelihood-driven WordPiece training of the original
// BERT vocabularies; it covers every character of the corpus that fits, so [UNK] stays rare.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fq {

struct VocabBuildReport {
  std::vector<std::string> tokens;  // in id order
  int64_t documents = 0;
  int64_t words = 0;              // basic-tokenizer words counted
  int64_t distinct_chars = 0;     // distinct character forms (plain and "##") seen
  int64_t chars_included = 0;     // of those, how many made it into the vocab
  int64_t corpus_tokens = 0;      // WordPiece tokens of the corpus under the new vocab
  int64_t corpus_unk_tokens = 0;  // of which [UNK]
  int64_t invalid_utf8 = 0;
};

// Builds a vocab of at most `size` entries (at least 6) from the documents of `files`.
// Throws when the files hold no document.
VocabBuildReport build_vocab(const std::vector<std::string>& files, const std::string& separator,
                             bool lowercase, int64_t size);

// Writes tokens one per line, atomically.
void write_vocab(const std::string& path, const std::vector<std::string>& tokens);

}  // namespace fq
