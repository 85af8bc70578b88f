// prepare: corpus -> vocab (when missing) -> shards, with a summary on stdout.
#include "data/prepare.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <nlohmann/json.hpp>
#include <unicode/brkiter.h>
#include <unicode/utext.h>

#include "core/check.h"
#include "core/random.h"
#include "data/corpus.h"
#include "data/dataset.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "data/vocab_builder.h"

namespace fq {

namespace {

using nlohmann::json;

// OpenMP thread count and index; 1 and 0 in a build without OpenMP.
int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

void make_dirs(const std::string& path) {
  std::string partial;
  std::stringstream parts(path);
  std::string part;
  if (!path.empty() && path[0] == '/') partial = "/";
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    partial += part;
    if (!file_exists(partial)) {
      FQ_CHECK(::mkdir(partial.c_str(), 0755) == 0 || file_exists(partial),
               "prepare: cannot create folder " << partial);
    }
    partial += "/";
  }
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string hex64(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return text;
}

json input_fingerprint(const DataConfig& config, const std::vector<std::string>& files,
                       const Vocab& vocab, int64_t max_shard_tokens) {
  json inputs = json::array();
  for (const std::string& file : files) {
    struct stat st;
    FQ_CHECK(::stat(file.c_str(), &st) == 0, "prepare: cannot read " << file);
    inputs.push_back({{"path", file},
                      {"size", static_cast<int64_t>(st.st_size)},
                      {"mtime_ns", static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                                       st.st_mtim.tv_nsec}});
  }
  return {{"format_version", kShardVersion},
          {"inputs", inputs},
          {"vocab_checksum", hex64(vocab.checksum())},
          {"lowercase", config.lowercase},
          {"document_separator", config.document_separator},
          {"valid_fraction", config.valid_fraction},
          {"max_shard_tokens", max_shard_tokens},
          {"cjk_word_segmentation", true}};
}

// True when the manifest in `dir` matches `fingerprint` and every shard it lists has its size.
bool shards_up_to_date(const std::string& dir, const json& fingerprint, json* manifest_out) {
  std::ifstream in(dir + "/" + kManifestName);
  if (!in.good()) return false;
  json manifest = json::parse(in, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object() || !manifest.contains("fingerprint") ||
      manifest["fingerprint"] != fingerprint) {
    return false;
  }
  for (const char* split : {"train", "valid"}) {
    if (!manifest.contains(split)) return false;
    for (const json& shard : manifest[split]["shards"]) {
      struct stat st;
      std::string path = dir + "/" + shard["file"].get<std::string>();
      if (::stat(path.c_str(), &st) != 0 || st.st_size != shard["bytes"].get<int64_t>()) {
        return false;
      }
    }
  }
  *manifest_out = manifest;
  return true;
}

// Word boundaries of a document from ICU's word break iterator (dictionary-based for Chinese),
// as byte offsets into the UTF-8 text.
class WordSegmenter {
 public:
  WordSegmenter() {
    UErrorCode status = U_ZERO_ERROR;
    iterator_.reset(icu::BreakIterator::createWordInstance(icu::Locale::getChinese(), status));
    FQ_CHECK(U_SUCCESS(status), "prepare: ICU word break iterator unavailable: "
                                    << u_errorName(status));
  }

  void breaks(std::string_view text, std::vector<int64_t>& out) {
    out.clear();
    UErrorCode status = U_ZERO_ERROR;
    UText* ut = utext_openUTF8(&text_, text.data(), static_cast<int64_t>(text.size()), &status);
    FQ_CHECK(U_SUCCESS(status), "prepare: ICU cannot open the text: " << u_errorName(status));
    iterator_->setText(ut, status);
    FQ_CHECK(U_SUCCESS(status), "prepare: ICU word segmentation failed: " << u_errorName(status));
    for (int32_t p = iterator_->first(); p != icu::BreakIterator::DONE; p = iterator_->next()) {
      out.push_back(p);
    }
  }

  ~WordSegmenter() { utext_close(&text_); }

