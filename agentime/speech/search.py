"""What the search takes from speech: the transcript lines that match the question, the moments they mark,
and those lines written for the target's prompts.

The queries are the question's quoted words when it quotes someone ("when the narrator says 'look up'"),
else the whole question. A line counts as a match when it is close to the queries (cosine at least
MATCH_FLOOR) and close to the best line (within MATCH_BAND); its moment becomes a search candidate
(`speech_prior`, beside the frame embedder's prior) and its text goes into the prompt as
`[00:12:03.5] "..."`. Functions here read a `SearchRuntime` and never call a VLM.
"""

from __future__ import annotations

import re

import numpy as np

from agentime.speech.index import SpeechIndex, SpeechMatch
from agentime.video.tafr import format_timestamp

MATCH_FLOOR = 0.35
MATCH_BAND = 0.1
MAX_MATCHES = 4
PROMPT_LINES = 4  # matching lines at most in the target's answer prompt
PRIOR_MARGIN = 1.0  # seconds around a matched line whose frames share its prior
_QUOTES = re.compile(r"\"([^\"]{2,200})\"|\u201c([^\u201d]{2,200})\u201d|(?:^|\s)'([^']{2,200})'(?=[\s?.,!;:]|$)")
SPOKEN = re.compile(r"\b(?:say|says|said|saying|mention|mentions|mentioned|announce|announces|announced|"
                    r"narrator|narration|speaker|spoken|speak|speaks|tell|tells|told|voice|hear|heard|"
                    r"subtitles?|transcript)\b", re.IGNORECASE)


def quoted(question: str) -> list[str]:
    """The question's quoted phrases, in order."""
    return [next(g for g in m.groups() if g) for m in _QUOTES.finditer(question or "")]


def speech_queries(question: str) -> list[str]:
    return quoted(question) or [question]


def speech_matches(index: SpeechIndex | None, question: str) -> list[SpeechMatch]:
    """The transcript lines matching the question, best first (empty without a transcript or a match)."""
    if index is None or not len(index):
        return []
    found = index.matches(speech_queries(question), k=MAX_MATCHES)
    if not found or found[0].score < MATCH_FLOOR:
        return []
    return [m for m in found if m.score >= max(MATCH_FLOOR, found[0].score - MATCH_BAND)]


def speech_prior(index: SpeechIndex | None, question: str, times: np.ndarray) -> np.ndarray | None:
    """1 for overview frames within PRIOR_MARGIN seconds of a matching line, else 0; None with no match."""
    matches = speech_matches(index, question)
    if not matches or times.size == 0:
        return None
    prior = np.zeros(times.size)
    for match in matches:
        inside = (times >= match.segment.start - PRIOR_MARGIN) & (times <= match.segment.end + PRIOR_MARGIN)
        prior[inside] = 1.0
    return prior


def transcript_lines(index: SpeechIndex | None, question: str, limit: int) -> str | None:
    """The matching lines in time order as `[00:12:03.5] "..."`, under a heading, for the target's prompt."""
    matches = speech_matches(index, question)[:limit]
    if not matches:
        return None
    lines = [f'{format_timestamp(m.segment.start)} "{m.segment.text}"'
             for m in sorted(matches, key=lambda m: m.segment.start)]
    return "Speech in the video:\n" + "\n".join(lines)


def speech_evidence(index: SpeechIndex | None, question: str) -> list[dict]:
    """The matching lines as JSON-friendly evidence (start, end, text, score), in time order."""
    return [{"start": m.segment.start, "end": m.segment.end, "text": m.segment.text, "score": round(m.score, 4)}
            for m in sorted(speech_matches(index, question), key=lambda m: m.segment.start)]
