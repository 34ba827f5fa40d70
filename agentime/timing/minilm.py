"""A lean forward pass of the MiniLM sentence encoder (BERT: 6 layers, width 384, 12 heads) over packed texts.

The texts of one call go into one sequence, each with its own positions and attending only to itself, so
no work goes to padding and each weight matrix is read once per call: a decision's three or four short
texts cost one pass, not one padded batch. Linear layers run in fp32 or in int8 (`torch._int_mm`): weights
quantized per output channel once at load, activations per token at run time. Per-token scales and exact
int32 sums keep a text's embedding bit-identical whatever it is packed with and however many threads run,
which the per-tensor activation scale of `torch.ao.quantization.quantize_dynamic` would not. Weights are
read from the encoder package's `model.safetensors`; `encoder.py` imports this module (and torch) lazily.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

LAYER_NORM_EPS = 1e-12


class Int8Linear:
    """`x @ weight.T + bias` with int8 weights (one scale per output channel) and int8 activations (one
    scale per token), accumulated exactly in int32."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        self.weight_t = torch.round(weight / scale[:, None]).to(torch.int8).t().contiguous()
        self.scale = scale.float()
        self.bias = bias.float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x_scale = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12).div_(127.0)
        x_int8 = torch.div(x, x_scale).round_().to(torch.int8)
        return int8_matmul(x_int8, self.weight_t).float().mul_(x_scale).mul_(self.scale).add_(self.bias)


def int8_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The exact int32 product of two int8 matrices: torch's int8 kernel (`torch._int_mm`, not a public API)
    where this build has it for these shapes, else a float64 product, exact at these sizes (|sum| < 2**53)."""
    int_mm = getattr(torch, "_int_mm", None)
    if int_mm is not None:
        try:
            return int_mm(a, b)
        except RuntimeError:
            pass
    return (a.double() @ b.double()).to(torch.int32)


class Fp32Linear:
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        self.weight, self.bias = weight.float().contiguous(), bias.float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


@dataclass
class EncoderLayer:
    qkv: Int8Linear | Fp32Linear  # query, key and value projections fused into one (384 -> 3 x 384)
    attention_out: Int8Linear | Fp32Linear
    attention_norm: tuple[torch.Tensor, torch.Tensor]
    intermediate: Int8Linear | Fp32Linear
    output: Int8Linear | Fp32Linear
    output_norm: tuple[torch.Tensor, torch.Tensor]


class PackedMiniLM:
    """`embed(token_ids) -> (N, 384)` mean-pooled, unit-norm sentence embeddings of N token-id lists,
    run as one packed sequence. `int8=False` computes in fp32 and matches transformers' BertModel to ~1e-6."""

    def __init__(self, tensors: dict[str, torch.Tensor], num_heads: int, int8: bool):
        linear = Int8Linear if int8 else Fp32Linear
        self.int8 = int8
        self.num_heads = num_heads
        self.word_embeddings = tensors["embeddings.word_embeddings.weight"].float()
        self.position_embeddings = tensors["embeddings.position_embeddings.weight"].float()
        self.token_type_embedding = tensors["embeddings.token_type_embeddings.weight"][0].float()
        self.embedding_norm = (tensors["embeddings.LayerNorm.weight"], tensors["embeddings.LayerNorm.bias"])
        self.layers = []
        index = 0
        while f"encoder.layer.{index}.attention.self.query.weight" in tensors:
            prefix = f"encoder.layer.{index}."
            get = lambda name: tensors[prefix + name]  # noqa: E731
            self.layers.append(
                EncoderLayer(
                    qkv=linear(
                        torch.cat([get(f"attention.self.{p}.weight") for p in ("query", "key", "value")]),
                        torch.cat([get(f"attention.self.{p}.bias") for p in ("query", "key", "value")]),
                    ),
                    attention_out=linear(get("attention.output.dense.weight"), get("attention.output.dense.bias")),
                    attention_norm=(get("attention.output.LayerNorm.weight"), get("attention.output.LayerNorm.bias")),
                    intermediate=linear(get("intermediate.dense.weight"), get("intermediate.dense.bias")),
                    output=linear(get("output.dense.weight"), get("output.dense.bias")),
                    output_norm=(get("output.LayerNorm.weight"), get("output.LayerNorm.bias")),
                )
            )
            index += 1
        self.width = self.word_embeddings.shape[1]
        self.max_positions = self.position_embeddings.shape[0]

    @classmethod
    def load(cls, folder: str | Path, int8: bool) -> "PackedMiniLM":
        """The BERT encoder in `folder` (config.json, model.safetensors); only what this pass implements."""
        from safetensors.torch import load_file

        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        supported = (
            config.get("model_type") == "bert"
            and config.get("hidden_act", "gelu") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and config["hidden_size"] % config["num_attention_heads"] == 0
        )
        if not supported:
            raise ValueError(f"{folder}: not a BERT encoder with absolute positions and GELU")
        return cls(load_file(str(folder / "model.safetensors")), config["num_attention_heads"], int8)

    def _layer_norm(self, x: torch.Tensor, norm: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return F.layer_norm(x, (self.width,), norm[0], norm[1], LAYER_NORM_EPS)

    def _attention(self, x: torch.Tensor, layer: EncoderLayer, lengths: list[int]) -> torch.Tensor:
        """Self-attention within each text: one unmasked call per text (the fast kernel; a block-diagonal
        mask would send the whole sequence down the slow masked path)."""
        head_dim = self.width // self.num_heads
        # (3, 1, heads, tokens, head_dim): the fused CPU kernel wants 4-D inputs
        qkv = layer.qkv(x).view(x.shape[0], 3, 1, self.num_heads, head_dim).permute(1, 2, 3, 0, 4)
        contexts = [
            F.scaled_dot_product_attention(part[0], part[1], part[2]) for part in qkv.split(lengths, dim=3)
        ]
        return torch.cat(contexts, dim=2)[0].transpose(0, 1).reshape(x.shape[0], self.width)

    def embed(self, token_ids: list[list[int]]) -> torch.Tensor:
        lengths = [len(ids) for ids in token_ids]
        if min(lengths) < 1 or max(lengths) > self.max_positions:
            raise ValueError(f"each text needs 1 to {self.max_positions} tokens, got {min(lengths)}-{max(lengths)}")
        flat = torch.tensor([i for ids in token_ids for i in ids], dtype=torch.long)
        positions = torch.cat([torch.arange(n) for n in lengths])
        segment = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
        x = self.word_embeddings[flat] + self.position_embeddings[positions] + self.token_type_embedding
        x = self._layer_norm(x, self.embedding_norm)
        for layer in self.layers:
            x = self._layer_norm(x + layer.attention_out(self._attention(x, layer, lengths)), layer.attention_norm)
            x = self._layer_norm(x + layer.output(F.gelu(layer.intermediate(x))), layer.output_norm)
        # mean over each text's tokens (special tokens included, as sentence-transformers pools)
        pooled = torch.zeros(len(lengths), self.width).index_add_(0, segment, x)
        pooled /= torch.tensor(lengths, dtype=torch.float32)[:, None]
        return F.normalize(pooled, dim=-1)

