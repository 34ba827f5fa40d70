"""Small pieces every strategy uses: evenly spaced times, evidence keeping, the reflection step."""

from __future__ import annotations

import numpy as np

from agentime.search.base import SearchState, time_key
from agentime.search.runtime import SearchRuntime, trace


def evenly_spaced(start: float, end: float, count: int) -> list[float]:
    """`count` times at the centres of equal parts of [start, end)."""
    count = max(1, int(count))
    step = (end - start) / count
    return [round(start + step * (i + 0.5), 3) for i in range(count)]


def snap_to_overview(rt: SearchRuntime, times: list[float]) -> list[float]:
    """Each time moved to the nearest cached overview frame (cheap to fetch), duplicates dropped."""
    grid = rt.view.overview_times
    if grid.size == 0:
        return times
    idx = np.clip(np.searchsorted(grid, times), 1, grid.size - 1) if grid.size > 1 else np.zeros(len(times), int)
    snapped = []
    for t, i in zip(times, np.atleast_1d(idx), strict=True):
        best = float(grid[i]) if grid.size == 1 else min((float(grid[i - 1]), float(grid[i])), key=lambda g: abs(g - t))
        if best not in snapped:
            snapped.append(best)
    return snapped


def unscored_neighbour(rt: SearchRuntime, state: SearchState, t: float) -> float | None:
    """The overview frame a second after `t` (else a second before) that the target has not scored yet."""
    fresh = [u for u in snap_to_overview(rt, [t + 1.0, t - 1.0]) if u != t and time_key(u) not in state["scores"]]
    return fresh[0] if fresh else None


def keep_evidence(state: SearchState, times, scores, reason: str, source: str, threshold: float) -> None:
    """Add frames scoring at or above `threshold` to the evidence (once per time, best score kept)."""
    known = {e["t"]: e for e in state["evidence"]}
    for t, s in zip(times, scores, strict=True):
        t = round(float(t), 3)
        if s < threshold:
            continue
        if t in known:
            known[t]["score"] = max(known[t]["score"], float(s))
        else:
            entry = {"t": t, "score": float(s), "reason": reason, "source": source}
            state["evidence"].append(entry)
            known[t] = entry
    state["evidence"].sort(key=lambda e: e["t"])


def scored_near(state: SearchState, span: list[float], margin: float) -> dict[float, float]:
    """Relevance of every frame scored in the span or within `margin` seconds of it (target, else draft)."""
    scores = dict(state.get("draft_scores", {}))
    scores.update(state["scores"])
    return {float(t): s for t, s in scores.items() if span[0] - margin <= float(t) <= span[1] + margin}


def best_evidence_times(state: SearchState, limit: int) -> list[float]:
    ranked = sorted(state["evidence"], key=lambda e: -e["score"])[:limit]
    return sorted(e["t"] for e in ranked)


def reflect(rt: SearchRuntime, state: SearchState) -> float:
    """The target judges whether the evidence answers the question; its probability is the confidence."""
    times = best_evidence_times(state, rt.config.answer_frames)
    if not times:
        state["confidence"] = 0.0
        trace(state, "reflect", lane="check", model="target", note="no evidence yet")
        return 0.0
    confidence = rt.sufficiency(state, times)
    state["confidence"] = confidence
    trace(state, "reflect", lane="check", model="target", times=times, scores=[confidence],
          note="confident" if confidence >= rt.config.confidence_threshold else "not confident yet")
    return confidence
