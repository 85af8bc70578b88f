#!/usr/bin/python3
"""Writes tests/reference/fixtures/adamw_cases.json: AdamW trajectories computed with PyTorch.

Each case lists the initial parameters, the gradient of each parameter at each step (null means
the parameter has no gradient in that step and must be skipped), the learning rate of each step,
and the parameters after each step plus the final moments.

"adamw_torch" cases run torch.optim.AdamW (foreach off, the torch 1.13 default). "adamw_hf"
cases run the update of transformers.AdamW, written out below with the same float32 tensor ops:
    m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
    p -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v) + eps);  then p -= lr*wd*p
Parameters whose names contain a no-decay pattern form a second group with weight decay 0.

Run with the system interpreter that has torch: /usr/bin/python3 tests/reference/adamw_fixture.py
"""
import json
import math
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "adamw_cases.json")

SHAPES = [
    ("encoder.layer.0.uv.weight", (3, 4)),
    ("encoder.layer.0.uv.bias", (4,)),
    ("encoder.layer.0.LayerNorm.scala", (1,)),
    ("encoder.layer.1.LayerNorm.weight", (5,)),
    ("embeddings.word_embeddings.weight", (2, 3)),
]
STEPS = 6
# The LayerNorm weight receives no gradient in step 3 (index 2).
SKIPPED = {("encoder.layer.1.LayerNorm.weight", 2)}


def make_inputs(seed):
    gen = torch.Generator().manual_seed(seed)
    params = {name: torch.randn(shape, generator=gen) for name, shape in SHAPES}
    grads = []
    for step in range(STEPS):
        step_grads = {}
        for i, (name, shape) in enumerate(SHAPES):
            if (name, step) in SKIPPED:
                step_grads[name] = None
                continue
            # Mixed magnitudes, including values far below eps, so eps placement matters.
            scale = [1.0, 1e-3, 0.5, 0.1, 1e-7][i]
            step_grads[name] = torch.randn(shape, generator=gen) * scale
        grads.append(step_grads)
    return params, grads


def hf_adamw_step(params, states, groups, lr, beta1, beta2, eps):
    for group_names, weight_decay in groups:
        for name in group_names:
            p = params[name]
            if p.grad is None:
                continue
            grad = p.grad
            state = states.setdefault(name, {"step": 0, "exp_avg": torch.zeros_like(p),
                                             "exp_avg_sq": torch.zeros_like(p)})
            state["step"] += 1
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.mul_(beta1).add_(grad, alpha=1.0 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
            denom = exp_avg_sq.sqrt().add_(eps)
            bias_correction1 = 1.0 - beta1 ** state["step"]
            bias_correction2 = 1.0 - beta2 ** state["step"]
            step_size = lr * math.sqrt(bias_correction2) / bias_correction1
            with torch.no_grad():
                p.addcdiv_(exp_avg, denom, value=-step_size)
                if weight_decay > 0.0:
                    p.add_(p, alpha=-lr * weight_decay)


def run_case(case_name, optim, weight_decay, no_decay, lrs, seed, beta1=0.9, beta2=0.999, eps=1e-6):
    init, grads = make_inputs(seed)
    params = {name: init[name].clone().requires_grad_(True) for name, _ in SHAPES}
    names = [name for name, _ in SHAPES]
    decay_names = [n for n in names if not any(pat in n for pat in no_decay)]
    plain_names = [n for n in names if any(pat in n for pat in no_decay)]
    groups = [(decay_names, weight_decay), (plain_names, 0.0)]

    if optim == "adamw_torch":
        torch_groups = [{"params": [params[n] for n in g], "weight_decay": wd} for g, wd in groups if g]
        opt = torch.optim.AdamW(torch_groups, lr=lrs[0], betas=(beta1, beta2), eps=eps, foreach=False)
    hf_states = {}

    history = []
    for step in range(STEPS):
        for name in names:
            g = grads[step][name]
            params[name].grad = None if g is None else g.clone()
        if optim == "adamw_torch":
            for group in opt.param_groups:
                group["lr"] = lrs[step]
            opt.step()
        else:
            hf_adamw_step(params, hf_states, groups, lrs[step], beta1, beta2, eps)
        history.append({n: params[n].detach().flatten().tolist() for n in names})

    final_state = {}
    for name in names:
        if optim == "adamw_torch":
            st = opt.state[params[name]]
            final_state[name] = {"step": int(st["step"].item()),
                                 "exp_avg": st["exp_avg"].flatten().tolist(),
                                 "exp_avg_sq": st["exp_avg_sq"].flatten().tolist()}
        else:
            st = hf_states[name]
            final_state[name] = {"step": st["step"],
                                 "exp_avg": st["exp_avg"].flatten().tolist(),
                                 "exp_avg_sq": st["exp_avg_sq"].flatten().tolist()}

    return {
        "name": case_name,
        "optim": optim,
        "beta1": beta1, "beta2": beta2, "eps": eps,
        "weight_decay": weight_decay,
        "no_decay": no_decay,
        "lrs": lrs,
        "params": [{"name": n, "shape": list(s), "init": init[n].flatten().tolist()} for n, s in SHAPES],
        "grads": [[None if grads[k][n] is None else grads[k][n].flatten().tolist() for n in names]
                  for k in range(STEPS)],
        "expected": [[history[k][n] for n in names] for k in range(STEPS)],
        "final_state": [final_state[n] for n in names],
    }


def main():
    # A linear warmup-then-decay trajectory: the first update has lr 0, as in the Trainer.
    warmup_lrs = [0.0, 0.005, 0.01, 0.0075, 0.005, 0.0025]
    flat_lrs = [0.01] * STEPS
    cases = [
        run_case("torch_decay", "adamw_torch", 0.1, ["bias", "LayerNorm."], warmup_lrs, seed=1),
        run_case("torch_no_decay", "adamw_torch", 0.0, ["bias", "LayerNorm."], flat_lrs, seed=2),
        run_case("torch_decay_hf_patterns", "adamw_torch", 0.3, ["bias", "LayerNorm.weight"],
                 flat_lrs, seed=3, beta1=0.8, beta2=0.95, eps=1e-8),
        run_case("hf_decay", "adamw_hf", 0.1, ["bias", "LayerNorm."], warmup_lrs, seed=4),
        run_case("hf_no_decay", "adamw_hf", 0.0, ["bias", "LayerNorm."], flat_lrs, seed=5),
    ]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"torch_version": torch.__version__, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
