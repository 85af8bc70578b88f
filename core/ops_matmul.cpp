// Matrix products on OpenBLAS cblas_sgemm: matmul (shared 2-D or batched right operand, with
// optional transposes) and linear (x weight^T + bias). Backward uses sgemm's transpose flags
// instead of transposed copies, and accumulates with beta = 1. sgemm is only called outside
// OpenMP regions; OpenBLAS threads itself (see core/parallel.h).
#include <cblas.h>

#include <algorithm>

#include "core/ops.h"
#include "core/ops_common.h"

namespace fq {

using detail::kParallelMin;

namespace {

// Row-major C (m x n) = alpha op(A) op(B) + beta C, where op(A) is m x k and op(B) is k x n.
// A is stored m x k (k x m when trans_a), B is k x n (n x k when trans_b). Zero-size products
// are handled here because BLAS rejects leading dimensions of 0.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          const float* b, float beta, float* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta != 1.0f) {
      for (int64_t i = 0; i < m * n; ++i) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
    }
    return;
  }
  const int64_t lda = trans_a ? m : k;
  const int64_t ldb = trans_b ? k : n;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c,
              static_cast<blasint>(n));
}

std::string trans_note(bool trans_a, bool trans_b) {
  if (!trans_a && !trans_b) return "";
  std::string s = " (";
  if (trans_a) s += "trans_a";
  if (trans_a && trans_b) s += ", ";
  if (trans_b) s += "trans_b";
  return s + ")";
}

// Dimensions of one product: `batch` products of (m x k) (k x n); b_shared when b is one 2-D
// matrix used by every batch entry.
struct MatmulDims {
  int64_t batch, m, k, n;
  bool b_shared;
};

// ---- kernels ----

// out: (batch, m, n); a: (batch, m, k) or (batch, k, m); b: (k, n) / (n, k), or batched.
void matmul_forward(float* out, const float* a, const float* b, const MatmulDims& d, bool trans_a,
                    bool trans_b) {
  if (d.b_shared && !trans_a) {
    // The rows of every batch entry stack into one (batch * m) x k matrix: one sgemm.
    gemm(false, trans_b, d.batch * d.m, d.n, d.k, 1.0f, a, b, 0.0f, out);
    return;
  }
  const int64_t a_step = d.m * d.k;
  const int64_t b_step = d.b_shared ? 0 : d.k * d.n;
  for (int64_t i = 0; i < d.batch; ++i) {
    gemm(trans_a, trans_b, d.m, d.n, d.k, 1.0f, a + i * a_step, b + i * b_step, 0.0f,
         out + i * d.m * d.n);
  }
}

// For C = op(A) op(B): dop(A) = dC op(B)^T and dop(B) = op(A)^T dC; each is mapped back to
// the stored layout by choosing the operand order and transpose flags.
void matmul_backward(float* da, float* db, const float* dout, const float* a, const float* b,
                     const MatmulDims& d, bool trans_a, bool trans_b) {
  const int64_t a_step = d.m * d.k;
  const int64_t b_step = d.b_shared ? 0 : d.k * d.n;
  const int64_t c_step = d.m * d.n;

  if (da) {
    if (d.b_shared && !trans_a) {
      // dA (batch*m x k) = dC (batch*m x n) op(B)^T
      gemm(false, !trans_b, d.batch * d.m, d.k, d.n, 1.0f, dout, b, 1.0f, da);
    } else {
      for (int64_t i = 0; i < d.batch; ++i) {
        const float* dc = dout + i * c_step;
        const float* bi = b + i * b_step;
        float* dai = da + i * a_step;
        if (!trans_a) {
          gemm(false, !trans_b, d.m, d.k, d.n, 1.0f, dc, bi, 1.0f, dai);  // dC op(B)^T
        } else {
          gemm(trans_b, true, d.k, d.m, d.n, 1.0f, bi, dc, 1.0f, dai);  // op(B) dC^T
        }
      }
    }
  }

  if (db) {
    if (d.b_shared && !trans_a) {
      // Every batch entry adds to the one shared B: flatten the rows into one product.
      if (!trans_b) {
        gemm(true, false, d.k, d.n, d.batch * d.m, 1.0f, a, dout, 1.0f, db);  // A^T dC
      } else {
        gemm(true, false, d.n, d.k, d.batch * d.m, 1.0f, dout, a, 1.0f, db);  // dC^T A
      }
    } else {
      // Batch entries add in index order, so a shared B gets a fixed summation order.
      for (int64_t i = 0; i < d.batch; ++i) {
        const float* dc = dout + i * c_step;
        const float* ai = a + i * a_step;
        float* dbi = db + i * b_step;
        if (!trans_b) {
          gemm(!trans_a, false, d.k, d.n, d.m, 1.0f, ai, dc, 1.0f, dbi);  // op(A)^T dC
        } else {
          gemm(true, trans_a, d.n, d.k, d.m, 1.0f, dc, ai, 1.0f, dbi);  // dC^T op(A)
        }
      }
    }
  }
}

