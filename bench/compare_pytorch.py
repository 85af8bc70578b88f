"""Benchmarks flashquad against the PyTorch reference model and the OpenBLAS sgemm ceiling.

Run by `make bench` (bench/run.sh) with /usr/bin/python3, the interpreter that sees Debian's
python3-torch. Every workload runs in its own process (so each peak resident size, VmHWM, is that
workload's alone), and each flashquad workload is followed at once by the same workload on the
PyTorch reference in tests/reference/flash_quad_ref.py, so both see about the same machine load.
Prints a markdown table and writes the raw measurements as JSON.

    /usr/bin/python3 bench/compare_pytorch.py --bench-bin build/flashquad_bench \
        --flashquad build/flashquad [--threads 2] [--only tiny-train,base-train] [--no-torch]

`--worker` runs one PyTorch workload in this process and prints one JSON line (used internally).
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, command, config, batch, sequence length, timed steps, warm-up steps, extra --set values
WORKLOADS = [
    ("tiny-train", "train", "tiny", 32, 128, 6, 2, []),
    ("tiny-infer", "infer", "tiny", 32, 128, 6, 2, []),
    ("small-train-8x512", "train", "small", 8, 512, 3, 1, []),
    ("small-infer-8x512", "infer", "small", 8, 512, 3, 1, []),
    ("small-train-32x128", "train", "small", 32, 128, 3, 1, []),
    ("small-infer-32x128", "infer", "small", 32, 128, 3, 1, []),
    ("base-train", "train", "base", 8, 512, 2, 1, []),
    ("base-infer", "infer", "base", 8, 512, 2, 1, []),
    ("base-train-ckpt", "train", "base", 8, 512, 2, 1, ["model.gradient_checkpointing=true"]),
]


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def forward_flops_per_sequence(cfg, t):
    """Same formula as bench/bench_main.cpp (see bench/README.md)."""
    d, s, v = cfg["hidden_size"], cfg["s"], cfg["vocab_size"]
    e = int(round(d * cfg["expansion_factor"]))
    per_token_layer = 2 * d * (2 * e + s) + 2 * e * d + 2 * t * (s + e)
    return (cfg["num_hidden_layers"] * per_token_layer + 2 * d * d + 2 * d * v) * t


# ---- PyTorch worker ----

def torch_worker(args):
    import random

    import torch

    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import flash_quad_ref as ref

    torch.set_num_threads(args.threads)
    with open(os.path.join(ROOT, "configs", args.config + ".json")) as f:
        full = json.load(f)
    mcfg, tcfg = full["model"], full["train"]
    torch.manual_seed(42)
    model = ref.FlashQuadForMaskedLM(mcfg)
    no_decay = tcfg["no_decay"]
    decay = [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)]
    other = [p for n, p in model.named_parameters() if any(k in n for k in no_decay)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": tcfg["weight_decay"]},
         {"params": other, "weight_decay": 0.0}],
        lr=tcfg["learning_rate"], betas=(tcfg["adam_beta1"], tcfg["adam_beta2"]),
        eps=tcfg["adam_epsilon"])

    vocab = mcfg["vocab_size"]
    targets = max(1, int(0.15 * args.seq + 0.5))

    def make_batch(seed):
        rng = random.Random(seed)
        ids = torch.tensor([[rng.randrange(5, vocab) for _ in range(args.seq)]
                            for _ in range(args.batch)], dtype=torch.long)
        labels = torch.full_like(ids, -100)
        for b in range(args.batch):
            for p in rng.sample(range(args.seq), targets):
                labels[b, p] = ids[b, p]
                ids[b, p] = 4
        return ids, torch.ones_like(ids), torch.zeros_like(ids), labels

    times, value = [], 0.0
    for step in range(args.warmup + args.steps):
        ids, mask, types, labels = make_batch(1000 + step)
        start = time.perf_counter()
        if args.command == "train":
            out = model(ids, mask, types, labels=labels)
            value = out["loss"].item()
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg["max_grad_norm"])
            optimizer.step()
            optimizer.zero_grad()
            del out
        else:
            with torch.no_grad():
                out = model(ids, mask, types)
                value = float(out["logits"][0, 0, 0])
                del out
        elapsed = time.perf_counter() - start
        if step >= args.warmup:
            times.append(elapsed)
    step_time = median(times)
    flops = (3 if args.command == "train" else 1) * args.batch * forward_flops_per_sequence(
        ref.full_config(mcfg), args.seq)
    print(json.dumps({
        "workload": args.command, "config": args.config, "batch": args.batch, "seq": args.seq,
        "threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "step_times": times, "median_step_s": step_time,
        "tokens_per_s": args.batch * args.seq / step_time, "flops_per_step": flops,
        "gflops": flops / step_time / 1e9, "last_value": value, "peak_rss_mib": peak_rss_mib()}))


# ---- driver ----

def run_json(cmd, timeout=1800):
    """Runs cmd and returns the JSON object on the last line of its stdout, or None on failure.

    Idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE) in both frameworks unless the caller set
    a policy: flashquad sets it itself, and on a shared machine spinning threads slowed PyTorch
    by 5x as well, which would make the ratios measure the machine's load."""
    print("  $ " + " ".join(cmd), file=sys.stderr, flush=True)
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def torch_available():
    return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def load_average():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def sgemm(args):
    return run_json([args.bench_bin, "sgemm", "--threads", str(args.threads), "--size", "1024",
                     "--reps", "20"])


