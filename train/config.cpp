#include "train/config.h"

#include <fstream>
#include <sstream>

#include "core/check.h"

namespace fq {

nlohmann::json load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  FQ_CHECK(in.good(), "config: cannot open '" << path
                                              << "': file not found or not readable; configs live "
                                                 "in configs/NAME.json");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in, nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    FQ_CHECK(false, "config: '" << path << "' is not valid JSON: " << e.what());
  }
  FQ_CHECK(config.is_object(), "config: '" << path << "' must contain a JSON object with "
                                           << "\"model\", \"data\" and \"train\" objects");
  for (auto it = config.begin(); it != config.end(); ++it) {
    const std::string& key = it.key();
    FQ_CHECK(key == "model" || key == "data" || key == "train",
             "config: '" << path << "': unknown top-level key \"" << key
                         << "\"; expected \"model\", \"data\" or \"train\"");
    FQ_CHECK(it.value().is_object(), "config: '" << path << "': \"" << key
                                                 << "\" must be an object, got "
                                                 << it.value().type_name());
  }
  for (const std::string& o : overrides) apply_override(config, o);
  return config;
}

void apply_override(nlohmann::json& config, const std::string& override_text) {
  size_t eq = override_text.find('=');
  FQ_CHECK(eq != std::string::npos && eq > 0,
           "--set '" << override_text << "': expected key=value, for example train.max_steps=200");
  std::string key = override_text.substr(0, eq);
  std::string value_text = override_text.substr(eq + 1);

  nlohmann::json value;
  try {
    value = nlohmann::json::parse(value_text);
  } catch (const nlohmann::json::parse_error&) {
    value = value_text;  // not JSON: a plain string such as a path
  } catch (const nlohmann::json::out_of_range&) {
    FQ_CHECK(false, "--set '" << override_text << "': the number " << value_text
                              << " is out of range for a double; use a smaller value");
  }
  FQ_CHECK(key.back() != '.', "--set '" << override_text << "': empty component at the end of key '"
                                        << key << "'");

  nlohmann::json* node = &config;
  std::stringstream parts(key);
  std::string part;
  std::vector<std::string> path;
  while (std::getline(parts, part, '.')) {
    FQ_CHECK(!part.empty(), "--set '" << override_text << "': empty component in key '" << key
                                      << "'");
    path.push_back(part);
  }
  FQ_CHECK(path.size() >= 2 && (path[0] == "model" || path[0] == "data" || path[0] == "train"),
           "--set '" << override_text << "': key must start with model., data. or train., got '"
                     << key << "'");
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    nlohmann::json& child = (*node)[path[i]];
    if (child.is_null()) child = nlohmann::json::object();
    FQ_CHECK(child.is_object(), "--set '" << override_text << "': '" << path[i]
                                          << "' is not an object");
    node = &child;
  }
  (*node)[path.back()] = value;
}

std::string config_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  size_t dot = base.rfind(".json");
  return dot == std::string::npos ? base : base.substr(0, dot);
}

}  // namespace fq
