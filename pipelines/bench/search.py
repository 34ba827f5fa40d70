"""Benchmark the search strategies on a synthetic benchmark folder (from pipelines.synthetic.make_benchmark).

    python -m pipelines.bench_search --bench DIR --strategies uniform,timesearch,spectemp,exhaustive \
        --budget 64 [--target SPEC] [--draft SPEC] [--embedder SPEC] [--limit N] [--types T,...]
        [--out results.jsonl] [--open] [--json] [--no-speech] [--mkv] [--set NAME=VALUE]

A strategy may name a SpecTemp preset after a colon (`spectemp:paper`, `spectemp:guided`); plain `spectemp` is
the configured one. For each strategy: multiple-choice accuracy (overall and per task type), grounding mIoU and
R@1 at IoU 0.5 (the answer's first span against the true span), mean target and draft frames per question, and
the cost per question: wall seconds (`seconds_per_question`, the whole `ask`) and model seconds per role
(`target_seconds`, `draft_seconds`, `embedder_seconds`, timed where each model is called). Timing starts on a
warm cache: every video is ingested and indexed and every model called once before the first question, and
that is reported apart (`ingest_seconds`, per video in `ingest_seconds_by_video`, `warmup_seconds`). `--open` asks without the options and scores the answer's text (`agentime.eval.open_answers`): a
time is right when its start lies within 2 s of the true span's or its span overlaps it with IoU >= 0.5, a
number exactly, an object by its name; an answer that says it is unsure is wrong; `grounding` is then the
mean IoU of the span the text states with the true span (grounding questions). Models are loaded once and
every strategy runs on the same questions in one run. Prints a table and the JSON summary (`--json`: only
the JSON). On a benchmark made with `--speech`, subtitles beside the videos are used unless `--no-speech`;
`--mkv` reads the MKV copies (subtitles as a stream) instead; the summary says which (`speech`) and how long
reading and indexing the transcripts took (`speech_seconds`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from agentime.api import Session
from agentime.config import Config
from agentime.errors import ConfigError
from agentime.eval.open_answers import score_open_answer, stated_span, time_correct
from agentime.search.runtime import ROLES
from agentime.vlm.registry import DEFAULT_MODEL_SPECS, load_model_roles
from agentime.vocabulary import iou


def summarise(rows: list[dict]) -> dict:
    by_type = defaultdict(list)
    for r in rows:
        by_type[r["task_type"]].append(r["correct"])
    grounding = [r["iou"] for r in rows if r["task_type"] == "grounding"]
    stated = [r["text_iou"] for r in rows if r["task_type"] == "grounding" and "text_iou" in r]
    return {
        "questions": len(rows),
        "accuracy": float(np.mean([r["correct"] for r in rows])) if rows else 0.0,
        "accuracy_by_type": {t: float(np.mean(v)) for t, v in sorted(by_type.items())},
        "miou": float(np.mean(grounding)) if grounding else None,
        **({"grounding": float(np.mean(stated))} if stated else {}),
        "r1_at_0.5": float(np.mean([v >= 0.5 for v in grounding])) if grounding else None,
        "target_frames": float(np.mean([r["target_frames"] for r in rows])) if rows else 0.0,
        "draft_frames": float(np.mean([r["draft_frames"] for r in rows])) if rows else 0.0,
        "model_calls": float(np.mean([r["calls"] for r in rows])) if rows else 0.0,
        "seconds_per_question": float(np.mean([r["seconds"] for r in rows])) if rows else 0.0,
        **{f"{role}_seconds": float(np.mean([r[f"{role}_seconds"] for r in rows])) if rows else 0.0
           for role in ROLES},
    }


def open_correct(q: dict, text: str) -> bool:
    """Whether the text of an answer to `q` asked without options is right (see the module's docstring)."""
    if q["task_type"] == "grounding":
        return time_correct(text, q["answer_spans"][0])
    return score_open_answer(q["question"], q["answer_text"], text) is True


def strategy_variant(name: str, config: Config) -> tuple[str, Config]:
    """A `--strategies` entry as (strategy, config): `spectemp:paper` is spectemp with that preset."""
    strategy, _, preset = name.partition(":")
    if preset:
        if strategy != "spectemp":
            raise ValueError(f"only spectemp takes a preset, got {name!r}")
        config = config.with_settings([f"search.spectemp.preset={preset}"])
    return strategy, config


def warm_up(models: dict, session: Session) -> float:
    """Call each model once on one frame of the session's video, so that no strategy pays for first-call setup;
    returns the seconds it took."""
    from agentime.video.ingest import ingest
    from agentime.video.cache import OverviewStore

    began = time.perf_counter()
    frame = next(iter(OverviewStore(ingest(session.video, session.config).directory).iter_frames()))
    for role, model in models.items():
        if model is None:
            continue
        if role == "embedder":
            model.embed_texts(["a red circle"])
        else:
            model.yes_probability([frame], "The frame shows a red circle.")
    return time.perf_counter() - began


def run(bench: Path, strategies: list[str], budget: int, models: dict, limit: int | None, out: Path | None,
        config: Config, types: set[str] | None = None, open_questions: bool = False, mkv: bool = False) -> dict:
    questions = json.loads((bench / "questions.json").read_text())
    if types:
        questions = [q for q in questions if q["task_type"] in types]
    questions = questions[:limit]
    loaded = load_model_roles(models)
    variants = {name: strategy_variant(name, config) for name in strategies}
    sessions: dict[tuple[str, str], Session] = {}
    ingest_seconds: dict[str, float] = {}
    warmup_seconds = 0.0
    for q in questions:  # ingest and index every video before any question is timed
        video = str(bench / q["video_path"])
        if mkv:
            video = str(bench / "videos_mkv" / (Path(q["video_path"]).stem + ".mkv"))
        for name, (_, variant_config) in variants.items():
            if (video, name) not in sessions:
                sessions[(video, name)] = Session(video, models=loaded, config=variant_config)
                seconds = sessions[(video, name)].prepare()
                ingest_seconds[video] = ingest_seconds.get(video, 0.0) + seconds
                if not warmup_seconds:
                    warmup_seconds = warm_up(loaded, sessions[(video, name)])
    results: dict[str, list[dict]] = {s: [] for s in strategies}
    sink = open(out, "w") if out else None  # noqa: SIM115 - closed below
    try:
        for q in questions:
            video = str(bench / q["video_path"])
            if mkv:
                video = str(bench / "videos_mkv" / (Path(q["video_path"]).stem + ".mkv"))
            for name, (strategy, _) in variants.items():
                began = time.perf_counter()
                options = None if open_questions else q["options"]
                answer = sessions[(video, name)].ask(q["question"], options=options, strategy=strategy, budget=budget)
                seconds = time.perf_counter() - began
                correct = open_correct(q, answer.text) if open_questions else answer.choice == q["answer"]
                row = {
                    "question_id": q["question_id"], "task_type": q["task_type"], "strategy": name,
                    "answer": answer.choice, "truth": q["answer"], "correct": correct,
                    "spans": answer.spans, "iou": iou(answer.spans[0], q["answer_spans"][0]) if answer.spans else 0.0,
                    "confidence": answer.confidence, "target_frames": answer.stats["target_frames"],
                    "draft_frames": answer.stats["draft_frames"],
                    "calls": answer.stats["target_calls"] + answer.stats["draft_calls"],
                    "seconds": seconds,
                    **{f"{role}_seconds": answer.stats.get(f"{role}_seconds", 0.0) for role in ROLES},
                    "speech_source": (answer.stats.get("speech") or {}).get("source"),
                    "speech_seconds": (answer.stats.get("speech") or {}).get("seconds", 0.0),
                }
                if open_questions:
                    stated = stated_span(answer.text)
                    row.update(text=answer.text, truth_text=q["answer_text"],
                               text_iou=iou(stated, q["answer_spans"][0]) if stated else 0.0)
                results[name].append(row)
                if sink:
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
    finally:
        if sink:
            sink.close()
    sources = {r["speech_source"] for rows in results.values() for r in rows}
    return {"bench": str(bench), "budget": budget, "open": open_questions,
            "ingest_seconds": sum(ingest_seconds.values()),
            "ingest_seconds_by_video": {Path(v).name: s for v, s in ingest_seconds.items()},
            "warmup_seconds": warmup_seconds,
            "models": {k: str(v) for k, v in models.items()},
            "speech": "off" if not config.speech.enabled else ("stream" if mkv else "sidecar"),
            "speech_sources": sorted(s or "none" for s in sources),
            "speech_seconds": max((r["speech_seconds"] for rows in results.values() for r in rows), default=0.0),
            "strategies": {s: summarise(rows) for s, rows in results.items()}}


def table(summary: dict) -> str:
    lines = [f"{'strategy':<16}{'acc':>7}{'mIoU':>7}{'R@.5':>7}{'target':>8}{'draft':>8}{'s/q':>7}"
             f"{'tgt s':>7}{'dft s':>7}{'emb s':>7}  by type"]
    for name, s in summary["strategies"].items():
        types = " ".join(f"{t}={v:.2f}" for t, v in s["accuracy_by_type"].items())
        miou = f"{s['miou']:.2f}" if s["miou"] is not None else "-"
        r1 = f"{s['r1_at_0.5']:.2f}" if s["r1_at_0.5"] is not None else "-"
        lines.append(f"{name:<16}{s['accuracy']:>7.2f}{miou:>7}{r1:>7}{s['target_frames']:>8.1f}"
                     f"{s['draft_frames']:>8.1f}{s['seconds_per_question']:>7.2f}{s['target_seconds']:>7.2f}"
                     f"{s['draft_seconds']:>7.2f}{s['embedder_seconds']:>7.3f}  {types}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", required=True, type=Path, help="folder made by pipelines.synthetic.make_benchmark")
    parser.add_argument("--strategies", default="uniform,timesearch,spectemp,exhaustive",
                        help="comma-separated; spectemp:paper / spectemp:guided pick a SpecTemp preset")
    parser.add_argument("--set", action="append", default=[], dest="settings", metavar="NAME=VALUE",
                        help="one setting, e.g. search.spectemp.moments=4; repeatable")
    parser.add_argument("--budget", type=int, default=64, help="target frames per question")
    parser.add_argument("--target", default=DEFAULT_MODEL_SPECS["target"])
    parser.add_argument("--draft", default=DEFAULT_MODEL_SPECS["draft"])
    parser.add_argument("--embedder", default=DEFAULT_MODEL_SPECS["embedder"])
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--types", default="", help="only these task types, comma-separated (e.g. counting)")
    parser.add_argument("--out", type=Path, default=None, help="per-question results as JSONL")
    parser.add_argument("--cache", type=Path, default=None, help="frame cache folder")
    parser.add_argument("--open", action="store_true",
                        help="ask without the options and score the answers' text (open questions)")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    parser.add_argument("--library", action="store_true",
                        help="ask each question of the whole folder as one library (make_benchmark --library); "
                             "the first of --strategies (else auto) searches inside the videos it finds")
    parser.add_argument("--no-speech", action="store_true", help="ignore subtitles: frames only")
    parser.add_argument("--mkv", action="store_true", help="read the MKV copies (subtitles as a stream)")
    args = parser.parse_args(argv)
    if not (args.bench / "questions.json").is_file():
        parser.error(f"{args.bench} has no questions.json; make one with python -m pipelines.make_benchmark")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    config = Config(cache_dir=args.cache) if args.cache else Config()
    config = config.with_speech(enabled=not args.no_speech)
    try:
        config = config.with_settings(args.settings)
        for name in strategies:
            strategy_variant(name, config)
    except (ConfigError, ValueError) as exc:
        parser.error(str(exc))
    models = {"target": args.target, "draft": args.draft or None, "embedder": args.embedder or None}
    types = {t.strip() for t in args.types.split(",") if t.strip()}
    present = {q["task_type"] for q in json.loads((args.bench / "questions.json").read_text())}
    if types - present:
        parser.error(f"no questions of type {', '.join(sorted(types - present))} in {args.bench}; "
                     f"it has {', '.join(sorted(present))}")
    if args.library:
        from pipelines.bench.library import run_library

        strategy = strategies[0] if args.strategies != parser.get_default("strategies") else "auto"
        print(json.dumps(run_library(args.bench, strategy, args.budget, models, args.limit, args.out, config,
                                     types=types)))
        return 0
    summary = run(args.bench, strategies, args.budget, models, args.limit, args.out, config, types, args.open, args.mkv)
    if not args.json:
        print(table(summary))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
