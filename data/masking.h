// Masked-LM corruption of one sequence (T tokens).
#pragma once

#include <cstdint>

#include "core/random.h"
#include "data/vocab.h"

namespace fq {

constexpr int32_t kIgnoreLabel = -100;

// Chooses targets among the non-special positions of ids[0..T) and corrupts them in place:
// count = max(1, round-half-even(probability * candidates)); each target becomes [MASK] with
// probability 0.8, a uniform non-special id with probability 0.1, and stays otherwise.
// labels[0..T) receives the original id at targets and kIgnoreLabel elsewhere.
// With `word_starts` (T flags), targets are whole words: a word is a run of candidate positions
// that starts at a flagged position (or after a special token); words are shuffled and each is
// taken whole while the total stays within the count, so a word longer than the remaining room is
// skipped and the total can end below the count. Without it every position is its own word.
// Returns the number of targets. All random draws come from `rng`.
int64_t mask_sequence(int32_t* ids, int32_t* labels, const uint8_t* word_starts, int64_t T,
                      const Vocab& vocab, double probability, CounterRng& rng);

// Python's round(x) for x >= 0: to nearest, ties to even.
int64_t round_half_even(double x);

}  // namespace fq
