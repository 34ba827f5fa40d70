"""Runtime context of the agent graph: the models, the configuration and progress reporting.

Passed to `graph.invoke(..., context=AgentContext(...))`; nodes read it through `runtime.context`. It holds
live objects (models, callbacks), so it is never checkpointed; the graph's state is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from agentime.config import Config
from agentime.config import SearchConfig


@dataclass
class AgentContext:
    target: Any
    draft: Any = None
    embedder: Any = None
    config: Config = field(default_factory=Config)
    search: SearchConfig = field(default_factory=SearchConfig)
    progress: Callable[[str, float], None] | None = None  # (message, fraction done)
    max_steps: int = 200
    cache: dict = field(default_factory=dict)  # per-process reuse of views and indexes, keyed by video
    timing_gate: Any = None  # a TimingGate (agentime.agent.timing_gate), shared by the sessions given it
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))  # "now" for the gate
    runtime: tuple | None = None  # (key, SearchRuntime) of the search under way: built once per search

    def report(self, message: str, fraction: float) -> None:
        if self.progress is not None:
            self.progress(message, max(0.0, min(1.0, fraction)))
