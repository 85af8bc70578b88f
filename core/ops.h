// Differentiable tensor ops. Every op checks shapes and dtypes at entry (throwing
// std::invalid_argument naming the op and the shapes), computes its output with OpenMP kernels or
// OpenBLAS, and records a backward closure when an input requires grad (see core/autograd.h).
// All float ops take and return F32 tensors; ids and labels are I32.
//
// Broadcasting (add, sub, mul, div): NumPy rules. Shapes are aligned at the last axis; each pair
// of dimensions must be equal or one of them 1; missing leading axes count as 1. Backward sums
// the gradient over broadcast axes in a fixed order.
//
// Determinism: the same inputs and thread count give bit-identical outputs and gradients (no
// atomics, no scheduling-dependent reduction order).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace fq {

// ---- elementwise ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& x, float s);
Tensor mul_scalar(const Tensor& x, float s);
Tensor neg(const Tensor& x);
Tensor silu(const Tensor& x);  // x * sigmoid(x)
Tensor gelu(const Tensor& x);  // exact: x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), as torch.nn.GELU()
Tensor relu(const Tensor& x);
Tensor square(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor rsqrt(const Tensor& x);
// Activation by name: "silu" (alias "swish"), "gelu", "relu". Throws for other names.
Tensor activation(const Tensor& x, const std::string& name);

// ---- reductions ----
Tensor sum_last(const Tensor& x);   // [..., n] -> [..., 1]
Tensor mean_last(const Tensor& x);  // [..., n] -> [..., 1]
Tensor sum_all(const Tensor& x);    // -> [] (one element)
Tensor mean_all(const Tensor& x);   // -> []

// ---- products (OpenBLAS cblas_sgemm; never called inside an OpenMP region) ----
// a: [..., m, k] (or [..., k, m] when trans_a). b: either 2-D [k, n] (or [n, k] when trans_b),
// shared by every leading index of a, or the same rank as a with identical leading axes
// (batched). Returns [..., m, n].
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// x: [..., in], weight: [out, in], bias: [out] or undefined. Returns x weight^T + bias, [..., out].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// linear(u * g, weight, bias) with u and g of the same shape [..., in]. Equal to mul followed by
// linear, but the product u * g is not kept for backward (it is recomputed there), which saves
// one [..., in] tensor per call during training.
Tensor gated_linear(const Tensor& u, const Tensor& g, const Tensor& weight, const Tensor& bias);

// The gated output step of an attention unit, from the projection before its activation.
// pre: [B, T, P] with P >= 2 * in, attention: [B, T, T], weight: [out, in], bias: [out] or
// undefined. With u = act(pre[..., :in]) and v = act(pre[..., in:2 in]), returns
// gated_linear(u, matmul(attention, v), weight, bias), [B, T, out]; columns from 2 in on are
// ignored. Equal to that composition bit for bit. Backward keeps only pre, attention and weight
// and recomputes u, v and attention v (one more [B, T, T] x [B, T, in] product), which saves
// three [B, T, in] tensors per call during training.
Tensor gated_attention_output(const Tensor& pre, const Tensor& attention, const Tensor& weight,
                              const Tensor& bias, const std::string& act);

// ---- normalisation (over the last axis) ----
// x * rsqrt(mean(x^2) + eps) * scala; scala: [1].
Tensor scale_norm(const Tensor& x, const Tensor& scala, float eps);
// (x - mean) / sqrt(var + eps) * weight + bias with biased variance; weight, bias: [d].
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps);

// ---- indexing and shape ----
// weight: [V, d], ids: I32 [...] with values in [0, V) (checked; throws naming the bad id and its
// position). Returns [..., d]. Backward scatter-adds rows into dweight in a fixed order and adds
// nothing to row padding_idx (pass -1 for none).
Tensor embedding(const Tensor& weight, const Tensor& ids, int64_t padding_idx = -1);
// Copy of x[..., start:end] along `axis` (negative counts from the end); backward adds into
// that slice.
Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length);
Tensor slice_last(const Tensor& x, int64_t start, int64_t end);
std::vector<Tensor> split_last(const Tensor& x, const std::vector<int64_t>& sizes);
Tensor concat_last(const std::vector<Tensor>& parts);
Tensor transpose_last2(const Tensor& x);  // [..., m, n] -> [..., n, m]
// Broadcasts x to `shape` (NumPy rules) as a materialised copy; backward sums.
Tensor expand(const Tensor& x, const Shape& shape);

// ---- position encodings ----
// Rotary position embedding over the last axis (size m, even) of x: [..., n, m], with position p
// = the index along axis -2 plus `position_offset`. Halves x1 = x[..., :m/2], x2 = x[..., m/2:],
// g_j = 10000^(-j / (m/2)); returns concat(x1 cos(p g) - x2 sin(p g), x2 cos(p g) + x1 sin(p g)).
Tensor rope(const Tensor& x, int64_t position_offset = 0);
// Fixed sinusoidal table [n, d] (d even): sin(p f_j) for j < d/2, cos(p f_{j-d/2}) for j >= d/2,
// f_j = 10000^(-j / (d/2)). Not differentiable (a constant).
Tensor sinusoidal_positions(int64_t n, int64_t d);
// Relative position bias rb[i, j] = w[j - i + L - 1] for i, j < n, where w: [2L - 1], n <= L.
// Returns [n, n]; backward scatter-adds into dw.
Tensor relative_position_bias(const Tensor& w, int64_t n);

// ---- attention kernel (fused) ----
// The GAU attention weights: A[b, i, j] = relu(qk[b, i, j] * inv_scale[b] + rb[i, j])^2
// * mask[b, i] * mask[b, j], and 0 for j > i when causal.
// qk: [B, n, n]; rb: [n, n] (or [B, n, n]); inv_scale: F32 [B] (1/c per sequence, not
// differentiated); mask: F32 [B, n] of 0/1 (not differentiated). Gradients flow to qk and rb.
Tensor relu2_attention(const Tensor& qk, const Tensor& rb, const Tensor& inv_scale,
                       const Tensor& mask, bool causal);
// [B, n] 0/1 float mask -> nothing to learn; helper that builds it from ids and pad id.
Tensor padding_mask(const Tensor& ids, int32_t pad_token_id);

// ---- regularisation ----
// Inverted dropout: each element is zeroed with probability p and the rest scaled by 1/(1-p).
// The keep decision of element i is CounterRng(seed, stream, 0).at(i), so it depends only on
// (seed, stream, i). Identity when !training or p == 0.
Tensor dropout(const Tensor& x, float p, bool training, uint64_t seed, uint64_t stream);

// ---- loss ----
// logits: [N, V], labels: I32 [N] (ignore_index entries contribute nothing; other labels must be
// in [0, V), checked). Returns sum over non-ignored rows of (logsumexp(logits_r) - logits_r[label])
// divided by `divisor`; divisor <= 0 means the number of non-ignored rows (the mean), and a batch
// with no targets then gives loss 0 with zero gradient. The log-sum-exp subtracts the row max, so
// logits of 1e8 or gaps of 1e4 stay finite and exact.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, int32_t ignore_index = -100,
                     double divisor = 0.0);

}  // namespace fq
