"""Task readers: each benchmark's published annotation format, with its published field names, to `EvalItem`s.

Files are parsed by `records.load_records` (JSON, JSON lines, parquet); the video named here is looked up in
the videos folder by `videos.VideoFolder` (sub-folders, download layouts).

- synthetic: `questions.json` of `pipelines.make_benchmark`; video `video_path` (relative to the videos folder).
- videomme: the hub's flat records (`video_id`, `videoID`, `duration`, `domain`, `sub_category`,
  `question_id`, `task_type`, `question`, `options`, `answer`; parquet, JSON or JSON lines), or the official
  output template (one record per video with its `questions`); video `<videoID>.mp4` (template: `<video_id>`).
- lvbench: `video_info.meta.jsonl` (`key`, `qa`: `uid`, `question` with `(A)`..`(D)` lines, `answer`,
  `question_type`, `time_reference`); video `<key>.mp4`.
- longvideobench: `lvb_val.json` (`id`, `video_path`, `question`, `candidates`, `correct_choice`,
  `duration_group`, `question_category`, ...) or the test split without `correct_choice` (unscored).
- egoschema: `questions.json` (`q_uid`, `question`, `option 0`..`option 4`) with `subset_answers.json`
  ({q_uid: index}) beside it, or lmms-eval's copy (`video_idx`, `question`, `option` list, `answer`);
  video `<q_uid>.mp4`; questions without an answer are unscored.
- charades_sta: `charades_sta_test.txt`, lines `VID START END##sentence`; video `<VID>.mp4`.
- tempcompass: its four question files (`tempcompass.py`); video `<video_id>.mp4`.

A record that does not fit raises `AnnotationError` naming the first bad record. Each task is one `Task`
record in `TASKS` (reader, prompt, answer reader, scoring rule and breakdowns, submission writer): a new
benchmark is one module with its reader and rule plus one line there. Scoring itself lives in `agentime.eval.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentime.eval import rules
from agentime.eval.answers import lvbench_answer, tempcompass_answer, videomme_answer
from agentime.eval.fields import PAREN_OPTION, as_list, check, fail, letter, lettered, split_options
from agentime.eval.items import AnnotationError, EvalItem
from agentime.eval.records import load_records
from agentime.eval.rules import ScoringRule
from agentime.eval.submission import (egoschema_submission, lvbench_submission, tempcompass_submission,
                                      videomme_submission)
from agentime.eval.tempcompass import read_tempcompass
from agentime.vocabulary import OPTION_LETTERS

def read_synthetic(path: Path) -> list[EvalItem]:
    fields = ("question_id", "video_path", "task_type", "question", "options", "answer", "answer_spans")
    items = []
    for i, raw in enumerate(as_list(load_records(path), path, "synthetic")):
        where = f"{i} ({raw.get('question_id', '?')})" if isinstance(raw, dict) else str(i)
        r = check(raw, fields, path, "synthetic", where)
        options = lettered(r["options"], path, "synthetic", where)
        spans = r["answer_spans"]
        if not isinstance(spans, list) or not spans or len(spans[0]) != 2:
            raise fail(path, "synthetic", where, "has no answer_spans", "[[start, end], ...] in seconds")
        items.append(EvalItem(str(r["question_id"]), str(r["video_path"]), r["question"], "choice", options,
                              letter(r["answer"], len(options), path, "synthetic", where),
                              (float(spans[0][0]), float(spans[0][1])), {"task_type": r["task_type"]}))
    return items


_VIDEOMME_FIELDS = ("duration", "domain", "sub_category", "question_id", "task_type", "question", "options", "answer")


def _videomme_item(r: dict, video: dict, path: Path, where: str) -> EvalItem:
    options = lettered(list(r["options"]), path, "videomme", where)
    name = video.get("videoID") or video.get("video_id")
    return EvalItem(str(r["question_id"]), f"{name}.mp4", r["question"], "choice", options,
                    letter(r["answer"], len(options), path, "videomme", where), None,
                    {"duration": video["duration"], "domain": video["domain"],
                     "sub_category": video["sub_category"], "task_type": r["task_type"]},
                    {"video_id": str(video.get("video_id") or name)})


def read_videomme(path: Path) -> list[EvalItem]:
    """The hub's flat records (parquet, JSON, JSON lines; one row per question) or the official output
    template's layout (one record per video with its `questions`)."""
    items = []
    for i, raw in enumerate(as_list(load_records(path), path, "videomme")):
        if isinstance(raw, dict) and isinstance(raw.get("questions"), list):
            video = check(raw, ("video_id", "duration", "domain", "sub_category"), path, "videomme",
                           f"{i} ({raw.get('video_id', '?')})")
            for j, question in enumerate(video["questions"]):
                where = f"{i} ({video['video_id']}) question {j}"
                r = check(question, ("question_id", "task_type", "question", "options", "answer"), path,
                           "videomme", where)
                items.append(_videomme_item(r, video, path, where))
            continue
        where = f"{i} ({raw.get('question_id', '?')})" if isinstance(raw, dict) else str(i)
        r = check(raw, _VIDEOMME_FIELDS, path, "videomme", where)
        if not (r.get("videoID") or r.get("video_id")):
            raise fail(path, "videomme", where, "has no field 'videoID'", "the YouTube id in videoID")
        items.append(_videomme_item(r, r, path, where))
    return items


