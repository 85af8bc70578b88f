// Learning-rate schedules of the Hugging Face Trainer (transformers.optimization), evaluated in
// double. Position k counts the optimizer updates already done: the t-th update (t = 1, 2, ...)
// uses lr(t - 1), so a run with warmup starts with learning rate 0, as the Trainer does.
#pragma once

#include <cstdint>
#include <string>

namespace fq {

enum class LrSchedulerType { Linear, Cosine, Constant, ConstantWithWarmup };

// "linear", "cosine", "constant", "constant_with_warmup"; throws std::invalid_argument otherwise.
LrSchedulerType parse_lr_scheduler_type(const std::string& name);
const char* lr_scheduler_type_name(LrSchedulerType type);

struct LrSchedule {
  LrSchedulerType type = LrSchedulerType::Linear;
  double base_lr = 0.0;
  int64_t warmup_steps = 0;
  int64_t max_steps = 0;

  // Learning rate at position k >= 0 (throws std::invalid_argument for k < 0):
  //   warmup (every type but constant), k < warmup_steps:  base * k / max(1, warmup_steps)
  //   linear:    base * max(0, (max_steps - k) / max(1, max_steps - warmup_steps))
  //   cosine:    base * max(0, 0.5 * (1 + cos(pi * p)))
  //              with p = (k - warmup_steps) / max(1, max_steps - warmup_steps)
  //   constant and constant_with_warmup after warmup: base
  // NOTE: like the Trainer's cosine schedule, cosine rises again for k > max_steps; the trainer
  // never evaluates it there.
  double lr_at(int64_t k) const;
};

}  // namespace fq
