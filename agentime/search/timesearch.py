"""TimeSearch with one VLM (the target): coarse overview, spotlight, zoom, reflection, backtracking.

Step 1 splits the timeline into segments and has the target score one frame per segment (the frame the
embedder finds closest to the question, else the centre); segments enter a priority queue ranked by the
target's score and the embedder's similarity. Each later step pops the most promising segment, spotlights
its likeliest frames, zooms into the best moment with denser sampling, keeps what the target finds relevant
and reflects (sufficiency probability = confidence). It stops when confident or out of budget; otherwise it
goes deeper (halves of the segment re-enter the queue) or backtracks to the next segment. Counting questions
sweep the whole video for every appearance instead (see `counting.py`).
"""

from __future__ import annotations

import numpy as np

from agentime.search.base import SearchConfig, SearchState, answer_reserve, time_key
from agentime.search.common import evenly_spaced, keep_evidence, reflect
from agentime.search.counting import counted_instead
from agentime.search.runtime import SearchRuntime, trace

SPOTLIGHT_FRAMES = 4
MAX_EXTENSIONS = 4


def _embed_prior(rt: SearchRuntime, start: float, end: float) -> tuple[float, list[float]]:
    """Best normalised embedder similarity inside [start, end) and the segment's frames ranked by it."""
    grid = rt.view.overview_times
    mask = (grid >= start) & (grid < end)
    times = grid[mask]
    prior = rt.query_prior()
    if prior is None or times.size == 0:
        return 0.0, [float(t) for t in times]
    local = prior[mask]
    order = np.argsort(-local)
    return float(local[order[0]]), [float(times[i]) for i in order]


def _start(rt: SearchRuntime, state: SearchState) -> None:
    duration = rt.view.duration
    count = max(1, min(rt.config.timesearch.segments, int(duration // 10) or 1, max(1, rt.config.budget // 4)))
    bounds = np.linspace(0.0, duration, count + 1)
    picks, segments = [], []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        prior, ranked = _embed_prior(rt, float(start), float(end))
        pick = ranked[0] if ranked and rt.query_prior() is not None else evenly_spaced(start, end, 1)[0]
        picks.append(pick)
        segments.append({"start": float(start), "end": float(end), "prior": prior, "depth": 0})
    scores = rt.target_relevance(state, picks)
    for segment, score in zip(segments, scores, strict=True):
        segment["priority"] = 0.5 * float(score) + 0.5 * segment["prior"]
    state["queue"] = sorted(segments, key=lambda s: -s["priority"])
    keep_evidence(state, picks, scores, "coarse overview", "target", rt.config.relevance_threshold)
    trace(state, "overview", lane="looked", model="target", times=picks, scores=scores,
          note=f"{count} segments ranked by target score and embedder similarity")
    state["phase"] = "spotlight"


def _spotlight(rt: SearchRuntime, state: SearchState) -> None:
    segment = state["queue"].pop(0)
    state["inspected"].append([segment["start"], segment["end"]])
    _, ranked = _embed_prior(rt, segment["start"], segment["end"])
    if rt.query_prior() is None:
        ranked = evenly_spaced(segment["start"], segment["end"], SPOTLIGHT_FRAMES)
    room = min(SPOTLIGHT_FRAMES, rt.search_budget_left(state))
    fresh = [t for t in ranked if time_key(t) not in state["scores"]][:room]
    scores = rt.target_relevance(state, fresh)
    seen = {float(k): v for k, v in state["scores"].items() if segment["start"] <= float(k) < segment["end"]}
    trace(state, "spotlight", lane="looked", model="target", times=fresh, scores=scores,
          note=f"segment {segment['start']:.0f}-{segment['end']:.0f} s (depth {segment['depth']})",
          segment=[segment["start"], segment["end"]])
    keep_evidence(state, fresh, scores, "spotlighted", "target", rt.config.relevance_threshold)
    best_t, best = max(seen.items(), key=lambda kv: kv[1]) if seen else (None, 0.0)
    if best_t is not None and best >= rt.config.relevance_threshold and rt.search_budget_left(state) > 0:
        _zoom(rt, state, best_t)
    elif segment["end"] - segment["start"] > 2 * rt.config.timesearch.zoom_seconds:
        middle = (segment["start"] + segment["end"]) / 2
        for start, end in ((segment["start"], middle), (middle, segment["end"])):
            prior, _ = _embed_prior(rt, start, end)
            child = {"start": start, "end": end, "prior": prior, "depth": segment["depth"] + 1,
                     "priority": 0.5 * best + 0.5 * prior - 0.05 * (segment["depth"] + 1)}
            state["queue"].append(child)
        state["queue"].sort(key=lambda s: -s["priority"])


def _zoom(rt: SearchRuntime, state: SearchState, around: float) -> None:
    """Dense frames around a relevant moment; while the window's edge is still relevant, extend it that way
    (so a span is found whole, not just its middle)."""
    half = rt.config.timesearch.zoom_seconds / 2
    step = 1.0 / rt.config.timesearch.zoom_fps
    windows = [(max(0.0, around - half), min(rt.view.duration - 1e-3, around + half))]
    extensions = 0
    while windows and rt.search_budget_left(state) > 0:
        start, end = windows.pop(0)
        times = [round(t, 3) for t in np.arange(start, end, step) if time_key(t) not in state["scores"]]
        times = times[: max(0, rt.search_budget_left(state))]
        if not times:
            continue
        scores = rt.target_relevance(state, times)
        keep_evidence(state, times, scores, f"zoom around {around:.1f} s", "target", rt.config.relevance_threshold)
        trace(state, "zoom", lane="looked", model="target", times=times, scores=scores,
              note=f"{rt.config.timesearch.zoom_fps:g} fps, {start:.1f}-{end:.1f} s")
        threshold = rt.config.relevance_threshold
        if extensions < MAX_EXTENSIONS and scores[0] >= threshold and start > 0:
            windows.append((max(0.0, start - 2 * half), start))
            extensions += 1
        if extensions < MAX_EXTENSIONS and scores[-1] >= threshold and end < rt.view.duration - 1e-3:
            windows.append((end, min(rt.view.duration - 1e-3, end + 2 * half)))
            extensions += 1


def step(rt: SearchRuntime, state: SearchState) -> None:
    if counted_instead(rt, state, use_draft=False):
        return
    if state["phase"] == "start":
        _start(rt, state)
    elif state["queue"] and rt.search_budget_left(state) > 0:
        _spotlight(rt, state)
        if state["evidence"]:
            reflect(rt, state)
    confident = state["confidence"] >= rt.config.confidence_threshold
    if confident or not state["queue"] or rt.search_budget_left(state) <= 0:
        if not confident and state["evidence"] and not state["trace"][-1]["step"] == "reflect":
            reflect(rt, state)
        state["done"] = True


def minimum_budget(config: SearchConfig, overview_frames: int) -> int:
    """One overview frame (the overview shrinks to a quarter of the budget) and the answer's reserve."""
    return 1 + answer_reserve(config)
