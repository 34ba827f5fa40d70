"""The words of a video chat for the timing gate: its turns, the conversation the policy reads, the search tool.

A `Turn` is one answered question with when it was asked, whether the video was searched for it and what was
found; the graph keeps turns in its state as dicts (`Turn.to_state` / `Turn.from_state`). `conversation`
writes them as OpenAI-style messages with ISO times, the video search described as a tool whose information
changes when a live recording grows. The decision itself is `agentime.agent.timing_gate.TimingGate.decide`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_video",
        "description": ("Search the video for the moments that answer a question; returns timestamps, evidence "
                        "frames and an answer. The video may be a live recording that keeps growing, so "
                        "results about recent footage go stale as new footage arrives."),
        "parameters": {"type": "object", "properties": {"question": {"type": "string"}},
                       "required": ["question"]},
    },
}


@dataclass
class Turn:
    """One answered question of a chat, with when it happened and how it was answered."""

    question: str
    asked_at: datetime
    called_tools: bool
    reason: str
    answer_text: str
    confidence: float
    video_seconds: float  # the video's length when this turn's evidence was gathered
    evidence_times: list[float] = field(default_factory=list)
    spans: list = field(default_factory=list)
    options: list[str] | None = None  # the options it was asked with: the same words with other options differ

    def to_state(self) -> dict:
        """JSON-friendly, for the graph's state (the time as ISO text)."""
        return {**asdict(self), "asked_at": self.asked_at.isoformat()}

    @classmethod
    def from_state(cls, data: dict) -> Turn:
        names = cls.__dataclass_fields__
        return cls(**{**{k: v for k, v in data.items() if k in names},
                      "asked_at": datetime.fromisoformat(data["asked_at"])})


@dataclass(frozen=True)
class RefreshDecision:
    call: bool
    reason: str
    by_policy: bool
    reuse: Turn | None = None  # the earlier turn whose answer is repeated when not calling


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def similarity(a: str, b: str) -> float:
    """Shared words over all words of two questions (Jaccard)."""
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / max(1, len(wa | wb))


def closest_turn(turns: list[Turn], question: str) -> Turn | None:
    """The earlier turn whose question shares the most words with `question` (latest on ties)."""
    if not turns:
        return None
    return max(reversed(turns), key=lambda t: similarity(question, t.question))


KNOWN = 0.6  # an earlier question this similar is taken to have the same answer


def conversation(turns: list[Turn], question: str, now: datetime, video_seconds: float) -> list[dict]:
    """The chat as OpenAI-style messages with ISO times, for the timing policy."""
    messages: list[dict] = [{"role": "system", "content": "You answer questions about one video, which may be a "
                             "live recording that keeps growing.", "time": _iso(turns[0].asked_at if turns else now)}]
    for i, turn in enumerate(turns):
        t = _iso(turn.asked_at)
        messages.append({"role": "user", "content": turn.question, "time": t})
        if turn.called_tools:
            call_id = f"call_{i}"
            messages.append({"role": "assistant", "content": "", "time": t, "tool_calls": [
                {"id": call_id, "type": "function",
                 "function": {"name": "search_video", "arguments": json.dumps({"question": turn.question})}}]})
            messages.append({"role": "tool", "tool_call_id": call_id, "time": t, "content": json.dumps(
                {"answer": turn.answer_text, "confidence": round(turn.confidence, 2),
                 "evidence_seconds": turn.evidence_times, "video_seconds": round(turn.video_seconds, 1)})})
        messages.append({"role": "assistant", "content": turn.answer_text, "time": t})
    grown = video_seconds - (turns[-1].video_seconds if turns else 0.0)
    note = f" (the recording has grown by {grown:.0f} s since the last answer)" if turns and grown > 0.5 else ""
    messages.append({"role": "user", "content": question + note, "time": _iso(now)})
    return messages
