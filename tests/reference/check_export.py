"""Loads a folder written by `flashquad export` into the PyTorch reference with strict name
checking, and optionally compares the reference's forward pass with `flashquad forward` output.

    /usr/bin/python3 tests/reference/check_export.py DIR \
        [--batch batch.json --forward out.safetensors]

DIR must hold config.json and model.safetensors (and vocab.txt, which is only counted). With
--batch and --forward, the reference runs the batch in float64 on the exported weights and the
logits and loss of the `flashquad forward` output (same weights, same batch) must agree within
1e-5 relative to the largest logit magnitude. Exits with status 1 on any mismatch.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flash_quad_ref as ref  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", help="folder written by flashquad export")
    parser.add_argument("--batch", help="batch JSON given to flashquad forward")
    parser.add_argument("--forward", help="output .safetensors of flashquad forward")
    args = parser.parse_args()

    with open(os.path.join(args.dir, "config.json")) as f:
        config = json.load(f)
    model = ref.FlashQuadForMaskedLM(config)
    state = ref.load_safetensors(os.path.join(args.dir, "model.safetensors"))
    # strict=True raises on any missing or unexpected name and on any shape mismatch.
    result = model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    print(f"strict load: {len(state)} tensors, missing {result.missing_keys}, "
          f"unexpected {result.unexpected_keys}")

    # The tied names must hold the same values as the tensors they alias.
    for alias, target in [("cls.predictions.decoder.weight",
                           "flash_quad.embeddings.word_embeddings.weight"),
                          ("cls.predictions.decoder.bias", "cls.predictions.bias")]:
        if not torch.equal(state[alias], state[target]):
            print(f"FAIL: {alias} differs from {target}")
            return 1
    print("tied aliases equal their targets")

    vocab_path = os.path.join(args.dir, "vocab.txt")
    if os.path.exists(vocab_path):
        with open(vocab_path, encoding="utf-8") as f:
            print(f"vocab.txt: {sum(1 for _ in f)} lines")

    if args.batch and args.forward:
        with open(args.batch) as f:
            batch = json.load(f)
        tensors = {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}
        model = model.double()
        with torch.no_grad():
            out = model(tensors["input_ids"], tensors.get("attention_mask"),
                        tensors.get("token_type_ids"), tensors.get("labels"))
        cpp = ref.load_safetensors(args.forward)
        logits = out["logits"]
        scale = float(logits.abs().max())
        logits_error = float((cpp["logits"].double() - logits).abs().max()) / scale
        print(f"logits: max relative error {logits_error:.3g}")
        ok = logits_error <= 1e-5
        if out["loss"] is not None and "loss" in cpp:
            loss_error = abs(float(cpp["loss"]) - float(out["loss"])) / abs(float(out["loss"]))
            print(f"loss: reference {float(out['loss']):.6f}, flashquad {float(cpp['loss']):.6f}, "
                  f"relative error {loss_error:.3g}")
            ok = ok and loss_error <= 1e-5
        if not ok:
            print("FAIL: flashquad forward differs from the reference")
            return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
