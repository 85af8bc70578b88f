#include "core/config_reader.h"

#include <cmath>
#include <stdexcept>

#include "core/check.h"

namespace fq {

using nlohmann::json;

std::string config_origin(const std::string& source) { return "config '" + source + "'"; }

std::string config_key(const std::string& source, const std::string& dotted_key) {
  return config_origin(source) + ": key \"" + dotted_key + "\"";
}

void throw_config_error(const std::string& source, const std::string& dotted_key,
                        const std::string& expected, const std::string& got) {
  throw std::invalid_argument(config_key(source, dotted_key) + " must be " + expected + ", got " +
                              got);
}

std::string describe_json(const json& value) {
  if (value.is_null()) return "null";
  return std::string(value.type_name()) + " " + value.dump();
}

ConfigReader::ConfigReader(const json& section, const std::string& source,
                           const std::string& section_name, bool null_means_default)
    : section_(section),
      source_(source),
      section_name_(section_name),
      null_means_default_(null_means_default) {}

void ConfigReader::require_object() const {
  if (!section_.is_object()) {
    throw_config_error(source_, section_name_, "a JSON object", describe_json(section_));
  }
}

void ConfigReader::reject_unknown_keys(const std::vector<std::string>& known,
                                       const std::vector<std::string>& ignored,
                                       const std::string& hint) const {
  auto listed = [](const std::vector<std::string>& keys, const std::string& key) {
    for (const std::string& k : keys) {
      if (k == key) return true;
    }
    return false;
  };
  for (auto it = section_.begin(); it != section_.end(); ++it) {
    if (listed(known, it.key()) || listed(ignored, it.key())) continue;
    std::string known_list;
    for (const std::string& k : known) known_list += (known_list.empty() ? "" : ", ") + k;
    std::string message = config_origin(source_) + ": unknown key \"" + dotted(it.key()) +
                          "\"; check the spelling. Known keys of \"" + section_name_ +
                          "\": " + known_list;
    if (!hint.empty()) message += ". " + hint;
    throw std::invalid_argument(message);
  }
}

bool ConfigReader::has(const std::string& key) const { return find(key) != nullptr; }

std::string ConfigReader::dotted(const std::string& key) const {
  return section_name_ + "." + key;
}

std::string ConfigReader::where(const std::string& key) const {
  return config_key(source_, dotted(key));
}

void ConfigReader::fail(const std::string& key, const std::string& expected,
                        const std::string& got) const {
  throw_config_error(source_, dotted(key), expected, got);
}

const json* ConfigReader::find(const std::string& key) const {
  auto it = section_.find(key);
  if (it == section_.end()) return nullptr;
  if (null_means_default_ && it->is_null()) return nullptr;
  return &*it;
}

void ConfigReader::read_bool(const std::string& key, bool& out) const {
  const json* value = find(key);
  if (!value) return;
  if (!value->is_boolean()) fail(key, "true or false", describe_json(*value));
  out = value->get<bool>();
}

void ConfigReader::read_int(const std::string& key, int64_t& out, int64_t min_value,
                            bool accept_integral_float) const {
  const json* value = find(key);
  if (!value) return;
  const std::string expected =
      min_value == INT64_MIN ? "an integer" : "an integer >= " + std::to_string(min_value);
  int64_t parsed = 0;
  if (value->is_number_unsigned()) {
    if (value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      fail(key, expected, value->dump() + ", which is too large");
    }
    parsed = value->get<int64_t>();
  } else if (value->is_number_integer()) {
    parsed = value->get<int64_t>();
  } else if (accept_integral_float && value->is_number_float()) {
    // Below 9e15 every whole double converts to int64 exactly.
    const double d = value->get<double>();
    if (!(std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)) {
      fail(key, expected, describe_json(*value));
    }
    parsed = static_cast<int64_t>(d);
  } else {
    fail(key, expected, describe_json(*value));
  }
  if (parsed < min_value) fail(key, expected, std::to_string(parsed));
  out = parsed;
}

void ConfigReader::read_number(const std::string& key, double& out) const {
  const json* value = find(key);
  if (!value) return;
  if (!value->is_number()) fail(key, "a number", describe_json(*value));
  const double d = value->get<double>();
  if (!std::isfinite(d)) fail(key, "a finite number", value->dump());
  out = d;
}

void ConfigReader::read_string(const std::string& key, std::string& out, bool allow_empty) const {
  const json* value = find(key);
  if (!value) return;
  const char* expected = allow_empty ? "a string" : "a non-empty string";
  if (!value->is_string()) fail(key, expected, describe_json(*value));
  std::string text = value->get<std::string>();
  if (!allow_empty && text.empty()) fail(key, expected, "\"\"");
  out = text;
}

void ConfigReader::read_string_list(const std::string& key, std::vector<std::string>& out,
                                    const std::string& list_expected,
                                    const std::string& item_expected) const {
  const json* value = find(key);
  if (!value) return;
  if (!value->is_array()) fail(key, list_expected, describe_json(*value));
  std::vector<std::string> items;
  for (size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (!item.is_string() || item.get<std::string>().empty()) {
      fail(key + "[" + std::to_string(i) + "]", item_expected, describe_json(item));
    }
    items.push_back(item.get<std::string>());
  }
  out = items;
}

}  // namespace fq
