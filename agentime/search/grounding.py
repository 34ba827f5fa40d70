"""Open answers whose words agree with what the search found.

Without options, an answer's text is the target's free generation over the evidence frames, and a small model
writes a timestamp it never saw, a count other than the appearances the search found, or an object no frame
shows, while the answer's spans are right. `ground_answer` makes the text say what the search found:

- time questions ("when", "how long", "at what point", "first", "last"): the text states the found span(s) in
  the video's clock; a time the model wrote outside every found span is never presented (the trace names it);
- counting questions: the count is the number of appearances the search found, and the spans are those;
- other questions: each object the generation names is checked by the target, as the same yes/no statement
  the search scores, over the frames the answer was read from; each number, in what the target reads on the
  most relevant of those frames, one frame at a time (a small model reads a frame's text well, while its yes/no
  about a given number barely depends on the number); when a claim is seen in none of them, the text says it
  is unsure instead of asserting it.

Multiple-choice answers pass through unchanged (their text is the chosen option). Nothing here searches the
video or picks the spans: it only looks again at the answer's own frames.
"""

from __future__ import annotations

import re
import time

import numpy as np

from agentime.search.base import SearchState, time_key
from agentime.search.counting import count_appearances, is_count_question
from agentime.search.prompts import READ_INSTRUCTION, look_for, number_statement, relevance_statement
from agentime.search.runtime import SearchRuntime, trace
from agentime.video.tafr import find_timestamps, format_clock, timestamped_frames

UNSURE = "Unsure"  # how an answer that does not assert anything begins
UNSURE_CONFIDENCE = 0.5  # the most an unsure answer claims: the moment may be right, its words are unconfirmed
MAX_CLAIMS = 3  # things named in one generation that are checked against the frames
READ_FRAMES = 3  # the answer's most relevant frames whose on-screen text is read to find a number
MAX_LISTED = 5  # spans written out in one answer; the rest stay in Answer.spans
WRITTEN_TIME_SLACK = 1.0  # seconds: a written time this close to a found span is inside it (clock rounding)

_TIME_WORDS = re.compile(
    r"\bwhen\b|\bhow\s+long\b|\bwhat\s+time\b|\bhow\s+many\s+(?:seconds|minutes|hours)\b"
    r"|\b(?:at|from|until|by)?\s*(?:what|which)\s+(?:point|moment|timestamp|minute|second)\b", re.IGNORECASE)
_ORDINAL = re.compile(r"\b(?:first|last)\b", re.IGNORECASE)
_ASKS_FOR_A_THING = re.compile(r"^\W*(?:what|which|who|whose|whom|where|why|how\s+many|how\s+much|is|are|was|"
                               r"were|does|do|did|can|could|will|has|have)\b", re.IGNORECASE)
_DURATION = re.compile(r"\bhow\s+long\b|\bhow\s+many\s+(?:seconds|minutes|hours)\b", re.IGNORECASE)
_FIRST_OR_LAST = re.compile(r"\b(?:first|last)\b", re.IGNORECASE)
_CLOCK_TEXT = re.compile(r"\[?\d+:\d{2}(?::\d{2}(?:\.\d+)?)?\]?")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]\d)")
_NOT_A_THING = {"yes", "no", "none", "nothing", "unknown", "not", "sure", "i", "it", "there", "the", "a", "an"}


def is_unsure(text: str) -> bool:
    """Whether an answer's text says it is unsure rather than asserting an answer."""
    return (text or "").lstrip().startswith(UNSURE)


def is_time_question(question: str) -> bool:
    """Questions answered by a moment or a stretch of the video: "when", "how long", "at what point", and
    "first"/"last" questions that do not ask for a thing ("Which object appears first?" asks for an object)."""
    question = question or ""
    return bool(_TIME_WORDS.search(question)) or (bool(_ORDINAL.search(question))
                                                 and not _ASKS_FOR_A_THING.search(question))


ONE_MOMENT = 1.0  # seconds: a span this short (one sampled frame and its half-second margins) is one moment


def span_words(span) -> str:
    """"from 00:38:44 to 00:38:51"; a span of one second at most is the moment at its middle, "at 00:49:02"
    (its two ends, a second apart, could round to clock seconds two apart)."""
    if span[1] - span[0] <= ONE_MOMENT + 1e-6:
        return f"at {format_clock((span[0] + span[1]) / 2)}"
    start, end = format_clock(span[0]), format_clock(span[1])
    return f"at {start}" if start == end else f"from {start} to {end}"


def _listed(spans) -> str:
    words = [span_words(s) for s in spans[:MAX_LISTED]]
    more = len(spans) - len(words)
    return ", ".join(words) + (f" and {more} more" if more > 0 else "")


def _outside(times: list[float], spans) -> list[float]:
    return [t for t in times
            if not any(a - WRITTEN_TIME_SLACK <= t <= b + WRITTEN_TIME_SLACK for a, b in spans)]


def time_answer(question: str, generation: str, spans: list) -> tuple[str, str]:
    """(text, note): the found span(s) in the video's clock, the answering span first; `spans` come main first."""
    written = find_timestamps(generation)
    stray = _outside(written, spans)
    note = ("the model wrote " + ", ".join(format_clock(t) for t in stray) + ", outside every found span; "
            "the text states the found span") if stray else "the text states the found span"
    if not spans:
        return f"{UNSURE}: no moment found in the frames searched shows it", note
    main = spans[0]
    text = span_words(main)
    if _DURATION.search(question):
        text = f"about {max(1, round(main[1] - main[0]))} seconds, {text}"
    others = sorted(s for s in spans[1:])
    if others and not _FIRST_OR_LAST.search(question):
        text += f" (also seen {_listed(others)})"
    return text[0].upper() + text[1:], note


