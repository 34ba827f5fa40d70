"""Counting questions ("How many times does a red triangle appear?"): find every appearance, then count them.

A counting question cannot be answered from a few frames around one moment: every appearance in the whole
video must be found. `sweep` ranks all overview frames by the embedder's similarity to the looked-for object,
takes the likeliest separate moments and has the target check each (with spectemp the draft first picks each
moment's frame); a moment the target confirms counts when a second vote agrees: the draft's (spectemp), else
the target on a second frame of it. Confirmed moments close in time are joined when the target sees the
object half-way between them. Exhaustive search scores every frame, so there
`count_appearances` counts the separate confident spans of its evidence. `counted_answer` turns a count into
the answer. Nothing here answers questions of other kinds.
"""

from __future__ import annotations

import re

import numpy as np

from agentime.search.base import SearchState
from agentime.search.common import keep_evidence, scored_near
from agentime.search.runtime import SearchRuntime, trace

COUNT_QUESTION = re.compile(r"\bhow\s+many\s+times\b|\bhow\s+often\b|\bhow\s+many\s+appearances\b", re.IGNORECASE)
MAX_RUNS = 12  # candidate moments checked; appearances beyond the 12 likeliest moments are missed
SUPPRESS = 8.0  # seconds: a candidate moment hides less similar frames this close to it
JOIN_CHECK = 20.0  # seconds: two confirmed moments closer than this are checked for being one appearance
DRAFT_FRAMES_PER_RUN = 3
NEIGHBOURHOOD = 1.0  # seconds around a span whose scored frames also count towards its confidence


def is_count_question(question: str) -> bool:
    return bool(COUNT_QUESTION.search(question or ""))


def candidate_runs(times: np.ndarray, scores: np.ndarray, limit: int) -> list[list[float]]:
    """The `limit` most similar separate moments (non-maximum suppression: each hides the frames within
    SUPPRESS seconds), each as its frames within 2 s ranked by similarity, best moment first."""
    order = np.argsort(-scores)
    hidden = np.zeros(len(times), dtype=bool)
    runs = []
    for i in order:
        if len(runs) >= limit:
            break
        if hidden[i]:
            continue
        near = np.abs(times - times[i])
        hidden |= near < SUPPRESS
        close = np.flatnonzero(near <= 2.0)
        runs.append([float(times[j]) for j in close[np.argsort(-scores[close])]])
    return runs


def _one_appearance(rt: SearchRuntime, state: SearchState, a: float, b: float) -> bool:
    """Whether two confirmed moments belong to one appearance: the target checks the frame half-way."""
    if rt.budget_left(state) <= 0:
        return b - a < SUPPRESS
    middle = float(rt.view.overview_times[np.argmin(np.abs(rt.view.overview_times - (a + b) / 2))])
    if middle in (a, b):
        return True
    return bool(rt.target_relevance(state, [middle])[0] >= rt.config.relevance_threshold)


def _second_look(rt: SearchRuntime, state: SearchState, confirmed: list[float], runs: dict) -> list[float]:
    """The confirmed moments whose next most similar frame, at least a second away, the target also finds the
    object in (while the budget lasts; a moment without such a frame, or without budget, stands)."""
    seconds = {t: next((u for u in runs[t][1:] if abs(u - t) >= 1.0), None) for t in confirmed}
    wanted = [u for u in seconds.values() if u is not None][: max(0, rt.budget_left(state))]
    scores = dict(zip(wanted, rt.target_relevance(state, wanted), strict=True))
    trace(state, "count_second_look", lane="looked", model="target", times=wanted, scores=list(scores.values()),
          note="a second frame of each confirmed moment")
    threshold = rt.config.relevance_threshold
    return [t for t in confirmed if seconds[t] not in scores or scores[seconds[t]] >= threshold]


def counted_instead(rt: SearchRuntime, state: SearchState, *, use_draft: bool) -> bool:
    """At the start of a counting question, sweep instead of the strategy's own search; True when that settled
    the search (it cannot without a frame index)."""
    if state["phase"] != "start" or not is_count_question(rt.question):
        return False
    sweep(rt, state, use_draft=use_draft)
    if state.get("counted"):
        state["done"] = True
    return bool(state.get("counted"))


