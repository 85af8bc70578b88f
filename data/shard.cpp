#include "data/shard.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/check.h"

namespace fq {

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string parent_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void write_all(FILE* file, const void* data, size_t bytes, const std::string& path) {
  if (bytes == 0) return;
  FQ_CHECK(std::fwrite(data, 1, bytes, file) == bytes,
           "shard: write to " << path << " failed: " << errno_text() << " (disk full?)");
}

void pad_to_8(FILE* file, uint64_t& offset, const std::string& path) {
  static const char zeros[8] = {0};
  size_t pad = (8 - offset % 8) % 8;
  write_all(file, zeros, pad, path);
  offset += pad;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& contents) {
  std::string temp = path + ".tmp";
  FILE* file = std::fopen(temp.c_str(), "wb");
  FQ_CHECK(file, "cannot create " << temp << ": " << errno_text());
  bool ok = std::fwrite(contents.data(), 1, contents.size(), file) == contents.size();
  ok = std::fflush(file) == 0 && ok;
  ok = ::fsync(fileno(file)) == 0 && ok;
  ok = std::fclose(file) == 0 && ok;
  if (!ok) {
    std::remove(temp.c_str());
    FQ_CHECK(false, "cannot write " << temp << ": " << errno_text());
  }
  FQ_CHECK(std::rename(temp.c_str(), path.c_str()) == 0,
           "cannot rename " << temp << " to " << path << ": " << errno_text());
  fsync_dir(parent_dir(path));
}

// ---- ShardWriter ----

ShardWriter::ShardWriter(const std::string& path, uint64_t vocab_checksum, int64_t vocab_size,
                         bool lowercase)
    : path_(path), temp_path_(path + ".tmp") {
  file_ = std::fopen(temp_path_.c_str(), "wb");
  FQ_CHECK(file_, "shard: cannot create " << temp_path_ << ": " << errno_text());
  std::memcpy(header_.magic, kShardMagic, sizeof(kShardMagic));
  header_.version = kShardVersion;
  header_.token_width = vocab_size <= 65536 ? 2 : 4;
  header_.vocab_checksum = vocab_checksum;
  header_.vocab_size = static_cast<uint64_t>(vocab_size);
  header_.lowercase = lowercase ? 1 : 0;
  header_.tokens_offset = sizeof(ShardHeader);
  // The header is written again by finish(), once the counts are known.
  write_all(file_, &header_, sizeof(header_), temp_path_);
}

ShardWriter::~ShardWriter() {
  if (!finished_) {
    if (file_) std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void ShardWriter::add_document(const std::vector<int32_t>& ids,
                               const std::vector<uint8_t>& word_starts) {
  FQ_INTERNAL(ids.size() == word_starts.size(), "shard: ids and word starts differ in length");
  uint64_t start = doc_offsets_.back();
  if (header_.token_width == 2) {
    buffer_.resize(ids.size() * 2);
    auto* out = reinterpret_cast<uint16_t*>(buffer_.data());
    for (size_t i = 0; i < ids.size(); ++i) out[i] = static_cast<uint16_t>(ids[i]);
  } else {
    buffer_.resize(ids.size() * 4);
    auto* out = reinterpret_cast<uint32_t*>(buffer_.data());
    for (size_t i = 0; i < ids.size(); ++i) out[i] = static_cast<uint32_t>(ids[i]);
  }
  write_all(file_, buffer_.data(), buffer_.size(), temp_path_);
  uint64_t end = start + ids.size();
  word_bits_.resize((end + 7) / 8, 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (word_starts[i]) word_bits_[(start + i) >> 3] |= static_cast<uint8_t>(1u << ((start + i) & 7));
  }
  doc_offsets_.push_back(end);
}

void ShardWriter::finish() {
  uint64_t offset = header_.tokens_offset + doc_offsets_.back() * header_.token_width;
  pad_to_8(file_, offset, temp_path_);
  header_.word_starts_offset = offset;
  write_all(file_, word_bits_.data(), word_bits_.size(), temp_path_);
  offset += word_bits_.size();
  pad_to_8(file_, offset, temp_path_);
  header_.documents_offset = offset;
  write_all(file_, doc_offsets_.data(), doc_offsets_.size() * sizeof(uint64_t), temp_path_);
  offset += doc_offsets_.size() * sizeof(uint64_t);
  header_.num_tokens = doc_offsets_.back();
  header_.num_documents = doc_offsets_.size() - 1;
  header_.file_size = offset;

  FQ_CHECK(std::fseek(file_, 0, SEEK_SET) == 0, "shard: seek in " << temp_path_ << " failed");
  write_all(file_, &header_, sizeof(header_), temp_path_);
  bool ok = std::fflush(file_) == 0;
  ok = ::fsync(fileno(file_)) == 0 && ok;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  FQ_CHECK(ok, "shard: cannot write " << temp_path_ << ": " << errno_text());
  FQ_CHECK(std::rename(temp_path_.c_str(), path_.c_str()) == 0,
           "shard: cannot rename " << temp_path_ << " to " << path_ << ": " << errno_text());
  fsync_dir(parent_dir(path_));
  finished_ = true;
}

// ---- ShardReader ----

ShardReader::ShardReader(const std::string& path, uint64_t vocab_checksum,
                         const std::string& vocab_path)
    : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  FQ_CHECK(fd >= 0, "shard: cannot open " << path << ": " << errno_text()
                                          << "; run `flashquad prepare --config ...` first");
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < sizeof(ShardHeader)) {
    ::close(fd);
    FQ_CHECK(false, "shard: " << path << " is truncated (smaller than its header); rerun "
                                         "`flashquad prepare`");
  }
  map_size_ = static_cast<size_t>(st.st_size);
  map_ = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  FQ_CHECK(map_ != MAP_FAILED, "shard: cannot memory-map " << path << ": " << errno_text());
  const auto* base = static_cast<const uint8_t*>(map_);
  std::memcpy(&header_, base, sizeof(header_));

  auto fail = [&](const std::string& what) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    FQ_CHECK(false, "shard: " << path << " " << what);
  };
  if (std::memcmp(header_.magic, kShardMagic, sizeof(kShardMagic)) != 0) {
    fail("is not a flashquad shard (bad magic); rerun `flashquad prepare`");
  }
  if (header_.version != kShardVersion) {
    fail("has format version " + std::to_string(header_.version) + ", this build reads version " +
         std::to_string(kShardVersion) + "; rerun `flashquad prepare`");
  }
  if (header_.vocab_checksum != vocab_checksum) {
    fail("was built with another vocabulary (checksum differs from " + vocab_path +
         "); rerun `flashquad prepare --config ...` to rebuild the shards for this vocab");
  }
  uint64_t expect_bits = (header_.num_tokens + 7) / 8;
  bool sizes_ok = (header_.token_width == 2 || header_.token_width == 4) &&
                  header_.file_size == map_size_ &&
                  header_.tokens_offset + header_.num_tokens * header_.token_width <=
                      header_.word_starts_offset &&
                  header_.word_starts_offset + expect_bits <= header_.documents_offset &&
                  header_.documents_offset + (header_.num_documents + 1) * 8 <= map_size_ &&
                  header_.documents_offset % 8 == 0;
  if (!sizes_ok) fail("is damaged (section sizes do not match the file size); rerun `flashquad prepare`");
  tokens_ = base + header_.tokens_offset;
  word_bits_ = base + header_.word_starts_offset;
  documents_ = reinterpret_cast<const uint64_t*>(base + header_.documents_offset);
  if (documents_[header_.num_documents] != header_.num_tokens) {
    fail("is damaged (document index does not end at the token count); rerun `flashquad prepare`");
  }
}

ShardReader::~ShardReader() {
  if (map_) ::munmap(map_, map_size_);
}

ShardReader::ShardReader(ShardReader&& other) noexcept
    : path_(std::move(other.path_)),
      map_(other.map_),
      map_size_(other.map_size_),
      header_(other.header_),
      tokens_(other.tokens_),
      word_bits_(other.word_bits_),
      documents_(other.documents_) {
  other.map_ = nullptr;
}

}  // namespace fq
