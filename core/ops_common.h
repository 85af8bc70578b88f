// Internal helpers shared by the ops_*.cpp files: argument checks, the OpenMP size threshold,
// and the broadcasting geometry with its forward (copy, binary) and backward (sum over broadcast
// axes) kernels. Not part of the public op API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/tensor.h"

namespace fq {
namespace detail {

// Loops over fewer elements than this run on one thread: spawning a team costs more than it
// saves on small tensors.
constexpr int64_t kParallelMin = 1 << 15;
// Elements per task when a broadcast kernel cuts long rows into blocks.
constexpr int64_t kBroadcastBlock = 8192;

// Throws unless t is defined and float32; `op` and `name` go into the message.
void check_float(const char* op, const char* name, const Tensor& t);
// Throws unless t is defined and int32.
void check_ids(const char* op, const char* name, const Tensor& t);
// Product of shape[begin, end).
int64_t prod(const Shape& shape, size_t begin, size_t end);
// Normalises a possibly negative axis for a tensor of rank `rank`; throws when out of range.
int64_t normalize_axis(const char* op, int64_t axis, int64_t rank, const Shape& shape);

// NumPy broadcast of two shapes; throws naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Mapping of each operand onto the output index space after broadcasting. Axes of size 1 in the
// output are dropped, and neighbouring axes on which every operand behaves alike (all present or
// all broadcast) are merged, so most cases reduce to one or two axes. strides[k][d] is operand
// k's element stride along merged axis d, 0 where it is broadcast.
struct BroadcastGeometry {
  Shape dims;                                // merged output axes, at least one
  std::vector<std::vector<int64_t>> strides;  // per operand, same length as dims
};
BroadcastGeometry make_broadcast_geometry(const Shape& out, const std::vector<Shape>& operands);

// Offsets of operands 0 and 1 at the start of output row `row`, where a row is the last merged
// axis and rows enumerate the others in row-major order.
inline void broadcast_row_offsets(const BroadcastGeometry& g, int64_t row, int64_t* offsets,
                                  size_t operands) {
  for (size_t k = 0; k < operands; ++k) offsets[k] = 0;
  for (int64_t d = static_cast<int64_t>(g.dims.size()) - 2; d >= 0; --d) {
    int64_t idx = row % g.dims[d];
    row /= g.dims[d];
    for (size_t k = 0; k < operands; ++k) offsets[k] += idx * g.strides[k][d];
  }
}

// out[i] = f(a[ia], b[ib]) with NumPy broadcasting; g has operands {a, b}. Parallel over rows.
template <typename F>
void broadcast_binary_forward(float* out, const float* a, const float* b,
                              const BroadcastGeometry& g, F f) {
  const int64_t n = g.dims.back();
  const int64_t sa = g.strides[0].back();
  const int64_t sb = g.strides[1].back();
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < g.dims.size(); ++d) rows *= g.dims[d];
  // Long rows are cut into blocks so that a single row still spreads over the threads.
  const int64_t block = kBroadcastBlock;
  const int64_t blocks = n == 0 ? 0 : (n + block - 1) / block;
  const int64_t tasks = rows * blocks;
#pragma omp parallel for schedule(static) if (rows * n > kParallelMin && tasks > 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t r = t / blocks;
    const int64_t begin = (t % blocks) * block;
    const int64_t end = begin + block < n ? begin + block : n;
    int64_t off[2];
    broadcast_row_offsets(g, r, off, 2);
    const float* a_r = a + off[0];
    const float* b_r = b + off[1];
    float* out_r = out + r * n;
    if (sa == 1 && sb == 1) {
      for (int64_t i = begin; i < end; ++i) out_r[i] = f(a_r[i], b_r[i]);
    } else if (sa == 0 && sb == 1) {
      const float av = a_r[0];
      for (int64_t i = begin; i < end; ++i) out_r[i] = f(av, b_r[i]);
    } else if (sa == 1 && sb == 0) {
      const float bv = b_r[0];
      for (int64_t i = begin; i < end; ++i) out_r[i] = f(a_r[i], bv);
    } else {
      for (int64_t i = begin; i < end; ++i) out_r[i] = f(a_r[i * sa], b_r[i * sb]);
    }
  }
}

// out[i] = x[broadcast index of i] over a geometry with one operand.
void broadcast_copy_forward(float* out, const float* x, const BroadcastGeometry& g);

// dx[j] += alpha * sum of dout[i] over every output index i that reads x[j] (geometry with one
// operand x). Each dx element is owned by one thread and summed in a fixed order.
void broadcast_reduce_backward(float* dx, const float* dout, float alpha,
                               const BroadcastGeometry& g);

// Sums `rows` rows of `cols` floats column-wise into dcol: dcol[c] += sum_r x[r * cols + c].
// Parallel over column blocks, rows summed in order, so the result does not depend on threads.
void column_sum_backward(float* dcol, const float* x, int64_t rows, int64_t cols);

// dx[i] += dout[i] * act'(x[i]) over n elements for the activation `name` (silu, swish, gelu or
// relu), with the same arithmetic as the backward of activation(x, name).
void activation_backward(float* dx, const float* dout, const float* x, int64_t n,
                         const std::string& name);

}  // namespace detail
}  // namespace fq
