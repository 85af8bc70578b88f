#include "nn/batch_json.h"

#include <fstream>
#include <limits>
#include <vector>

#include "core/check.h"

namespace fq {

namespace {

using nlohmann::json;

Tensor int_matrix(const json& value, const std::string& source, const std::string& field,
                  int64_t expected_rows, int64_t expected_cols) {
  const std::string where = "batch '" + source + "': \"" + field + "\"";
  FQ_CHECK(value.is_array() && !value.empty(),
           where << " must be a non-empty array of rows (arrays of integers)");
  const int64_t rows = static_cast<int64_t>(value.size());
  FQ_CHECK(value[0].is_array() && !value[0].empty(),
           where << "[0] must be a non-empty array of integers");
  const int64_t cols = static_cast<int64_t>(value[0].size());
  FQ_CHECK(expected_rows < 0 || (rows == expected_rows && cols == expected_cols),
           where << " has shape [" << rows << ", " << cols << "] but input_ids has shape ["
                 << expected_rows << ", " << expected_cols << "]");
  std::vector<int32_t> data;
  data.reserve(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const json& row = value[r];
    FQ_CHECK(row.is_array() && static_cast<int64_t>(row.size()) == cols,
             where << "[" << r << "] must be an array of " << cols
                   << " integers like row 0 (rows must have equal length), got "
                   << (row.is_array() ? std::to_string(row.size()) + " entries" : row.type_name()));
    for (int64_t c = 0; c < cols; ++c) {
      const json& v = row[c];
      FQ_CHECK(v.is_number_integer(),
               where << "[" << r << "][" << c << "] must be an integer, got " << v.dump());
      const int64_t x = v.get<int64_t>();
      FQ_CHECK(x >= std::numeric_limits<int32_t>::min() && x <= std::numeric_limits<int32_t>::max(),
               where << "[" << r << "][" << c << "] = " << x << " does not fit in int32");
      data.push_back(static_cast<int32_t>(x));
    }
  }
  return Tensor::from_ids(data, {rows, cols});
}

}  // namespace

Batch batch_from_json(const nlohmann::json& j, const std::string& source) {
  FQ_CHECK(j.is_object(), "batch '" << source << "': expected a JSON object with input_ids");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    FQ_CHECK(
        key == "input_ids" || key == "attention_mask" || key == "token_type_ids" || key == "labels",
        "batch '" << source << "': unknown field \"" << key
                  << "\"; expected input_ids, attention_mask, token_type_ids, labels");
  }
  FQ_CHECK(j.contains("input_ids"), "batch '" << source << "': missing \"input_ids\"");
  Batch batch;
  batch.input_ids = int_matrix(j.at("input_ids"), source, "input_ids", -1, -1);
  const int64_t rows = batch.input_ids.size(0);
  const int64_t cols = batch.input_ids.size(1);
  auto optional = [&](const char* field, Tensor& out) {
    auto it = j.find(field);
    if (it != j.end() && !it->is_null()) out = int_matrix(*it, source, field, rows, cols);
  };
  optional("attention_mask", batch.attention_mask);
  optional("token_type_ids", batch.token_type_ids);
  optional("labels", batch.labels);
  if (batch.labels.defined()) {
    for (int32_t label : batch.labels.to_ids()) batch.num_targets += label != -100;
  }
  return batch;
}

Batch read_batch_json(const std::string& path) {
  std::ifstream in(path);
  FQ_CHECK(in.good(), "batch '" << path << "': cannot open (file not found or not readable)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    FQ_CHECK(false, "batch '" << path << "': not valid JSON: " << e.what());
  }
  return batch_from_json(j, path);
}

}  // namespace fq
