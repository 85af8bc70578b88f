// Reverse-mode autograd engine: grad mode, recording ops, and the backward pass.
//
// An op records itself with record(out, name, {inputs...}, closure) after computing its output.
// Nothing is recorded when grad mode is off (NoGradGuard) or when no input requires grad.
// backward() runs each node once, in reverse topological order, then releases the graph: every
// visited node drops its closure (and so the tensors it saved), and non-leaf gradients are freed.
#pragma once

#include <initializer_list>
#include <vector>

#include "core/tensor.h"

namespace fq {

bool grad_enabled();
void set_grad_enabled(bool enabled);

// Disables recording for its lifetime (evaluation, optimizer updates). Nests.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when an op with these inputs must record a node.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a node to `out` (which must be a fresh tensor without history) when grad mode is on
// and some input requires grad. The closure must capture what it needs by value.
void record(Tensor& out, const char* name, const std::vector<Tensor>& inputs, BackwardFn backward);

// Backward from `roots` with seed gradients `grad_outputs` (same shapes). Accumulates into the
// .grad of every leaf that requires grad, then releases the graph.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_outputs);

}  // namespace fq

namespace fq {
// dst += src, elementwise over equal element counts (shapes may differ, e.g. a reshape).
void accumulate(Tensor& dst, const Tensor& src);
}  // namespace fq
