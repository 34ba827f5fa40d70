"""Task readers: each benchmark's published annotation format, with its published field names, to `EvalItem`s.

- synthetic: `questions.json` of `pipelines.make_benchmark`; video `video_path` (relative to the videos folder).
- videomme: Video-MME records (`video_id`, `videoID`, `duration`, `domain`, `sub_category`, `question_id`,
  `task_type`, `question`, `options`, `answer`) as JSON, JSON lines or parquet; video `<videoID>.mp4`.
- lvbench: `video_info.meta.jsonl` (`key`, `qa`: `uid`, `question` with `(A)`..`(D)` lines, `answer`,
  `question_type`, `time_reference`); video `<key>.mp4`.
- longvideobench: `lvb_val.json` (`id`, `video_id`, `video_path`, `question`, `candidates`, `correct_choice`,
  `duration_group`, `question_category`, `topic_category`, `level`); video `video_path`.
- egoschema: `questions.json` (`q_uid`, `question`, `option 0`..`option 4`) with `subset_answers.json`
  ({q_uid: index}) beside it, or an `answer` per record; video `<q_uid>.mp4`.
- charades_sta: `charades_sta_test.txt`, lines `VID START END##sentence`; video `<VID>.mp4`.
- tempcompass: `questions/multi-choice.json` or `questions/yes_no.json`
  ({video_id: {dimension: [{question, answer}]}}); video `<video_id>.mp4`.

A record that does not fit raises `AnnotationError` naming the first bad record. Readers only read: scoring
and metrics live in `agentime.eval.metrics`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentime.eval.items import AnnotationError, EvalItem

LETTERS = "ABCDEFGHIJ"
_PAREN_OPTION = re.compile(r"^\s*\(([A-J])\)\s*(.*)$")
_DOT_OPTION = re.compile(r"^\s*([A-J])[.)]\s*(.*)$")


def load_records(path: Path) -> list:
    """Records of a JSON list, a JSON object, JSON lines, or a parquet table."""
    if not path.is_file():
        raise AnnotationError(f"annotation file {path} does not exist")
    if path.suffix == ".parquet":
        try:
            import pandas as pd

            return pd.read_parquet(path).to_dict(orient="records")
        except ImportError as exc:
            raise AnnotationError(f"reading {path.name} needs pandas with pyarrow; or give the JSON export") from exc
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise AnnotationError(f"{path.name} is neither JSON nor JSON lines: line {number}: {exc.msg}") from exc
    return data


def _fail(path: Path, task: str, where: str, problem: str, expected: str) -> AnnotationError:
    return AnnotationError(f"{path.name} is not a {task} annotation file: record {where} {problem}; "
                           f"expected {expected}")


def _check(record, fields: tuple[str, ...], path: Path, task: str, where: str) -> dict:
    if not isinstance(record, dict):
        raise _fail(path, task, where, f"is a {type(record).__name__}, not an object", f"objects with {fields}")
    missing = [f for f in fields if f not in record]
    if missing:
        raise _fail(path, task, where, f"has no field {', '.join(map(repr, missing))}", f"fields {fields}")
    return record


def _as_list(data, path: Path, task: str) -> list:
    if not isinstance(data, list):
        raise AnnotationError(f"{path.name} is not a {task} annotation file: expected a list of records, "
                              f"got a {type(data).__name__}")
    if not data:
        raise AnnotationError(f"{path.name} holds no records")
    return data


def _lettered(options, path: Path, task: str, where: str) -> tuple[str, ...]:
    """Options as `"A. text"`; accepts texts with or without their letter prefix."""
    if not isinstance(options, (list, tuple)) or not 2 <= len(options) <= len(LETTERS):
        raise _fail(path, task, where, "has no usable options", "a list of 2-10 option strings")
    out = []
    for i, option in enumerate(options):
        text = str(option).strip()
        match = _DOT_OPTION.match(text)
        out.append(f"{LETTERS[i]}. {match.group(2) if match and match.group(1) == LETTERS[i] else text}")
    return tuple(out)


def _letter(answer, count: int, path: Path, task: str, where: str) -> str:
    text = str(answer).strip()
    if len(text) >= 1 and text[0] in LETTERS[:count] and (len(text) == 1 or not text[1].isalnum()):
        return text[0]
    raise _fail(path, task, where, f"has answer {answer!r}", f"a letter A-{LETTERS[count - 1]}")


def read_synthetic(path: Path) -> list[EvalItem]:
    fields = ("question_id", "video_path", "task_type", "question", "options", "answer", "answer_spans")
    items = []
    for i, raw in enumerate(_as_list(load_records(path), path, "synthetic")):
        where = f"{i} ({raw.get('question_id', '?')})" if isinstance(raw, dict) else str(i)
        r = _check(raw, fields, path, "synthetic", where)
        options = _lettered(r["options"], path, "synthetic", where)
        spans = r["answer_spans"]
        if not isinstance(spans, list) or not spans or len(spans[0]) != 2:
            raise _fail(path, "synthetic", where, "has no answer_spans", "[[start, end], ...] in seconds")
        items.append(EvalItem(str(r["question_id"]), str(r["video_path"]), r["question"], "choice", options,
                              _letter(r["answer"], len(options), path, "synthetic", where),
                              (float(spans[0][0]), float(spans[0][1])), {"task_type": r["task_type"]}))
    return items


def read_videomme(path: Path) -> list[EvalItem]:
    fields = ("videoID", "duration", "domain", "sub_category", "question_id", "task_type", "question", "options",
              "answer")
    items = []
    for i, raw in enumerate(_as_list(load_records(path), path, "videomme")):
        where = f"{i} ({raw.get('question_id', '?')})" if isinstance(raw, dict) else str(i)
        r = _check(raw, fields, path, "videomme", where)
        options = _lettered(list(r["options"]), path, "videomme", where)
        items.append(EvalItem(str(r["question_id"]), f"{r['videoID']}.mp4", r["question"], "choice", options,
                              _letter(r["answer"], len(options), path, "videomme", where), None,
                              {"duration": r["duration"], "domain": r["domain"], "sub_category": r["sub_category"],
                               "task_type": r["task_type"]}))
    return items


def split_options(text: str, pattern: re.Pattern) -> tuple[str, tuple[str, ...]]:
    """A question with its options on their own lines -> (stem, ("A. ...", ...))."""
    stem, options = [], []
    for line in text.splitlines():
        match = pattern.match(line)
        if match and match.group(1) == LETTERS[len(options)]:
            options.append(f"{match.group(1)}. {match.group(2).strip()}")
        elif options:
            options[-1] += " " + line.strip()
        else:
            stem.append(line)
    return "\n".join(stem).strip(), tuple(options)


def read_lvbench(path: Path) -> list[EvalItem]:
    items = []
    for i, raw in enumerate(_as_list(load_records(path), path, "lvbench")):
        name = raw.get("key", "?") if isinstance(raw, dict) else "?"
        video = _check(raw, ("key", "qa"), path, "lvbench", f"{i} ({name})")
        if not isinstance(video["qa"], list):
            raise _fail(path, "lvbench", f"{i} ({video['key']})", "has a qa that is not a list", "qa: [{uid, ...}]")
        for j, qa in enumerate(video["qa"]):
            where = f"{i} ({video['key']}) qa {j}"
            r = _check(qa, ("uid", "question", "answer", "question_type"), path, "lvbench", where)
            stem, options = split_options(r["question"], _PAREN_OPTION)
            if len(options) < 2:
                raise _fail(path, "lvbench", where, "has a question without (A)..(D) option lines",
                            "'question\\n(A) ...\\n(B) ...'")
            types = r["question_type"] if isinstance(r["question_type"], list) else [r["question_type"]]
            items.append(EvalItem(str(r["uid"]), f"{video['key']}.mp4", stem, "choice", options,
                                  _letter(r["answer"], len(options), path, "lvbench", where), None,
                                  {"question_type": types, "time_reference": r.get("time_reference")}))
    return items


def read_longvideobench(path: Path) -> list[EvalItem]:
    fields = ("id", "video_path", "question", "candidates", "correct_choice", "duration_group", "question_category")
    items = []
    for i, raw in enumerate(_as_list(load_records(path), path, "longvideobench")):
        where = f"{i} ({raw.get('id', '?')})" if isinstance(raw, dict) else str(i)
        r = _check(raw, fields, path, "longvideobench", where)
        options = _lettered(list(r["candidates"]), path, "longvideobench", where)
        choice = r["correct_choice"]
        if not isinstance(choice, int) or not 0 <= choice < len(options):
            raise _fail(path, "longvideobench", where, f"has correct_choice {choice!r}",
                        f"an index 0-{len(options) - 1} into candidates")
        items.append(EvalItem(str(r["id"]), str(r["video_path"]), r["question"], "choice", options, LETTERS[choice],
                              None, {"duration_group": r["duration_group"], "question_category": r["question_category"],
                                     "topic_category": r.get("topic_category"), "level": r.get("level")}))
    return items


def read_egoschema(path: Path, answers: Path | None = None) -> list[EvalItem]:
    """Questions with answers from `answers` (default `subset_answers.json` beside them) or per record."""
    records = _as_list(load_records(path), path, "egoschema")
    answers = answers or path.with_name("subset_answers.json")
    known = load_records(answers) if answers.is_file() else {}
    if not isinstance(known, dict):
        raise AnnotationError(f"{answers.name} is not an EgoSchema answers file: expected {{q_uid: index}}")
    items = []
    for i, raw in enumerate(records):
        where = f"{i} ({raw.get('q_uid', '?')})" if isinstance(raw, dict) else str(i)
        fields = ("q_uid", "question") + tuple(f"option {k}" for k in range(5))
        r = _check(raw, fields, path, "egoschema", where)
        options = tuple(f"{LETTERS[k]}. {r[f'option {k}']}" for k in range(5))
        truth = r.get("answer", known.get(r["q_uid"]))
        letter = None
        if truth is not None:
            try:
                letter = LETTERS[int(truth)] if 0 <= int(truth) < 5 else None
            except (TypeError, ValueError):
                letter = None
            if letter is None:
                raise _fail(path, "egoschema", where, f"has answer {truth!r}", "an option index 0-4")
        items.append(EvalItem(str(r["q_uid"]), f"{r['q_uid']}.mp4", r["question"], "choice", options, letter))
    return items


def read_charades_sta(path: Path) -> list[EvalItem]:
    if not path.is_file():
        raise AnnotationError(f"annotation file {path} does not exist")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        head, sep, sentence = line.partition("##")
        parts = head.split()
        try:
            if not sep or len(parts) != 3 or not sentence.strip():
                raise ValueError
            start, end = float(parts[1]), float(parts[2])
        except ValueError:
            raise AnnotationError(f"{path.name} is not a charades_sta annotation file: line {number} "
                                  f"{line[:60]!r} is not 'VIDEO START END##sentence'") from None
        sentence = sentence.strip().rstrip(".")
        items.append(EvalItem(f"{parts[0]}_{number}", f"{parts[0]}.mp4",
                              f"When does this happen in the video: {sentence}?", "grounding", span=(start, end),
                              categories={"query": sentence}))
    if not items:
        raise AnnotationError(f"{path.name} holds no records")
    return items


def read_tempcompass(path: Path) -> list[EvalItem]:
    data = load_records(path)
    if not isinstance(data, dict) or not data:
        raise AnnotationError(f"{path.name} is not a tempcompass annotation file: expected "
                              "{video_id: {dimension: [{question, answer}]}}")
    items = []
    for video_id, dims in data.items():
        if not isinstance(dims, dict):
            raise _fail(path, "tempcompass", str(video_id), "is not a {dimension: [...]} object",
                        "{video_id: {dimension: [{question, answer}]}}")
        for dim, questions in dims.items():
            for j, raw in enumerate(questions if isinstance(questions, list) else [questions]):
                where = f"{video_id}/{dim}/{j}"
                r = _check(raw, ("question", "answer"), path, "tempcompass", where)
                answer = str(r["answer"]).strip()
                qid = f"{video_id}/{dim}/{j}"
                if answer.lower() in ("yes", "no"):
                    items.append(EvalItem(qid, f"{video_id}.mp4", r["question"], "yesno", ("A. yes", "B. no"),
                                          answer.lower(), None, {"dim": dim}))
                    continue
                stem, options = split_options(r["question"], _DOT_OPTION)
                if len(options) < 2:
                    raise _fail(path, "tempcompass", where, "has neither yes/no nor lettered options",
                                "'question\\nA. ...\\nB. ...' with answer 'A. ...', or answer yes/no")
                items.append(EvalItem(qid, f"{video_id}.mp4", stem, "choice", options,
                                      _letter(answer, len(options), path, "tempcompass", where), None, {"dim": dim}))
    return items


@dataclass(frozen=True)
class Task:
    name: str
    read: Callable[[Path], list[EvalItem]]
    description: str


TASKS = {t.name: t for t in [
    Task("synthetic", read_synthetic, "agentime's synthetic long-video benchmark (pipelines.make_benchmark)"),
    Task("videomme", read_videomme, "Video-MME multiple choice, by duration, domain, sub-category, task type"),
    Task("lvbench", read_lvbench, "LVBench multiple choice, by question type"),
    Task("longvideobench", read_longvideobench, "LongVideoBench multiple choice, by duration group and category"),
    Task("egoschema", read_egoschema, "EgoSchema five-way multiple choice"),
    Task("charades_sta", read_charades_sta, "Charades-STA temporal grounding: R@1 at IoU 0.3/0.5/0.7 and mIoU"),
    Task("tempcompass", read_tempcompass, "TempCompass multi-choice or yes/no, by temporal dimension"),
]}


def read_task(name: str, annotations: str | Path) -> list[EvalItem]:
    """Read `annotations` as task `name`; duplicate question ids are a format error too."""
    if name not in TASKS:
        raise AnnotationError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    items = TASKS[name].read(Path(annotations))
    seen: set[str] = set()
    for item in items:
        if item.question_id in seen:
            raise AnnotationError(f"{Path(annotations).name}: question id {item.question_id!r} appears twice")
        seen.add(item.question_id)
    return items
