"""`timing_gate`: a LangGraph node and conditional edge that decide "call a tool again or answer now".

Any tool-calling graph whose state holds OpenAI-style `messages` (dicts with an optional ISO `time`,
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

from typing import Any, Literal, Mapping

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
    """Holds one `ToolTimingPolicy` (loaded on first use) and exposes `node` and `route` for LangGraph."""

    def __init__(self, policy=None, on_error: Literal["call", "answer", "raise"] = "call"):
        if on_error not in ("call", "answer", "raise"):
            raise TimingError(f"on_error must be 'call', 'answer' or 'raise', got {on_error!r}")
        self._policy = policy
        self.on_error = on_error

    @property
    def policy(self):
        if self._policy is None:
            from agentime.timing.policy import ToolTimingPolicy

            self._policy = ToolTimingPolicy()
        return self._policy

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
