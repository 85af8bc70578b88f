// Training checkpoints: one file per saved step, `<dir>/checkpoint-<step>.fqck`, holding
// everything a run needs to continue bit-identically (config, parameters, AdamW state, schedule
// position, random generator states, data cursor, metrics history).
//
// File layout (little-endian):
//   bytes  0..7   magic "\x89FQCK\r\n\x1a" (detects text-mode and truncation mangling)
//   bytes  8..11  uint32 format version
//   bytes 12..15  uint32 reserved, 0
//   bytes 16..23  uint64 payload length in bytes
//   bytes 24..31  uint64 payload checksum (see payload_checksum)
//   bytes 32..    cereal binary archive of CheckpointState
// Files are written through write_file_atomically, so a crash leaves the previous checkpoints
// intact and at most a hidden temporary file, which list_checkpoints ignores and the next save
// or prune removes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/check.h"
#include "nn/model.h"
#include "optim/adamw.h"

namespace fq {

// Format written by this build; files with a larger version are rejected.
constexpr uint32_t kCheckpointFormatVersion = 1;
constexpr size_t kCheckpointHeaderBytes = 32;

struct ParameterRecord {
  std::string name;
  Shape shape;
  std::vector<float> data;  // numel(shape) values, row-major
};

// State of one counter-based generator (CounterRng::key / counter).
struct RngStateRecord {
  std::string name;
  uint64_t key = 0;
  uint64_t counter = 0;
};

struct CheckpointState {
  uint32_t format_version = kCheckpointFormatVersion;  // of the file it was loaded from
  std::string config_json;                             // the full resolved run config
  int64_t step = 0;                                    // optimizer steps completed
  std::vector<ParameterRecord> parameters;
  AdamWState optimizer;
  int64_t scheduler_step = 0;  // learning-rate schedule position (the next update uses lr(this))
  std::vector<RngStateRecord> rng_states;
  uint64_t data_cursor = 0;                  // global index of the next training sequence
  std::map<std::string, std::string> extra;  // opaque trainer state, by key
  std::vector<std::string> metrics_history;  // JSON-lines records logged so far
};

// The check that rejected a checkpoint (or the operation that failed while writing one).
enum class CheckpointCheck {
  Read,        // the file could not be opened or read
  Magic,       // not a flashquad checkpoint
  Version,     // written by a newer format version (or an invalid one)
  Length,      // truncated, or the payload length disagrees with the file size
  Checksum,    // payload bytes changed since writing
  Payload,     // payload could not be decoded or is inconsistent
  ModelShape,  // parameters or optimizer state do not match the model
  Write,       // saving or pruning failed
};

const char* checkpoint_check_name(CheckpointCheck check);

class CheckpointError : public std::runtime_error {
 public:
  CheckpointError(CheckpointCheck check, const std::string& path, const std::string& detail);
  CheckpointCheck check() const { return check_; }
  const std::string& path() const { return path_; }
  const std::string& detail() const { return detail_; }

 private:
  CheckpointCheck check_;
  std::string path_;
  std::string detail_;
};

struct ParameterSpec {
  std::string name;
  Shape shape;
};

struct CheckpointFile {
  std::string path;
  int64_t step = 0;
};

// The file name for a step: "checkpoint-<step>.fqck".
std::string checkpoint_file_name(int64_t step);

// Checksum of the payload: FNV-1a 64 over the 8-byte little-endian FNV-1a 64 digests of its
// consecutive 1 MiB blocks (the last one shorter). Blocks are hashed in parallel; the result
// does not depend on the thread count.
uint64_t payload_checksum(std::string_view payload);

// Writes `state` to `dir`/checkpoint-<state.step>.fqck atomically, creating `dir` when needed,
// replacing a file of the same step, and removing temporary files left by an earlier crash.
// Returns the path. Throws CheckpointError (check Write) naming the path and the system error;
// older checkpoints are then intact and no temporary file remains.
std::string save_checkpoint(const std::string& dir, const CheckpointState& state);

// Reads and fully decodes a checkpoint, checking magic, version, payload length, checksum and
// internal consistency, in that order. Throws CheckpointError naming the path and the failed
// check. Nothing is applied anywhere: the caller applies the returned state.
CheckpointState load_checkpoint(const std::string& path);

// Checks that `state` contains exactly the parameters in `expected` (by name and shape, in any
// order) and an optimizer state for the same parameters in the same order. Throws
// CheckpointError (check ModelShape) naming the first mismatch; `path` is used in the message.
void validate_checkpoint(const CheckpointState& state, const std::vector<ParameterSpec>& expected,
                         const std::string& path);

// Checkpoint files in `dir` sorted by step, oldest first; an absent folder gives an empty list.
// Only names "checkpoint-<digits>.fqck" count.
std::vector<CheckpointFile> list_checkpoints(const std::string& dir);

struct ResumeCheckpoint {
  std::string path;
  CheckpointState state;
};

// Takes the newest checkpoint in `dir` that loads and that `validator` accepts (the validator
// throws, typically CheckpointError from validate_checkpoint, to reject). For each newer
// checkpoint skipped, calls `warn` with a message naming the file and the failed check. Returns
// nothing when no checkpoint qualifies.
std::optional<ResumeCheckpoint> find_resume_checkpoint(
    const std::string& dir, const std::function<void(const CheckpointState&)>& validator,
    const std::function<void(const std::string&)>& warn);

// Removes all but the newest `keep` checkpoints (keep <= 0 keeps all) and any leftover
// temporary files. Returns the removed checkpoint paths. Throws CheckpointError (check Write)
// when a removal fails.
std::vector<std::string> prune_checkpoints(const std::string& dir, int64_t keep);

// ---- helpers for moving model parameters in and out of a checkpoint ----

std::vector<ParameterSpec> parameter_specs(const std::vector<NamedParameter>& params);

// Copies every parameter's values.
std::vector<ParameterRecord> snapshot_parameters(const std::vector<NamedParameter>& params);

// Copies the records into the matching parameters (by name). Checks all names and shapes
// before writing anything and throws CheckpointError (check ModelShape) on a mismatch.
void restore_parameters(const std::vector<ParameterRecord>& records,
                        const std::vector<NamedParameter>& params);

}  // namespace fq
