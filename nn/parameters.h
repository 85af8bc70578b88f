// Creation and initialisation of named trainable parameters. Each parameter's initial values
// come from its own CounterRng stream keyed by (seed, hash of its name), so a value depends only
// on the seed and the name, never on which other parameters the config creates.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/model.h"

namespace fq {

class ParameterFactory {
 public:
  // Registers every created parameter in *registry, in creation order. `std` is the standard
  // deviation of normal().
  ParameterFactory(uint64_t seed, double std, std::vector<NamedParameter>* registry)
      : seed_(seed), std_(std), registry_(registry) {}

  // N(0, std) values, drawn in row-major order from the stream of `name`.
  Tensor normal(const std::string& name, const Shape& shape);
  // Every element equal to `value`.
  Tensor constant(const std::string& name, const Shape& shape, float value);

 private:
  Tensor add(const std::string& name, Tensor tensor);

  uint64_t seed_;
  double std_;
  std::vector<NamedParameter>* registry_;
};

// 64-bit FNV-1a hash of a name: the stream coordinate of that parameter's initial values.
uint64_t parameter_stream(const std::string& name);

}  // namespace fq
