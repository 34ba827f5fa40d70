"""Library questions for `bench_search --library`: find the video, then answer inside it.

    python -m pipelines.bench_search --library --bench DIR [--strategies spectemp] [--budget 64] [--json]

DIR comes from `pipelines.make_benchmark --library N`. All its videos form one `agentime.Library`; each
question is asked of the whole library. Reports `video_recall_at_1` (the first video found, `Library.find_videos`,
is the one that holds the answer, over every question), `accuracy` (multiple-choice questions answered right, counted wrong
when the answer came from another video), `miou` (grounding spans, 0 from a wrong video),
`seconds_per_question` for the library, and, with `single` on, the same strategy asked of the right video
alone (`single_seconds_per_question`, `single_accuracy`) for comparison. `add_seconds` is the time to add
every video (ingest and indexes; a rerun finds them in the cache). One multiple-choice question is asked once,
untimed, before the others: the models' first call costs extra.

    python -m pipelines.bench.library --bench DIR [--cache C] [--workers N]

finds the videos for every question without answering it: `video_recall_at_1` and `_at_3` (the embedder's
ranking with the target's look at the best moments of the first candidates, as `ask` finds them) over all
questions and per task type, `embedder_recall_at_1` (the embedder's ranking alone), and
`rank_seconds_per_question`: the candidate finding alone, cheap enough for a whole library.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from agentime.api import Session
from agentime.vlm.registry import load_model_roles
from agentime.config import Config
from agentime.vocabulary import iou


def run_library(bench: Path, strategy: str, budget: int, models: dict, limit: int | None, out: Path | None,
                config: Config, single: bool = True, types: set[str] | None = None) -> dict:
    from agentime.library import Library

    questions = [q for q in json.loads((bench / "questions.json").read_text()) if not types or q["task_type"] in types]
    questions = questions[:limit]
    loaded = load_model_roles(models)
    began = time.perf_counter()
    library = Library(bench / "videos", cache=config, models=loaded)
    add_seconds = time.perf_counter() - began
    warm = next((q for q in questions if q["options"] is not None), None)
    if warm is not None:  # the models' first call costs extra: paid here, not by the first timed question
        library.ask(warm["question"], options=warm["options"], strategy=strategy, budget=budget)
    rows = []
    sink = open(out, "w") if out else None  # noqa: SIM115 - closed below
    try:
        for q in questions:
            rows.append(_one(library, q, bench, strategy, budget, loaded, config, single))
            if sink:
                sink.write(json.dumps(rows[-1]) + "\n")
                sink.flush()
    finally:
        if sink:
            sink.close()
    return {"bench": str(bench), "strategy": strategy, "budget": budget, "videos": len(library.videos),
            "index": library.index.choice.kind if library.index else None, "add_seconds": round(add_seconds, 2),
            "skipped": [vars(s) for s in library.skipped], **summarise_library(rows)}


def _one(library, q: dict, bench: Path, strategy: str, budget: int, models: dict, config: Config,
         single: bool) -> dict:
    truth_video = str((bench / q["video_path"]).resolve())
    began = time.perf_counter()
    row = {"question_id": q["question_id"], "task_type": q["task_type"], "truth_video": truth_video}
    if q["options"] is None:  # "in which video": the first video found is the answer
        ranked = library.find_videos(q["question"])
        row.update(ranked_video=ranked[0]["video"] if ranked else None, seconds=time.perf_counter() - began)
        row.update(video_hit=row["ranked_video"] == truth_video, correct=row["ranked_video"] == truth_video)
        return row
    answer = library.ask(q["question"], options=q["options"], strategy=strategy, budget=budget)
    row["ranked_video"] = answer.candidates[0]["video"] if answer.candidates else None
    row["video_hit"] = row["ranked_video"] == truth_video
    right_video = answer.video == truth_video
    row.update(answer_video=answer.video, answer=answer.choice, truth=q["answer"],
               correct=right_video and answer.choice == q["answer"], spans=answer.spans,
               iou=iou(answer.spans[0], q["answer_spans"][0]) if right_video and answer.spans else 0.0,
               seconds=time.perf_counter() - began)
    if single:
        began = time.perf_counter()
        alone = Session(truth_video, models=models, config=config).ask(q["question"], options=q["options"],
                                                                       strategy=strategy, budget=budget)
        row.update(single_correct=alone.choice == q["answer"], single_seconds=time.perf_counter() - began)
    return row


def summarise_library(rows: list[dict]) -> dict:
    def mean(values):
        return float(np.mean(values)) if values else None

    asked = [r for r in rows if "answer" in r]
    grounding = [r["iou"] for r in asked if r["task_type"] == "grounding"]
    return {"questions": len(rows), "video_recall_at_1": mean([r["video_hit"] for r in rows]),
            "answer_video_accuracy": mean([r["answer_video"] == r["truth_video"] for r in asked]),
            "accuracy": mean([r["correct"] for r in asked]), "miou": mean(grounding),
            "which_video_accuracy": mean([r["correct"] for r in rows if "answer" not in r]),
            "seconds_per_question": mean([r["seconds"] for r in asked]),
            "single_accuracy": mean([r["single_correct"] for r in asked if "single_correct" in r]),
            "single_seconds_per_question": mean([r["single_seconds"] for r in asked if "single_seconds" in r])}


def rank_library(bench: Path, models: dict, config: Config, workers: int = 1) -> dict:
    """Video recall of the candidate finding over every question of a library benchmark (no answers)."""
    from agentime.library import Library

    questions = json.loads((bench / "questions.json").read_text())
    began = time.perf_counter()
    library = Library(bench / "videos", cache=config, models={**models, "draft": None}, add=False)
    library.add(workers=workers)
    add_seconds = time.perf_counter() - began
    hits: dict[str, list[tuple[bool, bool]]] = {}
    began = time.perf_counter()
    for q in questions:
        truth = str((bench / q["video_path"]).resolve())
        ranked = [r["video"] for r in library.find_videos(q["question"])[:3]]
        embedder_first = library.rank_videos(q["question"])[:1]
        hits.setdefault(q["task_type"], []).append((ranked[:1] == [truth], truth in ranked,
                                                     [r["video"] for r in embedder_first] == [truth]))
    seconds = (time.perf_counter() - began) / max(1, len(questions))
    every = [h for rows in hits.values() for h in rows]
    return {"bench": str(bench), "videos": len(library.videos), "questions": len(every),
            "index": library.index.choice.kind if library.index else None, "add_seconds": round(add_seconds, 2),
            "video_recall_at_1": float(np.mean([h[0] for h in every])),
            "video_recall_at_3": float(np.mean([h[1] for h in every])),
            "embedder_recall_at_1": float(np.mean([h[2] for h in every])),
            "recall_at_1_by_type": {t: float(np.mean([h[0] for h in rows])) for t, rows in sorted(hits.items())},
            "rank_seconds_per_question": round(seconds, 4)}


def main(argv: list[str] | None = None) -> int:
    from agentime.config import DEFAULT_MODEL_SPECS

    parser = argparse.ArgumentParser(description="find a library benchmark's videos for every question (no answers)")
    parser.add_argument("--bench", required=True, type=Path, help="folder made by make_benchmark --library N")
    parser.add_argument("--cache", type=Path, default=None, help="frame cache folder")
    parser.add_argument("--embedder", default=DEFAULT_MODEL_SPECS["embedder"])
    parser.add_argument("--workers", type=int, default=1, help="processes adding the videos")
    args = parser.parse_args(argv)
    if not (args.bench / "questions.json").is_file():
        parser.error(f"{args.bench} has no questions.json; make one with python -m pipelines.make_benchmark --library N")
    config = Config(cache_dir=args.cache) if args.cache else Config()
    models = {"target": DEFAULT_MODEL_SPECS["target"], "embedder": args.embedder}
    print(json.dumps(rank_library(args.bench, models, config, args.workers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
