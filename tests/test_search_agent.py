"""The search strategies and the agent graph, driven by models with perfect perception of the world.

The oracle models (tests/oracle_models.py) isolate the search logic from model quality: a strategy that
fails here has a logic bug. Quality with the shipped embedded models is measured by pipelines.bench.search.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import agentime
from agentime.agent.graph import build_graph, route_search
from agentime.config import Config
from agentime.errors import ConfigError, VideoNotFoundError
from oracle_models import OracleEmbedder, OracleVLM
from pipelines.synthetic.questions import make_questions
from pipelines.synthetic.world import WorldConfig, generate_world, write_video

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def needle_video(tmp_path_factory):
    world = generate_world(42, WorldConfig(minutes=10))
    path = write_video(world, tmp_path_factory.mktemp("search") / "needles.mp4")
    return path, world, make_questions(world, "needles", 42)


def paper_config(cache_dir) -> Config:
    """A configuration whose SpecTemp follows the paper's protocol (uniform first look, region scans)."""
    from agentime.config import SearchConfig, SpecTempConfig

    return Config(cache_dir=cache_dir, search=SearchConfig(spectemp=SpecTempConfig(preset="paper")))


def oracle_models(world):
    return {"target": OracleVLM(world), "draft": OracleVLM(world, "oracle-draft"), "embedder": OracleEmbedder(world)}


def overlaps(span, truth) -> bool:
    return min(span[1], truth[1]) - max(span[0], truth[0]) > 0


@pytest.mark.parametrize("strategy", ["timesearch", "spectemp", "exhaustive"])
def test_each_strategy_finds_the_planted_needle(needle_video, tmp_path, strategy):
    path, world, questions = needle_video
    for q in [q for q in questions if q["task_type"] == "needle"]:
        answer = agentime.ask(path, q["question"], options=q["options"], strategy=strategy, budget=32,
                              models=oracle_models(world), config=Config(cache_dir=tmp_path))
        truth = q["answer_spans"][0]
        assert answer.spans and overlaps(answer.spans[0], truth), (strategy, answer.spans, truth)
        assert any(truth[0] - 1 <= e.t <= truth[1] + 1 for e in answer.evidence)
        assert answer.confidence >= 0.8
        if strategy != "exhaustive":
            assert answer.stats["target_frames"] <= 32
        steps = {s["step"] for s in answer.trace}
        assert "answer" in steps and ({"spotlight", "zoom"} <= steps if strategy == "timesearch" else True)


def test_uniform_sampling_misses_the_needle_at_the_same_budget(needle_video, tmp_path):
    path, world, questions = needle_video
    q = next(q for q in questions if q["task_type"] == "needle")
    answer = agentime.ask(path, q["question"], strategy="uniform", budget=32, models=oracle_models(world),
                          config=Config(cache_dir=tmp_path))
    assert not any(overlaps(s, q["answer_spans"][0]) for s in answer.spans)


def test_spectemp_uses_the_draft_and_few_target_frames(needle_video, tmp_path):
    path, world, questions = needle_video
    q = next(q for q in questions if q["task_type"] == "grounding")
    answer = agentime.ask(path, q["question"], options=q["options"], strategy="spectemp", budget=64,
                          models=oracle_models(world), config=paper_config(tmp_path))
    assert answer.choice == q["answer"]  # time-range options are matched to the found span
    assert answer.stats["draft_frames"] > answer.stats["target_frames"]
    assert [s["step"] for s in answer.trace][0] == "first_look"
    assert any(s["step"] == "verify" for s in answer.trace)


def test_draft_proposals_can_be_overruled(needle_video, tmp_path):
    path, world, questions = needle_video

    class WrongDraft(OracleVLM):
        def yes_probability(self, frames_batch, statement):
            return 1.0 - super().yes_probability(frames_batch, statement)  # proposes exactly the wrong frames

    first_look = [60 * i + 30 for i in range(10)]  # spectemp's 10 uniform frames over 600 s
    q = next(q for q in questions if q["task_type"] == "needle"
             and not any(q["answer_spans"][0][0] <= t <= q["answer_spans"][0][1] for t in first_look))
    models = {**oracle_models(world), "draft": WrongDraft(world, "wrong-draft")}
    answer = agentime.ask(path, q["question"], strategy="spectemp", budget=64, models=models,
                          config=paper_config(tmp_path))
    verifications = [s for s in answer.trace if s["step"] == "verify"]
    assert verifications and all(s["extra"]["rejected"] for s in verifications)
    assert "overruled" in verifications[0]["note"]


