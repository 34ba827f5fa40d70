"""The hf backend runs a model part with agentime's sparse attention and hands it the prompt's frame layout."""

import numpy as np

from agentime.attention.context import current_frame_layout
from agentime.vlm.hf import HFConfig, HFVLM
from tiny_models import frames, tiny_model


def test_sparse_text_attention_matches_sdpa_when_it_covers_every_block():
    folder = str(tiny_model("llava"))
    dense = HFVLM(HFConfig(folder, attn_implementation="sdpa"))
    sparse = HFVLM(HFConfig(folder, attn_implementation={"text": "agentime_sparse", "vision": "sdpa"},
                            sparse_attention={"min_seq_len": 1, "block_size": 16, "top_k": 1000}))
    batch = [frames(3, seed=1), frames(2, seed=2)]
    expected = dense.yes_probability(batch, "a red square is visible")
    got = sparse.yes_probability(batch, "a red square is visible")
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_frame_layout_reaches_the_kernel():
    folder = str(tiny_model("llava"))
    sparse = HFVLM(HFConfig(folder, attn_implementation={"text": "agentime_sparse", "vision": "sdpa"},
                            sparse_attention={"min_seq_len": 1, "block_size": 16, "top_k": 2}))
    sparse.yes_probability([frames(3, seed=3)], "a red square is visible")
    layout = current_frame_layout()
    assert layout is not None
    spans = layout.spans[0]
    assert len(spans) == 3 and all(end > start for start, end in spans)
    assert layout.global_positions[0]  # the prompt's text tokens are global
