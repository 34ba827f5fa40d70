"""The block-sparse kernel equals dense SDPA when top_k covers all blocks, and fails or falls back clearly.

AGENTIME_TEST_DEVICE=cuda runs the same checks with every tensor on that device (default: cpu)."""

import os
import warnings

import pytest
import torch
import torch.nn.functional as F

from agentime.attention import SparseAttentionConfig
from agentime.attention.kernel import AttentionShapeError, _warned, dense_attention, sparse_attention
from agentime.errors import AttentionConfigError

EXACT = SparseAttentionConfig(block_size=32, top_k=1000, min_seq_len=0)
EXACT_WITH_SUMMARIES = SparseAttentionConfig(block_size=32, top_k=1000, min_seq_len=0, summarize_skipped=True)
DEVICE = os.environ.get("AGENTIME_TEST_DEVICE", "cpu")


@pytest.fixture(autouse=True)
def tensors_on_test_device():
    if DEVICE == "cpu":
        yield
        return
    torch.set_default_device(DEVICE)
    yield
    torch.set_default_device(None)


def qkv(batch=2, q_heads=8, kv_heads=2, length=320, dim=16, q_len=None, seed=0, dtype=torch.float32):
    gen = torch.Generator(device="cpu").manual_seed(seed)
    q_len = length if q_len is None else q_len
    q = torch.randn(batch, q_heads, q_len, dim, generator=gen, device="cpu").to(DEVICE, dtype)
    k = torch.randn(batch, kv_heads, length, dim, generator=gen, device="cpu").to(DEVICE, dtype)
    v = torch.randn(batch, kv_heads, length, dim, generator=gen, device="cpu").to(DEVICE, dtype)
    return q, k, v


