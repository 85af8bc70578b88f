// Crash-safe file replacement: the data goes to a temporary file in the destination folder,
// which is flushed to disk and then renamed over the destination, and the folder is synced. A
// crash at any instant leaves either the old file or the complete new one under `path`, plus at
// most a leftover temporary file (named by temp_file_prefix) that readers must ignore.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fq {

// Writes the concatenation of `chunks` to `path` atomically. Throws std::system_error whose
// message names the failing path and operation (open, write, fsync, close, rename) and whose
// code is the errno (ENOSPC for a full disk). The temporary file is removed on failure and an
// existing file at `path` stays untouched.
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& chunks);

// The name prefix of temporary files for destination base name `base_name` (".NAME.tmp-").
std::string temp_file_prefix(const std::string& base_name);

// Test hook: the next writes fail with errno `error_number` once `after_bytes` bytes of the
// temporary file have been written; after_bytes < 0 turns the hook off. Not thread-safe.
void set_write_failure_for_testing(int64_t after_bytes, int error_number);

}  // namespace fq
