"""Scoring and metrics, computed the way each benchmark's official script computes them.

Per question (`score`): a letter is read from the prediction with Video-MME's rule (answer prefixes removed,
then the first of A-D; nothing when a long reply names no letter); TempCompass multi-choice and yes/no use
its rule-based matching with the LLM fallback disabled (unmatched = wrong); grounding takes the predicted
span (or the first two timestamps in the text) and its IoU with the truth, 0 when there is none.

Per task (`summarise`): `accuracy` is the fraction of all questions answered correctly (failed and
unparseable ones count as wrong). The official breakdowns are in percent under the official names; like
Video-MME's script they count only questions whose answer could be read ("answered"). Grounding reports
`miou`, `r1_at_0.3`, `r1_at_0.5`, `r1_at_0.7` as fractions over all questions.
"""

from __future__ import annotations

import re
from collections import defaultdict

from agentime.video.tafr import find_timestamps

_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer", "The best option is",
             "The correct option is", "Best answer:", "Best option:")
IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def extract_letter(response: str, letters: str = "ABCD") -> str:
    """The answer letter in a reply, by Video-MME's rule; "" when none can be read."""
    text = (response or "").strip()
    for prefix in _PREFIXES:
        text = text.replace(prefix, "")
    pattern = f"[{letters}]"
    if len(text.split()) > 10 and not re.search(pattern, text):
        return ""
    match = re.search(pattern, text)
    return match.group(0) if match else ""


def tempcompass_letter(prediction: str) -> str:
    """TempCompass multi-choice matching: a bare letter, or a reply starting with `X.` or `X)`."""
    text = (prediction or "").strip()
    if text in ("A", "B", "C", "D"):
        return text
    for sep in (".", ")"):
        if len(text) >= 2 and text[0] in "ABCD" and text[1] == sep:
            return text[0]
    return ""


def yes_no(prediction: str) -> str:
    """"yes" or "no" when the reply starts with one of them, else ""."""
    words = re.findall(r"[a-z]+", (prediction or "").lower())
    return words[0] if words and words[0] in ("yes", "no") else ""


def iou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


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


def score(task: str, item, prediction: str, spans) -> dict:
    """`parsed` (what was read from the prediction), `correct` and, where a truth span exists, `iou`."""
    out: dict = {}
    if item.kind == "grounding":
        span = predicted_span(spans, prediction)
        out["parsed"] = span
        out["iou"] = iou(span, item.span) if span else 0.0
        out["correct"] = None
        return out
    if item.kind == "yesno":
        parsed = yes_no(prediction)
    elif task == "tempcompass":
        parsed = tempcompass_letter(prediction)
    else:
        parsed = extract_letter(prediction, "ABCDEFGHIJ"[: len(item.options or "ABCD")])
    out["parsed"] = parsed
    out["correct"] = bool(parsed) and parsed == item.answer if item.answer is not None else None
    if item.span is not None:
        out["iou"] = iou(spans[0], item.span) if spans else 0.0
    return out


def _percent(correct: int, answered: int) -> float:
    return round(100.0 * correct / answered, 2) if answered else 0.0


def _breakdown(rows: list[dict], field: str) -> dict:
    counts: dict = defaultdict(lambda: [0, 0])
    for r in rows:
        values = r["categories"].get(field)
        for value in values if isinstance(values, list) else [values]:
            if value is None:
                continue
            if r.get("parsed"):
                counts[value][1] += 1
                counts[value][0] += bool(r.get("correct"))
    return {k: _percent(c, a) for k, (c, a) in sorted(counts.items(), key=lambda kv: str(kv[0]))}


# The official names of each task's breakdowns: (name in the metrics, category field of the rows).
BREAKDOWNS = {
    "synthetic": [("task_type", "task_type")],
    "videomme": [("Video Types", "duration"), ("Video Categories", "domain"),
                 ("Video Sub Categories", "sub_category"), ("Task Categories", "task_type")],
    "lvbench": [("question_type", "question_type")],
    "longvideobench": [("duration_group", "duration_group"), ("question_category", "question_category")],
    "egoschema": [],
    "tempcompass": [("dim", "dim")],
}


def grounding_metrics(rows: list[dict]) -> dict:
    ious = [float(r.get("iou") or 0.0) for r in rows]
    n = len(ious)
    out = {"miou": sum(ious) / n if n else 0.0}
    for t in IOU_THRESHOLDS:
        out[f"r1_at_{t}"] = sum(v >= t for v in ious) / n if n else 0.0
    return out


def summarise(task: str, rows: list[dict]) -> dict:
    """The metrics JSON of a finished (or partial) run from its result rows."""
    failed = [r for r in rows if r["status"] != "ok"]
    metrics: dict = {"task": task, "questions": len(rows), "failed": len(failed)}
    grounding = [r for r in rows if r["kind"] == "grounding"]
    if grounding:
        metrics.update(grounding_metrics(grounding))
        metrics["unparseable"] = sum(1 for r in grounding if r["status"] == "ok" and not r.get("parsed"))
    scored = [r for r in rows if r["kind"] != "grounding" and r.get("truth") is not None]
    if scored:
        answered = [r for r in scored if r.get("parsed")]
        correct = sum(bool(r.get("correct")) for r in scored)
        metrics["accuracy"] = correct / len(scored)
        metrics["unparseable"] = sum(1 for r in scored if r["status"] == "ok" and not r.get("parsed"))
        metrics["Overall"] = _percent(sum(bool(r.get("correct")) for r in answered), len(answered))
        for name, field in BREAKDOWNS.get(task, []):
            metrics[name] = _breakdown(scored, field)
    unscored = [r for r in rows if r["kind"] != "grounding" and r.get("truth") is None]
    if unscored:
        metrics["unscored"] = len(unscored)  # e.g. EgoSchema questions outside the public answer subset
    spanned = [r for r in scored if r.get("truth_span") is not None and r["categories"].get("task_type") == "grounding"]
    if task == "synthetic" and spanned:
        metrics["grounding"] = grounding_metrics(spanned)
    return metrics
