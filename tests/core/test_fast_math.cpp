#include "core/fast_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace fq {
namespace {

// Distance in units in the last place between a float result and the exact value.
double ulp_error(float got, double exact) {
  const double ulp = std::ldexp(1.0, std::ilogb(static_cast<float>(exact)) - 23);
  return std::fabs(static_cast<double>(got) - exact) / ulp;
}

TEST(FastMath, ExpWithinTwoUlp) {
  // Every 97th float bit pattern from -87.3 to 88.7, plus the exact points around 0.
  double worst = 0.0;
  float worst_x = 0.0f;
  for (float x : {-87.3f, -10.0f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 10.0f, 88.7f}) {
    const double err = ulp_error(exp_approx(x), std::exp(static_cast<double>(x)));
    EXPECT_LE(err, 2.0) << "x = " << x << ": exp_approx " << exp_approx(x);
  }
  for (float start : {-87.3f, 0.0f}) {
    const float end = start < 0.0f ? 0.0f : 88.7f;
    for (float x = start; x < end;) {
      const double err = ulp_error(exp_approx(x), std::exp(static_cast<double>(x)));
      if (err > worst) {
        worst = err;
        worst_x = x;
      }
      uint32_t bits;
      std::memcpy(&bits, &x, sizeof bits);
      bits = x < 0.0f ? bits - 97 : bits + 97;
      std::memcpy(&x, &bits, sizeof bits);
    }
  }
  EXPECT_LE(worst, 2.0) << "largest error at x = " << worst_x;
}

TEST(FastMath, ExpEdgeValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(exp_approx(0.0f), 1.0f);
  EXPECT_EQ(exp_approx(-100.0f), 0.0f);
  EXPECT_EQ(exp_approx(-inf), 0.0f);
  EXPECT_EQ(exp_approx(89.0f), inf);
  EXPECT_EQ(exp_approx(inf), inf);
  EXPECT_TRUE(std::isnan(exp_approx(std::nanf(""))));
}

TEST(FastMath, SigmoidMatchesDouble) {
  for (float x = -30.0f; x <= 30.0f; x += 0.0137f) {
    const double exact = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    EXPECT_LE(ulp_error(sigmoid_approx(x), exact), 4.0) << "x = " << x;
  }
  EXPECT_EQ(sigmoid_approx(-200.0f), 0.0f);
  EXPECT_EQ(sigmoid_approx(200.0f), 1.0f);
}

}  // namespace
}  // namespace fq
