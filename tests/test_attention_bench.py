"""The attention benchmark's building blocks: planted needles, statements with known truth, the model part on
the shipped embedded target (on a few frames), the JSON shape."""

import numpy as np
import pytest
import torch

from agentime.attention import SparseAttentionConfig, clear_frame_boundaries
from agentime.attention.register import register_sparse_attention, registered_config
from pipelines.bench import attention as bench

EXACT = SparseAttentionConfig(block_size=16, top_k=1000, min_seq_len=0)  # every block read: sparse == dense
NARROW = SparseAttentionConfig(block_size=16, top_k=2, min_seq_len=0)  # sink and local block only


def test_needles_are_found_at_4k():
    assert bench.needle_recall(4096, torch.float32, causal=True) == 1.0


def test_needles_dominate_dense_attention():
    q, k, v, asks = bench.needle_inputs(4096, torch.float32, causal=False)
    rows, value_direction = asks[0]
    carried = bench.dense_rows(q, k, v, rows, causal=False) @ value_direction
    assert carried.mean() > 0.5 * 8.0  # most of the weight sits on the needle keys (value norm 8)


def test_statements_are_half_true_and_match_the_rendered_frames():
    questions = bench.make_questions(4, frames=6, frame_seconds=2.5)
    assert [q.truth for q in questions] == [True, False, True, False]
    for question in questions:
        world = bench.world_for(question.world_seed, question.frames, question.frame_seconds)
        shown = {f"a {colour} {shape} is visible" for colour, shape in bench.shown_objects(world, question.times())}
        assert (question.statement in shown) == question.truth
    assert len(bench.question_frames(questions[0])) == 6


@pytest.fixture(scope="module")
def target_pair():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # prompts of ~200 tokens: extra threads only add waiting on a busy machine
    yield bench.load_pair(bench.DEFAULT_MODEL, EXACT)
    torch.set_num_threads(threads)
    clear_frame_boundaries()  # the sparse backend's input hook leaves the last prompt's layout published


def test_captured_attention_is_exact_when_every_block_is_read(target_pair):
    dense_vlm, _ = target_pair
    question = bench.make_questions(1, frames=6, frame_seconds=2.5)[0]
    captured = bench.captured_attention(dense_vlm, question, EXACT, log=lambda _: None)
    assert captured["frames"] == 6 and captured["seq_len"] > 6 * 16
    assert len(captured["layers"]) == dense_vlm.model.config.get_text_config().num_hidden_layers
    assert captured["cosine_min"] > 0.99999 and captured["cosine_min_fixed_blocks"] > 0.99999
    narrow = bench.captured_attention(dense_vlm, question, NARROW, log=lambda _: None)
    assert narrow["cosine_min"] < 0.9999  # reading only two blocks must show: the sparse path really ran


def test_end_to_end_sparse_answers_equal_dense_when_every_block_is_read(target_pair):
    dense_vlm, sparse_vlm = target_pair
    questions = bench.make_questions(2, frames=6, frame_seconds=2.5)
    result = bench.end_to_end(dense_vlm, sparse_vlm, questions, log=lambda _: None)
    rows = result["per_question"]
    assert result["agreement_with_dense"] == 1.0 and result["accuracy_dense"] == result["accuracy_sparse"]
    np.testing.assert_allclose([r["p_yes_sparse"] for r in rows], [r["p_yes_dense"] for r in rows], atol=1e-5)
    assert result["seq_len"] > 6 * 16 and result["dense_prefill_seconds"] > 0 and result["prefill_speedup"] > 0

    previous = registered_config()
    register_sparse_attention(NARROW)  # the same loaded model now reads two blocks per query block
    try:
        narrow = bench.end_to_end(dense_vlm, sparse_vlm, questions[:1], log=lambda _: None)
    finally:
        register_sparse_attention(previous)
    assert any(abs(r["p_yes_sparse"] - r["p_yes_dense"]) > 1e-6 for r in narrow["per_question"])


def test_auc_counts_correctly_ranked_true_false_pairs():
    assert bench.auc([0.9, 0.1, 0.5], [True, False, False]) == 1.0
    assert bench.auc([0.2, 0.2, 0.9], [True, False, False]) == 0.25
    assert bench.auc([0.9], [True]) is None


def test_table_row_formatting():
    row = {name: 1 for name, _ in bench.COLUMNS}
    assert len(bench.format_row(row)) == len(bench.format_header())
