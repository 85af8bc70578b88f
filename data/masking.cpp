#include "data/masking.h"

#include <cmath>
#include <vector>

namespace fq {

int64_t round_half_even(double x) {
  double floor = std::floor(x);
  double frac = x - floor;
  int64_t base = static_cast<int64_t>(floor);
  if (frac > 0.5) return base + 1;
  if (frac < 0.5) return base;
  return base % 2 == 0 ? base : base + 1;
}

int64_t mask_sequence(int32_t* ids, int32_t* labels, const uint8_t* word_starts, int64_t T,
                      const Vocab& vocab, double probability, CounterRng& rng) {
  // 1. Candidate words: [begin, end) runs of non-special positions.
  std::vector<int64_t> word_begin;
  std::vector<int64_t> word_end;
  int64_t candidates = 0;
  bool previous_candidate = false;
  for (int64_t t = 0; t < T; ++t) {
    labels[t] = kIgnoreLabel;
    bool candidate = !vocab.is_special(ids[t]);
    if (candidate) {
      ++candidates;
      if (!previous_candidate || word_starts == nullptr || word_starts[t]) {
        word_begin.push_back(t);
        word_end.push_back(t + 1);
      } else {
        word_end.back() = t + 1;
      }
    }
    previous_candidate = candidate;
  }
  if (candidates == 0) return 0;
  const int64_t budget =
      std::max<int64_t>(1, round_half_even(probability * static_cast<double>(candidates)));

  // 2. Shuffle the words (Fisher-Yates) and take whole words while they fit.
  const int64_t num_words = static_cast<int64_t>(word_begin.size());
  std::vector<int64_t> order(num_words);
  for (int64_t w = 0; w < num_words; ++w) order[w] = w;
  for (int64_t w = num_words - 1; w > 0; --w) {
    int64_t k = static_cast<int64_t>(rng.below(static_cast<uint64_t>(w + 1)));
    std::swap(order[w], order[k]);
  }
  int64_t chosen = 0;
  for (int64_t w : order) {
    if (chosen >= budget) break;
    int64_t length = word_end[w] - word_begin[w];
    if (chosen + length > budget) continue;
    for (int64_t t = word_begin[w]; t < word_end[w]; ++t) labels[t] = ids[t];
    chosen += length;
  }

  // 3. Corrupt the targets in position order: 80% [MASK], 10% random, 10% unchanged.
  const std::vector<int32_t>& pool = vocab.non_special_ids();
  for (int64_t t = 0; t < T; ++t) {
    if (labels[t] == kIgnoreLabel) continue;
    double u = rng.uniform();
    if (u < 0.8) {
      ids[t] = vocab.mask_id();
    } else if (u < 0.9) {
      ids[t] = pool[rng.below(pool.size())];
    }
  }
  return chosen;
}

}  // namespace fq
