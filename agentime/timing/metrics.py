"""TicToc's metric: the normalized alignment rate (balanced accuracy against people's preferences).

`0.5 * (recall on preferTool + recall on preferNoTool)`; 0.5 is chance. When only one label is present
the rate is that label's recall. Also the plain accuracy and a breakdown per elapsed level and label.
Pure functions over (level, prefer_tool, predicted_call) triples; no model, no I/O.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from agentime.timing.format import LEVEL_NAMES


def normalized_alignment(prefer_tool: Sequence[bool], predicted_call: Sequence[bool]) -> float:
    recalls = []
    for label in (True, False):
        hits = [p == label for t, p in zip(prefer_tool, predicted_call) if t == label]
        if hits:
            recalls.append(sum(hits) / len(hits))
    return sum(recalls) / len(recalls) if recalls else float("nan")


def alignment_report(rows: Iterable[tuple[int, bool, bool]]) -> dict:
    """Summary of (level, prefer_tool, predicted_call) rows: overall and per level, per label."""
    rows = list(rows)
    labels = [r[1] for r in rows]
    predictions = [r[2] for r in rows]
    report = {
        "samples": len(rows),
        "normalized_alignment": normalized_alignment(labels, predictions),
        "accuracy": sum(t == p for t, p in zip(labels, predictions)) / len(rows) if rows else float("nan"),
        "per_level": {},
    }
    for level in sorted({r[0] for r in rows}):
        level_rows = [r for r in rows if r[0] == level]
        entry = {
            "name": LEVEL_NAMES.get(level, str(level)),
            "samples": len(level_rows),
            "normalized_alignment": normalized_alignment([r[1] for r in level_rows], [r[2] for r in level_rows]),
            "accuracy": sum(r[1] == r[2] for r in level_rows) / len(level_rows),
        }
        for label, name in ((True, "preferTool"), (False, "preferNoTool")):
            labelled = [r for r in level_rows if r[1] == label]
            if labelled:
                entry[name] = {
                    "samples": len(labelled),
                    "recall": sum(r[2] == label for r in labelled) / len(labelled),
                }
        report["per_level"][str(level)] = entry
    return report


def best_threshold(elapsed: Sequence[float], prefer_tool: Sequence[bool]) -> tuple[float, float]:
    """The single global elapsed-seconds threshold (call iff elapsed > threshold) with the best rate."""
    candidates = sorted(set(elapsed))
    best = (float("inf"), normalized_alignment(prefer_tool, [False] * len(elapsed)))
    for index, value in enumerate(candidates):
        cut = value if index + 1 == len(candidates) else (value + candidates[index + 1]) / 2
        score = normalized_alignment(prefer_tool, [e > cut for e in elapsed])
        if score > best[1]:
            best = (cut, score)
    lowest = candidates[0] - 1 if candidates else 0.0
    score = normalized_alignment(prefer_tool, [e > lowest for e in elapsed])
    return (lowest, score) if score > best[1] else best
