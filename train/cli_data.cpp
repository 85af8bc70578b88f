// Data subcommands: tokenize, vocab, prepare.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/check.h"
#include "data/corpus.h"
#include "data/data_config.h"
#include "data/dataset.h"
#include "data/tokenizer.h"
#include "data/vocab.h"
#include "data/vocab_builder.h"
#include "train/commands.h"
#include "train/config.h"

namespace fq {

namespace {

struct TokenizeOptions {
  std::string vocab;
  std::string input;
  bool no_lower_case = false;
};

// Prints one JSON array of ids per LF-terminated line of the input; a CR stays in its line.
void run_tokenize(const TokenizeOptions& options) {
  Vocab vocab = Vocab::load(options.vocab);
  Tokenizer tokenizer(vocab, !options.no_lower_case);
  FILE* in = stdin;
  std::unique_ptr<FILE, int (*)(FILE*)> owned(nullptr, &std::fclose);
  if (!options.input.empty()) {
    owned.reset(std::fopen(options.input.c_str(), "rb"));
    FQ_CHECK(owned, "tokenize: cannot open " << options.input << ": " << std::strerror(errno));
    in = owned.get();
  }

  TokenizerStats stats;
  std::vector<int32_t> ids;
  std::string line, out;
  std::vector<char> chunk(1 << 20);
  auto emit = [&]() {
    ids.clear();
    tokenizer.encode_into(line, ids, &stats);
    out.assign("[");
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out.push_back(',');
      out.append(std::to_string(ids[i]));
    }
    out.append("]\n");
    std::fwrite(out.data(), 1, out.size(), stdout);
    line.clear();
  };

  while (true) {
    size_t got = std::fread(chunk.data(), 1, chunk.size(), in);
    if (got == 0) break;
    split_lines(chunk.data(), got, line, [&](const std::string&) { emit(); });
  }
  FQ_CHECK(!std::ferror(in), "tokenize: read error on " << (options.input.empty() ? "standard input" : options.input));
  if (!line.empty()) emit();

  std::fflush(stdout);
  if (stats.invalid_utf8 > 0) {
    std::fprintf(stderr, "tokenize: replaced %lld invalid UTF-8 sequence(s) with U+FFFD (dropped)\n",
                 static_cast<long long>(stats.invalid_utf8));
  }
}

struct VocabOptions {
  std::vector<std::string> inputs;
  int64_t size = 0;
  std::string out;
  bool no_lower_case = false;
  std::string separator = "line";
};

void run_vocab(const VocabOptions& options) {
  DataConfig config;
  config.train_files = options.inputs;
  config.document_separator = options.separator;
  std::vector<std::string> files = expand_train_files(options.inputs, "vocab --input");
  VocabBuildReport report =
      build_vocab(files, options.separator, !options.no_lower_case, options.size);
  write_vocab(options.out, report.tokens);
  std::printf("vocab: wrote %s: size %zu (requested %lld)\n", options.out.c_str(),
              report.tokens.size(), static_cast<long long>(options.size));
  std::printf("vocab: %lld documents, %lld words, characters covered %lld of %lld (%.2f%%)\n",
              static_cast<long long>(report.documents), static_cast<long long>(report.words),
              static_cast<long long>(report.chars_included),
              static_cast<long long>(report.distinct_chars),
              report.distinct_chars ? 100.0 * report.chars_included / report.distinct_chars : 0.0);
  std::printf("vocab: [UNK] rate on the input %.4f%% (%lld of %lld tokens), invalid UTF-8 "
              "sequences %lld\n",
              report.corpus_tokens ? 100.0 * report.corpus_unk_tokens / report.corpus_tokens : 0.0,
              static_cast<long long>(report.corpus_unk_tokens),
              static_cast<long long>(report.corpus_tokens),
              static_cast<long long>(report.invalid_utf8));
}

struct PrepareOptions {
  std::string config;
  std::vector<std::string> overrides;
};

void run_prepare(const PrepareOptions& options) {
  nlohmann::json config = load_config(options.config, options.overrides);
  DataConfig data = parse_data_config(config.value("data", nlohmann::json::object()), options.config);
  int64_t vocab_size = 12000;
  if (config.contains("model") && config["model"].contains("vocab_size")) {
    const auto& value = config["model"]["vocab_size"];
    FQ_CHECK(value.is_number_integer() && value.get<int64_t>() >= 6,
             options.config << ": model.vocab_size: expected an integer >= 6, got " << value.dump());
    vocab_size = value.get<int64_t>();
  }
  if (config.contains("model") && config["model"].contains("max_position_embeddings")) {
    const auto& value = config["model"]["max_position_embeddings"];
    FQ_CHECK(!value.is_number_integer() || data.max_seq_length <= value.get<int64_t>(),
             options.config << ": data.max_seq_length " << data.max_seq_length
                            << " exceeds model.max_position_embeddings " << value.dump());
  }
  prepare_data(data, vocab_size);
}

}  // namespace

void register_data_commands(CLI::App& app) {
  auto tokenize_options = std::make_shared<TokenizeOptions>();
  CLI::App* tokenize = app.add_subcommand(
      "tokenize", "Print the WordPiece ids of each input line as a JSON array (no [CLS]/[SEP])");
  tokenize->add_option("--vocab", tokenize_options->vocab, "vocab.txt, one token per line")
      ->required();
  tokenize->add_flag("--no-lower-case", tokenize_options->no_lower_case,
                     "keep case and accents (default: lowercase and strip accents)");
  tokenize->add_option("--input", tokenize_options->input,
                       "text file to read (default: standard input); lines end at LF");
  tokenize->callback([tokenize_options] { run_tokenize(*tokenize_options); });

  auto vocab_options = std::make_shared<VocabOptions>();
  CLI::App* vocab = app.add_subcommand(
      "vocab", "Build a WordPiece vocab.txt from text or JSON Lines files");
  vocab->add_option("--input", vocab_options->inputs, "corpus files or globs")->required();
  vocab->add_option("--size", vocab_options->size, "number of entries, specials included")
      ->required()
      ->check(CLI::Range(int64_t(6), int64_t(1) << 30));
  vocab->add_option("--out", vocab_options->out, "vocab.txt to write")->required();
  vocab->add_flag("--no-lower-case", vocab_options->no_lower_case,
                  "keep case and accents (default: lowercase and strip accents)");
  vocab->add_option("--document-separator", vocab_options->separator,
                    "plain-text documents are lines (\"line\") or blank-line-separated "
                    "(\"blank_line\")")
      ->check(CLI::IsMember({"line", "blank_line"}));
  vocab->callback([vocab_options] { run_vocab(*vocab_options); });

  auto prepare_options = std::make_shared<PrepareOptions>();
  CLI::App* prepare = app.add_subcommand(
      "prepare", "Fetch the corpus if needed, build the vocab if missing, and write token shards");
  prepare->add_option("--config", prepare_options->config, "run config (configs/NAME.json)")
      ->required();
  prepare->add_option("--set", prepare_options->overrides,
                      "override one config key, e.g. --set data.valid_fraction=0.05");
  prepare->callback([prepare_options] { run_prepare(*prepare_options); });
}

}  // namespace fq
