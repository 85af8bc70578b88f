// Checkpoint files: round trip, each rejection check, listing, resume selection, pruning and
// write failures.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/parallel.h"
#include "tests/train/checkpoint_test_util.h"
#include "train/atomic_file.h"

namespace fq {
namespace {

using testing_util::make_state;
using testing_util::specs_of;
using testing_util::TempDir;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Loads `path` and returns the error it raises; fails the test when loading succeeds.
CheckpointError load_error(const std::string& path) {
  try {
    load_checkpoint(path);
  } catch (const CheckpointError& e) {
    return e;
  }
  ADD_FAILURE() << "load_checkpoint('" << path << "') succeeded";
  return CheckpointError(CheckpointCheck::Read, path, "no error");
}

std::vector<std::string> folder_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Checkpoint, RoundTripIsBitExact) {
  TempDir dir;
  CheckpointState saved = make_state(7);
  std::string path = save_checkpoint(dir.path(), saved);
  EXPECT_EQ(path, dir.path() + "/checkpoint-7.fqck");

  CheckpointState loaded = load_checkpoint(path);
  EXPECT_EQ(loaded.format_version, kCheckpointFormatVersion);
  EXPECT_EQ(loaded.config_json, saved.config_json);
  EXPECT_EQ(loaded.step, 7);
  ASSERT_EQ(loaded.parameters.size(), saved.parameters.size());
  for (size_t i = 0; i < saved.parameters.size(); ++i) {
    EXPECT_EQ(loaded.parameters[i].name, saved.parameters[i].name);
    EXPECT_EQ(loaded.parameters[i].shape, saved.parameters[i].shape);
    EXPECT_TRUE(same_bits(loaded.parameters[i].data, saved.parameters[i].data))
        << saved.parameters[i].name;
  }
  EXPECT_EQ(loaded.optimizer.step_count, saved.optimizer.step_count);
  ASSERT_EQ(loaded.optimizer.params.size(), saved.optimizer.params.size());
  for (size_t i = 0; i < saved.optimizer.params.size(); ++i) {
    const AdamWParamState& a = loaded.optimizer.params[i];
    const AdamWParamState& b = saved.optimizer.params[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape);
    EXPECT_EQ(a.step, b.step);
    EXPECT_TRUE(same_bits(a.exp_avg, b.exp_avg)) << b.name;
    EXPECT_TRUE(same_bits(a.exp_avg_sq, b.exp_avg_sq)) << b.name;
  }
  EXPECT_EQ(loaded.scheduler_step, saved.scheduler_step);
  ASSERT_EQ(loaded.rng_states.size(), 2u);
  EXPECT_EQ(loaded.rng_states[0].name, "dropout");
  EXPECT_EQ(loaded.rng_states[0].key, 0x0123456789ABCDEFull);
  EXPECT_EQ(loaded.rng_states[0].counter, 17u);
  EXPECT_EQ(loaded.rng_states[1].key, ~0ull);
  EXPECT_EQ(loaded.data_cursor, saved.data_cursor);
  EXPECT_EQ(loaded.extra, saved.extra);
  EXPECT_EQ(loaded.metrics_history, saved.metrics_history);
  EXPECT_NO_THROW(validate_checkpoint(loaded, specs_of(saved), path));
}

TEST(Checkpoint, HeaderFieldsAreLittleEndian) {
  TempDir dir;
  std::string path = save_checkpoint(dir.path(), make_state(1));
  std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), kCheckpointHeaderBytes);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89"
                                            "FQCK\r\n\x1a",
                                            8));
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]), kCheckpointFormatVersion);
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i)
    length |= uint64_t(static_cast<unsigned char>(bytes[16 + i])) << (8 * i);
  EXPECT_EQ(length, bytes.size() - kCheckpointHeaderBytes);
}

