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


def block_means(
    x: torch.Tensor, block_of: torch.Tensor, num_blocks: int, uniform: bool, weights: torch.Tensor | None
) -> torch.Tensor:
    """Mean of x (B, H, L, D) over the tokens of each block, in float32 -> (B, H, num_blocks, D).

    block_of: (L,) the block id of each token. uniform: blocks are consecutive and equally long (a reshape).
    weights: optional (B, L), 1 for tokens that count (padding excluded), 0 otherwise. Half-precision inputs
    are converted slice by slice, so no float32 copy of the whole of x is ever made.
    """
    batch, heads, length, dim = x.shape
    if weights is None and uniform and length % num_blocks == 0 and x.dtype == torch.float32:
        return x.view(batch, heads, num_blocks, length // num_blocks, dim).mean(dim=3)
    if weights is None:
        counts = torch.bincount(block_of, minlength=num_blocks).float().view(1, 1, num_blocks, 1)
    else:
        weights = weights.float()
        counts = torch.zeros(batch, num_blocks, device=x.device).index_add_(1, block_of, weights)
        counts = counts.view(batch, 1, num_blocks, 1)
    sums = torch.zeros(batch, heads, num_blocks, dim, device=x.device)
    step = max(1, (1 << 20) // max(1, batch * heads * dim))  # about 4 MB of float32 per slice
    for start in range(0, length, step):
        part = x[:, :, start : start + step].float()
        if weights is not None:
            part = part * weights[:, None, start : start + step, None]
        sums.index_add_(2, block_of[start : start + step], part)
    return sums / counts.clamp(min=1.0)


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