 private:
  std::unique_ptr<icu::BreakIterator> iterator_;
  UText text_ = UTEXT_INITIALIZER;
};

// True when `text` may contain a CJK ideograph (a UTF-8 lead byte of U+3000 or above).
bool may_contain_cjk(std::string_view text) {
  for (unsigned char c : text) {
    if (c >= 0xE3) return true;
  }
  return false;
}

// The tokenization of one document, computed in parallel and written in order.
struct DocumentResult {
  std::vector<int32_t> ids;
  std::vector<uint8_t> starts;
  std::vector<int64_t> breaks;
  TokenizerStats stats;
  double segment_seconds = 0.0;
  double tokenize_seconds = 0.0;
  std::string error;  // the message of an exception thrown while processing the document

  void clear() {
    ids.clear();
    starts.clear();
    breaks.clear();
    stats = TokenizerStats();
    segment_seconds = 0.0;
    tokenize_seconds = 0.0;
    error.clear();
  }
};

// A block of documents ends at whichever limit comes first.
constexpr size_t kBlockBytes = 8 << 20;
constexpr size_t kBlockDocuments = 16384;

std::string shard_name(const char* split, int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "%s-%05d.fqs", split, index);
  return name;
}

// Writes the shards of one split, starting a new file every max_tokens tokens.
class SplitWriter {
 public:
  SplitWriter(std::string dir, const char* split, const Vocab& vocab, bool lowercase,
              int64_t max_tokens)
      : dir_(std::move(dir)), split_(split), vocab_(vocab), lowercase_(lowercase),
        max_tokens_(max_tokens) {}

  void add(const std::vector<int32_t>& ids, const std::vector<uint8_t>& starts) {
    if (!writer_ || writer_->num_tokens() >= max_tokens_) roll();
    writer_->add_document(ids, starts);
    ++documents_;
    tokens_ += static_cast<int64_t>(ids.size());
  }

  // Finishes the last shard (an empty one when the split got no document) and lists them.
  json finish() {
    if (!writer_) roll();
    close_current();
    return {{"shards", shards_}, {"documents", documents_}, {"tokens", tokens_}};
  }

  int64_t documents() const { return documents_; }
  int64_t tokens() const { return tokens_; }

 private:
  void roll() {
    close_current();
    std::string name = shard_name(split_, static_cast<int>(shards_.size()));
    writer_ = std::make_unique<ShardWriter>(dir_ + "/" + name, vocab_.checksum(), vocab_.size(),
                                            lowercase_);
    current_name_ = name;
  }
  void close_current() {
    if (!writer_) return;
    writer_->finish();
    struct stat st;
    ::stat(writer_->path().c_str(), &st);
    shards_.push_back({{"file", current_name_},
                       {"bytes", static_cast<int64_t>(st.st_size)},
                       {"documents", writer_->num_documents()},
                       {"tokens", writer_->num_tokens()}});
    writer_.reset();
  }

  std::string dir_;
  const char* split_;
  const Vocab& vocab_;
  bool lowercase_;
  int64_t max_tokens_;
  std::unique_ptr<ShardWriter> writer_;
  std::string current_name_;
  json shards_ = json::array();
  int64_t documents_ = 0, tokens_ = 0;
};

std::string find_fetch_script() {
  std::vector<std::string> candidates = {"scripts/fetch_corpus.sh"};
  char exe[4096];
  ssize_t len = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (len > 0) {
    exe[len] = '\0';
    std::string dir = parent_of(exe);
    candidates.push_back(dir + "/../scripts/fetch_corpus.sh");
    candidates.push_back(dir + "/../../scripts/fetch_corpus.sh");
  }
  for (const std::string& path : candidates) {
    if (file_exists(path)) return path;
  }
  return "";
}

}  // namespace

bool is_held_out(int64_t index, double valid_fraction) {
  // The top 53 bits of a mix of the index, as a fraction in [0, 1).
  double u = static_cast<double>(mix64(static_cast<uint64_t>(index) ^ 0x76616C6964ull) >> 11) *
             0x1.0p-53;
  return u < valid_fraction;
}

