// Subcommands train, eval and fill-mask.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "data/dataset.h"
#include "data/tokenizer.h"
#include "data/vocab.h"
#include "train/commands.h"
#include "train/evaluate.h"
#include "train/model_loading.h"
#include "train/trainer.h"

namespace fq {

namespace {

struct TrainArgs {
  std::string config;
  std::string resume;
  bool overwrite = false;
  std::vector<std::string> overrides;
};

struct EvalArgs {
  std::string config;
  std::string checkpoint;
  bool json = false;
  std::vector<std::string> overrides;
};

struct FillMaskArgs {
  std::string checkpoint;
  std::string vocab;
  int top_k = 5;
  bool json = false;
  std::string text;
};

void run_eval_command(const EvalArgs& args) {
  RunConfig run = resolve_run_config(args.config, args.overrides);
  set_num_threads(static_cast<int>(run.train.threads));
  std::string path = args.checkpoint.empty()
                         ? newest_valid_checkpoint(run.train.output_dir, run.name)
                         : args.checkpoint;
  LoadedModel loaded = load_model_checkpoint(path);
  FQ_CHECK(loaded.run.model.hidden_size == run.model.hidden_size &&
               loaded.run.model.num_hidden_layers == run.model.num_hidden_layers,
           "eval: checkpoint " << path << " holds a model of hidden_size "
                               << loaded.run.model.hidden_size << " and "
                               << loaded.run.model.num_hidden_layers << " layers, but "
                               << args.config << " describes " << run.model.hidden_size << " and "
                               << run.model.num_hidden_layers);
  MlmDataset valid(run.data, MlmDataset::Split::kValid, run.train.seed);
  check_checkpoint_vocab(loaded.vocab_checksum, valid.vocab(), path,
                         "evaluate with the config of the run that wrote the checkpoint, or "
                         "set data.vocab and data.shard_dir to that run's files");
  EvalResult result =
      evaluate(*loaded.model, valid, run.train.eval_batch_size, run.train.eval_batches);
  if (args.json) {
    nlohmann::json out = eval_result_to_json(result);
    out["checkpoint"] = path;
    out["step"] = loaded.step;
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("checkpoint        %s (step %" PRId64 ")\n", path.c_str(), loaded.step);
  std::printf("sequences         %" PRId64 " held-out, %" PRId64 " masked targets\n",
              result.sequences, result.targets);
  std::printf("eval_loss         %.4f\n", result.loss);
  std::printf("perplexity        %.2f\n", result.perplexity);
  std::printf("accuracy          %.4f\n", result.accuracy);
  std::printf("unigram loss      %.4f  (reference: a model that ignores the context; "
              "loss / unigram = %.3f)\n",
              result.unigram_loss, result.loss / result.unigram_loss);
}

void run_fill_mask_command(const FillMaskArgs& args) {
  FQ_CHECK(args.top_k >= 1, "fill-mask: --top-k must be >= 1, got " << args.top_k);
  LoadedModel loaded = load_model_checkpoint(args.checkpoint);
  set_num_threads(static_cast<int>(loaded.run.train.threads));
  const std::string vocab_path = args.vocab.empty() ? loaded.run.data.vocab : args.vocab;
  Vocab vocab = Vocab::load(vocab_path);
  check_checkpoint_vocab(loaded.vocab_checksum, vocab, args.checkpoint,
                         "pass the vocab.txt the model was trained with via --vocab");
  Tokenizer tokenizer(vocab, loaded.run.data.lowercase);
  const ModelConfig& mc = loaded.run.model;
  FQ_CHECK(vocab.size() <= mc.vocab_size,
           "fill-mask: vocabulary " << vocab_path << " has " << vocab.size()
                                    << " entries but the model has " << mc.vocab_size
                                    << "; pass the vocab.txt the model was trained with via --vocab");

  std::vector<int32_t> ids = {vocab.cls_id()};
  for (int32_t id : tokenizer.encode(args.text)) ids.push_back(id);
  ids.push_back(vocab.sep_id());
  FQ_CHECK(static_cast<int64_t>(ids.size()) <= mc.max_position_embeddings,
           "fill-mask: the text is " << ids.size() << " tokens with [CLS] and [SEP], more than "
                                     << "the model's max_position_embeddings = "
                                     << mc.max_position_embeddings << "; shorten it");
  std::vector<int64_t> mask_positions;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == vocab.mask_id()) mask_positions.push_back(static_cast<int64_t>(i));
  }
  FQ_CHECK(!mask_positions.empty(), "fill-mask: the text has no [MASK] token; write [MASK] where "
                                    "a token should be predicted, e.g. \"床前明月[MASK]\"");

