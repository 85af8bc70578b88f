// Tensor storage, construction, views and data access.
#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "core/autograd.h"

namespace fq {

namespace {
constexpr size_t kAlignment = 64;  // one cache line, enough for AVX-512 loads

size_t dtype_bytes(DType dtype) { return dtype == DType::F32 ? sizeof(float) : sizeof(int32_t); }

}  // namespace

const char* dtype_name(DType dtype) { return dtype == DType::F32 ? "float32" : "int32"; }

namespace {

// Freed blocks of at least kPoolMinBytes are kept here, by exact size, up to kPoolMaxBytes in
// all, for the next request of the same size: training allocates the same shapes every step.
// Without it, glibc maps blocks above its mmap threshold fresh (page faults and kernel zeroing)
// on every step, and the heap fragments: base training at 8 x 512 peaked at 6,753 MiB resident
// with glibc alone and at 5,683 MiB with this pool, for 4,730 MiB of live tensors (measured
// before the attention unit stopped saving u, v and A v for backward).
// NOTE: cached blocks are only returned to the system beyond kPoolMaxBytes, so a process that
// allocates many distinct large sizes (varying batch shapes) keeps its high-water mark of each.
constexpr size_t kPoolMinBytes = 1024 * 1024;
constexpr size_t kPoolMaxBytes = size_t{16} << 30;

struct LargeBlockPool {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;
  size_t free_bytes = 0;
};

LargeBlockPool& large_block_pool() {
  static LargeBlockPool* pool = new LargeBlockPool();  // never destroyed: used until exit
  return *pool;
}

void* allocate_block(size_t rounded) {
  if (rounded >= kPoolMinBytes) {
    LargeBlockPool& pool = large_block_pool();
    std::lock_guard<std::mutex> lock(pool.mutex);
    auto it = pool.free_blocks.find(rounded);
    if (it != pool.free_blocks.end()) {
      void* block = it->second;
      pool.free_blocks.erase(it);
      pool.free_bytes -= rounded;
      return block;
    }
  }
  return std::aligned_alloc(kAlignment, rounded);
}

void release_block(void* block, size_t rounded) {
  if (rounded >= kPoolMinBytes) {
    LargeBlockPool& pool = large_block_pool();
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (pool.free_bytes + rounded <= kPoolMaxBytes) {
      pool.free_blocks.emplace(rounded, block);
      pool.free_bytes += rounded;
      return;
    }
  }
  std::free(block);
}

size_t rounded_bytes(size_t bytes) {
  size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  return rounded == 0 ? kAlignment : rounded;
}

}  // namespace

Storage::Storage(size_t bytes, bool zero) : bytes_(bytes) {
  const size_t rounded = rounded_bytes(bytes);
  data_ = allocate_block(rounded);
  if (data_ == nullptr) throw std::bad_alloc();
  if (zero) std::memset(data_, 0, rounded);
}

Storage::~Storage() { release_block(data_, rounded_bytes(bytes_)); }

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    FQ_CHECK(d >= 0, "tensor: negative dimension in shape " << shape_str(shape));
    n *= d;
  }
  return n;
}

// ---- construction ----

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  Tensor t;
  t.impl_ = std::make_shared<Impl>();
  t.impl_->shape = shape;
  t.impl_->numel = shape_numel(shape);
  t.impl_->dtype = dtype;
  t.impl_->storage = std::make_shared<Storage>(t.impl_->numel * dtype_bytes(dtype), false);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t;
  t.impl_ = std::make_shared<Impl>();
  t.impl_->shape = shape;
  t.impl_->numel = shape_numel(shape);
  t.impl_->dtype = dtype;
  t.impl_->storage = std::make_shared<Storage>(t.impl_->numel * dtype_bytes(dtype), true);
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  t.fill(value);
  return t;
}

