"""Scoring free-form answers (questions asked without their options) against a reference answer.

What the reference is decides how the answer is read: a time range ("from 00:38:44 to 00:38:51") is right
when the answer's first stated time lies within `START_TOLERANCE` seconds of the true start, or the range it
states overlaps the truth with IoU >= `MIN_IOU`; a number is right when the first number the answer states
(clock times left out) equals it; a name (an object, a colour, a short phrase) is right when the answer says
it as whole words. An answer that says it is unsure asserts nothing and is wrong. A reference of more than
`MAX_NAME_WORDS` words that the answer does not repeat cannot be judged here (None): paraphrases need a judge.
`score_open_answer` has the signature `agentime.eval.metrics.set_open_scorer` takes. Nothing here runs a model.
"""

from __future__ import annotations

import re

from agentime.eval.metrics import iou
from agentime.search.grounding import is_unsure, stated_numbers
from agentime.video.tafr import find_timestamps

START_TOLERANCE = 2.0  # seconds
MIN_IOU = 0.5
MAX_NAME_WORDS = 6
_REFERENCE_NUMBER = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")


def stated_span(prediction: str) -> list[float] | None:
    """The first time range an answer states ([start, end]; a single time gives [t, t]), else None."""
    times = find_timestamps(prediction or "")
    if not times:
        return None
    if len(times) >= 2 and times[1] >= times[0]:
        return times[:2]
    return [times[0], times[0]]


def time_correct(prediction: str, truth: list[float]) -> bool:
    """Whether the answer's stated time starts within START_TOLERANCE of the truth or overlaps it enough."""
    if is_unsure(prediction):
        return False
    span = stated_span(prediction)
    if span is None:
        return False
    return abs(span[0] - truth[0]) <= START_TOLERANCE or iou(span, truth) >= MIN_IOU


def stated_number(prediction: str) -> float | None:
    """The first number an answer states, clock times left out."""
    found = stated_numbers(prediction)
    return float(found[0]) if found else None


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", (text or "").lower()))


def name_correct(prediction: str, reference: str) -> bool | None:
    """Whether the answer says the reference as whole words (None: a long reference it does not repeat)."""
    if is_unsure(prediction):
        return False
    said, wanted = _words(prediction), _words(reference)
    if not wanted:
        return None
    if re.search(rf"\b{re.escape(wanted)}\b", said):
        return True
    return False if len(wanted.split()) <= MAX_NAME_WORDS else None


def score_open_answer(question: str, reference: str, prediction: str) -> bool | None:
    """Whether a free-form `prediction` answers like `reference` (None when it cannot be told)."""
    if reference is None:
        return None
    if is_unsure(prediction):
        return False
    reference_times = find_timestamps(reference)
    if len(reference_times) >= 2:
        return time_correct(prediction, reference_times[:2])
    if _REFERENCE_NUMBER.match(reference):
        number = stated_number(prediction)
        return number is not None and number == float(reference)
    return name_correct(prediction, reference)
