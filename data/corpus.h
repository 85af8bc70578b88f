// Streaming corpus reader: plain UTF-8 text (one document per line, or documents separated by
// blank lines) and JSON Lines with a "text" field (files ending in .jsonl or .json). Files are
// read in 1 MiB chunks, so memory keeps one line at a time, however large the file.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace fq {

struct CorpusStats {
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t documents = 0;
  int64_t empty_files = 0;     // files that held no document (a warning each)
  int64_t bad_json_lines = 0;  // JSON Lines records that were skipped (a warning each)
  int64_t invalid_utf8 = 0;    // invalid sequences replaced in JSON Lines records before parsing
};

// Reports a warning about the corpus (a skipped record, an empty file). The default handler
// prints "warning: MESSAGE" to stderr; set_data_warning_handler replaces it (tests capture
// warnings this way) and returns the previous handler.
using DataWarningHandler = std::function<void(const std::string&)>;
void data_warning(const std::string& message);
DataWarningHandler set_data_warning_handler(DataWarningHandler handler);

// Expands shell globs in `patterns` (matches sorted) and checks that every file exists.
// Throws std::invalid_argument naming `source` and the pattern when nothing matches.
std::vector<std::string> expand_train_files(const std::vector<std::string>& patterns,
                                            const std::string& source);

// Calls on_document(text) for each document of `path`, in file order. `separator` is "line" or
// "blank_line" (plain text only). Throws on unreadable or binary files (a NUL byte in the first
// 64 KiB, or a gzip header), naming the file.
void read_documents(const std::string& path, const std::string& separator,
                    const std::function<void(std::string_view)>& on_document, CorpusStats& stats);

// Splits `size` bytes of a stream at LF bytes. Each line completed in this piece goes to
// on_line(line) without its LF, and then `line` is cleared. An unfinished last line stays in
// `line` for the next piece, so after the last piece the caller handles whatever remains.
template <typename OnLine>
void split_lines(const char* data, size_t size, std::string& line, OnLine&& on_line) {
  size_t start = 0;
  while (start < size) {
    const void* newline = std::memchr(data + start, '\n', size - start);
    if (newline == nullptr) {
      line.append(data + start, size - start);
      return;
    }
    const size_t end = static_cast<const char*>(newline) - data;
    line.append(data + start, end - start);
    on_line(line);
    line.clear();
    start = end + 1;
  }
}

// Replaces each invalid UTF-8 sequence of `text` with U+FFFD; returns how many were replaced.
int64_t sanitize_utf8(std::string& text);

// True for paths read as JSON Lines (.jsonl or .json).
bool is_json_lines(const std::string& path);

}  // namespace fq
