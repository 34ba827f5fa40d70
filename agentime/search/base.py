"""Types shared by the search strategies: settings, statistics and the empty search state.

A search state is a plain dict of JSON-friendly values (times, scores, notes; never pixels), so the agent
graph can checkpoint it; frames are fetched again from the video view when needed. No strategy logic here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from agentime.config import SearchConfig, SpecTempConfig, TimeSearchConfig  # noqa: F401 - re-exported


AFTER_SPAN = (2.0, 5.0)  # seconds after the found span whose frames the answer adds ("what comes right after")


def answer_reserve(config: SearchConfig) -> int:
    """Target frames a search leaves for the answer step's frames after the span."""
    return len(AFTER_SPAN) if config.answer_frames > 2 * len(AFTER_SPAN) else 0


@dataclass
class SearchStats:
    """What a search and its answer cost: frames and calls per model, model seconds per role (`seconds` is
    their sum) and wall seconds from the search's start to its last model call."""

    target_frames: int = 0
    target_calls: int = 0
    draft_frames: int = 0
    draft_calls: int = 0
    embedder_calls: int = 0
    seconds: float = 0.0
    target_seconds: float = 0.0
    draft_seconds: float = 0.0
    embedder_seconds: float = 0.0
    wall_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def time_key(t: float) -> str:
    """The key of a time in the state's score maps: seconds with three decimals ("12.500")."""
    return f"{float(t):.3f}"


LANES = {  # the timeline rows a trace entry can be drawn in, and what its times and scores mean there
    "looked": "the target looked at `times`, with the relevance it found in `scores` (a range when unscored)",
    "check": "the target judged whether the evidence at `times` answers; `scores[0]` is its confidence",
    "draft": "the draft scanned `times` (a range), or proposed them with `scores` (one score per time)",
    "verdict": "the target checked the draft's proposals at `times`; `extra['rejected']` lists those it overruled",
}


class EvidenceEntry(TypedDict):
    t: float
    score: float
    reason: str
    source: str  # the model that scored it: "target", "draft", "embedder", "answer"


class TraceEntry(TypedDict):
    step: str
    lane: str  # the timeline row it is drawn in (a key of `LANES`), "" when not drawn
    model: str | None
    times: list[float]
    scores: list[float]
    note: str
    seconds: float
    extra: dict[str, Any]


class SearchState(TypedDict, total=False):
    """Every key a strategy or the answer step reads. `new_state` fills the first group; strategies add the
    rest as they go. Keys are time keys (`time_key`) where maps are keyed by time."""

    strategy: str
    phase: str  # "start", then the strategy's own phases ("spotlight", "speculate", ...)
    done: bool
    confidence: float
    round: int  # spectemp: rounds run
    scores: dict[str, float]  # time key -> the target's relevance of a frame it has seen
    draft_scores: dict[str, float]  # time key -> the draft's relevance
    evidence: list[EvidenceEntry]
    queue: list[dict[str, Any]]  # timesearch: segments left to spotlight, by priority
    inspected: list[list[float]]  # [start, end] regions already searched
    trace: list[TraceEntry]
    stats: dict[str, float]  # a `SearchStats` as a dict
    position: int  # exhaustive: overview frames scored so far
    counted: bool  # every appearance of the asked-about object has been swept for
    appearances: list[list[float]]  # counting: the separate confident spans found
    _target_seen: list[str]  # time keys charged to the target (see `SearchRuntime.charge`)
    _draft_seen: list[str]  # time keys charged to the draft


def new_state(strategy: str) -> SearchState:
    """The empty search state every strategy starts from."""
    return {
        "strategy": strategy, "phase": "start", "done": False, "confidence": 0.0, "round": 0,
        "scores": {},  # "t" -> target relevance of frames the target has seen
        "draft_scores": {},
        "evidence": [], "queue": [], "inspected": [], "trace": [], "stats": SearchStats().to_dict(),
    }
