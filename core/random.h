// Counter-based random numbers. A stream is keyed by (seed, a, b), for example
// (seed, epoch, sequence index) for masking or (seed, step, layer) for dropout, so any stream can
// be rebuilt from its key alone without replaying earlier draws. Results depend only on the key,
// never on thread count or scheduling. The whole state is two 64-bit words, so it is trivial
// to checkpoint.
#pragma once

#include <cmath>
#include <cstdint>

namespace fq {

// SplitMix64 finalizer (Steele, Lea and Flood 2014): a bijective mix of 64 bits.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Derives one 64-bit key from a seed and two stream coordinates.
inline uint64_t stream_key(uint64_t seed, uint64_t a, uint64_t b) {
  return mix64(mix64(mix64(seed) ^ a) ^ (b * 0xD1B54A32D192ED03ull));
}

class CounterRng {
 public:
  CounterRng() = default;
  CounterRng(uint64_t seed, uint64_t a = 0, uint64_t b = 0) : key_(stream_key(seed, a, b)) {}

  // The draw at position `counter` of this stream; does not advance.
  uint64_t at(uint64_t counter) const { return mix64(key_ ^ mix64(counter)); }

  uint64_t next_u64() { return at(counter_++); }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), n > 0, without modulo bias (Lemire's multiply-shift with
  // rejection).
  uint64_t below(uint64_t n) {
    while (true) {
      unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * n;
      uint64_t low = static_cast<uint64_t>(m);
      if (low >= n || low >= (0 - n) % n) return static_cast<uint64_t>(m >> 64);
    }
  }

  // Standard normal by the Box-Muller transform (one value per two draws), computed in double.
  double normal() {
    double u1 = 1.0 - uniform();  // (0, 1]
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

  uint64_t key() const { return key_; }
  uint64_t counter() const { return counter_; }
  void set_state(uint64_t key, uint64_t counter) {
    key_ = key;
    counter_ = counter;
  }

 private:
  uint64_t key_ = 0;
  uint64_t counter_ = 0;
};

}  // namespace fq
