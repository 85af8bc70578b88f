// Helpers shared by the checkpoint tests: a self-removing temporary folder and a filled state.
#pragma once

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>

#include "train/checkpoint.h"

namespace fq {
namespace testing_util {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fq_ckpt_XXXXXX").string();
    char* made = ::mkdtemp(&pattern[0]);
    path_ = made ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A state whose every field differs from its default. Values depend on `step`, and the first
// parameter contains -0, a subnormal, infinity and NaN so that bit-exactness is checked.
inline CheckpointState make_state(int64_t step, int64_t width = 3) {
  CheckpointState s;
  s.config_json = R"({"model":{"hidden_size":4},"train":{"max_steps":10}})";
  s.step = step;
  ParameterRecord weight{"flash_quad.encoder.layer.0.uv.weight", {2, width}, {}};
  for (int64_t i = 0; i < 2 * width; ++i) {
    weight.data.push_back(static_cast<float>(step) + 0.001f * static_cast<float>(i));
  }
  weight.data[0] = -0.0f;
  if (weight.data.size() >= 4) {
    weight.data[1] = std::numeric_limits<float>::denorm_min();
    weight.data[2] = std::numeric_limits<float>::infinity();
    weight.data[3] = std::numeric_limits<float>::quiet_NaN();
  }
  ParameterRecord bias{"flash_quad.encoder.layer.0.uv.bias", {width}, {}};
  for (int64_t i = 0; i < width; ++i) bias.data.push_back(-0.5f * static_cast<float>(i + step));
  s.parameters = {weight, bias};

  s.optimizer.step_count = step;
  for (const ParameterRecord& p : s.parameters) {
    AdamWParamState os;
    os.name = p.name;
    os.shape = p.shape;
    os.step = step;
    for (size_t i = 0; i < p.data.size(); ++i) {
      os.exp_avg.push_back(1e-3f * static_cast<float>(i + 1));
      os.exp_avg_sq.push_back(1e-7f * static_cast<float>(i + 2));
    }
    s.optimizer.params.push_back(os);
  }
  s.scheduler_step = step;
  s.rng_states = {{"dropout", 0x0123456789ABCDEFull, 17}, {"masking", ~0ull, 0}};
  s.data_cursor = 1000 + static_cast<uint64_t>(step);
  s.extra = {{"epoch", "2"}, {"binary", std::string("\0\x01\xff", 3)}};
  s.metrics_history = {R"({"step":1,"loss":9.5})", R"({"step":2,"loss":9.25})"};
  return s;
}

inline std::vector<ParameterSpec> specs_of(const CheckpointState& s) {
  std::vector<ParameterSpec> specs;
  for (const ParameterRecord& p : s.parameters) specs.push_back({p.name, p.shape});
  return specs;
}

}  // namespace testing_util
}  // namespace fq
