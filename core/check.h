// Error helpers shared by every module.
// FQ_CHECK throws std::invalid_argument for caller errors (bad shapes, values, files);
// FQ_INTERNAL throws std::logic_error for broken internal invariants. Both stay in release builds.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fq {

using Shape = std::vector<int64_t>;

// Formats a shape as "[2, 3, 4]".
inline std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

}  // namespace fq

// Usage: FQ_CHECK(a.dim() == 2, "matmul: expected a 2-D tensor, got " << shape_str(a.shape()));
#define FQ_CHECK(cond, msg)                          \
  do {                                               \
    if (!(cond)) {                                   \
      std::ostringstream fq_check_stream_;           \
      fq_check_stream_ << msg;                       \
      throw std::invalid_argument(fq_check_stream_.str()); \
    }                                                \
  } while (0)

#define FQ_INTERNAL(cond, msg)                                                      \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::ostringstream fq_check_stream_;                                          \
      fq_check_stream_ << "internal error: " << msg << " (" << __FILE__ << ":" << __LINE__ \
                       << ")";                                                      \
      throw std::logic_error(fq_check_stream_.str());                               \
    }                                                                               \
  } while (0)
