"""The agent's speech step: load a video's transcript and index it, once per process, video and length (a
growing recording's subtitles are read again as it grows).

`speech_for_video` is called by the graph's prepare node. It returns the index (or None) and a JSON-friendly
summary for the answer's stats: the source used, how many segments, what was skipped, and why a source
failed. A failing source never stops the question: it is reported (a `SpeechSkippedWarning` and the
summary) and the answer comes from the frames.
"""

from __future__ import annotations

import time
import warnings

from agentime.errors import SpeechError, SpeechSkippedWarning
from agentime.speech.settings import SpeechConfig


def speech_for_video(video: dict, settings: SpeechConfig, cache: dict):
    """(SpeechIndex or None, summary) for an ingested video (`path`, `directory`, `info` as the graph holds)."""
    # a growing recording's duration is part of the key: its subtitles are read again as it grows
    key = ("speech", video["directory"], settings, round(float(video["info"]["duration"]), 1))
    if key in cache:
        return cache[key]
    from agentime.speech.index import SpeechIndex
    from agentime.speech.transcript import load_transcript

    info = video["info"]
    began = time.perf_counter()
    transcript, failures = load_transcript(video["path"], duration=info["duration"],
                                           start_offset=info.get("start_offset", 0.0), settings=settings,
                                           cache_folder=video["directory"])
    for failure in failures:
        warnings.warn(f"speech source skipped: {failure}", SpeechSkippedWarning, stacklevel=2)
    index = None
    if transcript is not None:
        try:
            index = SpeechIndex.build(transcript, video["directory"])
        except (SpeechError, OSError) as exc:
            failures.append(f"cannot index the transcript ({exc})")
    summary = transcript.summary() if transcript is not None else {"source": None, "segments": 0, "skipped": []}
    summary["failures"] = failures
    summary["seconds"] = round(time.perf_counter() - began, 3)
    cache[key] = (index, summary)
    return cache[key]
