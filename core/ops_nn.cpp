// Model-specific ops: embedding lookup, position encodings (rotary, sinusoidal, relative bias),
// the fused GAU attention kernel relu(qk / c + rb)^2, the padding mask, dropout and the
// cross-entropy loss. Letters: B batch, n sequence length, d width, vocab rows of a table.
// Every scatter-add in backward is parallel over the destination and adds sources in a fixed
// order, so gradients do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/fast_math.h"
#include "core/ops.h"
#include "core/ops_common.h"
#include "core/random.h"

namespace fq {

using detail::kParallelMin;

namespace {

// ---- embedding ----

// out[p, :] = weight[ids[p], :]; out: (count, d), weight: (vocab, d)
void embedding_forward(float* out, const float* weight, const int32_t* ids, int64_t count,
                       int64_t d) {
#pragma omp parallel for schedule(static) if (count * d > kParallelMin)
  for (int64_t p = 0; p < count; ++p) {
    const float* w_row = weight + static_cast<int64_t>(ids[p]) * d;
    float* out_p = out + p * d;
    for (int64_t j = 0; j < d; ++j) out_p[j] = w_row[j];
  }
}

// dweight[ids[p], :] += dout[p, :] for every position p whose id is not padding_idx. Parallel
// over column blocks: each thread owns some columns of every row and walks the positions in
// order, so repeated ids add up in position order.
void embedding_backward(float* dweight, const float* dout, const int32_t* ids, int64_t count,
                        int64_t d, int64_t padding_idx) {
  const int64_t block = 16;  // one 64-byte cache line of floats per task row
  const int64_t blocks = (d + block - 1) / block;
#pragma omp parallel for schedule(static) if (count * d > kParallelMin && blocks > 1)
  for (int64_t t = 0; t < blocks; ++t) {
    const int64_t begin = t * block;
    const int64_t end = std::min(d, begin + block);
    for (int64_t p = 0; p < count; ++p) {
      if (ids[p] == padding_idx) continue;
      float* dw_row = dweight + static_cast<int64_t>(ids[p]) * d;
      const float* dout_p = dout + p * d;
      for (int64_t j = begin; j < end; ++j) dw_row[j] += dout_p[j];
    }
  }
}

// ---- rotary position embedding ----

// Rotation table for positions offset .. offset + n - 1 and half width h:
// cos_sin[(i * h + j) * 2] = cos(p g_j), [.. + 1] = sin(p g_j), with p = i + offset and
// g_j = 10000^(-j / h). Angles are computed in double.
std::vector<float> rope_table(int64_t n, int64_t h, int64_t offset) {
  std::vector<float> table(static_cast<size_t>(n * h * 2));
  for (int64_t j = 0; j < h; ++j) {
    const double g = std::pow(10000.0, -static_cast<double>(j) / static_cast<double>(h));
    for (int64_t i = 0; i < n; ++i) {
      const double angle = static_cast<double>(i + offset) * g;
      table[(i * h + j) * 2] = static_cast<float>(std::cos(angle));
      table[(i * h + j) * 2 + 1] = static_cast<float>(std::sin(angle));
    }
  }
  return table;
}

// x, out: (batch, n, 2h). out1 = x1 cos - x2 sin, out2 = x2 cos + x1 sin. With sign = -1 this is
// the inverse rotation (backward: d x1 = d1 cos + d2 sin, d x2 = d2 cos - d1 sin), accumulated.
void rope_rotate(float* out, const float* x, const float* table, int64_t batch, int64_t n,
                 int64_t h, float sign, bool accumulate) {
  const int64_t rows = batch * n;
#pragma omp parallel for schedule(static) if (rows * h > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = r % n;
    const float* cs = table + i * h * 2;
    const float* x1 = x + r * 2 * h;
    const float* x2 = x1 + h;
    float* o1 = out + r * 2 * h;
    float* o2 = o1 + h;
    for (int64_t j = 0; j < h; ++j) {
      const float c = cs[2 * j];
      const float s = sign * cs[2 * j + 1];
      const float a = x1[j] * c - x2[j] * s;
      const float b = x2[j] * c + x1[j] * s;
      if (accumulate) {
        o1[j] += a;
        o2[j] += b;
      } else {
        o1[j] = a;
        o2[j] = b;
      }
    }
  }
}

// ---- relu2 attention ----

// A[b, i, j] = relu(qk[b, i, j] * inv_scale[b] + rb[i, j])^2 * mask[b, i] * mask[b, j], and 0
// for j > i when causal. qk, A: (B, n, n); rb: (n, n) or (B, n, n) (rb_step 0 or n * n).
void relu2_attention_forward(float* a, const float* qk, const float* rb, const float* inv_scale,
                             const float* mask, int64_t batch, int64_t n, int64_t rb_step,
                             bool causal) {
  const int64_t rows = batch * n;
#pragma omp parallel for schedule(static) if (rows * n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = r / n;
    const int64_t i = r % n;
    const float s = inv_scale[b];
    const float* qk_r = qk + r * n;
    const float* rb_r = rb + b * rb_step + i * n;
    const float* m_b = mask + b * n;
    const float mi = m_b[i];
    const int64_t limit = causal ? i + 1 : n;
    float* a_r = a + r * n;
    for (int64_t j = 0; j < limit; ++j) {
      const float z = qk_r[j] * s + rb_r[j];
      const float p = z > 0.0f ? z : 0.0f;
      a_r[j] = p * p * mi * m_b[j];
    }
    for (int64_t j = limit; j < n; ++j) a_r[j] = 0.0f;
  }
}

