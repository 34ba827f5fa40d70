"""Library questions for `bench_search --library`: find the video, then answer inside it.

    python -m pipelines.bench_search --library --bench DIR [--strategies spectemp] [--budget 64] [--json]

DIR comes from `pipelines.make_benchmark --library N`. All its videos form one `agentime.Library`; each
question is asked of the whole library. Reports `video_recall_at_1` (the index's first video is the one that
holds the answer, over every question), `accuracy` (multiple-choice questions answered right, counted wrong
when the answer came from another video), `miou` (grounding spans, 0 from a wrong video),
`seconds_per_question` for the library, and, with `single` on, the same strategy asked of the right video
alone (`single_seconds_per_question`, `single_accuracy`) for comparison. `add_seconds` is the time to add
every video (ingest and indexes; a rerun finds them in the cache).
"""

from __future__ import annotations

import json
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
    ranked = library.rank_videos(q["question"])
    row = {"question_id": q["question_id"], "task_type": q["task_type"], "truth_video": truth_video,
           "ranked_video": ranked[0]["video"] if ranked else None}
    row["video_hit"] = row["ranked_video"] == truth_video
    if q["options"] is None:  # "in which video": the index's first video is the answer
        row.update(correct=row["video_hit"], seconds=time.perf_counter() - began)
        return row
    answer = library.ask(q["question"], options=q["options"], strategy=strategy, budget=budget)
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