// y[r, :] = bias for every row r; y: (rows, n)
void fill_rows(float* y, const float* bias, int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static) if (rows * n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    float* y_r = y + r * n;
    for (int64_t j = 0; j < n; ++j) y_r[j] = bias[j];
  }
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  detail::check_float("matmul", "a", a);
  detail::check_float("matmul", "b", b);
  const std::string note = trans_note(trans_a, trans_b);
  FQ_CHECK(a.dim() >= 2, "matmul: a must have at least 2 axes, got a " << shape_str(a.shape())
                                                                        << " x b "
                                                                        << shape_str(b.shape()));
  FQ_CHECK(b.dim() == 2 || b.dim() == a.dim(),
           "matmul: b must be 2-D or have the rank of a, got a "
               << shape_str(a.shape()) << " x b " << shape_str(b.shape()));
  MatmulDims d;
  d.b_shared = b.dim() == 2;
  d.m = trans_a ? a.size(-1) : a.size(-2);
  d.k = trans_a ? a.size(-2) : a.size(-1);
  const int64_t kb = trans_b ? b.size(-1) : b.size(-2);
  d.n = trans_b ? b.size(-2) : b.size(-1);
  FQ_CHECK(d.k == kb, "matmul: inner dimensions differ: a " << shape_str(a.shape()) << " x b "
                                                            << shape_str(b.shape()) << note);
  if (!d.b_shared) {
    for (int64_t i = 0; i + 2 < a.dim(); ++i) {
      FQ_CHECK(a.size(i) == b.size(i), "matmul: batch axes differ: a " << shape_str(a.shape())
                                                                       << " x b "
                                                                       << shape_str(b.shape()));
    }
  }
  d.batch = detail::prod(a.shape(), 0, a.dim() - 2);

  Shape out_shape(a.shape().begin(), a.shape().end() - 2);
  out_shape.push_back(d.m);
  out_shape.push_back(d.n);
  Tensor out = Tensor::empty(out_shape);
  matmul_forward(out.data(), a.data(), b.data(), d, trans_a, trans_b);

  if (needs_grad({&a, &b})) {
    // dA needs B and dB needs A.
    Tensor a_saved = b.requires_grad() ? a.detach() : Tensor();
    Tensor b_saved = a.requires_grad() ? b.detach() : Tensor();
    record(out, "matmul", {a, b},
           [a_saved, b_saved, d, trans_a, trans_b](const Tensor& dout,
                                                   std::vector<Tensor>& dinputs) {
             float* da = dinputs[0].defined() ? dinputs[0].data() : nullptr;
             float* db = dinputs[1].defined() ? dinputs[1].data() : nullptr;
             matmul_backward(da, db, dout.data(), db ? a_saved.data() : nullptr,
                             da ? b_saved.data() : nullptr, d, trans_a, trans_b);
           });
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  detail::check_float("linear", "x", x);
  detail::check_float("linear", "weight", weight);
  FQ_CHECK(weight.dim() == 2, "linear: weight must be 2-D [out, in], got "
                                  << shape_str(weight.shape()) << " for x "
                                  << shape_str(x.shape()));
  FQ_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1),
           "linear: input features differ: x " << shape_str(x.shape()) << " x weight "
                                                << shape_str(weight.shape())
                                                << " (expected x [..., " << weight.size(1)
                                                << "])");
  const int64_t in = weight.size(1);
  const int64_t out_features = weight.size(0);
  if (bias.defined()) {
    detail::check_float("linear", "bias", bias);
    FQ_CHECK(bias.dim() == 1 && bias.size(0) == out_features,
             "linear: bias must be [" << out_features << "] for weight "
                                      << shape_str(weight.shape()) << ", got "
                                      << shape_str(bias.shape()));
  }
  const int64_t rows = detail::prod(x.shape(), 0, x.dim() - 1);
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  Tensor out = Tensor::empty(out_shape);

  // y = bias (broadcast over rows), then y += x weight^T in one sgemm.
  if (bias.defined()) {
    fill_rows(out.data(), bias.data(), rows, out_features);
  }
  gemm(false, true, rows, out_features, in, 1.0f, x.data(), weight.data(),
       bias.defined() ? 1.0f : 0.0f, out.data());

  if (needs_grad({&x, &weight, &bias})) {
    Tensor x_saved = weight.requires_grad() ? x.detach() : Tensor();
    Tensor w_saved = x.requires_grad() ? weight.detach() : Tensor();
    record(out, "linear", {x, weight, bias},
           [x_saved, w_saved, rows, in, out_features](const Tensor& dout,
                                                      std::vector<Tensor>& dinputs) {
             const float* dy = dout.data();  // (rows, out)
             if (dinputs[0].defined()) {
               // dx (rows, in) += dy (rows, out) weight (out, in)
               gemm(false, false, rows, in, out_features, 1.0f, dy, w_saved.data(), 1.0f,
                    dinputs[0].data());
             }
             if (dinputs[1].defined()) {
               // dweight (out, in) += dy^T (out, rows) x (rows, in)
               gemm(true, false, out_features, in, rows, 1.0f, dy, x_saved.data(), 1.0f,
                    dinputs[1].data());
             }
             if (dinputs.size() > 2 && dinputs[2].defined()) {
               detail::column_sum_backward(dinputs[2].data(), dy, rows, out_features);
             }
           });
  }
  return out;
}

