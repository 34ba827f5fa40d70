"""Search strategies over the VLM and Embedder protocols: uniform, timesearch, spectemp, exhaustive, auto.

Each strategy module exposes `step(runtime, state)`, advancing a JSON-friendly search state until
`state["done"]`, and `minimum_budget(config, overview_frames)`, the target frames its fixed steps look at
on a video of that many overview frames whatever the budget; the agent graph checks the budget
(`check_budget`) and loops over steps. Strategies never import a backend.
"""

from __future__ import annotations

from agentime.config import SearchConfig
from agentime.errors import BudgetTooSmallError, ConfigError
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


def check_budget(name: str, config: SearchConfig, overview_frames: int, duration: float) -> None:
    """BudgetTooSmallError, naming the smallest budget that works, when `config.budget` is below what strategy
    `name` must look at on this video (`overview_frames` frames over `duration` seconds)."""
    minimum = STRATEGIES[name].minimum_budget(config, overview_frames)
    if config.budget < minimum:
        label = f"{name} ({config.spectemp.preset} protocol)" if name == "spectemp" else name
        raise BudgetTooSmallError(f"a budget of {config.budget} target frames is too small for {label} on this "
                                  f"{duration / 60:.0f}-minute video; use a budget of {minimum} or more", minimum)