def data_pipeline(args, work):
    """Tokenize and shard about 4 MB of the corpus, then time tiny batch building."""
    source = os.path.join(ROOT, "cache", "corpus", "chinese-poetry.txt")
    if not os.path.exists(source):
        source = os.path.join(ROOT, "tests", "data", "chinese_poetry_sample.txt")
    with open(source, "rb") as f:
        text = f.read(4_000_000)
    text = text[: text.rfind(b"\n") + 1]  # whole lines, so no UTF-8 sequence is cut
    corpus = os.path.join(work, "corpus.txt")
    with open(corpus, "wb") as f:
        f.write(text)
    vocab = os.path.join(ROOT, "cache", "vocab.txt")
    sets = [f'data.train_files=["{corpus}"]', f"data.shard_dir={work}/shards"]
    if os.path.exists(vocab):
        sets.append(f"data.vocab={vocab}")
    else:
        sets.append(f"data.vocab={work}/vocab.txt")
    set_args = [a for s in sets for a in ("--set", s)]
    cmd = [args.flashquad, "prepare", "--config", "configs/tiny.json"] + set_args
    print("  $ " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    result = {"corpus_mb": len(text) / 1e6, "prepare_output": proc.stdout.strip().splitlines()}
    for line in proc.stdout.splitlines():
        if "MB/s overall" in line:
            result["prepare_mb_per_s"] = float(line.split("MB/s overall")[0].split(",")[-1])
    batch = run_json([args.bench_bin, "batch", "--config", "configs/tiny.json", "--batch", "32",
                      "--threads", str(args.threads), "--reps", "50"] + set_args)
    if batch:
        result.update(batch)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help="run one PyTorch workload")
    parser.add_argument("--command", choices=["train", "infer"])
    parser.add_argument("--config")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--seq", type=int)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="threads for both frameworks")
    parser.add_argument("--bench-bin", default=os.path.join(ROOT, "build", "flashquad_bench"))
    parser.add_argument("--flashquad", default=os.path.join(ROOT, "build", "flashquad"))
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch runs")
    parser.add_argument("--json", default=os.path.join(ROOT, "bench", "results.json"))
    args = parser.parse_args()
    if args.worker:
        torch_worker(args)
        return

    use_torch = not args.no_torch and torch_available()
    only = set(filter(None, args.only.split(",")))
    work = f"/tmp/flashquad_bench_{os.getpid()}"
    os.makedirs(work, exist_ok=True)
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_model(),
              "cores": os.cpu_count(), "threads": args.threads,
              "load_start": load_average(), "workloads": {}}
    started = time.time()
    report["sgemm_start"] = sgemm(args)

    for name, command, config, batch, seq, steps, warmup, sets in WORKLOADS:
        if only and name not in only:
            continue
        print(f"{name}: load {load_average()}", file=sys.stderr, flush=True)
        ours_cmd = [args.bench_bin, command, "--config", f"configs/{config}.json",
                    "--batch", str(batch), "--seq", str(seq), "--steps", str(steps),
                    "--warmup", str(warmup), "--threads", str(args.threads)]
        for s in sets:
            ours_cmd += ["--set", s]
        entry = {"load": load_average(), "ours": run_json(ours_cmd)}
        if use_torch and not sets:  # the reference has no gradient checkpointing
            entry["torch"] = run_json([sys.executable, os.path.abspath(__file__), "--worker",
                                       "--command", command, "--config", config,
                                       "--batch", str(batch), "--seq", str(seq),
                                       "--steps", str(steps), "--warmup", str(warmup),
                                       "--threads", str(args.threads)])
        report["workloads"][name] = entry

    if not only or "data" in only:
        report["data"] = data_pipeline(args, work)
    if not only or "checkpoint" in only:
        report["checkpoint"] = run_json([args.bench_bin, "checkpoint", "--config",
                                         "configs/base.json", "--threads", str(args.threads),
                                         "--reps", "2", "--dir", f"{work}/ckpt"])
    report["sgemm_end"] = sgemm(args)
    report["load_end"] = load_average()
    report["seconds"] = round(time.time() - started, 1)
    subprocess.run(["rm", "-rf", work])

    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)
    print(markdown(report))


