"""The public surface: `agentime.ask(video, question)` and `agentime.Session(video)`.

`ask` answers one question; a `Session` keeps one video's cache, index and answers across questions and,
with a checkpoint file, survives a process restart (a damaged file raises CheckpointError, never an empty
session); `list_sessions` reads what a checkpoint file holds. Both validate their input, resolve model specs and run
the agent graph (`agentime.agent.graph`); they hold no search logic.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from agentime.agent.refresh import Turn
from agentime.agent.timing_gate import TimingGate
from agentime.config import Config
from agentime.errors import ConfigError
from agentime.search import NAMES as STRATEGY_NAMES
from agentime.search.base import time_key
from agentime.video.frames import Frame
from agentime.video.source import open_video
from agentime.vlm.registry import load_model_roles

MAX_QUESTION_CHARS = 2000


@dataclass
class EvidenceFrame:
    """A frame that supports the answer, with its timestamp and why it was kept."""

    t: float
    score: float | None  # the relevance the search measured; None for a frame shown only as context
    reason: str
    source: str
    frame: Frame | None = field(default=None, repr=False)

    def score_text(self) -> str:
        return f"{self.score:.2f}" if self.score is not None else "context"


@dataclass
class SpeechEvidence:
    """A transcript line that supports the answer: when it is said (`t` to `end`), its text, and how closely it
    matches the question. `source` is always "speech", which tells it apart from frame evidence."""

    t: float
    end: float
    text: str
    score: float | None
    reason: str = "transcript line matching the question"
    source: str = "speech"
    frame: None = field(default=None, repr=False)

    def score_text(self) -> str:
        return f"{self.score:.2f}" if self.score is not None else "context"


@dataclass
class Answer:
    """An answer with the moments and frames that support it, how sure the search is, and how it searched."""

    question: str
    text: str
    choice: str | None
    spans: list[tuple[float, float]]
    evidence: list[EvidenceFrame | SpeechEvidence]  # frames first, then transcript lines (source "speech")
    confidence: float
    strategy: str
    trace: list[dict]
    stats: dict

    def to_dict(self) -> dict:
        data = asdict(self)
        for item in data["evidence"]:
            item.pop("frame", None)
        return data


def validate_question(question: str, options: Sequence[str] | None) -> tuple[str, list[str] | None]:
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("the question is empty; ask something about the video")
    if len(question) > MAX_QUESTION_CHARS:
        raise ConfigError(f"the question has {len(question)} characters; keep it under {MAX_QUESTION_CHARS}")
    if options is None:
        return question.strip(), None
    if isinstance(options, str) or not all(isinstance(o, str) and o.strip() for o in options):
        raise ConfigError("options must be a list of non-empty strings, e.g. ['A. red', 'B. blue']")
    if not 2 <= len(options) <= 10:
        raise ConfigError(f"give between 2 and 10 options, got {len(options)}")
    return question.strip(), [o.strip() for o in options]


class Session:
    """One video, many questions: the cache, index and evidence are reused; `history` lists past answers.

    With `checkpoint` (a SQLite file) and a `session_id`, a new process resumes the same session.
    With `live=True` the video is a recording that keeps growing: before each question the graph's timing gate
    decides between refreshing (ingest the new footage, search again) and answering from the evidence
    already gathered (`config.timing.gate = "always"` asks it on every video, as the web UI's chat does); the
    decision and its reason are the first step of the answer's trace, and `turns` lists the decided
    questions. `clock` (a function returning an aware datetime) replaces the wall clock, e.g. in tests;
    `timing_gate` shares one loaded policy between sessions.
    """

    def __init__(self, video: str | os.PathLike, *, models: dict | None = None, config: Config | None = None,
                 session_id: str | None = None, checkpoint: str | os.PathLike | None = None,
                 progress: Callable[[str, float], None] | None = None, live: bool = False,
                 clock: Callable[[], datetime] | None = None, timing_policy=None,
                 timing_gate: TimingGate | None = None):
        from agentime.agent.context import AgentContext
        from agentime.agent.graph import build_graph

        self.video = os.fspath(Path(video).expanduser())
        self.config = config or Config()
        check_subtitles(self.config)
        # fail early, with the video layer's errors; a live recording always looks cut off at its end
        open_video(self.video, allow_truncated=live or self.config.video.allow_truncated)
        self.session_id = session_id or uuid.uuid4().hex
        self._models = load_model_roles({**self.config.models.specs(), **(models or {})},
                                        verbose=self.config.verbose)
        self._context = AgentContext(target=self._models["target"], draft=self._models.get("draft"),
                                     embedder=self._models.get("embedder"), config=self.config, progress=progress)
        self.live = live
        if clock is not None:
            self._context.clock = clock
        self._context.timing_gate = timing_gate or TimingGate(policy=timing_policy,
                                                              use_policy=self.config.timing.use_policy)
        self._turns: list[dict] = []
        self._checkpointer = None
        self.checkpoint = None
        if checkpoint is not None:
            from agentime.agent.checkpoint import open_checkpoint

            self.checkpoint = Path(checkpoint)
            self._checkpointer = open_checkpoint(self.checkpoint)
        self._graph = build_graph(self._checkpointer)

    def _run_config(self) -> dict:
        return {"configurable": {"thread_id": self.session_id},
                "recursion_limit": self._context.max_steps + 20}

    @property
    def history(self) -> list[dict]:
        if self._checkpointer is None:
            return list(getattr(self, "_history", []))
        from agentime.agent.checkpoint import guarded

        with guarded(self.checkpoint):
            snapshot = self._graph.get_state(self._run_config())
        return list(snapshot.values.get("history", [])) if snapshot and snapshot.values else []

    @property
    def turns(self) -> list[Turn]:
        """The questions the timing gate decided on, in order (empty where it never decides)."""
        if self._checkpointer is None:
            return [Turn.from_state(t) for t in self._turns]
        from agentime.agent.checkpoint import guarded

        with guarded(self.checkpoint):
            snapshot = self._graph.get_state(self._run_config())
        values = snapshot.values if snapshot and snapshot.values else {}
        return [Turn.from_state(t) for t in values.get("turns") or []]

    def ask(self, question: str, *, options: Sequence[str] | None = None, strategy: str = "auto",
            budget: int | None = None) -> Answer:
        question, options = validate_question(question, options)
        if strategy not in STRATEGY_NAMES:
            raise ConfigError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGY_NAMES)}")
        base = self.config.search
        self._context.search = base if budget is None else replace(base, budget=budget)
        state = {"question": question, "options": options, "strategy": strategy,
                 "video": {"path": self.video, "live": self.live}}
        if self._checkpointer is None:
            state["turns"] = self._turns  # without a checkpoint file the session carries its turns itself
        result = self._invoke(state)
        answer = self._to_answer(question, result)
        reused = bool(result.get("gate")) and result["gate"]["reuse"] is not None
        if self._checkpointer is None:
            self._turns = list(result.get("turns") or [])
            if not reused:
                self._history = [*getattr(self, "_history", []), result["history"][-1]]
        return answer

    def prepare(self) -> float:
        """Ingest the video and load or build its frame index and transcript now (all cached), so that no
        question pays for them; returns the seconds it took."""
        from agentime.agent.graph import prepared_video

        began = time.perf_counter()
        prepared_video(self.video, self.live, self._context)
        return time.perf_counter() - began

    def close(self) -> None:
        """Close the checkpoint file (the session stays in it)."""
        if self._checkpointer is not None:
            self._checkpointer.conn.close()

    def _invoke(self, state: dict) -> dict:
        if self._checkpointer is None:
            return self._graph.invoke(state, config=self._run_config(), context=self._context)
        from agentime.agent.checkpoint import guarded

        with guarded(self.checkpoint):
            return self._graph.invoke(state, config=self._run_config(), context=self._context)

    def _to_answer(self, question: str, result: dict) -> Answer:
        search, final = result["search"], result["answer"]
        by_time = {e["t"]: e for e in search["evidence"]}
        times = final["evidence_times"]
        after = set(final.get("after_times", []))
        from agentime.agent.graph import view_and_index

        view = view_and_index(result["video"], self._context)[0]
        frames = view.frames_at(times)
        spans = [tuple(s) for s in final["spans"]]
        entries = []
        for t, frame in zip(times, frames, strict=True):
            if t in by_time:
                e = by_time[t]
            elif t in after and not any(a <= t <= b for a, b in spans):
                e = {"score": None, "reason": "just after the found span: shows what follows it", "source": "answer"}
            else:
                e = {"score": search["scores"].get(time_key(t), 0.0), "reason": "best available", "source": "target"}
            score = None if e["score"] is None else float(e["score"])
            entries.append(EvidenceFrame(t, score, e["reason"], e["source"], frame))
        evidence = unique_evidence(entries)
        evidence += [SpeechEvidence(s["start"], s["end"], s["text"], s["score"]) for s in final.get("speech", [])]
        stats = {**search["stats"], "speech": result["video"].get("speech")}
        return Answer(question=question, text=final["text"], choice=final["choice"],
                      spans=spans, evidence=evidence,
                      confidence=float(search["confidence"]), strategy=search["strategy"], trace=search["trace"],
                      stats=stats)


def unique_evidence(entries: list[EvidenceFrame]) -> list[EvidenceFrame]:
    """One entry per decoded picture, in the given order: entries whose frames are the same picture (the same
    `pts`, or the same time to the millisecond when the decoder gave none) are merged, keeping the scored
    one, so a frame reached by two paths (10.933 and 10.9333) is shown once."""
    kept: dict = {}
    for entry in entries:
        frame = entry.frame
        key = ("pts", frame.pts) if frame is not None and frame.pts is not None else ("t", round(entry.t, 3))
        held = kept.get(key)
        if held is None or (held.score is None and entry.score is not None):
            kept[key] = entry
    chosen = {id(entry) for entry in kept.values()}
    return [entry for entry in entries if id(entry) in chosen]


def check_subtitles(config: Config) -> None:
    """An explicitly named subtitle file must exist and have a subtitle suffix (ConfigError otherwise); what is
    inside it is read later, and a file that cannot be read only costs the answer its speech."""
    from agentime.speech.sources import SUBTITLE_SUFFIXES

    path = config.speech.subtitles
    if path is None:
        return
    if path.suffix.lower() not in (*SUBTITLE_SUFFIXES, ".json"):
        raise ConfigError(f"{path.name} is not a subtitle file; use one of {', '.join(SUBTITLE_SUFFIXES)}")
    if not path.is_file():
        raise ConfigError(f"subtitle file {path} does not exist; check the path")


def list_sessions(checkpoint: str | os.PathLike) -> list[dict]:
    """The sessions a checkpoint file holds (`session_id`, `questions`); CheckpointError when it is damaged."""
    from agentime.agent.checkpoint import list_sessions as read_sessions

    return read_sessions(checkpoint)


def ask(video: str | os.PathLike, question: str, *, options: Sequence[str] | None = None, strategy: str = "auto",
        budget: int | None = None, models: dict | None = None, config: Config | None = None,
        progress: Callable[[str, float], None] | None = None, subtitles: str | os.PathLike | None = None) -> Answer:
    """Answer one question about a video; see `Answer` for what comes back. `subtitles` names a subtitle file
    (.srt, .vtt, .ass, .ssa); without it one beside the video or a subtitle stream inside it is used."""
    question, options = validate_question(question, options)
    if subtitles is not None:
        config = (config or Config()).with_speech(subtitles=Path(subtitles))
    if budget is not None and (not isinstance(budget, int) or budget < 1):
        raise ConfigError(f"the budget must be a positive number of target frames, got {budget!r}")
    return Session(video, models=models, config=config, progress=progress).ask(
        question, options=options, strategy=strategy, budget=budget)
