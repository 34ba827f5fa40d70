"""Scoring and metrics, computed the way each benchmark's official script computes them (`rules.py`).

Per question (`score`): the answer is read from the reply with the reader the task's record names
(`answers.py`: Video-MME's letter rule, LVBench's polish_answer, TempCompass's matching with the LLM fallback
disabled); grounding takes the
predicted span (or the first two timestamps in the text) and its IoU with the truth, 0 when there is none.
Captions (TempCompass captioning) and free-form answers (`--open`) are not scored here: captions need the
benchmark's LLM judge; free-form answers go to the scorer set with `set_open_scorer`.

Per task (`summarise`): counts (questions, covered, scored, unscored, failed, unparseable), `accuracy` (the
fraction of all scored questions answered correctly, failures included), and `official`: the figures under
the names, units and counting rule of the task's official script, with `rule` saying which.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable

from agentime.eval.answers import extract_letter, lvbench_letter, tempcompass_letter, yes_no  # noqa: F401
from agentime.eval.rules import ScoringRule
from agentime.eval.tasks import TASKS
from agentime.video.tafr import find_timestamps
from agentime.vocabulary import OPTION_LETTERS, iou

IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def predicted_span(spans, text: str) -> list[float] | None:
    if spans:
        return [float(spans[0][0]), float(spans[0][1])]
    times = find_timestamps(text or "")
    if len(times) < 2:
        numbers = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", text or "")]
        times = numbers if len(numbers) >= 2 else []
    if len(times) >= 2 and times[1] >= times[0]:
        return times[:2]
    return None


_open_scorer: Callable[[str, str, str], bool | None] | None = None


def set_open_scorer(scorer: Callable[[str, str, str], bool | None] | None) -> None:
    """Where free-form answers (`--open`) get scored: `scorer(question, reference, prediction)` -> correct, or
    None when it cannot tell. Without one, free-form rows are kept unscored."""
    global _open_scorer
    _open_scorer = scorer


def open_scorer() -> Callable[[str, str, str], bool | None] | None:
    """The scorer `set_open_scorer` registered in this process (None when none is)."""
    return _open_scorer


def read_answer(task: str, item, prediction: str) -> str:
    """What the task's official rule reads from a reply to a choice or yes/no question ("" when nothing)."""
    if item.kind == "yesno":
        return yes_no(prediction)
    return TASKS[task].read_answer(item, prediction, OPTION_LETTERS[: len(item.options or "ABCD")])


def presented_prediction(item, choice: str | None, text: str) -> str:
    """The reply as the benchmark's script expects it: TempCompass caption matching names the original option
    line ("Sentence A: ..."); other choices are "X. option text"; free-form answers are the text."""
    if item.kind == "choice" and choice and item.meta.get("labels"):
        index = ord(choice) - 65
        return f"{item.meta['labels'][index]}: {item.options[index].split('. ', 1)[1]}"
    if item.kind == "choice" and choice:
        return f"{choice}. {text}"
    return text


def score(task: str, item, prediction: str, spans) -> dict:
    """`parsed` (what was read from the prediction), `correct` and, where a truth span exists, `iou`."""
    out: dict = {}
    if item.kind == "grounding":
        span = predicted_span(spans, prediction)
        out["parsed"] = span
        out["iou"] = iou(span, item.span) if span else 0.0
        out["correct"] = None
        return out
    if item.kind == "caption":
        return {"parsed": None, "correct": None}
    if item.kind == "open":
        reference = item.meta.get("reference")
        verdict = _open_scorer(item.question, reference, prediction) if _open_scorer and reference else None
        return {"parsed": prediction or None, "correct": verdict}
    parsed = read_answer(task, item, prediction)
    out["parsed"] = parsed
    out["correct"] = bool(parsed) and parsed == item.answer if item.answer is not None else None
    if item.span is not None:
        out["iou"] = iou(spans[0], item.span) if spans else 0.0
    return out


def _figure(correct: int, total: int, rule: ScoringRule) -> float | None:
    if not total and rule.unreadable == "excluded":
        return None  # a group none of whose answers could be read has no figure under an "answered only" rule
    value = correct / total if total else 0.0
    if rule.unit == "percent":
        value *= 100.0
    return round(value, rule.digits) if rule.digits is not None else value


def _counted(rows: list[dict], rule: ScoringRule) -> list[dict]:
    return [r for r in rows if r.get("parsed")] if rule.unreadable == "excluded" else rows


