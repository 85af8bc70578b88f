// Tensor: a handle to contiguous row-major storage (float32 values or int32 ids) plus the
// autograd metadata of reverse-mode differentiation. Copying a Tensor copies the handle, not the
// data. Views (reshape, detach, rows) share storage; every other op writes a new tensor.
//
// Autograd model: an op that has an input requiring grad records a Node on its output. The Node
// stores the autograd metadata of its inputs (not their data) and a closure that saved exactly what
// backward needs. backward() walks the graph once in reverse topological order and then releases
// it. See core/autograd.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/check.h"

namespace fq {

enum class DType { F32, I32 };

const char* dtype_name(DType dtype);

// Aligned, zero-initialised buffer. Sized once; never reallocated.
class Storage {
 public:
  Storage(size_t bytes, bool zero);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

struct Node;
struct AutogradMeta;
class Tensor;

int64_t shape_numel(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;  // undefined tensor; defined() is false

  // ---- construction ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);  // contents unspecified
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, float value);
  static Tensor scalar(float value);  // shape [] (one element)
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_ids(const std::vector<int32_t>& ids, const Shape& shape);

  // ---- shape and type ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const;
  DType dtype() const;
  bool is_float() const { return dtype() == DType::F32; }

  // ---- data access (throws when the dtype differs) ----
  float* data();
  const float* data() const;
  int32_t* ids();
  const int32_t* ids() const;
  std::vector<float> to_vector() const;  // F32 only
  std::vector<int32_t> to_ids() const;   // I32 only
  float item() const;                    // the only element of a one-element F32 tensor

  // ---- views and copies ----
  // Same storage, new shape with the same element count. Records a node when grad is needed,
  // so gradients flow through a reshape.
  Tensor reshape(const Shape& shape) const;
  // Same storage, no autograd history, requires_grad false.
  Tensor detach() const;
  // Rows [start, start + count) along axis 0, sharing storage; no autograd history.
  Tensor rows(int64_t start, int64_t count) const;
  // Deep copy of the data, no autograd history.
  Tensor clone() const;
  // Overwrites this tensor's data with src's (same shape and dtype). Not recorded by autograd;
  // used for parameter updates and loading weights.
  void copy_from(const Tensor& src);
  void fill(float value);
  bool shares_storage(const Tensor& other) const;

  // ---- autograd ----
  bool requires_grad() const;
  // Marks a leaf (a tensor with no recorded history) as requiring grad. Returns *this.
  Tensor& set_requires_grad(bool requires_grad);
  bool is_leaf() const;
  // Accumulated gradient of a leaf after backward(); undefined when none has arrived.
  // For non-leaf tensors only while retain_grad() is set.
  Tensor grad() const;
  void set_grad(const Tensor& grad);
  // Zeroes the accumulated gradient in place (keeps the buffer) or leaves it undefined.
  void zero_grad();
  void retain_grad();
  // Runs backward from this one-element tensor with seed gradient 1.
  void backward() const;
  // Runs backward from this tensor with the given seed gradient (same shape).
  void backward(const Tensor& grad_output) const;

  // Internal: the autograd metadata, created on demand.
  const std::shared_ptr<AutogradMeta>& autograd_meta() const;
  std::shared_ptr<AutogradMeta> autograd_meta_if_any() const;

 private:
  struct Impl {
    std::shared_ptr<Storage> storage;
    int64_t offset = 0;  // in elements
    Shape shape;
    int64_t numel = 0;
    DType dtype = DType::F32;
    mutable std::shared_ptr<AutogradMeta> meta;
  };
  std::shared_ptr<Impl> impl_;

  void require_defined(const char* what) const;
};

// ---- autograd metadata and graph nodes ----

// A backward closure receives the gradient of the node's output and one gradient buffer per
// input. A buffer is undefined when that input needs no gradient; otherwise it is a zero-filled
// (or already partly accumulated) tensor of the input's shape into which the closure must ADD
// its contribution, never overwrite.
using BackwardFn = std::function<void(const Tensor& dout, std::vector<Tensor>& dinputs)>;

struct AutogradMeta {
  bool requires_grad = false;
  bool retain_grad = false;
  Shape shape;                  // of the tensor this metadata belongs to
  std::shared_ptr<Node> grad_fn;  // null for leaves
  Tensor grad;                  // accumulated gradient
};

struct Node {
  std::string name;  // op name, for error messages
  // Metadata of each input; null for inputs that need no gradient.
  std::vector<std::shared_ptr<AutogradMeta>> inputs;
  BackwardFn backward;
  bool released = false;
};

}  // namespace fq
