#include "nn/weights.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "core/safetensors.h"
#include "nn/model_config.h"

namespace fq {

namespace {

// Alias name -> the parameter it is tied to.
const std::map<std::string, std::string>& tied_aliases() {
  static const std::map<std::string, std::string> aliases = {
      {"cls.predictions.decoder.weight", "flash_quad.embeddings.word_embeddings.weight"},
      {"cls.predictions.decoder.bias", "cls.predictions.bias"},
  };
  return aliases;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  return std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

}  // namespace

void load_weights(FlashQuadForMaskedLM& model, const std::string& safetensors_path) {
  const SafetensorsFile file = read_safetensors(safetensors_path);
  const std::vector<NamedParameter> parameters = model.named_parameters();

  // Name in the file that provides each parameter, preferring its own name over an alias.
  std::map<std::string, std::string> alias_of;
  for (const auto& [alias, target] : tied_aliases()) alias_of[target] = alias;

  std::vector<std::string> missing, mismatched, unexpected;
  std::map<std::string, const Tensor*> source;
  for (const NamedParameter& p : parameters) {
    const Tensor* found = nullptr;
    std::string found_name;
    if (file.contains(p.name)) {
      found = &file.tensors.at(p.name);
      found_name = p.name;
    } else if (alias_of.count(p.name) && file.contains(alias_of[p.name])) {
      found_name = alias_of[p.name];
      found = &file.tensors.at(found_name);
    }
    if (!found) {
      missing.push_back(p.name);
      continue;
    }
    if (!found->is_float()) {
      mismatched.push_back(found_name + " has dtype " + file.file_dtypes.at(found_name) +
                           ", expected a float type");
      continue;
    }
    if (found->shape() != p.tensor.shape()) {
      mismatched.push_back(found_name + " has shape " + shape_str(found->shape()) + ", expected " +
                           shape_str(p.tensor.shape()));
      continue;
    }
    source[p.name] = found;
  }
  std::map<std::string, bool> is_parameter;
  for (const NamedParameter& p : parameters) is_parameter[p.name] = true;
  for (const std::string& name : file.names) {
    auto alias = tied_aliases().find(name);
    if (is_parameter.count(name)) continue;
    if (alias != tied_aliases().end()) {
      // Both names of a tied pair present: they are one tensor, so they must agree.
      const auto target = source.find(alias->second);
      if (target != source.end() && file.contains(alias->second) &&
          !same_values(file.tensors.at(name), *target->second)) {
        mismatched.push_back(name + " differs from " + alias->second +
                             " although the two are tied");
      }
      continue;
    }
    unexpected.push_back(name);
  }

  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    std::ostringstream msg;
    msg << "load_weights: '" << safetensors_path << "' does not match the model config ("
        << parameters.size() << " parameters); nothing was loaded.";
    if (!missing.empty()) msg << " Missing (" << missing.size() << "): " << join(missing) << ".";
    if (!unexpected.empty()) {
      msg << " Unexpected (" << unexpected.size() << "): " << join(unexpected) << ".";
    }
    if (!mismatched.empty()) {
      msg << " Mismatched (" << mismatched.size() << "): " << join(mismatched) << ".";
    }
    msg << " Check that the config (hidden_size, num_hidden_layers, s, max_position_embeddings, "
           "norm_type, vocab_size) is the one the weights were trained with.";
    throw std::invalid_argument(msg.str());
  }

  for (const NamedParameter& p : parameters) {
    Tensor target = p.tensor;
    target.copy_from(*source.at(p.name));
  }
}

void save_weights(const FlashQuadForMaskedLM& model, const std::string& path) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const NamedParameter& p : model.named_parameters()) tensors.emplace_back(p.name, p.tensor);
  for (const auto& [alias, target] : tied_aliases()) {
    tensors.emplace_back(alias, model.parameter(target));
  }
  write_safetensors(path, tensors, {{"format", "pt"}});
}

void export_pretrained(const FlashQuadForMaskedLM& model, const std::string& vocab_path,
                       const std::string& out_dir) {
  FQ_CHECK(!out_dir.empty(), "export: the output folder name is empty");
  if (mkdir(out_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    FQ_CHECK(false, "export: cannot create folder '" << out_dir << "': " << std::strerror(errno));
  }
  struct stat info;
  FQ_CHECK(stat(out_dir.c_str(), &info) == 0 && S_ISDIR(info.st_mode),
           "export: '" << out_dir << "' exists and is not a folder");

  // vocab.txt first: a missing vocab must fail before anything is written.
  std::string vocab_text;
  if (!vocab_path.empty()) {
    std::ifstream in(vocab_path, std::ios::binary);
    FQ_CHECK(in.good(),
             "export: cannot open vocab '" << vocab_path << "': " << std::strerror(errno));
    std::ostringstream buffer;
    buffer << in.rdbuf();
    vocab_text = buffer.str();
    const std::string target = out_dir + "/vocab.txt";
    std::ofstream out(target, std::ios::binary);
    out << vocab_text;
    out.close();
    FQ_CHECK(out.good(), "export: writing '" << target << "' failed");
  }

  save_weights(model, out_dir + "/model.safetensors");

  const std::string config_path = out_dir + "/config.json";
  std::ofstream config_out(config_path);
  config_out << model_config_to_json(model.config()).dump(2) << "\n";
  config_out.close();
  FQ_CHECK(config_out.good(), "export: writing '" << config_path << "' failed");
}

}  // namespace fq