def read_lvbench(path: Path) -> list[EvalItem]:
    items = []
    for i, raw in enumerate(as_list(load_records(path), path, "lvbench")):
        name = raw.get("key", "?") if isinstance(raw, dict) else "?"
        video = check(raw, ("key", "qa"), path, "lvbench", f"{i} ({name})")
        if not isinstance(video["qa"], list):
            raise fail(path, "lvbench", f"{i} ({video['key']})", "has a qa that is not a list", "qa: [{uid, ...}]")
        for j, qa in enumerate(video["qa"]):
            where = f"{i} ({video['key']}) qa {j}"
            r = check(qa, ("uid", "question", "answer", "question_type"), path, "lvbench", where)
            stem, options = split_options(r["question"], PAREN_OPTION)
            if len(options) < 2:
                raise fail(path, "lvbench", where, "has a question without (A)..(D) option lines",
                            "'question\\n(A) ...\\n(B) ...'")
            types = r["question_type"] if isinstance(r["question_type"], list) else [r["question_type"]]
            items.append(EvalItem(str(r["uid"]), f"{video['key']}.mp4", stem, "choice", options,
                                  letter(r["answer"], len(options), path, "lvbench", where), None,
                                  {"question_type": types, "time_reference": r.get("time_reference")},
                                  {"video_type": video.get("type")}))
    return items


def read_longvideobench(path: Path) -> list[EvalItem]:
    """`lvb_val.json`, or the test split `lvb_test_wo_gt.json` (no `correct_choice`: questions unscored)."""
    fields = ("id", "video_path", "question", "candidates", "duration_group", "question_category")
    items = []
    for i, raw in enumerate(as_list(load_records(path), path, "longvideobench")):
        where = f"{i} ({raw.get('id', '?')})" if isinstance(raw, dict) else str(i)
        r = check(raw, fields, path, "longvideobench", where)
        options = lettered(list(r["candidates"]), path, "longvideobench", where)
        choice, answer = r.get("correct_choice"), None
        if choice is not None:
            if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < len(options):
                raise fail(path, "longvideobench", where, f"has correct_choice {choice!r}",
                            f"an index 0-{len(options) - 1} into candidates")
            answer = OPTION_LETTERS[choice]
        items.append(EvalItem(str(r["id"]), str(r["video_path"]), r["question"], "choice", options, answer,
                              None, {"duration_group": r["duration_group"], "question_category": r["question_category"],
                                     "topic_category": r.get("topic_category"), "level": r.get("level")},
                              {k: r[k] for k in ("subtitle_path", "starting_timestamp_for_subtitles") if r.get(k)}))
    return items


def _option_index(truth, count: int, path: Path, where: str) -> str | None:
    """An EgoSchema answer (0-based option index, as a number or a string) as a letter; None when absent."""
    if truth is None or (isinstance(truth, str) and not truth.strip()):
        return None
    try:
        index = int(str(truth).strip())
    except ValueError:
        index = -1
    if not 0 <= index < count:
        raise fail(path, "egoschema", where, f"has answer {truth!r}", f"an option index 0-{count - 1}")
    return OPTION_LETTERS[index]


