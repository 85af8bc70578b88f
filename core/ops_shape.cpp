// Shape ops that copy: narrow (and its last-axis forms slice_last, split_last), concat_last,
// transpose_last2 and expand. Each backward adds the output gradient back into the positions
// the forward read from; expand sums over broadcast axes in a fixed order.
#include <algorithm>
#include <cstring>

#include "core/ops.h"
#include "core/ops_common.h"

namespace fq {

using detail::kParallelMin;

namespace {

// ---- kernels ----

// Copies a (outer, width) block out of rows of `stride` floats starting at column `start`:
// out[o, j] = x[o, start + j]; x: (outer, stride), out: (outer, width).
void narrow_forward(float* out, const float* x, int64_t outer, int64_t stride, int64_t start,
                    int64_t width) {
#pragma omp parallel for schedule(static) if (outer * width > kParallelMin)
  for (int64_t o = 0; o < outer; ++o) {
    const float* x_o = x + o * stride + start;
    float* out_o = out + o * width;
    for (int64_t j = 0; j < width; ++j) out_o[j] = x_o[j];
  }
}

// dx[o, start + j] += dout[o, j]
void narrow_backward(float* dx, const float* dout, int64_t outer, int64_t stride, int64_t start,
                     int64_t width) {
#pragma omp parallel for schedule(static) if (outer * width > kParallelMin)
  for (int64_t o = 0; o < outer; ++o) {
    float* dx_o = dx + o * stride + start;
    const float* dout_o = dout + o * width;
    for (int64_t j = 0; j < width; ++j) dx_o[j] += dout_o[j];
  }
}

// out[b, j, i] = x[b, i, j]; x: (batch, m, n). Tiled so that both sides stay in cache.
// When accumulate is set, adds into out instead of overwriting.
void transpose_kernel(float* out, const float* x, int64_t batch, int64_t m, int64_t n,
                      bool accumulate) {
  constexpr int64_t kTile = 32;
  const int64_t tiles_m = (m + kTile - 1) / kTile;
  const int64_t tiles_n = (n + kTile - 1) / kTile;
  const int64_t tasks = batch * tiles_m * tiles_n;
#pragma omp parallel for schedule(static) if (batch * m * n > kParallelMin)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t b = t / (tiles_m * tiles_n);
    const int64_t i0 = (t / tiles_n) % tiles_m * kTile;
    const int64_t j0 = t % tiles_n * kTile;
    const float* x_b = x + b * m * n;
    float* out_b = out + b * m * n;
    const int64_t i1 = std::min(m, i0 + kTile);
    const int64_t j1 = std::min(n, j0 + kTile);
    for (int64_t j = j0; j < j1; ++j) {
      float* out_row = out_b + j * m;
      if (accumulate) {
        for (int64_t i = i0; i < i1; ++i) out_row[i] += x_b[i * n + j];
      } else {
        for (int64_t i = i0; i < i1; ++i) out_row[i] = x_b[i * n + j];
      }
    }
  }
}

}  // namespace

Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length) {
  detail::check_float("narrow", "x", x);
  const int64_t ax = detail::normalize_axis("narrow", axis, x.dim(), x.shape());
  const int64_t size = x.size(ax);
  FQ_CHECK(start >= 0 && length >= 0 && start + length <= size,
           "narrow: range [" << start << ", " << start + length << ") is out of bounds for axis "
                             << axis << " of size " << size << " in shape "
                             << shape_str(x.shape()));
  const int64_t outer = detail::prod(x.shape(), 0, ax);
  const int64_t inner = detail::prod(x.shape(), ax + 1, x.dim());
  Shape out_shape = x.shape();
  out_shape[ax] = length;
  Tensor out = Tensor::empty(out_shape);
  // Viewed as (outer, size * inner) rows, the slice is a column range of each row.
  const int64_t stride = size * inner;
  const int64_t col_start = start * inner;
  const int64_t width = length * inner;
  narrow_forward(out.data(), x.data(), outer, stride, col_start, width);
  record(out, "narrow", {x},
         [outer, stride, col_start, width](const Tensor& dout, std::vector<Tensor>& dinputs) {
           narrow_backward(dinputs[0].data(), dout.data(), outer, stride, col_start, width);
         });
  return out;
}

Tensor slice_last(const Tensor& x, int64_t start, int64_t end) {
  detail::check_float("slice_last", "x", x);
  FQ_CHECK(x.dim() >= 1, "slice_last: x has no axes (shape " << shape_str(x.shape()) << ")");
  FQ_CHECK(start >= 0 && end >= start && end <= x.size(-1),
           "slice_last: range [" << start << ", " << end << ") is out of bounds for shape "
                                 << shape_str(x.shape()));
  return narrow(x, -1, start, end - start);
}

