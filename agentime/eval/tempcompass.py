"""TempCompass: the reader of its four question files and the rule-based answer matching of its scripts.

The files (`questions/multi-choice.json`, `yes_no.json`, `caption_matching.json`, `captioning.json`) share one
layout, `{video_id: {dimension: [{question, answer}]}}` (lmms-eval's hub copy has the same questions as rows
with `video_id` and `dim`); the question type is told by each record's shape:
a yes/no answer; "Option 1:" / "Sentence A:" / "Caption A:" lines (caption matching); "Information A:" lines
ending in "Generated Caption:" (captioning, judged by an LLM in the official scripts); else lettered
multi-choice lines. Video `<video_id>.mp4`. Each item's `meta` keeps the original question and answer so a
predictions file in TempCompass's own layout can be written for its scripts (and their LLM judge).
"""

from __future__ import annotations

import re
from pathlib import Path

from agentime.eval.fields import DOT_OPTION, check, fail, letter, split_options
from agentime.eval.items import AnnotationError, EvalItem
from agentime.eval.records import load_records

QTYPES = ("multi-choice", "yes_no", "caption_matching", "captioning")
_CAPTION_OPTION = re.compile(r"^\s*((?:Option|Sentence|Caption)\s+[A-Z0-9]+):\s*(.*)$")
_INFORMATION = re.compile(r"^\s*Information\s+[A-Z]:", re.MULTILINE)


def question_type(question: str, answer: str) -> str:
    if answer.strip().lower() in ("yes", "no"):
        return "yes_no"
    lines = question.splitlines()[1:]
    if lines and all(_CAPTION_OPTION.match(line) for line in lines if line.strip()):
        return "caption_matching"
    if _INFORMATION.search(question) and "Generated Caption" in question:
        return "captioning"
    return "multi-choice"


def caption_options(question: str) -> tuple[str, list[str], list[str]]:
    """A caption-matching question -> (stem, option labels such as "Sentence A", option sentences)."""
    stem, *lines = question.splitlines()
    matches = [_CAPTION_OPTION.match(line) for line in lines if line.strip()]
    return stem.strip(), [m.group(1) for m in matches], [m.group(2).strip() for m in matches]


def caption_matching_index(prediction: str, labels: list[str], sentences: list[str]) -> int | None:
    """The option a reply names by TempCompass's caption-matching rules (the whole option line, its sentence,
    or its label: "Sentence A", "A", "Option 1", "1", with or without a final period); None when none matches."""
    text = (prediction or "").strip()
    found = None
    for i, (label, sentence) in enumerate(zip(labels, sentences, strict=True)):
        short = label.split()[-1]
        bare = text.rstrip(".")
        after_paren = text.split(") ", 1)[1] if ") " in text else None
        if text in (f"{label}: {sentence}", sentence) or after_paren == sentence or bare in (label, short):
            found = i
    return found


def _item(video_id: str, dim: str, j: int, r: dict, path: Path) -> EvalItem:
    where = f"{video_id}/{dim}/{j}"
    question, answer = str(r["question"]), str(r["answer"]).strip()
    kind = question_type(question, answer)
    meta = {"qtype": kind, "video_id": video_id, "question": question, "answer": r["answer"]}
    video, categories = f"{video_id}.mp4", {"dim": dim}
    if kind == "yes_no":
        return EvalItem(where, video, question, "yesno", ("A. yes", "B. no"), answer.lower(), None, categories, meta)
    if kind == "captioning":
        return EvalItem(where, video, question, "caption", None, None, None, categories, meta)
    if kind == "caption_matching":
        stem, labels, sentences = caption_options(question)
        index = caption_matching_index(answer, labels, sentences)
        if index is None:
            index = next((i for i, label in enumerate(labels) if answer.split(":")[0].strip() == label), None)
        if len(labels) < 2 or index is None:
            raise fail(path, "tempcompass", where, f"has caption-matching answer {answer!r} that names no option",
                       "an answer equal to one of its 'Caption A: ...' lines")
        options = tuple(f"{chr(65 + i)}. {s}" for i, s in enumerate(sentences))
        return EvalItem(where, video, stem, "choice", options, chr(65 + index), None, categories,
                        {**meta, "labels": labels})
    stem, options = split_options(question, DOT_OPTION)
    if len(options) < 2:
        raise fail(path, "tempcompass", where, "has neither yes/no nor lettered options",
                   "'question\\nA. ...\\nB. ...' with answer 'A. ...', or answer yes/no")
    return EvalItem(where, video, stem, "choice", options, letter(answer, len(options), path, "tempcompass", where),
                    None, categories, meta)


def _flat_items(records: list, path: Path) -> list[EvalItem]:
    """lmms-eval's hub copy (`lmms-lab/TempCompass`): one row per question with `video_id` and `dim`."""
    items, counts = [], {}
    for i, raw in enumerate(records):
        r = check(raw, ("video_id", "dim", "question", "answer"), path, "tempcompass", str(i))
        key = (str(r["video_id"]), str(r["dim"]))
        counts[key] = counts.get(key, -1) + 1
        items.append(_item(key[0], key[1], counts[key], r, path))
    return items


def read_tempcompass(path: Path) -> list[EvalItem]:
    data = load_records(path)
    if isinstance(data, list) and data:
        return _flat_items(data, path)
    if not isinstance(data, dict) or not data:
        raise AnnotationError(f"{path.name} is not a tempcompass annotation file: expected "
                              "{video_id: {dimension: [{question, answer}]}} or rows with video_id, dim, question, "
                              "answer")
    items = []
    for video_id, dims in data.items():
        if not isinstance(dims, dict):
            raise fail(path, "tempcompass", str(video_id), "is not a {dimension: [...]} object",
                       "{video_id: {dimension: [{question, answer}]}}")
        for dim, questions in dims.items():
            for j, raw in enumerate(questions if isinstance(questions, list) else [questions]):
                r = check(raw, ("question", "answer"), path, "tempcompass", f"{video_id}/{dim}/{j}")
                items.append(_item(str(video_id), str(dim), j, r, path))
    return items
