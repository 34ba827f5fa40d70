"""The final answer: the target looks at the kept evidence frames (with their timestamps) and answers.

Spans come from the evidence itself: relevant frames close in time form a span; the target sees the best
evidence frames plus, within the budget, two frames just after the main span (what follows it). For "first"
questions, early spans resting on one frame get a second look, and an early span about as confident as the best
one is followed to its edges and judged with them, before it can count as the first appearance; the main span
is followed back to where it begins; for "right after" questions it is followed forward until
the object is gone.
Multiple-choice questions are answered with a letter: options that are time ranges are matched to the found
span; "what comes right after" options by which one the target sees in the frames after the span and not in
the span; others by the target (its own answer matched to an option, else its letter, else the option it finds
most likely). Counting questions, once the search has swept for every appearance, are answered with the
number of separate confident spans. Open answers (no options) are then made to agree with the evidence
(`grounding.py`). Frames looked at here serve the found span: a second look at early one-frame spans,
following the main span to its edges, and the frames just after it. They are charged to the same budget as the
search (within what is left); nothing here spotlights a part of the video the search did not find. Every prompt
comes from `prompts.py`.
"""

from __future__ import annotations

import re
import time

import numpy as np

from agentime.search.base import AFTER_SPAN, SearchState, time_key
from agentime.search.common import (best_evidence_times, evenly_spaced, keep_evidence, scored_near,
                                    snap_to_overview, unscored_neighbour)
from agentime.search.counting import count_appearances, counted_answer, is_count_question
from agentime.search.grounding import ground_answer
from agentime.search.prompts import ANSWER_INSTRUCTION, answer_statement, relevance_statement
from agentime.search.runtime import SearchRuntime, trace
from agentime.video.tafr import build_prompt, find_timestamps
from agentime.vocabulary import OPTION_LETTERS, iou, option_texts

_LETTER = re.compile(r"\b([A-J])\b")
FIRST = re.compile(r"\bfirst\b", re.IGNORECASE)
LAST = re.compile(r"\blast\b", re.IGNORECASE)
RIGHT_AFTER = re.compile(r"\b(?:right|just|immediately|directly)\s+after\b|\bnext\b(?!\s+to\b)", re.IGNORECASE)
NEWLY_SEEN = 0.5  # how much likelier an option must be after the span than in it to be the answer
_DESCRIPTION_PARTS = re.compile(r"\s*(?:[,;]|\band\b)\s*")
SPAN_END_FRAMES = 3  # the span's last scored frames an option must be absent from
WATCH_STEP, WATCH_LIMIT = 3.0, 24.0  # "right after" / "first" questions: follow the object in such steps, so far
EDGE_PRECISION = 1.5  # seconds: following stops once the last frame showing the object and the first not are this close


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def matching_option(answer: str, options: list[str]) -> int | None:
    """The option a free-form answer names: the one equal to it, else the only one it contains (whole words)."""
    said = _words(answer)
    wanted = [_words(o) for o in options]
    equal = [i for i, w in enumerate(wanted) if w and w == said]
    if len(equal) == 1:
        return equal[0]
    inside = [i for i, w in enumerate(wanted) if w and re.search(rf"\b{re.escape(w)}\b", said)]
    return inside[0] if len(inside) == 1 else None


def evidence_spans(state: SearchState, threshold: float, gap: float, duration: float) -> list[list[float]]:
    """Relevant frames closer than `gap` seconds merged into [start, end] spans, in time order.

    Frames the draft found relevant extend a span only when the target verified a frame of that span.
    """
    verified = {e["t"] for e in state["evidence"] if e["score"] >= threshold}
    drafted = {round(float(t), 3) for t, s in state.get("draft_scores", {}).items() if s >= threshold}
    spans: list[list[float]] = []
    checked: list[bool] = []
    for t in sorted(verified | drafted):
        if spans and t - spans[-1][1] <= gap:
            spans[-1][1] = t
            checked[-1] = checked[-1] or t in verified
        else:
            spans.append([t, t])
            checked.append(t in verified)
    unseen = [float(t) for t, s in {**state.get("draft_scores", {}), **state["scores"]}.items() if s < threshold]
    return [[round(max(0.0, a - _edge_margin(a, unseen, -1.0)), 3),
             round(min(duration, b + _edge_margin(b, unseen, 1.0)), 3)]
            for (a, b), ok in zip(spans, checked, strict=True) if ok]