// With z = qk * s + rb and A = relu(z)^2 * mi * mj: dA/dz = 2 relu(z) mi mj. For a 0/1 mask,
// relu(z) mi mj = sqrt(A) exactly (in binary floating point, sqrt(fl(r * r)) == r for r >= 0
// unless r * r underflows), so backward needs only the saved output A. NOTE: for a mask with
// values other than 0 and 1 this gradient is wrong.
// dz[b, i, j] = dA * 2 sqrt(A); dqk += dz * s; drb (if 2-D) += sum over b of dz, b in order.
void relu2_attention_backward(float* dqk, float* drb, const float* dout, const float* a,
                              const float* inv_scale, int64_t batch, int64_t n, int64_t rb_step) {
  const int64_t rows = batch * n;
  if (dqk || (drb && rb_step != 0)) {
#pragma omp parallel for schedule(static) if (rows * n > kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / n;
      const float s = inv_scale[b];
      const float* g_r = dout + r * n;
      const float* a_r = a + r * n;
      float* dqk_r = dqk ? dqk + r * n : nullptr;
      float* drb_r = drb && rb_step != 0 ? drb + r * n : nullptr;
      for (int64_t j = 0; j < n; ++j) {
        const float dz = g_r[j] * 2.0f * std::sqrt(a_r[j]);
        if (dqk_r) dqk_r[j] += dz * s;
        if (drb_r) drb_r[j] += dz;
      }
    }
  }
  if (drb && rb_step == 0) {
    // Shared (n, n) bias: each row i of drb is owned by one thread and sums the batch in order.
#pragma omp parallel for schedule(static) if (rows * n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      float* drb_i = drb + i * n;
      for (int64_t b = 0; b < batch; ++b) {
        const float* g_r = dout + (b * n + i) * n;
        const float* a_r = a + (b * n + i) * n;
        for (int64_t j = 0; j < n; ++j) drb_i[j] += g_r[j] * 2.0f * std::sqrt(a_r[j]);
      }
    }
  }
}

// ---- dropout ----

// Keep decision of element i: a uniform draw in [0, 1) from the counter-based stream.
inline bool dropout_keep(const CounterRng& rng, int64_t i, double p) {
  const double u = static_cast<double>(rng.at(static_cast<uint64_t>(i)) >> 11) * 0x1.0p-53;
  return u >= p;
}

