// The pretraining loop: micro-batches with gradient accumulation, clipping, AdamW with the
// learning-rate schedule, periodic logging, evaluation and checkpoints, clean stops on SIGINT or
// SIGTERM, and bit-exact resume.
#pragma once

#include <string>

#include "train/run_config.h"

namespace fq {

struct TrainOptions {
  // "" starts a new run, "auto" resumes from the newest valid checkpoint in the run folder
  // (starting fresh when there is none), anything else is a checkpoint path.
  std::string resume;
  // Start a new run even though the run folder contains checkpoints (they are deleted).
  bool overwrite = false;
};

// Runs training to train.max_steps. Returns the process exit status: 0 when finished or stopped
// cleanly by a signal. Throws std::invalid_argument or CheckpointError on bad input, and
// std::runtime_error when the loss or the gradient norm stops being finite.
int run_training(const RunConfig& run, const TrainOptions& options);

}  // namespace fq
