"""The attention benchmark's building blocks: planted needles, prompts with frame spans, the JSON shape."""

import torch

from pipelines import bench_attention as bench


def test_needles_are_found_at_4k():
    assert bench.needle_recall(4096, torch.float32, causal=True) == 1.0


def test_needles_dominate_dense_attention():
    q, k, v, asks = bench.needle_inputs(4096, torch.float32, causal=False)
    rows, value_direction = asks[0]
    carried = bench.dense_rows(q, k, v, rows, causal=False) @ value_direction
    assert carried.mean() > 0.5 * 8.0  # most of the weight sits on the needle keys (value norm 8)


def test_prompt_spans_cover_exactly_the_image_tokens():
    model = bench.build_tiny_llava(tokens_per_side=2, patch=8)
    ids, pixels, spans, globals_ = bench.many_frame_prompt(model, frames=5, question_seed=0)
    image = bench.image_token_id(model)
    assert pixels.shape[0] == 5 and len(spans) == 5
    assert sum(e - s for s, e in spans) == int((ids == image).sum())
    assert all(bool((ids[0, s:e] == image).all()) for s, e in spans)
    assert all(int(ids[0, p]) != image for p in globals_)


def test_end_to_end_reports_agreement_not_accuracy_for_a_random_model():
    bench.register_sparse_attention(bench.SETTINGS)
    model = bench.build_tiny_llava(tokens_per_side=2, patch=8)
    result = bench.end_to_end(model, frames=4, questions=1, log=lambda _: None)
    assert result["accuracy_dense"] is None and result["agreement_with_dense"] == 1.0
    assert result["per_question"][0]["logits_cosine"] > 0.9999  # short prompt: dense path, identical


def test_table_row_formatting():
    row = {name: 1 for name, _ in bench.COLUMNS}
    assert len(bench.format_row(row)) == len(bench.format_header())
