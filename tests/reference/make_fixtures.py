"""Writes the parity fixtures of tests/nn/test_parity.cpp into tests/reference/fixtures/.

Run with the Python that has torch (Debian's python3-torch 1.13 is only on /usr/bin/python3):

    /usr/bin/python3 tests/reference/make_fixtures.py

Each case NAME gives four files:
  NAME.config.json            {"model": {...}}, a run config for `flashquad forward --config`
  NAME.batch.json             input_ids, labels and optionally attention_mask, token_type_ids
  NAME.weights.safetensors    every parameter (F32), with the tied decoder aliases
  NAME.expected.safetensors   logits, loss, last_hidden_state, attention.I for each layer,
                              grad.PARAM for each parameter, from the reference in float64, and
                              grad_terms.PARAM for each one-element parameter (see below)

The weights are random with larger spreads than the initialisation (O(1) activations, relative
bias values of both signs, non-unit norm gains, non-zero biases and a non-zero padding row) so
that every term of the forward pass and every gradient is exercised. The reference runs in
float64 on the float32 weights, so the expected values are the exact result up to float64
rounding.

The gradient of a one-element parameter (a ScaleNorm gain, scaledsin_scalar) is a sum over every
position and feature, and those terms can cancel, so the sum alone is no measure of the float32
rounding to expect. grad_terms.PARAM is the sum of the absolute values of the terms; the parity
test measures the error of such a gradient relative to it.

Output is deterministic: the same torch version writes the same bytes.
"""

import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flash_quad_ref as ref  # noqa: E402

FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

SMALL = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2, "expansion_factor": 2,
         "s": 16, "max_position_embeddings": 64}

# name -> (model config, batch description)
CASES = {
    # The main case: scale_norm, silu, c = L, default mask from pad ids, token types, padding.
    "base": (
        {"vocab_size": 300, "hidden_size": 64, "num_hidden_layers": 2, "expansion_factor": 1.5,
         "s": 32, "max_position_embeddings": 64},
        {"lengths": [16, 11], "token_types": True, "explicit_mask": False},
    ),
    # layer_norm, gelu, c = own length, explicit mask with a pad id inside a real sequence,
    # three token types, pad_token_id 1.
    "layer_norm_seq_len_gelu": (
        dict(SMALL, norm_type="layer_norm", hidden_act="gelu", attention_scale="seq_len",
             pad_token_id=1, type_vocab_size=3),
        {"lengths": [10, 7, 4], "token_types": True, "explicit_mask": True},
    ),
    # L > 512: the relative bias comes from rotated a, b; short sequences.
    "rotary_bias": (
        dict(SMALL, max_position_embeddings=520, attention_scale="seq_len"),
        {"lengths": [12, 9], "token_types": False, "explicit_mask": False},
    ),
    # L > 512 with c = L, layer_norm.
    "rotary_bias_max_position": (
        dict(SMALL, max_position_embeddings=520, norm_type="layer_norm", num_hidden_layers=1),
        {"lengths": [8, 5], "token_types": True, "explicit_mask": False},
    ),
    # relu, layer_norm, c = L, sequences exactly L long (first and last relative offsets used).
    "relu_full_length": (
        dict(SMALL, hidden_act="relu", norm_type="layer_norm", max_position_embeddings=24),
        {"lengths": [24], "token_types": False, "explicit_mask": False},
    ),
    # Causal attention with padding, swish spelling of silu.
    "causal": (
        dict(SMALL, causal=True, hidden_act="swish"),
        {"lengths": [12, 8], "token_types": True, "explicit_mask": False},
    ),
}


def spread_weights(model, gen):
    """Replaces the initial values by the fixture's random values (see the module docstring)."""
    d = model.config["hidden_size"]
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]

            def normal(std, mean=0.0):
                return torch.randn(p.shape, generator=gen) * std + mean

            if name.endswith("word_embeddings.weight"):
                p.copy_(normal(0.3))  # the pad row too: its values must be used, not assumed
            elif name.endswith("token_type_embeddings.weight"):
                p.copy_(normal(0.3))
            elif name.endswith("scaledsin_scalar"):
                p.fill_(0.7)
            elif "LayerNorm" in name:
                p.copy_(normal(0.2, 1.0) if leaf in ("scala", "weight") else normal(0.1))
            elif name.endswith("uv.weight") or name.endswith("dense.weight"):
                p.copy_(normal(1.0 / math.sqrt(d)))
            elif name.endswith("o.weight"):
                p.copy_(normal(1.0 / math.sqrt(p.shape[1])))
            elif leaf == "weight":  # per-dimension scale of q and k
                p.copy_(normal(0.5, 1.0))
            elif leaf in ("w", "a", "b"):
                p.copy_(normal(0.4))
            elif leaf == "bias":
                p.copy_(normal(0.1))
            else:
                raise ValueError(f"no fixture value rule for parameter {name}")


