// Binary token shards written by `flashquad prepare` and memory-mapped for training.
//
// Layout (little-endian), every section starting at a multiple of 8 bytes:
//   header        ShardHeader (128 bytes)
//   tokens        num_tokens ids of token_width bytes (uint16 when vocab <= 65536, else uint32)
//   word starts   ceil(num_tokens / 8) bytes, bit i % 8 of byte i / 8 set when token i starts a
//                 whole-masking word
//   documents     num_documents + 1 uint64 token offsets; document d is [doc[d], doc[d + 1])
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fq {

constexpr char kShardMagic[8] = {'F', 'Q', 'S', 'H', 'A', 'R', 'D', '\0'};
constexpr uint32_t kShardVersion = 1;

struct ShardHeader {
  char magic[8];
  uint32_t version;
  uint32_t token_width;  // 2 or 4 bytes
  uint64_t vocab_checksum;
  uint64_t vocab_size;
  uint64_t num_tokens;
  uint64_t num_documents;
  uint64_t tokens_offset;
  uint64_t word_starts_offset;
  uint64_t documents_offset;
  uint64_t file_size;
  uint8_t lowercase;
  uint8_t reserved[47];
};
static_assert(sizeof(ShardHeader) == 128, "shard header must stay 128 bytes");

// Streams documents into `path`. Writes go to `path` + ".tmp"; finish() fsyncs it and renames it
// over `path`, so a crash never leaves a half-written shard under the final name.
class ShardWriter {
 public:
  ShardWriter(const std::string& path, uint64_t vocab_checksum, int64_t vocab_size,
              bool lowercase);
  ~ShardWriter();  // removes the temporary file when finish() was not reached
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // ids and word_starts have the same length.
  void add_document(const std::vector<int32_t>& ids, const std::vector<uint8_t>& word_starts);
  void finish();

  int64_t num_tokens() const { return static_cast<int64_t>(doc_offsets_.back()); }
  int64_t num_documents() const { return static_cast<int64_t>(doc_offsets_.size()) - 1; }
  const std::string& path() const { return path_; }

 private:
  std::string path_, temp_path_;
  FILE* file_ = nullptr;
  ShardHeader header_{};
  std::vector<uint8_t> word_bits_;
  std::vector<uint64_t> doc_offsets_{0};
  std::vector<char> buffer_;
  bool finished_ = false;
};

// A read-only memory map of one shard. Checks magic, version, sizes and the vocab checksum.
class ShardReader {
 public:
  // Throws std::invalid_argument naming the file when it is missing, damaged, or was written
  // for a vocabulary with another checksum (`vocab_path` names the current one in the message).
  ShardReader(const std::string& path, uint64_t vocab_checksum, const std::string& vocab_path);
  ~ShardReader();
  ShardReader(ShardReader&& other) noexcept;
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;
  ShardReader& operator=(ShardReader&&) = delete;

  int64_t num_tokens() const { return static_cast<int64_t>(header_.num_tokens); }
  int64_t num_documents() const { return static_cast<int64_t>(header_.num_documents); }
  bool lowercase() const { return header_.lowercase != 0; }
  int32_t token(int64_t i) const {
    return header_.token_width == 2 ? reinterpret_cast<const uint16_t*>(tokens_)[i]
                                    : static_cast<int32_t>(reinterpret_cast<const uint32_t*>(tokens_)[i]);
  }
  bool word_start(int64_t i) const { return (word_bits_[i >> 3] >> (i & 7)) & 1; }
  // Token offset where document d starts (d = num_documents gives num_tokens).
  int64_t document_offset(int64_t d) const { return static_cast<int64_t>(documents_[d]); }

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  ShardHeader header_{};
  const uint8_t* tokens_ = nullptr;
  const uint8_t* word_bits_ = nullptr;
  const uint64_t* documents_ = nullptr;
};

// Writes `contents` to `path` atomically: temporary file in the same folder, fsync, rename,
// fsync of the folder.
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace fq
