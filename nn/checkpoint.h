// Activation checkpointing: run a block without keeping its autograd graph, and rebuild that
// graph in backward. Memory falls from every intermediate of the block to its input alone; the
// cost is one more forward of the block during backward.
#pragma once

#include <functional>
#include <vector>

#include "core/tensor.h"

namespace fq {

using CheckpointFn = std::function<std::vector<Tensor>(const Tensor& x)>;

// Returns fn(x), computed in no-grad mode. When grad mode is on and x or a parameter requires
// grad, outputs[0] gets one node. In backward, that node reruns fn on a detached copy of x with
// grad on and back-propagates its incoming gradient through the fresh graph. x receives its
// gradient through the node, and the parameters (the leaves fn uses, listed in `parameters`)
// receive theirs directly. The other outputs carry no history. fn must be deterministic and may
// only read x and the listed parameters, so the recomputation equals the first run bit for bit.
std::vector<Tensor> checkpoint(const CheckpointFn& fn, const Tensor& x,
                               const std::vector<Tensor>& parameters);

}  // namespace fq