TEST(Checkpoint, RejectsTruncatedFile) {
  TempDir dir;
  std::string path = save_checkpoint(dir.path(), make_state(3));
  const std::string bytes = read_bytes(path);
  for (size_t keep :
       {size_t{0}, size_t{12}, kCheckpointHeaderBytes, bytes.size() / 2, bytes.size() - 1}) {
    write_bytes(path, bytes.substr(0, keep));
    CheckpointError e = load_error(path);
    EXPECT_EQ(e.check(), CheckpointCheck::Length) << "kept " << keep << " bytes: " << e.what();
    EXPECT_NE(std::string(e.what()).find("length check failed"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, RejectsTrailingBytes) {
  TempDir dir;
  std::string path = save_checkpoint(dir.path(), make_state(3));
  write_bytes(path, read_bytes(path) + "x");
  EXPECT_EQ(load_error(path).check(), CheckpointCheck::Length);
}

TEST(Checkpoint, RejectsFlippedPayloadByte) {
  TempDir dir;
  std::string path = save_checkpoint(dir.path(), make_state(3));
  const std::string bytes = read_bytes(path);
  for (size_t offset : {kCheckpointHeaderBytes, bytes.size() / 2, bytes.size() - 1}) {
    std::string corrupt = bytes;
    corrupt[offset] = static_cast<char>(corrupt[offset] ^ 0x10);
    write_bytes(path, corrupt);
    CheckpointError e = load_error(path);
    EXPECT_EQ(e.check(), CheckpointCheck::Checksum) << "offset " << offset << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find("checksum check failed"), std::string::npos) << e.what();
  }
  // A changed stored checksum is caught the same way.
  std::string corrupt = bytes;
  corrupt[24] = static_cast<char>(corrupt[24] ^ 0x01);
  write_bytes(path, corrupt);
  EXPECT_EQ(load_error(path).check(), CheckpointCheck::Checksum);
}

TEST(Checkpoint, RejectsWrongMagic) {
  TempDir dir;
  std::string path = save_checkpoint(dir.path(), make_state(3));
  std::string bytes = read_bytes(path);
  bytes[1] = 'X';
  write_bytes(path, bytes);
  CheckpointError e = load_error(path);
  EXPECT_EQ(e.check(), CheckpointCheck::Magic) << e.what();
  EXPECT_NE(std::string(e.what()).find("magic check failed"), std::string::npos) << e.what();

  std::string text_path = dir.path() + "/checkpoint-9.fqck";
  write_bytes(text_path, "{\"not\": \"a checkpoint, but long enough for a header\"}");
  EXPECT_EQ(load_error(text_path).check(), CheckpointCheck::Magic);
}

TEST(Checkpoint, RejectsNewerVersion) {
  TempDir dir;
  std::string path = save_checkpoint(dir.path(), make_state(3));
  std::string bytes = read_bytes(path);
  bytes[8] = static_cast<char>(kCheckpointFormatVersion + 1);
  write_bytes(path, bytes);
  CheckpointError e = load_error(path);
  EXPECT_EQ(e.check(), CheckpointCheck::Version) << e.what();
  EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();

  bytes[8] = 0;
  write_bytes(path, bytes);
  EXPECT_EQ(load_error(path).check(), CheckpointCheck::Version);
}

TEST(Checkpoint, RejectsMissingFile) {
  TempDir dir;
  CheckpointError e = load_error(dir.path() + "/checkpoint-1.fqck");
  EXPECT_EQ(e.check(), CheckpointCheck::Read);
  EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
}

TEST(Checkpoint, RejectsOtherModelShape) {
  CheckpointState state = make_state(3);
  std::vector<ParameterSpec> specs = specs_of(state);
  auto error_for = [&](const std::vector<ParameterSpec>& expected) -> std::string {
    try {
      validate_checkpoint(state, expected, "ckpt");
    } catch (const CheckpointError& e) {
      EXPECT_EQ(e.check(), CheckpointCheck::ModelShape) << e.what();
      return e.what();
    }
    return "";
  };

  std::vector<ParameterSpec> wider = specs;
  wider[0].shape = {2, 4};
  std::string message = error_for(wider);
  EXPECT_NE(message.find("model shape check failed"), std::string::npos) << message;
  EXPECT_NE(message.find("[2, 3]"), std::string::npos) << message;
  EXPECT_NE(message.find("[2, 4]"), std::string::npos) << message;

  std::vector<ParameterSpec> more = specs;
  more.push_back({"flash_quad.encoder.layer.1.uv.weight", {2, 3}});
  message = error_for(more);
  EXPECT_NE(message.find("missing from the checkpoint"), std::string::npos) << message;

  std::vector<ParameterSpec> fewer = {specs[0]};
  message = error_for(fewer);
  EXPECT_NE(message.find("which the model does not have"), std::string::npos) << message;

  std::vector<ParameterSpec> reordered = {specs[1], specs[0]};
  message = error_for(reordered);
  EXPECT_NE(message.find("optimizer state entry 0"), std::string::npos) << message;
}

TEST(Checkpoint, ListsSortedByStepIgnoringOtherFiles) {
  TempDir dir;
  for (int64_t step : {10, 2, 100}) save_checkpoint(dir.path(), make_state(step));
  write_bytes(dir.path() + "/.checkpoint-200.fqck.tmp-123", "partial");
  write_bytes(dir.path() + "/checkpoint-abc.fqck", "x");
  write_bytes(dir.path() + "/checkpoint-5.fqck.bak", "x");
  write_bytes(dir.path() + "/metrics.jsonl", "x");
  std::vector<CheckpointFile> files = list_checkpoints(dir.path());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].step, 2);
  EXPECT_EQ(files[1].step, 10);
  EXPECT_EQ(files[2].step, 100);
  EXPECT_EQ(files[2].path, dir.path() + "/checkpoint-100.fqck");
  EXPECT_TRUE(list_checkpoints(dir.path() + "/absent").empty());
}

