#include "train/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <streambuf>
#include <system_error>

#include <cereal/archives/binary.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "train/atomic_file.h"

// ---- cereal serialization (each type carries its own version) ----

namespace fq {

template <class Archive>
void serialize(Archive& archive, ParameterRecord& record, const std::uint32_t version) {
  (void)version;
  archive(record.name, record.shape, record.data);
}

template <class Archive>
void serialize(Archive& archive, RngStateRecord& record, const std::uint32_t version) {
  (void)version;
  archive(record.name, record.key, record.counter);
}

template <class Archive>
void serialize(Archive& archive, AdamWParamState& state, const std::uint32_t version) {
  (void)version;
  archive(state.name, state.shape, state.step, state.exp_avg, state.exp_avg_sq);
}

template <class Archive>
void serialize(Archive& archive, AdamWState& state, const std::uint32_t version) {
  (void)version;
  archive(state.step_count, state.params);
}

// format_version lives in the file header, not in the payload.
template <class Archive>
void serialize(Archive& archive, CheckpointState& state, const std::uint32_t version) {
  (void)version;
  archive(state.config_json, state.step, state.parameters, state.optimizer, state.scheduler_step,
          state.rng_states, state.data_cursor, state.extra, state.metrics_history);
}

}  // namespace fq

CEREAL_CLASS_VERSION(fq::ParameterRecord, 1);
CEREAL_CLASS_VERSION(fq::RngStateRecord, 1);
CEREAL_CLASS_VERSION(fq::AdamWParamState, 1);
CEREAL_CLASS_VERSION(fq::AdamWState, 1);
CEREAL_CLASS_VERSION(fq::CheckpointState, 1);

namespace fq {

namespace {

constexpr char kMagic[8] = {'\x89', 'F', 'Q', 'C', 'K', '\r', '\n', '\x1a'};
constexpr size_t kChecksumBlock = size_t{1} << 20;
constexpr const char* kFilePrefix = "checkpoint-";
constexpr const char* kFileSuffix = ".fqck";

// ---- little-endian header fields ----

void put_u32(char* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

void put_u64(char* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

uint32_t get_u32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return value;
}

uint64_t get_u64(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i)
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return value;
}

// ---- FNV-1a 64 ----

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;

uint64_t fnv1a(const unsigned char* data, size_t size, uint64_t hash = kFnvOffset) {
  for (size_t i = 0; i < size; ++i) {
    hash ^= data[i];
    hash *= kFnvPrime;
  }
  return hash;
}

// ---- streambufs over strings, so the payload is not copied on save or load ----

// Appends everything written to `out`.
class StringAppendBuffer : public std::streambuf {
 public:
  explicit StringAppendBuffer(std::string& out) : out_(out) {}

 protected:
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) out_.push_back(static_cast<char>(c));
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<size_t>(n));
    return n;
  }

 private:
  std::string& out_;
};

// Reads from a fixed span of memory.
class MemoryReadBuffer : public std::streambuf {
 public:
  MemoryReadBuffer(const char* data, size_t size) {
    char* begin = const_cast<char*>(data);  // never written through: this buffer is input-only
    setg(begin, begin, begin + size);
  }
  size_t consumed() const { return static_cast<size_t>(gptr() - eback()); }
};

[[noreturn]] void fail(CheckpointCheck check, const std::string& path, const std::string& detail) {
  throw CheckpointError(check, path, detail);
}

std::string hex64(uint64_t value) {
  std::ostringstream out;
  out << "0x" << std::hex << value;
  return out.str();
}

// Reads the whole file; throws CheckpointError (Read) with the system error.
std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail(CheckpointCheck::Read, path, std::string("cannot open: ") + std::strerror(errno));
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    int error_number = errno;
    ::close(fd);
    fail(CheckpointCheck::Read, path, std::string("cannot stat: ") + std::strerror(error_number));
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd, &bytes[done], bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error_number = errno;
      ::close(fd);
      fail(CheckpointCheck::Read, path, std::string("read failed: ") + std::strerror(error_number));
    }
    if (n == 0) break;  // the file shrank while reading; the length check reports it
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);
  return bytes;
}

