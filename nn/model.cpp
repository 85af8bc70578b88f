#include "nn/model.h"

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/flash_quad_embeddings.h"
#include "nn/gau.h"
#include "nn/mlm_head.h"
#include "nn/parameters.h"

namespace fq {

namespace {

// Checks that `t` is an I32 (B, T) tensor like input_ids; `name` is the batch field.
void check_batch_field(const Tensor& t, const char* name, const Shape& shape) {
  FQ_CHECK(t.dtype() == DType::I32,
           "model forward: batch." << name << " must be int32, got " << dtype_name(t.dtype()));
  FQ_CHECK(t.shape() == shape, "model forward: batch."
                                   << name << " has shape " << shape_str(t.shape())
                                   << " but input_ids has shape " << shape_str(shape));
}

// Each value of `t` must be in [lo, hi) or equal `allowed`; names the first bad value and its
// (row, column) position.
void check_range(const Tensor& t, const char* name, int64_t lo, int64_t hi, int64_t allowed,
                 const char* hint) {
  const int32_t* v = t.ids();
  const int64_t cols = t.size(1);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if ((v[i] >= lo && v[i] < hi) || v[i] == allowed) continue;
    FQ_CHECK(false, "model forward: batch." << name << "[" << i / cols << "][" << i % cols
                                            << "] = " << v[i] << " is outside [" << lo << ", " << hi
                                            << ")" << hint);
  }
}

void validate_batch(const ModelConfig& config, const Batch& batch, bool needs_labels) {
  const Tensor& ids = batch.input_ids;
  FQ_CHECK(ids.defined(), "model forward: batch.input_ids is undefined");
  FQ_CHECK(ids.dtype() == DType::I32,
           "model forward: batch.input_ids must be int32, got " << dtype_name(ids.dtype()));
  FQ_CHECK(ids.dim() == 2 && ids.size(0) > 0 && ids.size(1) > 0,
           "model forward: batch.input_ids must be (B, T) with B, T > 0, got "
               << shape_str(ids.shape()));
  FQ_CHECK(ids.size(1) <= config.max_position_embeddings,
           "model forward: sequence length " << ids.size(1) << " exceeds max_position_embeddings "
                                             << config.max_position_embeddings
                                             << "; shorten the sequences (data.max_seq_length)");
  check_range(ids, "input_ids", 0, config.vocab_size, 0, " (vocab_size)");
  if (batch.attention_mask.defined()) {
    check_batch_field(batch.attention_mask, "attention_mask", ids.shape());
    check_range(batch.attention_mask, "attention_mask", 0, 2, 0, " (expected 0 or 1)");
  }
  if (batch.token_type_ids.defined()) {
    check_batch_field(batch.token_type_ids, "token_type_ids", ids.shape());
    check_range(batch.token_type_ids, "token_type_ids", 0, config.type_vocab_size, 0,
                " (type_vocab_size)");
  }
  if (batch.labels.defined()) {
    check_batch_field(batch.labels, "labels", ids.shape());
    check_range(batch.labels, "labels", 0, config.vocab_size, -100,
                " (vocab_size) and is not the ignore index -100");
  }
  FQ_CHECK(!needs_labels || batch.labels.defined(),
           "model forward: compute_loss is set but batch.labels is undefined");
}

}  // namespace

struct FlashQuadForMaskedLM::Impl {
  ModelConfig config;
  std::vector<NamedParameter> parameters;
  FlashQuadEmbeddings embeddings;
  std::vector<GauLayer> layers;
  MlmHead head;
};

FlashQuadForMaskedLM::FlashQuadForMaskedLM(const ModelConfig& config, uint64_t seed)
    : impl_(std::make_unique<Impl>()) {
  validate_model_config(config, "FlashQuadForMaskedLM");
  Impl& m = *impl_;
  m.config = config;
  ParameterFactory factory(seed, config.initializer_range, &m.parameters);
  m.embeddings = FlashQuadEmbeddings("flash_quad.embeddings", config, factory);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    m.layers.emplace_back("flash_quad.encoder.layer." + std::to_string(i), config, factory);
  }
  m.head = MlmHead(config, m.embeddings.word_weight(), factory);
}