TEST(Checkpoint, ResumeSkipsCorruptNewest) {
  TempDir dir;
  for (int64_t step : {1, 2, 3, 4}) save_checkpoint(dir.path(), make_state(step));
  // Newest: one flipped byte. Second newest: truncated.
  std::string newest = dir.path() + "/checkpoint-4.fqck";
  std::string bytes = read_bytes(newest);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
  write_bytes(newest, bytes);
  std::string third = dir.path() + "/checkpoint-3.fqck";
  write_bytes(third, read_bytes(third).substr(0, 40));

  std::vector<std::string> warnings;
  std::optional<ResumeCheckpoint> resume = find_resume_checkpoint(
      dir.path(), nullptr, [&](const std::string& w) { warnings.push_back(w); });
  ASSERT_TRUE(resume.has_value());
  EXPECT_EQ(resume->path, dir.path() + "/checkpoint-2.fqck");
  EXPECT_EQ(resume->state.step, 2);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("checkpoint-4.fqck"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("checksum"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("checkpoint-3.fqck"), std::string::npos) << warnings[1];
  EXPECT_NE(warnings[1].find("length"), std::string::npos) << warnings[1];
}

TEST(Checkpoint, ResumeSkipsOtherModelShape) {
  TempDir dir;
  save_checkpoint(dir.path(), make_state(1, 3));
  save_checkpoint(dir.path(), make_state(2, 5));  // a different width, e.g. after a config edit
  std::vector<ParameterSpec> expected = specs_of(make_state(0, 3));
  std::vector<std::string> warnings;
  std::optional<ResumeCheckpoint> resume = find_resume_checkpoint(
      dir.path(), [&](const CheckpointState& s) { validate_checkpoint(s, expected, "candidate"); },
      [&](const std::string& w) { warnings.push_back(w); });
  ASSERT_TRUE(resume.has_value());
  EXPECT_EQ(resume->state.step, 1);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("model shape"), std::string::npos) << warnings[0];
}

TEST(Checkpoint, ResumeFindsNothingInEmptyFolder) {
  TempDir dir;
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& w) { warnings.push_back(w); };
  EXPECT_FALSE(find_resume_checkpoint(dir.path(), nullptr, warn).has_value());
  write_bytes(dir.path() + "/checkpoint-1.fqck", "garbage");
  EXPECT_FALSE(find_resume_checkpoint(dir.path(), nullptr, warn).has_value());
  EXPECT_EQ(warnings.size(), 1u);
}

