// Branch-free float exp and sigmoid that GCC vectorises inside plain loops (-O3 with AVX2 or
// AVX-512), replacing libm calls that run one element at a time. tests/core/test_fast_math.cpp
// checks exp_approx against double-precision exp: within 2 ulp over the normal float range.
#pragma once

#include <cstdint>
#include <cstring>

namespace fq {

// e^x for float x. Results below FLT_MIN (x < -87.33) are flushed to 0 instead of returning a
// subnormal; x > 88.72 gives +inf and NaN stays NaN.
inline float exp_approx(float x) {
  // x = n ln2 + r with |r| <= ln2 / 2, ln2 split into a high part exact in float and a low part.
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  // NaN maps to 0 here so the float-to-int conversion below stays defined; the NaN itself is
  // returned at the end.
  float clamped = x < -87.5f ? -87.5f : (x > 88.75f ? 88.75f : x);
  clamped = x != x ? 0.0f : clamped;
  // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (ties to even) in the
  // default rounding mode; unlike roundevenf it vectorises.
  constexpr float kRound = 12582912.0f;
  const float n = (clamped * kLog2e + kRound) - kRound;
  const float r = (clamped - n * kLn2Hi) - n * kLn2Lo;
  // Taylor polynomial of e^r to degree 7: truncation error below 6e-9 relative for |r| <= 0.347.
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // Multiply by 2^n in two halves so that n = 128 (x just below the overflow bound) stays exact.
  // n is in [-126, 128] after the clamp, so both biased exponents below are in [64, 191].
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t half = ni >> 1;
  const uint32_t bits_a = static_cast<uint32_t>(half + 127) << 23;
  const uint32_t bits_b = static_cast<uint32_t>(ni - half + 127) << 23;
  float scale_a, scale_b;
  std::memcpy(&scale_a, &bits_a, sizeof(float));
  std::memcpy(&scale_b, &bits_b, sizeof(float));
  float result = p * scale_a * scale_b;
  result = x < -87.33654f ? 0.0f : result;
  result = x > 88.72283f ? __builtin_inff() : result;
  return x != x ? x : result;
}

// 1 / (1 + e^-x), with exp taken of -|x| only so that nothing overflows.
inline float sigmoid_approx(float x) {
  const float e = exp_approx(x < 0.0f ? x : -x);
  const float inv = 1.0f / (1.0f + e);
  return x >= 0.0f ? inv : e * inv;
}

}  // namespace fq
