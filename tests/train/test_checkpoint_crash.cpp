// Crash safety of checkpoint writing. A child process saves checkpoints in a loop and is killed
// with SIGKILL at random moments. After every kill the folder must contain only complete,
// loadable checkpoints, and no progress saved before the kill may be lost.
//
// The suite runs 3 kills. For the full check run by hand:
//   FLASHQUAD_CRASH_KILLS=20 build/flashquad_tests --gtest_filter='CheckpointCrash*'
//
// The child is this same test binary started again (fork + exec of /proc/self/exe) with
// FLASHQUAD_CRASH_CHILD_DIR set; a static initializer below turns it into the writer loop
// before GoogleTest starts, so the child is a fresh process with no inherited thread pools.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/random.h"
#include "tests/train/checkpoint_test_util.h"

extern char** environ;

namespace fq {
namespace {

using testing_util::make_state;
using testing_util::TempDir;

constexpr const char* kChildDirVar = "FLASHQUAD_CRASH_CHILD_DIR";
constexpr const char* kChildStartVar = "FLASHQUAD_CRASH_CHILD_START";
// About 10 MB per checkpoint (parameters plus two moments), so a save takes long enough for
// kills to land inside it.
constexpr int64_t kCrashWidth = 400000;
constexpr int64_t kKeep = 3;

// Writer loop of the child process; never returns.
[[noreturn]] void run_writer(const char* dir, int64_t start_step) {
  for (int64_t step = start_step;; ++step) {
    try {
      save_checkpoint(dir, make_state(step, kCrashWidth));
      prune_checkpoints(dir, kKeep);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "crash-test writer: step %lld: %s\n", static_cast<long long>(step),
                   e.what());
      std::_Exit(3);
    }
  }
}

int start_writer_if_requested() {
  const char* dir = std::getenv(kChildDirVar);
  if (dir == nullptr) return 0;
  const char* start = std::getenv(kChildStartVar);
  run_writer(dir, start ? std::atoll(start) : 0);
}

const int kWriterStarted = start_writer_if_requested();

// Starts the writer child with a prepared environment (no allocation between fork and exec).
pid_t spawn_writer(const std::string& dir, int64_t start_step) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "FLASHQUAD_CRASH_", 16) != 0) env_strings.push_back(*e);
  }
  env_strings.push_back(std::string(kChildDirVar) + "=" + dir);
  env_strings.push_back(std::string(kChildStartVar) + "=" + std::to_string(start_step));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(&s[0]);
  envp.push_back(nullptr);
  char self[] = "/proc/self/exe";
  char* argv[] = {self, nullptr};

  pid_t pid = ::fork();
  if (pid == 0) {
    ::execve(self, argv, envp.data());
    std::_Exit(127);
  }
  return pid;
}

TEST(CheckpointCrash, SigkillDuringSavesKeepsCheckpoints) {
  (void)kWriterStarted;
  int kills = 3;
  if (const char* env = std::getenv("FLASHQUAD_CRASH_KILLS")) kills = std::max(1, std::atoi(env));

  TempDir dir;
  save_checkpoint(dir.path(), make_state(0, kCrashWidth));
  int64_t newest_seen = 0;
  CounterRng delays(20240601);

  for (int kill_index = 0; kill_index < kills; ++kill_index) {
    pid_t pid = spawn_writer(dir.path(), newest_seen + 1);
    ASSERT_GT(pid, 0) << "fork failed: " << std::strerror(errno);
    // 5 to 150 ms: early kills land in the first save, later ones anywhere in the loop.
    ::usleep(static_cast<useconds_t>(5000 + delays.below(145000)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "kill " << kill_index << ": the writer ended on its own (exit status "
        << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << "); see its message above";
    ASSERT_EQ(WTERMSIG(status), SIGKILL) << "kill " << kill_index;

    std::vector<CheckpointFile> files = list_checkpoints(dir.path());
    ASSERT_FALSE(files.empty()) << "kill " << kill_index << ": no checkpoint left";
    for (const CheckpointFile& file : files) {
      CheckpointState state;
      try {
        state = load_checkpoint(file.path);
      } catch (const CheckpointError& e) {
        FAIL() << "kill " << kill_index << ": a listed checkpoint is unreadable: " << e.what();
      }
      CheckpointState expected = make_state(file.step, kCrashWidth);
      ASSERT_EQ(state.step, file.step) << file.path;
      ASSERT_EQ(state.parameters.size(), expected.parameters.size()) << file.path;
      for (size_t i = 0; i < expected.parameters.size(); ++i) {
        const std::vector<float>& a = state.parameters[i].data;
        const std::vector<float>& b = expected.parameters[i].data;
        ASSERT_EQ(a.size(), b.size()) << file.path << " parameter " << i;
        ASSERT_EQ(std::memcmp(a.data(), b.data(), 4 * a.size()), 0)
            << "kill " << kill_index << ": " << file.path << " parameter " << i << " differs";
      }
    }
    const int64_t newest = files.back().step;
    EXPECT_GE(newest, newest_seen) << "kill " << kill_index << ": saved progress was lost";

    std::vector<std::string> warnings;
    auto resume = find_resume_checkpoint(dir.path(), nullptr,
                                         [&](const std::string& w) { warnings.push_back(w); });
    ASSERT_TRUE(resume.has_value());
    EXPECT_EQ(resume->state.step, newest);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    newest_seen = newest;
  }
}

}  // namespace
}  // namespace fq