TEST(Checkpoint, PruneKeepsNewest) {
  TempDir dir;
  for (int64_t step : {5, 10, 15, 20, 25}) save_checkpoint(dir.path(), make_state(step));
  EXPECT_TRUE(prune_checkpoints(dir.path(), 0).empty()) << "keep 0 keeps every checkpoint";
  std::vector<std::string> removed = prune_checkpoints(dir.path(), 2);
  ASSERT_EQ(removed.size(), 3u);
  EXPECT_EQ(removed[0], dir.path() + "/checkpoint-5.fqck");
  std::vector<CheckpointFile> left = list_checkpoints(dir.path());
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].step, 20);
  EXPECT_EQ(left[1].step, 25);
  EXPECT_TRUE(prune_checkpoints(dir.path(), 2).empty());
}

TEST(Checkpoint, SaveRemovesStaleTempFiles) {
  TempDir dir;
  write_bytes(dir.path() + "/.checkpoint-3.fqck.tmp-99999", "left by a crash");
  save_checkpoint(dir.path(), make_state(4));
  EXPECT_EQ(folder_entries(dir.path()), std::vector<std::string>{"checkpoint-4.fqck"});
}

TEST(Checkpoint, DiskFullLeavesOlderIntact) {
  TempDir dir;
  save_checkpoint(dir.path(), make_state(1));
  set_write_failure_for_testing(100, ENOSPC);
  std::string message;
  CheckpointCheck check = CheckpointCheck::Read;
  try {
    save_checkpoint(dir.path(), make_state(2));
  } catch (const CheckpointError& e) {
    message = e.what();
    check = e.check();
  }
  set_write_failure_for_testing(-1, 0);
  EXPECT_EQ(check, CheckpointCheck::Write) << message;
  EXPECT_NE(message.find(dir.path() + "/checkpoint-2.fqck"), std::string::npos) << message;
  EXPECT_NE(message.find(std::strerror(ENOSPC)), std::string::npos) << message;
  EXPECT_EQ(folder_entries(dir.path()), std::vector<std::string>{"checkpoint-1.fqck"})
      << "the temporary file must be removed";
  EXPECT_EQ(load_checkpoint(dir.path() + "/checkpoint-1.fqck").step, 1);
}

TEST(Checkpoint, ReadOnlyFolderFailsCleanly) {
  TempDir dir;
  std::string ro = dir.path() + "/ro";
  save_checkpoint(ro, make_state(1));
  ASSERT_EQ(::chmod(ro.c_str(), 0555), 0);

  if (::geteuid() != 0) {
    try {
      save_checkpoint(ro, make_state(2));
      ADD_FAILURE() << "save into a read-only folder succeeded";
    } catch (const CheckpointError& e) {
      EXPECT_EQ(e.check(), CheckpointCheck::Write);
      EXPECT_NE(std::string(e.what()).find(std::strerror(EACCES)), std::string::npos) << e.what();
    }
  } else {
    // root ignores folder permissions, so the save runs in a child that switches to the
    // unprivileged uid and gid 65534 (nobody).
    // The payload is below one checksum block, so the child never enters an OpenMP region.
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(pipe_fds[0]);
      std::string message = "no error";
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
        message = "setuid failed";
      } else {
        try {
          save_checkpoint(ro, make_state(2));
        } catch (const CheckpointError& e) {
          message = e.what();
        } catch (const std::exception& e) {
          message = std::string("unexpected exception: ") + e.what();
        }
      }
      ssize_t ignored = ::write(pipe_fds[1], message.data(), message.size());
      (void)ignored;
      ::_exit(0);
    }
    ::close(pipe_fds[1]);
    std::string message;
    char buffer[512];
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buffer, sizeof(buffer))) > 0) message.append(buffer, n);
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_NE(message.find("write failed"), std::string::npos) << message;
    EXPECT_NE(message.find(std::strerror(EACCES)), std::string::npos) << message;
  }
  EXPECT_EQ(folder_entries(ro), std::vector<std::string>{"checkpoint-1.fqck"});
  EXPECT_EQ(load_checkpoint(ro + "/checkpoint-1.fqck").step, 1);
}

