// Elementwise ops: broadcasting binary arithmetic, scalar arithmetic and activations.
// Every kernel is one flat loop (parallel over elements) or a broadcast row loop. Backward adds
// into the gradient buffers and sums over broadcast axes in a fixed order (core/ops_common.h).
#include <cmath>

#include "core/fast_math.h"
#include "core/ops.h"
#include "core/ops_common.h"

namespace fq {

using detail::kParallelMin;

namespace {

// ---- shared drivers ----

// out[i] = f(x[i]) over n elements.
template <typename F>
void unary_forward(float* out, const float* x, int64_t n, F f) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

// dx[i] += dout[i] * f(v[i]) where v is whatever the derivative is written in (x or out).
template <typename F>
void unary_backward(float* dx, const float* dout, const float* v, int64_t n, F dfdv) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] += dout[i] * dfdv(v[i]);
}

// Adds alpha * contrib (shaped like the op output) into dx, summing over the axes along which
// dx's tensor was broadcast.
void add_broadcast_grad(Tensor& dx, const Tensor& contrib, float alpha) {
  float* d = dx.data();
  const float* c = contrib.data();
  if (dx.shape() == contrib.shape()) {
    const int64_t n = dx.numel();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) d[i] += alpha * c[i];
    return;
  }
  detail::BroadcastGeometry g = detail::make_broadcast_geometry(contrib.shape(), {dx.shape()});
  detail::broadcast_reduce_backward(d, c, alpha, g);
}

// out = f(a, b) with broadcasting; out has shape `shape`.
template <typename F>
void binary_forward(Tensor& out, const Tensor& a, const Tensor& b, F f) {
  float* o = out.data();
  const float* pa = a.data();
  const float* pb = b.data();
  if (a.shape() == b.shape()) {
    const int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], pb[i]);
    return;
  }
  detail::BroadcastGeometry g =
      detail::make_broadcast_geometry(out.shape(), {a.shape(), b.shape()});
  detail::broadcast_binary_forward(o, pa, pb, g, f);
}

Tensor make_binary_output(const char* op, const Tensor& a, const Tensor& b) {
  detail::check_float(op, "a", a);
  detail::check_float(op, "b", b);
  return Tensor::empty(detail::broadcast_shapes(op, a.shape(), b.shape()));
}

// Numerically stable logistic function: exp is only taken of non-positive arguments. Branch
// free, so the loops that call it vectorise.
inline float sigmoid(float x) { return sigmoid_approx(x); }

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

// Activation derivatives written in the input x. silu(), gelu() and activation_backward() share
// these types, so both run the same unary_backward instantiation and agree bit for bit.
struct SiluDerivative {
  // d/dx x s(x) = s(x) (1 + x (1 - s(x)))
  float operator()(float v) const {
    const float s = sigmoid(v);
    return s * (1.0f + v * (1.0f - s));
  }
};