def count_answer(generation: str, appearances: list) -> tuple[str, str]:
    """(text, note): the number of appearances found, with their moments."""
    count = len(appearances)
    said = stated_numbers(generation)
    note = f"{count} appearances found"
    if said and said[0] != str(count):
        note += f"; the model said {said[0]}, which the appearances do not support"
    if not count:
        return "0 times: no appearance found in the frames searched", note
    return f"{count} time{'s' if count != 1 else ''}: {_listed(sorted(appearances))}", note


def stated_numbers(text: str) -> list[str]:
    """The numbers a text states, in order, clock times ("00:03:33", "[00:03:33.0]") left out."""
    return _NUMBER.findall(_CLOCK_TEXT.sub(" ", text or ""))


def _bare_name(text: str) -> str | None:
    """A short answer that is itself a name ("Orange hexagon." -> "orange hexagon"), else None."""
    words = re.findall(r"[a-z]+", text.lower())
    while words and words[0] in ("the", "a", "an"):
        words = words[1:]
    if not 1 <= len(words) <= 3 or any(w in _NOT_A_THING for w in words) or re.search(r"\d", text):
        return None
    return " ".join(words)


def named_claims(generation: str) -> list[tuple[str, str]]:
    """(what, statement) for the numbers and objects a generation names, numbers first, at most MAX_CLAIMS."""
    claims = [(n, number_statement(n)) for n in dict.fromkeys(stated_numbers(generation))]
    names = look_for(generation)
    bare = _bare_name(generation)
    if bare and bare not in names:
        names.insert(0, bare)
    claims += [(name, relevance_statement(name)) for name in names]
    return claims[:MAX_CLAIMS]


def read_numbers(rt: SearchRuntime, state: SearchState, frames: list) -> set[str]:
    """The numbers the target reads on the READ_FRAMES frames of `frames` it found most relevant, each frame
    read on its own."""
    ranked = sorted(frames, key=lambda f: -state["scores"].get(time_key(f.t), 0.0))[:READ_FRAMES]
    numbers: set[str] = set()
    for frame in ranked:
        reading = rt.target.generate(timestamped_frames([frame]) + [READ_INSTRUCTION], max_new_tokens=8)
        numbers.update(stated_numbers(reading.text))
    rt.charge(state, "target", [], calls=len(ranked))
    return numbers


def unseen_claims(rt: SearchRuntime, state: SearchState, frames: list, claims: list[tuple[str, str]]) -> list[str]:
    """The claims the target sees in none of `frames`: an object by the yes/no statement the search scores, over
    the frames; a number by what the target reads on the most relevant of them (a small model's yes/no about a
    given number barely depends on the number, while it reads a frame's text well)."""
    if not claims or not frames:
        return [what for what, _ in claims]
    numbers = [what for what, statement in claims if statement == number_statement(what)]
    read = read_numbers(rt, state, frames) if numbers else set()
    unseen = [what for what in numbers if what not in read]
    objects = [(what, statement) for what, statement in claims if what not in numbers]
    for what, statement in objects:
        seen = np.asarray(rt.target.yes_probability(frames, statement), dtype=float)
        if float(np.max(seen)) < rt.config.relevance_threshold:
            unseen.append(what)
    rt.charge(state, "target", [], calls=len(objects))
    return unseen


def checked_answer(rt: SearchRuntime, state: SearchState, generation: str, frames: list) -> tuple[str, str]:
    """(text, note): the generation when every number and object it names is seen in the answer's frames,
    else a sentence saying the answer is unsure."""
    generation = generation.strip()
    if not generation:
        return f"{UNSURE}: the model gave no answer", "empty generation"
    claims = named_claims(generation)
    unseen = unseen_claims(rt, state, frames, claims)
    if unseen:
        return (f"{UNSURE}: the model answered \"{generation}\", but none of the frames found shows "
                f"{' or '.join(unseen)}"), "named but not seen: " + ", ".join(unseen)
    checked = ", ".join(what for what, _ in claims)
    return generation, f"seen in the answer's frames: {checked}" if claims else "nothing named to check"


def ground_answer(rt: SearchRuntime, state: SearchState, result: dict, frames: list) -> dict:
    """`result` (final_answer's: text, choice, spans main first, evidence_times, after_times) with its text and
    spans made to agree with the evidence; `frames` are the frames the answer was read from."""
    if rt.options:
        return result
    generation, spans = result["text"], [list(s) for s in result["spans"]]
    if is_count_question(rt.question):
        appearances = spans if state.get("counted") else count_appearances(
            state, spans, rt.config.relevance_threshold)
        text, note = count_answer(generation, appearances)
        spans = appearances
    elif is_time_question(rt.question):
        text, note = time_answer(rt.question, generation, spans)
    else:
        text, note = checked_answer(rt, state, generation, frames)
    trace(state, "ground", model="target", times=[f.t for f in frames], note=f"{note}: {text}")
    if is_unsure(text):  # an answer that says it is unsure never reports the search's high confidence
        state["confidence"] = min(float(state["confidence"]), UNSURE_CONFIDENCE)
    return {**result, "text": text, "choice": None, "spans": spans}
