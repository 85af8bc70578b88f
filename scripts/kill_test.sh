#!/usr/bin/env bash
# Kills the trainer with SIGKILL at random moments while it checkpoints every step, then checks
# that the run folder still has a checkpoint that loads (the trainer resumes from it).
# Usage: scripts/kill_test.sh [KILLS] (default 20). Needs build/flashquad (run `make` first).
set -euo pipefail

kills="${1:-20}"
bin="$(pwd)/build/flashquad"
[ -x "$bin" ] || { echo "kill_test: $bin not found; run make first" >&2; exit 1; }
work="$(mktemp -d /tmp/flashquad_kill.XXXXXX)"
trap 'rm -rf "$work"' EXIT

head -60 tests/data/chinese_poetry_sample.txt > "$work/corpus.txt"
cat > "$work/config.json" <<JSON
{"model": {"vocab_size": 2000, "hidden_size": 64, "num_hidden_layers": 2, "s": 32,
           "max_position_embeddings": 64},
 "data": {"train_files": ["$work/corpus.txt"], "vocab": "$work/vocab.txt",
          "shard_dir": "$work/shards", "max_seq_length": 64, "valid_fraction": 0.1},
 "train": {"output_dir": "$work/run", "batch_size": 4, "max_steps": 100000, "warmup_steps": 0,
           "learning_rate": 1e-3, "logging_steps": 1, "eval_steps": 0, "save_steps": 1,
           "keep_checkpoints": 2, "threads": 1}}
JSON
"$bin" prepare --config "$work/config.json" > /dev/null

for i in $(seq 1 "$kills"); do
  resume=()
  [ "$i" -gt 1 ] && resume=(--resume auto)
  "$bin" train --config "$work/config.json" "${resume[@]}" > "$work/out.$i" 2>&1 &
  pid=$!
  # A random moment between 0.3 and 1.5 seconds after the start.
  sleep "0.$((RANDOM % 9 + 3))$((RANDOM % 10))"
  [ $((RANDOM % 3)) -eq 0 ] && sleep 0.7
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  newest=$(ls "$work/run" | grep -E '^checkpoint-[0-9]+\.fqck$' | sort -t- -k2 -n | tail -1 || true)
  if [ -z "$newest" ]; then
    if [ "$i" -eq 1 ]; then continue; fi  # killed before the first checkpoint of the run
    echo "kill_test: kill $i left no checkpoint in $work/run" >&2
    exit 1
  fi
  step=$("$bin" eval --config "$work/config.json" --json 2>/dev/null | grep '"step"' | tr -dc 0-9)
  if [ -z "$step" ]; then
    echo "kill_test: kill $i: no loadable checkpoint; eval output:" >&2
    "$bin" eval --config "$work/config.json" >&2 || true
    exit 1
  fi
  echo "kill $i: newest loadable checkpoint at step $step"
done
echo "kill_test: $kills kills, a loadable checkpoint survived every one"
