"""SpecTemp: a cheap draft VLM proposes frames, the expensive target VLM verifies them.

Two protocols (`SpecTempConfig.preset`):

- "guided" (the default): no uniform first look. The embedder names the likeliest separate moments of the
  question; each round the draft scans `window_seconds` around the next `moments` of them at `draft_fps`, all in
  one batch, and proposes the k frames (default 2) that are salient (the draft's relevance plus half the
  embedder's normalised similarity) and diverse (a penalty for being close in time to frames already picked).
  The target verifies only those ("first"/"last" questions: the earliest/latest frame the draft finds among
  them). A verified frame the draft also finds relevant a second away is backed by two models and the embedder
  at once: it needs no confirmation by the target, and at the confidence threshold it ends the search without
  a reflection (early stop). The draft then follows the verified moment 8 s either side in one batch, so the
  span reaches the thing's edges. Without a frame index the guided protocol falls back to the paper's.
- "paper" (the published protocol): the target first sees N uniform frames (default 10) and reflects. While it
  is not confident, it names the region to inspect next: around its most relevant frame so far, else around the
  embedder's best moment not yet inspected (a region of `region_seconds`, default 60 s). The draft scans that
  region densely (1 fps by default) and proposes k frames as above.

In both, the target scores the proposals and reflects over all kept evidence; a proposal it scores below the
relevance threshold is rejected, and the trace says so. Before stopping on confidence, a most relevant frame
that nothing backs gets one neighbour scored by the target; if that says no, the frame was a lookalike seen
once: it leaves the evidence and the search goes on. At most T rounds (default 3). Counting questions sweep the
whole video instead: the draft checks the likeliest runs, the target verifies what it finds (see
`counting.py`), and an appearance resting on one verified frame gets a second look before it is counted.
"""

from __future__ import annotations

import numpy as np

from agentime.search.answer import FIRST, LAST
from agentime.search.common import evenly_spaced, keep_evidence, reflect, snap_to_overview, unscored_neighbour
from agentime.search.counting import candidate_runs, counted_instead
from agentime.search.base import SearchConfig, SearchState, answer_reserve, time_key
from agentime.search.runtime import SearchRuntime, trace

CONFIRM_NEAR = 2.0  # seconds: a relevant frame this close to the most relevant one backs it


def _uses_guidance(rt: SearchRuntime) -> bool:
    """Whether this search follows the guided protocol: asked for, and the embedder can name moments."""
    return rt.config.spectemp.preset == "guided" and rt.query_prior() is not None


def _first_look(rt: SearchRuntime, state: SearchState) -> None:
    # within the budget (the guided protocol falls back to this without an index, under its smaller minimum)
    count = min(rt.config.spectemp.uniform_first, rt.search_budget_left(state) - rt.config.spectemp.draft_proposals)
    times = snap_to_overview(rt, evenly_spaced(0.0, rt.view.duration, max(1, count)))
    scores = rt.target_relevance(state, times)
    trace(state, "first_look", lane="looked", model="target", times=times, scores=scores, note=f"{len(times)} uniform frames")
    keep_evidence(state, times, scores, "uniform first look", "target", rt.config.relevance_threshold)
    if state["evidence"]:
        reflect(rt, state)
    state["phase"] = "speculate"


def _name_region(rt: SearchRuntime, state: SearchState) -> tuple[float, float, str]:
    """Around the target's most relevant frame not yet inspected, else the embedder's best moment: a region of
    `region_seconds` (the moment is pinpointed; the draft refines it). With neither, an unexplored stretch as
    wide as the gap between the first look's frames."""
    wide = max(4.0, rt.view.duration / rt.config.spectemp.uniform_first)
    width = min(wide, rt.config.spectemp.region_seconds)
    inspected = [tuple(r) for r in state["inspected"]]

    def fresh(t: float) -> bool:
        return not any(a <= t < b for a, b in inspected)

    query = rt.query_prior()  # the embedder's similarity, raised where a matching transcript line is said
    candidates = []
    if query is not None:
        order = np.argsort(-query)
        candidates = [("embedder's best moment", float(rt.view.overview_times[i])) for i in order[:200]]
    target_best = sorted(((v, float(k)) for k, v in state["scores"].items() if v >= rt.config.relevance_threshold),
                         reverse=True)
    candidates = [("target's most relevant frame", t) for _, t in target_best] + candidates
    for why, centre in candidates:
        if fresh(centre):
            start = max(0.0, centre - width / 2)
            return start, min(rt.view.duration, start + width), why
    start = float(np.random.default_rng(state["round"]).uniform(0, max(0.0, rt.view.duration - wide)))
    return start, start + wide, "unexplored region"