// out[i] = keep(i) ? x[i] * scale : 0; backward is the same map applied to dout, accumulated.
void dropout_apply(float* out, const float* x, int64_t count, const CounterRng& rng, double p,
                   float scale, bool accumulate) {
#pragma omp parallel for schedule(static) if (count > kParallelMin)
  for (int64_t i = 0; i < count; ++i) {
    const float v = dropout_keep(rng, i, p) ? x[i] * scale : 0.0f;
    if (accumulate) {
      out[i] += v;
    } else {
      out[i] = v;
    }
  }
}

// ---- cross-entropy ----

// Per row r (labels[r] != ignore): loss[r] = (max_r - x[r, label]) + log(sum_j exp(x[r, j] -
// max_r)); stats[r] = {max_r, log-sum}. Ignored rows get loss 0.
void cross_entropy_forward(double* loss, float* stats, const float* logits, const int32_t* labels,
                           int32_t ignore_index, int64_t rows, int64_t vocab) {
  constexpr int64_t kLanes = 16;
  const int64_t full = vocab / kLanes * kLanes;
#pragma omp parallel if (rows * vocab > kParallelMin)
  {
    std::vector<float> exps(static_cast<size_t>(vocab));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* x_r = logits + r * vocab;
      if (labels[r] == ignore_index) {
        loss[r] = 0.0;
        stats[2 * r] = 0.0f;
        stats[2 * r + 1] = 0.0f;
        continue;
      }
      // Row max in kLanes independent lanes (a fixed order, so vectorised and deterministic).
      float lane_max[kLanes];
      for (int64_t l = 0; l < kLanes; ++l) lane_max[l] = x_r[0];
      for (int64_t j = 0; j < full; j += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) {
          lane_max[l] = x_r[j + l] > lane_max[l] ? x_r[j + l] : lane_max[l];
        }
      }
      float mx = x_r[0];
      for (int64_t l = 0; l < kLanes; ++l) mx = std::max(mx, lane_max[l]);
      for (int64_t j = full; j < vocab; ++j) mx = std::max(mx, x_r[j]);
      // exp in float (as PyTorch does), summed in double in kLanes lanes; x - max <= 0 cannot
      // overflow.
      float* e = exps.data();
      for (int64_t j = 0; j < vocab; ++j) e[j] = exp_approx(x_r[j] - mx);
      double lane_sum[kLanes] = {};
      for (int64_t j = 0; j < full; j += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) lane_sum[l] += e[j + l];
      }
      double sum = 0.0;
      for (int64_t l = 0; l < kLanes; ++l) sum += lane_sum[l];
      for (int64_t j = full; j < vocab; ++j) sum += e[j];
      const double log_sum = std::log(sum);
      loss[r] = (static_cast<double>(mx) - static_cast<double>(x_r[labels[r]])) + log_sum;
      stats[2 * r] = mx;
      stats[2 * r + 1] = static_cast<float>(log_sum);
    }
  }
}

// dlogits[r, j] += scale * (softmax(x_r)_j - [j == label_r]) for non-ignored rows.
void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* labels,
                            const float* stats, int32_t ignore_index, float scale, int64_t rows,
                            int64_t vocab) {
#pragma omp parallel for schedule(static) if (rows * vocab > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] == ignore_index) continue;
    const float* x_r = logits + r * vocab;
    float* d_r = dlogits + r * vocab;
    const float mx = stats[2 * r];
    const float log_sum = stats[2 * r + 1];
    for (int64_t j = 0; j < vocab; ++j) d_r[j] += scale * exp_approx((x_r[j] - mx) - log_sum);
    d_r[labels[r]] -= scale;
  }
}

}  // namespace

// ---- embedding ----

