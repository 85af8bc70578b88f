// AdamW over named parameters, with two update rules:
//   adamw_torch (torch.optim.AdamW, torch 1.13, single-tensor path):
//     p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
//     p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
//   adamw_hf (transformers.AdamW, the optimizer of older Hugging Face Trainer runs):
//     m, v as above;  p -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v) + eps);  then p -= lr*wd*p
// Arithmetic is float32 in the operation order of the PyTorch kernels, with scalars computed in
// double and rounded to float once, as PyTorch does for Python scalars.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/model.h"

namespace fq {

enum class AdamWVariant { Torch, HuggingFace };

// "adamw_torch" -> Torch, "adamw_hf" -> HuggingFace; throws std::invalid_argument otherwise.
AdamWVariant parse_adamw_variant(const std::string& name);
const char* adamw_variant_name(AdamWVariant variant);

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  // A parameter whose name contains any of these substrings gets weight decay 0.
  std::vector<std::string> no_decay = {"bias", "LayerNorm."};
  AdamWVariant variant = AdamWVariant::Torch;
};

// Optimizer state of one parameter. `step` counts the updates this parameter received; it lags
// the optimizer's step count when the parameter had no gradient in some steps.
struct AdamWParamState {
  std::string name;
  Shape shape;
  int64_t step = 0;
  std::vector<float> exp_avg;     // m, numel(shape) values
  std::vector<float> exp_avg_sq;  // v, numel(shape) values
};

// Whole optimizer state, in the order of the parameter list the optimizer was built with.
struct AdamWState {
  int64_t step_count = 0;  // calls of step()
  std::vector<AdamWParamState> params;
};

class AdamW {
 public:
  // Allocates zeroed moments for every parameter. Throws std::invalid_argument on an undefined
  // or non-float tensor, a duplicate name or a tensor listed twice (a tied weight must appear
  // once so it is updated and decayed once), and on options outside torch's accepted ranges
  // (betas in [0, 1), eps >= 0, weight_decay >= 0).
  AdamW(std::vector<NamedParameter> params, const AdamWOptions& options);

  // One update with learning rate `lr`. A parameter whose grad is undefined is skipped entirely
  // (no decay, no moment update, its step count unchanged), as torch does.
  void step(double lr);

  // Zeroes every gradient in place (keeping the buffers, as torch 1.13's zero_grad() does by
  // default), or drops them when set_to_none is true.
  void zero_grad(bool set_to_none = false);

  // True when weight decay applies to the parameter with this name.
  bool decays(const std::string& name) const;

  const std::vector<NamedParameter>& params() const { return params_; }
  const AdamWOptions& options() const { return options_; }
  int64_t step_count() const { return state_.step_count; }

  // Copy of the full state, for checkpoints.
  AdamWState state() const { return state_; }
  // Replaces the state after checking that it lists exactly this optimizer's parameters (same
  // names, order and shapes, moment sizes equal to numel). Throws std::invalid_argument naming
  // the first mismatch; on failure the current state is unchanged.
  void load_state(const AdamWState& state);

 private:
  std::vector<NamedParameter> params_;
  AdamWOptions options_;
  std::vector<bool> decay_;  // per parameter
  AdamWState state_;
};

// Zeroes (or drops) the gradient of every listed parameter.
void zero_grad(const std::vector<NamedParameter>& params, bool set_to_none = false);

}  // namespace fq
