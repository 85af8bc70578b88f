// Loading a trained model back from a checkpoint, for eval, fill-mask and export.
#pragma once

#include <memory>
#include <string>

#include "nn/model.h"
#include "train/run_config.h"

namespace fq {

struct LoadedModel {
  std::string path;  // the checkpoint file
  int64_t step = 0;
  RunConfig run;     // the run config stored in the checkpoint
  std::unique_ptr<FlashQuadForMaskedLM> model;
};

// Loads `path`, rebuilds the model from the config stored inside it and copies the weights in.
// Throws CheckpointError naming the failed check.
LoadedModel load_model_checkpoint(const std::string& path);

// The newest checkpoint in `run_dir` that passes every check; warns on stderr about each newer
// one it skipped. Throws std::invalid_argument when there is none, saying how to train one.
std::string newest_valid_checkpoint(const std::string& run_dir, const std::string& config_name);

}  // namespace fq
