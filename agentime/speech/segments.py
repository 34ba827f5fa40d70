"""Transcript types and the one timeline: cues cleaned, shifted onto the frames' clock, checked and merged.

A `Transcript` is what every text source produces: `SpeechSegment`s in time order, in seconds on the video's
own clock (0 = the first displayed frame, as for frames), with where the text came from and what was skipped.
`build_timeline` turns raw cues (from a file, a stream or speech recognition) into that: styling tags
stripped, cues shifted by an offset, cues with bad timings or past the video's end skipped (and counted),
duplicate and overlapping cues merged. Nothing here reads files or runs models.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

MERGE_LIMIT = 30.0  # seconds: overlapping cues merge only while the merged segment stays this short
TOUCH = 0.05  # seconds: identical text this close to the previous cue is the same line shown again

_ASS_OVERRIDE = re.compile(r"\{[^}]*\}")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_ASS_BREAK = re.compile(r"\\[Nn]|\\h")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ufffd]")


@dataclass(frozen=True)
class RawCue:
    """A cue as a source gives it: seconds on the source's own clock and text that may carry styling."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class SpeechSegment:
    """A line of speech or subtitle text shown between `start` and `end` seconds of the video."""

    start: float
    end: float
    text: str


@dataclass
class Transcript:
    """A video's speech as segments on the frames' clock; `source` says where it came from (e.g.
    `file:/x.srt`, `stream:2 (eng, subrip)`, `asr:hf:/models/whisper`), `skipped` what was dropped and why."""

    segments: list[SpeechSegment]
    source: str
    language: str | None = None
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-friendly description for an answer's stats."""
        return {"source": self.source, "language": self.language, "segments": len(self.segments),
                "skipped": list(self.skipped)}

    def content_key(self) -> str:
        """A digest of the segments (times and text): the key of their embeddings on disk."""
        data = json.dumps([asdict(s) for s in self.segments], separators=(",", ":")).encode()
        return hashlib.sha256(data).hexdigest()[:32]


def clean_text(text: str) -> str:
    """Plain text of a cue: ASS override blocks (`{\\i1}`), HTML-like tags (`<i>`, `<font ...>`) and ASS line
    breaks, control characters and undecodable bytes removed, whitespace collapsed."""
    text = _ASS_OVERRIDE.sub("", text)
    text = _ASS_BREAK.sub(" ", text)
    text = _HTML_TAG.sub("", text)
    text = _CONTROL.sub(" ", text)
    return " ".join(text.split())


def _merge(segments: list[SpeechSegment]) -> list[SpeechSegment]:
    """Cues in start order; a cue overlapping the previous one (or repeating its text right after it) joins it,
    keeping each distinct line once, while the joined segment stays under MERGE_LIMIT seconds."""
    merged: list[SpeechSegment] = []
    for cue in sorted(segments, key=lambda s: (s.start, s.end)):
        if merged:
            last = merged[-1]
            same = cue.text == last.text and cue.start <= last.end + TOUCH
            overlaps = cue.start < last.end and max(cue.end, last.end) - last.start <= MERGE_LIMIT
            if same or overlaps:
                lines = last.text if cue.text in last.text else f"{last.text} {cue.text}"
                merged[-1] = SpeechSegment(last.start, max(last.end, cue.end), lines)
                continue
        merged.append(cue)
    return merged


def build_timeline(cues: list[RawCue], *, duration: float | None,
                   offset: float = 0.0) -> tuple[list[SpeechSegment], list[str]]:
    """Segments on the frames' clock (`cue time - offset`) and notes on what was skipped.

    Cues with no text after cleaning are dropped silently (styling-only lines); cues whose end is not after
    their start, or whose times are not finite, are skipped; cues starting at or past `duration` are skipped;
    a cue running past the end or starting before 0 is cut to the video."""
    kept: list[SpeechSegment] = []
    bad_timing = past_end = 0
    for cue in cues:
        text = clean_text(cue.text)
        if not text:
            continue
        start, end = cue.start - offset, cue.end - offset
        if not (start == start and end == end and abs(start) < 1e9 and abs(end) < 1e9) or end <= start:
            bad_timing += 1
            continue
        if end <= 0 or (duration is not None and start >= duration):
            past_end += 1
            continue
        start, end = max(0.0, start), end if duration is None else min(end, duration)
        kept.append(SpeechSegment(round(start, 3), round(end, 3), text))
    skipped = []
    if bad_timing:
        skipped.append(f"{bad_timing} cue(s) with malformed timings (end not after start)")
    if past_end:
        skipped.append(f"{past_end} cue(s) outside the video's {duration or 0:.1f} s")
    return _merge(kept), skipped