def _edge_margin(edge: float, unseen: list[float], sign: float) -> float:
    """How far past its outermost relevant frame a span reaches: halfway to a frame judged without the thing less
    than a second further out (the thing begins or ends between the two), else half a second. A span's ends then
    round to the right clock second wherever its edges were looked at to the half second."""
    beyond = [sign * (t - edge) for t in unseen if 0 < sign * (t - edge) < 1.0 - 1e-6]
    return min(beyond) / 2 if beyond else 0.5


SPAN_CONFIDENCE_MARGIN = 0.1


def span_confidence(state: SearchState, span: list[float]) -> float:
    """Median relevance of the frames scored in and just around the span.

    An object really on screen is seen in frame after frame (a few frames at its edges, found not relevant,
    do not move the median); a lookalike fires on some frames and not others, so its spans score lower.
    """
    near = list(scored_near(state, span, 0.5).values())
    return float(np.median(near)) if near else 0.0


def _span_gap(rt: SearchRuntime) -> float:
    return max(2.5, 2.0 / rt.config.timesearch.zoom_fps)  # frames of one zoom window stay in one span


def _spans(rt: SearchRuntime, state: SearchState) -> list[list[float]]:
    return evidence_spans(state, rt.config.relevance_threshold, _span_gap(rt), rt.view.duration)


def _spans_after_looks(rt: SearchRuntime, state: SearchState, spans: list[list[float]], looked: list[float],
                       step: str, note: str) -> list[list[float]]:
    """The spans after the target's extra looks at `looked`: traced as `step` and recomputed when there were
    any, else `spans` unchanged."""
    if not looked:
        return spans
    trace(state, step, lane="looked", model="target", times=looked,
          scores=[state["scores"][time_key(t)] for t in looked], note=note)
    return _spans(rt, state)


def _second_looks(rt: SearchRuntime, state: SearchState, spans: list[list[float]]) -> list[list[float]]:
    """For "first" questions: each span before the most confident one that rests on a single scored frame gets
    one more frame (a second later, else earlier) scored by the target while the budget lasts, so one lookalike
    frame cannot pass for the first appearance. Returns the spans, recomputed when anything was looked at."""
    if not spans:
        return spans
    confidence = [span_confidence(state, span) for span in spans]
    looked = []
    for span in spans[: int(np.argmax(confidence))]:
        near = scored_near(state, span, 0.5)
        if len(near) != 1 or rt.budget_left(state) <= 0:
            continue
        [t] = near
        neighbour = unscored_neighbour(rt, state, t)
        if neighbour is not None:
            score = rt.target_relevance(state, [neighbour])
            keep_evidence(state, [neighbour], score, "second look at an early one-frame span", "target",
                          rt.config.relevance_threshold)
            looked.append(neighbour)
    return _spans_after_looks(rt, state, spans, looked, "second_look", "early one-frame spans checked once more")


BRIDGE_SECONDS = 4.0  # relevant frames this far apart may be one appearance with frames missed between them


def _bridge_gaps(rt: SearchRuntime, state: SearchState, spans: list[list[float]], gap: float) -> list[list[float]]:
    """A found span whose next (or previous) relevant frame, the target's or the draft's, lies more than `gap`
    but at most BRIDGE_SECONDS away gets the target's look at a frame between them while the budget lasts: a
    draft's scan misses a frame or two inside one appearance, which splits it (or leaves its rest unverified),
    and the answer would state part of it. Returns the spans, recomputed when anything was looked at."""
    threshold = rt.config.relevance_threshold
    drafted = {round(float(t), 3) for t, v in state.get("draft_scores", {}).items() if v >= threshold}
    relevant = sorted(drafted | {e["t"] for e in state["evidence"] if e["score"] >= threshold})
    inside = [any(a <= t <= b for a, b in spans) for t in relevant]
    looked = []
    for (t0, in0), (t1, in1) in zip(zip(relevant, inside), zip(relevant[1:], inside[1:])):
        if not (in0 or in1) or not gap < t1 - t0 <= BRIDGE_SECONDS or rt.budget_left(state) <= 0:
            continue
        [t] = snap_to_overview(rt, [(t0 + t1) / 2])
        if not t0 < t < t1 or time_key(t) in rt.frames_seen(state, "target"):
            continue
        score = rt.target_relevance(state, [t])
        keep_evidence(state, [t], score, "look between close relevant frames", "target", threshold)
        looked.append(t)
    return _spans_after_looks(rt, state, spans, looked, "bridge", "frames between close relevant frames checked")


