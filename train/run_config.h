// A resolved run configuration: the config file with command-line overrides applied, split into
// its model, data and train objects, each parsed and validated.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/data_config.h"
#include "nn/model_config.h"
#include "train/train_config.h"

namespace fq {

struct RunConfig {
  std::string source;    // the config file path
  std::string name;      // "tiny" for configs/tiny.json
  nlohmann::json json;   // the effective config: every key with its resolved value
  std::vector<std::string> overrides;  // the --set "key=value" texts applied, in order
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
};

// Loads `path`, applies the "key=value" overrides and validates every object. Also checks the
// keys that tie the objects together (data.max_seq_length <= model.max_position_embeddings).
RunConfig resolve_run_config(const std::string& path, const std::vector<std::string>& overrides);

// Rebuilds a RunConfig from the effective-config JSON stored in a checkpoint.
RunConfig run_config_from_json(const nlohmann::json& json, const std::string& source);

}  // namespace fq
