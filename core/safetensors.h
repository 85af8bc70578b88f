// Reading and writing the safetensors format: an 8-byte little-endian header length N, N bytes of
// JSON mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section that follows the header) plus an optional "__metadata__" object of
// string values, then the raw little-endian tensor bytes.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace fq {

struct SafetensorsFile {
  std::vector<std::string> names;                  // in the order of their data offsets
  std::map<std::string, Tensor> tensors;           // F32 (from F32, F16, BF16) or I32 (from I32)
  std::map<std::string, std::string> file_dtypes;  // dtype as stored, e.g. "BF16"
  std::map<std::string, std::string> metadata;     // "__metadata__", empty when absent

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  // The tensor called `name`; throws std::invalid_argument naming `source` when it is missing.
  const Tensor& at(const std::string& name) const;
  std::string source;  // the path it was read from, for messages
};

// Reads `path`. F32, F16 and BF16 tensors are converted to F32 tensors and I32 stays I32; other
// dtypes are rejected. Throws std::invalid_argument naming the file for a missing or truncated
// file, a malformed header, an unsupported dtype, offsets outside the data section or overlapping
// another tensor, a shape whose byte size differs from its offsets, and duplicate names.
SafetensorsFile read_safetensors(const std::string& path);

// Writes the tensors (F32 as "F32", I32 as "I32") in the given order, with the metadata as
// "__metadata__" when not empty. The header is padded with spaces to a multiple of 8 bytes so the
// data section is aligned. Written to `path`.tmp and renamed, so a failed write never leaves a
// partial file under `path`. Throws std::invalid_argument on an empty or duplicate name, an
// undefined tensor, or an I/O failure.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// IEEE half and bfloat16 to float (exact: every value of both formats is representable).
float half_to_float(uint16_t bits);
float bfloat16_to_float(uint16_t bits);

}  // namespace fq
