"""The accuracy ceiling: the target scores every overview frame; the best ones are the evidence."""

from __future__ import annotations

import numpy as np

from agentime.search.base import SearchConfig, SearchState
from agentime.search.common import keep_evidence
from agentime.search.runtime import SearchRuntime, trace

BATCH = 256  # frames per step, so progress shows and a checkpoint lands between batches


def step(rt: SearchRuntime, state: SearchState) -> None:
    grid = rt.view.overview_times
    position = int(state.get("position", 0))
    times = [float(t) for t in grid[position: position + BATCH]]
    scores = rt.target_relevance(state, times)
    trace(state, "score_all", lane="looked", model="target", times=times[:1] + times[-1:], scores=[float(np.max(scores))] if len(scores) else [],
          note=f"frames {position}-{position + len(times)} of {grid.size}")
    keep_evidence(state, times, scores, "scored highly among all frames", "target", rt.config.relevance_threshold)
    state["position"] = position + len(times)
    if state["position"] >= grid.size:
        if not state["evidence"]:  # nothing passed the threshold: keep the best few
            ranked = sorted(state["scores"].items(), key=lambda kv: -kv[1])[: rt.config.answer_frames]
            keep_evidence(state, [float(k) for k, _ in ranked], [v for _, v in ranked], "best available", "target", -1)
        state["confidence"] = max((e["score"] for e in state["evidence"]), default=0.0)
        state["counted"] = True  # every frame was scored: every appearance is in the evidence
        state["done"] = True


def minimum_budget(config: SearchConfig, overview_frames: int) -> int:
    """One frame: the budget does not bound the ceiling, which scores every frame whatever it is."""
    return 1
