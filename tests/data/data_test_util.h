// Helpers shared by the data tests: a temporary folder removed at scope exit, file writing, and
// the path of the checked-in test data.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "data/corpus.h"

namespace fq {
namespace testing_data {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/flashquad_data_test.XXXXXX";
    const char* made = ::mkdtemp(pattern);
    if (!made) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Collects data warnings instead of printing them, for the lifetime of the object.
class WarningCapture {
 public:
  WarningCapture()
      : previous_(set_data_warning_handler([this](const std::string& m) { messages.push_back(m); })) {}
  ~WarningCapture() { set_data_warning_handler(previous_); }
  std::vector<std::string> messages;

 private:
  DataWarningHandler previous_;
};

inline void write_file(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

// tests/data/chinese_poetry_sample.txt: ~50 KB of real poems, one per line.
inline std::string poetry_sample_path() {
  std::string here = __FILE__;
  return here.substr(0, here.rfind('/')) + "/chinese_poetry_sample.txt";
}

}  // namespace testing_data
}  // namespace fq
