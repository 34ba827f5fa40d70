"""Search strategies over the VLM and Embedder protocols: uniform, timesearch, spectemp, exhaustive, auto.

Each strategy module exposes `step(runtime, state)`, advancing a JSON-friendly search state until
`state["done"]`; the agent graph loops over steps. Strategies never import a backend.
"""

from __future__ import annotations

from agentime.errors import ConfigError
from agentime.search import exhaustive, spectemp, timesearch, uniform

STRATEGIES = {"uniform": uniform, "timesearch": timesearch, "spectemp": spectemp, "exhaustive": exhaustive}
NAMES = (*STRATEGIES, "auto")


def choose_strategy(name: str, *, duration: float, has_draft: bool) -> str:
    """Resolve `auto`: short videos are scored exhaustively; long ones use spectemp with a draft model,
    timesearch without one."""
    if name not in NAMES:
        raise ConfigError(f"unknown strategy {name!r}; choose one of {', '.join(NAMES)}")
    if name != "auto":
        return name
    if duration <= 120:
        return "exhaustive"
    return "spectemp" if has_draft else "timesearch"