Tensor gated_linear(const Tensor& u, const Tensor& g, const Tensor& weight, const Tensor& bias) {
  detail::check_float("gated_linear", "u", u);
  detail::check_float("gated_linear", "g", g);
  FQ_CHECK(u.shape() == g.shape(), "gated_linear: u and g must have the same shape, got u "
                                       << shape_str(u.shape()) << " and g "
                                       << shape_str(g.shape()));
  Tensor gated = Tensor::empty(u.shape());
  {
    const float* pu = u.data();
    const float* pg = g.data();
    float* pr = gated.data();
    const int64_t n = gated.numel();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) pr[i] = pu[i] * pg[i];
  }
  Tensor out;
  {
    NoGradGuard no_grad;
    out = linear(gated, weight, bias);  // checks weight and bias against u's last axis
  }
  gated = Tensor();  // freed now: backward recomputes it
  if (!needs_grad({&u, &g, &weight, &bias})) return out;

  const int64_t in = weight.size(1);
  const int64_t out_features = weight.size(0);
  const int64_t rows = detail::prod(u.shape(), 0, u.dim() - 1);
  Tensor u_saved = u.detach();
  Tensor g_saved = g.detach();
  Tensor w_saved = weight.detach();
  record(out, "gated_linear", {u, g, weight, bias},
         [u_saved, g_saved, w_saved, rows, in, out_features](const Tensor& dout,
                                                              std::vector<Tensor>& dinputs) {
           const float* dy = dout.data();  // (rows, out)
           const float* pu = u_saved.data();
           const float* pg = g_saved.data();
           const int64_t n = rows * in;
           if (dinputs[0].defined() || dinputs[1].defined()) {
             // dgated (rows, in) = dy (rows, out) weight (out, in); du += dgated g, dg += dgated u
             Tensor dgated = Tensor::empty({rows, in});
             gemm(false, false, rows, in, out_features, 1.0f, dy, w_saved.data(), 0.0f,
                  dgated.data());
             const float* dgd = dgated.data();
             float* du = dinputs[0].defined() ? dinputs[0].data() : nullptr;
             float* dg = dinputs[1].defined() ? dinputs[1].data() : nullptr;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
             for (int64_t i = 0; i < n; ++i) {
               if (du) du[i] += dgd[i] * pg[i];
               if (dg) dg[i] += dgd[i] * pu[i];
             }
           }
           if (dinputs[2].defined()) {
             // dweight (out, in) += dy^T (out, rows) (u g) (rows, in), with u g recomputed
             Tensor gated_again = Tensor::empty({rows, in});
             float* pr = gated_again.data();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
             for (int64_t i = 0; i < n; ++i) pr[i] = pu[i] * pg[i];
             gemm(true, false, out_features, in, rows, 1.0f, dy, pr, 1.0f, dinputs[2].data());
           }
           if (dinputs[3].defined()) {
             detail::column_sum_backward(dinputs[3].data(), dy, rows, out_features);
           }
         });
  return out;
}

}  // namespace fq