def reference(q, k, v, causal, mask=None):
    """SDPA with K/V expanded to every query head and an explicit boolean mask."""
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    q_len, k_len = q.shape[2], k.shape[2]
    allowed = torch.ones(q_len, k_len, dtype=torch.bool)
    if causal:
        allowed = torch.arange(k_len)[None, :] <= torch.arange(q_len)[:, None] + (k_len - q_len)
    allowed = allowed[None, None]
    if mask is not None:
        allowed = allowed & (mask[:, None, None, :] if mask.dim() == 2 else mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("length", [256, 300])
@pytest.mark.parametrize("config", [EXACT, EXACT_WITH_SUMMARIES], ids=["plain", "summaries"])
def test_full_top_k_equals_sdpa(causal, length, config):
    q, k, v = qkv(length=length)
    out = sparse_attention(q, k, v, config, causal=causal)
    assert (out - reference(q, k, v, causal)).abs().max() < 1e-5


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("config", [EXACT, EXACT_WITH_SUMMARIES], ids=["plain", "summaries"])
def test_frame_aligned_blocks_and_global_tokens_stay_exact(causal, config):
    q, k, v = qkv(length=400)
    spans = [[(20, 84), (94, 158), (168, 232), (242, 306)]]
    out = sparse_attention(q, k, v, config, causal=causal, frame_spans=spans, global_positions=[[3, 310, 399]])
    assert (out - reference(q, k, v, causal)).abs().max() < 1e-5


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("config", [EXACT, EXACT_WITH_SUMMARIES], ids=["plain", "summaries"])
def test_padding_mask_is_honoured(causal, config):
    q, k, v = qkv(length=288)
    keep = torch.ones(2, 288, dtype=torch.bool)
    keep[1, :45] = False  # left padding of the second sequence
    out = sparse_attention(q, k, v, config, causal=causal, attention_mask=keep)
    ref = reference(q, k, v, causal, keep)
    assert (out[0] - ref[0]).abs().max() < 1e-5
    assert (out[1, :, 45:] - ref[1, :, 45:]).abs().max() < 1e-5  # fully masked pad rows are undefined in SDPA
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("config", [EXACT, EXACT_WITH_SUMMARIES], ids=["plain", "summaries"])
def test_four_d_mask_with_padding_and_globals(config):
    q, k, v = qkv(length=256)
    keep = torch.ones(2, 256, dtype=torch.bool)
    keep[0, :30] = False
    mask = keep[:, None, None, :] & torch.ones(256, 256, dtype=torch.bool).tril()[None, None]
    out = sparse_attention(q, k, v, config, causal=False, attention_mask=mask, global_positions=[[40, 250], [7]])
    ref = reference(q, k, v, False, mask)
    assert (out[0, :, 30:] - ref[0, :, 30:]).abs().max() < 1e-5
    assert (out[1] - ref[1]).abs().max() < 1e-5


@pytest.mark.parametrize("q_len", [1, 5, 40])
@pytest.mark.parametrize("config", [EXACT, EXACT_WITH_SUMMARIES], ids=["plain", "summaries"])
def test_decode_and_chunked_prefill_against_a_cache(q_len, config):
    q, k, v = qkv(length=333, q_len=q_len)
    out = sparse_attention(q, k, v, config, causal=True, frame_spans=[[(10, 74), (80, 144)]])
    assert (out - reference(q, k, v, True)).abs().max() < 1e-5


def test_grouped_query_attention_does_not_expand_kv(monkeypatch):
    q, k, v = qkv(q_heads=6, kv_heads=2, length=256)
    seen = []
    real = F.scaled_dot_product_attention

    def spy(query, key, value, **kwargs):
        seen.append((query.shape[1], key.shape[1]))
        return real(query, key, value, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    out = sparse_attention(q, k, v, EXACT, causal=True)
    monkeypatch.undo()
    assert seen and all(kv_heads == 1 and q_heads == 3 for q_heads, kv_heads in seen)
    assert (out - reference(q, k, v, True)).abs().max() < 1e-5


def test_sparse_top_k_reads_fewer_blocks_but_keeps_local_and_sink():
    q, k, v = qkv(batch=1, length=512)
    config = SparseAttentionConfig(block_size=32, top_k=2, min_seq_len=0)
    out = sparse_attention(q, k, v, config, causal=True)
    dense = reference(q, k, v, True)
    assert torch.isfinite(out).all()
    # the first 64 queries see at most 2 blocks: sink + diagonal cover everything they may read
    assert (out[:, :, :64] - dense[:, :, :64]).abs().max() < 1e-5
    assert (out[:, :, 64:] - dense[:, :, 64:]).abs().max() > 1e-3


def test_planted_needle_is_found_by_the_pooled_score():
    q, k, v = qkv(batch=1, q_heads=4, kv_heads=1, length=1024, dim=32)
    direction = torch.randn(32)
    direction /= direction.norm()
    q[0, :, 960:992] += 6.0 * direction  # one query block asks
    k[0, 0, 300:304] = 14.0 * direction  # four keys in a far block answer
    v[0, 0, 300:304] = 5.0
    config = SparseAttentionConfig(block_size=32, top_k=4, min_seq_len=0)
    out = sparse_attention(q, k, v, config, causal=True)
    dense = reference(q, k, v, True)
    cos = F.cosine_similarity(out[0, :, 960:992], dense[0, :, 960:992], dim=-1)
    assert cos.min() > 0.99


def test_short_sequences_call_sdpa(monkeypatch):
    q, k, v = qkv(length=64)
    calls = []
    import agentime.attention.kernel as kernel

    monkeypatch.setattr(kernel, "build_block_layout", lambda *a, **kw: calls.append(1))
    out = sparse_attention(q, k, v, SparseAttentionConfig(min_seq_len=128), causal=True)
    assert not calls
    assert (out - reference(q, k, v, True)).abs().max() < 1e-5


def test_bfloat16_runs_and_is_close():
    q, k, v = qkv(length=256, dtype=torch.bfloat16)
    out = sparse_attention(q, k, v, EXACT, causal=True)
    assert out.dtype == torch.bfloat16
    ref = reference(q.float(), k.float(), v.float(), True)
    assert F.cosine_similarity(out.float().flatten(), ref.flatten(), dim=0) > 0.999


def test_unsupported_dtype_falls_back_with_one_warning():
    _warned.clear()
    q, k, v = qkv(length=128, dtype=torch.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out1 = sparse_attention(q, k, v, EXACT, causal=True)
        sparse_attention(q, k, v, EXACT, causal=True)
    assert len([w for w in caught if "float64" in str(w.message)]) == 1
    assert (out1 - reference(q, k, v, True)).abs().max() < 1e-10


def test_dense_attention_matches_reference_with_cache_offset():
    q, k, v = qkv(length=100, q_len=7)
    assert (dense_attention(q, k, v, causal=True) - reference(q, k, v, True)).abs().max() < 1e-5


@pytest.mark.parametrize(
    "shapes",
    [
        ((2, 8, 64, 16), (2, 3, 64, 16), (2, 3, 64, 16)),  # heads not a multiple
        ((2, 8, 64, 16), (1, 2, 64, 16), (1, 2, 64, 16)),  # batch differs
        ((2, 8, 64, 16), (2, 2, 64, 8), (2, 2, 64, 8)),  # head dim differs
        ((2, 8, 64, 16), (2, 2, 64, 16), (2, 2, 60, 16)),  # key/value length differs
        ((2, 8, 80, 16), (2, 2, 64, 16), (2, 2, 64, 16)),  # more queries than keys
        ((8, 64, 16), (2, 64, 16), (2, 64, 16)),  # not 4-D
    ],
)
def test_inconsistent_shapes_raise(shapes):
    q, k, v = (torch.zeros(s) for s in shapes)
    with pytest.raises(AttentionShapeError):
        sparse_attention(q, k, v, EXACT)


def test_bad_masks_raise():
    q, k, v = qkv(length=64)
    with pytest.raises(AttentionShapeError, match="2-D key padding"):
        sparse_attention(q, k, v, EXACT, attention_mask=torch.ones(2, 63, dtype=torch.bool))
    with pytest.raises(AttentionShapeError, match="boolean"):
        sparse_attention(q, k, v, EXACT, attention_mask=torch.zeros(2, 64))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"top_k": 0}, "top_k"),
        ({"block_size": 0}, "block_size"),
        ({"block_size": -16}, "block_size"),
        ({"top_k": 1, "sink_blocks": 1, "local_blocks": 1}, "top_k"),
        ({"min_seq_len": -1}, "min_seq_len"),
        ({"global_positions": (-3,)}, "global_positions"),
    ],
)
def test_bad_settings_raise(settings, message):
    with pytest.raises(AttentionConfigError, match=message):
        SparseAttentionConfig(**settings)


