#include "nn/parameters.h"

#include "core/random.h"

namespace fq {

uint64_t parameter_stream(const std::string& name) {
  uint64_t hash = 0xCBF29CE484222325ull;
  for (unsigned char c : name) {
    hash ^= c;
    hash *= 0x100000001B3ull;
  }
  return hash;
}

Tensor ParameterFactory::normal(const std::string& name, const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  CounterRng rng(seed_, parameter_stream(name), 0);
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(rng.normal() * std_);
  return add(name, t);
}

Tensor ParameterFactory::constant(const std::string& name, const Shape& shape, float value) {
  return add(name, Tensor::full(shape, value));
}

Tensor ParameterFactory::add(const std::string& name, Tensor tensor) {
  for (const NamedParameter& p : *registry_) {
    FQ_INTERNAL(p.name != name, "parameter \"" << name << "\" created twice");
  }
  tensor.set_requires_grad(true);
  registry_->push_back({name, tensor});
  return tensor;
}

}  // namespace fq