PRIOR_WEIGHT = 0.5  # salience = the draft's relevance + this much of the embedder's (normalised) similarity


def _retrieval_prior(rt: SearchRuntime, times: list[float]) -> np.ndarray:
    """The embedder's similarity to the question at each time (the overview frame at or after it), scaled to
    [0, 1] over the whole video; zeros without an index. The draft's lookalike mistakes rarely agree with it."""
    prior = rt.query_prior()
    grid = rt.view.overview_times
    if prior is None or grid.size == 0 or not times:
        return np.zeros(len(times))
    return prior[np.clip(np.searchsorted(grid, times), 0, grid.size - 1)]


def _edge_proposal(rt: SearchRuntime, state: SearchState, times: list[float], draft_scores: np.ndarray) -> list[float]:
    """For "first" ("last") questions in the guided protocol: the earliest (latest) frame the draft finds
    relevant, unless the target has already judged a frame that early (late). Salience alone would verify the
    clearest appearance, and the answer needs the first one."""
    if not _uses_guidance(rt) or not (FIRST.search(rt.question) or LAST.search(rt.question)):
        return []
    relevant = [t for t, s in zip(times, draft_scores, strict=True) if s >= rt.config.relevance_threshold]
    if not relevant:
        return []
    edge = min(relevant) if FIRST.search(rt.question) else max(relevant)
    judged = [float(k) for k in state["scores"]]
    if FIRST.search(rt.question) and any(t <= edge for t in judged):
        return []
    if not FIRST.search(rt.question) and any(t >= edge for t in judged):
        return []
    return [edge]


def _propose(rt: SearchRuntime, state: SearchState, times: list[float], scores: np.ndarray,
             first: list[float] = ()) -> list[float]:
    """k salient, mutually diverse frames (`first` among them): greedy on score minus a penalty for nearness
    to picked frames."""
    picked_before = [e["t"] for e in state["evidence"]]
    proposals: list[float] = list(first)[: rt.config.spectemp.draft_proposals]
    scale = max(2.0, rt.config.timesearch.zoom_seconds)
    for _ in range(min(rt.config.spectemp.draft_proposals, len(times)) - len(proposals)):
        best, best_value = None, -np.inf
        for t, s in zip(times, scores, strict=True):
            if t in proposals:
                continue
            near = [abs(t - p) for p in picked_before + proposals]
            penalty = rt.config.spectemp.diversity * float(np.exp(-min(near) / scale)) if near else 0.0
            if s - penalty > best_value:
                best, best_value = t, s - penalty
        proposals.append(best)
    return sorted(proposals)


def _paper_round(rt: SearchRuntime, state: SearchState) -> None:
    state["round"] += 1
    start, end, why = _name_region(rt, state)
    state["inspected"].append([start, end])
    step = 1.0 / rt.config.spectemp.draft_fps
    times = [round(t, 3) for t in np.arange(start, end, step)]
    times = snap_to_overview(rt, times) if abs(rt.config.spectemp.draft_fps - 1.0) < 1e-9 else times
    draft_scores = rt.draft_relevance(state, times)
    trace(state, "draft_scan", lane="draft", model="draft" if rt.draft else "target", times=[times[0], times[-1]] if times else [],
          scores=[float(np.max(draft_scores))] if len(draft_scores) else [],
          note=f"round {state['round']}: {len(times)} frames of {start:.0f}-{end:.0f} s ({why})")
    _verify(rt, state, times, draft_scores)


def _guided_moments(rt: SearchRuntime) -> list[float]:
    """The embedder's likeliest separate moments (most similar first), as many as every round can scan."""
    cfg = rt.config.spectemp
    runs = candidate_runs(rt.view.overview_times, rt.query_prior(), cfg.moments * cfg.rounds)
    return [run[0] for run in runs]


def _window_times(rt: SearchRuntime, moments: list[float]) -> list[float]:
    """The draft's scanning times: `window_seconds` around each moment at `draft_fps`, in time order."""
    cfg = rt.config.spectemp
    half, step = cfg.window_seconds / 2, 1.0 / cfg.draft_fps
    wanted = sorted({round(float(t), 3) for m in moments
                     for t in np.arange(max(0.0, m - half), min(rt.view.duration, m + half + 1e-6), step)})
    return sorted(set(snap_to_overview(rt, wanted))) if abs(cfg.draft_fps - 1.0) < 1e-9 else wanted


