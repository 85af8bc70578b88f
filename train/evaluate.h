// Held-out evaluation: masked-LM loss, perplexity and masked-token accuracy over the validation
// split, with the loss of a unigram model of the same targets as a reference point.
#pragma once

#include <cstdint>
#include <functional>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "nn/model.h"

namespace fq {

struct EvalResult {
  double loss = 0.0;          // mean cross-entropy over masked targets (nats)
  double perplexity = 0.0;    // exp(loss)
  double accuracy = 0.0;      // share of targets whose arg-max prediction is the label
  // Cross-entropy of the unigram distribution of these same targets: -sum p(w) log p(w). A model
  // that ignores its input cannot do better on average, so loss / unigram_loss shows how much
  // the context helps.
  double unigram_loss = 0.0;
  int64_t sequences = 0;
  int64_t targets = 0;
  bool stopped = false;  // stop_requested returned true; the other fields are incomplete
};

// Evaluates `batches` batches of `batch_size` sequences (batches <= 0: the whole split) in file
// order with the dataset's fixed evaluation masks, so the same weights always give the same
// numbers. Runs without autograd. When `stop_requested` is set, it is called before each batch,
// and a return value of true ends the evaluation early with `stopped` set.
EvalResult evaluate(const FlashQuadForMaskedLM& model, const MlmDataset& valid, int64_t batch_size,
                    int64_t batches, const std::function<bool()>& stop_requested = {});

nlohmann::json eval_result_to_json(const EvalResult& result);

}  // namespace fq