std::vector<std::string> resolve_corpus(const DataConfig& config, const std::string& source) {
  if (!config.train_files.empty()) return expand_train_files(config.train_files, source);

  const std::string corpus = config.cache_dir + "/corpus/chinese-poetry.txt";
  if (!file_exists(corpus)) {
    std::string script = find_fetch_script();
    FQ_CHECK(!script.empty(),
             "prepare: data.train_files is empty, so the default corpus is needed, but "
             "scripts/fetch_corpus.sh was not found; run from the repository root or set "
             "data.train_files to your own text files");
    std::printf("prepare: fetching the default corpus (npm package chinese-poetry) into %s\n",
                config.cache_dir.c_str());
    std::fflush(stdout);
    std::string command = "bash '" + script + "' '" + config.cache_dir + "'";
    int rc = std::system(command.c_str());
    FQ_CHECK(rc == 0 && file_exists(corpus),
             "prepare: " << script << " failed (exit status "
                         << (WIFEXITED(rc) ? WEXITSTATUS(rc) : rc)
                         << "); see its message above, or set data.train_files to your own "
                            "UTF-8 text files");
  }
  return {corpus};
}

PrepareReport prepare_shards(const DataConfig& config, const std::vector<std::string>& files,
                             const Vocab& vocab, int64_t max_shard_tokens, bool force) {
  FQ_CHECK(max_shard_tokens > 0, "prepare: max_shard_tokens must be positive");
  PrepareReport report;
  const std::string& dir = config.shard_dir;
  const json fingerprint = input_fingerprint(config, files, vocab, max_shard_tokens);
  json manifest;
  if (!force && shards_up_to_date(dir, fingerprint, &manifest)) {
    const json& stats = manifest["stats"];
    report.up_to_date = true;
    report.documents = stats["documents"].get<int64_t>();
    report.empty_documents = stats["empty_documents"].get<int64_t>();
    report.unk_tokens = stats["unk_tokens"].get<int64_t>();
    report.invalid_utf8 = stats["invalid_utf8"].get<int64_t>();
    report.bad_json_lines = stats["bad_json_lines"].get<int64_t>();
    report.bytes = stats["bytes"].get<int64_t>();
    report.train_documents = manifest["train"]["documents"].get<int64_t>();
    report.train_tokens = manifest["train"]["tokens"].get<int64_t>();
    report.valid_documents = manifest["valid"]["documents"].get<int64_t>();
    report.valid_tokens = manifest["valid"]["tokens"].get<int64_t>();
    return report;
  }
  make_dirs(dir);
  // The old manifest is removed before any shard changes, and the new one is written last, so an
  // interrupted run is never mistaken for a finished one.
  std::remove((dir + "/" + kManifestName).c_str());

  const auto start = std::chrono::steady_clock::now();
  Tokenizer tokenizer(vocab, config.lowercase);
  // Word segmentation only matters for whole-word masking, but it is always done so that configs
  // that differ only in data.whole_word_mask share one set of shards instead of rebuilding them
  // on every switch.
  const bool segment = true;
  SplitWriter train(dir, "train", vocab, config.lowercase, max_shard_tokens);
  SplitWriter valid(dir, "valid", vocab, config.lowercase, max_shard_tokens);
  CorpusStats corpus;

  // Documents are processed in blocks: segmentation and tokenization run in parallel over the
  // documents of a block (each result depends on its document alone), then the results are
  // written in document order, so the shards do not depend on the thread count.
  const int threads = std::max(1, max_threads());
  std::vector<std::unique_ptr<WordSegmenter>> segmenters(threads);
  std::vector<std::string> block;
  std::vector<DocumentResult> results;
  size_t block_bytes = 0;
  int64_t index = 0;

  // Segments and tokenizes one document; runs on any thread.
  auto segment_and_tokenize = [&](const std::string& document, DocumentResult& result) {
    const std::vector<int64_t>* cjk_breaks = nullptr;
    if (segment && may_contain_cjk(document)) {
      auto& segmenter = segmenters[thread_index()];
      if (!segmenter) segmenter = std::make_unique<WordSegmenter>();
      const auto t0 = std::chrono::steady_clock::now();
      segmenter->breaks(document, result.breaks);
      result.segment_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      cjk_breaks = &result.breaks;
    }
    const auto t1 = std::chrono::steady_clock::now();
    tokenizer.encode_into(document, result.ids, &result.stats, &result.starts, cjk_breaks);
    result.tokenize_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  };

  auto process_block = [&]() {
    const int64_t n = static_cast<int64_t>(block.size());
    if (results.size() < block.size()) results.resize(block.size());

    // 1. Segment and tokenize in parallel. Race-free: iteration k writes results[k] only and
    // uses the segmenter of its own thread.
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t k = 0; k < n; ++k) {
      DocumentResult& result = results[k];
      result.clear();
      // An exception must not leave an OpenMP region, so it is stored and rethrown below.
      try {
        segment_and_tokenize(block[k], result);
      } catch (const std::exception& e) {
        result.error = e.what();
      }
    }
    for (int64_t k = 0; k < n; ++k) {
      FQ_CHECK(results[k].error.empty(),
               "prepare: document " << index + k << ": " << results[k].error);
    }

    // 2. Write in document order.
    for (int64_t k = 0; k < n; ++k) {
      const DocumentResult& result = results[k];
      const int64_t d = index++;
      report.segment_seconds += result.segment_seconds;
      report.tokenize_seconds += result.tokenize_seconds;
      report.invalid_utf8 += result.stats.invalid_utf8;
      report.unk_tokens += result.stats.unk_tokens;
      if (result.ids.empty()) {
        ++report.empty_documents;
        continue;
      }
      const auto t2 = std::chrono::steady_clock::now();
      (is_held_out(d, config.valid_fraction) ? valid : train).add(result.ids, result.starts);
      report.write_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();
    }
    block.clear();
    block_bytes = 0;
  };

  for (const std::string& file : files) {
    read_documents(file, config.document_separator, [&](std::string_view document) {
      block.emplace_back(document);
      block_bytes += document.size();
      if (block_bytes >= kBlockBytes || block.size() >= kBlockDocuments) process_block();
    }, corpus);
  }
  process_block();
  json train_info = train.finish();
  json valid_info = valid.finish();
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  report.documents = corpus.documents;
  report.bad_json_lines = corpus.bad_json_lines;
  report.invalid_utf8 += corpus.invalid_utf8;
  report.bytes = corpus.bytes;
  report.train_documents = train.documents();
  report.train_tokens = train.tokens();
  report.valid_documents = valid.documents();
  report.valid_tokens = valid.tokens();
  FQ_CHECK(report.train_tokens > 0,
           "prepare: the corpus (" << files.size() << " file(s), " << corpus.documents
                                   << " document(s)) produced no training tokens; check "
                                      "data.train_files and data.document_separator");

  manifest = {{"fingerprint", fingerprint},
              {"vocab", config.vocab},
              {"vocab_checksum", hex64(vocab.checksum())},
              {"vocab_size", vocab.size()},
              {"lowercase", config.lowercase},
              {"train", train_info},
              {"valid", valid_info},
              {"stats",
               {{"documents", report.documents},
                {"empty_documents", report.empty_documents},
                {"unk_tokens", report.unk_tokens},
                {"invalid_utf8", report.invalid_utf8},
                {"bad_json_lines", report.bad_json_lines},
                {"bytes", report.bytes}}}};
  write_file_atomic(dir + "/" + kManifestName, manifest.dump(2) + "\n");
  return report;
}

