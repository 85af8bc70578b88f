// Gradient clipping by the global L2 norm over all gradients, as torch.nn.utils.clip_grad_norm_
// with the Hugging Face Trainer's convention that max_norm 0 disables clipping.
#pragma once

#include <vector>

#include "nn/model.h"

namespace fq {

struct ClipResult {
  double norm = 0.0;     // global L2 norm before clipping (what the Trainer logs as grad_norm)
  bool finite = true;    // false when the norm is NaN or infinite; gradients are then left as is
  bool clipped = false;  // true when the gradients were scaled
};

// Returns the L2 norm over the gradients of all parameters (undefined gradients count as zero),
// summed in double in a fixed order that does not depend on the thread count.
double global_grad_norm(const std::vector<NamedParameter>& params);

// Computes the global norm and, when max_norm > 0 and the norm is finite, scales every gradient
// by max_norm / (norm + 1e-6) if that factor is below 1. Throws std::invalid_argument for a
// negative or non-finite max_norm.
ClipResult clip_grad_norm(const std::vector<NamedParameter>& params, double max_norm);

}  // namespace fq
