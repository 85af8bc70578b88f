// Learning-rate schedules against values worked out by hand from the Trainer's formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "optim/lr_schedule.h"

namespace fq {
namespace {

LrSchedule make(LrSchedulerType type, double base, int64_t warmup, int64_t max_steps) {
  LrSchedule s;
  s.type = type;
  s.base_lr = base;
  s.warmup_steps = warmup;
  s.max_steps = max_steps;
  return s;
}

void expect_rel(double actual, double expected, const char* what) {
  EXPECT_LE(std::fabs(actual - expected), 1e-12 * std::max(1.0, std::fabs(expected)))
      << what << ": got " << actual << ", expected " << expected;
}

TEST(LrSchedule, LinearWarmupAndDecay) {
  LrSchedule s = make(LrSchedulerType::Linear, 1e-3, 10, 110);
  expect_rel(s.lr_at(0), 0.0, "k=0 (first update)");
  expect_rel(s.lr_at(1), 1e-4, "k=1");
  expect_rel(s.lr_at(9), 9e-4, "k=warmup-1");
  expect_rel(s.lr_at(10), 1e-3, "k=warmup");
  expect_rel(s.lr_at(60), 5e-4, "k=midway through decay");
  expect_rel(s.lr_at(109), 1e-5, "k=max_steps-1 (last update)");
  expect_rel(s.lr_at(110), 0.0, "k=max_steps");
  expect_rel(s.lr_at(500), 0.0, "k beyond max_steps");
}

TEST(LrSchedule, LinearWithoutWarmup) {
  LrSchedule s = make(LrSchedulerType::Linear, 2e-3, 0, 4);
  expect_rel(s.lr_at(0), 2e-3, "k=0");
  expect_rel(s.lr_at(1), 1.5e-3, "k=1");
  expect_rel(s.lr_at(3), 0.5e-3, "k=3");
  expect_rel(s.lr_at(4), 0.0, "k=max_steps");
  expect_rel(s.lr_at(5), 0.0, "k beyond max_steps");
}

TEST(LrSchedule, WarmupLongerThanRun) {
  // The Trainer allows warmup_steps > max_steps: the rate then only ramps up.
  LrSchedule s = make(LrSchedulerType::Linear, 1.0, 8, 4);
  expect_rel(s.lr_at(3), 3.0 / 8.0, "k=3");
  expect_rel(s.lr_at(8), 0.0, "k=warmup, past max_steps");
}

TEST(LrSchedule, CosineWarmupAndDecay) {
  LrSchedule s = make(LrSchedulerType::Cosine, 1e-3, 4, 12);
  expect_rel(s.lr_at(0), 0.0, "k=0");
  expect_rel(s.lr_at(1), 2.5e-4, "k=1");
  expect_rel(s.lr_at(3), 7.5e-4, "k=warmup-1");
  expect_rel(s.lr_at(4), 1e-3, "k=warmup");
  expect_rel(s.lr_at(6), 1e-3 * 0.5 * (1.0 + std::cos(M_PI * 0.25)), "k=warmup+2");
  expect_rel(s.lr_at(8), 5e-4, "k=midway");
  EXPECT_LE(std::fabs(s.lr_at(12)), 1e-18) << "k=max_steps: got " << s.lr_at(12);
  // The Trainer's cosine rises again past max_steps; 14 is a quarter period past the minimum.
  expect_rel(s.lr_at(14), 1e-3 * 0.5 * (1.0 + std::cos(M_PI * 1.25)), "k beyond max_steps");
}

TEST(LrSchedule, CosineWithoutWarmup) {
  LrSchedule s = make(LrSchedulerType::Cosine, 1.0, 0, 2);
  expect_rel(s.lr_at(0), 1.0, "k=0");
  expect_rel(s.lr_at(1), 0.5, "k=1");
}

TEST(LrSchedule, ConstantTypes) {
  LrSchedule constant = make(LrSchedulerType::Constant, 3e-4, 5, 10);
  expect_rel(constant.lr_at(0), 3e-4, "constant k=0 ignores warmup");
  expect_rel(constant.lr_at(50), 3e-4, "constant k=50");
  LrSchedule warm = make(LrSchedulerType::ConstantWithWarmup, 3e-4, 5, 10);
  expect_rel(warm.lr_at(0), 0.0, "constant_with_warmup k=0");
  expect_rel(warm.lr_at(2), 1.2e-4, "constant_with_warmup k=2");
  expect_rel(warm.lr_at(5), 3e-4, "constant_with_warmup k=warmup");
  expect_rel(warm.lr_at(50), 3e-4, "constant_with_warmup beyond max_steps");
}

TEST(LrSchedule, ParsesNamesAndRejectsBadInput) {
  EXPECT_EQ(parse_lr_scheduler_type("linear"), LrSchedulerType::Linear);
  EXPECT_EQ(parse_lr_scheduler_type("cosine"), LrSchedulerType::Cosine);
  EXPECT_EQ(parse_lr_scheduler_type("constant"), LrSchedulerType::Constant);
  EXPECT_EQ(parse_lr_scheduler_type("constant_with_warmup"), LrSchedulerType::ConstantWithWarmup);
  EXPECT_STREQ(lr_scheduler_type_name(LrSchedulerType::ConstantWithWarmup), "constant_with_warmup");
  EXPECT_THROW(parse_lr_scheduler_type("polynomial"), std::invalid_argument);
  LrSchedule s = make(LrSchedulerType::Linear, 1.0, 1, 2);
  EXPECT_THROW(s.lr_at(-1), std::invalid_argument);
}

}  // namespace
}  // namespace fq