// Consistency of a decoded state on its own (sizes agree with shapes, names unique).
void check_payload_consistency(const CheckpointState& state, const std::string& path) {
  if (state.step < 0)
    fail(CheckpointCheck::Payload, path, "negative step " + std::to_string(state.step));
  if (state.scheduler_step < 0) {
    fail(CheckpointCheck::Payload, path,
         "negative scheduler position " + std::to_string(state.scheduler_step));
  }
  std::set<std::string> names;
  for (const ParameterRecord& record : state.parameters) {
    if (!names.insert(record.name).second) {
      fail(CheckpointCheck::Payload, path, "parameter \"" + record.name + "\" is stored twice");
    }
    for (int64_t d : record.shape) {
      if (d < 0)
        fail(CheckpointCheck::Payload, path,
             "parameter \"" + record.name + "\" has shape " + shape_str(record.shape));
    }
    if (static_cast<int64_t>(record.data.size()) != shape_numel(record.shape)) {
      fail(CheckpointCheck::Payload, path,
           "parameter \"" + record.name + "\" has shape " + shape_str(record.shape) + " but " +
               std::to_string(record.data.size()) + " values");
    }
  }
  for (const AdamWParamState& s : state.optimizer.params) {
    const size_t n = static_cast<size_t>(shape_numel(s.shape));
    if (s.exp_avg.size() != n || s.exp_avg_sq.size() != n) {
      fail(CheckpointCheck::Payload, path,
           "optimizer state of \"" + s.name + "\" has " + std::to_string(s.exp_avg.size()) +
               " and " + std::to_string(s.exp_avg_sq.size()) + " moment values for shape " +
               shape_str(s.shape));
    }
    if (s.step < 0 || s.step > state.optimizer.step_count) {
      fail(CheckpointCheck::Payload, path,
           "optimizer state of \"" + s.name + "\" has step " + std::to_string(s.step) +
               " outside 0.." + std::to_string(state.optimizer.step_count));
    }
  }
}

bool parse_checkpoint_name(const std::string& name, int64_t& step) {
  const std::string prefix = kFilePrefix, suffix = kFileSuffix;
  if (name.size() <= prefix.size() + suffix.size()) return false;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  const std::string digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18) return false;  // keeps the value inside int64
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  step = std::stoll(digits);
  return true;
}

bool is_temp_file_name(const std::string& name) {
  const std::string prefix = "." + std::string(kFilePrefix);
  const std::string marker = std::string(kFileSuffix) + ".tmp-";
  return name.compare(0, prefix.size(), prefix) == 0 && name.find(marker) != std::string::npos;
}

// Removes temporary files that an interrupted save left behind. One writer per folder is
// assumed, so every such file is stale when this runs.
void remove_temp_files(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec), end;
  if (ec) return;
  std::vector<std::filesystem::path> stale;
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    if (is_temp_file_name(it->path().filename().string())) stale.push_back(it->path());
  }
  for (const auto& p : stale) std::filesystem::remove(p, ec);
}

}  // namespace

const char* checkpoint_check_name(CheckpointCheck check) {
  switch (check) {
    case CheckpointCheck::Read:
      return "read";
    case CheckpointCheck::Magic:
      return "magic";
    case CheckpointCheck::Version:
      return "version";
    case CheckpointCheck::Length:
      return "length";
    case CheckpointCheck::Checksum:
      return "checksum";
    case CheckpointCheck::Payload:
      return "payload";
    case CheckpointCheck::ModelShape:
      return "model shape";
    case CheckpointCheck::Write:
      return "write";
  }
  return "unknown";
}

CheckpointError::CheckpointError(CheckpointCheck check, const std::string& path,
                                 const std::string& detail)
    : std::runtime_error("checkpoint '" + path + "': " + checkpoint_check_name(check) +
                         (check == CheckpointCheck::Write ? " failed: " : " check failed: ") +
                         detail),
      check_(check),
      path_(path),
      detail_(detail) {}