Tensor Tensor::scalar(float value) { return full({}, value); }

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  FQ_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
           "Tensor::from_vector: " << values.size() << " values do not fill shape "
                                   << shape_str(shape));
  Tensor t = empty(shape);
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_ids(const std::vector<int32_t>& ids, const Shape& shape) {
  FQ_CHECK(static_cast<int64_t>(ids.size()) == shape_numel(shape),
           "Tensor::from_ids: " << ids.size() << " ids do not fill shape " << shape_str(shape));
  Tensor t = empty(shape, DType::I32);
  if (!ids.empty()) std::memcpy(t.ids(), ids.data(), ids.size() * sizeof(int32_t));
  return t;
}

// ---- shape and type ----

void Tensor::require_defined(const char* what) const {
  FQ_CHECK(impl_ != nullptr, "Tensor::" << what << ": tensor is undefined");
}

const Shape& Tensor::shape() const {
  require_defined("shape");
  return impl_->shape;
}

int64_t Tensor::size(int64_t axis) const {
  int64_t rank = dim();
  int64_t a = axis < 0 ? axis + rank : axis;
  FQ_CHECK(a >= 0 && a < rank,
           "Tensor::size: axis " << axis << " is out of range for shape " << shape_str(shape()));
  return impl_->shape[a];
}

int64_t Tensor::numel() const {
  require_defined("numel");
  return impl_->numel;
}

DType Tensor::dtype() const {
  require_defined("dtype");
  return impl_->dtype;
}

// ---- data access ----

float* Tensor::data() {
  require_defined("data");
  FQ_CHECK(impl_->dtype == DType::F32,
           "Tensor::data: tensor of shape " << shape_str(impl_->shape) << " is "
                                            << dtype_name(impl_->dtype) << ", not float32");
  return static_cast<float*>(impl_->storage->data()) + impl_->offset;
}

const float* Tensor::data() const { return const_cast<Tensor*>(this)->data(); }

int32_t* Tensor::ids() {
  require_defined("ids");
  FQ_CHECK(impl_->dtype == DType::I32,
           "Tensor::ids: tensor of shape " << shape_str(impl_->shape) << " is "
                                           << dtype_name(impl_->dtype) << ", not int32");
  return static_cast<int32_t*>(impl_->storage->data()) + impl_->offset;
}

const int32_t* Tensor::ids() const { return const_cast<Tensor*>(this)->ids(); }

std::vector<float> Tensor::to_vector() const {
  const float* p = data();
  return std::vector<float>(p, p + numel());
}

std::vector<int32_t> Tensor::to_ids() const {
  const int32_t* p = ids();
  return std::vector<int32_t>(p, p + numel());
}

float Tensor::item() const {
  FQ_CHECK(numel() == 1, "Tensor::item: expected one element, got shape " << shape_str(shape()));
  return data()[0];
}

// ---- views and copies ----

Tensor Tensor::reshape(const Shape& new_shape) const {
  require_defined("reshape");
  FQ_CHECK(shape_numel(new_shape) == impl_->numel,
           "reshape: cannot view shape " << shape_str(impl_->shape) << " as "
                                         << shape_str(new_shape));
  Tensor out;
  out.impl_ = std::make_shared<Impl>(*impl_);
  out.impl_->shape = new_shape;
  out.impl_->meta = nullptr;
  if (needs_grad({this})) {
    record(out, "reshape", {*this}, [](const Tensor& dout, std::vector<Tensor>& dinputs) {
      accumulate(dinputs[0], dout);
    });
  }
  return out;
}

Tensor Tensor::detach() const {
  require_defined("detach");
  Tensor out;
  out.impl_ = std::make_shared<Impl>(*impl_);
  out.impl_->meta = nullptr;
  return out;
}

