// A batch given as JSON, the input format of `flashquad forward`:
//   {"input_ids": [[...], ...], "attention_mask": [[...]], "token_type_ids": [[...]],
//    "labels": [[...]]}
// input_ids is required; the other fields are optional nested arrays of the same (B, T) shape.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "data/batch.h"

namespace fq {

// Converts the JSON object to I32 tensors and counts the targets (labels != -100). Throws
// std::invalid_argument naming `source`, the field and the row for a missing input_ids, ragged
// rows, non-integer or out-of-int32 values and unknown fields. Value ranges (ids < vocab_size)
// are checked by the model's forward.
Batch batch_from_json(const nlohmann::json& json, const std::string& source);

// Reads and converts a JSON file; names the file in errors.
Batch read_batch_json(const std::string& path);

}  // namespace fq