def make_batch(config, spec, gen):
    """Returns the batch as nested lists (JSON) and as tensors."""
    vocab, pad = config["vocab_size"], config.get("pad_token_id", 0)
    types = config.get("type_vocab_size", 2)
    n = max(spec["lengths"])
    ids, mask, token_types, labels = [], [], [], []
    for row, length in enumerate(spec["lengths"]):
        real = torch.randint(0, vocab - 1, (length,), generator=gen)
        real = real + (real >= pad).long()  # every id except pad
        row_ids = real.tolist() + [pad] * (n - length)
        if spec["explicit_mask"] and row == 0 and length > 3:
            row_ids[2] = pad  # a pad id at a real position: the explicit mask keeps it
        ids.append(row_ids)
        mask.append([1] * length + [0] * (n - length))
        token_types.append(torch.randint(0, types, (n,), generator=gen).tolist()
                           if spec["token_types"] else [0] * n)
        row_labels = [-100] * n
        chosen = torch.rand(length, generator=gen) < 0.4
        chosen[0] = True  # at least one target per row
        for t in range(length):
            if chosen[t]:
                row_labels[t] = int(torch.randint(0, vocab, (1,), generator=gen))
        labels.append(row_labels)
    batch = {"input_ids": ids, "labels": labels}
    if spec["explicit_mask"]:
        batch["attention_mask"] = mask
    if spec["token_types"]:
        batch["token_type_ids"] = token_types
    tensors = {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}
    return batch, tensors


def track_gradient_terms(model):
    """Hooks that record, for each one-element parameter, the sum of |terms| of its gradient.
    Returns {parameter name: list that receives the value during backward}."""
    terms = {}

    def track(name, tensor, factor):
        store = terms.setdefault(name, [])
        factor = factor.detach()
        tensor.register_hook(lambda g: store.append(float((g * factor).abs().sum())))

    for module_name, module in model.named_modules():
        if isinstance(module, ref.ScaleNorm):
            # out = normalized * scala, so d scala = sum(d out * normalized).
            def hook(mod, inputs, out, name=module_name + ".scala"):
                x = inputs[0]
                track(name, out, x * torch.rsqrt((x * x).mean(-1, keepdim=True) + mod.eps))
            module.register_forward_hook(hook)
        if isinstance(module, ref.Embeddings):
            # x = word + token_type + pos * scalar, so d scalar = sum(d x * pos).
            def hook(mod, inputs, out, name=module_name + ".scaledsin_scalar"):
                x = inputs[0]
                n, d = x.shape[1], x.shape[2]
                track(name, x, ref.sinusoidal_positions(n, d, x.dtype).expand_as(x))
            module.LayerNorm.register_forward_hook(hook)
    return terms


def make_case(name, config, spec, seed):
    gen = torch.Generator().manual_seed(seed)
    model = ref.FlashQuadForMaskedLM(config)
    spread_weights(model, gen)
    batch_json, batch = make_batch(model.config, spec, gen)

    # Weights as stored (float32), including the tied aliases that state_dict lists.
    weights = {k: v.float() for k, v in model.state_dict().items()}

    model = model.double()
    gradient_terms = track_gradient_terms(model)
    out = model(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"),
                batch["labels"])
    out["loss"].backward()

    expected = {"logits": out["logits"], "loss": out["loss"].reshape([]),
                "last_hidden_state": out["last_hidden_state"]}
    for i, A in enumerate(out["attentions"]):
        expected[f"attention.{i}"] = A
    for pname, p in model.named_parameters():
        expected[f"grad.{pname}"] = p.grad
        if p.numel() == 1:
            (value,) = gradient_terms[pname]
            expected[f"grad_terms.{pname}"] = torch.tensor([value])

    base = os.path.join(FIXTURE_DIR, name)
    with open(base + ".config.json", "w") as f:
        json.dump({"model": config}, f, indent=2)
        f.write("\n")
    with open(base + ".batch.json", "w") as f:
        json.dump(batch_json, f)
        f.write("\n")
    ref.save_safetensors(base + ".weights.safetensors", weights, {"format": "pt"})
    ref.save_safetensors(base + ".expected.safetensors", expected,
                         {"source": "tests/reference/make_fixtures.py", "torch": torch.__version__})
    return float(out["loss"])


def main():
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    torch.set_num_threads(1)
    for index, (name, (config, spec)) in enumerate(CASES.items()):
        loss = make_case(name, config, spec, seed=1000 + index)
        print(f"{name}: loss {loss:.6f}")
    total = sum(os.path.getsize(os.path.join(FIXTURE_DIR, f)) for f in os.listdir(FIXTURE_DIR))
    print(f"{len(CASES)} cases, {total} bytes in {FIXTURE_DIR}")


if __name__ == "__main__":
    main()
