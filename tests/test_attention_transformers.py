"""A tiny transformers model gives the same logits with `agentime_sparse` as with `sdpa` when top_k covers all."""

import pytest
import torch

from agentime.attention import SparseAttentionConfig, frame_boundaries
from agentime.attention.register import register_sparse_attention

transformers = pytest.importorskip("transformers")

EXACT = SparseAttentionConfig(block_size=16, top_k=10_000, min_seq_len=0)


def tiny_qwen2(attn_implementation: str):
    config = transformers.Qwen2Config(
        vocab_size=97,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=0,
        eos_token_id=None,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config)
    model.set_attn_implementation(attn_implementation)
    return model.eval()


@pytest.fixture(scope="module")
def models():
    register_sparse_attention(EXACT)
    dense = tiny_qwen2("sdpa")
    sparse = tiny_qwen2("agentime_sparse")
    sparse.load_state_dict(dense.state_dict())
    return dense, sparse


def test_registered_names_resolve():
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    register_sparse_attention(EXACT)
    assert "agentime_sparse" in AttentionInterface().valid_keys()
    assert ALL_MASK_ATTENTION_FUNCTIONS["agentime_sparse"] is sdpa_mask


def test_same_logits_as_sdpa(models):
    dense, sparse = models
    ids = torch.randint(1, 97, (2, 200), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = dense(input_ids=ids).logits
        got = sparse(input_ids=ids).logits
        with frame_boundaries([(20, 52), (58, 90), (96, 128)], global_positions=list(range(180, 200))):
            framed = sparse(input_ids=ids).logits
    assert (got - expected).abs().max() < 1e-5
    assert (framed - expected).abs().max() < 1e-5


def test_same_logits_on_a_left_padded_batch(models):
    dense, sparse = models
    ids = torch.randint(1, 97, (2, 150), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[1, :37] = 0
    ids[1, :37] = 0
    with torch.no_grad():
        expected = dense(input_ids=ids, attention_mask=mask).logits
        got = sparse(input_ids=ids, attention_mask=mask).logits
    assert (got[0] - expected[0]).abs().max() < 1e-5
    assert (got[1, 37:] - expected[1, 37:]).abs().max() < 1e-5


@pytest.mark.parametrize("padded", [False, True])
def test_same_generation_with_a_kv_cache(models, padded):
    dense, sparse = models
    ids = torch.randint(1, 97, (2, 120), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    if padded:
        mask[0, :20] = 0
        ids[0, :20] = 0
    kwargs = dict(max_new_tokens=8, do_sample=False, output_logits=True, return_dict_in_generate=True, pad_token_id=0)
    with torch.no_grad():
        expected = dense.generate(input_ids=ids, attention_mask=mask, **kwargs)
        got = sparse.generate(input_ids=ids, attention_mask=mask, **kwargs)
    assert torch.equal(got.sequences, expected.sequences)
    for step_got, step_expected in zip(got.logits, expected.logits):
        assert (step_got - step_expected).abs().max() < 1e-4


def test_small_top_k_really_changes_the_attention():
    register_sparse_attention(SparseAttentionConfig(block_size=16, top_k=2, min_seq_len=0), name="agentime_sparse_test")
    dense = tiny_qwen2("sdpa")
    sparse = tiny_qwen2("agentime_sparse_test")
    sparse.load_state_dict(dense.state_dict())
    ids = torch.randint(1, 97, (1, 256), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        difference = (sparse(input_ids=ids).logits - dense(input_ids=ids).logits).abs()
    assert difference[:, :32].max() < 1e-5  # sink + diagonal cover the first two blocks exactly
    assert difference[:, 64:].max() > 1e-4