def _groups(row: dict, category: str) -> list:
    values = row["categories"].get(category)
    return [v for v in (values if isinstance(values, list) else [values]) if v is not None]


def _breakdown(rows: list[dict], breakdown, rule: ScoringRule) -> dict:
    """Per group of the breakdown: the official figure. Every group the annotations hold is reported, even
    one where no answer could be read (0 when unreadable answers count as wrong, else None), so a category
    never vanishes."""
    groups = {g for r in rows for g in _groups(r, breakdown.category)}
    total: dict = defaultdict(int)
    right: dict = defaultdict(int)
    for r in _counted(rows, rule):
        for g in _groups(r, breakdown.category):
            total[g] += 1
            right[g] += bool(r.get("correct"))
    return {breakdown.renames.get(g, g): _figure(right[g], total[g], rule) for g in sorted(groups, key=str)}


def official_figures(rows: list[dict], rule: ScoringRule) -> dict:
    """The figures the task's official script reports, under its names and in its unit."""
    counted = _counted(rows, rule)
    figures: dict = {}
    for breakdown in rule.breakdowns:
        groups = _breakdown(rows, breakdown, rule)
        if breakdown.renames:
            figures.update(groups)  # LVBench's result.json is flat: KIR, EU, ... Overall
        else:
            figures[breakdown.name] = groups
    figures[rule.overall] = _figure(sum(bool(r.get("correct")) for r in counted), len(counted), rule)
    return figures


def grounding_metrics(rows: list[dict]) -> dict:
    ious = [float(r.get("iou") or 0.0) for r in rows]
    n = len(ious)
    out = {"miou": sum(ious) / n if n else 0.0}
    for t in IOU_THRESHOLDS:
        out[f"r1_at_{t}"] = sum(v >= t for v in ious) / n if n else 0.0
    return out


JUDGE_NOTE = ("TempCompass scores captions with an LLM judge (its eval_captioning.py): run it on the "
              "predictions file this run wrote")


def summarise(task: str, rows: list[dict], expected: int | None = None) -> dict:
    """The metrics JSON of a finished (or partial) run from its result rows; `expected` is how many questions
    the run was asked (the annotation file, after --limit), so a partial file says what it covers."""
    rule = TASKS[task].rule
    failed = [r for r in rows if r["status"] != "ok"]
    expected = len(rows) if expected is None else expected
    metrics: dict = {"task": task, "questions": expected, "covered": len(rows), "failed": len(failed),
                     "missing_videos": sum(1 for r in rows if r.get("missing_video")), "rule": rule.describe()}
    if len(rows) < expected:
        metrics["incomplete"] = f"the results cover {len(rows)} of {expected} questions; rerun to answer the rest"
    grounding = [r for r in rows if r["kind"] == "grounding"]
    if grounding:
        metrics.update(grounding_metrics(grounding))
        metrics["scored"] = len(grounding)
        metrics["unparseable"] = sum(1 for r in grounding if r["status"] == "ok" and not r.get("parsed"))
    scored = [r for r in rows if r["kind"] in ("choice", "yesno") and r.get("truth") is not None]
    if scored:
        metrics["scored"] = len(scored)
        metrics["accuracy"] = sum(bool(r.get("correct")) for r in scored) / len(scored)
        metrics["unparseable"] = sum(1 for r in scored if r["status"] == "ok" and not r.get("parsed"))
        metrics["official"] = official_figures(scored, rule)
    unscored = [r for r in rows if r["kind"] in ("choice", "yesno") and r.get("truth") is None]
    if unscored:
        metrics["unscored"] = len(unscored)  # e.g. EgoSchema questions outside the public answer subset
    captions = [r for r in rows if r["kind"] == "caption"]
    if captions:
        metrics["captions"] = {"written": sum(r["status"] == "ok" for r in captions), "scored": 0,
                               "needs": JUDGE_NOTE}
    opened = [r for r in rows if r["kind"] == "open"]
    if opened:
        judged = [r for r in opened if r.get("correct") is not None]
        metrics["open"] = {"answered": sum(r["status"] == "ok" for r in opened), "scored": len(judged),
                           "accuracy": sum(bool(r["correct"]) for r in judged) / len(judged) if judged else None}
        if not judged:
            metrics["open"]["needs"] = "a free-form answer scorer (agentime.eval.metrics.set_open_scorer)"
    spanned = [r for r in scored if r.get("truth_span") is not None and r["categories"].get("task_type") == "grounding"]
    if TASKS[task].span_metrics and spanned:
        metrics["grounding"] = grounding_metrics(spanned)
    return metrics