Tensor embedding(const Tensor& weight, const Tensor& ids, int64_t padding_idx) {
  detail::check_float("embedding", "weight", weight);
  detail::check_ids("embedding", "ids", ids);
  FQ_CHECK(weight.dim() == 2, "embedding: weight must be 2-D [vocab, d], got "
                                  << shape_str(weight.shape()) << " for ids "
                                  << shape_str(ids.shape()));
  const int64_t vocab = weight.size(0);
  const int64_t d = weight.size(1);
  FQ_CHECK(padding_idx == -1 || (padding_idx >= 0 && padding_idx < vocab),
           "embedding: padding_idx " << padding_idx << " is outside [0, " << vocab
                                     << "); pass -1 for none");
  const int64_t count = ids.numel();
  const int32_t* id = ids.ids();
  for (int64_t p = 0; p < count; ++p) {
    FQ_CHECK(id[p] >= 0 && id[p] < vocab,
             "embedding: id " << id[p] << " at position " << p << " of ids "
                              << shape_str(ids.shape()) << " is outside [0, " << vocab
                              << ") for weight " << shape_str(weight.shape()));
  }
  Shape out_shape = ids.shape();
  out_shape.push_back(d);
  Tensor out = Tensor::empty(out_shape);
  embedding_forward(out.data(), weight.data(), id, count, d);
  if (needs_grad({&weight})) {
    Tensor ids_saved = ids.detach();
    record(out, "embedding", {weight},
           [ids_saved, count, d, padding_idx](const Tensor& dout, std::vector<Tensor>& dinputs) {
             embedding_backward(dinputs[0].data(), dout.data(), ids_saved.ids(), count, d,
                                padding_idx);
           });
  }
  return out;
}

// ---- position encodings ----

Tensor rope(const Tensor& x, int64_t position_offset) {
  detail::check_float("rope", "x", x);
  FQ_CHECK(x.dim() >= 2, "rope: x must be [..., n, m], got " << shape_str(x.shape()));
  const int64_t m = x.size(-1);
  FQ_CHECK(m % 2 == 0, "rope: the last axis must be even to split into halves, got "
                           << shape_str(x.shape()));
  FQ_CHECK(position_offset >= 0, "rope: position_offset must be >= 0, got " << position_offset);
  const int64_t n = x.size(-2);
  const int64_t h = m / 2;
  const int64_t batch = detail::prod(x.shape(), 0, x.dim() - 2);
  Tensor out = Tensor::empty(x.shape());
  auto table = std::make_shared<std::vector<float>>(rope_table(n, h, position_offset));
  rope_rotate(out.data(), x.data(), table->data(), batch, n, h, 1.0f, false);
  record(out, "rope", {x}, [table, batch, n, h](const Tensor& dout, std::vector<Tensor>& dinputs) {
    // The rotation is orthogonal: its gradient is the rotation by the opposite angle.
    rope_rotate(dinputs[0].data(), dout.data(), table->data(), batch, n, h, -1.0f, true);
  });
  return out;
}

Tensor sinusoidal_positions(int64_t n, int64_t d) {
  FQ_CHECK(n >= 0, "sinusoidal_positions: n must be >= 0, got " << n);
  FQ_CHECK(d >= 0 && d % 2 == 0, "sinusoidal_positions: d must be even and >= 0, got " << d);
  const int64_t h = d / 2;
  Tensor out = Tensor::empty({n, d});
  float* o = out.data();
  for (int64_t j = 0; j < h; ++j) {
    const double f = std::pow(10000.0, -static_cast<double>(j) / static_cast<double>(h));
    for (int64_t p = 0; p < n; ++p) {
      const double angle = static_cast<double>(p) * f;
      o[p * d + j] = static_cast<float>(std::sin(angle));
      o[p * d + h + j] = static_cast<float>(std::cos(angle));
    }
  }
  return out;
}