def _guided_round(rt: SearchRuntime, state: SearchState) -> None:
    cfg = rt.config.spectemp
    if state["phase"] == "start":
        state["queue"] = [{"t": t} for t in _guided_moments(rt)]
        state["phase"] = "speculate"
    state["round"] += 1
    moments = [m["t"] for m in state["queue"][: cfg.moments]]
    state["queue"] = state["queue"][cfg.moments:]
    times = _window_times(rt, moments)
    if not times:
        state["done"] = True
        return
    draft_scores = rt.draft_relevance(state, times)  # one call: the draft is cheapest per frame in large batches
    state["inspected"].extend([[max(0.0, m - cfg.window_seconds / 2), min(rt.view.duration, m + cfg.window_seconds / 2)]
                               for m in moments])
    trace(state, "draft_scan", lane="draft", model="draft" if rt.draft else "target", times=[times[0], times[-1]],
          scores=[float(np.max(draft_scores))],
          note=f"round {state['round']}: {len(times)} frames around {len(moments)} of the embedder's likeliest moments")
    _verify(rt, state, times, draft_scores)
    _draft_extent(rt, state)


EXTENT_SECONDS = 8.0  # guided: how far either side of a verified moment the draft looks for the span's edges


def _draft_extent(rt: SearchRuntime, state: SearchState) -> None:
    """Around the best verified frame, the draft scores the frames up to EXTENT_SECONDS either side (one batch),
    so that the found span reaches as far as the thing stays on screen (spans take draft-relevant frames next
    to a verified one) without the target looking at them."""
    if not state["evidence"]:
        return
    best = max(state["evidence"], key=lambda e: e["score"])["t"]
    wanted = [t for t in snap_to_overview(rt, list(np.arange(best - EXTENT_SECONDS, best + EXTENT_SECONDS + 1e-6, 1.0)))
              if 0 <= t <= rt.view.duration and time_key(t) not in state["draft_scores"]]
    if not wanted:
        return
    scores = rt.draft_relevance(state, wanted)
    trace(state, "draft_extent", lane="draft", model="draft" if rt.draft else "target", times=wanted, scores=scores,
          note=f"the draft follows {best:.1f} s to the span's edges")


def _verify(rt: SearchRuntime, state: SearchState, times: list[float], draft_scores: np.ndarray) -> None:
    """The draft's k proposals among `times`, verified by the target; relevant ones kept; then a reflection."""
    proposals = _propose(rt, state, times, draft_scores + PRIOR_WEIGHT * _retrieval_prior(rt, times),
                         _edge_proposal(rt, state, times, draft_scores))
    verified = rt.target_relevance(state, proposals)
    rejected = [t for t, s in zip(proposals, verified, strict=True) if s < rt.config.relevance_threshold]
    trace(state, "verify", lane="verdict", model="target", times=proposals, scores=verified,
          note=("target overruled the draft on " + ", ".join(f"{t:.1f} s" for t in rejected)) if rejected
          else "target accepted the draft's proposals", rejected=rejected,
          draft_scores=[float(draft_scores[times.index(t)]) for t in proposals])
    keep_evidence(state, proposals, verified, f"proposed by the draft in round {state['round']}", "draft",
                  rt.config.relevance_threshold)
    if state["evidence"] and not _agreed(rt, state, proposals, verified):
        reflect(rt, state)


def _agreed(rt: SearchRuntime, state: SearchState, proposals: list[float], verified: np.ndarray) -> bool:
    """Guided early stop: a proposal the target verifies at the confidence threshold, which the draft also sees a
    second away, at a moment the embedder chose, is found; its verification is the confidence and no reflection
    is asked (the answer still reads all the evidence)."""
    agreed = [(float(s), t) for t, s in zip(proposals, verified, strict=True)
              if s >= rt.config.confidence_threshold and _draft_backs(rt, state, t)]
    if not agreed:
        return False
    score, t = max(agreed)
    state["confidence"] = score
    trace(state, "agree", lane="check", model="target", times=[t], scores=[score],
          note=f"{t:.1f} s verified by the target, seen by the draft a second away, chosen by the embedder: "
               "confident without a reflection")
    return True


def _draft_backs(rt: SearchRuntime, state: SearchState, t: float) -> bool:
    """Whether the draft found the looked-for thing in a frame within CONFIRM_NEAR seconds of `t` (guided only:
    there the embedder chose the moment too, so three judgements agree)."""
    if not _uses_guidance(rt):
        return False
    threshold = rt.config.relevance_threshold
    return any(v >= threshold and 0 < abs(float(k) - t) <= CONFIRM_NEAR for k, v in state["draft_scores"].items())


