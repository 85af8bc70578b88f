// Subcommands forward (one forward/backward on a JSON batch, for numerical comparison with other
// implementations) and export (a Hugging Face style folder from weights or a checkpoint).
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/check.h"
#include "core/parallel.h"
#include "core/safetensors.h"
#include "nn/batch_json.h"
#include "nn/model.h"
#include "nn/model_config.h"
#include "nn/weights.h"
#include "train/commands.h"
#include "train/config.h"
#include "train/model_loading.h"

namespace fq {

namespace {

struct ForwardArgs {
  std::string config;
  std::string weights;
  std::string input;
  std::string out;
  bool grads = false;
  int threads = 0;
  std::vector<std::string> overrides;
};

struct ExportArgs {
  std::string checkpoint;
  std::string weights;
  std::string config;
  std::string vocab;
  std::string out;
  std::vector<std::string> overrides;
};

// The model config from either a run config (its "model" object) or a Hugging Face style
// config.json as `export` writes it (model keys at the top level), with overrides applied.
ModelConfig read_model_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  FQ_CHECK(in.good(), "config '" << path << "': cannot open (file not found or not readable)");
  nlohmann::json raw;
  try {
    raw = nlohmann::json::parse(in, nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    FQ_CHECK(false, "config '" << path << "' is not valid JSON: " << e.what());
  }
  if (raw.is_object() && !raw.contains("model") &&
      (raw.contains("model_type") || raw.contains("hidden_size"))) {
    nlohmann::json wrapped = {{"model", raw}};
    for (const std::string& o : overrides) apply_override(wrapped, o);
    return parse_model_config(wrapped.at("model"), path);
  }
  nlohmann::json config = load_config(path, overrides);
  FQ_CHECK(config.contains("model"),
           "config '" << path << "' has no \"model\" object; it needs the model keys "
                      << "(vocab_size, hidden_size, ...)");
  return parse_model_config(config.at("model"), path);
}

void run_forward_command(const ForwardArgs& args) {
  set_num_threads(args.threads);
  const ModelConfig config = read_model_config(args.config, args.overrides);
  FlashQuadForMaskedLM model(config, 0);
  load_weights(model, args.weights);
  const Batch batch = read_batch_json(args.input);
  FQ_CHECK(!args.grads || batch.labels.defined(),
           "forward: --grads needs \"labels\" in " << args.input << " to compute a loss");

  ForwardOptions options;
  options.compute_loss = batch.labels.defined();
  ModelOutput out;
  if (args.grads) {
    out = model.forward(batch, options);
    out.loss.backward();
  } else {
    NoGradGuard no_grad;
    out = model.forward(batch, options);
  }

  std::vector<std::pair<std::string, Tensor>> tensors = {{"logits", out.logits}};
  if (out.loss.defined()) tensors.emplace_back("loss", out.loss);
  if (args.grads) {
    for (const NamedParameter& p : model.named_parameters()) {
      // A parameter that no path reached (impossible for this model) would get a zero gradient.
      Tensor grad = p.tensor.grad().defined() ? p.tensor.grad() : Tensor::zeros(p.tensor.shape());
      tensors.emplace_back(p.name, grad);
    }
  }
  write_safetensors(args.out, tensors, {{"format", "pt"}});
  std::printf(
      "forward: batch [%lld, %lld], %lld targets", static_cast<long long>(batch.input_ids.size(0)),
      static_cast<long long>(batch.input_ids.size(1)), static_cast<long long>(batch.num_targets));
  if (out.loss.defined()) std::printf(", loss %.6f", out.loss.item());
  std::printf("; wrote %zu tensors to %s\n", tensors.size(), args.out.c_str());
}

void run_export_command(const ExportArgs& args) {
  const bool from_checkpoint = !args.checkpoint.empty();
  FQ_CHECK(from_checkpoint != !args.weights.empty(),
           "export: give either --checkpoint PATH or --weights FILE --config F, not both or "
           "neither");
  std::unique_ptr<FlashQuadForMaskedLM> model;
  std::string vocab = args.vocab;
  if (from_checkpoint) {
    FQ_CHECK(args.config.empty() && args.overrides.empty(),
             "export: --config and --set apply to --weights; a checkpoint stores its own config");
    LoadedModel loaded = load_model_checkpoint(args.checkpoint);
    model = std::move(loaded.model);
    if (vocab.empty()) vocab = loaded.run.data.vocab;  // the vocab the run trained with
    if (!loaded.vocab_checksum.empty()) {
      check_checkpoint_vocab(loaded.vocab_checksum, Vocab::load(vocab), args.checkpoint,
                             "pass the vocab.txt the model was trained with via --vocab");
    }
  } else {
    FQ_CHECK(!args.config.empty(),
             "export: --weights needs --config F naming the run config of those weights");
    model =
        std::make_unique<FlashQuadForMaskedLM>(read_model_config(args.config, args.overrides), 0);
    load_weights(*model, args.weights);
  }
  export_pretrained(*model, vocab, args.out);
  std::printf("export: wrote %s/model.safetensors, %s/config.json", args.out.c_str(),
              args.out.c_str());
  if (!vocab.empty()) std::printf(", %s/vocab.txt (from %s)", args.out.c_str(), vocab.c_str());
  std::printf("\n");
}

}  // namespace

void register_model_commands(CLI::App& app) {
  auto forward_args = std::make_shared<ForwardArgs>();
  CLI::App* forward = app.add_subcommand(
      "forward",
      "Run one forward pass (and backward with --grads) on a JSON batch and write logits, loss "
      "and gradients as safetensors, for comparison with other implementations");
  forward
      ->add_option("--config", forward_args->config,
                   "Run config (its \"model\" object is used) or an exported config.json")
      ->required();
  forward
      ->add_option("--weights", forward_args->weights,
                   "Model weights (.safetensors with the PyTorch parameter names)")
      ->required();
  forward
      ->add_option("--input", forward_args->input,
                   "Batch JSON: input_ids and optionally attention_mask, token_type_ids, "
                   "labels as arrays of rows")
      ->required();
  forward->add_option("--out", forward_args->out, "Output .safetensors file")->required();
  forward->add_flag("--grads", forward_args->grads,
                    "Also run backward and write each parameter's gradient under its name "
                    "(needs labels)");
  forward
      ->add_option("--threads", forward_args->threads,
                   "OpenMP and OpenBLAS threads; 0 means all cores")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  forward->add_option("--set", forward_args->overrides,
                      "Override a config key, e.g. --set model.attention_scale=seq_len");
  forward->callback([forward_args]() { run_forward_command(*forward_args); });

  auto export_args = std::make_shared<ExportArgs>();
  CLI::App* exporter = app.add_subcommand(
      "export",
      "Write a Hugging Face style folder (model.safetensors, config.json, vocab.txt) from a "
      "checkpoint or from a weights file and its config");
  exporter->add_option("--checkpoint", export_args->checkpoint, "Training checkpoint to export");
  exporter->add_option("--weights", export_args->weights,
                       "Weights .safetensors to export instead of a checkpoint (needs --config)");
  exporter->add_option("--config", export_args->config,
                       "Run config of --weights; its \"model\" object becomes config.json");
  exporter->add_option("--vocab", export_args->vocab,
                       "vocab.txt to copy into the folder (default for a checkpoint: the run's "
                       "data.vocab)");
  exporter->add_option("--out", export_args->out, "Output folder (created when missing)")
      ->required();
  exporter->add_option("--set", export_args->overrides, "Override a config key of --config");
  exporter->callback([export_args]() { run_export_command(*export_args); });
}

}  // namespace fq
