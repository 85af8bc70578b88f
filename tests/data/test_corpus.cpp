// Corpus reading: document modes, JSON Lines, very long lines, and bad input (binary, empty,
// missing files).
#include <gtest/gtest.h>

#include "data/corpus.h"
#include "tests/data/data_test_util.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

using testing_data::TempDir;
using testing_data::WarningCapture;
using testing_data::write_file;

std::vector<std::string> read_all(const std::string& path, const std::string& separator,
                                  CorpusStats* stats_out = nullptr) {
  std::vector<std::string> documents;
  CorpusStats stats;
  read_documents(path, separator, [&](std::string_view d) { documents.emplace_back(d); }, stats);
  if (stats_out) *stats_out = stats;
  return documents;
}

using test::error_message;

// "line": every non-blank line is a document; a CR stays in the text, the last line needs no LF.
TEST(Corpus, LineModeOneDocumentPerLine) {
  TempDir dir;
  write_file(dir.file("a.txt"), "first\r\n\n  \nsecond line\nthird");
  EXPECT_EQ(read_all(dir.file("a.txt"), "line"),
            (std::vector<std::string>{"first\r", "second line", "third"}));
}

// "blank_line": documents are separated by one or more blank (whitespace-only) lines.
TEST(Corpus, BlankLineModeJoinsParagraphLines) {
  TempDir dir;
  write_file(dir.file("a.txt"), "one\ntwo\n\n \t\nthree\n\n\nfour\nfive");
  EXPECT_EQ(read_all(dir.file("a.txt"), "blank_line"),
            (std::vector<std::string>{"one\ntwo", "three", "four\nfive"}));
}

// JSON Lines: the "text" field; bad records are skipped and counted; invalid UTF-8 inside a
// record is replaced before parsing and counted.
TEST(Corpus, JsonLinesTextField) {
  TempDir dir;
  write_file(dir.file("a.jsonl"),
             "{\"text\": \"hello\\nworld\", \"id\": 1}\n"
             "not json\n"
             "{\"title\": \"no text\"}\n"
             "{\"text\": 5}\n"
             "\n"
             "{\"text\": \"bad \xFF byte\"}\n");
  WarningCapture warnings;
  CorpusStats stats;
  auto docs = read_all(dir.file("a.jsonl"), "line", &stats);
  EXPECT_EQ(docs, (std::vector<std::string>{"hello\nworld", "bad \xEF\xBF\xBD byte"}));
  EXPECT_EQ(stats.bad_json_lines, 3);
  EXPECT_EQ(stats.invalid_utf8, 1);
  EXPECT_EQ(stats.documents, 2);
  ASSERT_EQ(warnings.messages.size(), 3u);
  EXPECT_NE(warnings.messages[0].find("a.jsonl:2 is not valid JSON"), std::string::npos)
      << warnings.messages[0];
}

// A .json file holding one JSON array (not JSON Lines) is a clear error.
TEST(Corpus, JsonArrayFileIsAnError) {
  TempDir dir;
  write_file(dir.file("poems.json"), "[\n  {\"text\": \"a\"},\n  {\"text\": \"b\"}\n]\n");
  std::string message = error_message([&] { read_all(dir.file("poems.json"), "line"); });
  EXPECT_NE(message.find("JSON Lines"), std::string::npos) << message;
}

// A single 50 MB line is one document, read without error.
TEST(Corpus, FiftyMegabyteLine) {
  TempDir dir;
  std::string big(50u << 20, 'x');
  for (size_t i = 1000; i < big.size(); i += 1000) big[i] = ' ';
  write_file(dir.file("big.txt"), big + "\nsmall\n");
  std::vector<size_t> sizes;
  CorpusStats stats;
  read_documents(dir.file("big.txt"), "line", [&](std::string_view d) { sizes.push_back(d.size()); },
                 stats);
  EXPECT_EQ(sizes, (std::vector<size_t>{big.size(), 5}));
}

// A binary file (NUL bytes) or a gzip file is a clear error naming the file.
TEST(Corpus, BinaryFileIsAnError) {
  TempDir dir;
  write_file(dir.file("bin.txt"), std::string("abc\0\x01\x02", 6));
  std::string message = error_message([&] { read_all(dir.file("bin.txt"), "line"); });
  EXPECT_NE(message.find("binary"), std::string::npos) << message;
  EXPECT_NE(message.find(dir.file("bin.txt")), std::string::npos) << message;
  write_file(dir.file("z.txt"), std::string("\x1F\x8B\x08\x00", 4));
  message = error_message([&] { read_all(dir.file("z.txt"), "line"); });
  EXPECT_NE(message.find("gzip"), std::string::npos) << message;
}

// Empty and whitespace-only files give no document and are counted as empty.
TEST(Corpus, EmptyAndWhitespaceOnlyFilesAreCounted) {
  TempDir dir;
  write_file(dir.file("empty.txt"), "");
  write_file(dir.file("blank.txt"), " \n\t\r\n\n");
  WarningCapture warnings;
  CorpusStats stats;
  EXPECT_TRUE(read_all(dir.file("empty.txt"), "line", &stats).empty());
  EXPECT_EQ(stats.empty_files, 1);
  EXPECT_TRUE(read_all(dir.file("blank.txt"), "blank_line", &stats).empty());
  EXPECT_EQ(stats.empty_files, 1);
  EXPECT_EQ(warnings.messages.size(), 2u);
}

// Globs expand sorted; a pattern or path matching nothing is an error naming it.
TEST(Corpus, GlobExpansionAndMissingPaths) {
  TempDir dir;
  write_file(dir.file("b.txt"), "b\n");
  write_file(dir.file("a.txt"), "a\n");
  EXPECT_EQ(expand_train_files({dir.file("*.txt")}, "cfg"),
            (std::vector<std::string>{dir.file("a.txt"), dir.file("b.txt")}));
  std::string message = error_message([&] { expand_train_files({dir.file("nope.txt")}, "cfg.json"); });
  EXPECT_NE(message.find("nope.txt"), std::string::npos) << message;
  EXPECT_NE(message.find("cfg.json"), std::string::npos) << message;
  EXPECT_THROW(read_all(dir.file("nope.txt"), "line"), std::invalid_argument);
}

// Invalid UTF-8 sequences are replaced one per maximal invalid subpart.
TEST(Corpus, SanitizeReplacesInvalidSequences) {
  std::string text = "a\xFF" "b\xE6\x88" "c";
  EXPECT_EQ(sanitize_utf8(text), 2);
  EXPECT_EQ(text, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c");
  std::string valid = "我 and \xEF\xBF\xBD";
  EXPECT_EQ(sanitize_utf8(valid), 0);
}

}  // namespace
}  // namespace fq
