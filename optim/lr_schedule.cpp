#include "optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace fq {

LrSchedulerType parse_lr_scheduler_type(const std::string& name) {
  if (name == "linear") return LrSchedulerType::Linear;
  if (name == "cosine") return LrSchedulerType::Cosine;
  if (name == "constant") return LrSchedulerType::Constant;
  if (name == "constant_with_warmup") return LrSchedulerType::ConstantWithWarmup;
  FQ_CHECK(false, "lr schedule: unknown lr_scheduler_type \""
                      << name
                      << "\"; expected \"linear\", \"cosine\", \"constant\" or "
                         "\"constant_with_warmup\"");
  return LrSchedulerType::Linear;
}

const char* lr_scheduler_type_name(LrSchedulerType type) {
  switch (type) {
    case LrSchedulerType::Linear:
      return "linear";
    case LrSchedulerType::Cosine:
      return "cosine";
    case LrSchedulerType::Constant:
      return "constant";
    case LrSchedulerType::ConstantWithWarmup:
      return "constant_with_warmup";
  }
  return "linear";
}

double LrSchedule::lr_at(int64_t k) const {
  FQ_CHECK(k >= 0, "lr schedule: position must be >= 0, got " << k);
  if (type == LrSchedulerType::Constant) return base_lr;

  // The multiplier is computed as the Trainer's lr_lambda computes it, then scaled by base_lr
  // (LambdaLR returns base_lr * lambda).
  if (k < warmup_steps) {
    return base_lr *
           (static_cast<double>(k) / static_cast<double>(std::max<int64_t>(1, warmup_steps)));
  }
  const double decay_steps = static_cast<double>(std::max<int64_t>(1, max_steps - warmup_steps));
  switch (type) {
    case LrSchedulerType::Linear:
      return base_lr * std::max(0.0, static_cast<double>(max_steps - k) / decay_steps);
    case LrSchedulerType::Cosine: {
      const double progress = static_cast<double>(k - warmup_steps) / decay_steps;
      return base_lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * 2.0 * 0.5 * progress)));
    }
    case LrSchedulerType::ConstantWithWarmup:
    case LrSchedulerType::Constant:
      return base_lr;
  }
  return base_lr;
}

}  // namespace fq
