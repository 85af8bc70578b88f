#include "data/data_config.h"

#include <sstream>

#include "core/config_reader.h"

namespace fq {

namespace {

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

DataConfig parse_data_config(const nlohmann::json& data, const std::string& source) {
  DataConfig config;
  if (data.is_null()) return config;
  // A key set to null is a wrong type here, not a request for the default.
  ConfigReader reader(data, source, "data", /*null_means_default=*/false);
  reader.require_object();
  reader.reject_unknown_keys({"train_files", "vocab", "lowercase", "max_seq_length",
                              "mlm_probability", "whole_word_mask", "valid_fraction", "shard_dir",
                              "document_separator", "cache_dir"});

  // A single string is accepted as a one-element list.
  if (reader.has("train_files") && data.at("train_files").is_string()) {
    std::string file;
    reader.read_string("train_files", file, /*allow_empty=*/false);
    config.train_files = {file};
  } else {
    reader.read_string_list("train_files", config.train_files,
                            "a list of file paths or globs (or one path as a string)",
                            "a non-empty file path or glob");
  }

  reader.read_string("vocab", config.vocab, /*allow_empty=*/false);
  reader.read_bool("lowercase", config.lowercase);

  reader.read_int("max_seq_length", config.max_seq_length, INT64_MIN,
                  /*accept_integral_float=*/false);
  if (config.max_seq_length < 3) {
    reader.fail("max_seq_length", "at least 3 ([CLS], one token, [SEP])",
                std::to_string(config.max_seq_length));
  }

  reader.read_number("mlm_probability", config.mlm_probability);
  if (!(config.mlm_probability > 0.0 && config.mlm_probability < 1.0)) {
    reader.fail("mlm_probability", "a probability in (0, 1)",
                format_number(config.mlm_probability));
  }

  reader.read_bool("whole_word_mask", config.whole_word_mask);

  reader.read_number("valid_fraction", config.valid_fraction);
  if (!(config.valid_fraction >= 0.0 && config.valid_fraction < 1.0)) {
    reader.fail("valid_fraction", "a fraction in [0, 1)", format_number(config.valid_fraction));
  }

  reader.read_string("shard_dir", config.shard_dir, /*allow_empty=*/false);

  reader.read_string("document_separator", config.document_separator, /*allow_empty=*/false);
  if (config.document_separator != "line" && config.document_separator != "blank_line") {
    reader.fail("document_separator", "\"line\" or \"blank_line\"",
                "\"" + config.document_separator + "\"");
  }

  reader.read_string("cache_dir", config.cache_dir, /*allow_empty=*/false);
  return config;
}

}  // namespace fq
