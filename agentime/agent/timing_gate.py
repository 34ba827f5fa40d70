"""The timing gate: the one class that holds the time-aware policy and decides "call a tool again or answer now".

agentime's own graph asks it first for every question of a video chat (`decide`: search the video again, or
answer from the evidence of an earlier turn). The conversation so far goes to the learned policy
(`agentime.timing.ToolTimingPolicy.decide`); when that policy cannot be loaded or cannot read the conversation,
a plain rule decides instead and says so: search on the first question, on a question not asked before (or
asked with other options), and when the recording has grown; otherwise repeat the known answer. Either way a
question that no earlier answer covers is searched: there is no known evidence to answer it from.

Any other tool-calling graph whose state holds OpenAI-style `messages` (dicts with an optional ISO `time`,
or LangChain messages carrying `time` in `additional_kwargs`) and the OpenAI `tools` schemas can add
it between the user's turn and its model/tool nodes:

    gate = TimingGate()
    builder.add_node("timing_gate", gate.node)
    builder.add_conditional_edges("timing_gate", gate.route, {"call": "call_tools", "answer": "answer"})

The node writes `timing_decision` (a dict: call, probability, timescale_seconds, reason,
elapsed_seconds) and `tool_choice` ("required" or "none", ready for an OpenAI-compatible model call).
When the conversation cannot be read (a `TimingError`), `on_error` decides: "call" (default: fetch
fresh data, the safe side), "answer", or "raise". The algorithm lives in `agentime.timing`.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Literal, Mapping

from agentime.agent.refresh import KNOWN, SEARCH_TOOL, RefreshDecision, Turn, closest_turn, conversation, similarity
from agentime.errors import TimingError

Route = Literal["call", "answer"]


def _as_openai_message(message: Any) -> dict:
    if isinstance(message, Mapping):
        return dict(message)
    from langchain_core.messages import convert_to_openai_messages

    converted = convert_to_openai_messages(message)
    time = (getattr(message, "additional_kwargs", None) or {}).get("time")
    if time is not None:
        converted["time"] = time
    return converted


class TimingGate:
    """Holds one `ToolTimingPolicy` (loaded on first use, shared by every session given this gate) and the
    fallback rule; `decide` serves agentime's video chat, `node` and `route` any LangGraph tool-calling graph."""

    def __init__(self, policy=None, on_error: Literal["call", "answer", "raise"] = "call", use_policy: bool = True):
        if on_error not in ("call", "answer", "raise"):
            raise TimingError(f"on_error must be 'call', 'answer' or 'raise', got {on_error!r}")
        self._policy, self._use_policy, self._lock = policy, use_policy, threading.Lock()
        self.on_error = on_error
        self.unavailable: str | None = None if use_policy else "timing policy turned off"

    @property
    def policy(self):
        """The policy, loaded on first use (raises what loading raises)."""
        with self._lock:
            if self._policy is None:
                from agentime.timing.policy import ToolTimingPolicy

                self._policy = ToolTimingPolicy()
            return self._policy

    def _usable_policy(self):
        """The policy, or None (with `unavailable` saying why) when it is turned off or cannot be loaded."""
        if self.unavailable is not None:
            return None
        try:
            return self.policy
        except Exception as exc:  # noqa: BLE001 - a missing or broken policy must not break the chat
            self.unavailable = f"timing policy unavailable: {type(exc).__name__}: {exc}"
            return None

    def decide(self, turns: list[Turn], question: str, now: datetime, video_seconds: float,
               options: list[str] | None = None) -> RefreshDecision:
        """Search the video again for `question`, or repeat the answer of the closest earlier turn."""
        if not turns:
            return RefreshDecision(True, "first question about this video: searching it", False)
        reuse = closest_turn(turns, question)
        covered = similarity(question, reuse.question) >= KNOWN and reuse.options == options
        policy = self._usable_policy()
        if policy is not None:
            try:
                decision = policy.decide(conversation(turns, question, now, video_seconds), [SEARCH_TOOL], now)
                reason = f"timing policy: {decision.reason} (p(call) = {decision.probability:.2f})"
                if not decision.call and not covered:
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
        if covered:
            return RefreshDecision(False, fallback + "same question as before and no new footage", False, reuse)
        return RefreshDecision(True, fallback + "a new question: searching the video", False)

    def node(self, state: Mapping[str, Any]) -> dict:
        """LangGraph node: reads `messages`, `tools` and optional `now`; writes `timing_decision`, `tool_choice`."""
        try:
            messages = [_as_openai_message(m) for m in state.get("messages") or []]
            decision = self.policy.decide(messages, state.get("tools"), state.get("now"))
            result = {
                "call": decision.call,
                "probability": decision.probability,
                "timescale_seconds": decision.timescale_seconds,
                "elapsed_seconds": decision.elapsed_seconds,
                "reason": decision.reason,
            }
        except TimingError as error:
            if self.on_error == "raise":
                raise
            call = self.on_error == "call"
            result = {
                "call": call,
                "probability": None,
                "timescale_seconds": None,
                "elapsed_seconds": None,
                "reason": f"fallback ({self.on_error}): {error}",
            }
        return {"timing_decision": result, "tool_choice": "required" if result["call"] else "none"}

    @staticmethod
    def route(state: Mapping[str, Any]) -> Route:
        """Conditional edge: "call" or "answer" from the decision the node stored."""
        decision = state.get("timing_decision") or {}
        return "call" if decision.get("call") else "answer"


_default_gate: TimingGate | None = None


def timing_gate(state: Mapping[str, Any]) -> dict:
    """The node with a process-wide default gate (shipped policy, `on_error="call"`)."""
    global _default_gate
    if _default_gate is None:
        _default_gate = TimingGate()
    return _default_gate.node(state)


route_after_timing_gate = TimingGate.route
