"""Submission files: a run's answers in the form each benchmark's server, leaderboard or script takes.

- EgoSchema: the Kaggle `egoschema-public` CSV (`q_uid,answer`, the option index 0-4) and the same answers
  as the JSON `{q_uid: index}` its validation server takes; an unreadable or failed answer is -1.
- Video-MME: the official output template filled in (one record per video with its `questions`, each with
  its `response`), the form its leaderboard asks for by mail and `eval_your_results.py` reads.
- LVBench: the answers file `{uid: letter}` its `compute_accuracy.py` reads, and the leaderboard's
  `result.json` (KIR, EU, Sum, ER, Rea, TG, Overall as fractions).
- TempCompass: the predictions file of its scripts, `{video_id: {dimension: [{question, answer,
  prediction}]}}` per question type, which its `eval_<type>.py` (and the captioning LLM judge) read.

Files are named after the results file of the run (`run1.jsonl` -> `run1.egoschema_kaggle.csv`). Rows are
taken in the order given (annotation order). Which writer a benchmark uses is its `Task` record's
`write_submission` (`tasks.py`); this module holds the writers only. Writes only; scoring is `metrics.py`'s.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from agentime.eval.results_file import output_path, write_atomic


def egoschema_submission(rows: list[dict], out: Path, metrics: dict) -> dict:
    answers = {r["question_id"]: (ord(r["parsed"]) - 65 if r["kind"] == "choice" and r.get("parsed") else -1)
               for r in rows}
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["q_uid", "answer"])
    writer.writerows(answers.items())
    csv_path, json_path = output_path(out, "egoschema_kaggle.csv"), output_path(out, "egoschema_answers.json")
    write_atomic(csv_path, text.getvalue())
    write_atomic(json_path, json.dumps(answers, indent=1))
    return {"egoschema_kaggle_csv": str(csv_path), "egoschema_answers_json": str(json_path)}


def videomme_submission(rows: list[dict], out: Path, metrics: dict) -> dict:
    videos: dict[str, dict] = {}
    for r in rows:
        video_id = r["meta"].get("video_id") or Path(r["video"]).stem
        record = videos.setdefault(video_id, {"video_id": video_id, "duration": r["categories"]["duration"],
                                              "domain": r["categories"]["domain"],
                                              "sub_category": r["categories"]["sub_category"], "questions": []})
        record["questions"].append({"question_id": r["question_id"], "task_type": r["categories"]["task_type"],
                                    "question": r["question"], "options": r["options"], "answer": r["truth"],
                                    "response": r.get("prediction") or ""})
    path = output_path(out, "videomme_template.json")
    write_atomic(path, json.dumps(list(videos.values()), indent=4, ensure_ascii=False))
    return {"videomme_template": str(path)}


def lvbench_submission(rows: list[dict], out: Path, metrics: dict) -> dict:
    answers = {r["question_id"]: (r.get("parsed") or "") if r["kind"] == "choice" else "" for r in rows}
    answers_path, result_path = output_path(out, "lvbench_answers.json"), output_path(out, "lvbench_result.json")
    write_atomic(answers_path, json.dumps(answers, indent=1))
    files = {"lvbench_answers": str(answers_path)}
    if "official" in metrics:
        write_atomic(result_path, json.dumps(metrics["official"], indent=4))
        files["lvbench_result"] = str(result_path)
    return files


def tempcompass_submission(rows: list[dict], out: Path, metrics: dict) -> dict:
    by_type: dict[str, dict] = {}
    for r in rows:
        meta = r["meta"]
        dims = by_type.setdefault(meta.get("qtype", "multi-choice"), {}).setdefault(meta["video_id"], {})
        dims.setdefault(r["categories"]["dim"], []).append(
            {"question": meta["question"], "answer": meta["answer"], "prediction": r.get("prediction")})
    files = {}
    for qtype, predictions in by_type.items():
        path = output_path(out, f"tempcompass_{qtype}.json")
        write_atomic(path, json.dumps(predictions, indent=4, ensure_ascii=False))
        files[f"tempcompass_{qtype}"] = str(path)
    return files


def write_submissions(task, rows: list[dict], out: Path, metrics: dict) -> dict:
    """Write the submission files of `task` (a `Task` record; none for tasks without a writer); returns
    {what: path}."""
    files = {"results": str(out), "metrics": str(output_path(out, "metrics.json"))}
    if task.write_submission is not None and rows:
        files.update(task.write_submission(rows, out, metrics))
    return files