def markdown(r):
    ceilings = [s["median_gflops"] for s in (r.get("sgemm_start"), r.get("sgemm_end")) if s]
    ceiling = sum(ceilings) / len(ceilings) if ceilings else float("nan")
    out = [f"Date {r['date']}, CPU {r['cpu']}, {r['cores']} cores, {r['threads']} threads, "
           f"load average {r['load_start']} at start and {r['load_end']} at end, "
           f"{r['seconds']:.0f} s in all.", "",
           f"sgemm ceiling (OpenBLAS {r['sgemm_start']['blas_core'] if r.get('sgemm_start') else '?'}, "
           f"1024^3, median of 20): {', '.join(f'{c:.1f}' for c in ceilings)} GFLOP/s "
           f"(start, end); fractions below use their mean {ceiling:.1f}.", "",
           "| workload | ours step s | ours tokens/s | ours GFLOP/s | of sgemm | ours peak MiB "
           "| torch tokens/s | torch peak MiB | tokens/s ratio | memory ratio | load |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in r["workloads"].items():
        o, t = e.get("ours"), e.get("torch")
        row = [name]
        if o:
            row += [f"{o['median_step_s']:.3f}", f"{o['tokens_per_s']:.0f}", f"{o['gflops']:.1f}",
                    f"{o['gflops'] / ceiling:.0%}", f"{o['peak_rss_mib']:.0f}"]
        else:
            row += ["failed"] * 5
        if t:
            row += [f"{t['tokens_per_s']:.0f}", f"{t['peak_rss_mib']:.0f}"]
            row += [f"{o['tokens_per_s'] / t['tokens_per_s']:.2f}x" if o else "-",
                    f"{o['peak_rss_mib'] / t['peak_rss_mib']:.2f}x" if o else "-"]
        else:
            row += ["-"] * 4
        row.append(e["load"].split()[0])
        out.append("| " + " | ".join(row) + " |")
    base, ckpt = r["workloads"].get("base-train", {}), r["workloads"].get("base-train-ckpt", {})
    if base.get("ours") and ckpt.get("ours"):
        a, b = base["ours"], ckpt["ours"]
        out += ["", f"Gradient checkpointing, base 8 x 512 training: peak {b['peak_rss_mib']:.0f} MiB "
                    f"vs {a['peak_rss_mib']:.0f} MiB without ({b['peak_rss_mib'] / a['peak_rss_mib']:.2f}x), "
                    f"step {b['median_step_s']:.2f} s vs {a['median_step_s']:.2f} s."]
    d = r.get("data")
    if d:
        tiny = r["workloads"].get("tiny-train", {}).get("ours")
        line = f"Data: prepare {d.get('prepare_mb_per_s', float('nan')):.1f} MB/s on {d['corpus_mb']:.1f} MB"
        if "median_batch_s" in d:
            line += f"; building a 32 x 128 batch {d['median_batch_s'] * 1e3:.3f} ms"
            if tiny:
                line += f" ({d['median_batch_s'] / tiny['median_step_s']:.3%} of a tiny training step)"
        out += ["", line + "."]
    c = r.get("checkpoint")
    if c:
        out += ["", f"Checkpoint (base model + AdamW state, {c['file_mb']:.0f} MB): save "
                    f"{c['save_mb_per_s']:.0f} MB/s, load {c['load_mb_per_s']:.0f} MB/s."]
    return "\n".join(out)


if __name__ == "__main__":
    main()