def read_egoschema(path: Path, answers: Path | None = None) -> list[EvalItem]:
    """The official `questions.json` (`q_uid`, `option 0`..`option 4`) with answers from `answers` (default
    `subset_answers.json` beside it) or per record; or lmms-eval's hub copy (`lmms-lab/egoschema`: `video_idx`,
    `question`, an `option` list, `answer`). Questions without an answer are kept, unscored."""
    records = as_list(load_records(path), path, "egoschema")
    answers = answers or path.with_name("subset_answers.json")
    known = load_records(answers) if answers.is_file() else {}
    if not isinstance(known, dict):
        raise AnnotationError(f"{answers.name} is not an EgoSchema answers file: expected {{q_uid: index}}")
    items = []
    for i, raw in enumerate(records):
        if isinstance(raw, dict) and "video_idx" in raw:
            where = f"{i} ({raw.get('video_idx')})"
            r = check(raw, ("video_idx", "question", "option"), path, "egoschema", where)
            options = lettered(list(r["option"]), path, "egoschema", where)
            uid = str(r["video_idx"])
            truth = r.get("answer", known.get(uid))
        else:
            where = f"{i} ({raw.get('q_uid', '?')})" if isinstance(raw, dict) else str(i)
            fields = ("q_uid", "question") + tuple(f"option {k}" for k in range(5))
            r = check(raw, fields, path, "egoschema", where)
            options = tuple(f"{OPTION_LETTERS[k]}. {r[f'option {k}']}" for k in range(5))
            uid = str(r["q_uid"])
            truth = r.get("answer", known.get(uid))
        items.append(EvalItem(uid, f"{uid}.mp4", r["question"], "choice", options,
                              _option_index(truth, len(options), path, where)))
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


def question_and_options(item: EvalItem) -> tuple[str, list[str] | None]:
    """The prompt most tasks ask: the item's question with its options as they are."""
    return item.question, list(item.options) if item.options else None


@dataclass(frozen=True)
class Task:
    """One benchmark task, whole: its annotation reader, what is asked of the model per item (`prompt`), how
    its official script reads an answer (`read_answer`), its scoring rule with the breakdowns it reports
    (`rule`), whether choice items with a true span also get grounding metrics (`span_metrics`), and what
    writes the files its server or leaderboard takes (`write_submission(rows, results path, metrics)` ->
    {what: path}; None: no submission file)."""

    name: str
    read: Callable[[Path], list[EvalItem]]
    description: str
    rule: ScoringRule
    read_answer: Callable[[EvalItem, str, str], str] = videomme_answer
    prompt: Callable[[EvalItem], tuple[str, list[str] | None]] = question_and_options
    span_metrics: bool = False
    write_submission: Callable[[list[dict], Path, dict], dict] | None = None


TASKS = {t.name: t for t in [
    Task("synthetic", read_synthetic, "agentime's synthetic long-video benchmark (pipelines.make_benchmark)",
         rules.SYNTHETIC, span_metrics=True),
    Task("videomme", read_videomme, "Video-MME multiple choice, by duration, domain, sub-category, task type",
         rules.VIDEOMME, write_submission=videomme_submission),
    Task("lvbench", read_lvbench, "LVBench multiple choice, by question type", rules.LVBENCH, lvbench_answer,
         write_submission=lvbench_submission),
    Task("longvideobench", read_longvideobench, "LongVideoBench multiple choice, by duration group and category",
         rules.LONGVIDEOBENCH),
    Task("egoschema", read_egoschema, "EgoSchema five-way multiple choice", rules.EGOSCHEMA,
         write_submission=egoschema_submission),
    Task("charades_sta", read_charades_sta, "Charades-STA temporal grounding: R@1 at IoU 0.3/0.5/0.7 and mIoU",
         rules.CHARADES_STA),
    Task("tempcompass", read_tempcompass, "TempCompass multi-choice or yes/no, by temporal dimension",
         rules.TEMPCOMPASS, tempcompass_answer, write_submission=tempcompass_submission),
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