namespace fq {

Tensor gated_attention_output(const Tensor& pre, const Tensor& attention, const Tensor& weight,
                              const Tensor& bias, const std::string& act) {
  detail::check_float("gated_attention_output", "pre", pre);
  detail::check_float("gated_attention_output", "attention", attention);
  detail::check_float("gated_attention_output", "weight", weight);
  FQ_CHECK(weight.dim() == 2, "gated_attention_output: weight must be 2-D [out, in], got "
                                  << shape_str(weight.shape()));
  const int64_t in = weight.size(1);
  FQ_CHECK(pre.dim() == 3 && pre.size(2) >= 2 * in,
           "gated_attention_output: pre must be [B, T, P] with P >= 2 * in = "
               << 2 * in << " for weight " << shape_str(weight.shape()) << ", got "
               << shape_str(pre.shape()));
  const int64_t batch = pre.size(0);
  const int64_t seq_len = pre.size(1);
  const int64_t width = pre.size(2);
  FQ_CHECK(attention.dim() == 3 && attention.size(0) == batch && attention.size(1) == seq_len &&
               attention.size(2) == seq_len,
           "gated_attention_output: attention must be [B, T, T] = ["
               << batch << ", " << seq_len << ", " << seq_len << "] for pre "
               << shape_str(pre.shape()) << ", got " << shape_str(attention.shape()));
  Tensor out;
  {
    NoGradGuard no_grad;
    Tensor u = activation(narrow(pre, -1, 0, in), act);   // (B, T, in)
    Tensor v = activation(narrow(pre, -1, in, in), act);  // (B, T, in)
    out = gated_linear(u, matmul(attention, v), weight, bias);  // checks bias
  }
  if (!needs_grad({&pre, &attention, &weight, &bias})) return out;

  const int64_t out_features = weight.size(0);
  const int64_t rows = batch * seq_len;
  MatmulDims d{batch, seq_len, seq_len, in, false};  // attention (T, T) x v (T, in) per batch
  Tensor pre_saved = pre.detach();
  Tensor a_saved = attention.detach();
  Tensor w_saved = weight.detach();
  record(out, "gated_attention_output", {pre, attention, weight, bias},
         [pre_saved, a_saved, w_saved, act, d, rows, in, width, out_features](
             const Tensor& dout, std::vector<Tensor>& dinputs) {
           NoGradGuard no_grad;
           // Recompute the forward's u, v and g = attention v exactly as it ran.
           Tensor pre_u = narrow(pre_saved, -1, 0, in);   // (B, T, in)
           Tensor pre_v = narrow(pre_saved, -1, in, in);  // (B, T, in)
           Tensor u = activation(pre_u, act);
           Tensor v = activation(pre_v, act);
           Tensor g = matmul(a_saved, v);  // (B, T, in)
           const float* dy = dout.data();  // (rows, out)
           const float* pu = u.data();
           const float* pg = g.data();
           const int64_t n = rows * in;
           const bool want_pre = dinputs[0].defined();
           const bool want_a = dinputs[1].defined();
           // The gated_linear step: du and dg, then dweight and dbias.
           Tensor du = want_pre ? Tensor::zeros({rows, in}) : Tensor();
           Tensor dg = want_pre || want_a ? Tensor::zeros({rows, in}) : Tensor();
           if (dg.defined()) {
             // dgated (rows, in) = dy (rows, out) weight (out, in); du += dgated g, dg += dgated u
             Tensor dgated = Tensor::empty({rows, in});
             gemm(false, false, rows, in, out_features, 1.0f, dy, w_saved.data(), 0.0f,
                  dgated.data());
             const float* dgd = dgated.data();
             float* pdu = du.defined() ? du.data() : nullptr;
             float* pdg = dg.data();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
             for (int64_t i = 0; i < n; ++i) {
               if (pdu) pdu[i] += dgd[i] * pg[i];
               pdg[i] += dgd[i] * pu[i];
             }
           }
           if (dinputs[2].defined()) {
             // dweight (out, in) += dy^T (out, rows) (u g) (rows, in), with u g recomputed
             Tensor gated = Tensor::empty({rows, in});
             float* pr = gated.data();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
             for (int64_t i = 0; i < n; ++i) pr[i] = pu[i] * pg[i];
             gemm(true, false, out_features, in, rows, 1.0f, dy, pr, 1.0f, dinputs[2].data());
           }
           if (dinputs.size() > 3 && dinputs[3].defined()) {
             detail::column_sum_backward(dinputs[3].data(), dy, rows, out_features);
           }
           u = Tensor();
           g = Tensor();
           // The attention product: dattention += dg v^T, dv += attention^T dg.
           Tensor dv = want_pre ? Tensor::zeros({rows, in}) : Tensor();
           if (dg.defined()) {
             matmul_backward(want_a ? dinputs[1].data() : nullptr,
                             want_pre ? dv.data() : nullptr, dg.data(),
                             want_pre ? a_saved.data() : nullptr, want_a ? v.data() : nullptr, d,
                             false, false);
           }
           if (!want_pre) return;
           // Through the activation into pre's first 2 in columns.
           float* dpre = dinputs[0].data();  // (rows, width)
           const Tensor* parts[2] = {&du, &dv};
           const Tensor* pre_parts[2] = {&pre_u, &pre_v};
           for (int p = 0; p < 2; ++p) {
             Tensor dpart = Tensor::zeros({rows, in});
             detail::activation_backward(dpart.data(), parts[p]->data(), pre_parts[p]->data(), n,
                                         act);
             const float* src = dpart.data();
             const int64_t col = p * in;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
             for (int64_t r = 0; r < rows; ++r) {
               for (int64_t c = 0; c < in; ++c) dpre[r * width + col + c] += src[r * in + c];
             }
           }
         });
  return out;
}

}  // namespace fq
