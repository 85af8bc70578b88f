// Argument checks and broadcasting kernels shared by the op files.
#include "core/ops_common.h"

#include <algorithm>

namespace fq {
namespace detail {

void check_float(const char* op, const char* name, const Tensor& t) {
  FQ_CHECK(t.defined(), op << ": " << name << " is undefined");
  FQ_CHECK(t.dtype() == DType::F32, op << ": " << name << " must be float32, got "
                                       << dtype_name(t.dtype()) << " of shape "
                                       << shape_str(t.shape()));
}

void check_ids(const char* op, const char* name, const Tensor& t) {
  FQ_CHECK(t.defined(), op << ": " << name << " is undefined");
  FQ_CHECK(t.dtype() == DType::I32, op << ": " << name << " must be int32, got "
                                       << dtype_name(t.dtype()) << " of shape "
                                       << shape_str(t.shape()));
}

int64_t prod(const Shape& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= shape[i];
  return n;
}

int64_t normalize_axis(const char* op, int64_t axis, int64_t rank, const Shape& shape) {
  int64_t a = axis < 0 ? axis + rank : axis;
  FQ_CHECK(a >= 0 && a < rank,
           op << ": axis " << axis << " is out of range for shape " << shape_str(shape));
  return a;
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align at the last axis; missing leading axes count as 1.
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    FQ_CHECK(da == db || da == 1 || db == 1,
             op << ": shapes cannot be broadcast: a " << shape_str(a) << " and b " << shape_str(b)
                << " (axis " << i << ": " << da << " vs " << db << ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

BroadcastGeometry make_broadcast_geometry(const Shape& out, const std::vector<Shape>& operands) {
  const size_t rank = out.size();
  const size_t k_count = operands.size();

  // 1. Per output axis (skipping size-1 axes), whether each operand has it or broadcasts.
  std::vector<int64_t> dims;
  std::vector<std::vector<bool>> present(k_count);
  for (size_t i = 0; i < rank; ++i) {
    if (out[i] == 1) continue;
    dims.push_back(out[i]);
    for (size_t k = 0; k < k_count; ++k) {
      const Shape& s = operands[k];
      FQ_INTERNAL(s.size() <= rank, "broadcast operand " << shape_str(s) << " has more axes than "
                                                         << shape_str(out));
      int64_t d = i < rank - s.size() ? 1 : s[i - (rank - s.size())];
      FQ_INTERNAL(d == out[i] || d == 1, "broadcast operand " << shape_str(s)
                                                              << " does not fit " << shape_str(out));
      present[k].push_back(d == out[i]);
    }
  }

  // 2. Merge neighbouring axes whose presence pattern matches for every operand.
  BroadcastGeometry g;
  std::vector<std::vector<bool>> merged_present(k_count);
  for (size_t i = 0; i < dims.size(); ++i) {
    bool same = !g.dims.empty();
    for (size_t k = 0; k < k_count && same; ++k) same = merged_present[k].back() == present[k][i];
    if (same) {
      g.dims.back() *= dims[i];
    } else {
      g.dims.push_back(dims[i]);
      for (size_t k = 0; k < k_count; ++k) merged_present[k].push_back(present[k][i]);
    }
  }
  if (g.dims.empty()) {
    g.dims.push_back(1);
    for (size_t k = 0; k < k_count; ++k) merged_present[k].push_back(true);
  }

  // 3. Contiguous strides of each operand over the axes it has; 0 where broadcast.
  g.strides.assign(k_count, std::vector<int64_t>(g.dims.size(), 0));
  for (size_t k = 0; k < k_count; ++k) {
    int64_t stride = 1;
    for (int64_t d = static_cast<int64_t>(g.dims.size()) - 1; d >= 0; --d) {
      if (merged_present[k][d]) {
        g.strides[k][d] = stride;
        stride *= g.dims[d];
      }
    }
  }
  return g;
}

void broadcast_copy_forward(float* out, const float* x, const BroadcastGeometry& g) {
  const int64_t n = g.dims.back();
  const int64_t sx = g.strides[0].back();
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < g.dims.size(); ++d) rows *= g.dims[d];
#pragma omp parallel for schedule(static) if (rows * n > kParallelMin && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off = 0;
    broadcast_row_offsets(g, r, &off, 1);
    const float* x_r = x + off;
    float* out_r = out + r * n;
    if (sx == 1) {
      for (int64_t i = 0; i < n; ++i) out_r[i] = x_r[i];
    } else {
      const float v = x_r[0];
      for (int64_t i = 0; i < n; ++i) out_r[i] = v;
    }
  }
}

namespace {

// Advances a row-major odometer over `sizes`; returns false after the last combination.
bool next_index(std::vector<int64_t>& idx, const std::vector<int64_t>& sizes) {
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    if (++idx[d] < sizes[d]) return true;
    idx[d] = 0;
  }
  return false;
}

}  // namespace

void broadcast_reduce_backward(float* dx, const float* dout, float alpha,
                               const BroadcastGeometry& g) {
  const size_t nd = g.dims.size();
  const std::vector<int64_t>& xs = g.strides[0];

  // Output strides (contiguous) and the split of the outer axes into kept and reduced ones.
  std::vector<int64_t> out_stride(nd);
  int64_t total = 1;
  for (int64_t d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
    out_stride[d] = total;
    total *= g.dims[d];
  }
  if (total == 0) return;
  std::vector<int64_t> kept_size, kept_stride, red_size, red_stride;
  for (size_t d = 0; d + 1 < nd; ++d) {
    if (xs[d] != 0) {
      kept_size.push_back(g.dims[d]);
      kept_stride.push_back(out_stride[d]);
    } else {
      red_size.push_back(g.dims[d]);
      red_stride.push_back(out_stride[d]);
    }
  }
  int64_t kept_count = 1;
  for (int64_t s : kept_size) kept_count *= s;
  const int64_t n = g.dims.back();
  const bool last_kept = xs.back() != 0;

  // Output offset of the kept outer index `k` (row-major over kept_size).
  auto kept_base = [&](int64_t k) {
    int64_t base = 0;
    for (int64_t d = static_cast<int64_t>(kept_size.size()) - 1; d >= 0; --d) {
      base += (k % kept_size[d]) * kept_stride[d];
      k /= kept_size[d];
    }
    return base;
  };

  if (last_kept) {
    // x rows of n contiguous elements; each task owns one block of one x row and walks the
    // reduced axes in row-major order, so every dx element receives its additions in the same order.
    const int64_t block = 64;
    const int64_t blocks = (n + block - 1) / block;
    const int64_t tasks = kept_count * blocks;
#pragma omp parallel for schedule(static) if (total > kParallelMin && tasks > 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t k = t / blocks;
      const int64_t begin = (t % blocks) * block;
      const int64_t end = std::min(n, begin + block);
      float* dx_k = dx + k * n;
      const int64_t base = kept_base(k);
      std::vector<int64_t> idx(red_size.size(), 0);
      do {
        int64_t off = base;
        for (size_t d = 0; d < red_size.size(); ++d) off += idx[d] * red_stride[d];
        const float* dout_r = dout + off;
        for (int64_t i = begin; i < end; ++i) dx_k[i] += alpha * dout_r[i];
      } while (next_index(idx, red_size));
    }
  } else {
    // The last axis is reduced: each x element is a sum over whole output rows.
#pragma omp parallel for schedule(static) if (total > kParallelMin && kept_count > 1)
    for (int64_t k = 0; k < kept_count; ++k) {
      const int64_t base = kept_base(k);
      std::vector<int64_t> idx(red_size.size(), 0);
      double acc = 0.0;
      do {
        int64_t off = base;
        for (size_t d = 0; d < red_size.size(); ++d) off += idx[d] * red_stride[d];
        const float* dout_r = dout + off;
        for (int64_t i = 0; i < n; ++i) acc += dout_r[i];
      } while (next_index(idx, red_size));
      dx[k] += alpha * static_cast<float>(acc);
    }
  }
}

void column_sum_backward(float* dcol, const float* x, int64_t rows, int64_t cols) {
  const int64_t block = 64;
  const int64_t blocks = (cols + block - 1) / block;
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin && blocks > 1)
  for (int64_t t = 0; t < blocks; ++t) {
    const int64_t begin = t * block;
    const int64_t end = std::min(cols, begin + block);
    for (int64_t r = 0; r < rows; ++r) {
      const float* x_r = x + r * cols;
      for (int64_t c = begin; c < end; ++c) dcol[c] += x_r[c];
    }
  }
}

}  // namespace detail
}  // namespace fq
