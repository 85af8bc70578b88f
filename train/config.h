// Run configuration files: configs/NAME.json with "model", "data" and "train" objects.
// This file loads the JSON and applies command-line overrides; each area parses and validates
// its own object (nn/model_config.h, data/data_config.h, train/train_config.h).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fq {

// Reads `path` as JSON, applies each "a.b=value" override (value parsed as JSON when it parses,
// else taken as a string), and returns the result. Throws std::invalid_argument naming the file,
// the line and column on a syntax error, and the override on a malformed one. The top-level value
// must be an object whose keys are among "model", "data", "train".
nlohmann::json load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Applies one "a.b.c=value" override to `config` in place. Intermediate objects are created
// when missing; `source` names the override in errors.
void apply_override(nlohmann::json& config, const std::string& override_text);

// The config name from its path: "configs/tiny.json" -> "tiny".
std::string config_name(const std::string& path);

}  // namespace fq
