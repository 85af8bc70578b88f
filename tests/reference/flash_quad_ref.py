"""PyTorch reference of the FLASH-Quad masked language model that flashquad implements.

Written from the model description (not from another implementation) so that the C++ forward
pass and gradients can be checked against autograd. Parameter names are the dotted paths of the
public Hugging Face style FLASH-Quad models, so `state_dict()` names equal the names of an
exported model.safetensors, including the tied aliases `cls.predictions.decoder.weight` (the word
embedding) and `cls.predictions.decoder.bias` (`cls.predictions.bias`).

Dimension letters: B batch, T sequence length, D hidden size, E expanded width, S query/key
size, L max_position_embeddings. Needs only torch (tested with Debian's python3-torch 1.13).
"""

import json
import math
import struct

import torch
from torch import nn
import torch.nn.functional as F

DEFAULT_CONFIG = {
    "vocab_size": 12000,
    "hidden_size": 768,
    "num_hidden_layers": 24,
    "expansion_factor": 2,
    "s": 128,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "norm_type": "scale_norm",
    "layer_norm_eps": 1e-5,
    "hidden_act": "silu",
    "pad_token_id": 0,
    "initializer_range": 0.02,
    "dropout": 0.0,
    "attention_scale": "max_position",
    "gradient_checkpointing": False,
    "causal": False,
}

# Above this L the relative bias comes from two rotated vectors a, b instead of a table w.
ROTARY_BIAS_THRESHOLD = 512


def full_config(config):
    """Returns the config with defaults filled in; unknown keys raise ValueError."""
    ignored = {"architectures", "model_type", "transformers_version", "torch_dtype"}
    unknown = set(config) - set(DEFAULT_CONFIG) - ignored
    if unknown:
        raise ValueError(f"unknown model config keys: {sorted(unknown)}")
    out = dict(DEFAULT_CONFIG)
    out.update({k: v for k, v in config.items() if k in DEFAULT_CONFIG})
    return out


def activation(name):
    if name in ("silu", "swish"):
        return F.silu
    if name == "gelu":
        return F.gelu  # exact erf form
    if name == "relu":
        return F.relu
    raise ValueError(f"unknown hidden_act {name!r}")


def rotary_angles(n, m, dtype):
    """Angles p * g_j for p in [0, n) and g_j = 10000^(-j / (m/2)), j < m/2, as (T, m/2)."""
    half = m // 2
    j = torch.arange(half, dtype=torch.float64)
    g = torch.pow(10000.0, -j / half)
    p = torch.arange(n, dtype=torch.float64)
    return (p[:, None] * g[None, :]).to(dtype)


def rope(x):
    """Rotary position embedding over the last axis of x (..., T, m), positions 0..T-1."""
    n, m = x.shape[-2], x.shape[-1]
    angle = rotary_angles(n, m, x.dtype)
    cos, sin = torch.cos(angle), torch.sin(angle)
    x1, x2 = x[..., : m // 2], x[..., m // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def sinusoidal_positions(n, d, dtype):
    """Fixed table (T, D): sin(p f_j) for j < D/2, cos(p f_(j-D/2)) for the rest."""
    angle = rotary_angles(n, d, torch.float64)
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1).to(dtype)


class ScaleNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps) * scala, one scalar gain."""

    def __init__(self, eps):
        super().__init__()
        self.eps = eps
        self.scala = nn.Parameter(torch.ones(1))

    def forward(self, x):
        mean_square = (x * x).mean(dim=-1, keepdim=True)
        return x * torch.rsqrt(mean_square + self.eps) * self.scala


def make_norm(config):
    if config["norm_type"] == "scale_norm":
        return ScaleNorm(config["layer_norm_eps"])
    if config["norm_type"] == "layer_norm":
        return nn.LayerNorm(config["hidden_size"], eps=config["layer_norm_eps"])
    raise ValueError(f"unknown norm_type {config['norm_type']!r}")


class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config["hidden_size"]
        self.word_embeddings = nn.Embedding(config["vocab_size"], d,
                                            padding_idx=config["pad_token_id"])
        self.token_type_embeddings = nn.Embedding(config["type_vocab_size"], d)
        self.scaledsin_scalar = nn.Parameter(torch.tensor([1.0 / math.sqrt(d)]))
        self.LayerNorm = make_norm(config)
        self.dropout = nn.Dropout(config["dropout"])

    def forward(self, input_ids, token_type_ids):
        n, d = input_ids.shape[1], self.word_embeddings.embedding_dim
        pos = sinusoidal_positions(n, d, self.scaledsin_scalar.dtype)
        x = (self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
             + pos * self.scaledsin_scalar)
        return self.dropout(self.LayerNorm(x))


class GAU(nn.Module):
    """Gated attention unit: z = norm(x); u, v, base = split(act(z W_uv^T + b));
    q, k = rope(per-dimension scale and offset of base); A = relu(q k^T / c + rb)^2, masked;
    y = (u * (A v)) W_o^T + b_o + x."""

    def __init__(self, config):
        super().__init__()
        d, s = config["hidden_size"], config["s"]
        e = int(round(d * config["expansion_factor"]))
        self.e, self.s = e, s
        self.max_position = config["max_position_embeddings"]
        self.act = activation(config["hidden_act"])
        self.causal = config["causal"]
        self.uv = nn.Linear(d, 2 * e + s)
        self.weight = nn.Parameter(torch.empty(2, s))
        self.bias = nn.Parameter(torch.zeros(2, s))
        self.o = nn.Linear(e, d)
        self.LayerNorm = make_norm(config)
        # Only the relative-bias parameters that this L uses exist.
        if self.max_position <= ROTARY_BIAS_THRESHOLD:
            self.w = nn.Parameter(torch.empty(2 * self.max_position - 1))
        else:
            self.a = nn.Parameter(torch.empty(1, s))
            self.b = nn.Parameter(torch.empty(1, s))

    def relative_bias(self, n):
        """rb (T, T): w[j - i + L - 1], or rope(a)_i . rope(b)_j when L > 512."""
        if self.max_position <= ROTARY_BIAS_THRESHOLD:
            i = torch.arange(n)
            return self.w[i[None, :] - i[:, None] + self.max_position - 1]
        a = rope(self.a.expand(n, self.s))
        b = rope(self.b.expand(n, self.s))
        return a @ b.transpose(0, 1)

    def forward(self, x, mask, inv_scale):
        """x (B, T, D), mask (B, T) 0/1, inv_scale (B,) = 1/c. Returns y (B, T, D), A (B, T, T)."""
        n = x.shape[1]
        z = self.LayerNorm(x)
        t = self.act(self.uv(z))
        u, v, base = torch.split(t, [self.e, self.e, self.s], dim=-1)
        q = rope(base * self.weight[0] + self.bias[0])
        k = rope(base * self.weight[1] + self.bias[1])
        qk = q @ k.transpose(-1, -2)
        A = torch.square(F.relu(qk * inv_scale[:, None, None] + self.relative_bias(n)))
        A = A * mask[:, :, None] * mask[:, None, :]
        if self.causal:
            A = torch.tril(A)
        y = self.o(u * (A @ v)) + x
        return y, A


class Encoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([GAU(config) for _ in range(config["num_hidden_layers"])])


class FlashQuadModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        cfg = self.config
        if attention_mask is None:
            attention_mask = (input_ids != cfg["pad_token_id"]).long()
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        dtype = self.embeddings.scaledsin_scalar.dtype
        mask = attention_mask.to(dtype)
        if cfg["attention_scale"] == "seq_len":
            # Each row's own count of real tokens; an all-padding row is masked out anyway.
            inv_scale = 1.0 / mask.sum(dim=-1).clamp(min=1.0)
        else:
            inv_scale = torch.full((input_ids.shape[0],), 1.0 / cfg["max_position_embeddings"],
                                   dtype=dtype)
        h = self.embeddings(input_ids, token_type_ids)
        hidden_states, attentions = [h], []
        for layer in self.encoder.layer:
            h, A = layer(h, mask, inv_scale)
            hidden_states.append(h)
            attentions.append(A)
        return h, hidden_states, attentions


class PredictionHeadTransform(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config["hidden_size"], config["hidden_size"])
        self.act = activation(config["hidden_act"])
        self.LayerNorm = make_norm(config)

    def forward(self, h):
        return self.LayerNorm(self.act(self.dense(h)))


class LMPredictionHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.transform = PredictionHeadTransform(config)
        self.decoder = nn.Linear(config["hidden_size"], config["vocab_size"])
        self.bias = nn.Parameter(torch.zeros(config["vocab_size"]))
        self.decoder.bias = self.bias

    def forward(self, h):
        return self.decoder(self.transform(h))


class OnlyMLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.predictions = LMPredictionHead(config)


class FlashQuadForMaskedLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = full_config(config)
        self.flash_quad = FlashQuadModel(self.config)
        self.cls = OnlyMLMHead(self.config)
        # The decoder weight is the word embedding: one tensor, both uses add to its gradient.
        self.cls.predictions.decoder.weight = self.flash_quad.embeddings.word_embeddings.weight
        self.init_weights()

    @torch.no_grad()
    def init_weights(self, generator=None):
        """Initial values: N(0, initializer_range) weights, zero biases, unit gains, zero pad
        row, scaledsin_scalar = 1/sqrt(D)."""
        std = self.config["initializer_range"]
        for name, p in self.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if name.endswith("scaledsin_scalar"):
                p.fill_(1.0 / math.sqrt(self.config["hidden_size"]))
            elif "LayerNorm" in name:
                p.fill_(1.0 if leaf in ("scala", "weight") else 0.0)
            elif leaf == "bias":
                p.zero_()
            else:
                p.normal_(0.0, std, generator=generator)
        self.flash_quad.embeddings.word_embeddings.weight[self.config["pad_token_id"]] = 0.0

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        """Returns a dict with logits (B, T, vocab), loss (mean over labels != -100, or None),
        last_hidden_state, hidden_states and attentions."""
        h, hidden_states, attentions = self.flash_quad(input_ids, attention_mask, token_type_ids)
        logits = self.cls.predictions(h)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                   ignore_index=-100)
        return {"logits": logits, "loss": loss, "last_hidden_state": h,
                "hidden_states": hidden_states, "attentions": attentions}


# ---- safetensors without the safetensors package ----

_DTYPES = {"F32": (torch.float32, 4, "f"), "I32": (torch.int32, 4, "i"),
           "F64": (torch.float64, 8, "d"), "I64": (torch.int64, 8, "q")}


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (float tensors as F32, integer tensors as I32) in insertion order."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.is_floating_point():
            dtype, fmt = "F32", "f"
            values = t.to(torch.float32).reshape(-1).tolist()
        else:
            dtype, fmt = "I32", "i"
            values = t.to(torch.int64).reshape(-1).tolist()
        blob = struct.pack(f"<{len(values)}{fmt}", *values)
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode("utf-8"))
        for blob in blobs:
            f.write(blob)


def load_safetensors(path):
    """Reads F32/I32/F64/I64 tensors into {name: tensor} (dtypes kept), in offset order."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    header.pop("__metadata__", None)
    out = {}
    for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if entry["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {entry['dtype']}")
        torch_dtype, size, fmt = _DTYPES[entry["dtype"]]
        begin, end = entry["data_offsets"]
        count = (end - begin) // size
        values = struct.unpack(f"<{count}{fmt}", data[begin:end])
        out[name] = torch.tensor(values, dtype=torch_dtype).reshape(entry["shape"])
    return out