def sweep(rt: SearchRuntime, state: SearchState, *, use_draft: bool) -> None:
    """Check the likeliest moments of the whole video for the looked-for object; the confirmed ones, joined
    where the object stays on screen between them, are the appearances (state["appearances"])."""
    similarity = rt.query_scores()
    if similarity is None:
        trace(state, "count_sweep", note="no frame index: counting falls back to the strategy's own search")
        return
    runs = candidate_runs(rt.view.overview_times, similarity, min(MAX_RUNS, max(1, rt.budget_left(state))))
    threshold = rt.config.relevance_threshold
    agreed: set[float] = set()  # moments where the draft found the object: the draft's yes is a second vote
    if use_draft and rt.draft is not None:
        looked = [t for run in runs for t in run[:DRAFT_FRAMES_PER_RUN]]
        drafted = dict(zip(looked, rt.draft_relevance(state, looked), strict=True))
        picks = [max(run[:DRAFT_FRAMES_PER_RUN], key=drafted.get) for run in runs]
        agreed = {t for t in picks if drafted[t] >= threshold}
        trace(state, "count_draft", lane="draft", model="draft", times=looked, scores=[drafted[t] for t in looked],
              note=f"{len(runs)} candidate moments, {len(agreed)} the draft finds the object in")
        source = "draft"
    else:
        picks, source = [run[0] for run in runs], "target"
    # The target checks every candidate moment, not only those the draft agreed on: a draft blind to an object
    # (a small model misses some colours) would otherwise hide all its appearances.
    picks = picks[: max(0, rt.budget_left(state))]
    verified = rt.target_relevance(state, picks)
    confirmed = sorted(t for t, s in zip(picks, verified, strict=True) if s >= threshold)
    # without the draft's yes, a second frame of the moment must agree, so one lookalike frame does not count
    alone = [t for t in confirmed if t not in agreed]
    if alone:
        by_pick = {pick: [pick] + [t for t in run if t != pick] for pick, run in zip(picks, runs, strict=False)}
        confirmed = sorted([t for t in confirmed if t in agreed] + _second_look(rt, state, alone, by_pick))
    trace(state, "count_verify", lane="looked", model="target", times=picks, scores=verified,
          note=f"{len(confirmed)} of {len(picks)} candidate moments confirmed")
    keep_evidence(state, picks, verified, "a candidate appearance, confirmed", source, threshold)
    appearances: list[list[float]] = []
    for t in confirmed:
        if appearances and t - appearances[-1][1] < JOIN_CHECK and _one_appearance(rt, state, appearances[-1][1], t):
            appearances[-1][1] = t
        else:
            appearances.append([t, t])
    duration = rt.view.duration
    state["appearances"] = [[round(max(0.0, a - 0.5), 3), round(min(duration, b + 0.5), 3)] for a, b in appearances]
    trace(state, "count", model="target", note=f"{len(appearances)} separate appearances")
    # confidence: how decisive the checks were (a score near 0 or 1 settles a moment; 0.5 settles nothing)
    state["confidence"] = float(np.mean([max(s, 1 - s) for s in verified])) if len(verified) else 0.0
    state["counted"] = True


def count_appearances(state: SearchState, spans: list[list[float]], threshold: float) -> list[list[float]]:
    """The spans that are separate confident appearances: the mean relevance of the frames scored in and just
    around each span is at least `threshold`, so one lookalike frame among frames that say no does not count."""
    kept = []
    for span in spans:
        near = list(scored_near(state, span, NEIGHBOURHOOD).values())
        if near and float(np.mean(near)) >= threshold:
            kept.append(span)
    return kept


def counted_answer(count: int, options: list[str]) -> tuple[int | None, str]:
    """(index of the option naming `count`, else of the nearest number; None without numeric options, text)."""
    numbers = [re.findall(r"-?\d+", option) for option in options]
    numeric = [(i, int(found[0])) for i, found in enumerate(numbers) if len(found) == 1]
    if not numeric:
        return None, str(count)
    index = min(numeric, key=lambda pair: (abs(pair[1] - count), pair[1]))[0]
    return index, options[index]