def test_graph_routing_loops_until_done():
    assert route_search({"search": {"done": False}}) == "search_step"
    assert route_search({"search": {"done": True}}) == "answer"
    mermaid = build_graph().get_graph().draw_mermaid()
    for node in ("prepare", "plan", "search_step", "answer"):
        assert node in mermaid


@pytest.mark.parametrize("kwargs,match", [
    ({"question": "  "}, "empty"), ({"question": "x" * 3000}, "characters"),
    ({"question": "q?", "options": ["only one"]}, "between 2 and 10"),
    ({"question": "q?", "options": "A. red"}, "list of non-empty"),
    ({"question": "q?", "budget": 0}, "positive"), ({"question": "q?", "budget": -3}, "positive"),
    ({"question": "q?", "strategy": "psychic"}, "unknown strategy"),
])
def test_bad_questions_and_settings(needle_video, tmp_path, kwargs, match):
    path, world, _ = needle_video
    with pytest.raises(ConfigError, match=match):
        agentime.ask(path, models=oracle_models(world), config=Config(cache_dir=tmp_path), **kwargs)


def test_video_errors_surface_unchanged(tmp_path, needle_video):
    with pytest.raises(VideoNotFoundError):
        agentime.ask(tmp_path / "missing.mp4", "What is shown?", models=oracle_models(needle_video[1]))


def test_unresolvable_model_spec(needle_video):
    from agentime.vlm.errors import ModelNotFoundError, ModelSpecError

    with pytest.raises((ModelSpecError, ModelNotFoundError)):
        agentime.ask(needle_video[0], "What is shown?", models={"target": "hf:/no/such/model/folder"})


SESSION_SCRIPT = """
import json, sys
sys.path.insert(0, "tests")
from agentime.api import Session
from agentime.config import Config
from oracle_models import OracleEmbedder, OracleVLM
from pipelines.synthetic.world import World
world = World.load(sys.argv[3])
models = {"target": OracleVLM(world), "draft": None, "embedder": OracleEmbedder(world)}
session = Session(sys.argv[1], models=models, config=Config(cache_dir=sys.argv[2]), session_id="s1",
                  checkpoint=sys.argv[2] + "/sessions.sqlite")
if len(sys.argv) > 4:
    session.ask(sys.argv[4], strategy="timesearch", budget=24)
print(json.dumps([h["question"] for h in session.history]))
"""