  const int64_t n = static_cast<int64_t>(ids.size());
  Batch batch;
  batch.input_ids = Tensor::from_ids(ids, {1, n});
  batch.attention_mask = Tensor::from_ids(std::vector<int32_t>(ids.size(), 1), {1, n});
  batch.token_type_ids = Tensor::zeros({1, n}, DType::I32);
  ForwardOptions options;
  options.compute_loss = false;
  NoGradGuard no_grad;
  ModelOutput out = loaded.model->forward(batch, options);
  const float* logits = out.logits.data();  // (1, n, vocab)
  const int64_t vocab_size = mc.vocab_size;

  nlohmann::json json_out = nlohmann::json::array();
  for (size_t m = 0; m < mask_positions.size(); ++m) {
    const float* row = logits + mask_positions[m] * vocab_size;
    // Softmax over the ids the vocabulary defines; ids past its end have no token.
    const int64_t usable = vocab.size();
    double max_logit = row[0];
    for (int64_t j = 1; j < usable; ++j) max_logit = std::max<double>(max_logit, row[j]);
    double z = 0.0;
    for (int64_t j = 0; j < usable; ++j) z += std::exp(row[j] - max_logit);
    std::vector<int32_t> order(usable);
    std::iota(order.begin(), order.end(), 0);
    const int64_t k = std::min<int64_t>(args.top_k, usable);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    nlohmann::json candidates = nlohmann::json::array();
    if (!args.json) {
      std::printf("[MASK] %zu of %zu (token %" PRId64 "):\n", m + 1, mask_positions.size(),
                  mask_positions[m]);
    }
    for (int64_t r = 0; r < k; ++r) {
      const int32_t id = order[r];
      const double p = std::exp(row[id] - max_logit) / z;
      if (args.json) {
        candidates.push_back({{"token", vocab.token(id)}, {"id", id}, {"score", p}});
      } else {
        std::printf("  %2" PRId64 ". %-12s %.4f\n", r + 1, vocab.token(id).c_str(), p);
      }
    }
    if (args.json) json_out.push_back({{"position", mask_positions[m]}, {"candidates", candidates}});
  }
  if (args.json) std::printf("%s\n", json_out.dump(2).c_str());
}

}  // namespace

void register_train_commands(CLI::App& app) {
  auto train_args = std::make_shared<TrainArgs>();
  CLI::App* train = app.add_subcommand("train", "Pretrain a FLASH-Quad masked-LM model");
  train->add_option("--config", train_args->config, "Run config, e.g. configs/tiny.json")
      ->required();
  train->add_option("--resume", train_args->resume,
                    "'auto' continues from the newest valid checkpoint in the run folder; a path "
                    "continues from that checkpoint");
  train->add_flag("--overwrite", train_args->overwrite,
                  "Start a new run even if the run folder holds checkpoints (deletes them)");
  train->add_option("--set", train_args->overrides,
                    "Override a config key, e.g. --set train.max_steps=200 (repeatable)");
  train->callback([train_args]() {
    RunConfig run = resolve_run_config(train_args->config, train_args->overrides);
    TrainOptions options;
    options.resume = train_args->resume;
    options.overwrite = train_args->overwrite;
    FQ_CHECK(!(options.overwrite && !options.resume.empty()),
             "train: --overwrite and --resume exclude each other");
    int status = run_training(run, options);
    if (status != 0) throw CLI::RuntimeError(status);
  });

  auto eval_args = std::make_shared<EvalArgs>();
  CLI::App* eval = app.add_subcommand(
      "eval", "Masked-LM loss, perplexity and accuracy on the held-out split");
  eval->add_option("--config", eval_args->config, "Run config, e.g. configs/tiny.json")
      ->required();
  eval->add_option("--checkpoint", eval_args->checkpoint,
                   "Checkpoint file (default: the newest valid one in the run folder)");
  eval->add_flag("--json", eval_args->json, "Print the results as JSON");
  eval->add_option("--set", eval_args->overrides, "Override a config key (repeatable)");
  eval->callback([eval_args]() { run_eval_command(*eval_args); });

  auto fill_args = std::make_shared<FillMaskArgs>();
  CLI::App* fill = app.add_subcommand("fill-mask", "Predict the tokens at each [MASK] of a text");
  fill->add_option("--checkpoint", fill_args->checkpoint, "Checkpoint file")->required();
  fill->add_option("--top-k", fill_args->top_k, "Candidates to print per [MASK] (default 5)");
  fill->add_option("--vocab", fill_args->vocab,
                   "vocab.txt (default: data.vocab of the config stored in the checkpoint)");
  fill->add_flag("--json", fill_args->json, "Print the candidates as JSON");
  fill->add_option("text", fill_args->text, "Text with one or more [MASK] tokens")->required();
  fill->callback([fill_args]() { run_fill_mask_command(*fill_args); });
}

}  // namespace fq