std::string checkpoint_file_name(int64_t step) {
  return kFilePrefix + std::to_string(step) + kFileSuffix;
}

uint64_t payload_checksum(std::string_view payload) {
  const auto* data = reinterpret_cast<const unsigned char*>(payload.data());
  const size_t size = payload.size();
  const int64_t blocks = static_cast<int64_t>((size + kChecksumBlock - 1) / kChecksumBlock);
  std::vector<uint64_t> digests(static_cast<size_t>(blocks));
  if (blocks <= 1) {
    // No OpenMP region for small payloads, so a forked child process can save safely.
    if (blocks == 1) digests[0] = fnv1a(data, size);
  } else {
    // Each iteration hashes its own block and writes its own digest.
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const size_t begin = static_cast<size_t>(b) * kChecksumBlock;
      const size_t length = std::min(kChecksumBlock, size - begin);
      digests[static_cast<size_t>(b)] = fnv1a(data + begin, length);
    }
  }
  uint64_t hash = kFnvOffset;
  for (uint64_t digest : digests) {
    unsigned char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>((digest >> (8 * i)) & 0xFF);
    hash = fnv1a(bytes, 8, hash);
  }
  return hash;
}

std::string save_checkpoint(const std::string& dir, const CheckpointState& state) {
  const std::string path = dir + "/" + checkpoint_file_name(state.step);
  if (state.step < 0)
    fail(CheckpointCheck::Write, path, "negative step " + std::to_string(state.step));

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(CheckpointCheck::Write, path, "cannot create folder '" + dir + "': " + ec.message());
  remove_temp_files(dir);

  // Header placeholder, then the payload appended in place.
  size_t estimate = kCheckpointHeaderBytes + state.config_json.size();
  for (const ParameterRecord& record : state.parameters) estimate += 4 * record.data.size() + 64;
  for (const AdamWParamState& s : state.optimizer.params) estimate += 8 * s.exp_avg.size() + 64;
  std::string bytes(kCheckpointHeaderBytes, '\0');
  bytes.reserve(estimate);
  {
    StringAppendBuffer buffer(bytes);
    std::ostream stream(&buffer);
    cereal::BinaryOutputArchive archive(stream);
    archive(state);
  }
  const std::string_view payload(bytes.data() + kCheckpointHeaderBytes,
                                 bytes.size() - kCheckpointHeaderBytes);
  std::memcpy(&bytes[0], kMagic, sizeof(kMagic));
  put_u32(&bytes[8], kCheckpointFormatVersion);
  put_u32(&bytes[12], 0);
  put_u64(&bytes[16], payload.size());
  put_u64(&bytes[24], payload_checksum(payload));

  try {
    write_file_atomically(path, {std::string_view(bytes)});
  } catch (const std::system_error& e) {
    std::string hint = e.code().value() == ENOSPC
                           ? "; free disk space (older checkpoints are intact)"
                           : "; older checkpoints are intact";
    fail(CheckpointCheck::Write, path, std::string(e.what()) + hint);
  }
  return path;
}

