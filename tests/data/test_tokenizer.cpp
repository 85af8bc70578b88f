// Tokenizer: each expected output below is derived by hand from the BERT rules (cleaning, CJK
// split, lowercasing with accent stripping, punctuation split, special tokens, WordPiece); the
// comment on each test names the rule it exercises.
#include <gtest/gtest.h>

#include "data/tokenizer.h"
#include "data/vocab.h"
#include "tests/data/data_test_util.h"

namespace fq {
namespace {

using testing_data::TempDir;
using testing_data::write_file;

const std::vector<std::string> kTokens = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused7]", "hello", "world", ",", "!",
    "un", "##aff", "##able", "我", "爱", "北", "京", "cafe", "naive", "Café",
    "ａｂ", "！", "😀", "hi", "a", "##a", "+", "b", "é", "##é",
    "[", "]", "mask", "𠀀", "\u8C48", "\uF900", "helloworld", "5€", "©", "Hello",
    "中", "ab", "\u00BF", "ς", "σ", "'", "s", "don", "t", "1",
    "한", "\u1112\u1161\u11AB",
};

class TokenizerTest : public ::testing::Test {
 protected:
  TokenizerTest() : vocab_(Vocab::from_tokens(kTokens, "test vocab")) {}

  std::vector<int32_t> ids(const std::vector<std::string>& tokens) const {
    std::vector<int32_t> out;
    for (const std::string& t : tokens) {
      int32_t id = vocab_.id(t);
      EXPECT_GE(id, 0) << "token \"" << t << "\" is not in the test vocab";
      out.push_back(id);
    }
    return out;
  }
  std::vector<int32_t> lower(const std::string& text) const {
    return Tokenizer(vocab_, true).encode(text);
  }
  std::vector<int32_t> cased(const std::string& text) const {
    return Tokenizer(vocab_, false).encode(text);
  }

  Vocab vocab_;
};

// CJK ideographs are words of their own, with or without spaces between them.
TEST_F(TokenizerTest, ChineseSplitsPerIdeograph) {
  EXPECT_EQ(lower("我爱北京"), ids({"我", "爱", "北", "京"}));
  EXPECT_EQ(lower("我 爱\u3000北京"), ids({"我", "爱", "北", "京"}));
  EXPECT_EQ(lower("我爱东京"), ids({"我", "爱", "[UNK]", "京"}));  // 东 not in vocab
}

// Lowercasing, punctuation split, greedy longest-match WordPiece with ## pieces.
TEST_F(TokenizerTest, EnglishWordsAndPieces) {
  EXPECT_EQ(lower("Hello, World!"), ids({"hello", ",", "world", "!"}));
  EXPECT_EQ(lower("unaffable"), ids({"un", "##aff", "##able"}));
  // A word that cannot be covered entirely becomes one [UNK], not partial pieces.
  EXPECT_EQ(lower("unaffablex"), ids({"[UNK]"}));
  // ASCII ' is punctuation: don't -> don ' t.
  EXPECT_EQ(lower("Don't"), ids({"don", "'", "t"}));
}

// Scripts change without spaces: CJK ideographs split off, Latin letters stay one word.
TEST_F(TokenizerTest, MixedScriptsWithoutSpaces) {
  EXPECT_EQ(lower("hello我world"), ids({"hello", "我", "world"}));
  EXPECT_EQ(lower("Hello中a+b"), ids({"hello", "中", "a", "+", "b"}));
  EXPECT_EQ(lower("a𠀀b"), ids({"a", "𠀀", "b"}));  // supplementary-plane ideograph (Ext. B)
}

