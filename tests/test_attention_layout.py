"""Block layouts (fixed and frame-aligned), the frame-boundary context and the settings object."""

import subprocess
import sys

import pytest

from agentime.attention import (
    SparseAttentionConfig,
    clear_frame_boundaries,
    current_frame_layout,
    frame_boundaries,
    prompt_text_positions,
    publish_frame_boundaries,
)
from agentime.attention.layout import build_block_layout, fixed_block_starts, frame_block_starts
from agentime.errors import AttentionConfigError


def test_fixed_blocks_cover_the_sequence():
    assert fixed_block_starts(300, 128) == [0, 128, 256, 300]
    layout = build_block_layout(256, 64)
    assert layout.uniform and layout.num_blocks == 4 and layout.block_len == 64
    assert layout.block_of.tolist() == [i // 64 for i in range(256)]
    assert layout.table.tolist() == [list(range(b * 64, b * 64 + 64)) for b in range(4)]
    assert layout.uneven_table is None and layout.uneven_block_of is None  # made on demand: no memory held


def test_positions_of_blocks_equal_their_table_rows():
    import torch

    blocks = torch.tensor([[3, 0], [1, 2]])
    for layout in (build_block_layout(512, 128), build_block_layout(350, 128, [[(80, 144), (150, 214)]])):
        assert torch.equal(layout.positions(blocks), layout.table[blocks])


def test_each_frame_is_one_block_with_its_timestamp():
    # text 0-80, then frames of 64 tokens separated by 6 timestamp tokens, then a question
    spans = [(80, 144), (150, 214), (220, 284)]
    starts = frame_block_starts(350, 128, spans)
    assert starts == [0, 80, 144, 214, 284, 350]  # prompt text, frame 1, gap+frame 2, gap+frame 3, question
    # a short leading text joins the first frame like a timestamp
    assert frame_block_starts(100, 128, [(30, 94)]) == [0, 94, 100]
    layout = build_block_layout(350, 128, [spans])
    assert not layout.uniform and layout.block_len == 80
    assert layout.table[2].tolist() == list(range(144, 214)) + [-1] * 10


def test_small_frames_share_a_block_without_being_cut():
    # after 80 text tokens, twelve frames of 16 image tokens, each after a 4-token timestamp, then a question
    spans = [(80 + i * 20 + 4, 80 + i * 20 + 20) for i in range(12)]
    starts = frame_block_starts(340, 128, spans)
    assert starts == [0, 84, 200, 320, 340]  # text, frames 1-6, frames 7-12 with their timestamps, question
    for start, end in spans[1:]:  # no cut inside a frame or between a frame and its timestamp
        assert not any(start - 4 < cut < end for cut in starts)


def test_long_frames_and_long_text_are_split():
    assert frame_block_starts(100, 32, [(0, 90)]) == [0, 30, 60, 90, 100]
    text_cuts = [0, 30, 60, 90, 120, 150, 180, 210, 240, 270]
    assert frame_block_starts(400, 32, [(300, 340)]) == text_cuts + [300, 340, 370, 400]


def test_batch_elements_with_different_frames_get_the_union_of_cut_points():
    layout = build_block_layout(200, 64, [[(40, 80)], [(50, 90)]])
    for cut in (40, 80, 50, 90):
        assert cut in layout.starts


def test_spans_past_the_sequence_are_clipped():
    assert frame_block_starts(100, 64, [(40, 90), (120, 180)]) == [0, 40, 90, 100]


def test_frame_boundaries_context_nests_and_resets():
    assert current_frame_layout() is None
    with frame_boundaries([(4, 20), (24, 40)], global_positions=[41, 42], seq_len=50) as outer:
        assert current_frame_layout() is outer
        assert outer.spans == (((4, 20), (24, 40)),) and outer.global_positions == ((41, 42),)
        with frame_boundaries([[(0, 8)], [(2, 10)]]):
            assert current_frame_layout().for_batch(2).spans == (((0, 8),), ((2, 10),))
        assert current_frame_layout() is outer
        assert len(outer.for_batch(3).spans) == 3
    assert current_frame_layout() is None


@pytest.mark.parametrize("spans", [[(10, 5)], [(0, 10), (5, 20)], [(-1, 4)], [("a", 3)]])
def test_bad_spans_raise(spans):
    with pytest.raises(AttentionConfigError):
        with frame_boundaries(spans):
            pass


def test_config_from_dict_rejects_unknown_keys():
    config = SparseAttentionConfig.from_dict({"block_size": 64, "top_k": 4, "global_positions": [1, 2]})
    assert config.block_size == 64 and config.global_positions == (1, 2)
    with pytest.raises(AttentionConfigError, match="unknown"):
        SparseAttentionConfig.from_dict({"blocksize": 64})


def test_settings_and_context_import_without_torch():
    code = "import sys, agentime.attention as a; a.SparseAttentionConfig(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_prompt_text_positions_are_the_text_around_the_frames():
    spans = [(5, 15), (18, 28)]
    assert prompt_text_positions(spans, 32) == [0, 1, 2, 3, 4, 28, 29, 30, 31]
    assert prompt_text_positions(spans, 32, max_tokens=3) == [29, 30, 31]
    assert prompt_text_positions([], 4) == [0, 1, 2, 3]


def test_publish_and_clear_without_a_with_block():
    token = publish_frame_boundaries([(1, 5)], seq_len=10)
    assert current_frame_layout().spans == (((1, 5),),)
    clear_frame_boundaries(token)
    assert current_frame_layout() is None
    publish_frame_boundaries([(2, 6)])
    clear_frame_boundaries()
    assert current_frame_layout() is None
