"""What a search costs (model seconds per role, wall seconds), SpecTemp's two protocols, and budgets too small.

The per-role seconds are checked with the tiny random models (pipelines/tiny) loaded through the real hf
backend, and with oracle models that sleep a known time per call, so that a call the ledger misses (the
answer step's own calls, the embedder's text embedding) shows as missing seconds.
"""

import time

import numpy as np

import pytest

import agentime
from agentime.api import Session
from agentime.config import Config, SearchConfig, SpecTempConfig
from agentime.errors import BudgetTooSmallError, ConfigError
from oracle_models import OracleEmbedder, OracleVLM
from pipelines.synthetic.questions import make_questions
from pipelines.synthetic.world import WorldConfig, generate_world, write_video
from tiny_models import tiny_model, tiny_vlm

PAUSE = 0.01  # seconds each call of a sleeping oracle model takes


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    world = generate_world(42, WorldConfig(minutes=10))
    path = write_video(world, tmp_path_factory.mktemp("cost") / "clip.mp4")
    return path, world, make_questions(world, "clip", 42)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One frame cache for the module: the clip is ingested once (each model's index is kept beside it)."""
    return tmp_path_factory.mktemp("cost-cache")


class SleepingVLM(OracleVLM):
    """The oracle VLM, but every call takes PAUSE seconds more and is counted."""

    def __init__(self, world, name):
        super().__init__(world, name)
        self.paused = 0

    def _pause(self):
        self.paused += 1
        time.sleep(PAUSE)

    def yes_probability(self, frames_batch, statement):
        self._pause()
        return super().yes_probability(frames_batch, statement)

    def generate(self, parts, max_new_tokens=64, **kwargs):
        self._pause()
        return super().generate(parts, max_new_tokens, **kwargs)

    def describe(self, frames, max_new_tokens=64):
        self._pause()
        return super().describe(frames, max_new_tokens)


class SleepingEmbedder(OracleEmbedder):
    def __init__(self, world):
        super().__init__(world)
        self.text_calls = 0

    def embed_texts(self, texts):
        self.text_calls += 1
        time.sleep(PAUSE)
        return super().embed_texts(texts)


def sleeping_models(world):
    return {"target": SleepingVLM(world, "oracle-target"), "draft": SleepingVLM(world, "oracle-draft"),
            "embedder": SleepingEmbedder(world)}


def roles(stats):
    return stats["target_seconds"], stats["draft_seconds"], stats["embedder_seconds"]


@pytest.mark.parametrize("strategy", ["timesearch", "spectemp"])
def test_every_model_call_is_timed_under_its_role(clip, shared_cache, strategy):
    path, world, questions = clip
    q = next(q for q in questions if q["task_type"] == "order")  # the answer step calls the target itself
    models = sleeping_models(world)
    session = Session(path, models=models, config=Config(cache_dir=shared_cache))
    session.prepare()  # ingest and index: not part of the question's cost
    models["embedder"].text_calls = 0
    answer = session.ask(q["question"], options=q["options"], strategy=strategy, budget=32)
    target, draft, embedder = roles(answer.stats)
    # every call slept PAUSE: each role's seconds cover its calls, the answer step's included
    assert target >= models["target"].paused * PAUSE > 0
    assert embedder >= models["embedder"].text_calls * PAUSE > 0
    if strategy == "spectemp":
        assert draft >= models["draft"].paused * PAUSE > 0
    else:
        assert draft == 0.0 and models["draft"].paused == 0
    assert answer.stats["seconds"] == pytest.approx(target + draft + embedder)
    assert answer.stats["wall_seconds"] >= answer.stats["seconds"]  # calls run one after another
    assert answer.stats["embedder_calls"] >= 1


def test_tiny_hf_models_report_seconds_per_role(tmp_path):
    from agentime.vlm.hf import HFConfig, HFEmbedder

    world = generate_world(7, WorldConfig(minutes=2))  # a short clip: the tiny embedder indexes it quickly
    path = write_video(world, tmp_path / "short.mp4")
    models = {"target": tiny_vlm("llava"), "draft": tiny_vlm("llava"),  # one model in two roles, timed apart
              "embedder": HFEmbedder(HFConfig(str(tiny_model("siglip"))))}
    began = time.perf_counter()
    answer = agentime.ask(path, "When does the red circle first appear?", options=["A. 1", "B. 2"],
                          strategy="spectemp", budget=16, models=models, config=Config(cache_dir=tmp_path))
    elapsed = time.perf_counter() - began
    target, draft, embedder = roles(answer.stats)
    assert target > 0 and draft > 0 and embedder > 0
    assert answer.stats["seconds"] == pytest.approx(target + draft + embedder)
    assert answer.stats["seconds"] <= answer.stats["wall_seconds"] <= elapsed
    assert answer.stats["target_frames"] <= 16 and answer.stats["draft_frames"] > 0


def test_the_paper_preset_runs_the_published_protocol(clip, shared_cache):
    """10 uniform target frames first, then rounds of 1-fps draft scans with 2 proposals each, at most 3."""
    path, world, questions = clip
    q = next(q for q in questions if q["task_type"] == "needle")
    config = Config(cache_dir=shared_cache).with_settings(["search.spectemp.preset=paper",
                                                       "search.confidence_threshold=1.0"])  # never confident
    assert config.search.spectemp.preset == "paper"
    models = {"target": OracleVLM(world), "draft": OracleVLM(world, "oracle-draft"), "embedder": OracleEmbedder(world)}
    answer = Session(path, models=models, config=config).ask(q["question"], options=q["options"], strategy="spectemp")
    steps = [s for s in answer.trace if s["lane"]]
    first = steps[0]
    assert first["step"] == "first_look" and len(first["times"]) == 10
    gaps = [b - a for a, b in zip(first["times"], first["times"][1:])]
    assert min(gaps) >= 55  # uniform over the 600-s video
    scans = [s for s in answer.trace if s["step"] == "draft_scan"]
    verifies = [s for s in answer.trace if s["step"] == "verify"]
    assert len(scans) == 3 and len(verifies) == 3  # at most 3 rounds
    assert all(len(v["times"]) == 2 for v in verifies)  # 2 proposals per round
    for scan in scans:  # a 1-fps scan: about one frame per second of the region
        first_t, last_t = scan["times"]
        frames = int(scan["note"].split(": ")[1].split(" frames")[0])
        assert abs(frames - (last_t - first_t + 1)) <= 2


def test_the_guided_default_has_no_uniform_first_look(clip, shared_cache):
    """The embedder names the moments, the draft scans around them in one batch, the target verifies only the
    draft's proposals: far fewer target frames than the paper's protocol on the same question."""
    path, world, questions = clip
    assert SpecTempConfig().preset == "guided"
    asked = [q for q in questions if q["task_type"] in ("needle", "grounding")]
    models = {"target": OracleVLM(world), "draft": OracleVLM(world, "oracle-draft"), "embedder": OracleEmbedder(world)}
    paper = Config(cache_dir=shared_cache, search=SearchConfig(spectemp=SpecTempConfig(preset="paper")))
    guided_frames, paper_frames = 0, 0
    for q in asked:
        guided = agentime.ask(path, q["question"], options=q["options"], strategy="spectemp", budget=32,
                              models=models, config=Config(cache_dir=shared_cache))
        truth = q["answer_spans"][0]
        assert guided.spans and min(guided.spans[0][1], truth[1]) > max(guided.spans[0][0], truth[0])
        if q["task_type"] == "grounding":  # time-range options: matched to the span (the oracle cannot read)
            assert guided.choice == q["answer"]
        assert "first_look" not in [s["step"] for s in guided.trace]
        scans = [s for s in guided.trace if s["step"] == "draft_scan"]
        assert scans and "embedder's likeliest moments" in scans[0]["note"]
        guided_frames += guided.stats["target_frames"]
        paper_frames += agentime.ask(path, q["question"], options=q["options"], strategy="spectemp", budget=32,
                                     models=models, config=paper).stats["target_frames"]
    assert guided_frames < paper_frames


@pytest.mark.parametrize("preset,minimum", [("paper", 14), ("guided", 4)])
def test_a_budget_too_small_names_the_smallest_that_works(clip, shared_cache, preset, minimum):
    path, world, questions = clip
    models = {"target": OracleVLM(world), "draft": OracleVLM(world, "oracle-draft"), "embedder": OracleEmbedder(world)}
    config = Config(cache_dir=shared_cache, search=SearchConfig(spectemp=SpecTempConfig(preset=preset)))
    session = Session(path, models=models, config=config)
    with pytest.raises(BudgetTooSmallError, match=f"use a budget of {minimum} or more") as error:
        session.ask(questions[0]["question"], strategy="spectemp", budget=minimum - 1)
    assert error.value.minimum == minimum and isinstance(error.value, ConfigError)
    assert "10-minute video" in str(error.value)
    answer = session.ask(questions[0]["question"], strategy="spectemp", budget=minimum)
    assert answer.stats["target_frames"] <= minimum + 4  # the answer step may add its own few


def test_cli_exits_2_with_the_smallest_budget(clip, shared_cache, capsys, monkeypatch):
    from agentime import api
    from agentime.cli import main

    path, world, questions = clip
    monkeypatch.setattr(api, "load_model_roles", lambda models, verbose=False: {
        "target": OracleVLM(world), "draft": OracleVLM(world, "oracle-draft"), "embedder": OracleEmbedder(world)})
    code = main(["ask", str(path), questions[0]["question"], "--cache", str(shared_cache), "--quiet",
                 "--strategy", "spectemp", "--budget", "5", "--set", "search.spectemp.preset=paper"])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "use a budget of 14 or more" in lines[0] and "Traceback" not in err


def test_a_counted_appearance_seen_in_one_frame_only_gets_a_second_look(clip, shared_cache):
    """The draft and the target both see the counted object in one lone frame (a lookalike, where the embedder
    also points); the target's second look at its neighbour says no, so it is not counted."""
    from test_search_agent import LookalikeVLM

    path, world, questions = clip
    q = next(q for q in questions if q["task_type"] == "counting")
    spans = q["answer_spans"]
    lone = next(float(t) for t in range(30, 570, 7) if all(not a - 20 <= t <= b + 20 for a, b in spans))
    wanted = q["question"].split("does a ")[1].split(" appear")[0]

    class LookalikeEmbedder(OracleEmbedder):
        def embed_images(self, frames):
            rows = super().embed_images(frames)
            from oracle_models import COMBOS
            for i, frame in enumerate(frames):
                if abs(frame.t - lone) < 0.01:
                    rows[i, COMBOS.index(wanted)] = 1.0
            return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    models = {"target": LookalikeVLM(world, lone), "draft": LookalikeVLM(world, lone, "oracle-draft"),
              "embedder": LookalikeEmbedder(world, "lookalike-embedder")}
    answer = agentime.ask(path, q["question"], options=q["options"], strategy="spectemp", budget=32,
                          models=models, config=Config(cache_dir=shared_cache))
    drafted = next(s for s in answer.trace if s["step"] == "count_draft")
    assert lone in drafted["times"]  # the lookalike was a candidate the draft checked
    second = next(s for s in answer.trace if s["step"] == "count_second_look")
    assert "lookalike" in second["note"]
    assert answer.choice == q["answer"] and len(answer.spans) == int(q["answer_text"])
    assert all(not s[0] <= lone <= s[1] for s in answer.spans)