void prepare_data(const DataConfig& config, int64_t vocab_size) {
  const std::string source = "data config";
  std::vector<std::string> files = resolve_corpus(config, source);

  // One prepare at a time per shard folder: a second process (another training run starting on
  // the same data) waits here, then finds the shards up to date.
  make_dirs(config.shard_dir);
  const std::string lock_path = config.shard_dir + "/.prepare.lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  FQ_CHECK(lock_fd >= 0, "prepare: cannot create the lock file " << lock_path << ": "
                                                                  << std::strerror(errno)
                                                                  << "; check that "
                                                                  << config.shard_dir
                                                                  << " is writable");
  struct LockGuard {
    int fd;
    ~LockGuard() { ::close(fd); }  // closing releases the lock
  } lock_guard{lock_fd};
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::printf("prepare: another process is preparing %s; waiting for it\n",
                config.shard_dir.c_str());
    std::fflush(stdout);
    ::flock(lock_fd, LOCK_EX);
  }

  // 1. Vocabulary.
  if (!file_exists(config.vocab)) {
    std::printf("prepare: building a vocab of %lld entries from %zu file(s) -> %s\n",
                static_cast<long long>(vocab_size), files.size(), config.vocab.c_str());
    std::fflush(stdout);
    VocabBuildReport built =
        build_vocab(files, config.document_separator, config.lowercase, vocab_size);
    make_dirs(parent_of(config.vocab));
    write_vocab(config.vocab, built.tokens);
    std::printf("prepare: vocab size %zu, characters %lld of %lld seen, [UNK] rate %.4f%%\n",
                built.tokens.size(), static_cast<long long>(built.chars_included),
                static_cast<long long>(built.distinct_chars),
                built.corpus_tokens ? 100.0 * built.corpus_unk_tokens / built.corpus_tokens : 0.0);
  }
  Vocab vocab = Vocab::load(config.vocab);
  FQ_CHECK(vocab.size() <= vocab_size,
           "prepare: " << config.vocab << " has " << vocab.size()
                       << " entries but model.vocab_size is " << vocab_size
                       << "; raise model.vocab_size or use a smaller vocab");

  // 2. Shards.
  PrepareReport r = prepare_shards(config, files, vocab);
  const int64_t tokens = r.train_tokens + r.valid_tokens;
  if (r.up_to_date) {
    std::printf("prepare: shards in %s are up to date (same inputs, vocab and settings)\n",
                config.shard_dir.c_str());
  } else {
    const double tokenize_write = r.tokenize_seconds + r.write_seconds;
    std::printf("prepare: wrote shards to %s in %.2f s with %d thread(s), %.1f MB/s overall\n",
                config.shard_dir.c_str(), r.seconds, max_threads(),
                r.seconds > 0 ? r.bytes / 1e6 / r.seconds : 0.0);
    // Busy time summed over threads, so the rates are per thread (per core when the machine is
    // otherwise idle).
    std::printf("prepare: per thread: tokenization + shard writing %.2f s (%.1f MB/s), ICU word "
                "segmentation %.2f s (%.1f MB/s)\n",
                tokenize_write, tokenize_write > 0 ? r.bytes / 1e6 / tokenize_write : 0.0,
                r.segment_seconds, r.segment_seconds > 0 ? r.bytes / 1e6 / r.segment_seconds : 0.0);
  }
  std::printf("prepare: %zu file(s), %.1f MB, %lld documents (%lld empty, skipped)\n",
              files.size(), r.bytes / 1e6, static_cast<long long>(r.documents),
              static_cast<long long>(r.empty_documents));
  std::printf("prepare: train %lld documents / %lld tokens, valid %lld documents / %lld tokens\n",
              static_cast<long long>(r.train_documents), static_cast<long long>(r.train_tokens),
              static_cast<long long>(r.valid_documents), static_cast<long long>(r.valid_tokens));
  std::printf("prepare: vocab %s (%lld entries), [UNK] rate %.4f%%, invalid UTF-8 sequences %lld",
              config.vocab.c_str(), static_cast<long long>(vocab.size()),
              tokens ? 100.0 * r.unk_tokens / tokens : 0.0,
              static_cast<long long>(r.invalid_utf8));
  if (r.bad_json_lines) std::printf(", skipped JSON Lines records %lld", static_cast<long long>(r.bad_json_lines));
  std::printf("\n");
  if (r.valid_documents == 0 && config.valid_fraction > 0) {
    std::printf("prepare: warning: no document fell into the held-out split (valid_fraction %g "
                "of %lld documents); evaluation will fail until the corpus is larger or "
                "data.valid_fraction is raised\n",
                config.valid_fraction, static_cast<long long>(r.documents));
  }
  const int64_t T = config.max_seq_length;
  std::printf("prepare: %lld training sequences of %lld tokens\n",
              static_cast<long long>((r.train_tokens + T - 3) / (T - 2)),
              static_cast<long long>(T));
}

}  // namespace fq
