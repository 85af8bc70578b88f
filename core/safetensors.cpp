#include "core/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/check.h"

namespace fq {

namespace {

using nlohmann::json;

// The reference implementation caps the header at 100 MB; a larger length is a corrupt file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

int64_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint16_t read_u16_le(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t read_u32_le(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

void put_u32_le(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

struct Entry {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Parses one header entry, checking types, the dtype and that shape and offsets agree.
Entry parse_entry(const std::string& path, const std::string& name, const json& value,
                  uint64_t data_bytes) {
  const std::string where = "safetensors '" + path + "': tensor \"" + name + "\"";
  FQ_CHECK(!name.empty(), "safetensors '" << path << "': the header has an empty tensor name");
  FQ_CHECK(value.is_object(), where << ": expected an object with dtype, shape and data_offsets, "
                                       "got "
                                    << value.dump());
  Entry e;
  e.name = name;
  auto dtype = value.find("dtype");
  FQ_CHECK(dtype != value.end() && dtype->is_string(), where << ": missing or non-string dtype");
  e.dtype = dtype->get<std::string>();
  FQ_CHECK(dtype_bytes(e.dtype) > 0,
           where << ": unsupported dtype \"" << e.dtype << "\"; supported: F32, F16, BF16, I32");

  auto shape = value.find("shape");
  FQ_CHECK(shape != value.end() && shape->is_array(), where << ": missing or non-array shape");
  uint64_t numel = 1;
  for (const json& d : *shape) {
    FQ_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
             where << ": shape entries must be non-negative integers, got " << shape->dump());
    uint64_t dim = d.get<uint64_t>();
    FQ_CHECK(dim == 0 || numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / dim,
             where << ": shape " << shape->dump() << " is too large");
    numel *= dim;
    e.shape.push_back(static_cast<int64_t>(dim));
  }

  auto offsets = value.find("data_offsets");
  FQ_CHECK(offsets != value.end() && offsets->is_array() && offsets->size() == 2 &&
               (*offsets)[0].is_number_unsigned() && (*offsets)[1].is_number_unsigned(),
           where << ": data_offsets must be two non-negative integers [begin, end]");
  e.begin = (*offsets)[0].get<uint64_t>();
  e.end = (*offsets)[1].get<uint64_t>();
  FQ_CHECK(e.begin <= e.end,
           where << ": data_offsets [" << e.begin << ", " << e.end << "] has begin after end");
  FQ_CHECK(e.end <= data_bytes, where << ": data_offsets [" << e.begin << ", " << e.end
                                      << "] run past the data section of " << data_bytes
                                      << " bytes (truncated file?)");
  const uint64_t expected = numel * static_cast<uint64_t>(dtype_bytes(e.dtype));
  FQ_CHECK(e.end - e.begin == expected, where << ": shape " << shape_str(e.shape) << " of "
                                              << e.dtype << " needs " << expected
                                              << " bytes but data_offsets [" << e.begin << ", "
                                              << e.end << "] cover " << (e.end - e.begin));
  return e;
}

Tensor decode(const Entry& e, const unsigned char* src) {
  const int64_t n = shape_numel(e.shape);
  if (e.dtype == "I32") {
    Tensor t = Tensor::empty(e.shape, DType::I32);
    int32_t* out = t.ids();
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(read_u32_le(src + 4 * i));
    return t;
  }
  Tensor t = Tensor::empty(e.shape, DType::F32);
  float* out = t.data();
  if (e.dtype == "F32") {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t bits = read_u32_le(src + 4 * i);
      std::memcpy(&out[i], &bits, 4);
    }
  } else if (e.dtype == "F16") {
    for (int64_t i = 0; i < n; ++i) out[i] = half_to_float(read_u16_le(src + 2 * i));
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = bfloat16_to_float(read_u16_le(src + 2 * i));
  }
  return t;
}

}  // namespace

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);  // inf or nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);  // rebias 15 -> 127
  } else if (mantissa == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: normalise the mantissa into a normal float.
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3FFu;
    bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bfloat16_to_float(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  auto it = tensors.find(name);
  FQ_CHECK(it != tensors.end(),
           "safetensors '" << source << "': no tensor named \"" << name << "\"");
  return it->second;
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FQ_CHECK(in.good(), "safetensors '" << path << "': cannot open: " << std::strerror(errno));
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  FQ_CHECK(!in.bad(), "safetensors '" << path << "': read failed");

  FQ_CHECK(bytes.size() >= 8, "safetensors '" << path << "': file has " << bytes.size()
                                              << " bytes, fewer than the 8-byte header length "
                                                 "(truncated or not a safetensors file)");
  const uint64_t header_bytes = read_u64_le(bytes.data());
  FQ_CHECK(header_bytes <= kMaxHeaderBytes, "safetensors '"
                                                << path << "': header length " << header_bytes
                                                << " is implausible (limit " << kMaxHeaderBytes
                                                << " bytes); not a safetensors file");
  FQ_CHECK(8 + header_bytes <= bytes.size(),
           "safetensors '" << path << "': header length " << header_bytes << " runs past the end "
                           << "of the " << bytes.size() << "-byte file (truncated file?)");
  const uint64_t data_bytes = bytes.size() - 8 - header_bytes;

  // nlohmann::json keeps the last of duplicate keys; the callback receives every top-level key, so
  // a header that names a tensor twice is rejected instead.
  std::set<std::string> keys;
  std::string duplicate;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 &&
        !keys.insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(header_bytes),
                         on_event);
  } catch (const json::parse_error& e) {
    FQ_CHECK(false, "safetensors '" << path << "': header is not valid JSON: " << e.what());
  }
  FQ_CHECK(header.is_object(), "safetensors '" << path << "': header must be a JSON object, got "
                                               << header.type_name());

