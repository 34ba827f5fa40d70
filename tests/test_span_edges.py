"""A found span reaches the edges of the appearance it states: SpecTemp's draft follows a thing while it stays on
screen and looks half a second past each edge, and a span's ends lie halfway between the last frame that shows
the thing and the first that does not, so the answer's clock seconds are the appearance's own."""

import pytest

import agentime
from agentime.config import Config
from agentime.eval.open_answers import stated_span
from agentime.search.answer import evidence_spans
from oracle_models import OracleEmbedder, OracleVLM
from pipelines.synthetic.questions import make_questions
from pipelines.synthetic.world import WorldConfig, generate_world, write_video


@pytest.fixture(scope="module")
def long_appearances(tmp_path_factory):
    """A 3-minute world whose two "first appear" answers last 13-14 s: longer than the draft's first look at
    8 s either side of the verified frame reaches when that frame is near one end."""
    world = generate_world(24, WorldConfig(minutes=3))
    path = write_video(world, tmp_path_factory.mktemp("edges") / "world.mp4")
    questions = [q for q in make_questions(world, "world", 24) if q["task_type"] == "grounding"]
    assert all(q["answer_spans"][0][1] - q["answer_spans"][0][0] > 13.0 for q in questions), "fixture"
    return path, world, questions


def test_spectemp_states_an_appearance_from_its_first_to_its_last_second(long_appearances, tmp_path):
    path, world, questions = long_appearances
    for q in questions:
        models = {"target": OracleVLM(world), "draft": OracleVLM(world, "oracle-draft"),
                  "embedder": OracleEmbedder(world)}
        answer = agentime.ask(path, q["question"], strategy="spectemp", budget=32, models=models,
                              config=Config(cache_dir=tmp_path))
        truth, stated = q["answer_spans"][0], stated_span(answer.text)
        # the truth's ends rounded to the clock second are what a perfect reader of the frames would state
        assert stated is not None and abs(stated[0] - truth[0]) <= 0.5 and abs(stated[1] - truth[1]) <= 0.5, (
            q["question"], answer.text, truth)
        assert answer.stats["target_frames"] <= 8, "the edges are the draft's work, not the target's"
        assert any(step["step"] == "draft_extent" and any(t % 1.0 for t in step["times"]) for step in answer.trace), (
            "the draft looked between the overview's frames at the edges")


def _state(relevant: list[float], unseen: list[float]) -> dict:
    return {"scores": {f"{t:.3f}": 0.95 for t in relevant}, "evidence": [{"t": t, "score": 0.95} for t in relevant],
            "draft_scores": {f"{t:.3f}": 0.05 for t in unseen}}


def test_a_span_ends_halfway_to_the_nearest_frame_judged_without_the_thing():
    # seen at 10-14 s, not seen half a second past either edge: it began after 9.5 s and ended before 14.5 s
    assert evidence_spans(_state([10.0, 11.0, 12.0, 13.0, 14.0], [9.5, 14.5]), 0.5, 2.5, 60.0) == [[9.75, 14.25]]
    # frames a second apart at its edges, or none: half a second either side, as before
    assert evidence_spans(_state([10.0, 11.0, 12.0], [9.0, 13.0]), 0.5, 2.5, 60.0) == [[9.5, 12.5]]
    assert evidence_spans(_state([10.0, 11.0, 12.0], []), 0.5, 2.5, 60.0) == [[9.5, 12.5]]
    # the video's ends still bound the span
    assert evidence_spans(_state([0.0, 1.0], [1.5]), 0.5, 2.5, 60.0) == [[0.0, 1.25]]


def test_without_a_draft_the_target_does_not_follow_the_edges(long_appearances, tmp_path):
    path, world, questions = long_appearances
    models = {"target": OracleVLM(world), "draft": None, "embedder": OracleEmbedder(world)}
    answer = agentime.ask(path, questions[0]["question"], strategy="spectemp", budget=64, models=models,
                          config=Config(cache_dir=tmp_path))
    extents = [step for step in answer.trace if step["step"] == "draft_extent"]
    assert len(extents) <= 1 and not any(t % 1.0 for step in extents for t in step["times"])