// Lowercasing strips accents (NFD, drop Mn); without it case and accents stay.
TEST_F(TokenizerTest, AccentsWithLowercasingOnAndOff) {
  EXPECT_EQ(lower("Café NAÏVE"), ids({"cafe", "naive"}));
  EXPECT_EQ(lower("Cafe\u0301"), ids({"cafe"}));  // a combining acute (Mn) is dropped too
  EXPECT_EQ(cased("Café"), ids({"Café"}));
  EXPECT_EQ(cased("CAFE"), ids({"[UNK]"}));  // no uppercase entry covers it
  EXPECT_EQ(cased("Hello"), ids({"Hello"}));
  EXPECT_EQ(cased("éé"), ids({"é", "##é"}));
  // Cased mode does no normalization: a decomposed é does not match the precomposed one.
  EXPECT_EQ(cased("e\u0301"), ids({"[UNK]"}));
  // NFD also splits Hangul syllables into conjoining jamo (which are letters, not Mn).
  EXPECT_EQ(lower("한"), ids({"\u1112\u1161\u11AB"}));
  EXPECT_EQ(cased("한"), ids({"한"}));
  // Final sigma lowercases to σ (context-free mapping), not ς.
  EXPECT_EQ(lower("Σ"), ids({"σ"}));
}

// Full-width letters are letters (lowercased to full-width ａｂ, no NFKC folding); full-width !
// is Unicode punctuation.
TEST_F(TokenizerTest, FullWidthForms) {
  EXPECT_EQ(lower("ＡＢ！"), ids({"ａｂ", "！"}));
  EXPECT_EQ(cased("ａｂ！"), ids({"ａｂ", "！"}));
  // A CJK compatibility ideograph is replaced by its NFD form (U+8C48) when lowercasing only.
  EXPECT_EQ(lower("\uF900"), ids({"\u8C48"}));
  EXPECT_EQ(cased("\uF900"), ids({"\uF900"}));
}

// Symbols (So, Sc) are not punctuation, so they stay inside words; ASCII + is punctuation.
TEST_F(TokenizerTest, EmojiAndSymbols) {
  EXPECT_EQ(lower("😀 hi"), ids({"😀", "hi"}));
  EXPECT_EQ(lower("hi😀"), ids({"[UNK]"}));  // one word "hi😀"; no "##😀" piece
  EXPECT_EQ(lower("5€"), ids({"5€"}));
  EXPECT_EQ(lower("©"), ids({"©"}));
  EXPECT_EQ(lower("a+b"), ids({"a", "+", "b"}));
  // ¿ (U+00BF) is Po: a word of its own even between letters.
  EXPECT_EQ(lower("a\u00BFb"), ids({"a", "\u00BF", "b"}));
}

// Format characters (Cf: zero-width space, joiner, BOM, soft hyphen) are removed without
// splitting the word.
TEST_F(TokenizerTest, ZeroWidthAndFormatCharactersAreRemoved) {
  EXPECT_EQ(lower("hel\u200Blo"), ids({"hello"}));
  EXPECT_EQ(lower("hel\u200Dlo"), ids({"hello"}));
  EXPECT_EQ(lower("\uFEFFhello"), ids({"hello"}));
  EXPECT_EQ(lower("hel\u00ADlo"), ids({"hello"}));
}

// Control characters (Cc other than \t \n \r) are removed without splitting the word, including
// vertical tab, form feed and NEL, which BERT drops before mapping whitespace.
TEST_F(TokenizerTest, ControlCharactersAreRemoved) {
  EXPECT_EQ(lower(std::string("hel\x01lo")), ids({"hello"}));
  EXPECT_EQ(lower(std::string("hello\x0Bworld")), ids({"helloworld"}));
  EXPECT_EQ(lower(std::string("hello\x0Cworld")), ids({"helloworld"}));
  EXPECT_EQ(lower("hello\u0085world"), ids({"helloworld"}));
  EXPECT_EQ(lower(std::string("hel\0lo", 6)), ids({"hello"}));  // NUL
  EXPECT_EQ(lower("hel\uFFFDlo"), ids({"hello"}));               // a literal U+FFFD
}