TEST(Checkpoint, ChecksumMatchesFnvDefinition) {
  auto fnv = [](const std::string& bytes, uint64_t hash) {
    for (unsigned char c : bytes) {
      hash ^= c;
      hash *= 0x100000001b3ull;
    }
    return hash;
  };
  const uint64_t basis = 0xcbf29ce484222325ull;
  EXPECT_EQ(fnv("a", basis), 0xaf63dc4c8601ec8cull) << "FNV-1a 64 reference value";

  // Two full blocks and a partial one.
  std::string payload((size_t{1} << 21) + 12345, '\0');
  for (size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>((i * 2654435761u) >> 13);
  uint64_t expected = basis;
  for (size_t begin = 0; begin < payload.size(); begin += size_t{1} << 20) {
    uint64_t digest = fnv(payload.substr(begin, size_t{1} << 20), basis);
    std::string le(8, '\0');
    for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((digest >> (8 * i)) & 0xFF);
    expected = fnv(le, expected);
  }
  const int saved_threads = num_threads();
  set_num_threads(1);
  uint64_t one = payload_checksum(payload);
  set_num_threads(2);
  uint64_t two = payload_checksum(payload);
  set_num_threads(saved_threads);
  EXPECT_EQ(one, expected);
  EXPECT_EQ(two, expected);
  EXPECT_EQ(payload_checksum(""), basis);
}

TEST(Checkpoint, RestoreParametersIsAllOrNothing) {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3});
  Tensor b = Tensor::from_vector({4, 5}, {2});
  std::vector<NamedParameter> params = {{"a", a}, {"b", b}};
  std::vector<ParameterRecord> records = snapshot_parameters(params);
  records[0].data = {7, 8, 9};
  records[1].shape = {1, 2};
  EXPECT_THROW(restore_parameters(records, params), CheckpointError);
  EXPECT_EQ(a.to_vector(), (std::vector<float>{1, 2, 3})) << "nothing may be written on failure";

  records[1].shape = {2};
  records[1].data = {10, 11};
  restore_parameters(records, params);
  EXPECT_EQ(a.to_vector(), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(b.to_vector(), (std::vector<float>{10, 11}));
}

TEST(Checkpoint, AdamWResumesBitwise) {
  // Save after two steps, restore into a fresh parameter set and optimizer, then take one more
  // step on both: parameters and moments must agree bit for bit.
  auto make_params = [] {
    std::vector<NamedParameter> params = {
        {"w.weight",
         Tensor::from_vector({0.3f, -0.2f, 0.9f, 1.1f}, {2, 2}).set_requires_grad(true)},
        {"w.bias", Tensor::from_vector({0.05f, -0.05f}, {2}).set_requires_grad(true)}};
    return params;
  };
  auto set_grads = [](std::vector<NamedParameter>& params, int step) {
    for (NamedParameter& p : params) {
      std::vector<float> g(static_cast<size_t>(p.tensor.numel()));
      for (size_t i = 0; i < g.size(); ++i)
        g[i] = std::sin(0.9f * static_cast<float>(i + 1) + step);
      p.tensor.set_grad(Tensor::from_vector(g, p.tensor.shape()));
    }
  };
  AdamWOptions options;
  options.weight_decay = 0.1;
  std::vector<NamedParameter> original = make_params();
  AdamW first(original, options);
  for (int step = 0; step < 2; ++step) {
    set_grads(original, step);
    first.step(0.01);
  }
  CheckpointState state;
  state.step = 2;
  state.parameters = snapshot_parameters(original);
  state.optimizer = first.state();
  TempDir dir;
  std::string path = save_checkpoint(dir.path(), state);

  CheckpointState loaded = load_checkpoint(path);
  std::vector<NamedParameter> restored = make_params();
  validate_checkpoint(loaded, parameter_specs(restored), path);
  restore_parameters(loaded.parameters, restored);
  AdamW second(restored, options);
  second.load_state(loaded.optimizer);

  set_grads(original, 2);
  set_grads(restored, 2);
  first.step(0.01);
  second.step(0.01);
  for (size_t i = 0; i < original.size(); ++i) {
    EXPECT_TRUE(same_bits(original[i].tensor.to_vector(), restored[i].tensor.to_vector()))
        << original[i].name;
    EXPECT_TRUE(same_bits(first.state().params[i].exp_avg, second.state().params[i].exp_avg));
    EXPECT_TRUE(same_bits(first.state().params[i].exp_avg_sq, second.state().params[i].exp_avg_sq));
  }
}

}  // namespace
}  // namespace fq