CheckpointState load_checkpoint(const std::string& path) {
  const std::string bytes = read_file(path);

  // 1. magic
  if (bytes.size() >= sizeof(kMagic) && std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    fail(CheckpointCheck::Magic, path,
         "the file does not start with the flashquad checkpoint "
         "magic bytes; it is not a checkpoint");
  }
  if (bytes.size() < kCheckpointHeaderBytes) {
    fail(CheckpointCheck::Length, path,
         "truncated: the file has " + std::to_string(bytes.size()) + " bytes, fewer than the " +
             std::to_string(kCheckpointHeaderBytes) + "-byte header");
  }

  // 2. version
  const uint32_t version = get_u32(&bytes[8]);
  if (version == 0 || version > kCheckpointFormatVersion) {
    fail(CheckpointCheck::Version, path,
         "format version " + std::to_string(version) +
             " is not supported; this build reads "
             "versions 1.." +
             std::to_string(kCheckpointFormatVersion) +
             (version > kCheckpointFormatVersion ? " (written by a newer flashquad)" : ""));
  }

  // 3. payload length
  const uint64_t payload_length = get_u64(&bytes[16]);
  const uint64_t actual_length = bytes.size() - kCheckpointHeaderBytes;
  if (payload_length != actual_length) {
    fail(CheckpointCheck::Length, path,
         "the header announces " + std::to_string(payload_length) +
             " payload bytes but the file "
             "has " +
             std::to_string(actual_length) +
             (actual_length < payload_length ? " (truncated)" : " (trailing bytes)"));
  }

  // 4. checksum
  const std::string_view payload(bytes.data() + kCheckpointHeaderBytes, actual_length);
  const uint64_t stored = get_u64(&bytes[24]);
  const uint64_t computed = payload_checksum(payload);
  if (stored != computed) {
    fail(CheckpointCheck::Checksum, path,
         "stored " + hex64(stored) + ", computed " + hex64(computed) + "; the file is corrupt");
  }

  // 5. decode the payload into a fresh state
  CheckpointState state;
  try {
    MemoryReadBuffer buffer(payload.data(), payload.size());
    std::istream stream(&buffer);
    cereal::BinaryInputArchive archive(stream);
    archive(state);
    if (buffer.consumed() != payload.size()) {
      fail(CheckpointCheck::Payload, path,
           std::to_string(payload.size() - buffer.consumed()) + " bytes left after decoding");
    }
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    fail(CheckpointCheck::Payload, path, std::string("cannot decode: ") + e.what());
  }
  state.format_version = version;
  check_payload_consistency(state, path);
  return state;
}

void validate_checkpoint(const CheckpointState& state, const std::vector<ParameterSpec>& expected,
                         const std::string& path) {
  std::map<std::string, const ParameterRecord*> stored;
  for (const ParameterRecord& record : state.parameters) stored[record.name] = &record;

  std::set<std::string> expected_names;
  for (const ParameterSpec& spec : expected) {
    expected_names.insert(spec.name);
    auto it = stored.find(spec.name);
    if (it == stored.end()) {
      fail(CheckpointCheck::ModelShape, path,
           "parameter \"" + spec.name + "\" of the model is missing from the checkpoint");
    }
    if (it->second->shape != spec.shape) {
      fail(CheckpointCheck::ModelShape, path,
           "parameter \"" + spec.name + "\" has shape " + shape_str(it->second->shape) +
               " in the checkpoint, the model expects " + shape_str(spec.shape) +
               "; the model config differs from the one the checkpoint was trained with");
    }
  }
  for (const ParameterRecord& record : state.parameters) {
    if (expected_names.count(record.name) == 0) {
      fail(CheckpointCheck::ModelShape, path,
           "the checkpoint has parameter \"" + record.name + "\", which the model does not have");
    }
  }

  const std::vector<AdamWParamState>& opt = state.optimizer.params;
  if (opt.size() != expected.size()) {
    fail(CheckpointCheck::ModelShape, path,
         "the optimizer state covers " + std::to_string(opt.size()) +
             " parameters, the model has " + std::to_string(expected.size()));
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    if (opt[i].name != expected[i].name || opt[i].shape != expected[i].shape) {
      fail(CheckpointCheck::ModelShape, path,
           "optimizer state entry " + std::to_string(i) + " is \"" + opt[i].name + "\" " +
               shape_str(opt[i].shape) + ", the model's parameter " + std::to_string(i) + " is \"" +
               expected[i].name + "\" " + shape_str(expected[i].shape));
    }
  }
}