  FQ_CHECK(duplicate.empty(),
           "safetensors '" << path << "': the header names \"" << duplicate << "\" twice");

  SafetensorsFile file;
  file.source = path;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      FQ_CHECK(it.value().is_object(),
               "safetensors '" << path << "': __metadata__ must be an object of strings");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        FQ_CHECK(m.value().is_string(), "safetensors '" << path << "': __metadata__ value of \""
                                                        << m.key() << "\" must be a string, got "
                                                        << m.value().dump());
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, it.key(), it.value(), data_bytes));
  }

  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    const Entry& prev = entries[i - 1];
    const Entry& cur = entries[i];
    FQ_CHECK(cur.begin >= prev.end, "safetensors '" << path << "': tensor \"" << cur.name
                                                    << "\" at [" << cur.begin << ", " << cur.end
                                                    << ") overlaps \"" << prev.name << "\" at ["
                                                    << prev.begin << ", " << prev.end << ")");
  }

  const unsigned char* data = bytes.data() + 8 + header_bytes;
  for (const Entry& e : entries) {
    file.names.push_back(e.name);
    file.file_dtypes[e.name] = e.dtype;
    file.tensors[e.name] = decode(e, data + e.begin);
  }
  return file;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    FQ_CHECK(!name.empty(), "safetensors '" << path
                                            << "': cannot write a tensor with an empty "
                                               "name");
    FQ_CHECK(name != "__metadata__",
             "safetensors '" << path << "': \"__metadata__\" is reserved, not a tensor name");
    FQ_CHECK(seen.insert(name).second,
             "safetensors '" << path << "': tensor name \"" << name << "\" appears twice");
    FQ_CHECK(tensor.defined(),
             "safetensors '" << path << "': tensor \"" << name << "\" is undefined");
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * 4;
    header[name] = {{"dtype", tensor.is_float() ? "F32" : "I32"},
                    {"shape", tensor.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  while (header_text.size() % 8 != 0) header_text.push_back(' ');

  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  FQ_CHECK(f,
           "safetensors '" << path << "': cannot create '" << tmp << "': " << std::strerror(errno));
  bool ok = true;
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) {
    length[i] = static_cast<unsigned char>(static_cast<uint64_t>(header_text.size()) >> (8 * i));
  }
  ok = ok && std::fwrite(length, 1, 8, f) == 8;
  ok = ok && std::fwrite(header_text.data(), 1, header_text.size(), f) == header_text.size();
  std::vector<unsigned char> buffer;
  for (const auto& entry : tensors) {
    const Tensor& t = entry.second;
    const int64_t n = t.numel();
    buffer.resize(static_cast<size_t>(n) * 4);
    // Bytes are written little-endian whatever the host order.
    const void* raw =
        t.is_float() ? static_cast<const void*>(t.data()) : static_cast<const void*>(t.ids());
    const unsigned char* src = static_cast<const unsigned char*>(raw);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t bits;
      std::memcpy(&bits, src + 4 * i, 4);
      put_u32_le(buffer.data() + 4 * i, bits);
    }
    ok = ok && std::fwrite(buffer.data(), 1, buffer.size(), f) == buffer.size();
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) std::remove(tmp.c_str());
  FQ_CHECK(ok, "safetensors '" << path << "': write to '" << tmp << "' failed (disk full?)");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    FQ_CHECK(false, "safetensors '" << path << "': cannot rename '" << tmp
                                    << "' to it: " << std::strerror(err));
  }
}

}  // namespace fq