def test_session_survives_a_process_restart(needle_video, tmp_path):
    path, world, questions = needle_video
    world_file = tmp_path / "world.json"
    world.save(world_file)
    run = [sys.executable, "-c", SESSION_SCRIPT, str(path), str(tmp_path), str(world_file)]
    first = subprocess.run(run + [questions[0]["question"]], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(first.stdout.strip().splitlines()[-1]) == [questions[0]["question"]]
    second = subprocess.run(run + [questions[2]["question"]], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(second.stdout.strip().splitlines()[-1]) == [questions[0]["question"], questions[2]["question"]]
    restored = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=True)
    assert len(json.loads(restored.stdout.strip().splitlines()[-1])) == 2


def test_cli_ask_prints_the_answer_with_timestamps(needle_video, tmp_path, capsys, monkeypatch):
    from agentime import api
    from agentime.cli import main

    path, world, questions = needle_video
    monkeypatch.setattr(api, "load_model_roles", lambda models, verbose=False: oracle_models(world))
    q = next(q for q in questions if q["task_type"] == "grounding")
    assert main(["ask", str(path), q["question"], "--options", *q["options"], "--cache", str(tmp_path),
                 "--quiet", "--strategy", "timesearch"]) == 0
    out = capsys.readouterr().out
    assert f"answer: {q['answer']}." in out and "span: [00:" in out and "evidence:" in out


def test_search_benchmark_summary_shape(tmp_path):
    from pipelines.bench.search import run, summarise
    from pipelines.synthetic.make_benchmark import make_benchmark, video_seed

    make_benchmark(tmp_path / "bench", videos=1, minutes=3, seed=99, progress=False)
    world = generate_world(video_seed(99, 0), WorldConfig(minutes=3))
    summary = run(tmp_path / "bench", ["uniform", "timesearch"], 16, oracle_models(world), None,
                  tmp_path / "rows.jsonl", Config(cache_dir=tmp_path / "cache"))
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * summary["strategies"]["uniform"]["questions"]
    for name in ("uniform", "timesearch"):
        s = summary["strategies"][name]
        assert set(s) >= {"accuracy", "accuracy_by_type", "miou", "r1_at_0.5", "target_frames", "draft_frames",
                          "seconds_per_question"}
        assert s == summarise([r for r in rows if r["strategy"] == name])
    assert summary["strategies"]["timesearch"]["miou"] > summary["strategies"]["uniform"]["miou"]
    only = run(tmp_path / "bench", ["uniform"], 16, oracle_models(world), None, None,
               Config(cache_dir=tmp_path / "cache"), {"needle"})
    assert set(only["strategies"]["uniform"]["accuracy_by_type"]) == {"needle"}

    from pipelines.bench.search import main
    with pytest.raises(SystemExit) as exit_info:
        main(["--bench", str(tmp_path / "bench"), "--types", "juggling"])
    assert exit_info.value.code == 2


def test_first_span_skips_a_flaky_lookalike_before_the_real_appearance():
    from agentime.search.answer import _main_span, evidence_spans, span_confidence

    flaky = {"100.000": 0.9, "101.000": 0.2, "102.000": 0.7}  # a lookalike: fires on some frames only
    solid = {f"{t:.3f}": 1.0 for t in range(300, 310)}  # the object, seen in every frame
    state = {"scores": {**flaky, **solid}, "draft_scores": {},
             "evidence": [{"t": float(t), "score": s} for t, s in {**flaky, **solid}.items() if s >= 0.5]}
    spans = evidence_spans(state, 0.5, 2.5, 3600.0)
    assert [round(s[0]) for s in spans] == [100, 300]
    assert span_confidence(state, spans[0]) < span_confidence(state, spans[1])
    assert _main_span(state, spans, "When does the red star first appear?")[0] == 299.5
    # the frames at a span's padded edges were found not relevant: they do not lower its confidence
    state["scores"].update({"299.500": 0.0, "309.500": 0.0})
    assert span_confidence(state, spans[1]) == 1.0
    # a real earlier appearance, as confident as the later one, is the first
    state["scores"].update({"101.000": 1.0, "100.000": 1.0, "102.000": 1.0})
    assert _main_span(state, spans, "When does the red star first appear?")[0] == 99.5


def test_free_form_answers_are_matched_to_options():
    from agentime.search.answer import matching_option

    assert matching_option("24", ["70", "50", "24", "23"]) == 2
    assert matching_option("Red hexagon.", ["pink star", "red hexagon", "yellow diamond"]) == 1
    assert matching_option("it is the red hexagon", ["pink star", "red hexagon"]) == 1
    assert matching_option("4", ["14", "4", "40"]) == 1  # whole words only
    assert matching_option("red star and pink star", ["red star", "pink star"]) is None  # ambiguous
    assert matching_option("", ["a", "b"]) is None


@pytest.mark.parametrize("strategy", ["timesearch", "spectemp", "exhaustive"])
def test_counting_questions_sweep_for_every_appearance(needle_video, tmp_path, strategy):
    path, world, questions = needle_video
    counting = [q for q in questions if q["task_type"] == "counting"]
    assert counting
    for q in counting:
        answer = agentime.ask(path, q["question"], options=q["options"], strategy=strategy, budget=32,
                              models=oracle_models(world), config=Config(cache_dir=tmp_path))
        assert answer.choice == q["answer"], (strategy, q["question"], answer.text, q["answer_text"])
        assert len(answer.spans) == int(q["answer_text"])
        assert all(any(overlaps(s, truth) for truth in q["answer_spans"]) for s in answer.spans)
        steps = [s["step"] for s in answer.trace]
        if strategy != "exhaustive":
            assert "count_verify" in steps and answer.stats["target_frames"] <= 32
        if strategy == "spectemp":
            assert "count_draft" in steps and answer.stats["draft_frames"] > answer.stats["target_frames"]
        lanes = {s["step"]: s["lane"] for s in answer.trace}
        assert all(lanes[step] for step in ("count_verify", "count_draft", "score_all") if step in lanes), lanes


class BlindDraft(OracleVLM):
    """A draft that never sees the looked-for object (a small model blind to a colour)."""

    def yes_probability(self, frames_batch, statement):
        self.calls += 1
        return np.full(len(frames_batch), 0.02)


def test_a_blind_draft_does_not_hide_appearances_from_the_count(needle_video, tmp_path):
    path, world, questions = needle_video
    for q in [q for q in questions if q["task_type"] == "counting"]:
        models = {**oracle_models(world), "draft": BlindDraft(world, "blind-draft")}
        answer = agentime.ask(path, q["question"], strategy="spectemp", budget=32, models=models,
                              config=Config(cache_dir=tmp_path))
        assert len(answer.spans) == int(q["answer_text"]), (q["question"], answer.text)
        assert answer.text.startswith(f"{q['answer_text']} time")
        # the target, not the draft, confirmed them: each with a second frame of its own
        assert "count_second_look" in [s["step"] for s in answer.trace]


def test_counting_ignores_a_lone_lookalike_frame_and_picks_the_nearest_number():
    from agentime.search.counting import count_appearances, counted_answer, is_count_question

    scores = {"100.000": 0.9, "99.000": 0.1, "101.000": 0.2}  # one frame fires, its neighbours say no
    scores.update({f"{t:.3f}": 1.0 for t in range(300, 306)})
    scores["900.000"] = 0.95  # a run checked on one frame only
    state = {"scores": scores, "draft_scores": {}}
    spans = [[99.5, 100.5], [299.5, 305.5], [899.5, 900.5]]
    assert count_appearances(state, spans, 0.5) == [[299.5, 305.5], [899.5, 900.5]]
    assert counted_answer(2, ["3", "1", "2", "4"]) == (2, "2")
    assert counted_answer(0, ["3", "1", "2", "4"]) == (1, "1")  # no option says 0: the nearest number
    assert counted_answer(2, ["red", "blue"]) == (None, "2")
    assert is_count_question("How many times does a red star appear?")
    assert not is_count_question("How many sides does the red star have?")


def test_frames_after_the_span_are_context_not_scored_evidence(needle_video, tmp_path):
    path, world, questions = needle_video
    q = next(q for q in questions if q["task_type"] == "order")
    answer = agentime.ask(path, q["question"], options=q["options"], strategy="timesearch", budget=32,
                          models=oracle_models(world), config=Config(cache_dir=tmp_path))
    context = [e for e in answer.evidence if e.score is None]
    assert context and all("after the found span" in e.reason and e.t > answer.spans[0][1] for e in context)
    assert all(e.score_text() == "context" for e in context)
    assert answer.choice == q["answer"]
    json.dumps(answer.to_dict(), allow_nan=False)  # plain JSON: no NaN stands in for a missing score


@pytest.mark.parametrize("strategy", ["timesearch", "spectemp"])
def test_what_comes_right_after_is_the_option_seen_after_the_span(needle_video, tmp_path, strategy):
    """The oracle's free answer is always "A"; each order question is still answered right, by which option the
    target sees after the found span and not in it, wherever the right letter sits."""
    path, world, questions = needle_video
    orders = [q for q in questions if q["task_type"] == "order"]
    assert orders
    for q in orders:
        for shift in range(len(q["options"])):  # the right option at every letter
            options = q["options"][shift:] + q["options"][:shift]
            texts = [o.split(". ", 1)[1] for o in options]
            right = "ABCD"[texts.index(q["answer_text"])]
            answer = agentime.ask(path, q["question"], options=texts, strategy=strategy, budget=32,
                                  models=oracle_models(world), config=Config(cache_dir=tmp_path))
            assert answer.choice == right, (q["question"], texts, answer.trace[-1])
            assert "seen after the span" in answer.trace[-1]["note"]


def test_spectemp_regions_around_a_pinpointed_moment_are_region_seconds_wide(needle_video, tmp_path):
    """The draft scans `region_seconds` around the moment the target or the embedder pinpointed, not a tenth of
    the video; a region setting that is not positive is refused."""
    from agentime.api import Session
    from agentime.config import SearchConfig, SpecTempConfig

    path, world, questions = needle_video
    q = next(q for q in questions if q["task_type"] == "needle")
    search = SearchConfig(confidence_threshold=1.0,  # never confident
                          spectemp=SpecTempConfig(preset="paper", region_seconds=20.0))
    session = Session(path, models=oracle_models(world), config=Config(cache_dir=tmp_path, search=search))
    answer = session.ask(q["question"], options=q["options"], strategy="spectemp")
    scans = [s for s in answer.trace if s["step"] == "draft_scan"]
    assert len(scans) == 3
    for scan in scans:
        first, last = scan["times"]
        assert last - first <= 20.0
        assert "best moment" in scan["note"] or "most relevant frame" in scan["note"]
    assert answer.stats["draft_frames"] <= 3 * 21
    with pytest.raises(ConfigError, match="region_seconds"):
        SpecTempConfig(region_seconds=0)


class LookalikeVLM(OracleVLM):
    """The oracle, but it also sees the looked-for object in one lone frame (a lookalike) at `at` seconds."""

    def __init__(self, world, at: float, name: str = "oracle-target"):
        super().__init__(world, name)
        self.at = at

    def yes_probability(self, frames_batch, statement):
        out = super().yes_probability(frames_batch, statement)
        for i, item in enumerate(frames_batch):
            frames = item if isinstance(item, (list, tuple)) else [item]
            if any(abs(f.t - self.at) < 0.01 for f in frames):
                out[i] = 0.95
        return out


def test_spectemp_does_not_stop_on_a_lone_lookalike_frame(needle_video, tmp_path):
    """The first look hits a lookalike at 90 s that the target is sure of; its neighbour says no, so it leaves
    the evidence and the search goes on to the real moment."""
    path, world, questions = needle_video
    q = next(q for q in questions if q["task_type"] == "grounding")
    truth = q["answer_spans"][0]
    assert not truth[0] - 10 <= 90 <= truth[1] + 10
    models = {"target": LookalikeVLM(world, 90.0), "draft": OracleVLM(world, "oracle-draft"),
              "embedder": OracleEmbedder(world)}
    answer = agentime.ask(path, q["question"], options=q["options"], strategy="spectemp", budget=32, models=models,
                          config=paper_config(tmp_path))
    confirms = [s for s in answer.trace if s["step"] == "confirm"]
    assert confirms and "lookalike" in confirms[0]["note"] and "90.0 s" in confirms[0]["note"]
    assert answer.choice == q["answer"] and overlaps(answer.spans[0], truth)
    assert all(abs(e.t - 90.0) > 0.01 for e in answer.evidence)


def test_a_first_appearance_span_is_followed_back_to_where_it_begins(needle_video, tmp_path):
    """SpecTemp's first look lands near the end of the appearance (27 uniform frames: one at 522 s of 515-523 s)
    and is confident at once; the answer follows the object back, so the span starts where it does."""
    from agentime.api import Session
    from agentime.config import SearchConfig, SpecTempConfig

    path, world, questions = needle_video
    q = next(q for q in questions if q["task_type"] == "grounding" and 515 < q["answer_spans"][0][0] < 516)
    truth = q["answer_spans"][0]
    search = SearchConfig(spectemp=SpecTempConfig(preset="paper", uniform_first=27))
    session = Session(path, models=oracle_models(world), config=Config(cache_dir=tmp_path, search=search))
    answer = session.ask(q["question"], options=q["options"], strategy="spectemp")
    watch = [s for s in answer.trace if s["step"] == "watch"]
    assert watch and "back to where it begins" in watch[0]["note"] and watch[0]["lane"] == "looked"
    assert truth[0] - 1.5 <= answer.spans[0][0] <= truth[0] + 1.5 and answer.spans[0][1] >= truth[1] - 1.5


def test_frames_off_the_overview_are_decoded_without_probing_the_file_again(needle_video, tmp_path, monkeypatch):
    import agentime.video.sampling as sampling
    import agentime.video.view as view

    path, world, questions = needle_video
    q = next(q for q in questions if q["task_type"] == "needle")
    kwargs = dict(options=q["options"], strategy="timesearch", budget=32, models=oracle_models(world),
                  config=Config(cache_dir=tmp_path))
    agentime.ask(path, q["question"], **kwargs)  # ingests the video (the one time it is probed)
    decoded = []
    real_sample = view.sample_frames

    def recording_sample(*args, **kwargs):
        frames = list(real_sample(*args, **kwargs))
        decoded.extend(frames)
        return frames

    monkeypatch.setattr(view, "sample_frames", recording_sample)

    def no_probe(*args, **kwargs):
        raise AssertionError("the video was probed again while searching")

    monkeypatch.setattr(sampling, "open_video", no_probe)
    answer = agentime.ask(path, q["question"], **kwargs)
    assert decoded and answer.spans  # zooming decoded frames between the overview's, from the ingest's description
