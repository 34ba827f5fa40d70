"""Timestamp-bound frame representation (TAFR): timestamps as text, placed right before each frame.

One formatter (`format_timestamp`) and its inverse, prompt builders that interleave timestamp text with
frames, and an optional burn-in of the timestamp onto the pixels. A prompt is a list of parts: `str` items
are text, `Frame` items are images; VLM backends turn parts into their own message format. Nothing here
decodes video or talks to a model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from agentime.video.frames import Frame
from agentime.vocabulary import OPTION_LETTERS, option_line

PromptPart = str | Frame

_TIMESTAMP_RE = re.compile(r"\[?(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)\]?")


def format_timestamp(seconds: float) -> str:
    """Return `[HH:MM:SS.s]` for a time in seconds (rounded to tenths; hours grow past 99 if needed)."""
    if seconds is None or not np.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a timestamp must be a finite number of seconds >= 0, got {seconds!r}")
    tenths = int(round(float(seconds) * 10))
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    secs, tenth = divmod(rest, 10)
    return f"[{hours:02d}:{minutes:02d}:{secs:02d}.{tenth}]"


def format_clock(seconds: float) -> str:
    """`HH:MM:SS` for a time in seconds, rounded to the nearest second: the clock people read in answers."""
    whole = int(round(max(0.0, float(seconds))))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def parse_timestamp(text: str) -> float:
    """Inverse of `format_timestamp`; also accepts `HH:MM:SS` and extra decimals. Raises ValueError."""
    match = _TIMESTAMP_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a timestamp of the form [HH:MM:SS.s]: {text!r}")
    hours, minutes, secs = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(secs)


def find_timestamps(text: str) -> list[float]:
    """All timestamps written as `[HH:MM:SS.s]` or `HH:MM:SS` in free text, in order of appearance."""
    return [int(h) * 3600 + int(m) * 60 + float(s) for h, m, s in _TIMESTAMP_RE.findall(text)]


def timestamped_frames(frames: Iterable[Frame]) -> list[PromptPart]:
    """Interleave each frame with its timestamp text: `[ts0], frame0, [ts1], frame1, ...`."""
    parts: list[PromptPart] = []
    for frame in frames:
        parts.append(format_timestamp(frame.t))
        parts.append(frame)
    return parts


def build_prompt(
    frames: Sequence[Frame],
    question: str,
    *,
    preamble: str | None = None,
    options: Sequence[str] | None = None,
) -> list[PromptPart]:
    """A whole TAFR prompt: optional preamble, timestamped frames, the question, lettered options."""
    if not question or not question.strip():
        raise ValueError("the question is empty")
    parts: list[PromptPart] = []
    if preamble:
        parts.append(preamble)
    parts.extend(timestamped_frames(frames))
    text = question.strip()
    if options:
        if len(options) > len(OPTION_LETTERS):
            raise ValueError(f"at most {len(OPTION_LETTERS)} options are supported, got {len(options)}")
        text += "\n" + "\n".join(option_line(i, opt) for i, opt in enumerate(options))
    parts.append(text)
    return parts


def burn_in_timestamp(frame: Frame, *, scale: float | None = None) -> Frame:
    """Return a copy of `frame` with its timestamp drawn in the top-left corner (white on a dark box)."""
    import cv2

    image = frame.image.copy()
    label = format_timestamp(frame.t)[1:-1]
    font_scale = scale if scale is not None else max(0.3, frame.height / 480)
    thickness = max(1, int(round(font_scale * 1.5)))
    (w, h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    cv2.rectangle(image, (0, 0), (w + 4, h + baseline + 4), (0, 0, 0), thickness=-1)
    cv2.putText(image, label, (2, h + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), thickness,
                cv2.LINE_AA)
    return Frame(frame.t, image)
