"""Batch evaluation end to end on a generated synthetic benchmark: results, resuming, bad inputs, Ray.

Models are the oracle test doubles (perfect perception of the synthetic world) built in each worker from a
picklable factory, so local and Ray runs can be compared row by row; one run goes through the command line
with tiny random `hf:` models to cover model specs.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentime.eval.metrics import summarise
from agentime.eval.results_file import read_results
from agentime.eval.runner import EvalSettings, ModelSource, evaluate
from eval_support import VanishingServer, oracle_factory, oracle_models

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from pipelines.synthetic.make_benchmark import make_benchmark

    out = tmp_path_factory.mktemp("bench")
    make_benchmark(out, videos=2, minutes=2, seed=11, progress=False)
    return out


def one_video(bench, tmp_path, index=0, edit=None):
    questions = [q for q in json.loads((bench / "questions.json").read_text())
                 if q["video_id"].endswith(f"_{index:03d}")]
    if edit:
        edit(questions)
    path = tmp_path / f"questions_{index}.json"
    path.write_text(json.dumps(questions))
    return path, bench / "worlds" / f"{questions[0]['video_id']}.json", questions


def settings(tmp_path, **kw):
    return EvalSettings(task="synthetic", strategy="timesearch", budget=16, cache_dir=str(tmp_path / "cache"),
                        retry_wait=0.0, **kw)


def without_timing(rows):
    return {q: {k: v for k, v in r.items() if k != "seconds"} for q, r in rows.items()}


def test_results_metrics_and_resume(bench, tmp_path):
    annotations, world, questions = one_video(bench, tmp_path)
    out = tmp_path / "run" / "results.jsonl"
    source = ModelSource(factory=oracle_factory(world))
    metrics = evaluate("synthetic", annotations, bench, out, source, settings(tmp_path), progress=False)

    rows = read_results(out)
    assert len(out.read_text().splitlines()) == len(questions) == len(rows)
    for row in rows.values():
        assert row["status"] == "ok" and row["answer"] in "ABCD" and row["frames_used"] > 0
        assert row["seconds"] >= 0 and 0 <= row["confidence"] <= 1 and isinstance(row["spans"], list)
    written = json.loads((out.with_name(out.stem + ".metrics.json")).read_text())
    assert written == metrics
    correct = sum(r["correct"] for r in rows.values())
    assert metrics["accuracy"] == pytest.approx(correct / len(questions))
    grounding = [r for r in rows.values() if r["categories"]["task_type"] == "grounding"]
    assert grounding and metrics["official"]["task_type"]["grounding"] == pytest.approx(
        sum(r["correct"] for r in grounding) / len(grounding))
    assert metrics["grounding"]["miou"] == pytest.approx(sum(r["iou"] for r in grounding) / len(grounding))
    assert metrics["grounding"]["miou"] > 0.5  # the oracle finds the planted objects

    # A crash: the last row lost and a half-written line left behind. The rerun answers only that question.
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40])
    before = read_results(out)
    again = evaluate("synthetic", annotations, bench, out, source, settings(tmp_path), progress=False)
    after = read_results(out)
    assert len(out.read_text().splitlines()) == len(questions)
    assert all(after[q] == before[q] for q in before)  # untouched, timings included: not re-answered
    assert without_timing(after) == without_timing(rows)
    assert {k: v for k, v in again.items() if k != "settings"} == {k: v for k, v in metrics.items() if k != "settings"}


def test_a_run_killed_while_writing_its_first_row_resumes_without_losing_a_row(bench, tmp_path):
    """The file holds only a torn line: the first new row must not be glued onto it."""
    annotations, world, questions = one_video(bench, tmp_path)
    out = tmp_path / "results.jsonl"
    out.write_text('{"task": "synthetic", "question_id": "' + questions[0]["question_id"] + '", "kind": "cho')
    metrics = evaluate("synthetic", annotations, bench, out, ModelSource(factory=oracle_factory(world)),
                       settings(tmp_path), limit=3, progress=False)
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and [json.loads(line)["question_id"] for line in lines] == [
        q["question_id"] for q in questions[:3]]
    assert metrics["questions"] == metrics["covered"] == 3 and "incomplete" not in metrics


def test_missing_video_is_recorded_in_annotation_order_and_the_batch_goes_on(bench, tmp_path):
    def break_one(questions):
        questions[1]["video_path"] = "videos/not_there.mp4"

    annotations, world, questions = one_video(bench, tmp_path, edit=break_one)
    out = tmp_path / "results.jsonl"
    metrics = evaluate("synthetic", annotations, bench, out, ModelSource(factory=oracle_factory(world)),
                       settings(tmp_path), progress=False, max_missing=0.5)
    rows = read_results(out)
    missing = rows[questions[1]["question_id"]]
    assert missing["status"] == "error" and "not_there.mp4 not found" in missing["error"]
    assert missing["correct"] is False and missing["missing_video"] is True
    assert sum(r["status"] == "ok" for r in rows.values()) == len(questions) - 1
    assert metrics["failed"] == 1 and metrics["questions"] == len(questions) and metrics["missing_videos"] == 1
    # the missing video's row was written first, but the file lists rows in annotation order
    written = [json.loads(line)["question_id"] for line in out.read_text().splitlines()]
    assert written == [q["question_id"] for q in questions]


def test_a_run_whose_videos_are_mostly_missing_fails_unless_allowed(bench, tmp_path):
    def break_half(questions):
        for i, q in enumerate(questions):
            if i % 2:
                q["video_path"] = f"videos/gone_{i}.mp4"

    annotations, world, questions = one_video(bench, tmp_path, edit=break_half)
    allowed = evaluate("synthetic", annotations, bench, tmp_path / "run_b.jsonl",
                       ModelSource(factory=oracle_factory(world)), settings(tmp_path), limit=4, progress=False,
                       allow_missing=True)
    assert allowed["missing_videos"] == 2 and allowed["covered"] == 4 and allowed["failed"] == 2
    # the command line, where no video can be found: exit 2 with one line, after writing the metrics
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "run_a.jsonl"
    cmd = [sys.executable, "-m", "agentime.cli", "eval", "--task", "synthetic", "--annotations", str(annotations),
           "--videos", str(empty), "--out", str(out), "--quiet", "--limit", "4"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "the videos of 4 of 4 questions (100%) were not found" in done.stderr and "--allow-missing" in done.stderr
    assert "Traceback" not in done.stderr
    written = json.loads(out.with_name("run_a.metrics.json").read_text())
    assert written["missing_videos"] == 4 and json.loads(done.stdout) == written  # the metrics are still shown
    # two runs in one folder: each keeps its own metrics file
    assert json.loads((tmp_path / "run_b.metrics.json").read_text())["missing_videos"] == 2


def test_real_tempcompass_files_run_end_to_end_with_their_predictions_file(bench, tmp_path):
    """The real captioning and caption-matching files, their videos found in a sub-folder by video id."""
    _, world, questions = one_video(bench, tmp_path)
    videos = tmp_path / "videos"
    (videos / "clips").mkdir(parents=True)
    for video_id in ("1034419625", "1034419625_reverse"):
        (videos / "clips" / f"{video_id}.mp4").hardlink_to(bench / questions[0]["video_path"])
    source = ModelSource(factory=oracle_factory(world))
    data = ROOT / "tests" / "data" / "tempcompass"
    for qtype in ("captioning", "caption_matching"):
        out = tmp_path / "runs" / f"{qtype}.jsonl"
        metrics = evaluate("tempcompass", data / f"{qtype}.json", videos, out, source,
                           EvalSettings(task="tempcompass", strategy="uniform", budget=4,
                                        cache_dir=str(tmp_path / "cache")), limit=3, progress=False)
        assert metrics["failed"] == 0 and metrics["covered"] == 3
        predictions = json.loads(Path(metrics["files"][f"tempcompass_{qtype}"]).read_text())
        assert len(predictions["1034419625"]["action"]) == 3
        assert all(p["prediction"] for p in predictions["1034419625"]["action"])
    assert metrics["scored"] == 3 and "official" in metrics  # caption matching is scored by its rules
    captioning = json.loads((tmp_path / "runs" / "captioning.metrics.json").read_text())
    assert captioning["captions"]["written"] == 3 and "LLM judge" in captioning["captions"]["needs"]


def vanishing_models(world_file: str, calls: int) -> dict:
    models = oracle_models(world_file, draft=False)
    models["target"] = VanishingServer(models["target"], calls)
    return models


def test_a_server_that_goes_away_fails_questions_after_retries_and_keeps_what_was_written(bench, tmp_path):
    import functools

    annotations, world, questions = one_video(bench, tmp_path)
    out = tmp_path / "results.jsonl"
    first = evaluate("synthetic", annotations, bench, out, ModelSource(factory=oracle_factory(world)),
                     settings(tmp_path), limit=2, progress=False)
    assert first["failed"] == 0
    kept = out.read_text()

    source = ModelSource(factory=functools.partial(vanishing_models, str(world), 12))
    metrics = evaluate("synthetic", annotations, bench, out, source, settings(tmp_path, retries=1), progress=False)
    assert out.read_text().startswith(kept)  # nothing already written is lost
    rows = read_results(out)
    later = [rows[q["question_id"]] for q in questions[2:]]
    assert later[0]["status"] == "ok"  # the server still answered at first
    failed = [r for r in later if r["status"] == "failed"]
    assert failed and all(r["attempts"] == 2 and "ServerUnavailableError" in r["error"] for r in failed)
    assert metrics["failed"] == len(failed) and metrics["questions"] == len(questions)


def test_ray_executor_gives_the_local_results(bench, tmp_path):
    pytest.importorskip("ray")
    annotations, world, questions = one_video(bench, tmp_path, index=1)
    # The same video under two names: two groups of questions that two workers answer at once.
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(bench / questions[0]["video_path"], videos / name)
    both = [{**q, "video_path": "a.mp4"} for q in questions]
    both += [{**q, "question_id": q["question_id"] + "-b", "video_path": "b.mp4"} for q in questions]
    annotations.write_text(json.dumps(both))
    source = ModelSource(factory=oracle_factory(world))
    local = evaluate("synthetic", annotations, videos, tmp_path / "local" / "results.jsonl", source,
                     settings(tmp_path / "l"), workers=2, progress=False)
    distributed = evaluate("synthetic", annotations, videos, tmp_path / "ray" / "results.jsonl", source,
                           settings(tmp_path / "r"), executor="ray", workers=2, progress=False,
                           ray_options={"extra_paths": [str(ROOT), str(ROOT / "tests")], "num_cpus": 2, "chunk": 3})
    local_rows = read_results(tmp_path / "local" / "results.jsonl")
    ray_rows = read_results(tmp_path / "ray" / "results.jsonl")
    assert len(ray_rows) == len(local_rows) == 2 * len(questions)
    assert without_timing(ray_rows) == without_timing(local_rows)
    strip = lambda m: {k: v for k, v in m.items() if k not in ("settings", "files")}  # noqa: E731
    assert strip(distributed) == strip(local) and distributed["settings"]["executor"] == "ray"
    assert local["failed"] == 0 and local["accuracy"] > 0


def test_command_line_with_tiny_hf_models(bench, tmp_path):
    from pipelines.tiny.vlms import build_llava

    model = build_llava(tmp_path / "tiny-llava")
    videos = tmp_path / "videos"
    shutil.copytree(bench / "videos", videos)
    out = tmp_path / "cli" / "results.jsonl"
    cmd = [sys.executable, "-m", "agentime.cli", "eval", "--task", "synthetic",
           "--annotations", str(bench / "questions.json"), "--videos", str(videos), "--out", str(out),
           "--strategy", "uniform", "--budget", "4", "--target", f"hf:{model}", "--draft", "", "--embedder", "",
           "--limit", "2", "--cache", str(tmp_path / "cache"), "--quiet"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout)
    assert printed == json.loads((out.with_name(out.stem + ".metrics.json")).read_text())
    assert printed["questions"] == 2 and printed["failed"] == 0
    assert printed["settings"]["models"]["target"] == f"hf:{model}"
    rows = read_results(out)
    assert all(r["status"] == "ok" and r["target_frames"] <= 4 for r in rows.values())
    assert summarise("synthetic", list(rows.values()))["accuracy"] == printed["accuracy"]


def test_command_line_bad_annotations_exit_with_a_readable_message(tmp_path):
    bad = ROOT / "tests" / "fixtures" / "eval" / "videomme_bad.json"
    cmd = [sys.executable, "-m", "pipelines.evaluate", "--task", "videomme", "--annotations", str(bad),
           "--videos", str(tmp_path), "--out", str(tmp_path / "r.jsonl"), "--quiet"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "record 2 (002-1) has no field 'answer'" in done.stderr and "Traceback" not in done.stderr


def test_eval_takes_a_config_file_and_settings_like_ask(bench, tmp_path, monkeypatch, capsys):
    from agentime.cli import main

    annotations, world, questions = one_video(bench, tmp_path)
    loaded = []

    def oracle_load(source):  # the models the run's Config names are recorded, the oracle answers
        loaded.append(source.specs)
        return oracle_models(str(world), True)

    monkeypatch.setattr(ModelSource, "load", oracle_load)
    config = tmp_path / "run.toml"
    config.write_text('[search]\nbudget = 40\n[models]\ntarget = "hf:/models/from-the-file"\ndraft = "hf:/d"\n')
    out = tmp_path / "run" / "results.jsonl"
    common = ["eval", "--task", "synthetic", "--annotations", str(annotations), "--videos", str(bench),
              "--out", str(out), "--strategy", "uniform", "--cache", str(tmp_path / "cache"), "--quiet",
              "--config", str(config), "--draft", ""]
    assert main([*common, "--set", "search.budget=3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    rows = read_results(out)
    assert len(rows) == len(questions)
    # the file's budget (40), then --set's (3): each question's session looked at 3 target frames
    assert {r["target_frames"] for r in rows.values()} == {3}
    assert printed["settings"]["config"]["search"]["budget"] == 3
    # the file names the target; the command's --draft '' comes after the file
    assert loaded == [{"target": "hf:/models/from-the-file", "draft": None,
                       "embedder": printed["settings"]["config"]["models"]["embedder"]}]

    assert main([*common, "--out", str(tmp_path / "bad.jsonl"), "--set", "search.budget=none"]) == 2
    error = capsys.readouterr().err
    assert error.strip() == "agentime: error: setting search.budget takes int, got 'none'"
    assert main([*common, "--out", str(tmp_path / "bad.jsonl"), "--set", "search.budgit=3"]) == 2
    assert "unknown setting search.budgit" in capsys.readouterr().err
    assert not (tmp_path / "bad.jsonl").exists()