def _main_span(state: SearchState, spans: list[list[float]], question: str,
               judged: dict[tuple[float, float], float] | None = None) -> list[float] | None:
    """The span that answers: for "first" ("last") questions the earliest (latest) span about as confident as
    the best one (`judged`: confidences already judged at a span's edges, see `_judge_first_candidates`), else
    the span of the most relevant evidence frame."""
    if not spans:
        return None
    if FIRST.search(question) or LAST.search(question):
        judged = judged or {}
        confidence = [judged.get(tuple(span), span_confidence(state, span)) for span in spans]
        candidates = [span for span, c in zip(spans, confidence, strict=True)
                      if c >= max(confidence) - SPAN_CONFIDENCE_MARGIN]
        return candidates[0] if FIRST.search(question) else candidates[-1]
    best = max(state["evidence"], key=lambda e: e["score"])["t"]
    return min(spans, key=lambda s: 0 if s[0] <= best <= s[1] else min(abs(best - s[0]), abs(best - s[1])))


def _follow_while_seen(rt: SearchRuntime, state: SearchState, span: list[float], forward: bool) -> list[float]:
    """The span extended forward (or back) while the target still sees what the question is about: one frame
    every WATCH_STEP seconds, at most WATCH_LIMIT seconds, then halving the step between the last frame that
    shows it and the first that does not, within the budget less the after-span frames. What comes "right
    after" something only shows once it has gone; where something "first" appears is where it begins. Frames
    already scored are reused."""
    sign, threshold, watched = (1.0 if forward else -1.0), rt.config.relevance_threshold, []

    def seen(t: float) -> bool | None:  # None: no budget left to look
        if time_key(t) not in state["scores"]:
            if rt.search_budget_left(state) <= 0:
                return None
            rt.target_relevance(state, [t])
            watched.append(t)
        return state["scores"][time_key(t)] >= threshold

    edge, gone = (span[1] if forward else span[0]), None
    limit = min(span[1] + WATCH_LIMIT, rt.view.duration) if forward else max(span[0] - WATCH_LIMIT, 0.0)
    while gone is None and sign * (limit - (edge + sign * WATCH_STEP)) > 0:
        [t] = snap_to_overview(rt, [edge + sign * WATCH_STEP])
        looked = seen(t) if sign * (t - edge) > 0 else None
        if looked is None:
            break
        edge, gone = (t, None) if looked else (edge, t)
    while gone is not None and abs(gone - edge) > EDGE_PRECISION:
        [t] = snap_to_overview(rt, [(edge + gone) / 2])
        looked = seen(t) if t not in (edge, gone) else None
        if looked is None:
            break
        edge, gone = (t, gone) if looked else (edge, t)
    if watched:
        trace(state, "watch", lane="looked", model="target", times=watched, scores=[state["scores"][time_key(t)] for t in watched],
              note=f"followed the object {'forward until it is gone' if forward else 'back to where it begins'}")
    return [span[0], max(span[1], edge)] if forward else [min(span[0], edge), span[1]]


def edge_confidence(state: SearchState, span: list[float]) -> float:
    """Median relevance of the frames scored in `span` and up to EDGE_PRECISION seconds outside it: once the span
    has been followed to its edges, this takes in the first frame on each side that no longer shows the object."""
    near = list(scored_near(state, span, EDGE_PRECISION).values())
    return float(np.median(near)) if near else 0.0