// \t \r \n and Unicode White_Space (Zs, U+2028) separate words.
TEST_F(TokenizerTest, TabsAndLineBreaksSeparateWords) {
  EXPECT_EQ(lower("hello\tworld\r\n"), ids({"hello", "world"}));
  EXPECT_EQ(lower("hello\rworld"), ids({"hello", "world"}));
  EXPECT_EQ(lower("hello\u00A0world"), ids({"hello", "world"}));  // no-break space
  EXPECT_EQ(lower("hello\u2028world"), ids({"hello", "world"}));  // line separator
  EXPECT_EQ(lower(" \t\r\n "), ids({}));
}

// A word of more than 100 code points is one [UNK]; 100 is still split into pieces.
TEST_F(TokenizerTest, WordsOverHundredCodePointsBecomeUnk) {
  std::vector<std::string> expected(100, "##a");
  expected[0] = "a";
  EXPECT_EQ(lower(std::string(100, 'a')), ids(expected));
  EXPECT_EQ(lower(std::string(101, 'a')), ids({"[UNK]"}));
  // The limit counts code points, not bytes: 60 é are 120 bytes.
  std::string accents;
  for (int i = 0; i < 60; ++i) accents += "é";
  EXPECT_EQ(cased(accents).size(), 60u);
  std::string too_long;
  for (int i = 0; i < 101; ++i) too_long += "é";
  EXPECT_EQ(cased(too_long), ids({"[UNK]"}));
}

// Bracketed vocab entries typed in the text are matched on the raw text and kept whole, even
// glued to CJK or Latin text; a lowercase [mask] is ordinary text.
TEST_F(TokenizerTest, SpecialTokensTypedInText) {
  EXPECT_EQ(lower("我[MASK]京"), ids({"我", "[MASK]", "京"}));
  EXPECT_EQ(lower("hello[MASK]world"), ids({"hello", "[MASK]", "world"}));
  EXPECT_EQ(lower("[unused7]"), ids({"[unused7]"}));
  EXPECT_EQ(lower("[mask]"), ids({"[", "mask", "]"}));
  EXPECT_EQ(lower("[MASK"), ids({"[", "mask"}));
  EXPECT_EQ(lower("[CLS][SEP]"), ids({"[CLS]", "[SEP]"}));
}

// Invalid UTF-8 is replaced by U+FFFD (then dropped) and counted, one per maximal invalid
// subpart.
TEST_F(TokenizerTest, InvalidUtf8IsDroppedAndCounted) {
  Tokenizer tokenizer(vocab_, true);
  struct Case {
    std::string text;
    std::vector<std::string> tokens;
    int64_t invalid;
  };
  const std::vector<Case> cases = {
      {"hel\xFFlo", {"hello"}, 1},
      {"hello\xE6\x88", {"hello"}, 1},          // truncated 3-byte sequence at the end
      {"hel\xC0\xAFlo", {"hello"}, 2},          // overlong: C0 and AF are each invalid
      {"hel\xED\xA0\x80lo", {"hello"}, 3},      // encoded surrogate: three invalid bytes
      {"\xE6\x88\x91\x80", {"我"}, 1},          // stray continuation byte after 我
      {"hel\xEF\xBF\xBDlo", {"hello"}, 0},      // a literal U+FFFD is valid input
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<int32_t> got;
    TokenizerStats stats;
    tokenizer.encode_into(cases[i].text, got, &stats);
    EXPECT_EQ(got, ids(cases[i].tokens)) << "case " << i;
    EXPECT_EQ(stats.invalid_utf8, cases[i].invalid) << "case " << i;
  }
}

