// Typed reads from one section ("model", "data" or "train") of a run config file, with one error
// format for every config mistake:
//   config 'configs/tiny.json': key "model.s" must be a positive even number (...), got 63
// The message names the file, the full dotted key, what was expected and the value found.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fq {

// Returns `config 'SOURCE'`, the start of every config error.
std::string config_origin(const std::string& source);

// Returns `config 'SOURCE': key "DOTTED_KEY"`.
std::string config_key(const std::string& source, const std::string& dotted_key);

// Throws std::invalid_argument reading `config 'SOURCE': key "DOTTED_KEY" must be EXPECTED,
// got GOT`.
[[noreturn]] void throw_config_error(const std::string& source, const std::string& dotted_key,
                                     const std::string& expected, const std::string& got);

// Returns a JSON value as `TYPE VALUE` (for example `string "64"`), for wrong-type errors.
std::string describe_json(const nlohmann::json& value);

class ConfigReader {
 public:
  // `section` is the JSON object stored under `section_name` in the config file `source`. The
  // reader keeps a reference to `section`, so it must outlive the reader. When `null_means_default` is
  // true, a key set to null counts as missing; otherwise null is a wrong type.
  ConfigReader(const nlohmann::json& section, const std::string& source,
               const std::string& section_name, bool null_means_default = true);

  // Throws unless the section is a JSON object.
  void require_object() const;

  // Throws on the first key that is neither in `known` nor in `ignored`. The message lists the
  // known keys and ends with `hint` when it is not empty.
  void reject_unknown_keys(const std::vector<std::string>& known,
                           const std::vector<std::string>& ignored = {},
                           const std::string& hint = "") const;

  // True when `key` is present (and not null, when null means default).
  bool has(const std::string& key) const;

  // Returns `SECTION.KEY`.
  std::string dotted(const std::string& key) const;
  // Returns `config 'SOURCE': key "SECTION.KEY"`, for messages that do not fit `fail`.
  std::string where(const std::string& key) const;

  // Throws `... key "SECTION.KEY" must be EXPECTED, got GOT`.
  [[noreturn]] void fail(const std::string& key, const std::string& expected,
                         const std::string& got) const;

  // Each reader leaves `out` unchanged when the key is missing and throws on a wrong JSON type.
  void read_bool(const std::string& key, bool& out) const;
  // An integer >= min_value. When `accept_integral_float` is true, 128.0 or 1e3 (as a --set
  // value may arrive) reads as an integer, but 12.5 does not.
  void read_int(const std::string& key, int64_t& out, int64_t min_value = INT64_MIN,
                bool accept_integral_float = true) const;
  // A finite number; range checks are the caller's.
  void read_number(const std::string& key, double& out) const;
  void read_string(const std::string& key, std::string& out, bool allow_empty = true) const;
  // A JSON array of non-empty strings. Element errors name the key as "SECTION.KEY[i]".
  // `list_expected` and `item_expected` describe the array and one element in messages.
  void read_string_list(const std::string& key, std::vector<std::string>& out,
                        const std::string& list_expected = "a list of strings",
                        const std::string& item_expected = "a non-empty string") const;

 private:
  const nlohmann::json* find(const std::string& key) const;

  const nlohmann::json& section_;
  std::string source_;
  std::string section_name_;
  bool null_means_default_;
};

}  // namespace fq