def _judge_first_candidates(rt: SearchRuntime, state: SearchState,
                            spans: list[list[float]]) -> dict[tuple[float, float], float]:
    """For "first" questions: while the earliest span about as confident as the best one has a later rival that
    is too, it is followed back and forward to its edges (within the budget) and judged by `edge_confidence`; a
    span that falls short leaves the next earliest to be judged. Two neighbouring frames that both see the object
    cannot tell a lookalike from it (two objects whose colours and shapes combine into the asked one look like it
    for a few seconds, surely in the middle and barely as they meet and part); an object really on screen is seen
    in frame after frame up to its edges, so its median stays high once the frames where it is gone count too.
    Returns the confidence of each span judged so (the others keep `span_confidence`)."""
    confidence = [span_confidence(state, span) for span in spans]
    judged: dict[tuple[float, float], float] = {}
    while spans and rt.search_budget_left(state) > 0:
        best = max(confidence)
        candidates = [i for i, c in enumerate(confidence) if c >= best - SPAN_CONFIDENCE_MARGIN]
        first = spans[candidates[0]]
        if len(candidates) == 1 or tuple(first) in judged:
            break
        extent = _follow_while_seen(rt, state, _follow_while_seen(rt, state, first, forward=False), forward=True)
        confidence[candidates[0]] = judged[tuple(first)] = edge_confidence(state, extent)
        rivals = max(c for i, c in enumerate(confidence) if i != candidates[0])
        held = confidence[candidates[0]] >= rivals - SPAN_CONFIDENCE_MARGIN
        near = scored_near(state, extent, EDGE_PRECISION)
        trace(state, "first_check", lane="check", model="target", times=sorted(near),
              scores=[near[t] for t in sorted(near)],
              note=f"{extent[0]:.1f}-{extent[1]:.1f} s followed to its edges: {confidence[candidates[0]]:.2f} against "
                   f"{rivals:.2f} for the best other span, "
                   + ("the first appearance" if held else "not sure enough to be the first"))
    return judged


def _frames_after(rt: SearchRuntime, state: SearchState, span: list[float]) -> list[float]:
    """Times of overview frames just after the found span, inside the video: frames the target has already
    seen, and new ones while the budget lasts."""
    wanted = [span[1] + d for d in AFTER_SPAN if span[1] + d < rt.view.duration]
    seen = rt.frames_seen(state, "target")
    times, left = [], rt.budget_left(state)
    for t in snap_to_overview(rt, wanted) if wanted else []:
        if time_key(t) in seen or left > 0:
            times.append(t)
            left -= time_key(t) not in seen
    return times


def _option_seen_after(rt: SearchRuntime, state: SearchState, main: list[float], after: list[float],
                       texts: list[str]) -> tuple[int | None, str]:
    """For "what comes right after X" with options: the option the target sees in the frames after X's span and
    not in the span's last frames (one yes/no statement per option over those frames), when one stands out;
    else None.
    Asking per option and per frame uses the target's single-frame judgement, which is stronger than its answers
    over many frames at once."""
    inside = sorted(float(k) for k in state["scores"] if main[0] <= float(k) <= main[1])[-SPAN_END_FRAMES:]
    frames = rt.view.frames_at(list(after) + inside)
    gains = []
    for text in texts:
        p = rt.target.yes_probability(frames, relevance_statement(text))
        gains.append(float(np.max(p[:len(after)])) - (float(np.max(p[len(after):])) if inside else 0.0))
    rt.charge(state, "target", [], calls=len(texts))
    best = int(np.argmax(gains))
    note = ", ".join(f"{t}: {g:+.2f}" for t, g in zip(texts, gains, strict=True))
    return (best if gains[best] >= NEWLY_SEEN else None), note


def _described_after(rt: SearchRuntime, state: SearchState, main: list[float],
                     after: list[float]) -> tuple[str | None, str]:
    """For "what comes right after X" asked without options: the things the target describes in the frames
    after X's span become the candidates, and the one it sees there and not in the span (as with options,
    `_option_seen_after`) is the answer; None when nothing stands out."""
    frames = rt.view.frames_at(after)
    names: list[str] = []
    for frame in frames:
        seen = rt.target.describe([frame]).split("text:")[0]  # on-screen text is not a thing that appears
        for part in _DESCRIPTION_PARTS.split(seen):
            name = part.strip(" .").lower()
            if name and name not in ("nothing", "none") and name not in names:
                names.append(name)
    rt.charge(state, "target", [], calls=len(frames))
    if not names:
        return None, "nothing described after the span"
    index, gains = _option_seen_after(rt, state, main, after, names)
    return (names[index] if index is not None else None), gains


