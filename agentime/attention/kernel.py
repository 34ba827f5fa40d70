"""Frame-aware block-sparse attention in pure PyTorch (CPU and CUDA).

Keys are cut into blocks (fixed-size, or one per frame; see `layout.py`). Each query block reads its top-k key
blocks by a cheap pooled score (see `selection.py`), always including the sink and local blocks, plus a few
global tokens (e.g. the question) that every query reads and that themselves read every key. The selected
blocks are gathered per KV head and attended with one fused SDPA call per chunk of query blocks, with the query
heads of a group sharing the gathered keys (grouped-query attention without expanding K/V). Token-level masks
exist only per chunk and per selected block; no (B, H, L, L) tensor is ever built. With `summarize_skipped`,
each query also reads one summary row per key block it skips (mean key and value, scored with log(count) added),
which keeps attention spread thinly over many blocks from being dropped.

Semantics match `torch.nn.functional.scaled_dot_product_attention`: with a top_k covering every block the
output equals dense attention. Causal attention is aligned bottom-right: the queries are the last L_q of the
L_k positions (prefill, chunked prefill and decode with a KV cache).
"""

from __future__ import annotations

import bisect
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from agentime.attention.config import SparseAttentionConfig
from agentime.attention.layout import BlockLayout, build_block_layout
from agentime.attention.selection import block_means, select_blocks
from agentime.errors import AttentionConfigError

SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
SUPPORTED_DEVICES = ("cpu", "cuda")

_warned: set[str] = set()


class AttentionShapeError(AttentionConfigError):
    """Query, key, value or mask shapes do not fit together."""


def warn_once(key: str, message: str) -> None:
    """Emit `message` as a RuntimeWarning the first time `key` is seen in this process."""
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def check_shapes(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask) -> None:
    """Raise AttentionShapeError unless q (B,Hq,Lq,D), k (B,Hkv,Lk,D), v (B,Hkv,Lk,Dv) and the mask agree."""
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 4:
            raise AttentionShapeError(f"{name} must be a 4-D tensor (batch, heads, length, head_dim)")
    batch, q_heads, q_len, dim = query.shape
    if key.shape[0] != batch or value.shape[0] != batch:
        raise AttentionShapeError(f"batch sizes differ: query {batch}, key {key.shape[0]}, value {value.shape[0]}")
    if key.shape[1] != value.shape[1] or key.shape[2] != value.shape[2]:
        raise AttentionShapeError(f"key {tuple(key.shape)} and value {tuple(value.shape)} differ in heads or length")
    if key.shape[3] != dim:
        raise AttentionShapeError(f"query head_dim {dim} differs from key head_dim {key.shape[3]}")
    if key.shape[1] == 0 or q_heads % key.shape[1] != 0:
        raise AttentionShapeError(f"{q_heads} query heads cannot be grouped over {key.shape[1]} key/value heads")
    if key.shape[2] == 0 or q_len == 0:
        raise AttentionShapeError("query and key must hold at least one token")
    if q_len > key.shape[2]:
        raise AttentionShapeError(f"more queries ({q_len}) than keys ({key.shape[2]})")
    if attention_mask is None:
        return
    if attention_mask.dtype != torch.bool:
        raise AttentionShapeError(f"attention_mask must be boolean (True = attend), got {attention_mask.dtype}")
    k_len = key.shape[2]
    if attention_mask.dim() == 2:
        if tuple(attention_mask.shape) != (batch, k_len):
            raise AttentionShapeError(
                f"a 2-D key padding mask must be ({batch}, {k_len}), got {tuple(attention_mask.shape)}"
            )
    elif attention_mask.dim() == 4:
        shape = tuple(attention_mask.shape)
        if shape[1] != 1 or shape[0] not in (1, batch) or shape[2:] != (q_len, k_len):
            raise AttentionShapeError(
                f"a 4-D mask must be ({batch}, 1, {q_len}, {k_len}) (shared by all heads), got {shape}"
            )
    else:
        raise AttentionShapeError(
            f"attention_mask must be 2-D (B, Lk) or 4-D (B, 1, Lq, Lk), got {attention_mask.dim()}-D"
        )


