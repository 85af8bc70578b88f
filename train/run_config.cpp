#include "train/run_config.h"

#include "core/check.h"
#include "train/config.h"

namespace fq {

namespace {

nlohmann::json object_or_empty(const nlohmann::json& json, const char* key) {
  return json.contains(key) ? json.at(key) : nlohmann::json::object();
}

}  // namespace

RunConfig run_config_from_json(const nlohmann::json& json, const std::string& source) {
  RunConfig run;
  run.source = source;
  run.name = config_name(source);
  run.model = parse_model_config(object_or_empty(json, "model"), source);
  run.data = parse_data_config(object_or_empty(json, "data"), source);
  run.train = parse_train_config(object_or_empty(json, "train"), source, run.name);
  FQ_CHECK(run.data.max_seq_length <= run.model.max_position_embeddings,
           source << ": data.max_seq_length = " << run.data.max_seq_length
                  << " exceeds model.max_position_embeddings = "
                  << run.model.max_position_embeddings
                  << "; lower the sequence length or raise max_position_embeddings");
  FQ_CHECK(run.data.max_seq_length >= 3,
           source << ": data.max_seq_length = " << run.data.max_seq_length
                  << " leaves no room for tokens between [CLS] and [SEP]; use at least 3");
  run.json = json;
  run.json["model"] = model_config_to_json(run.model);
  run.json["train"] = train_config_to_json(run.train);
  return run;
}

RunConfig resolve_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  RunConfig run = run_config_from_json(load_config(path, overrides), path);
  run.source = path;
  run.name = config_name(path);
  run.overrides = overrides;
  return run;
}

}  // namespace fq
