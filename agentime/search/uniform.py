"""The baseline: K evenly spaced frames, scored once by the target, then answered."""

from __future__ import annotations

from agentime.search.base import SearchConfig, SearchState
from agentime.search.common import evenly_spaced, keep_evidence, snap_to_overview
from agentime.search.runtime import SearchRuntime, trace


def step(rt: SearchRuntime, state: SearchState) -> None:
    times = snap_to_overview(rt, evenly_spaced(0.0, rt.view.duration, rt.config.budget))
    scores = rt.target_relevance(state, times)
    trace(state, "uniform", lane="looked", model="target", times=times, scores=scores, note=f"{len(times)} evenly spaced frames")
    keep_evidence(state, times, scores, "uniform frame", "target", threshold=-1.0)  # all frames are the evidence
    state["evidence"] = sorted(state["evidence"], key=lambda e: -e["score"])[: rt.config.answer_frames]
    state["evidence"].sort(key=lambda e: e["t"])
    state["confidence"] = float(max(scores)) if len(scores) else 0.0
    state["done"] = True


def minimum_budget(config: SearchConfig, overview_frames: int) -> int:
    """One frame: the frames are spread over whatever the budget allows."""
    return 1
