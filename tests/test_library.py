"""A library of videos: real files in a folder, the shipped embedded models, one index over them all."""

import json

import numpy as np
import pytest

import agentime
from agentime.cli import main as cli_main
from agentime.config import Config
from agentime.errors import ConfigError
from pipelines.make_benchmark import library_configs, library_questions
from pipelines.synthetic_world import generate_world, write_video


@pytest.fixture(scope="module")
def models():
    from agentime.vlm.registry import load_model_roles

    return load_model_roles({"target": "embedded:target", "draft": None, "embedder": "embedded:embedder"})


@pytest.fixture(scope="module")
def library_folder(tmp_path_factory):
    """Two two-minute videos, each showing an object no other video shows, and two files that are not videos."""
    folder = tmp_path_factory.mktemp("library")
    questions = {}
    for number, config in enumerate(library_configs(2, minutes=2, fps=2, seed=11)):
        world = generate_world(500 + number, config)
        path = write_video(world, folder / f"video_{number}.mp4")
        questions[str(path.resolve())] = library_questions(world, f"video_{number}", number)
    (folder / "notes.txt").write_text("not a video")
    (folder / "empty.mp4").write_bytes(b"")
    return folder, questions


def test_adding_a_folder_indexes_its_videos_and_lists_what_it_skipped(library_folder, models, tmp_path):
    folder, _ = library_folder
    library = agentime.Library(folder, cache=tmp_path, models=models)
    assert sorted(library.videos) == sorted(str(p.resolve()) for p in folder.glob("video_*.mp4"))
    skipped = {s.path.rsplit("/", 1)[-1]: s.reason for s in library.skipped}
    assert set(skipped) == {"notes.txt", "empty.mp4"} and all(skipped.values())
    assert library.index.choice.kind == "flat" and len(library.index) == sum(v["frames"] for v in library.videos.values())

    again = agentime.Library(folder, cache=tmp_path, models=models, add=False).add()
    assert sorted(again["unchanged"]) == sorted(library.videos) and again["added"] == []


def test_search_and_ranking_find_the_video_that_shows_the_object(library_folder, models, tmp_path):
    folder, questions = library_folder
    library = agentime.Library(folder, cache=tmp_path, models=models)
    for path, asked in questions.items():
        which = next(q for q in asked if q["task_type"] == "which_video")
        assert library.rank_videos(which["question"])[0]["video"] == path
        moments = library.search(which["question"].split(" the ")[1].removesuffix(" shown?"), 3)
        start, end = which["answer_spans"][0]
        assert moments[0].video == path and start - 2 <= moments[0].t <= end + 2


def test_ask_answers_inside_the_video_it_found_and_names_it(library_folder, models, tmp_path):
    folder, questions = library_folder
    library = agentime.Library(folder, cache=tmp_path, models=models)
    path, asked = next(iter(questions.items()))
    q = next(q for q in asked if q["task_type"] == "needle")
    answer = library.ask(q["question"], options=q["options"], strategy="uniform", budget=8, candidates=1)
    assert answer.video == path and answer.moments == [(path, a, b) for a, b in answer.spans]
    assert answer.evidence and answer.choice in "ABCD"
    assert answer.candidates[0]["video"] == path and answer.stats["target_frames"] <= 8


