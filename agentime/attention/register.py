"""Plugging the sparse kernel into transformers under the name `agentime_sparse`.

`register_sparse_attention(config)` adds an attention function to `AttentionInterface` and transformers' SDPA
mask builder to `AttentionMaskInterface` (without it, padding masks would be dropped). A model then uses the
kernel with `attn_implementation="agentime_sparse"` (or a per-part dict for composite VLMs). Frame boundaries
come from `frame_boundaries(...)` (see `context.py`). Cases the kernel does not cover (training dropout, float
or additive masks, position biases, soft-capping) go to transformers' own SDPA function with one warning.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from agentime.attention.config import ATTENTION_NAME, SparseAttentionConfig
from agentime.attention.context import current_frame_layout
from agentime.attention.kernel import sparse_attention, warn_once

_REGISTERED: dict[str, SparseAttentionConfig] = {}


def _transformers_sdpa(module, query, key, value, attention_mask, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def make_attention_forward(config: SparseAttentionConfig) -> Callable:
    """An attention function with transformers' calling convention, bound to `config`."""

    def agentime_sparse_attention_forward(
        module: torch.nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        dropout: float = 0.0,
        scaling: float | None = None,
        is_causal: bool | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, None]:
        unsupported = None
        if dropout and module.training:
            unsupported = "dropout during training"
        elif kwargs.get("position_bias") is not None:
            unsupported = "position biases"
        elif kwargs.get("softcap") is not None:
            unsupported = "soft-capping"
        elif attention_mask is not None and attention_mask.dtype != torch.bool:
            unsupported = "additive (non-boolean) masks"
        if unsupported is not None:
            warn_once(f"hf:{unsupported}", f"agentime sparse attention does not support {unsupported}; using SDPA")
            return _transformers_sdpa(
                module,
                query,
                key,
                value,
                attention_mask,
                dropout=dropout,
                scaling=scaling,
                is_causal=is_causal,
                **kwargs,
            )

        module_causal = bool(getattr(module, "is_causal", True))
        causal = (is_causal if is_causal is not None else module_causal) and attention_mask is None
        q_len, k_len = query.shape[2], key.shape[2]
        if causal and 1 < q_len < k_len:
            # no mask with more keys than queries only happens for an empty static cache: keys beyond the
            # queries are unused slots (transformers' SDPA path crops them the same way)
            key, value = key[:, :, :q_len], value[:, :, :q_len]
            k_len = q_len

        spans = globals_ = None
        layout = current_frame_layout()
        if layout is not None and module_causal and (layout.seq_len is None or k_len >= layout.seq_len):
            layout = layout.for_batch(query.shape[0])
            spans, globals_ = layout.spans, layout.global_positions

        out = sparse_attention(
            query,
            key,
            value,
            config,
            causal=causal,
            attention_mask=attention_mask,
            scaling=scaling,
            frame_spans=spans,
            global_positions=globals_,
        )
        return out.transpose(1, 2).contiguous(), None

    return agentime_sparse_attention_forward


def register_sparse_attention(config: SparseAttentionConfig | None = None, name: str = ATTENTION_NAME) -> str:
    """Register the kernel (with these settings) under `name` in transformers; returns the name.

    Registering again replaces the settings for models created afterwards and for existing ones (the lookup
    happens at each forward call). Use different names to run parts or models with different settings.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    config = config or SparseAttentionConfig()
    AttentionInterface.register(name, make_attention_forward(config))
    AttentionMaskInterface.register(name, sdpa_mask)
    _REGISTERED[name] = config
    return name


def registered_config(name: str = ATTENTION_NAME) -> SparseAttentionConfig | None:
    """The settings last registered under `name`, or None."""
    return _REGISTERED.get(name)
