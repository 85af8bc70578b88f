#include "nn/checkpoint.h"

#include "core/autograd.h"
#include "core/check.h"

namespace fq {

namespace {

// Turns grad mode on for its lifetime: backward closures run with whatever mode the caller of
// backward() had, and the recomputation must record.
class EnableGradGuard {
 public:
  EnableGradGuard() : previous_(grad_enabled()) { set_grad_enabled(true); }
  ~EnableGradGuard() { set_grad_enabled(previous_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace

std::vector<Tensor> checkpoint(const CheckpointFn& fn, const Tensor& x,
                               const std::vector<Tensor>& parameters) {
  std::vector<Tensor> outputs;
  {
    NoGradGuard no_grad;
    outputs = fn(x);
  }
  FQ_INTERNAL(!outputs.empty() && outputs[0].defined(), "checkpoint: fn returned no output");

  std::vector<Tensor> inputs = {x};
  inputs.insert(inputs.end(), parameters.begin(), parameters.end());
  if (!needs_grad(inputs)) return outputs;

  const Tensor x_saved = x.detach();  // shares x's storage, which no op writes in place
  const bool x_needs_grad = x.requires_grad();
  record(outputs[0], "checkpoint", inputs,
         [fn, x_saved, x_needs_grad](const Tensor& dout, std::vector<Tensor>& dinputs) {
           EnableGradGuard grad_on;
           Tensor x_leaf = x_saved.detach();
           if (x_needs_grad) x_leaf.set_requires_grad(true);
           std::vector<Tensor> recomputed = fn(x_leaf);
           // Parameter gradients accumulate into the parameters' own .grad here, which is the
           // buffer the outer backward handed over as their dinputs, so nothing is added twice.
           run_backward({recomputed[0]}, {dout});
           if (x_needs_grad && x_leaf.grad().defined()) accumulate(dinputs[0], x_leaf.grad());
         });
  return outputs;
}

}  // namespace fq