def _bias_from_allowed(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask: 0 where allowed, the dtype's lowest finite value elsewhere (fully masked rows stay finite)."""
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    lowest = torch.full((), torch.finfo(dtype).min, dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, lowest)


def dense_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    *,
    causal: bool,
    attention_mask: torch.Tensor | None = None,
    scaling: float | None = None,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """Dense SDPA with the kernel's semantics (bottom-right causal, 2-D or 4-D boolean mask, GQA) -> (B,Hq,Lq,Dv)."""
    q_len, k_len = query.shape[2], key.shape[2]
    gqa = query.shape[1] != key.shape[1]
    if attention_mask is None and (not causal or q_len == 1 or q_len == k_len):
        return F.scaled_dot_product_attention(
            query, key, value, dropout_p=dropout_p, is_causal=causal and q_len > 1, scale=scaling, enable_gqa=gqa
        )
    allowed = torch.ones(1, 1, 1, 1, dtype=torch.bool, device=query.device)
    if causal:
        offset = k_len - q_len
        rows = torch.arange(q_len, device=query.device)[:, None] + offset
        allowed = allowed & (torch.arange(k_len, device=query.device)[None, :] <= rows)[None, None]
    if attention_mask is not None:
        allowed = allowed & (attention_mask[:, None, None, :] if attention_mask.dim() == 2 else attention_mask)
    bias = _bias_from_allowed(allowed, query.dtype)
    return F.scaled_dot_product_attention(
        query, key, value, attn_mask=bias, dropout_p=dropout_p, scale=scaling, enable_gqa=gqa
    )


def _chunk_keys(layout: BlockLayout, sel, sel_valid, globals_table, global_blocks, key_padding):
    """Token positions (B, Hkv, n, K) of the keys a chunk of query blocks reads, and whether each counts.

    K = the selected blocks' tokens, then the global tokens (which do not count where their block is selected
    already, so that no key is read twice); padding slots and padding keys do not count.
    """
    batch, kv_heads, n, top_k = sel.shape
    positions = layout.positions(sel)  # (B, Hkv, n, k, block_len)
    present = (positions >= 0) & sel_valid[..., None]
    positions = positions.reshape(batch, kv_heads, n, -1)
    present = present.reshape(batch, kv_heads, n, -1)
    if globals_table is not None:
        in_selected = (global_blocks[:, None, None, None, :] == sel[..., None]) & sel_valid[..., None]
        g_present = (globals_table >= 0)[:, None, None, :] & ~in_selected.any(dim=3)
        positions = torch.cat([positions, globals_table[:, None, None, :].expand(-1, kv_heads, n, -1)], dim=3)
        present = torch.cat([present, g_present], dim=3)
    if key_padding is not None:
        padding = key_padding[:, None, None, :].expand(-1, kv_heads, n, -1)
        present = present & torch.gather(padding, 3, positions.clamp(min=0))
    return positions, present


def _causal_bias(present, positions, absolute, tail_start: int, dtype) -> torch.Tensor:
    """(B, Hkv, n, rows, K) additive mask for causal attention over sorted selected blocks (+ global keys).

    present/positions: (B, Hkv, n, K) of the gathered keys; absolute: (n, rows) each query row's position (-1
    for padding rows). The keys before the last selected block lie wholly in the past of the query block, so
    only the last block's and the global keys' columns compare positions.
    """
    rows = absolute.shape[1]
    head = _bias_from_allowed(present[..., :tail_start], dtype)[:, :, :, None, :].expand(-1, -1, -1, rows, -1)
    visible = positions[..., tail_start:][:, :, :, None, :] <= absolute[None, None, :, :, None]
    tail = _bias_from_allowed(present[..., tail_start:][:, :, :, None, :] & visible, dtype)
    return torch.cat([head, tail], dim=-1)


def _general_bias(present, positions, rows, absolute, mask4d, causal: bool, dtype) -> torch.Tensor:
    """(B, Hkv, n, rows, K) additive mask reading an arbitrary 4-D boolean mask at the gathered (query, key) pairs."""
    batch, q_len, k_len = mask4d.shape[0], mask4d.shape[2], mask4d.shape[3]
    allowed = present[:, :, :, None, :]
    if causal:
        allowed = allowed & (positions[:, :, :, None, :] <= absolute[None, None, :, :, None])
    flat_mask = mask4d[:, 0].reshape(batch, q_len * k_len)
    pair = rows.clamp(min=0)[None, None, :, :, None] * k_len + positions.clamp(min=0)[:, :, :, None, :]
    picked = torch.gather(flat_mask, 1, pair.reshape(batch, -1)).view(pair.shape)
    return _bias_from_allowed(allowed & picked, dtype)


def _fallback_reason(query: torch.Tensor) -> str | None:
    if query.device.type not in SUPPORTED_DEVICES:
        return f"device {query.device.type}"
    if query.dtype not in SUPPORTED_DTYPES:
        return f"dtype {query.dtype}"
    return None


def _global_table(
    global_positions: Sequence[Sequence[int]] | None, config: SparseAttentionConfig, batch: int, k_len: int, device
) -> torch.Tensor | None:
    """(B, n) global token positions (padded with -1), or None when there are none."""
    per_batch = [set(config.global_positions) for _ in range(batch)]
    if global_positions:
        given = list(global_positions)
        if len(given) == 1 and batch > 1:
            given = given * batch
        if len(given) != batch:
            raise AttentionShapeError(f"global positions given for {len(given)} sequences, batch is {batch}")
        for b in range(batch):
            per_batch[b].update(int(p) for p in given[b])
    rows = [sorted(p for p in positions if 0 <= p < k_len) for positions in per_batch]
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        return None
    table = torch.full((batch, width), -1, dtype=torch.long)
    for b, r in enumerate(rows):
        table[b, : len(r)] = torch.tensor(r, dtype=torch.long)
    return table.to(device)


def _query_blocks(layout: BlockLayout, q_offset: int) -> tuple[torch.Tensor | None, torch.Tensor, bool]:
    """Query blocks = key blocks restricted to the query positions.

    Returns the (QB, block_len) table of query rows (0-based, -1 padded), the (QB,) diagonal key block of each
    and whether the query blocks are the key blocks themselves (uniform, from position 0); the table is None
    then, since `layout.positions(diagonal)` gives its rows.
    """
    first = bisect.bisect_right(layout.starts, q_offset) - 1
    diagonal = torch.arange(first, layout.num_blocks, device=layout.device)
    if layout.uniform and q_offset == 0:
        return None, diagonal, True
    rows = layout.table[first:] - q_offset
    return torch.where(rows >= 0, rows, torch.full_like(rows, -1)), diagonal, False


def _block_allowed_from_mask(mask4d: torch.Tensor, q_table: torch.Tensor, layout: BlockLayout) -> torch.Tensor:
    """(B, QB, KB): whether any (query, key) pair of the two blocks is allowed by a 4-D boolean mask."""
    batch, _, q_len, k_len = mask4d.shape
    rows = mask4d[:, 0].index_select(1, q_table.clamp(min=0).reshape(-1))
    rows = rows.view(batch, q_table.shape[0], q_table.shape[1], k_len) & (q_table >= 0)[None, :, :, None]
    per_key = rows.any(dim=2).to(torch.float32)  # (B, QB, Lk)
    counts = torch.zeros(batch, q_table.shape[0], layout.num_blocks, device=mask4d.device)
    counts.index_add_(2, layout.block_of, per_key)
    return counts > 0


def sparse_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    config: SparseAttentionConfig | None = None,
    *,
    causal: bool = True,
    attention_mask: torch.Tensor | None = None,
    scaling: float | None = None,
    frame_spans: Sequence[Sequence[tuple[int, int]]] | None = None,
    global_positions: Sequence[Sequence[int]] | None = None,
) -> torch.Tensor:
    """Block-sparse attention -> (B, H_q, L_q, D_v), a drop-in for SDPA's output.

    query (B, H_q, L_q, D); key, value (B, H_kv, L_k, D[v]) with H_q a multiple of H_kv (not expanded).
    causal: bottom-right aligned causal attention, combined (AND) with attention_mask when both are given.
    attention_mask: boolean, True = attend: (B, L_k) key padding, or (B, 1, L_q, L_k).
    frame_spans: per batch element, (start, end) token spans of each frame; blocks follow them when set.
    global_positions: per batch element, token positions that read all keys and that all queries read.
    Unsupported dtypes/devices fall back to dense SDPA with one warning; so do sequences under min_seq_len.
    """
    config = config or SparseAttentionConfig()
    check_shapes(query, key, value, attention_mask)
    reason = _fallback_reason(query)
    if reason is not None:
        warn_once(reason, f"agentime sparse attention does not support {reason}; using dense SDPA instead")
    if reason is not None or key.shape[2] < config.min_seq_len:
        return dense_attention(query, key, value, causal=causal, attention_mask=attention_mask, scaling=scaling)

    batch, q_heads, q_len, dim = query.shape
    kv_heads, k_len, v_dim = key.shape[1], key.shape[2], value.shape[3]
    group = q_heads // kv_heads
    device, dtype = query.device, query.dtype
    scaling = dim**-0.5 if scaling is None else float(scaling)
    q_offset = k_len - q_len

    key_padding = attention_mask if attention_mask is not None and attention_mask.dim() == 2 else None
    mask4d = attention_mask if attention_mask is not None and attention_mask.dim() == 4 else None
    if mask4d is not None and mask4d.shape[0] != batch:
        mask4d = mask4d.expand(batch, -1, -1, -1)
    if mask4d is not None:
        key_padding = mask4d[:, 0].any(dim=1)  # keys no query may read do not count in the pooled keys

    spans = frame_spans if config.frame_aligned else None
    layout = build_block_layout(k_len, config.block_size, spans, device)
    q_table, diagonal, q_uniform = _query_blocks(layout, q_offset)
    q_blocks, q_block_len = int(diagonal.numel()), layout.block_len
    k_blocks, k_block_len = layout.num_blocks, layout.block_len

    # block selection
    key_weights = key_padding.float() if key_padding is not None else None
    pooled_keys = block_means(key, layout.block_of, k_blocks, layout.uniform, key_weights)
    first_block = int(diagonal[0])
    pooled_queries = block_means(query, layout.block_of[q_offset:] - first_block, q_blocks, q_uniform, None)
    allowed = torch.ones(1, q_blocks, k_blocks, dtype=torch.bool, device=device)
    if causal:
        allowed = allowed & (torch.arange(k_blocks, device=device)[None, :] <= diagonal[:, None])[None]
    if key_weights is not None:
        present = torch.zeros(batch, k_blocks, device=device).index_add_(1, layout.block_of, key_weights) > 0
        allowed = allowed & present[:, None, :]
    if mask4d is not None:
        allowed = allowed & _block_allowed_from_mask(mask4d, layout.table if q_uniform else q_table, layout)
    selection = select_blocks(pooled_queries, pooled_keys, allowed, diagonal, config, causal, scaling)
    del pooled_queries, pooled_keys  # the chunk loop below sets the peak: nothing it does not need stays alive
    top_k = selection.indices.shape[-1]
    # Sorted with invalid slots first: under causal attention every selected block but the last one then lies
    # wholly in the past of its query block, so only the last slot needs a per-query (triangular) mask.
    order = torch.where(selection.valid, selection.indices, torch.full_like(selection.indices, -1))
    order = order.sort(dim=-1).values
    selection_indices, selection_valid = order.clamp(min=0), order >= 0

    globals_table = _global_table(global_positions, config, batch, k_len, device)
    n_global = 0 if globals_table is None else globals_table.shape[1]

    summary = None
    if config.summarize_skipped:
        summary = _block_summaries(key, value, layout, key_padding, globals_table)
        summary_open = _skipped_blocks(allowed, selection_indices, selection_valid, diagonal, causal, summary[2] > 0)
        key_rows, value_rows, query_rows = _summary_tables(key, value, query, summary, scaling)
    else:
        key_rows, value_rows, query_rows = key, value, query
    n_summary = 0 if summary is None else k_blocks
    dim = query_rows.shape[-1]  # one more than given with summaries

    rows_per_head = key_rows.shape[2]
    flat_keys = key_rows.reshape(batch * kv_heads * rows_per_head, dim)
    flat_values = value_rows.reshape(batch * kv_heads * rows_per_head, value_rows.shape[-1])
    head_base = (torch.arange(batch * kv_heads, device=device) * rows_per_head).view(batch, kv_heads, 1, 1)
    global_blocks = layout.block_of[globals_table.clamp(min=0)] if n_global else None  # (B, n)

    keys_per_block = top_k * k_block_len + n_global + n_summary
    item = query.element_size()
    # temporaries of one query block: gathered keys/values and their positions, the additive mask (plus the
    # boolean pieces it is built from), and copies of its queries and outputs
    per_query_block = batch * kv_heads * (
        keys_per_block * ((dim + v_dim) * item + 10)
        + q_block_len * keys_per_block * (2 * item + 2)
        + 3 * group * q_block_len * (dim + v_dim) * item
    )
    # stay well under the memory of the output itself, so the peak stays at or below dense SDPA's
    budget = min(config.chunk_bytes, max(2**19, batch * q_heads * q_len * v_dim * item // 16))
    chunk = max(1, min(q_blocks, budget // per_query_block))

    selected = top_k * k_block_len
    shared_bias = None
    if mask4d is None and causal and q_uniform and n_global == 0:
        # query blocks whose gathered keys all count and whose last selected block is their own share one
        # mask: open everywhere but the upper triangle of that last block
        triangle = torch.ones(q_block_len, k_block_len, dtype=torch.bool, device=device).tril()
        shared_bias = torch.zeros(1, 1, q_block_len, selected + n_summary, dtype=dtype, device=device)
        shared_bias[..., selected - k_block_len : selected] = _bias_from_allowed(triangle, dtype)

    grouped_queries = query_rows.reshape(batch, kv_heads, group, q_len, dim)
    out_blocks = torch.empty(batch, kv_heads, group, q_blocks, q_block_len, v_dim, dtype=dtype, device=device)
    for c0 in range(0, q_blocks, chunk):
        c1 = min(q_blocks, c0 + chunk)
        n = c1 - c0
        sel = selection_indices[:, :, c0:c1]
        positions, present = _chunk_keys(
            layout, sel, selection_valid[:, :, c0:c1], globals_table, global_blocks, key_padding
        )
        index = head_base + positions.clamp(min=0)
        if summary is not None:  # block kb's summary row sits at k_len + kb; a closed one reads the last row
            closed = torch.full_like(summary_open[:, :, c0:c1], k_blocks, dtype=torch.long)
            block_ids = torch.arange(k_blocks, device=device).expand_as(closed)
            index = torch.cat([index, head_base + k_len + torch.where(summary_open[:, :, c0:c1], block_ids, closed)], 3)
        gathered = keys_per_block - n_summary
        keys = flat_keys.index_select(0, index.reshape(-1)).view(batch * kv_heads * n, 1, keys_per_block, dim)
        values = flat_values.index_select(0, index.reshape(-1)).view(batch * kv_heads * n, 1, keys_per_block, -1)

        rows = layout.positions(diagonal[c0:c1]) if q_uniform else q_table[c0:c1]  # (n, q_block_len), -1 padded
        absolute = torch.where(rows >= 0, rows + q_offset, torch.full_like(rows, -1))
        complete = bool(present.all())
        if mask4d is not None:
            bias = _general_bias(present, positions, rows, absolute, mask4d, causal, dtype)
        elif causal and shared_bias is not None and complete and bool((sel[..., -1] == diagonal[c0:c1]).all()):
            bias = shared_bias.expand(batch * kv_heads * n, -1, -1, -1)
        elif causal:
            bias = _causal_bias(present, positions, absolute, selected - k_block_len, dtype)
        elif complete:
            bias = None
        else:
            bias = _bias_from_allowed(present, dtype)[:, :, :, None, :]  # one row, broadcast over the queries
        if bias is not None and bias.dim() == 5:
            bias = bias.reshape(batch * kv_heads * n, 1, bias.shape[3], gathered)

        if q_uniform:
            chunk_queries = grouped_queries[:, :, :, c0 * q_block_len : c1 * q_block_len]
        else:
            chunk_queries = grouped_queries.index_select(3, rows.clamp(min=0).reshape(-1))
        chunk_queries = chunk_queries.reshape(batch, kv_heads, group, n, q_block_len, dim).permute(0, 1, 3, 2, 4, 5)
        chunk_queries = chunk_queries.reshape(batch * kv_heads * n, group, q_block_len, dim)
        if summary is not None and bias is not None and bias.shape[-1] == gathered:
            bias = F.pad(bias, (0, n_summary))  # summaries are masked through their keys, not here
        if summary is not None and mask4d is not None:
            bias = _mask_summary_rows(bias, mask4d, rows, layout, summary, kv_heads, gathered)
        attended = F.scaled_dot_product_attention(
            chunk_queries,
            keys,
            values,
            attn_mask=bias,
            scale=scaling,
            enable_gqa=group > 1,
        )
        attended = attended[..., :v_dim].reshape(batch, kv_heads, n, group, q_block_len, v_dim).permute(0, 1, 3, 2, 4, 5)
        out_blocks[:, :, :, c0:c1] = attended

    out = out_blocks.view(batch, kv_heads, group, q_blocks * q_block_len, v_dim)
    if not q_uniform:
        out = out.index_select(3, torch.nonzero(q_table.reshape(-1) >= 0).squeeze(1))
    out = out.reshape(batch, q_heads, q_len, v_dim)

    if n_global:
        _attend_global_rows(out, query, key, value, globals_table, q_offset, causal, key_padding, mask4d, scaling)
    return out


def _block_summaries(key, value, layout: BlockLayout, key_padding, globals_table):
    """Each key block's mean key and mean value (B, H_kv, KB, D) in the input dtype, how many keys they stand
    for (B, KB) and the (B, L_k) weights of the keys they average: padding and global keys (read exactly anyway)
    are left out."""
    batch, _, k_len, _ = key.shape
    weights = key_padding.float() if key_padding is not None else torch.ones(batch, k_len, device=key.device)
    if globals_table is not None:
        present = globals_table >= 0
        weights = weights.clone()
        weights[torch.arange(batch, device=key.device)[:, None].expand_as(globals_table)[present],
                globals_table[present]] = 0.0
    counts = torch.zeros(batch, layout.num_blocks, device=key.device).index_add_(1, layout.block_of, weights)
    mean_keys = block_means(key, layout.block_of, layout.num_blocks, False, weights).to(key.dtype)
    mean_values = block_means(value, layout.block_of, layout.num_blocks, False, weights).to(value.dtype)
    return mean_keys, mean_values, counts, weights


def _skipped_blocks(allowed, indices, valid, diagonal, causal: bool, non_empty) -> torch.Tensor:
    """(B, H_kv, QB, KB): key blocks a query block may read but did not select, wholly in its past when causal.
    non_empty: (B, KB), blocks with at least one summarised key."""
    batch, kv_heads, q_blocks, _ = indices.shape
    k_blocks = non_empty.shape[1]
    chosen = torch.zeros(batch, kv_heads, q_blocks, k_blocks + 1, dtype=torch.bool, device=indices.device)
    chosen.scatter_(3, torch.where(valid, indices, torch.full_like(indices, k_blocks)), True)
    open_blocks = allowed[:, None] & ~chosen[..., :k_blocks] & non_empty[:, None, None, :]
    if causal:
        block_ids = torch.arange(k_blocks, device=indices.device)
        open_blocks = open_blocks & (block_ids[None, :] < diagonal[:, None])[None, None]
    return open_blocks


CLOSED_SCORE = -5000.0  # the score of a summary a query may not read: exp() of it is 0, and it fits float16


def _summary_tables(key, value, query, summary, scaling: float):
    """Keys, values and queries with one more head dimension and, per KV head, key block summaries as extra rows.

    Keys: (B, H_kv, L_k + KB + 1, D + 1): the keys with 0 in the new dimension, then block kb's mean key with
    log(count)/scale there (so it scores q.k + log(count), weighing as `count` keys alike), then one closed row
    scoring CLOSED_SCORE. Values likewise hold the block means (with a zero column when their width matched the
    keys', since SDPA's fused kernels want them equal). Queries get a 1 in the new dimension.
    """
    mean_keys, mean_values, counts, _ = summary
    batch, kv_heads, k_len, dim = key.shape
    k_blocks, v_dim = counts.shape[1], value.shape[-1]
    keys = key.new_zeros(batch, kv_heads, k_len + k_blocks + 1, dim + 1)
    keys[:, :, :k_len, :dim] = key
    keys[:, :, k_len : k_len + k_blocks, :dim] = mean_keys
    open_score = torch.where(counts > 0, counts.clamp(min=1.0).log(), torch.full_like(counts, CLOSED_SCORE))
    keys[:, :, k_len : k_len + k_blocks, dim] = (open_score / scaling).to(key.dtype)[:, None, :]
    keys[:, :, -1, dim] = CLOSED_SCORE / scaling
    values = value.new_zeros(batch, kv_heads, k_len + k_blocks + 1, v_dim + (v_dim == dim))
    values[:, :, :k_len, :v_dim] = value
    values[:, :, k_len : k_len + k_blocks, :v_dim] = mean_values
    return keys, values, torch.cat([query, query.new_ones(*query.shape[:3], 1)], dim=-1)


def _mask_summary_rows(bias, mask4d, rows, layout: BlockLayout, summary, kv_heads: int, gathered: int):
    """Under a 4-D mask, close the summaries of blocks a query row may not read whole (bias columns after
    `gathered`)."""
    _, _, counts, weights = summary
    batch, n, width = mask4d.shape[0], rows.shape[0], rows.shape[1]
    picked = mask4d[:, 0].index_select(1, rows.clamp(min=0).reshape(-1)).float() * weights[:, None, :]
    readable = torch.zeros(batch, n * width, layout.num_blocks, device=mask4d.device)
    readable.index_add_(2, layout.block_of, picked)
    whole = readable >= counts[:, None, :] - 0.5
    closed = torch.where(whole, 0.0, torch.finfo(bias.dtype).min).to(bias.dtype).view(batch, 1, n, width, -1)
    closed = closed.expand(-1, kv_heads, -1, -1, -1).reshape(batch * kv_heads * n, 1, width, -1)
    bias = bias.expand(-1, -1, width, -1).clone()
    bias[..., gathered:] = closed
    return bias


def _attend_global_rows(out, query, key, value, globals_table, q_offset, causal, key_padding, mask4d, scaling) -> None:
    """Overwrite the output rows of global query tokens with dense attention over all keys they may read."""
    k_len = key.shape[2]
    gqa = query.shape[1] != key.shape[1]
    for b in range(query.shape[0]):
        positions = globals_table[b]
        positions = positions[positions >= q_offset]
        if positions.numel() == 0:
            continue
        rows = positions - q_offset
        allowed = torch.ones(len(rows), k_len, dtype=torch.bool, device=query.device)
        if causal:
            allowed &= torch.arange(k_len, device=query.device)[None, :] <= positions[:, None]
        if mask4d is not None:
            allowed &= mask4d[b, 0].index_select(0, rows)
        elif key_padding is not None:
            allowed &= key_padding[b][None, :]
        attended = F.scaled_dot_product_attention(
            query[b : b + 1].index_select(2, rows),
            key[b : b + 1],
            value[b : b + 1],
            attn_mask=_bias_from_allowed(allowed, query.dtype)[None, None],
            scale=scaling,
            enable_gqa=gqa,
        )
        out[b].index_copy_(1, rows, attended[0])
