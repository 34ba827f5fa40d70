"""Types shared by the search strategies: settings, statistics and the empty search state.

A search state is a plain dict of JSON-friendly values (times, scores, notes; never pixels), so the agent
graph can checkpoint it; frames are fetched again from the video view when needed. No strategy logic here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from agentime.errors import ConfigError


AFTER_SPAN = (2.0, 5.0)  # seconds after the found span whose frames the answer adds ("what comes right after")


@dataclass(frozen=True)
class SearchConfig:
    """Knobs of the strategies; `budget` is in target-model frames."""

    budget: int = 64
    confidence_threshold: float = 0.8
    relevance_threshold: float = 0.5
    answer_frames: int = 8
    uniform_first: int = 10  # spectemp: frames the target sees first
    draft_proposals: int = 2  # spectemp: frames the draft proposes per round
    rounds: int = 3  # spectemp: at most this many rounds
    draft_fps: float = 1.0  # spectemp: the draft's scanning rate
    region_seconds: float = 60.0  # spectemp: width of a region around a pinpointed moment (the target's or embedder's)
    zoom_fps: float = 2.0  # timesearch: sampling rate inside a spotlighted moment
    zoom_seconds: float = 6.0  # timesearch: width of the zoom window
    segments: int = 16  # timesearch: initial segments of the timeline
    diversity: float = 0.5  # spectemp: penalty on proposals close to frames already picked

    def __post_init__(self) -> None:
        if not isinstance(self.budget, int) or self.budget < 1:
            raise ConfigError(f"the budget must be a positive number of target frames, got {self.budget!r}")
        if not 0 < self.confidence_threshold <= 1:
            raise ConfigError("confidence_threshold must be in (0, 1]")
        if self.rounds < 1 or self.uniform_first < 1 or self.draft_proposals < 1:
            raise ConfigError("rounds, uniform_first and draft_proposals must be >= 1")
        if not self.region_seconds > 0:
            raise ConfigError(f"region_seconds must be positive, got {self.region_seconds!r}")


@dataclass
class SearchStats:
    target_frames: int = 0
    target_calls: int = 0
    draft_frames: int = 0
    draft_calls: int = 0
    embedder_calls: int = 0
    seconds: float = 0.0

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