std::vector<Tensor> split_last(const Tensor& x, const std::vector<int64_t>& sizes) {
  detail::check_float("split_last", "x", x);
  FQ_CHECK(x.dim() >= 1, "split_last: x has no axes (shape " << shape_str(x.shape()) << ")");
  int64_t total = 0;
  for (int64_t s : sizes) {
    FQ_CHECK(s >= 0, "split_last: negative part size " << s);
    total += s;
  }
  FQ_CHECK(total == x.size(-1), "split_last: part sizes sum to " << total
                                                                 << " but the last axis of "
                                                                 << shape_str(x.shape())
                                                                 << " has " << x.size(-1));
  std::vector<Tensor> parts;
  parts.reserve(sizes.size());
  int64_t start = 0;
  for (int64_t s : sizes) {
    parts.push_back(narrow(x, -1, start, s));
    start += s;
  }
  return parts;
}

Tensor concat_last(const std::vector<Tensor>& parts) {
  FQ_CHECK(!parts.empty(), "concat_last: no tensors to concatenate");
  for (const Tensor& p : parts) detail::check_float("concat_last", "part", p);
  const Shape& first = parts[0].shape();
  FQ_CHECK(!first.empty(), "concat_last: parts need at least one axis, got "
                               << shape_str(first));
  int64_t total = 0;
  for (const Tensor& p : parts) {
    const Shape& s = p.shape();
    FQ_CHECK(s.size() == first.size() && std::equal(s.begin(), s.end() - 1, first.begin()),
             "concat_last: leading axes differ: " << shape_str(first) << " and "
                                                  << shape_str(s));
    total += s.back();
  }
  const int64_t outer = detail::prod(first, 0, first.size() - 1);
  Shape out_shape = first;
  out_shape.back() = total;
  Tensor out = Tensor::empty(out_shape);

  // Each part fills a column range of every (outer) row of the output.
  std::vector<int64_t> widths;
  int64_t start = 0;
  float* o = out.data();
  for (const Tensor& p : parts) {
    const int64_t w = p.shape().back();
    const float* src = p.data();
#pragma omp parallel for schedule(static) if (outer * w > kParallelMin)
    for (int64_t r = 0; r < outer; ++r) {
      std::memcpy(o + r * total + start, src + r * w, sizeof(float) * w);
    }
    widths.push_back(w);
    start += w;
  }

  record(out, "concat_last", parts,
         [widths, outer, total](const Tensor& dout, std::vector<Tensor>& dinputs) {
           int64_t col = 0;
           for (size_t i = 0; i < widths.size(); ++i) {
             if (dinputs[i].defined()) {
               // dpart[r, j] += dout[r, col + j], the same loop as narrow's backward.
               const float* g = dout.data();
               float* dp = dinputs[i].data();
               const int64_t w = widths[i];
#pragma omp parallel for schedule(static) if (outer * w > kParallelMin)
               for (int64_t r = 0; r < outer; ++r) {
                 for (int64_t j = 0; j < w; ++j) dp[r * w + j] += g[r * total + col + j];
               }
             }
             col += widths[i];
           }
         });
  return out;
}

Tensor transpose_last2(const Tensor& x) {
  detail::check_float("transpose_last2", "x", x);
  FQ_CHECK(x.dim() >= 2, "transpose_last2: x needs at least 2 axes, got " << shape_str(x.shape()));
  const int64_t m = x.size(-2);
  const int64_t n = x.size(-1);
  const int64_t batch = detail::prod(x.shape(), 0, x.dim() - 2);
  Shape out_shape = x.shape();
  std::swap(out_shape[out_shape.size() - 1], out_shape[out_shape.size() - 2]);
  Tensor out = Tensor::empty(out_shape);
  transpose_kernel(out.data(), x.data(), batch, m, n, false);
  record(out, "transpose_last2", {x}, [batch, m, n](const Tensor& dout,
                                                     std::vector<Tensor>& dinputs) {
    // dout is (batch, n, m); its transpose adds into dx (batch, m, n).
    transpose_kernel(dinputs[0].data(), dout.data(), batch, n, m, true);
  });
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  detail::check_float("expand", "x", x);
  FQ_CHECK(x.dim() <= static_cast<int64_t>(shape.size()),
           "expand: cannot expand x " << shape_str(x.shape()) << " to fewer axes "
                                      << shape_str(shape));
  FQ_CHECK(detail::broadcast_shapes("expand", x.shape(), shape) == shape,
           "expand: x " << shape_str(x.shape()) << " cannot be broadcast to " << shape_str(shape)
                        << " (each axis of x must equal the target or be 1)");
  Tensor out = Tensor::empty(shape);
  if (out.numel() > 0) {
    detail::BroadcastGeometry g = detail::make_broadcast_geometry(shape, {x.shape()});
    detail::broadcast_copy_forward(out.data(), x.data(), g);
  }
  Shape x_shape = x.shape();
  record(out, "expand", {x}, [x_shape, shape](const Tensor& dout, std::vector<Tensor>& dinputs) {
    if (dout.numel() == 0) return;
    detail::BroadcastGeometry g = detail::make_broadcast_geometry(shape, {x_shape});
    detail::broadcast_reduce_backward(dinputs[0].data(), dout.data(), 1.0f, g);
  });
  return out;
}

}  // namespace fq
