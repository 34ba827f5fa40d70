"""Benchmark the search strategies on a synthetic benchmark folder (from pipelines.synthetic.make_benchmark).

    python -m pipelines.bench_search --bench DIR --strategies uniform,timesearch,spectemp,exhaustive \
        --budget 64 [--target SPEC] [--draft SPEC] [--embedder SPEC] [--limit N] [--types T,...]
        [--out results.jsonl] [--json]

For each strategy: multiple-choice accuracy (overall and per task type), grounding mIoU and R@1 at IoU 0.5
(the answer's first span against the true span), mean target and draft frames per question, and seconds per
question. Models are loaded once and every strategy runs on the same questions in one run. Prints a table
and the JSON summary (`--json`: only the JSON).
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
from agentime.vlm.registry import DEFAULT_MODEL_SPECS, load_model_roles
from agentime.vocabulary import iou


def summarise(rows: list[dict]) -> dict:
    by_type = defaultdict(list)
    for r in rows:
        by_type[r["task_type"]].append(r["correct"])
    grounding = [r["iou"] for r in rows if r["task_type"] == "grounding"]
    return {
        "questions": len(rows),
        "accuracy": float(np.mean([r["correct"] for r in rows])) if rows else 0.0,
        "accuracy_by_type": {t: float(np.mean(v)) for t, v in sorted(by_type.items())},
        "miou": float(np.mean(grounding)) if grounding else None,
        "r1_at_0.5": float(np.mean([v >= 0.5 for v in grounding])) if grounding else None,
        "target_frames": float(np.mean([r["target_frames"] for r in rows])) if rows else 0.0,
        "draft_frames": float(np.mean([r["draft_frames"] for r in rows])) if rows else 0.0,
        "model_calls": float(np.mean([r["calls"] for r in rows])) if rows else 0.0,
        "seconds_per_question": float(np.mean([r["seconds"] for r in rows])) if rows else 0.0,
    }


def run(bench: Path, strategies: list[str], budget: int, models: dict, limit: int | None, out: Path | None,
        config: Config, types: set[str] | None = None) -> dict:
    questions = json.loads((bench / "questions.json").read_text())
    if types:
        questions = [q for q in questions if q["task_type"] in types]
    questions = questions[:limit]
    loaded = load_model_roles(models)
    sessions: dict[str, Session] = {}
    results: dict[str, list[dict]] = {s: [] for s in strategies}
    sink = open(out, "w") if out else None  # noqa: SIM115 - closed below
    try:
        for q in questions:
            video = str(bench / q["video_path"])
            if video not in sessions:
                sessions[video] = Session(video, models=loaded, config=config)
            for strategy in strategies:
                began = time.perf_counter()
                answer = sessions[video].ask(q["question"], options=q["options"], strategy=strategy, budget=budget)
                row = {
                    "question_id": q["question_id"], "task_type": q["task_type"], "strategy": strategy,
                    "answer": answer.choice, "truth": q["answer"], "correct": answer.choice == q["answer"],
                    "spans": answer.spans, "iou": iou(answer.spans[0], q["answer_spans"][0]) if answer.spans else 0.0,
                    "confidence": answer.confidence, "target_frames": answer.stats["target_frames"],
                    "draft_frames": answer.stats["draft_frames"],
                    "calls": answer.stats["target_calls"] + answer.stats["draft_calls"],
                    "seconds": time.perf_counter() - began,
                }
                results[strategy].append(row)
                if sink:
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
    finally:
        if sink:
            sink.close()
    return {"bench": str(bench), "budget": budget, "models": {k: str(v) for k, v in models.items()},
            "strategies": {s: summarise(rows) for s, rows in results.items()}}


def table(summary: dict) -> str:
    lines = [f"{'strategy':<12}{'acc':>7}{'mIoU':>7}{'R@.5':>7}{'target':>8}{'draft':>8}{'s/q':>7}  by type"]
    for name, s in summary["strategies"].items():
        types = " ".join(f"{t}={v:.2f}" for t, v in s["accuracy_by_type"].items())
        miou = f"{s['miou']:.2f}" if s["miou"] is not None else "-"
        r1 = f"{s['r1_at_0.5']:.2f}" if s["r1_at_0.5"] is not None else "-"
        lines.append(f"{name:<12}{s['accuracy']:>7.2f}{miou:>7}{r1:>7}{s['target_frames']:>8.1f}"
                     f"{s['draft_frames']:>8.1f}{s['seconds_per_question']:>7.2f}  {types}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", required=True, type=Path, help="folder made by pipelines.synthetic.make_benchmark")
    parser.add_argument("--strategies", default="uniform,timesearch,spectemp,exhaustive")
    parser.add_argument("--budget", type=int, default=64, help="target frames per question")
    parser.add_argument("--target", default=DEFAULT_MODEL_SPECS["target"])
    parser.add_argument("--draft", default=DEFAULT_MODEL_SPECS["draft"])
    parser.add_argument("--embedder", default=DEFAULT_MODEL_SPECS["embedder"])
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--types", default="", help="only these task types, comma-separated (e.g. counting)")
    parser.add_argument("--out", type=Path, default=None, help="per-question results as JSONL")
    parser.add_argument("--cache", type=Path, default=None, help="frame cache folder")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parser.parse_args(argv)
    if not (args.bench / "questions.json").is_file():
        parser.error(f"{args.bench} has no questions.json; make one with python -m pipelines.make_benchmark")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    config = Config(cache_dir=args.cache) if args.cache else Config()
    models = {"target": args.target, "draft": args.draft or None, "embedder": args.embedder or None}
    types = {t.strip() for t in args.types.split(",") if t.strip()}
    present = {q["task_type"] for q in json.loads((args.bench / "questions.json").read_text())}
    if types - present:
        parser.error(f"no questions of type {', '.join(sorted(types - present))} in {args.bench}; "
                     f"it has {', '.join(sorted(present))}")
    summary = run(args.bench, strategies, args.budget, models, args.limit, args.out, config, types)
    if not args.json:
        print(table(summary))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
