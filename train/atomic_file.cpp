#include "train/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace fq {

namespace {

int64_t g_fail_after_bytes = -1;
int g_fail_errno = 0;

[[noreturn]] void throw_errno(int error_number, const std::string& what) {
  throw std::system_error(error_number, std::generic_category(), what);
}

std::string parent_folder(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Writes all of [data, data + size) to fd, retrying partial writes and EINTR. Returns 0 or the
// errno of the failure. `written` counts bytes written so far (for the test hook).
int write_all(int fd, const char* data, size_t size, int64_t& written) {
  while (size > 0) {
    size_t request = size;
    if (g_fail_after_bytes >= 0) {
      if (written >= g_fail_after_bytes) return g_fail_errno;
      request = std::min<size_t>(request, static_cast<size_t>(g_fail_after_bytes - written));
    }
    ssize_t n = ::write(fd, data, request);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<size_t>(n);
    written += n;
  }
  return 0;
}

void sync_folder(const std::string& folder) {
  int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno(errno, "cannot open folder '" + folder + "' to sync it");
  int rc = ::fsync(fd);
  int error_number = errno;
  ::close(fd);
  // Some file systems cannot sync a folder and report EINVAL. The rename is then as durable as
  // that file system makes it.
  if (rc != 0 && error_number != EINVAL) {
    throw_errno(error_number, "fsync of folder '" + folder + "' failed");
  }
}

}  // namespace

std::string temp_file_prefix(const std::string& base) { return "." + base + ".tmp-"; }

void set_write_failure_for_testing(int64_t after_bytes, int error_number) {
  g_fail_after_bytes = after_bytes;
  g_fail_errno = error_number;
}

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& chunks) {
  const std::string folder = parent_folder(path);
  const std::string temp_path =
      folder + "/" + temp_file_prefix(base_name(path)) + std::to_string(::getpid());

  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno(errno, "cannot create temporary file '" + temp_path + "'");

  // From here on every failure closes and removes the temporary file before throwing.
  auto fail = [&](int error_number, const std::string& what) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp_path.c_str());
    throw_errno(error_number, what);
  };

  int64_t written = 0;
  for (std::string_view chunk : chunks) {
    int error_number = write_all(fd, chunk.data(), chunk.size(), written);
    if (error_number != 0) {
      fail(error_number,
           "write to '" + temp_path + "' failed after " + std::to_string(written) + " bytes");
    }
  }
  if (::fsync(fd) != 0) fail(errno, "fsync of '" + temp_path + "' failed");
  int close_rc = ::close(fd);
  fd = -1;
  if (close_rc != 0) fail(errno, "close of '" + temp_path + "' failed");
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    fail(errno, "rename of '" + temp_path + "' to '" + path + "' failed");
  }
  sync_folder(folder);
}

}  // namespace fq
