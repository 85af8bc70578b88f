// flashquad_bench: measures one workload per process and prints one JSON object on stdout.
// bench/compare_pytorch.py runs it once per workload (so each peak resident size is that
// workload's own) and alternates it with the PyTorch reference. Usage:
//   flashquad_bench sgemm      --threads N [--size 1024] [--reps 10]
//   flashquad_bench train      --config configs/X.json --batch B --seq T --threads N
//                              [--steps 5] [--warmup 1] [--set key=value ...]
//   flashquad_bench infer      (same options as train)
//   flashquad_bench batch      --config configs/X.json --batch B --threads N [--reps 50]
//                              [--set key=value ...]  (needs prepared shards)
//   flashquad_bench checkpoint --config configs/X.json --threads N [--dir PATH]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/autograd.h"
#include "core/parallel.h"
#include "data/data_config.h"
#include "data/dataset.h"
#include "nn/model.h"
#include "nn/model_config.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/train_config.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Peak resident set size of this process in MiB (VmHWM of /proc/self/status), 0 when unknown.
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return 0.0;
}

struct Options {
  std::string command;
  std::string config = "configs/tiny.json";
  std::vector<std::string> overrides;
  std::string dir = "/tmp/flashquad_bench_ckpt";
  int64_t batch = 8, seq = 128, steps = 5, warmup = 1, size = 1024, reps = 10;
  int threads = 2;
};

Options parse_options(int argc, char** argv) {
  Options o;
  if (argc < 2) throw std::invalid_argument("flashquad_bench: missing command (see bench/README.md)");
  o.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("flashquad_bench: option " + key + " needs a value");
    const std::string value = argv[++i];
    if (key == "--config") o.config = value;
    else if (key == "--set") o.overrides.push_back(value);
    else if (key == "--dir") o.dir = value;
    else if (key == "--batch") o.batch = std::stoll(value);
    else if (key == "--seq") o.seq = std::stoll(value);
    else if (key == "--steps") o.steps = std::stoll(value);
    else if (key == "--warmup") o.warmup = std::stoll(value);
    else if (key == "--size") o.size = std::stoll(value);
    else if (key == "--reps") o.reps = std::stoll(value);
    else if (key == "--threads") o.threads = std::stoi(value);
    else throw std::invalid_argument("flashquad_bench: unknown option " + key);
  }
  return o;
}

// ---- sgemm ceiling ----

json run_sgemm(const Options& o) {
  const int64_t n = o.size;
  std::vector<float> a(n * n), b(n * n), c(n * n);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& v : a) v = dist(rng);
  for (auto& v : b) v = dist(rng);
  auto once = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                n, 0.0f, c.data(), n);
  };
  once();
  std::vector<double> times;
  for (int64_t r = 0; r < o.reps; ++r) {
    auto start = Clock::now();
    once();
    times.push_back(seconds_since(start));
  }
  const double flop = 2.0 * n * n * n;
  return {{"size", n},
          {"median_gflops", flop / median(times) / 1e9},
          {"best_gflops", flop / *std::min_element(times.begin(), times.end()) / 1e9}};
}

// ---- model workloads ----

// Forward FLOPs per sequence of length T with the MLM head over all T positions: per layer the
// uv and o projections, q k^T and A v; then the head's dense layer and decoder.
double forward_flops_per_sequence(const fq::ModelConfig& c, int64_t t) {
  const double d = c.hidden_size, e = c.expanded_size(), s = c.s, v = c.vocab_size;
  const double per_token_layer = 2 * d * (2 * e + s) + 2 * e * d + 2.0 * t * (s + e);
  const double per_token = c.num_hidden_layers * per_token_layer + 2 * d * d + 2 * d * v;
  return per_token * t;
}

// Random ids in [5, vocab) (no padding), and exactly round(0.15 T) labelled positions per
// sequence whose input becomes id 4 ([MASK] in the default vocab).
fq::Batch random_batch(const fq::ModelConfig& c, int64_t batch, int64_t seq, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> id(5, static_cast<int32_t>(c.vocab_size - 1));
  std::vector<int32_t> ids(batch * seq), labels(batch * seq, -100), ones(batch * seq, 1),
      zeros(batch * seq, 0);
  const int64_t targets = std::max<int64_t>(1, static_cast<int64_t>(0.15 * seq + 0.5));
  std::vector<int64_t> positions(seq);
  int64_t num_targets = 0;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < seq; ++t) ids[b * seq + t] = id(rng);
    for (int64_t t = 0; t < seq; ++t) positions[t] = t;
    std::shuffle(positions.begin(), positions.end(), rng);
    for (int64_t k = 0; k < targets; ++k) {
      const int64_t p = b * seq + positions[k];
      labels[p] = ids[p];
      ids[p] = 4;
      ++num_targets;
    }
  }
  const fq::Shape shape = {batch, seq};
  fq::Batch out;
  out.input_ids = fq::Tensor::from_ids(ids, shape);
  out.attention_mask = fq::Tensor::from_ids(ones, shape);
  out.token_type_ids = fq::Tensor::from_ids(zeros, shape);
  out.labels = fq::Tensor::from_ids(labels, shape);
  out.num_targets = num_targets;
  return out;
}

