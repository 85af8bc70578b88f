#include "data/data_config.h"

#include <cmath>

#include "core/check.h"

namespace fq {

namespace {

using nlohmann::json;

std::string where(const std::string& source, const std::string& key) {
  return source + ": data." + key;
}

bool read_bool(const json& value, const std::string& source, const std::string& key) {
  FQ_CHECK(value.is_boolean(), where(source, key) << ": expected true or false, got " << value.dump());
  return value.get<bool>();
}

int64_t read_int(const json& value, const std::string& source, const std::string& key) {
  FQ_CHECK(value.is_number_integer(),
           where(source, key) << ": expected an integer, got " << value.dump());
  return value.get<int64_t>();
}

double read_number(const json& value, const std::string& source, const std::string& key) {
  FQ_CHECK(value.is_number(), where(source, key) << ": expected a number, got " << value.dump());
  double x = value.get<double>();
  FQ_CHECK(std::isfinite(x), where(source, key) << ": expected a finite number, got " << value.dump());
  return x;
}

std::string read_string(const json& value, const std::string& source, const std::string& key,
                        bool allow_empty) {
  FQ_CHECK(value.is_string(), where(source, key) << ": expected a string, got " << value.dump());
  std::string text = value.get<std::string>();
  FQ_CHECK(allow_empty || !text.empty(), where(source, key) << ": expected a non-empty string");
  return text;
}

}  // namespace

DataConfig parse_data_config(const json& data, const std::string& source) {
  DataConfig config;
  if (data.is_null()) return config;
  FQ_CHECK(data.is_object(), source << ": \"data\" must be an object, got " << data.dump());

  for (const auto& [key, value] : data.items()) {
    if (key == "train_files") {
      // A single string is accepted as a one-element list.
      if (value.is_string()) {
        config.train_files = {read_string(value, source, key, false)};
        continue;
      }
      FQ_CHECK(value.is_array(), where(source, key)
                                     << ": expected a list of file paths or globs, got "
                                     << value.dump());
      config.train_files.clear();
      for (size_t i = 0; i < value.size(); ++i) {
        config.train_files.push_back(
            read_string(value[i], source, key + "[" + std::to_string(i) + "]", false));
      }
    } else if (key == "vocab") {
      config.vocab = read_string(value, source, key, false);
    } else if (key == "lowercase") {
      config.lowercase = read_bool(value, source, key);
    } else if (key == "max_seq_length") {
      config.max_seq_length = read_int(value, source, key);
      FQ_CHECK(config.max_seq_length >= 3,
               where(source, key) << ": expected at least 3 ([CLS], one token, [SEP]), got "
                                  << config.max_seq_length);
    } else if (key == "mlm_probability") {
      config.mlm_probability = read_number(value, source, key);
      FQ_CHECK(config.mlm_probability > 0.0 && config.mlm_probability < 1.0,
               where(source, key) << ": expected a probability in (0, 1), got "
                                  << config.mlm_probability);
    } else if (key == "whole_word_mask") {
      config.whole_word_mask = read_bool(value, source, key);
    } else if (key == "valid_fraction") {
      config.valid_fraction = read_number(value, source, key);
      FQ_CHECK(config.valid_fraction >= 0.0 && config.valid_fraction < 1.0,
               where(source, key) << ": expected a fraction in [0, 1), got "
                                  << config.valid_fraction);
    } else if (key == "shard_dir") {
      config.shard_dir = read_string(value, source, key, false);
    } else if (key == "document_separator") {
      config.document_separator = read_string(value, source, key, false);
      FQ_CHECK(config.document_separator == "line" || config.document_separator == "blank_line",
               where(source, key) << ": expected \"line\" or \"blank_line\", got \""
                                  << config.document_separator << "\"");
    } else if (key == "cache_dir") {
      config.cache_dir = read_string(value, source, key, false);
    } else {
      FQ_CHECK(false, source << ": unknown key data." << key
                             << "; expected one of train_files, vocab, lowercase, max_seq_length, "
                                "mlm_probability, whole_word_mask, valid_fraction, shard_dir, "
                                "document_separator, cache_dir");
    }
  }
  return config;
}

}  // namespace fq