std::vector<CheckpointFile> list_checkpoints(const std::string& dir) {
  std::vector<CheckpointFile> files;
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return files;
  std::filesystem::directory_iterator it(dir, ec), end;
  if (ec) fail(CheckpointCheck::Read, dir, "cannot list the folder: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) fail(CheckpointCheck::Read, dir, "cannot list the folder: " + ec.message());
    int64_t step = 0;
    if (parse_checkpoint_name(it->path().filename().string(), step)) {
      files.push_back({it->path().string(), step});
    }
  }
  std::sort(files.begin(), files.end(), [](const CheckpointFile& a, const CheckpointFile& b) {
    return a.step != b.step ? a.step < b.step : a.path < b.path;
  });
  return files;
}

std::optional<ResumeCheckpoint> find_resume_checkpoint(
    const std::string& dir, const std::function<void(const CheckpointState&)>& validator,
    const std::function<void(const std::string&)>& warn) {
  std::vector<CheckpointFile> files = list_checkpoints(dir);
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    try {
      CheckpointState state = load_checkpoint(it->path);
      if (validator) validator(state);
      return ResumeCheckpoint{it->path, std::move(state)};
    } catch (const CheckpointError& e) {
      if (warn) warn("resume: skipping newer " + std::string(e.what()));
    } catch (const std::invalid_argument& e) {
      if (warn) {
        warn("resume: skipping newer checkpoint '" + it->path +
             "': validation failed: " + e.what());
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> prune_checkpoints(const std::string& dir, int64_t keep) {
  remove_temp_files(dir);
  std::vector<std::string> removed;
  if (keep <= 0) return removed;
  std::vector<CheckpointFile> files = list_checkpoints(dir);
  if (static_cast<int64_t>(files.size()) <= keep) return removed;
  const size_t remove_count = files.size() - static_cast<size_t>(keep);
  for (size_t i = 0; i < remove_count; ++i) {
    if (::unlink(files[i].path.c_str()) != 0 && errno != ENOENT) {
      fail(CheckpointCheck::Write, files[i].path,
           std::string("cannot remove an old checkpoint: ") + std::strerror(errno));
    }
    removed.push_back(files[i].path);
  }
  return removed;
}

std::vector<ParameterSpec> parameter_specs(const std::vector<NamedParameter>& params) {
  std::vector<ParameterSpec> specs;
  specs.reserve(params.size());
  for (const NamedParameter& p : params) specs.push_back({p.name, p.tensor.shape()});
  return specs;
}

std::vector<ParameterRecord> snapshot_parameters(const std::vector<NamedParameter>& params) {
  std::vector<ParameterRecord> records;
  records.reserve(params.size());
  for (const NamedParameter& p : params)
    records.push_back({p.name, p.tensor.shape(), p.tensor.to_vector()});
  return records;
}

void restore_parameters(const std::vector<ParameterRecord>& records,
                        const std::vector<NamedParameter>& params) {
  std::vector<ParameterSpec> specs = parameter_specs(params);
  std::map<std::string, const ParameterRecord*> by_name;
  for (const ParameterRecord& r : records) by_name[r.name] = &r;
  for (const ParameterSpec& spec : specs) {
    auto it = by_name.find(spec.name);
    if (it == by_name.end()) {
      fail(CheckpointCheck::ModelShape, "(in memory)",
           "parameter \"" + spec.name + "\" has no record");
    }
    if (it->second->shape != spec.shape ||
        static_cast<int64_t>(it->second->data.size()) != shape_numel(spec.shape)) {
      fail(CheckpointCheck::ModelShape, "(in memory)",
           "parameter \"" + spec.name + "\" has shape " + shape_str(it->second->shape) +
               " in the record, the model expects " + shape_str(spec.shape));
    }
  }
  if (by_name.size() != specs.size()) {
    fail(CheckpointCheck::ModelShape, "(in memory)",
         std::to_string(by_name.size()) + " records for " + std::to_string(specs.size()) +
             " parameters");
  }
  for (const NamedParameter& p : params) {
    const ParameterRecord& r = *by_name.at(p.name);
    Tensor tensor = p.tensor;
    std::memcpy(tensor.data(), r.data.data(), r.data.size() * sizeof(float));
  }
}

}  // namespace fq
