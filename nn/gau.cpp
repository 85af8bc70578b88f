#include "nn/gau.h"

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/checkpoint.h"

namespace fq {

AttentionContext make_attention_context(const ModelConfig& config, const Tensor& attention_mask) {
  const int64_t batch = attention_mask.size(0);
  const int64_t seq_len = attention_mask.size(1);
  AttentionContext context;
  context.causal = config.causal;
  context.mask = Tensor::empty({batch, seq_len});
  context.inv_scale = Tensor::empty({batch});
  const int32_t* m = attention_mask.ids();
  float* mask = context.mask.data();
  float* inv_scale = context.inv_scale.data();
  for (int64_t b = 0; b < batch; ++b) {
    int64_t real = 0;
    for (int64_t t = 0; t < seq_len; ++t) {
      mask[b * seq_len + t] = m[b * seq_len + t] != 0 ? 1.0f : 0.0f;
      real += m[b * seq_len + t] != 0;
    }
    const double c = config.attention_scale == "seq_len"
                         ? static_cast<double>(real > 0 ? real : 1)
                         : static_cast<double>(config.max_position_embeddings);
    inv_scale[b] = static_cast<float>(1.0 / c);
  }
  return context;
}

GauLayer::GauLayer(const std::string& prefix, const ModelConfig& config, ParameterFactory& factory)
    : expanded_(config.expanded_size()),
      s_(config.s),
      max_position_(config.max_position_embeddings),
      act_(config.hidden_act) {
  const int64_t d = config.hidden_size;
  // Creation order is the order of named_parameters().
  uv_ = Linear(prefix + ".uv", d, 2 * expanded_ + s_, factory);
  weight_ = factory.normal(prefix + ".weight", {2, s_});
  bias_ = factory.constant(prefix + ".bias", {2, s_}, 0.0f);
  o_ = Linear(prefix + ".o", expanded_, d, factory);
  norm_ = Norm(prefix + ".LayerNorm", config.norm_type, d, config.layer_norm_eps, factory);
  if (config.uses_rotary_bias()) {
    a_ = factory.normal(prefix + ".a", {1, s_});
    b_ = factory.normal(prefix + ".b", {1, s_});
  } else {
    w_ = factory.normal(prefix + ".w", {2 * max_position_ - 1});
  }
}

std::vector<Tensor> GauLayer::parameters() const {
  std::vector<Tensor> out = {uv_.weight, uv_.bias, weight_, bias_, o_.weight, o_.bias};
  for (const Tensor* t : {&norm_.scala, &norm_.weight, &norm_.bias, &w_, &a_, &b_}) {
    if (t->defined()) out.push_back(*t);
  }
  return out;
}

Tensor GauLayer::relative_bias(int64_t seq_len) const {
  if (w_.defined()) return relative_position_bias(w_, seq_len);  // w[j - i + L - 1]
  // rb[i, j] = rope(a)_i . rope(b)_j: a and b rotated at every position, then all dot products.
  Tensor a_rot = rope(expand(a_, {seq_len, s_}));  // (T, S)
  Tensor b_rot = rope(expand(b_, {seq_len, s_}));  // (T, S)
  return matmul(a_rot, b_rot, false, true);        // (T, T)
}

Tensor GauLayer::attention_weights(const Tensor& base, const AttentionContext& context) const {
  // q and k share base; each gets its own per-dimension scale and offset, then rotation.
  Tensor q = rope(add(mul(base, narrow(weight_, 0, 0, 1)), narrow(bias_, 0, 0, 1)));  // (B, T, S)
  Tensor k = rope(add(mul(base, narrow(weight_, 0, 1, 1)), narrow(bias_, 0, 1, 1)));  // (B, T, S)
  Tensor qk = matmul(q, k, false, true);                                              // (B, T, T)
  return relu2_attention(qk, relative_bias(base.size(1)), context.inv_scale, context.mask,
                         context.causal);
}

GauOutput GauLayer::forward(const Tensor& x, const AttentionContext& context) const {
  FQ_CHECK(x.dim() == 3 && x.size(2) == uv_.weight.size(1),
           "gau: x must be (B, T, D) with D = " << uv_.weight.size(1) << ", got "
                                                << shape_str(x.shape()));
  FQ_CHECK(x.size(1) <= max_position_, "gau: sequence length "
                                           << x.size(1) << " exceeds max_position_embeddings "
                                           << max_position_);
  // 1. project the normalised input to the pre-activation of u, v (B, T, E) and base (B, T, S)
  Tensor pre = uv_.forward(norm_.forward(x));  // (B, T, 2E + S)
  Tensor base = activation(narrow(pre, -1, 2 * expanded_, s_), act_);  // (B, T, S)

  // 2. attention weights from base
  GauOutput out;
  out.attention = attention_weights(base, context);  // (B, T, T)

  // 3. gate the attended values with u, project back and add the residual. u = act(pre_u),
  // v = act(pre_v), A v and u * (A v) are recomputed in backward from pre instead of kept.
  Tensor gated = gated_attention_output(pre, out.attention, o_.weight, o_.bias, act_);  // (B, T, D)
  out.y = add(gated, x);
  return out;
}

GauOutput GauLayer::forward_checkpointed(const Tensor& x, const AttentionContext& context) const {
  std::vector<Tensor> outputs = checkpoint(
      [this, context](const Tensor& input) {
        GauOutput out = forward(input, context);
        return std::vector<Tensor>{out.y, out.attention};
      },
      x, parameters());
  return {outputs[0], outputs[1]};
}

}  // namespace fq
