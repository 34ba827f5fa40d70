"""Each question's first decision in a session: search the video again (call the tools) or answer from
the evidence already gathered. Used by `agentime.Session` on live recordings and by the web UI's chat.

The conversation so far (questions, tool calls and their results, answers, each with its time) goes to the
time-aware policy (`agentime.timing.ToolTimingPolicy.decide`), with the video search described as a tool
whose information changes when a live recording grows. When that policy cannot be loaded or cannot read
the conversation, a plain rule decides instead and says so: search on the first question, on a question not
asked before, and when the recording has grown; otherwise repeat the known answer. Either way a question
that no earlier answer covers is searched: there is no known evidence to answer it from.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
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


class TimingAdvisor:
    """Holds the timing policy (loaded on first use, shared by all users) and the fallback rule."""

    def __init__(self, policy=None, use_policy: bool = True):
        self._policy, self._use_policy, self._lock = policy, use_policy, threading.Lock()
        self.unavailable: str | None = None if use_policy else "timing policy turned off"

    def _load(self):
        with self._lock:
            if self._policy is None and self.unavailable is None:
                try:
                    from agentime.timing import ToolTimingPolicy

                    self._policy = ToolTimingPolicy()
                except Exception as exc:  # noqa: BLE001 - a missing or broken policy must not break the chat
                    self.unavailable = f"timing policy unavailable: {type(exc).__name__}: {exc}"
            return self._policy

    def decide(self, turns: list[Turn], question: str, now: datetime, video_seconds: float) -> RefreshDecision:
        reuse = closest_turn(turns, question)
        if not turns:
            return RefreshDecision(True, "first question about this video: searching it", False)
        policy = self._load() if self._use_policy else None
        if policy is not None:
            try:
                decision = policy.decide(conversation(turns, question, now, video_seconds), [SEARCH_TOOL], now)
                reason = f"timing policy: {decision.reason} (p(call) = {decision.probability:.2f})"
                if not decision.call and similarity(question, reuse.question) < KNOWN:
                    return RefreshDecision(True, reason + "; but no earlier answer covers this question, so "
                                           "the video is searched", True)
                return RefreshDecision(bool(decision.call), reason, True, None if decision.call else reuse)
            except Exception as exc:  # noqa: BLE001
                fallback = f"timing policy could not decide ({type(exc).__name__}: {exc}); rule: "
        else:
            fallback = f"{self.unavailable}; rule: "
        grown = video_seconds - turns[-1].video_seconds
        if grown > 0.5:
            return RefreshDecision(True, fallback + f"the recording grew by {grown:.0f} s since the last search", False)
        if similarity(question, reuse.question) >= KNOWN:
            return RefreshDecision(False, fallback + "same question as before and no new footage", False, reuse)
        return RefreshDecision(True, fallback + "a new question: searching the video", False)
