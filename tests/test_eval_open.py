"""`agentime eval --open`: questions asked without options, free-form answers scored by time, number or name."""

import json

import pytest

from agentime.config import Config
from agentime.eval import metrics
from agentime.eval.open_answers import score_open_answer
from agentime.eval.results_file import read_results
from agentime.eval.runner import EvalSettings, ModelSource, evaluate
from eval_support import oracle_factory
from oracle_models import OracleEmbedder, OracleVLM
from pipelines.bench_search import open_correct, run
from pipelines.synthetic_world import World


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from pipelines.make_benchmark import make_benchmark

    out = tmp_path_factory.mktemp("bench")
    make_benchmark(out, videos=1, minutes=2, seed=11, progress=False)
    return out


@pytest.fixture
def open_scorer():
    metrics.set_open_scorer(score_open_answer)
    yield
    metrics.set_open_scorer(None)


def test_open_answers_are_scored_against_the_true_options_text(bench, tmp_path, open_scorer):
    questions = json.loads((bench / "questions.json").read_text())
    world = bench / "worlds" / f"{questions[0]['video_id']}.json"
    settings = EvalSettings(task="synthetic", strategy="timesearch", budget=16, cache_dir=str(tmp_path / "cache"),
                            open=True)
    out = tmp_path / "open.jsonl"
    result = evaluate("synthetic", bench / "questions.json", bench, out, ModelSource(factory=oracle_factory(world)),
                      settings, progress=False)
    rows = list(read_results(out).values())
    assert result["open"]["answered"] == result["open"]["scored"] == len(questions)
    by_id = {q["question_id"]: q for q in questions}
    for row in rows:
        q = by_id[row["question_id"]]
        assert row["kind"] == "open" and row["options"] is None
        assert row["correct"] == score_open_answer(q["question"], q["answer_text"], row["answer_text"])
    # the oracle sees perfectly: the stated span and the counted appearances are right once grounded
    for kind in ("grounding", "counting"):
        judged = [r["correct"] for r in rows if r["categories"]["task_type"] == kind]
        assert judged and all(judged), kind
    assert result["open"]["accuracy"] == pytest.approx(sum(r["correct"] for r in rows) / len(rows))


def test_command_line_open_mode_registers_the_scorer(bench, tmp_path, capsys, monkeypatch):
    from agentime.cli import main
    from agentime.eval import runner

    def scored_run(task, annotations, videos, out, source, settings, **kwargs):
        item = runner.open_form(runner.read_task(task, annotations)[0])
        row = metrics.score(task, item, item.meta["reference"], [])  # the true answer, in words
        return {"open": True, "settings": settings.open, "correct": row["correct"]}

    monkeypatch.setattr(runner, "evaluate", scored_run)
    args = ["eval", "--task", "synthetic", "--annotations", str(bench / "questions.json"), "--videos", str(bench),
            "--out", str(tmp_path / "r.jsonl"), "--quiet"]
    try:
        assert main(args + ["--open"]) == 0
        assert json.loads(capsys.readouterr().out) == {"open": True, "settings": True, "correct": True}
    finally:
        metrics.set_open_scorer(None)
    assert main(args) == 0  # without --open nothing is registered: free-form rows would stay unscored
    assert json.loads(capsys.readouterr().out)["correct"] is None


def test_search_benchmark_open_mode_scores_the_text(bench, tmp_path):
    questions = json.loads((bench / "questions.json").read_text())
    world = World.load(bench / "worlds" / f"{questions[0]['video_id']}.json")
    models = {"target": OracleVLM(world), "draft": None, "embedder": OracleEmbedder(world)}
    summary = run(bench, ["timesearch"], 16, models, None, tmp_path / "rows.jsonl",
                  Config(cache_dir=tmp_path / "cache"), open_questions=True)
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    by_id = {q["question_id"]: q for q in questions}
    assert summary["open"] and all(r["answer"] is None for r in rows)  # asked without options: no letter
    assert all(r["correct"] == open_correct(by_id[r["question_id"]], r["text"]) for r in rows)
    s = summary["strategies"]["timesearch"]
    grounding = [r["text_iou"] for r in rows if r["task_type"] == "grounding"]
    assert s["grounding"] == pytest.approx(sum(grounding) / len(grounding)) and s["grounding"] > 0.5
    assert s["accuracy_by_type"]["grounding"] == 1.0 and s["accuracy_by_type"]["counting"] == 1.0


def test_ray_workers_score_open_answers_like_the_local_runner(bench, tmp_path, open_scorer):
    pytest.importorskip("ray")
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    questions = json.loads((bench / "questions.json").read_text())[:3]
    annotations = tmp_path / "questions.json"
    annotations.write_text(json.dumps(questions))
    world = bench / "worlds" / f"{questions[0]['video_id']}.json"
    source = ModelSource(factory=oracle_factory(world))

    def settings(cache):
        return EvalSettings(task="synthetic", strategy="timesearch", budget=16, cache_dir=str(cache), open=True)

    local = evaluate("synthetic", annotations, bench, tmp_path / "local.jsonl", source, settings(tmp_path / "l"),
                     progress=False)
    distributed = evaluate("synthetic", annotations, bench, tmp_path / "ray.jsonl", source, settings(tmp_path / "r"),
                           executor="ray", workers=1, progress=False,
                           ray_options={"extra_paths": [str(root), str(root / "tests")], "num_cpus": 1})
    ray_rows = read_results(tmp_path / "ray.jsonl")
    assert [r["correct"] for r in ray_rows.values()] == [r["correct"] for r in read_results(tmp_path / "local.jsonl").values()]
    assert all(r["correct"] is not None for r in ray_rows.values())  # scored in the workers, not left unscored
    assert distributed["open"] == local["open"] and distributed["open"]["scored"] == len(questions)
