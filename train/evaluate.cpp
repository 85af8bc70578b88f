#include "train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"

namespace fq {

EvalResult evaluate(const FlashQuadForMaskedLM& model, const MlmDataset& valid, int64_t batch_size,
                    int64_t batches, const std::function<bool()>& stop_requested) {
  FQ_CHECK(batch_size >= 1, "evaluate: batch size must be >= 1, got " << batch_size);
  NoGradGuard no_grad;
  const int64_t vocab = model.config().vocab_size;
  const int64_t total = valid.num_sequences();
  FQ_CHECK(total > 0, "evaluate: the validation split has no sequences; raise "
                      "data.valid_fraction or add documents to the corpus");
  int64_t end = total;
  if (batches > 0) end = std::min(total, batches * batch_size);

  EvalResult result;
  double loss_sum = 0.0;
  int64_t correct = 0;
  std::unordered_map<int32_t, int64_t> label_counts;
  for (int64_t first = 0; first < end; first += batch_size) {
    if (stop_requested && stop_requested()) {
      result.stopped = true;
      return result;
    }
    Batch batch = valid.eval_batch(first, std::min(batch_size, end - first));
    result.sequences += batch.input_ids.size(0);
    if (batch.num_targets == 0) continue;

    ForwardOptions options;
    options.compute_loss = true;
    options.loss_divisor = 1.0;  // the sum of token losses
    options.output_logits = true;
    ModelOutput out = model.forward(batch, options);
    loss_sum += out.loss.item();

    const float* logits = out.logits.data();  // (B, T, vocab)
    const int32_t* labels = batch.labels.ids();
    const int64_t rows = batch.labels.numel();
    for (int64_t r = 0; r < rows; ++r) {
      if (labels[r] == -100) continue;
      const float* row = logits + r * vocab;
      int64_t best = 0;
      for (int64_t j = 1; j < vocab; ++j) {
        if (row[j] > row[best]) best = j;
      }
      correct += best == labels[r];
      ++label_counts[labels[r]];
      ++result.targets;
    }
  }
  FQ_CHECK(result.targets > 0, "evaluate: no masked targets in " << result.sequences
                                                                 << " validation sequences");
  result.loss = loss_sum / static_cast<double>(result.targets);
  result.perplexity = std::exp(result.loss);
  result.accuracy = static_cast<double>(correct) / static_cast<double>(result.targets);

  // Entropy of the target distribution, summed in id order so the value is reproducible.
  std::vector<std::pair<int32_t, int64_t>> counts(label_counts.begin(), label_counts.end());
  std::sort(counts.begin(), counts.end());
  double entropy = 0.0;
  for (const auto& entry : counts) {
    double p = static_cast<double>(entry.second) / static_cast<double>(result.targets);
    entropy -= p * std::log(p);
  }
  result.unigram_loss = entropy;
  return result;
}

nlohmann::json eval_result_to_json(const EvalResult& result) {
  return {{"eval_loss", result.loss},
          {"eval_perplexity", result.perplexity},
          {"eval_accuracy", result.accuracy},
          {"eval_unigram_loss", result.unigram_loss},
          {"eval_sequences", result.sequences},
          {"eval_targets", result.targets}};
}

}  // namespace fq