def _confirmed(rt: SearchRuntime, state: SearchState) -> bool:
    """Whether the most relevant evidence frame stands: backed by a relevant frame within CONFIRM_NEAR seconds,
    or by a neighbour the target scores now (one frame, while the search budget lasts). A contradicted frame
    leaves the evidence and keeps the neighbour's lower score, so no later region is centred on it."""
    threshold = rt.config.relevance_threshold
    if not state["evidence"]:
        return True
    best = max(state["evidence"], key=lambda e: e["score"])
    backed = [float(k) for k, v in state["scores"].items()
              if v >= threshold and 0 < abs(float(k) - best["t"]) <= CONFIRM_NEAR]
    if backed or _draft_backs(rt, state, best["t"]) or rt.search_budget_left(state) <= 0:
        return True
    neighbour = unscored_neighbour(rt, state, best["t"])
    if neighbour is None:
        return True
    [score] = rt.target_relevance(state, [neighbour])
    standing = score >= threshold
    trace(state, "confirm", lane="looked", model="target", times=[neighbour], scores=[score],
          note=f"{best['t']:.1f} s " + ("confirmed by its neighbour" if standing
                                       else "contradicted by its neighbour: a lookalike, searching on"))
    if standing:
        keep_evidence(state, [neighbour], [score], "neighbour confirming the best frame", "target", threshold)
        return True
    state["evidence"].remove(best)
    state["scores"][time_key(best["t"])] = float(score)
    state["confidence"] = 0.0
    return False


def _likeliest_neighbour(rt: SearchRuntime, state: SearchState, t: float) -> float | None:
    """The overview frame 1-2 s from `t` the embedder finds most like the question, not yet scored by the target
    (a second after `t` may already be past the thing's end)."""
    grid, prior = rt.view.overview_times, rt.query_prior()
    near = [i for i in np.flatnonzero(np.abs(grid - t) <= 2.0)
            if abs(float(grid[i]) - t) >= 1.0 and time_key(float(grid[i])) not in state["scores"]]
    if not near or prior is None:
        return unscored_neighbour(rt, state, t)
    return float(grid[max(near, key=lambda i: prior[i])])


def _second_looks(rt: SearchRuntime, state: SearchState) -> None:
    """After a counting sweep: an appearance resting on one frame the target confirmed (the draft found it,
    nothing else backs it) gets its likeliest neighbour scored by the target; if that says no, it was a lookalike
    seen once and is not counted. TimeSearch's sweep, without a draft, looks twice at every moment the same way."""
    threshold, kept, looked = rt.config.relevance_threshold, [], []
    for span in state.get("appearances", []):
        inside = [float(k) for k, v in state["scores"].items() if v >= threshold and span[0] <= float(k) <= span[1]]
        neighbour = _likeliest_neighbour(rt, state, inside[0]) if len(inside) == 1 else None
        if neighbour is None or rt.budget_left(state) <= 0:
            kept.append(span)
            continue
        [score] = rt.target_relevance(state, [neighbour])
        looked.append((neighbour, float(score)))
        if score >= threshold:
            kept.append(span)
            keep_evidence(state, [neighbour], [score], "second look at a counted appearance", "target", threshold)
        else:
            state["evidence"] = [e for e in state["evidence"] if e["t"] not in inside]
    if looked:
        trace(state, "count_second_look", lane="looked", model="target", times=[t for t, _ in looked],
              scores=[v for _, v in looked],
              note=f"{len(state['appearances']) - len(kept)} of {len(looked)} one-frame appearances were lookalikes")
        state["appearances"] = kept


def step(rt: SearchRuntime, state: SearchState) -> None:
    if counted_instead(rt, state, use_draft=True):
        _second_looks(rt, state)
        return
    if _uses_guidance(rt):
        _guided_round(rt, state)
    elif state["phase"] == "start":
        _first_look(rt, state)
    else:
        _paper_round(rt, state)
    if state["done"]:
        return
    confident = state["confidence"] >= rt.config.confidence_threshold and _confirmed(rt, state)
    if confident or state["round"] >= rt.config.spectemp.rounds or rt.search_budget_left(state) <= 0:
        state["done"] = True


def minimum_budget(config: SearchConfig, overview_frames: int) -> int:
    """One round's verified proposals and the answer's reserve; the paper protocol's first look before them."""
    first_look = min(config.spectemp.uniform_first, overview_frames) if config.spectemp.preset == "paper" else 0
    return first_look + config.spectemp.draft_proposals + answer_reserve(config)
