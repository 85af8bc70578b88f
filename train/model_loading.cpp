#include "train/model_loading.h"

#include <cstdio>

#include "core/check.h"
#include "train/checkpoint.h"

namespace fq {

namespace {

std::unique_ptr<FlashQuadForMaskedLM> model_from_state(const CheckpointState& state,
                                                       const std::string& path, RunConfig* run) {
  nlohmann::json json = nlohmann::json::parse(state.config_json, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    throw CheckpointError(CheckpointCheck::Payload, path, "the stored run config is not JSON");
  }
  *run = run_config_from_json(json, path);
  auto model = std::make_unique<FlashQuadForMaskedLM>(run->model, run->train.seed);
  std::vector<NamedParameter> params = model->named_parameters();
  validate_checkpoint(state, parameter_specs(params), path);
  restore_parameters(state.parameters, params);
  return model;
}

}  // namespace

LoadedModel load_model_checkpoint(const std::string& path) {
  CheckpointState state = load_checkpoint(path);
  LoadedModel loaded;
  loaded.path = path;
  loaded.step = state.step;
  loaded.model = model_from_state(state, path, &loaded.run);
  auto checksum = state.extra.find("vocab_checksum");
  if (checksum != state.extra.end()) loaded.vocab_checksum = checksum->second;
  return loaded;
}

std::string vocab_checksum_text(const Vocab& vocab) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(vocab.checksum()));
  return text;
}

void check_checkpoint_vocab(const std::string& stored_checksum, const Vocab& vocab,
                            const std::string& checkpoint_path, const std::string& fix) {
  if (stored_checksum.empty()) return;
  const std::string current = vocab_checksum_text(vocab);
  FQ_CHECK(stored_checksum == current,
           "checkpoint '" << checkpoint_path << "' was trained with another vocabulary than "
                          << vocab.source() << " (vocab checksum " << stored_checksum
                          << " in the checkpoint, " << current << " for " << vocab.source()
                          << "), so token ids would mean other tokens; " << fix);
}

std::string newest_valid_checkpoint(const std::string& run_dir, const std::string& config_name) {
  auto validator = [](const CheckpointState& state) {
    RunConfig run;
    model_from_state(state, "checkpoint", &run);
  };
  auto found = find_resume_checkpoint(run_dir, validator, [](const std::string& warning) {
    std::fprintf(stderr, "flashquad: warning: %s\n", warning.c_str());
  });
  FQ_CHECK(found.has_value(), "no valid checkpoint in '" << run_dir << "'; train one first with "
                                                         << "make train CONFIG=" << config_name
                                                         << ", or pass --checkpoint PATH");
  return found->path;
}

}  // namespace fq