Tensor Tensor::rows(int64_t start, int64_t count) const {
  require_defined("rows");
  FQ_CHECK(dim() >= 1, "Tensor::rows: tensor has no axis 0 (shape " << shape_str(shape()) << ")");
  int64_t n0 = impl_->shape[0];
  FQ_CHECK(start >= 0 && count >= 0 && start + count <= n0,
           "Tensor::rows: rows [" << start << ", " << start + count << ") out of range for shape "
                                  << shape_str(shape()));
  int64_t row_numel = n0 == 0 ? 0 : impl_->numel / n0;
  Tensor out;
  out.impl_ = std::make_shared<Impl>(*impl_);
  out.impl_->meta = nullptr;
  out.impl_->shape[0] = count;
  out.impl_->numel = count * row_numel;
  out.impl_->offset += start * row_numel;
  return out;
}

Tensor Tensor::clone() const {
  require_defined("clone");
  Tensor out = empty(impl_->shape, impl_->dtype);
  size_t bytes = impl_->numel * dtype_bytes(impl_->dtype);
  if (bytes) {
    std::memcpy(out.impl_->storage->data(),
                static_cast<char*>(impl_->storage->data()) + impl_->offset * dtype_bytes(impl_->dtype),
                bytes);
  }
  return out;
}

void Tensor::copy_from(const Tensor& src) {
  require_defined("copy_from");
  FQ_CHECK(src.defined() && src.shape() == shape() && src.dtype() == dtype(),
           "Tensor::copy_from: source " << (src.defined() ? shape_str(src.shape()) : "undefined")
                                        << " does not match destination " << shape_str(shape()));
  size_t elem = dtype_bytes(impl_->dtype);
  std::memmove(static_cast<char*>(impl_->storage->data()) + impl_->offset * elem,
               static_cast<char*>(src.impl_->storage->data()) + src.impl_->offset * elem,
               impl_->numel * elem);
}

void Tensor::fill(float value) {
  float* p = data();
  for (int64_t i = 0; i < impl_->numel; ++i) p[i] = value;
}

bool Tensor::shares_storage(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

// ---- autograd ----

const std::shared_ptr<AutogradMeta>& Tensor::autograd_meta() const {
  require_defined("autograd_meta");
  if (!impl_->meta) {
    impl_->meta = std::make_shared<AutogradMeta>();
    impl_->meta->shape = impl_->shape;
  }
  return impl_->meta;
}

std::shared_ptr<AutogradMeta> Tensor::autograd_meta_if_any() const {
  return impl_ ? impl_->meta : nullptr;
}

bool Tensor::requires_grad() const { return impl_ && impl_->meta && impl_->meta->requires_grad; }

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  FQ_CHECK(is_leaf(), "Tensor::set_requires_grad: only leaf tensors (no recorded history) can "
                      "change requires_grad; use detach() first");
  FQ_CHECK(!requires_grad || is_float(),
           "Tensor::set_requires_grad: int32 tensors cannot require grad");
  autograd_meta()->requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const { return !(impl_ && impl_->meta && impl_->meta->grad_fn); }

Tensor Tensor::grad() const {
  auto meta = autograd_meta_if_any();
  return meta ? meta->grad : Tensor();
}

void Tensor::set_grad(const Tensor& grad) {
  FQ_CHECK(!grad.defined() || grad.shape() == shape(),
           "Tensor::set_grad: gradient shape " << shape_str(grad.shape())
                                               << " does not match tensor " << shape_str(shape()));
  autograd_meta()->grad = grad;
}

void Tensor::zero_grad() {
  auto meta = autograd_meta_if_any();
  if (meta && meta->grad.defined()) meta->grad.fill(0.0f);
}

void Tensor::retain_grad() { autograd_meta()->retain_grad = true; }

void Tensor::backward() const {
  FQ_CHECK(numel() == 1, "backward: called without a seed gradient on a tensor of shape "
                             << shape_str(shape()) << "; only one-element tensors take the default "
                             << "seed 1");
  run_backward({*this}, {Tensor::full(shape(), 1.0f)});
}

void Tensor::backward(const Tensor& grad_output) const { run_backward({*this}, {grad_output}); }

}  // namespace fq