Tensor relative_position_bias(const Tensor& w, int64_t n) {
  detail::check_float("relative_position_bias", "w", w);
  FQ_CHECK(w.dim() == 1 && w.size(0) % 2 == 1,
           "relative_position_bias: w must be 1-D of odd size 2L - 1, got " << shape_str(w.shape()));
  const int64_t max_len = (w.size(0) + 1) / 2;
  FQ_CHECK(n >= 0 && n <= max_len, "relative_position_bias: n = "
                                       << n << " exceeds L = " << max_len << " of w "
                                       << shape_str(w.shape()));
  Tensor out = Tensor::empty({n, n});
  float* o = out.data();
  const float* pw = w.data();
  // rb[i, j] = w[j - i + L - 1]: row i is the window of w starting at L - 1 - i.
#pragma omp parallel for schedule(static) if (n * n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float* w_i = pw + (max_len - 1 - i);
    for (int64_t j = 0; j < n; ++j) o[i * n + j] = w_i[j];
  }
  record(out, "relative_position_bias", {w},
         [n, max_len](const Tensor& dout, std::vector<Tensor>& dinputs) {
           // dw[k] sums the diagonal j - i = k - (L - 1) of dout, i ascending; each k is
           // owned by one thread.
           float* dw = dinputs[0].data();
           const float* g = dout.data();
           const int64_t diagonals = n == 0 ? 0 : 2 * n - 1;
#pragma omp parallel for schedule(static) if (n * n > kParallelMin)
           for (int64_t t = 0; t < diagonals; ++t) {
             const int64_t offset = t - (n - 1);  // j - i
             const int64_t i0 = offset < 0 ? -offset : 0;
             const int64_t i1 = offset < 0 ? n : n - offset;
             float acc = 0.0f;
             for (int64_t i = i0; i < i1; ++i) acc += g[i * n + i + offset];
             dw[offset + max_len - 1] += acc;
           }
         });
  return out;
}

// ---- attention kernel ----

Tensor relu2_attention(const Tensor& qk, const Tensor& rb, const Tensor& inv_scale,
                       const Tensor& mask, bool causal) {
  detail::check_float("relu2_attention", "qk", qk);
  detail::check_float("relu2_attention", "rb", rb);
  detail::check_float("relu2_attention", "inv_scale", inv_scale);
  detail::check_float("relu2_attention", "mask", mask);
  FQ_CHECK(qk.dim() == 3 && qk.size(1) == qk.size(2),
           "relu2_attention: qk must be [B, n, n], got " << shape_str(qk.shape()));
  const int64_t batch = qk.size(0);
  const int64_t n = qk.size(1);
  FQ_CHECK((rb.dim() == 2 && rb.size(0) == n && rb.size(1) == n) || rb.shape() == qk.shape(),
           "relu2_attention: rb must be [n, n] or [B, n, n] for qk " << shape_str(qk.shape())
                                                                     << ", got "
                                                                     << shape_str(rb.shape()));
  FQ_CHECK(inv_scale.dim() == 1 && inv_scale.size(0) == batch,
           "relu2_attention: inv_scale must be [B] = [" << batch << "] for qk "
                                                        << shape_str(qk.shape()) << ", got "
                                                        << shape_str(inv_scale.shape()));
  FQ_CHECK(mask.dim() == 2 && mask.size(0) == batch && mask.size(1) == n,
           "relu2_attention: mask must be [B, n] = [" << batch << ", " << n << "] for qk "
                                                      << shape_str(qk.shape()) << ", got "
                                                      << shape_str(mask.shape()));
  const int64_t rb_step = rb.dim() == 3 ? n * n : 0;
  Tensor out = Tensor::empty(qk.shape());
  relu2_attention_forward(out.data(), qk.data(), rb.data(), inv_scale.data(), mask.data(), batch,
                          n, rb_step, causal);
  if (needs_grad({&qk, &rb})) {
    Tensor a_saved = out.detach();
    Tensor scale_saved = inv_scale.detach();
    // inv_scale and mask are constants; only qk and rb are recorded as inputs.
    record(out, "relu2_attention", {qk, rb},
           [a_saved, scale_saved, batch, n, rb_step](const Tensor& dout,
                                                     std::vector<Tensor>& dinputs) {
             float* dqk = dinputs[0].defined() ? dinputs[0].data() : nullptr;
             float* drb = dinputs[1].defined() ? dinputs[1].data() : nullptr;
             relu2_attention_backward(dqk, drb, dout.data(), a_saved.data(), scale_saved.data(),
                                      batch, n, rb_step);
           });
  }
  return out;
}