FlashQuadForMaskedLM::~FlashQuadForMaskedLM() = default;

const ModelConfig& FlashQuadForMaskedLM::config() const { return impl_->config; }

std::vector<NamedParameter> FlashQuadForMaskedLM::named_parameters() const {
  return impl_->parameters;
}

Tensor FlashQuadForMaskedLM::parameter(const std::string& name) const {
  for (const NamedParameter& p : impl_->parameters) {
    if (p.name == name) return p.tensor;
  }
  FQ_CHECK(false, "model: no parameter named \"" << name << "\"");
  return Tensor();
}

ModelOutput FlashQuadForMaskedLM::forward(const Batch& batch, const ForwardOptions& options) const {
  const Impl& m = *impl_;
  const ModelConfig& config = m.config;
  validate_batch(config, batch, options.compute_loss);
  const Tensor& ids = batch.input_ids;  // (B, T)
  const int64_t batch_size = ids.size(0);
  const int64_t seq_len = ids.size(1);

  // 1. defaults: mask from pad ids, token type 0
  Tensor attention_mask = batch.attention_mask;
  if (!attention_mask.defined()) {
    std::vector<int32_t> mask(static_cast<size_t>(ids.numel()));
    const int32_t* id = ids.ids();
    for (int64_t i = 0; i < ids.numel(); ++i) mask[i] = id[i] != config.pad_token_id;
    attention_mask = Tensor::from_ids(mask, ids.shape());
  }
  Tensor token_types = batch.token_type_ids;
  if (!token_types.defined()) token_types = Tensor::zeros(ids.shape(), DType::I32);
  const AttentionContext context = make_attention_context(config, attention_mask);

  // 2. embeddings and dropout
  ModelOutput out;
  Tensor h = m.embeddings.forward(ids, token_types);  // (B, T, D)
  h = dropout(h, static_cast<float>(config.dropout), options.training, options.dropout_seed,
              options.dropout_stream);
  if (options.output_hidden_states) out.hidden_states.push_back(h);

  // 3. encoder
  const bool checkpointed = config.gradient_checkpointing && grad_enabled();
  for (const GauLayer& layer : m.layers) {
    GauOutput layer_out =
        checkpointed ? layer.forward_checkpointed(h, context) : layer.forward(h, context);
    h = layer_out.y;
    if (options.output_hidden_states) out.hidden_states.push_back(h);
    if (options.output_attentions) out.attentions.push_back(layer_out.attention);
  }
  out.last_hidden_state = h;

  // 4. head and loss
  const int64_t d = config.hidden_size;
  if (options.output_logits) {
    out.logits = m.head.forward(h);  // (B, T, vocab)
    if (options.compute_loss) {
      out.loss =
          cross_entropy(out.logits.reshape({batch_size * seq_len, config.vocab_size}),
                        batch.labels.reshape({batch_size * seq_len}), -100, options.loss_divisor);
    }
  } else if (options.compute_loss) {
    // Only rows with a label reach the head: same loss and gradients, a fraction of the
    // (B T, vocab) logits. With no label at all one ignored row keeps the graph well formed.
    std::vector<int32_t> rows;
    std::vector<int32_t> row_labels;
    const int32_t* labels = batch.labels.ids();
    for (int64_t r = 0; r < batch_size * seq_len; ++r) {
      if (labels[r] == -100) continue;
      rows.push_back(static_cast<int32_t>(r));
      row_labels.push_back(labels[r]);
    }
    if (rows.empty()) {
      rows.push_back(0);
      row_labels.push_back(-100);
    }
    const Shape count = {static_cast<int64_t>(rows.size())};
    Tensor selected =
        embedding(h.reshape({batch_size * seq_len, d}), Tensor::from_ids(rows, count));
    out.target_logits = m.head.forward(selected);
    out.loss = cross_entropy(out.target_logits, Tensor::from_ids(row_labels, count), -100,
                             options.loss_divisor);
  }
  return out;
}

}  // namespace fq
