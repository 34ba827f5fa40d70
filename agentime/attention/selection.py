"""Choosing, for each query block and KV head, which key blocks to read.

Scores are cheap: the mean of each query block's queries against the mean of each key block's keys, per query
head, turned into a distribution over blocks (softmax) and reduced over the query heads sharing a KV head by
their maximum, so a block any head of the group needs wins. Always-on blocks (sinks, the local/diagonal ones)
are forced in; blocks a query block may not see (the future, in causal attention, or fully masked) are
excluded. This module computes block indices only; it never touches values or builds token-level masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agentime.attention.config import SparseAttentionConfig


@dataclass(frozen=True)
class BlockSelection:
    """indices: (B, H_kv, query blocks, k) key block ids; valid: same shape, False for padding entries."""

    indices: torch.Tensor
    valid: torch.Tensor


def block_means(x: torch.Tensor, table: torch.Tensor, uniform: bool, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of x (B, H, L, D) over each block of `table` (blocks, block_len) in float32 -> (B, H, blocks, D).

    weights: optional (B, L) float, 1 for tokens that count (padding excluded), 0 otherwise.
    """
    batch, heads, length, dim = x.shape
    blocks, block_len = table.shape
    x = x.float()
    if weights is None and uniform and blocks * block_len == length:
        return x.view(batch, heads, blocks, block_len, dim).mean(dim=3)
    flat = table.reshape(-1)
    present = (flat >= 0).float()
    safe = flat.clamp(min=0)
    tokens = x.index_select(2, safe).view(batch, heads, blocks, block_len, dim)
    weight = present.view(1, blocks, block_len).expand(batch, blocks, block_len)
    if weights is not None:
        weight = weight * weights.float().index_select(1, safe).view(batch, blocks, block_len)
    weight = weight[:, None, :, :, None]
    total = (tokens * weight).sum(dim=3)
    count = weight.sum(dim=3).clamp(min=1.0)
    return total / count


def select_blocks(
    pooled_queries: torch.Tensor,
    pooled_keys: torch.Tensor,
    allowed: torch.Tensor,
    diagonal: torch.Tensor,
    config: SparseAttentionConfig,
    causal: bool,
    scaling: float,
) -> BlockSelection:
    """Top-k key blocks per query block and KV head.

    pooled_queries: (B, H_q, QB, D); pooled_keys: (B, H_kv, KB, D), float32.
    allowed: (B or 1, QB, KB) bool, blocks the query block may read at all (causality, masks, empty blocks).
    diagonal: (QB,) the key block holding each query block's tokens (or -1 when there is none).
    """
    batch, q_heads, q_blocks, dim = pooled_queries.shape
    kv_heads, k_blocks = pooled_keys.shape[1], pooled_keys.shape[2]
    group = q_heads // kv_heads
    queries = pooled_queries.view(batch, kv_heads, group, q_blocks, dim)
    scores = torch.matmul(queries, pooled_keys.unsqueeze(2).transpose(-1, -2)) * scaling
    scores = scores.masked_fill(~allowed[:, None, None], float("-inf"))
    probs = torch.softmax(scores, dim=-1).nan_to_num(0.0).amax(dim=2)  # (B, H_kv, QB, KB)

    forced = torch.zeros(q_blocks, k_blocks, dtype=torch.bool, device=probs.device)
    if config.sink_blocks:
        forced[:, : config.sink_blocks] = True
    if config.local_blocks:
        before = config.local_blocks - 1 if causal else (config.local_blocks - 1) // 2
        after = 0 if causal else config.local_blocks // 2
        block_ids = torch.arange(k_blocks, device=probs.device)
        offset = block_ids[None, :] - diagonal[:, None]
        forced |= (diagonal[:, None] >= 0) & (offset >= -before) & (offset <= after)
    priority = torch.where(forced, torch.full_like(probs, 2.0), probs)
    priority = priority.masked_fill(~allowed[:, None], -1.0)

    k = min(config.top_k, k_blocks)
    values, indices = torch.topk(priority, k, dim=-1, sorted=False)
    return BlockSelection(indices=indices, valid=values >= 0)
