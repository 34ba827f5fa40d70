"""Prompts fitted to a model's limits, on the shipped target (context 1024 tokens) and real EgoSchema questions
whose five long options overflow it, and on a server-style "at most N images" refusal."""

import json
from pathlib import Path

import numpy as np
import pytest

from agentime.video.frames import Frame
from agentime.video.tafr import build_prompt, timestamped_frames
from agentime.vlm.base import Generation
from agentime.vlm.errors import InvalidPromptError, PromptTooLongError
from agentime.vlm.fitting import FittedVLM, limit_of, shorten_text, thin_frames

EGOSCHEMA = Path(__file__).resolve().parent / "data" / "egoschema" / "questions.json"


def frames(n, side=96):
    rng = np.random.default_rng(0)
    return [Frame(float(i), rng.integers(0, 255, (side, side, 3), dtype=np.uint8)) for i in range(n)]


def longest_question():
    records = json.loads(EGOSCHEMA.read_text())
    record = max(records, key=lambda r: len(r["question"]) + sum(len(r[f"option {k}"]) for k in range(5)))
    return record["question"], [record[f"option {k}"] for k in range(5)], records


@pytest.fixture(scope="module")
def target():
    from agentime.vlm.registry import load_vlm

    return load_vlm("embedded:target")


def test_thinning_keeps_first_and_last_frames_with_their_timestamps():
    parts = timestamped_frames(frames(8)) + ["question?"]
    thinned = thin_frames(parts, 3)
    assert [p.t for p in thinned if isinstance(p, Frame)] == [0.0, 4.0, 7.0]
    assert thinned[0] == "[00:00:00.0]" and thinned[2] == "[00:00:04.0]" and thinned[-1] == "question?"
    assert shorten_text(["one two three four five six seven eight", "[00:00:01.0]"], 6) == [
        "one two three four five six …", "[00:00:01.0]"]


def test_a_real_egoschema_question_with_many_frames_is_fitted_instead_of_failing(target):
    question, options, _ = longest_question()
    prompt = build_prompt(frames(24), question, options=options)
    with pytest.raises(PromptTooLongError) as raised:
        target.generate(prompt, max_new_tokens=4)
    assert raised.value.limit == 1024 and limit_of(raised.value) == ("tokens", 1024)
    notes = []
    answer = FittedVLM(target, notes.append).generate(prompt, max_new_tokens=4)
    assert isinstance(answer, Generation) and 0 < answer.prompt_tokens <= 1024 - 4
    assert len(notes) == 1 and "24 -> 12 frames" in notes[0] and "text lines" not in notes[0]


def test_text_is_shortened_once_one_frame_is_left(target):
    question, options, records = longest_question()
    long_options = [f"{o} {records[k][f'option {k}']} {records[k + 5][f'option {k}']}" for k, o in enumerate(options)]
    prompt = build_prompt(frames(1), question + " " + " ".join(r["question"] for r in records[:6]),
                          options=long_options)
    with pytest.raises(PromptTooLongError):
        target.generate(prompt, max_new_tokens=4)
    notes = []
    answer = FittedVLM(target, notes.append).generate(prompt, max_new_tokens=4)
    assert answer.prompt_tokens <= 1020 and "text lines cut to" in notes[0] and "frames" not in notes[0]


def test_yes_no_scoring_of_a_long_statement_over_a_frame_group_is_fitted(target):
    question, _, records = longest_question()
    statement = "This frame helps answer the question: " + " ".join(r["question"] for r in records[:8])
    group = frames(30)
    with pytest.raises(PromptTooLongError):
        target.yes_probability([group], statement)
    notes = []
    p = FittedVLM(target, notes.append).yes_probability([group, group[:2]], statement)
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1)) and "frames" in notes[0]


class ImageLimitedServer:
    """Refuses prompts with more than two images, in the words vLLM uses."""

    name, max_batch = "served", 4

    def __init__(self):
        self.seen = []

    def generate(self, parts, max_new_tokens=64, **kwargs):
        images = sum(isinstance(p, Frame) for p in parts)
        self.seen.append(images)
        if images > 2:
            raise InvalidPromptError("http://127.0.0.1:8000/v1 rejected the request: At most 2 image(s) may be "
                                     "provided in one request.")
        return Generation(text="B")


def test_a_server_image_limit_is_learnt_and_respected():
    server = ImageLimitedServer()
    notes = []
    model = FittedVLM(server, notes.append)
    assert model.generate(build_prompt(frames(6), "q?")).text == "B"
    assert model.generate(build_prompt(frames(5), "q?")).text == "B"
    assert server.seen == [6, 2, 2]  # the second prompt was fitted before it was sent
    assert "6 -> 2 frames" in notes[0] and "at most 2" in notes[1]
    FittedVLM(server).generate(build_prompt(frames(3), "q?"))  # a new wrapper (the next search step) knows too
    assert server.seen[-1] == 2 and len(server.seen) == 4


def test_errors_that_are_not_about_limits_pass_through():
    class Broken:
        name, max_batch = "broken", 1

        def generate(self, parts, max_new_tokens=64, **kwargs):
            raise InvalidPromptError("a prompt part must be text or a Frame, got int")

    with pytest.raises(InvalidPromptError, match="must be text or a Frame"):
        FittedVLM(Broken()).generate(["q?"])


def test_a_search_over_a_long_real_question_answers_and_traces_the_cut(synthetic_video, tmp_path):
    from agentime.api import ask
    from agentime.config import Config

    path, _ = synthetic_video
    question, options, _ = longest_question()
    answer = ask(str(path), question, options=options, strategy="uniform", budget=8,
                 models={"target": "embedded:target", "draft": None, "embedder": None},
                 config=Config(cache_dir=tmp_path / "cache"))
    assert answer.choice in "ABCDE"
    fits = [step for step in answer.trace if step["step"] == "fit"]
    assert fits and "frames" in fits[0]["note"]
