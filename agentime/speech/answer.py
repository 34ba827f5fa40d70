"""Answering multiple-choice questions from speech: the text path, and speech that points at frames.

Two kinds of question are answered here, before the frames-only answer:
- about what was said ("Which price did the narrator announce?"): the option written in the transcript lines
  most similar to the question wins (whole words; the most similar line naming exactly one option decides).
  This path reads text only, so it works with a target that was never trained on transcripts; with no option
  in those lines the question falls through to the frames. Asked without options, the best line is quoted
  with its time: as the answer when the match is clear (`is_clear_match`), else as an unsure answer.
- about what is on screen when something is said ("What is on screen when the narrator says 'look up'?"):
  the best-matching line gives the moment; the target scores each option on the frames shown while it is
  said (one yes/no statement per option) and the likeliest option wins.
Anything else (or no matching line) returns None and the frames answer as before. The search state is only
charged for the frames the target looks at; nothing here searches for other moments.
"""

from __future__ import annotations

import re
import time

import numpy as np

from agentime.search.base import SearchState
from agentime.speech.search import MATCH_FLOOR, SPOKEN, speech_matches, speech_queries
from agentime.video.tafr import format_clock, format_timestamp
from agentime.vocabulary import OPTION_LETTERS, option_texts

SCREEN = re.compile(r"\b(?:on screen|on-screen|shown|visible|appears?|see|seen|showing|displayed)\b", re.IGNORECASE)
MOMENT_FRAMES = 4  # frames scored while the matched line is said
TEXT_LINES = 10  # lines, most similar to the question first, searched for an option's words
# An open question's best line reads as the answer when it is at least as similar to the question as a line
# the search counts as a match, and this much more similar than any line with other words; else the answer
# says it is unsure. Chosen with `python -m pipelines.bench.speech_confidence` (the README gives the command
# and what it measured: no line that does not answer passed it).
CLEAR_MATCH, CLEAR_MARGIN = MATCH_FLOOR, 0.05
CLEAR_CONFIDENCE = 0.95  # a clear line's confidence: every clear line was right there, yet a transcript can mislead
MARGIN_LINES = 8  # lines compared with the best one for its margin


def is_speech_question(question: str) -> bool:
    return bool(SPOKEN.search(question or ""))


def _contains(line: str, option: str) -> bool:
    words = " ".join(re.findall(r"[a-z0-9$]+", option.lower()))
    said = " ".join(re.findall(r"[a-z0-9$]+", line.lower()))
    return bool(words) and re.search(rf"(?<![a-z0-9]){re.escape(words)}(?![a-z0-9])", said) is not None


def _from_text(matches, texts: list[str]):
    """The option found in the best-matching line that names exactly one option, and that line."""
    for match in matches:
        found = [i for i, t in enumerate(texts) if _contains(match.segment.text, t)]
        if len(found) == 1:
            return found[0], match
    return None, None


def _moment_times(rt, start: float, end: float) -> list[float]:
    grid = rt.view.overview_between(start, end + 1e-3)
    if grid.size == 0:
        grid = rt.view.overview_between(max(0.0, start - 1.0), end + 1.0)
    if grid.size > MOMENT_FRAMES:
        grid = grid[np.linspace(0, grid.size - 1, MOMENT_FRAMES).round().astype(int)]
    return [float(t) for t in grid]


def _from_frames(rt, state: SearchState, match, texts: list[str]) -> tuple[int | None, list[float], str]:
    from agentime.search.prompts import relevance_statement

    times = _moment_times(rt, match.segment.start, match.segment.end)
    if not times:
        return None, [], ""
    frames = rt.view.frames_at(times)
    likelihood = [float(np.max(rt.target.yes_probability(frames, relevance_statement(t)))) for t in texts]
    rt.charge(state, "target", times, calls=len(texts))
    best = int(np.argmax(likelihood))
    note = ", ".join(f"{t}: {p:.2f}" for t, p in zip(texts, likelihood, strict=True))
    return best, times, f"on screen while \"{match.segment.text}\" is said ({note})"


