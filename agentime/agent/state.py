"""The agent graph's typed state: one question's search, plus the session's history across questions.

Values are JSON-friendly (times, scores, text), never frames or models, so a checkpointer can store them.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from agentime.search.base import SearchState


class AgentState(TypedDict, total=False):
    question: str
    options: list[str] | None
    strategy: str  # as asked ("auto" allowed)
    video: dict  # path, key, duration, fps, size, codec, cache directory
    search: SearchState  # the strategy's state (see agentime.search.base.new_state)
    answer: dict  # text, choice, spans, evidence_times
    steps: int
    history: Annotated[list[dict[str, Any]], operator.add]  # one entry per searched question
    gate: dict | None  # this question's timing decision (call, reason, by_policy, reuse, asked_at, video_seconds)
    turns: list[dict[str, Any]]  # every question the gate decided on: `Turn.to_state()` plus its `result`
