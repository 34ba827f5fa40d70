"""The synthetic world is deterministic and its questions' ground truth is exact."""

import hashlib
import json

import numpy as np
import pytest

from agentime.video.sampling import sample_frames
from pipelines.synthetic.make_benchmark import main as make_benchmark_main
from pipelines.synthetic.questions import make_questions
from pipelines.synthetic.world import World, WorldConfig, generate_world


def test_same_seed_same_world_and_pixels():
    a, b = generate_world(5, WorldConfig(minutes=6)), generate_world(5, WorldConfig(minutes=6))
    assert a.to_json() == b.to_json()
    assert np.array_equal(a.render(123.4), b.render(123.4))
    assert generate_world(6, WorldConfig(minutes=6)).to_json() != a.to_json()
    assert World.from_json(json.loads(json.dumps(a.to_json()))).to_json() == a.to_json()


def test_benchmark_files_are_deterministic(tmp_path):
    for name in ("one", "two"):
        assert make_benchmark_main(["--out", str(tmp_path / name), "--videos", "1", "--minutes", "3",
                                    "--seed", "4"]) == 0
    for relative in ("questions.json", "worlds/synth_s4_000.json"):
        digests = {hashlib.sha256((tmp_path / n / relative).read_bytes()).hexdigest() for n in ("one", "two")}
        assert len(digests) == 1, relative
    decoded = [list(sample_frames(tmp_path / n / "videos/synth_s4_000.mp4", fps=0.5)) for n in ("one", "two")]
    assert len(decoded[0]) == 90 and len(decoded[1]) == 90
    assert all(a.t == b.t and np.array_equal(a.image, b.image) for a, b in zip(*decoded, strict=True))
    questions = json.loads((tmp_path / "one" / "questions.json").read_text())
    assert {q["task_type"] for q in questions} == {"grounding", "needle", "order", "counting"}
    for q in questions:
        assert set(q) >= {"video_id", "question_id", "question", "options", "answer", "answer_spans",
                          "task_type", "duration", "answer_text", "video_path"}
        assert len(q["options"]) == 4 and q["answer"] in "ABCD"
        assert q["options"]["ABCD".index(q["answer"])] == f"{q['answer']}. {q['answer_text']}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_question_ground_truth_matches_the_timeline(seed):
    world = generate_world(seed, WorldConfig(minutes=20))
    questions = make_questions(world, "v", seed)
    for q in questions:
        target = q["question"].split(" the ")[-1].split(" first appear")[0].split(" is on screen")[0]
        if q["task_type"] == "counting":
            target = q["question"].removeprefix("How many times does ").split(" ", 1)[1].removesuffix(" appear?")
        spans = [(a.start, a.end) for a in world.appearances if a.name == target.rstrip("?")]
        if q["task_type"] == "needle":
            (start, end), = spans
            assert end - start <= 5.0  # rare: a few seconds in the whole video
            mid = (start + end) / 2
            assert q["answer_text"] in [c.text for c in world.captions_at(mid)]
            assert sum(c.text == q["answer_text"] for c in world.captions) == 1
        elif q["task_type"] == "grounding":
            assert q["answer_spans"][0] == pytest.approx(list(min(spans)), abs=1e-3)
        elif q["task_type"] == "counting":
            assert len(spans) == int(q["answer_text"])
        elif q["task_type"] == "order":
            target = q["question"].removeprefix("Which object appears right after the ").removesuffix("?")
            (first_start, _), = [(a.start, a.end) for a in world.appearances if a.name == target]
            later = [a for a in world.appearances if a.start > first_start]
            assert min(later, key=lambda a: a.start).name == q["answer_text"]


def test_needles_are_missed_by_uniform_sampling():
    world = generate_world(8, WorldConfig(minutes=60))
    uniform = np.linspace(0, world.duration, 32, endpoint=False) + world.duration / 64
    for event in world.events["needle"]:
        start, end = event["span"]
        assert not any(start <= t < end for t in uniform)