def test_a_damaged_index_is_rebuilt_and_a_deleted_video_is_dropped_with_a_note(library_folder, models, tmp_path):
    import shutil

    source, questions = library_folder
    folder = tmp_path / "copy"
    shutil.copytree(source, folder)
    library = agentime.Library(folder, cache=tmp_path / "cache", models=models)
    index_file = library.directory / "library.faiss"
    data = bytearray(index_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    index_file.write_bytes(bytes(data))

    rebuilt = agentime.Library(folder, cache=tmp_path / "cache", models=models)
    assert index_file.read_bytes() != bytes(data) and len(rebuilt.index) == len(library.index)

    gone = folder / "video_0.mp4"
    gone.unlink()
    moments = rebuilt.search("a shape", 20)
    assert moments and all(m.video != str(gone.resolve()) for m in moments)
    assert any("deleted" in note and "video_0.mp4" in note for note in rebuilt.notes)
    assert rebuilt.index.videos == [v["key"] for v in rebuilt.videos.values()]


def test_library_needs_a_folder_and_an_embedder(tmp_path, models):
    with pytest.raises(ConfigError, match="does not exist"):
        agentime.Library(tmp_path / "missing", cache=tmp_path, models=models)
    with pytest.raises(ConfigError, match="needs an embedder"):
        agentime.Library(tmp_path, cache=tmp_path, models={**models, "embedder": None})


def test_cli_library_search_and_bad_input(library_folder, tmp_path, capsys):
    folder, questions = library_folder
    cache = str(tmp_path / "cache")
    assert cli_main(["library", "add", str(folder), "--cache", cache, "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == 2 and len(summary["skipped"]) == 2
    path, asked = next(iter(questions.items()))
    which = next(q for q in asked if q["task_type"] == "which_video")
    assert cli_main(["library", "search", str(folder), which["question"], "--cache", cache, "--quiet", "--json"]) == 0
    moments = json.loads(capsys.readouterr().out)
    assert moments[0]["video"] == path and np.isfinite(moments[0]["score"])
    assert cli_main(["library", "ask", str(folder), "--cache", cache, "--quiet"]) == 2
    assert "needs a text" in capsys.readouterr().err


def test_a_library_benchmark_asks_about_objects_only_one_video_shows():
    worlds = [generate_world(900 + i, c) for i, c in enumerate(library_configs(4, minutes=2, fps=2, seed=5))]
    for number, world in enumerate(worlds):
        asked = library_questions(world, f"v{number}", number)
        assert {q["task_type"] for q in asked} == {"needle", "grounding", "which_video"}
        needle = world.events["needle"][0]["object"]
        shown = [{a.name for a in other.appearances} for other in worlds]
        assert [needle in names for names in shown] == [i == number for i in range(len(worlds))]


def test_one_minute_library_videos_get_their_questions_without_endless_drawing(monkeypatch):
    """A one-minute video has no span 'far' from its answer: the wrong spans come nearer, and drawing ends."""
    import random

    draws = {"n": 0}
    uniform = random.Random.uniform

    def counted(self, a, b):
        draws["n"] += 1
        if draws["n"] > 20_000:
            raise AssertionError("the question maker keeps drawing random spans")
        return uniform(self, a, b)

    worlds = [generate_world(i, c) for i, c in enumerate(library_configs(3, minutes=1, fps=2, seed=0))]
    monkeypatch.setattr(random.Random, "uniform", counted)
    for number, world in enumerate(worlds):
        draws["n"] = 0
        grounding = next(q for q in library_questions(world, f"v{number}", 0) if q["task_type"] == "grounding")
        texts = [o.split(". ", 1)[1] for o in grounding["options"]]
        assert len(set(texts)) == 4 and texts.count(grounding["answer_text"]) == 1


def test_a_thirty_video_library_benchmark_keeps_one_object_per_video():
    configs = library_configs(30, minutes=10, fps=4, seed=3)
    own = [c.reserved[0] for c in configs]
    assert len(set(own)) == 30 and not set(own) & set(configs[0].common) and len(configs[0].common) >= 12
    smaller = library_configs(10, minutes=10, fps=4, seed=3)  # as it was generated before 30 were possible
    assert len(smaller[0].common) == 20 and [c.reserved[0] for c in smaller] == own[2:12]


def test_the_target_looks_at_the_candidates_and_puts_the_video_that_shows_it_first(library_folder, models, tmp_path,
                                                                                     monkeypatch):
    folder, questions = library_folder
    library = agentime.Library(folder, cache=tmp_path, models=models)
    path, asked = list(questions.items())[1]
    which = next(q for q in asked if q["task_type"] == "which_video")
    ranked = library.rank_videos(which["question"])
    wrong_first = sorted(ranked, key=lambda r: r["video"] == path)  # as a look-alike would rank
    monkeypatch.setattr(library, "rank_videos", lambda text: [dict(r) for r in wrong_first])
    found = library.find_videos(which["question"])
    assert [r["video"] for r in found][0] == path and found[0]["seen"] > found[1]["seen"]
    assert [r["video"] for r in library.find_videos(which["question"], verify=0)][0] != path  # the embedder's order
