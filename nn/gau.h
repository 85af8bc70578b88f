// Gated attention unit (GAU), the layer of FLASH-Quad (Hua et al. 2022, "Transformer Quality in
// Linear Time"), pre-norm with a residual connection. For x (B, T, D):
//   z = norm(x)
//   u, v, base = split(act(z W_uv^T + b_uv), [E, E, S])
//   q = rope(base * weight[0] + bias[0]),  k = rope(base * weight[1] + bias[1])
//   A = relu(q k^T * inv_scale + rb)^2 * mask_i * mask_j   (and A[i, j] = 0 for j > i if causal)
//   y = (u * (A v)) W_o^T + b_o + x
// rb is the relative position bias: w[j - i + L - 1] when L <= 512, else rope(a)_i . rope(b)_j.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/linear.h"
#include "nn/model_config.h"
#include "nn/norm.h"
#include "nn/parameters.h"

namespace fq {

// Per-batch inputs of the attention step, shared by every layer.
struct AttentionContext {
  Tensor mask;       // F32 (B, T), 1 for real tokens and 0 for padding
  Tensor inv_scale;  // F32 (B), 1/c of each sequence
  bool causal = false;
};

// Builds the context: the mask from `attention_mask` (I32 (B, T)) and c = L for
// "max_position" or each row's count of real tokens for "seq_len" (at least 1, so an
// all-padding row does not divide by zero; its attention is masked out anyway).
AttentionContext make_attention_context(const ModelConfig& config, const Tensor& attention_mask);

struct GauOutput {
  Tensor y;          // (B, T, D)
  Tensor attention;  // A (B, T, T)
};

class GauLayer {
 public:
  GauLayer() = default;
  // Creates the parameters "`prefix`.uv", ".weight", ".bias", ".o", ".LayerNorm" and either
  // ".w" (2L - 1) when L <= 512 or ".a" and ".b" (1, S) when L > 512.
  GauLayer(const std::string& prefix, const ModelConfig& config, ParameterFactory& factory);

  GauOutput forward(const Tensor& x, const AttentionContext& context) const;
  // The same result; stores only x and recomputes the layer during backward. Gradients are
  // bitwise equal to those of forward().
  GauOutput forward_checkpointed(const Tensor& x, const AttentionContext& context) const;

  // rb (T, T).
  Tensor relative_bias(int64_t seq_len) const;
  // Every parameter tensor of the layer.
  std::vector<Tensor> parameters() const;

 private:
  // The attention weights A (B, T, T) from base (B, T, S). This is the step a FLASH
  // (chunked linear) attention would replace.
  Tensor attention_weights(const Tensor& base, const AttentionContext& context) const;

  int64_t expanded_ = 0;  // E
  int64_t s_ = 0;         // S
  int64_t max_position_ = 0;
  std::string act_;
  Norm norm_;
  Linear uv_;      // D -> 2E + S
  Tensor weight_;  // (2, S) per-dimension scale of q and k
  Tensor bias_;    // (2, S) per-dimension offset of q and k
  Linear o_;       // E -> D
  Tensor w_;       // (2L - 1), L <= 512 only
  Tensor a_;       // (1, S), L > 512 only
  Tensor b_;       // (1, S), L > 512 only
};

}  // namespace fq