def final_answer(rt: SearchRuntime, state: SearchState) -> dict:
    began = time.perf_counter()
    cfg = rt.config
    spans = _spans(rt, state)
    if FIRST.search(rt.question):
        spans = _second_looks(rt, state, spans)
    counting = bool(state.get("counted")) and is_count_question(rt.question)
    if not is_count_question(rt.question):  # appearances to count stay apart however close they are
        spans = _bridge_gaps(rt, state, spans, _span_gap(rt))
    judged = _judge_first_candidates(rt, state, spans) if FIRST.search(rt.question) and not counting else {}
    main = _main_span(state, spans, rt.question, judged)
    wants_after = main and not counting and cfg.answer_frames > 2 * len(AFTER_SPAN)
    forward = wants_after and bool(RIGHT_AFTER.search(rt.question))
    if forward or (main and not counting and FIRST.search(rt.question)):
        extended = _follow_while_seen(rt, state, main, forward=forward)
        spans, main = [extended if s == main else s for s in spans], extended
    after = _frames_after(rt, state, main) if wants_after else []
    times = best_evidence_times(state, cfg.answer_frames - len(after))
    if not times:
        ranked = sorted(state["scores"].items(), key=lambda kv: -kv[1])[: cfg.answer_frames]
        times = sorted(float(k) for k, _ in ranked) or snap_to_overview(rt, evenly_spaced(0, rt.view.duration, 4))
    times = sorted(set(times) | set(after))
    frames = rt.view.frames_at(times)
    rt.charge(state, "target", times, calls=0)
    texts = option_texts(rt.options)
    spoken = rt.transcript_lines()  # transcript lines matching the question, timestamped (None without any)
    choice, text, how = None, "", ""
    if counting:
        appearances = state.get("appearances") or count_appearances(state, spans, cfg.relevance_threshold)
        index, text = counted_answer(len(appearances), texts)
        choice = OPTION_LETTERS[index] if index is not None else None
        how = f"{len(appearances)} separate confident appearances counted"
        spans = appearances
        main = appearances[0] if appearances else None
    elif texts:
        ranges = [find_timestamps(t) for t in texts]
        index = None
        if main and all(len(r) >= 2 for r in ranges):
            overlaps = [iou(main, r[:2]) for r in ranges]
            index, how = int(np.argmax(overlaps)), "option whose time range overlaps the found span most"
        elif forward and after:
            index, gains = _option_seen_after(rt, state, main, after, texts)
            how = f"option seen after the span and not in it ({gains})"
        if index is None:
            # First the target's own words, matched to an option; then its letter; then the likeliest option.
            generation = rt.target.generate(build_prompt(frames, rt.question, preamble=spoken), max_new_tokens=16)
            rt.charge(state, "target", [], calls=1)
            index, how = matching_option(generation.text, texts), "the target's answer, matched to an option"
            if index is None:
                generation = rt.target.generate(build_prompt(frames, rt.question, preamble=spoken, options=texts)
                                                + [ANSWER_INSTRUCTION], max_new_tokens=4)
                rt.charge(state, "target", [], calls=1)
                found = _LETTER.search(generation.text.upper())
                index = OPTION_LETTERS.index(found.group(1)) if found and OPTION_LETTERS.index(found.group(1)) < len(texts) else None
                how = "the target's letter"
            if index is None:
                likelihood = [float(rt.target.yes_probability([frames], answer_statement(rt.question, t))[0])
                              for t in texts]
                rt.charge(state, "target", [], calls=len(texts))
                index, how = int(np.argmax(likelihood)), "the option the target finds most likely"
        choice, text = OPTION_LETTERS[index], texts[index]
    else:
        named, gains = _described_after(rt, state, main, after) if forward and after else (None, "")
        if named is not None:
            text, how = named, f"described after the span and not seen in it ({gains})"
        else:
            generation = rt.target.generate(build_prompt(frames, rt.question, preamble=spoken), max_new_tokens=32)
            rt.charge(state, "target", [], calls=1)
            text, how = generation.text.strip(), "generated by the target"
    trace(state, "answer", model="target", times=times, note=f"{how}: {text}", seconds=time.perf_counter() - began)
    # the answer's own span is always among the frames shown for it, so a reader can check what it states
    shown = sorted(set(times) | set(_best_inside(state, main, max(1, cfg.answer_frames // 2)))) if main else times
    return ground_answer(rt, state, {"text": text, "choice": choice,
                                     "spans": ([main] + [s for s in spans if s != main]) if main else [],
                                     "evidence_times": shown, "after_times": after}, frames)


def _best_inside(state: SearchState, span, count: int) -> list[float]:
    """The `count` highest-scored frame times the target saw inside `span`."""
    inside = [(float(k), score) for k, score in state["scores"].items() if span[0] <= float(k) <= span[1]]
    return [t for t, _ in sorted(inside, key=lambda kv: -kv[1])[:count]]