Tensor padding_mask(const Tensor& ids, int32_t pad_token_id) {
  detail::check_ids("padding_mask", "ids", ids);
  Tensor out = Tensor::empty(ids.shape());
  const int32_t* id = ids.ids();
  float* o = out.data();
  const int64_t count = ids.numel();
  for (int64_t i = 0; i < count; ++i) o[i] = id[i] == pad_token_id ? 0.0f : 1.0f;
  return out;
}

// ---- regularisation ----

Tensor dropout(const Tensor& x, float p, bool training, uint64_t seed, uint64_t stream) {
  detail::check_float("dropout", "x", x);
  FQ_CHECK(p >= 0.0f && p <= 1.0f, "dropout: p must be in [0, 1], got " << p);
  if (!training || p == 0.0f) return x;
  const CounterRng rng(seed, stream, 0);
  // p == 1 drops everything; the scale is then irrelevant and kept finite.
  const float scale = p < 1.0f ? static_cast<float>(1.0 / (1.0 - static_cast<double>(p))) : 0.0f;
  const double prob = p;
  Tensor out = Tensor::empty(x.shape());
  dropout_apply(out.data(), x.data(), x.numel(), rng, prob, scale, false);
  record(out, "dropout", {x}, [rng, prob, scale](const Tensor& dout, std::vector<Tensor>& dinputs) {
    dropout_apply(dinputs[0].data(), dout.data(), dout.numel(), rng, prob, scale, true);
  });
  return out;
}

// ---- loss ----

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, int32_t ignore_index,
                     double divisor) {
  detail::check_float("cross_entropy", "logits", logits);
  detail::check_ids("cross_entropy", "labels", labels);
  FQ_CHECK(logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0),
           "cross_entropy: expected logits [N, V] and labels [N], got logits "
               << shape_str(logits.shape()) << " and labels " << shape_str(labels.shape()));
  const int64_t rows = logits.size(0);
  const int64_t vocab = logits.size(1);
  const int32_t* lab = labels.ids();
  int64_t targets = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (lab[r] == ignore_index) continue;
    FQ_CHECK(lab[r] >= 0 && lab[r] < vocab,
             "cross_entropy: label " << lab[r] << " at position " << r << " is outside [0, "
                                     << vocab << ") for logits " << shape_str(logits.shape())
                                     << " and is not ignore_index " << ignore_index);
    ++targets;
  }
  const double denom = divisor > 0.0 ? divisor : static_cast<double>(targets);

  std::vector<double> row_loss(rows);
  Tensor stats = Tensor::empty({rows, 2});
  cross_entropy_forward(row_loss.data(), stats.data(), logits.data(), lab, ignore_index, rows,
                        vocab);
  double total = 0.0;
  for (double v : row_loss) total += v;  // row order: independent of threads
  Tensor out = Tensor::scalar(targets == 0 ? 0.0f : static_cast<float>(total / denom));

  if (needs_grad({&logits}) && targets > 0) {
    Tensor logits_saved = logits.detach();
    Tensor labels_saved = labels.detach();
    record(out, "cross_entropy", {logits},
           [logits_saved, labels_saved, stats, ignore_index, denom, rows, vocab](
               const Tensor& dout, std::vector<Tensor>& dinputs) {
             const float scale = static_cast<float>(dout.item() / denom);
             cross_entropy_backward(dinputs[0].data(), logits_saved.data(), labels_saved.ids(),
                                    stats.data(), ignore_index, scale, rows, vocab);
           });
  } else if (needs_grad({&logits})) {
    // No targets: the loss is the constant 0, but it still belongs to the graph so that
    // backward() on it works and leaves a zero gradient.
    record(out, "cross_entropy", {logits}, [](const Tensor&, std::vector<Tensor>&) {});
  }
  return out;
}

}  // namespace fq
