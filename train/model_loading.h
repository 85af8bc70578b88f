// Loading a trained model back from a checkpoint, for eval, fill-mask and export.
#pragma once

#include <memory>
#include <string>

#include "data/vocab.h"
#include "nn/model.h"
#include "train/run_config.h"

namespace fq {

struct LoadedModel {
  std::string path;  // the checkpoint file
  int64_t step = 0;
  RunConfig run;     // the run config stored in the checkpoint
  // Vocab::checksum of the vocabulary the run trained with, as 16 hex digits; empty for
  // checkpoints written before training stored it.
  std::string vocab_checksum;
  std::unique_ptr<FlashQuadForMaskedLM> model;
};

// Loads `path`, rebuilds the model from the config stored inside it and copies the weights in.
// Throws CheckpointError naming the failed check.
LoadedModel load_model_checkpoint(const std::string& path);

// Vocab::checksum as the 16 lowercase hex digits that checkpoints and shard manifests store.
std::string vocab_checksum_text(const Vocab& vocab);

// Throws std::invalid_argument when `stored_checksum` (from the checkpoint `checkpoint_path`)
// is not empty and differs from the checksum of `vocab`: token ids would then mean other tokens
// than the ones the model learned. `fix` is the sentence that says what to do next.
void check_checkpoint_vocab(const std::string& stored_checksum, const Vocab& vocab,
                            const std::string& checkpoint_path, const std::string& fix);

// The newest checkpoint in `run_dir` that passes every check; warns on stderr about each newer
// one it skipped. Throws std::invalid_argument when there is none, saying how to train one.
std::string newest_valid_checkpoint(const std::string& run_dir, const std::string& config_name);

}  // namespace fq