struct GeluDerivative {
  // d/dx x Phi(x) = Phi(x) + x phi(x), phi the standard normal density.
  float operator()(float v) const {
    const float cdf = 0.5f * (1.0f + std::erf(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * std::exp(-0.5f * v * v);
    return cdf + v * pdf;
  }
};

// relu's derivative from x: x > 0 exactly when relu(x) > 0, so this equals the test on the
// output that relu() uses (0 at x = 0, as in PyTorch).
struct ReluDerivative {
  float operator()(float v) const { return v > 0.0f ? 1.0f : 0.0f; }
};

// Checks a unary op's input, allocates its output and runs the forward kernel.
template <typename F>
Tensor unary_op(const char* op, const Tensor& x, F f) {
  detail::check_float(op, "x", x);
  Tensor out = Tensor::empty(x.shape());
  unary_forward(out.data(), x.data(), x.numel(), f);
  return out;
}

}  // namespace

// ---- binary arithmetic with broadcasting ----

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = make_binary_output("add", a, b);
  binary_forward(out, a, b, [](float x, float y) { return x + y; });
  record(out, "add", {a, b}, [](const Tensor& dout, std::vector<Tensor>& dinputs) {
    if (dinputs[0].defined()) add_broadcast_grad(dinputs[0], dout, 1.0f);
    if (dinputs[1].defined()) add_broadcast_grad(dinputs[1], dout, 1.0f);
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = make_binary_output("sub", a, b);
  binary_forward(out, a, b, [](float x, float y) { return x - y; });
  record(out, "sub", {a, b}, [](const Tensor& dout, std::vector<Tensor>& dinputs) {
    if (dinputs[0].defined()) add_broadcast_grad(dinputs[0], dout, 1.0f);
    if (dinputs[1].defined()) add_broadcast_grad(dinputs[1], dout, -1.0f);
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = make_binary_output("mul", a, b);
  binary_forward(out, a, b, [](float x, float y) { return x * y; });
  if (needs_grad({&a, &b})) {
    // d(a*b)/da = b and d(a*b)/db = a: each gradient needs only the other operand.
    Tensor a_saved = b.requires_grad() ? a.detach() : Tensor();
    Tensor b_saved = a.requires_grad() ? b.detach() : Tensor();
    record(out, "mul", {a, b},
           [a_saved, b_saved](const Tensor& dout, std::vector<Tensor>& dinputs) {
             auto times = [](float g, float v) { return g * v; };
             if (dinputs[0].defined()) {
               if (dinputs[0].shape() == dout.shape() && b_saved.shape() == dout.shape()) {
                 unary_backward(dinputs[0].data(), dout.data(), b_saved.data(), dout.numel(),
                                [](float v) { return v; });
               } else {
                 Tensor contrib = Tensor::empty(dout.shape());
                 binary_forward(contrib, dout, b_saved, times);
                 add_broadcast_grad(dinputs[0], contrib, 1.0f);
               }
             }
             if (dinputs[1].defined()) {
               if (dinputs[1].shape() == dout.shape() && a_saved.shape() == dout.shape()) {
                 unary_backward(dinputs[1].data(), dout.data(), a_saved.data(), dout.numel(),
                                [](float v) { return v; });
               } else {
                 Tensor contrib = Tensor::empty(dout.shape());
                 binary_forward(contrib, dout, a_saved, times);
                 add_broadcast_grad(dinputs[1], contrib, 1.0f);
               }
             }
           });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = make_binary_output("div", a, b);
  binary_forward(out, a, b, [](float x, float y) { return x / y; });
  if (needs_grad({&a, &b})) {
    // out = a / b: dout/da = 1 / b and dout/db = -a / b^2 = -out / b.
    Tensor b_saved = b.detach();
    Tensor out_saved = b.requires_grad() ? out.detach() : Tensor();
    record(out, "div", {a, b},
           [b_saved, out_saved](const Tensor& dout, std::vector<Tensor>& dinputs) {
             if (dinputs[0].defined()) {
               Tensor contrib = Tensor::empty(dout.shape());
               binary_forward(contrib, dout, b_saved, [](float g, float v) { return g / v; });
               add_broadcast_grad(dinputs[0], contrib, 1.0f);
             }
             if (dinputs[1].defined()) {
               Tensor contrib = Tensor::empty(dout.shape());
               const float* g = dout.data();
               const float* o = out_saved.data();
               float* c = contrib.data();
               const int64_t n = contrib.numel();
#pragma omp parallel for schedule(static) if (n > kParallelMin)
               for (int64_t i = 0; i < n; ++i) c[i] = g[i] * o[i];
               binary_forward(contrib, contrib, b_saved, [](float go, float v) { return go / v; });
               add_broadcast_grad(dinputs[1], contrib, -1.0f);
             }
           });
  }
  return out;
}

// ---- scalar arithmetic ----

Tensor add_scalar(const Tensor& x, float s) {
  Tensor out = unary_op("add_scalar", x, [s](float v) { return v + s; });
  record(out, "add_scalar", {x}, [](const Tensor& dout, std::vector<Tensor>& dinputs) {
    accumulate(dinputs[0], dout);
  });
  return out;
}

Tensor mul_scalar(const Tensor& x, float s) {
  Tensor out = unary_op("mul_scalar", x, [s](float v) { return v * s; });
  record(out, "mul_scalar", {x}, [s](const Tensor& dout, std::vector<Tensor>& dinputs) {
    add_broadcast_grad(dinputs[0], dout, s);
  });
  return out;
}

Tensor neg(const Tensor& x) {
  Tensor out = unary_op("neg", x, [](float v) { return -v; });
  record(out, "neg", {x}, [](const Tensor& dout, std::vector<Tensor>& dinputs) {
    add_broadcast_grad(dinputs[0], dout, -1.0f);
  });
  return out;
}

// ---- activations and pointwise functions ----

Tensor silu(const Tensor& x) {
  Tensor out = unary_op("silu", x, [](float v) { return v * sigmoid(v); });
  if (needs_grad({&x})) {
    Tensor x_saved = x.detach();
    record(out, "silu", {x}, [x_saved](const Tensor& dout, std::vector<Tensor>& dinputs) {
      unary_backward(dinputs[0].data(), dout.data(), x_saved.data(), dout.numel(),
                     SiluDerivative());
    });
  }
  return out;
}

Tensor gelu(const Tensor& x) {
  Tensor out = unary_op("gelu", x,
                        [](float v) { return 0.5f * v * (1.0f + std::erf(v * kInvSqrt2)); });
  if (needs_grad({&x})) {
    Tensor x_saved = x.detach();
    record(out, "gelu", {x}, [x_saved](const Tensor& dout, std::vector<Tensor>& dinputs) {
      unary_backward(dinputs[0].data(), dout.data(), x_saved.data(), dout.numel(),
                     GeluDerivative());
    });
  }
  return out;
}

Tensor relu(const Tensor& x) {
  Tensor out = unary_op("relu", x, [](float v) { return v > 0.0f ? v : 0.0f; });
  if (needs_grad({&x})) {
    Tensor out_saved = out.detach();
    record(out, "relu", {x}, [out_saved](const Tensor& dout, std::vector<Tensor>& dinputs) {
      // The derivative at 0 is taken as 0, as in PyTorch.
      unary_backward(dinputs[0].data(), dout.data(), out_saved.data(), dout.numel(),
                     [](float o) { return o > 0.0f ? 1.0f : 0.0f; });
    });
  }
  return out;
}

Tensor square(const Tensor& x) {
  Tensor out = unary_op("square", x, [](float v) { return v * v; });
  if (needs_grad({&x})) {
    Tensor x_saved = x.detach();
    record(out, "square", {x}, [x_saved](const Tensor& dout, std::vector<Tensor>& dinputs) {
      unary_backward(dinputs[0].data(), dout.data(), x_saved.data(), dout.numel(),
                     [](float v) { return 2.0f * v; });
    });
  }
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_op("exp", x, [](float v) { return exp_approx(v); });
  if (needs_grad({&x})) {
    Tensor out_saved = out.detach();
    record(out, "exp", {x}, [out_saved](const Tensor& dout, std::vector<Tensor>& dinputs) {
      unary_backward(dinputs[0].data(), dout.data(), out_saved.data(), dout.numel(),
                     [](float o) { return o; });
    });
  }
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary_op("log", x, [](float v) { return std::log(v); });
  if (needs_grad({&x})) {
    Tensor x_saved = x.detach();
    record(out, "log", {x}, [x_saved](const Tensor& dout, std::vector<Tensor>& dinputs) {
      unary_backward(dinputs[0].data(), dout.data(), x_saved.data(), dout.numel(),
                     [](float v) { return 1.0f / v; });
    });
  }
  return out;
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = unary_op("rsqrt", x, [](float v) { return 1.0f / std::sqrt(v); });
  if (needs_grad({&x})) {
    Tensor out_saved = out.detach();
    record(out, "rsqrt", {x}, [out_saved](const Tensor& dout, std::vector<Tensor>& dinputs) {
      // y = x^(-1/2): dy/dx = -x^(-3/2) / 2 = -y^3 / 2
      unary_backward(dinputs[0].data(), dout.data(), out_saved.data(), dout.numel(),
                     [](float o) { return -0.5f * o * o * o; });
    });
  }
  return out;
}

Tensor activation(const Tensor& x, const std::string& name) {
  if (name == "silu" || name == "swish") return silu(x);
  if (name == "gelu") return gelu(x);
  if (name == "relu") return relu(x);
  FQ_CHECK(false, "activation: unknown activation '" << name
                                                     << "'; expected silu, swish, gelu or relu");
  return Tensor();
}

namespace detail {

void activation_backward(float* dx, const float* dout, const float* x, int64_t n,
                         const std::string& name) {
  if (name == "silu" || name == "swish") {
    unary_backward(dx, dout, x, n, SiluDerivative());
  } else if (name == "gelu") {
    unary_backward(dx, dout, x, n, GeluDerivative());
  } else if (name == "relu") {
    unary_backward(dx, dout, x, n, ReluDerivative());
  } else {
    FQ_CHECK(false, "activation_backward: unknown activation '"
                        << name << "'; expected silu, swish, gelu or relu");
  }
}

}  // namespace detail

}  // namespace fq
