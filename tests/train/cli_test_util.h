// Helpers for tests that run the flashquad binary (FLASHQUAD_BIN, set by `make test`) on a small
// corpus in a scratch folder.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fq {
namespace test {

// The binary named by FLASHQUAD_BIN, or "" when it is unset (the tests then skip).
inline std::string flashquad_binary() {
  const char* bin = std::getenv("FLASHQUAD_BIN");
  return bin == nullptr ? std::string() : std::string(bin);
}

// Creates an empty folder in the system temporary directory, named after `prefix` and this
// process.
inline std::filesystem::path make_scratch_dir(const std::string& prefix) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / (prefix + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

// Writes the first `documents` poems of tests/data/chinese_poetry_sample.txt to `path`, one a line.
inline void write_sample_corpus(const std::filesystem::path& path, int documents) {
  std::ifstream sample("tests/data/chinese_poetry_sample.txt");
  std::ofstream corpus(path);
  std::string line;
  for (int i = 0; i < documents && std::getline(sample, line); ++i) corpus << line << '\n';
}

// Runs `binary args` with the `env` assignments in front, sending stdout and stderr to `log`
// (appended when `append`, else overwritten). Returns the exit code, or 128 + the signal number
// when the process was killed.
inline int run_binary(const std::string& binary, const std::string& args,
                      const std::filesystem::path& log, const std::string& env = "",
                      bool append = false) {
  std::string command = env + " " + binary + " " + args + (append ? " >>" : " >") +
                        log.string() + " 2>&1";
  int status = std::system(command.c_str());
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace test
}  // namespace fq