json run_model(const Options& o, bool training) {
  const json config = fq::load_config(o.config, o.overrides);
  const fq::ModelConfig mc = fq::parse_model_config(config.at("model"), o.config);
  const fq::TrainConfig tc = fq::parse_train_config(config.at("train"), o.config, "bench");
  fq::FlashQuadForMaskedLM model(mc, 42);
  fq::AdamWOptions adam;
  adam.beta1 = tc.adam_beta1;
  adam.beta2 = tc.adam_beta2;
  adam.eps = tc.adam_epsilon;
  adam.weight_decay = tc.weight_decay;
  adam.no_decay = tc.no_decay;
  fq::AdamW optimizer(model.named_parameters(), adam);
  const auto params = model.named_parameters();

  std::vector<double> times;
  double loss = 0.0;
  for (int64_t step = 0; step < o.warmup + o.steps; ++step) {
    fq::Batch batch = random_batch(mc, o.batch, o.seq, 1000 + step);
    auto start = Clock::now();
    if (training) {
      fq::ForwardOptions fwd;
      fwd.training = true;
      fwd.output_logits = false;  // the trainer's path: head only at labelled rows
      fq::ModelOutput out = model.forward(batch, fwd);
      loss = out.loss.item();
      out.loss.backward();
      fq::clip_grad_norm(params, tc.max_grad_norm);
      optimizer.step(tc.learning_rate);
      optimizer.zero_grad();
    } else {
      fq::NoGradGuard no_grad;
      fq::ForwardOptions fwd;
      fwd.compute_loss = false;
      fq::ModelOutput out = model.forward(batch, fwd);  // logits at every position
      loss = out.logits.data()[0];
    }
    const double elapsed = seconds_since(start);
    if (step >= o.warmup) times.push_back(elapsed);
  }
  const double step_time = median(times);
  const double flops = (training ? 3.0 : 1.0) * o.batch * forward_flops_per_sequence(mc, o.seq);
  return {{"workload", training ? "train" : "infer"},
          {"config", o.config},
          {"batch", o.batch},
          {"seq", o.seq},
          {"threads", fq::num_threads()},
          {"gradient_checkpointing", mc.gradient_checkpointing},
          {"steps", o.steps},
          {"step_times", times},
          {"median_step_s", step_time},
          {"tokens_per_s", o.batch * o.seq / step_time},
          {"flops_per_step", flops},
          {"gflops", flops / step_time / 1e9},
          {"last_value", loss},
          {"peak_rss_mib", peak_rss_mib()}};
}

// ---- data pipeline ----

json run_batch(const Options& o) {
  const json config = fq::load_config(o.config, o.overrides);
  const fq::DataConfig dc = fq::parse_data_config(config.at("data"), o.config);
  fq::MlmDataset dataset(dc, fq::MlmDataset::Split::kTrain, 42);
  std::vector<double> times;
  uint64_t cursor = 0;
  for (int64_t r = 0; r < o.reps; ++r) {
    auto start = Clock::now();
    fq::Batch b = dataset.batch_at(cursor, o.batch);
    times.push_back(seconds_since(start));
    cursor += o.batch;
    if (b.num_targets == 0) std::fprintf(stderr, "flashquad_bench: batch without targets\n");
  }
  return {{"batch", o.batch},
          {"seq", dc.max_seq_length},
          {"median_batch_s", median(times)},
          {"sequences", dataset.num_sequences()}};
}

// ---- checkpoint save and load ----

json run_checkpoint(const Options& o) {
  const json config = fq::load_config(o.config, o.overrides);
  const fq::ModelConfig mc = fq::parse_model_config(config.at("model"), o.config);
  fq::FlashQuadForMaskedLM model(mc, 42);
  fq::AdamW optimizer(model.named_parameters(), fq::AdamWOptions{});
  fq::CheckpointState state;
  state.config_json = config.dump();
  state.step = 1;
  state.parameters = fq::snapshot_parameters(model.named_parameters());
  state.optimizer = optimizer.state();

  std::filesystem::remove_all(o.dir);
  std::vector<double> save_times, load_times;
  std::string path;
  for (int64_t r = 0; r < std::max<int64_t>(1, o.reps); ++r) {
    auto start = Clock::now();
    path = fq::save_checkpoint(o.dir, state);
    save_times.push_back(seconds_since(start));
    start = Clock::now();
    fq::CheckpointState loaded = fq::load_checkpoint(path);
    load_times.push_back(seconds_since(start));
  }
  const double mb = std::filesystem::file_size(path) / 1e6;
  std::filesystem::remove_all(o.dir);
  return {{"file_mb", mb},
          {"save_mb_per_s", mb / median(save_times)},
          {"load_mb_per_s", mb / median(load_times)}};
}

}  // namespace

int main(int argc, char** argv) {
  fq::ensure_blas_kernels(argv);
  try {
    const Options o = parse_options(argc, argv);
    fq::set_num_threads(o.threads);
    json result;
    if (o.command == "sgemm") result = run_sgemm(o);
    else if (o.command == "train") result = run_model(o, true);
    else if (o.command == "infer") result = run_model(o, false);
    else if (o.command == "batch") result = run_batch(o);
    else if (o.command == "checkpoint") result = run_checkpoint(o);
    else throw std::invalid_argument("flashquad_bench: unknown command " + o.command);
    result["blas_core"] = fq::blas_core_name();
    std::cout << result.dump() << std::endl;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flashquad_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