def settled_by_speech(rt) -> bool:
    """Whether the transcript alone answers the question (the text path finds an option): then the frames need
    no search."""
    if rt.speech is None or not is_speech_question(rt.question) or SCREEN.search(rt.question):
        return False
    if not rt.options:
        return bool(rt.speech.matches(speech_queries(rt.question), k=1))
    return _from_text(rt.speech.matches(speech_queries(rt.question), k=TEXT_LINES), option_texts(rt.options))[0] \
        is not None


def _words_of(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9$]+", text.lower()))


def match_margin(matches) -> float:
    """How much more similar the best line is than the best line with other words (repeated lines are one)."""
    if not matches:
        return 0.0
    best = _words_of(matches[0].segment.text)
    other = next((m.score for m in matches[1:] if _words_of(m.segment.text) != best), None)
    return float(matches[0].score - other) if other is not None else float(matches[0].score)


def is_clear_match(matches) -> bool:
    """Whether the best line answers the question plainly enough to be stated as the answer."""
    return bool(matches) and matches[0].score >= CLEAR_MATCH and match_margin(matches) >= CLEAR_MARGIN


def _open_from_text(rt, state: SearchState, began: float) -> dict | None:
    """An open question about what was said: the line that matches it best, quoted with its time (the words
    come from the transcript, never from a model). A clear match reads as the answer, with the confidence
    measured for clear matches; a weak one says it is unsure and keeps the line's similarity as confidence."""
    from agentime.search.grounding import UNSURE
    from agentime.search.runtime import trace

    matches = rt.speech.matches(speech_queries(rt.question), k=MARGIN_LINES)
    if not matches:
        return None
    used = matches[0]
    line = used.segment
    text = f"\"{line.text}\" (said at {format_clock(line.start)})"
    clear = is_clear_match(matches)
    confidence = CLEAR_CONFIDENCE if clear else min(float(used.score), CLEAR_MATCH)
    if not clear:
        text = f"{UNSURE}: the closest line is {text}"
    state["confidence"] = max(float(state.get("confidence", 0.0)), round(confidence, 4))
    trace(state, "answer", model="transcript", note=f"the best matching line (similarity {used.score:.2f}, "
          f"margin {match_margin(matches):.2f}, {'clear' if clear else 'weak'}): {text}",
          seconds=time.perf_counter() - began)
    return {"text": text, "choice": None, "spans": [[line.start, line.end]], "evidence_times": [],
            "after_times": [], "speech": [{"start": line.start, "end": line.end, "text": line.text,
                                           "score": round(used.score, 4)}]}


def answer_from_speech(rt, state: SearchState) -> dict | None:
    """The answer dict (as `search.answer.final_answer` returns) when speech settles the question, else None."""
    from agentime.search.runtime import trace

    if rt.speech is None or not is_speech_question(rt.question):
        return None
    began = time.perf_counter()
    if not rt.options:
        return None if SCREEN.search(rt.question) else _open_from_text(rt, state, began)
    texts = option_texts(rt.options)
    if SCREEN.search(rt.question):
        matches = speech_matches(rt.speech, rt.question)
        if not matches:
            return None
        used = matches[0]
        index, times, how = _from_frames(rt, state, used, texts)
    else:
        # every line counts here, best-matching first: a line that names an option is evidence even when it
        # shares few words with the question ("what does the speaker say first?")
        index, used = _from_text(rt.speech.matches(speech_queries(rt.question), k=TEXT_LINES), texts)
        times = []
        how = f"said at {format_timestamp(used.segment.start)}: \"{used.segment.text}\"" if used else ""
    if index is None:
        return None
    trace(state, "answer", model="target" if times else "transcript", times=times, note=f"{how}: {texts[index]}",
          seconds=time.perf_counter() - began)
    line = used.segment
    return {"text": texts[index], "choice": OPTION_LETTERS[index], "spans": [[line.start, line.end]],
            "evidence_times": times, "after_times": [],
            "speech": [{"start": line.start, "end": line.end, "text": line.text, "score": round(used.score, 4)}]}
