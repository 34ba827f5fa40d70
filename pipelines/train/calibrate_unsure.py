"""Choose the confidence below which the UI shows an answer as "unsure", from measured answers.

    python -m pipelines.calibrate_unsure --rows artifacts/bench/rows.jsonl [--rows ...] \
        --bench artifacts/bench --outside video1.mp4 [--outside video2.mp4 ...] [--budget 32] [--limit N] [--json]

Trusted answers are the benchmark's correct ones (rows written by `pipelines.bench.search --out`). Answers that
must not look trusted are its wrong ones, plus the answers to the benchmark's questions asked about videos
from outside the demo world (`--outside`, e.g. real recordings: the objects asked about are not in them, so
every answer there is wrong). For each threshold it reports how many of each side fall below it, and picks
the one with the largest difference (trusted kept minus untrusted kept). Prints the table and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agentime.vlm.registry import DEFAULT_MODEL_SPECS

THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def outside_rows(bench: Path, videos: list[Path], budget: int, limit: int | None, models: dict) -> list[dict]:
    from agentime.api import Session
    from agentime.vlm.registry import load_model_roles

    questions = json.loads((bench / "questions.json").read_text())[:limit]
    loaded = load_model_roles(models)
    rows = []
    for video in videos:
        session = Session(video, models=loaded)
        for q in questions:
            answer = session.ask(q["question"], options=q["options"], budget=budget)
            rows.append({"video": video.name, "task_type": q["task_type"], "confidence": answer.confidence,
                         "answer": answer.choice, "correct": False})
    return rows


def summarise(inside: list[dict], outside: list[dict]) -> dict:
    trusted = [r["confidence"] for r in inside if r["correct"]]
    untrusted = [r["confidence"] for r in inside if not r["correct"]] + [r["confidence"] for r in outside]
    table = []
    for t in THRESHOLDS:
        kept_trusted = sum(c >= t for c in trusted) / max(1, len(trusted))
        kept_untrusted = sum(c >= t for c in untrusted) / max(1, len(untrusted))
        table.append({"threshold": t, "trusted_shown_sure": round(kept_trusted, 3),
                      "untrusted_shown_sure": round(kept_untrusted, 3),
                      "gain": round(kept_trusted - kept_untrusted, 3)})
    best = max(table, key=lambda row: (row["gain"], -row["threshold"]))
    return {"benchmark_answers": len(inside), "benchmark_correct": len(trusted),
            "outside_answers": len(outside), "untrusted": len(untrusted), "thresholds": table,
            "chosen_threshold": best["threshold"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", action="append", required=True, type=Path, help="bench_search --out JSONL")
    parser.add_argument("--bench", type=Path, help="benchmark folder whose questions are asked of --outside")
    parser.add_argument("--outside", action="append", default=[], type=Path, help="a video outside the demo world")
    parser.add_argument("--budget", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions per outside video")
    parser.add_argument("--target", default=DEFAULT_MODEL_SPECS["target"])
    parser.add_argument("--draft", default=DEFAULT_MODEL_SPECS["draft"])
    parser.add_argument("--embedder", default=DEFAULT_MODEL_SPECS["embedder"])
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parser.parse_args(argv)
    inside = [json.loads(line) for path in args.rows for line in path.read_text().splitlines() if line.strip()]
    outside = []
    if args.outside:
        if args.bench is None:
            parser.error("--outside needs --bench (the questions to ask)")
        models = {"target": args.target, "draft": args.draft or None, "embedder": args.embedder or None}
        outside = outside_rows(args.bench, args.outside, args.budget, args.limit, models)
    summary = summarise(inside, outside)
    summary["outside_confidences"] = sorted(round(r["confidence"], 3) for r in outside)
    if not args.json:
        for row in summary["thresholds"]:
            print(f"below {row['threshold']:.2f}: trusted shown sure {row['trusted_shown_sure']:.2f}, "
                  f"untrusted shown sure {row['untrusted_shown_sure']:.2f}", file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