// Word-start flags: a ## piece continues its word; CJK ideographs continue the previous
// ideograph unless a segmentation boundary sits at their byte offset.
TEST_F(TokenizerTest, WordStartFlags) {
  Tokenizer tokenizer(vocab_, true);
  std::vector<int32_t> got;
  std::vector<uint8_t> starts;
  tokenizer.encode_into("unaffable hello", got, nullptr, &starts);
  EXPECT_EQ(starts, (std::vector<uint8_t>{1, 0, 0, 1}));

  // "我爱北京": boundaries at byte offsets 0, 3 and 6 (words 我 | 爱 | 北京).
  got.clear();
  starts.clear();
  std::vector<int64_t> breaks = {0, 3, 6, 12};
  tokenizer.encode_into("我爱北京", got, nullptr, &starts, &breaks);
  EXPECT_EQ(starts, (std::vector<uint8_t>{1, 1, 1, 0}));

  // Without segmentation every ideograph starts a word.
  got.clear();
  starts.clear();
  tokenizer.encode_into("我爱北京", got, nullptr, &starts);
  EXPECT_EQ(starts, (std::vector<uint8_t>{1, 1, 1, 1}));
}

// Statistics count bytes, tokens and [UNK]s.
TEST_F(TokenizerTest, StatsCountTokensAndUnk) {
  Tokenizer tokenizer(vocab_, true);
  std::vector<int32_t> got;
  TokenizerStats stats;
  tokenizer.encode_into("hello 东京 xyz", got, &stats);
  EXPECT_EQ(stats.tokens, 4);
  EXPECT_EQ(stats.unk_tokens, 2);
  EXPECT_EQ(stats.bytes, 16);  // 5 + 1 + 6 + 1 + 3
}

// vocab.txt: a leading BOM and trailing \r are removed; ids are line numbers.
TEST(Vocab, LoadsCrlfAndBom) {
  TempDir dir;
  write_file(dir.file("vocab.txt"),
             "\xEF\xBB\xBF[UNK]\r\n[PAD]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nhello\r\n##lo\n");
  Vocab vocab = Vocab::load(dir.file("vocab.txt"));
  EXPECT_EQ(vocab.size(), 7);
  EXPECT_EQ(vocab.unk_id(), 0);
  EXPECT_EQ(vocab.pad_id(), 1);
  EXPECT_EQ(vocab.mask_id(), 4);
  EXPECT_EQ(vocab.id("hello"), 5);
  EXPECT_EQ(vocab.id("##lo"), 6);
  EXPECT_EQ(vocab.token(5), "hello");
  EXPECT_EQ(vocab.id("absent"), -1);
  EXPECT_TRUE(vocab.is_special(0));
  EXPECT_FALSE(vocab.is_special(5));
  // The same tokens without BOM and CR give the same checksum.
  write_file(dir.file("plain.txt"), "[UNK]\n[PAD]\n[CLS]\n[SEP]\n[MASK]\nhello\n##lo\n");
  EXPECT_EQ(Vocab::load(dir.file("plain.txt")).checksum(), vocab.checksum());
}

// A vocab without one of the five special tokens is rejected, naming the file and the token.
TEST(Vocab, MissingSpecialTokenIsAnError) {
  TempDir dir;
  write_file(dir.file("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
  try {
    Vocab::load(dir.file("vocab.txt"));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("[MASK]"), std::string::npos) << message;
    EXPECT_NE(message.find(dir.file("vocab.txt")), std::string::npos) << message;
  }
  EXPECT_THROW(Vocab::load(dir.file("absent.txt")), std::invalid_argument);
}

// Bracketed entries such as [unused7] are special; the random-replacement pool excludes them.
TEST(Vocab, BracketedEntriesAreSpecial) {
  Vocab vocab = Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]",
                                    "a", "[", "[]"},
                                   "test");
  EXPECT_TRUE(vocab.is_special(5));
  EXPECT_FALSE(vocab.is_special(7));  // a lone bracket is punctuation
  EXPECT_FALSE(vocab.is_special(8));  // "[]" has no name inside
  EXPECT_EQ(vocab.non_special_ids(), (std::vector<int32_t>{6, 7, 8}));
}

}  // namespace
}  // namespace fq
