#include "data/corpus.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <glob.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/tokenizer.h"

namespace fq {

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_blank(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
  }
  return true;
}

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

constexpr size_t kChunk = 1 << 20;
constexpr size_t kBinaryProbe = 64 << 10;
constexpr int kMaxWarnings = 5;  // per file, for bad JSON Lines records

DataWarningHandler& warning_handler() {
  static DataWarningHandler handler = [](const std::string& message) {
    std::fprintf(stderr, "warning: %s\n", message.c_str());
  };
  return handler;
}

}  // namespace

void data_warning(const std::string& message) { warning_handler()(message); }

DataWarningHandler set_data_warning_handler(DataWarningHandler handler) {
  DataWarningHandler previous = warning_handler();
  warning_handler() = std::move(handler);
  return previous;
}

bool is_json_lines(const std::string& path) {
  return ends_with(path, ".jsonl") || ends_with(path, ".json");
}

std::vector<std::string> expand_train_files(const std::vector<std::string>& patterns,
                                            const std::string& source) {
  std::vector<std::string> files;
  for (const std::string& pattern : patterns) {
    glob_t matches;
    int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &matches);
    std::vector<std::string> found;
    if (rc == 0) {
      for (size_t i = 0; i < matches.gl_pathc; ++i) found.emplace_back(matches.gl_pathv[i]);
    }
    ::globfree(&matches);
    FQ_CHECK(!found.empty(), source << ": data.train_files entry \"" << pattern
                                    << "\" matches no file; check the path (relative paths are "
                                       "relative to the working directory)");
    std::sort(found.begin(), found.end());
    for (const std::string& file : found) {
      struct stat st;
      FQ_CHECK(::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode),
               source << ": data.train_files entry \"" << file << "\" is not a regular file");
      files.push_back(file);
    }
  }
  return files;
}

int64_t sanitize_utf8(std::string& text) {
  int64_t replaced = 0;
  size_t pos = 0;
  const size_t n = text.size();
  // Fast scan: most text is valid, so copy only from the first invalid sequence on.
  while (pos < n) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    int length;
    uint32_t c = decode_utf8(text, pos, &length);
    if (c == 0xFFFD && !(length == 3 && static_cast<unsigned char>(text[pos]) == 0xEF)) break;
    pos += length;
  }
  if (pos == n) return 0;
  std::string out(text, 0, pos);
  out.reserve(n + 16);
  while (pos < n) {
    int length;
    uint32_t c = decode_utf8(text, pos, &length);
    bool literal = length == 3 && static_cast<unsigned char>(text[pos]) == 0xEF;
    if (c == 0xFFFD && !literal) {
      ++replaced;
      out.append("\xEF\xBF\xBD");
    } else {
      out.append(text, pos, length);
    }
    pos += length;
  }
  text.swap(out);
  return replaced;
}

void read_documents(const std::string& path, const std::string& separator,
                    const std::function<void(std::string_view)>& on_document, CorpusStats& stats) {
  FQ_CHECK(separator == "line" || separator == "blank_line",
           "corpus: document separator must be \"line\" or \"blank_line\", got \"" << separator
                                                                                  << "\"");
  std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  FQ_CHECK(file, "corpus: cannot open " << path << ": " << std::strerror(errno));
  const bool json_lines = is_json_lines(path);
  const bool blank_line = !json_lines && separator == "blank_line";
  const int64_t documents_before = stats.documents;
  ++stats.files;

  std::vector<char> chunk(kChunk);
  std::string line;      // the current line, without its '\n'
  std::string document;  // blank_line mode: the lines of the current document
  int64_t line_number = 0;
  int warnings = 0;
  bool probed = false;

  auto emit = [&](std::string_view text) {
    if (is_blank(text)) return;
    ++stats.documents;
    on_document(text);
  };

  auto handle_line = [&](std::string& text) {
    ++line_number;
    if (json_lines) {
      if (is_blank(text)) return;
      stats.invalid_utf8 += sanitize_utf8(text);
      nlohmann::json record = nlohmann::json::parse(text, nullptr, false);
      const char* problem = nullptr;
      if (record.is_discarded()) {
        FQ_CHECK(stats.documents > documents_before || warnings > 0 || text.find('[') != 0,
                 "corpus: " << path << " starts with '[', so it looks like one JSON array; "
                                       "files ending in .json or .jsonl must be JSON Lines "
                                       "(one {\"text\": ...} object per line)");
        problem = "is not valid JSON";
      } else if (!record.is_object() || !record.contains("text")) {
        problem = "has no \"text\" field";
      } else if (!record["text"].is_string()) {
        problem = "has a \"text\" field that is not a string";
      }
      if (problem) {
        ++stats.bad_json_lines;
        if (warnings++ < kMaxWarnings) {
          data_warning(path + ":" + std::to_string(line_number) + " " + problem +
                       "; record skipped");
        }
        return;
      }
      emit(record["text"].get_ref<const std::string&>());
    } else if (blank_line) {
      if (is_blank(text)) {
        emit(document);
        document.clear();
      } else {
        if (!document.empty()) document.push_back('\n');
        document.append(text);
      }
    } else {
      emit(text);
    }
  };

  while (true) {
    size_t got = std::fread(chunk.data(), 1, chunk.size(), file.get());
    if (got == 0) {
      FQ_CHECK(!std::ferror(file.get()), "corpus: read error in " << path << ": "
                                                                  << std::strerror(errno));
      break;
    }
    if (!probed) {
      probed = true;
      size_t probe = std::min(got, kBinaryProbe);
      FQ_CHECK(!(got >= 2 && static_cast<unsigned char>(chunk[0]) == 0x1F &&
                 static_cast<unsigned char>(chunk[1]) == 0x8B),
               "corpus: " << path << " is gzip-compressed; decompress it (gunzip) and list the "
                                     "text file in data.train_files");
      const void* nul = std::memchr(chunk.data(), 0, probe);
      FQ_CHECK(nul == nullptr,
               "corpus: " << path << " looks like a binary file (NUL byte at offset "
                          << (static_cast<const char*>(nul) - chunk.data())
                          << "); data.train_files must list UTF-8 text or JSON Lines files "
                             "(convert UTF-16 text to UTF-8 first)");
    }
    stats.bytes += static_cast<int64_t>(got);
    split_lines(chunk.data(), got, line, handle_line);
  }
  if (!line.empty()) handle_line(line);
  if (blank_line) emit(document);

  if (stats.documents == documents_before) {
    ++stats.empty_files;
    data_warning(path + " contains no document (empty or whitespace only)");
  }
  if (warnings > kMaxWarnings) {
    data_warning(path + ": " + std::to_string(warnings - kMaxWarnings) +
                 " more records skipped");
  }
}

}  // namespace fq