@pytest.mark.parametrize("summaries", [False, True])
@pytest.mark.parametrize("causal", [True, False])
def test_shared_mask_fast_path_matches_the_general_mask_path(causal, summaries):
    q, k, v = qkv(batch=1, length=1024)
    config = SparseAttentionConfig(block_size=32, top_k=4, min_seq_len=0, chunk_bytes=1, summarize_skipped=summaries)
    fast = sparse_attention(q, k, v, config, causal=causal)
    allowed = torch.ones(1024, 1024, dtype=torch.bool)
    if causal:
        allowed = allowed.tril()
    general = sparse_attention(q, k, v, config, causal=False, attention_mask=allowed[None, None])
    assert (fast - general).abs().max() < 1e-5


def blockwise_constant(x: torch.Tensor, block: int) -> torch.Tensor:
    """x with every token replaced by the first token of its block of `block` tokens."""
    first = (torch.arange(x.shape[2]) // block) * block
    return x[:, :, first]


@pytest.mark.parametrize("causal", [True, False])
def test_summaries_are_exact_when_each_skipped_block_holds_one_key(causal):
    """A block of identical keys and values weighs exactly like its summary scored q.k + log(count), so with
    summaries a small top_k still matches dense attention; without them it does not."""
    q, k, v = qkv(length=512, seed=3)
    k, v = blockwise_constant(k, 32), blockwise_constant(v, 32)
    keep = torch.ones(2, 512, dtype=torch.bool)
    keep[1, 70:90] = False  # padding inside a block: its summary must count only the kept keys
    ref = reference(q, k, v, causal, keep)
    with_summaries = SparseAttentionConfig(block_size=32, top_k=3, min_seq_len=0, summarize_skipped=True)
    out = sparse_attention(q, k, v, with_summaries, causal=causal, attention_mask=keep)
    assert (out - ref).abs().max() < 1e-4
    plain = sparse_attention(q, k, v, SparseAttentionConfig(block_size=32, top_k=3, min_seq_len=0), causal=causal,
                             attention_mask=keep)
    assert (plain - ref).abs().max() > 1e-2


def test_summaries_bring_diffuse_attention_closer_to_dense():
    q, k, v = qkv(batch=1, length=2048, dim=32, seed=5)
    q = q * 0.2  # low-contrast scores: attention spread over every block
    ref = reference(q, k, v, True)
    errors = {}
    for summaries in (False, True):
        config = SparseAttentionConfig(block_size=64, top_k=4, min_seq_len=0, summarize_skipped=summaries)
        errors[summaries] = (sparse_attention(q, k, v, config, causal=True) - ref).norm() / ref.norm()
    assert errors[True] < 0.5 * errors[False]
