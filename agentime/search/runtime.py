"""What a strategy may use while it searches: the video by time, the models, the index, and the ledger.

`SearchRuntime` serves frames by time through a `agentime.video.view.VideoView`, wraps the models behind the
protocols with the question's statements and counts every frame and call (the budget is in target frames: each
distinct frame the target looks at counts once; `charge` is the ledger's one entry point); the models' prompts
are fitted to their limits (`agentime.vlm.fitting`) and what was cut is traced. Every call of a model is timed
where it is made (`TimedModel`), so the stats give each role's model seconds (`target_seconds`,
`draft_seconds`, `embedder_seconds`; `seconds` is their sum) and the search's wall seconds (`wall_seconds`,
from the runtime's start to the last ledger entry) whoever calls the model. It holds no search policy:
strategies decide what to look at.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from agentime.index.frame_index import FrameIndex
from agentime.search.base import SearchConfig, SearchState, answer_reserve, time_key
from agentime.search.prompts import look_for, question_relevance_statement, relevance_statement, sufficiency_statement
from agentime.video.view import VideoView
from agentime.vlm.fitting import fitted

ROLES = ("target", "draft", "embedder")
TIMED_CALLS = frozenset({"generate", "yes_probability", "describe", "embed_texts", "embed_images"})


class TimedModel:
    """A model whose calls add their seconds to `clock[role]`; otherwise the same model (attributes pass through)."""

    def __init__(self, inner, role: str, clock: dict[str, float]):
        self.inner, self.role, self.clock = inner, role, clock

    def __getattr__(self, name):
        value = getattr(self.inner, name)
        if name not in TIMED_CALLS or not callable(value):
            return value

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self.clock[self.role] += time.perf_counter() - began

        return timed


def timed(model, role: str, clock: dict[str, float]):
    """`model` timed under `role` (None stays None)."""
    return None if model is None else TimedModel(model, role, clock)


class SearchRuntime:
    """The question, the models and the video for one search, with a ledger of frames and calls."""

    def __init__(self, question: str, view: VideoView, target, *, draft=None, embedder=None,
                 index: FrameIndex | None = None, config: SearchConfig | None = None, options=None, speech=None):
        self.question, self.view = question, view
        # prompts are fitted to each model's limits; what was cut goes into the trace (record_prompt_cuts)
        self.prompt_cuts: list[str] = []
        # model seconds per role not yet written into a state's stats (see `record_seconds`)
        self.unrecorded = dict.fromkeys(ROLES, 0.0)
        self.started = time.perf_counter()
        self.target = timed(fitted(target, self.prompt_cuts.append), "target", self.unrecorded)
        self.draft = timed(fitted(draft, self.prompt_cuts.append), "draft", self.unrecorded)
        self.embedder = timed(embedder, "embedder", self.unrecorded)
        self.index, self.config, self.options = index, config or SearchConfig(), options
        self.speech = speech  # the transcript's SpeechIndex, or None
        phrases = look_for(question)
        self.statements = [relevance_statement(p) for p in phrases] or [question_relevance_statement(question)]
        self.queries = phrases or [question]
        self._query_scores: np.ndarray | None = None
        self._query_prior: np.ndarray | None = None
        self.embedder_calls = 0  # written into the stats by `record_seconds`

    # -- models --------------------------------------------------------------------------------------
    def _relevance(self, model, times: Sequence[float]) -> np.ndarray:
        frames = self.view.frames_at(list(times))
        scores = np.zeros(len(frames))
        for statement in self.statements:
            scores = np.maximum(scores, np.asarray(model.yes_probability(frames, statement), dtype=float))
        return scores

    def target_relevance(self, state: SearchState, times: Sequence[float]) -> np.ndarray:
        if not len(times):
            return np.zeros(0)
        scores = self._relevance(self.target, times)
        self.charge(state, "target", times, calls=len(self.statements))
        for t, s in zip(times, scores, strict=True):
            state["scores"][time_key(t)] = float(s)
        return scores

    def draft_relevance(self, state: SearchState, times: Sequence[float]) -> np.ndarray:
        if not len(times):
            return np.zeros(0)
        model = self.draft or self.target
        scores = self._relevance(model, times)
        self.charge(state, "draft" if self.draft else "target", times, calls=len(self.statements))
        for t, s in zip(times, scores, strict=True):
            state["draft_scores"][time_key(t)] = float(s)
        return scores

    def sufficiency(self, state: SearchState, times: Sequence[float]) -> float:
        if not len(times):
            return 0.0
        frames = self.view.frames_at(sorted(times))
        probability = float(self.target.yes_probability([frames], sufficiency_statement(self.question))[0])
        self.charge(state, "target", times, calls=1)
        return probability

    def charge(self, state: SearchState, who: str, times: Sequence[float], calls: int = 0) -> None:
        """Count a model's work in the state's ledger: `who` ("target" or "draft") looked at `times` (each
        distinct frame counts once per model) in `calls` calls. Seconds are not given here: the models' calls
        are timed where they run (`TimedModel`)."""
        stats = state["stats"]
        seen_key = f"_{who}_seen"
        seen = set(state.setdefault(seen_key, []))
        new = [time_key(t) for t in times if time_key(t) not in seen]
        state[seen_key] = sorted(seen | set(new), key=float)
        stats[f"{who}_frames"] += len(new)
        stats[f"{who}_calls"] += calls
        self.record_seconds(state)

    def record_seconds(self, state: SearchState) -> None:
        """Move the model seconds timed since the last call into the state's stats, per role and in all, and set
        the wall seconds since the runtime started."""
        stats = state["stats"]
        for role in ROLES:
            stats[f"{role}_seconds"] = stats.get(f"{role}_seconds", 0.0) + self.unrecorded[role]
            stats["seconds"] = stats.get("seconds", 0.0) + self.unrecorded[role]
            self.unrecorded[role] = 0.0
        stats["wall_seconds"] = time.perf_counter() - self.started
        stats["embedder_calls"] = self.embedder_calls

    def frames_seen(self, state: SearchState, who: str) -> set[str]:
        """Time keys of the frames `who` ("target" or "draft") has been charged for in this search."""
        return set(state.get(f"_{who}_seen", []))

    def record_prompt_cuts(self, state: SearchState) -> None:
        """Trace what prompt fitting left out of the models' prompts since the last call."""
        if self.prompt_cuts:
            trace(state, "fit", note="; ".join(self.prompt_cuts))
            self.prompt_cuts.clear()

    def budget_left(self, state: SearchState) -> int:
        return self.config.budget - int(state["stats"]["target_frames"])

    def search_budget_left(self, state: SearchState) -> int:
        """What a search may still spend: the budget less the frames the answer step adds after the span."""
        return self.budget_left(state) - answer_reserve(self.config)

    # -- embedder --------------------------------------------------------------------------------------
    def query_scores(self) -> np.ndarray | None:
        """Embedder similarity of every overview frame to the question's phrases (max over phrases)."""
        if self.index is None or self.embedder is None or len(self.index) == 0:
            return None
        if self._query_scores is None:
            self._query_scores = self.index.similarities(self.embedder.embed_texts(self.queries))
            self.embedder_calls += 1
        return self._query_scores

    def query_prior(self) -> np.ndarray | None:
        """`query_scores` scaled to [0, 1] over the whole video, raised to 1 where a transcript line matching the
        question is said (None with neither an index nor a matching line)."""
        if self._query_prior is None:
            from agentime.speech.search import speech_prior

            scores = self.query_scores()
            spoken = speech_prior(self.speech, self.question, self.view.overview_times)
            if scores is not None:
                lo, hi = float(np.min(scores)), float(np.max(scores))
                self._query_prior = (scores - lo) / (hi - lo + 1e-9)
                if spoken is not None:
                    self._query_prior = np.maximum(self._query_prior, spoken)
            else:
                self._query_prior = spoken
        return self._query_prior

    def transcript_lines(self) -> str | None:
        """The transcript lines matching the question, timestamped, for the target's prompts (None if none)."""
        from agentime.speech.search import PROMPT_LINES, transcript_lines

        return transcript_lines(self.speech, self.question, PROMPT_LINES)


def trace(state: SearchState, step: str, *, lane: str = "", model: str | None = None, times=(), scores=(),
          note: str = "", seconds: float = 0.0, **extra) -> None:
    """Append one step to the state's trace; `lane` is the timeline row it is drawn in (`base.LANES`; "" for a
    step that is not drawn)."""
    state["trace"].append({"step": step, "lane": lane, "model": model, "times": [round(float(t), 3) for t in times],
                           "scores": [round(float(s), 4) for s in scores], "note": note,
                           "seconds": round(seconds, 4), "extra": extra})
