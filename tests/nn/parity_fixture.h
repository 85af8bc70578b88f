// Loading of the PyTorch parity fixtures written by tests/reference/make_fixtures.py, and the
// error measure the parity tests use.
#pragma once

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/safetensors.h"
#include "nn/batch_json.h"
#include "nn/model.h"
#include "nn/model_config.h"
#include "nn/weights.h"

namespace fq {
namespace test {

inline std::string fixture_path(const std::string& name, const std::string& suffix) {
  return "tests/reference/fixtures/" + name + suffix;
}

struct ParityFixture {
  ModelConfig config;
  Batch batch;
  SafetensorsFile expected;
  std::string weights_path;
};

inline ParityFixture load_parity_fixture(const std::string& name) {
  ParityFixture f;
  const std::string config_path = fixture_path(name, ".config.json");
  std::ifstream in(config_path);
  FQ_CHECK(in.good(), "parity fixture '" << config_path << "' not found; run the tests from the "
                                         << "repository root");
  f.config = parse_model_config(nlohmann::json::parse(in).at("model"), config_path);
  f.batch = read_batch_json(fixture_path(name, ".batch.json"));
  f.expected = read_safetensors(fixture_path(name, ".expected.safetensors"));
  f.weights_path = fixture_path(name, ".weights.safetensors");
  return f;
}

// max |actual - expected| / scale, and where the largest difference is. The scale is
// max |expected| over all elements, or `scale` when that is given (> 0).
struct RelativeError {
  double value = 0.0;
  int64_t index = -1;
  float actual = 0.0f;
  float expected = 0.0f;
};

inline RelativeError relative_error(const Tensor& actual, const Tensor& expected,
                                    double given_scale = 0.0) {
  RelativeError e;
  const float* a = actual.data();
  const float* b = expected.data();
  double scale = 0.0;
  double max_diff = -1.0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    scale = std::fmax(scale, std::fabs(static_cast<double>(b[i])));
    const double diff = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(diff <= max_diff)) {  // also catches NaN
      max_diff = diff;
      e.index = i;
      e.actual = a[i];
      e.expected = b[i];
    }
  }
  if (given_scale > 0.0) scale = given_scale;
  e.value = max_diff / (scale > 0.0 ? scale : 1.0);
  if (std::isnan(max_diff)) e.value = INFINITY;
  return e;
}

}  // namespace test
}  // namespace fq
