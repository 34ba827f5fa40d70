"""What the page's events do, as plain functions over one user's `UserState` (Gradio keeps one per browser).

Choosing a video (upload or allowed path), asking (a chat turn: the timing decision, then a search with live
progress or an answer from known evidence), selecting an evidence frame (seek the player there) and the live
poll. Every error a user can cause comes back as a readable message for the status box, never a traceback.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from agentime.errors import AgentimeError, ConfigError
from ui.models import load_models, specs_for
from ui.timeline import clock, timeline_svg
from agentime.agent.refresh import TimingAdvisor, Turn
from ui.videos import check_upload, open_path

log = logging.getLogger("agentime.ui")
LETTERS = "ABCDEFGHIJ"


@dataclass
class UserState:
    """One browser session's video, chat and last answer; never shared between users."""

    video: str | None = None
    uploaded: bool = False
    live: bool = False
    session: object | None = None
    session_key: tuple | None = None
    turns: list[Turn] = field(default_factory=list)
    chat: list[dict] = field(default_factory=list)
    evidence_times: list[float] = field(default_factory=list)
    last_answer: object | None = None
    relay: object | None = None  # the progress callback the current session was built with
    recorder: object | None = None  # a StreamRecorder when the video is a stream being recorded


class _Relay:
    """A progress callback whose destination changes per question (a Session keeps the callback it got)."""

    def __init__(self):
        self.target = None

    def __call__(self, message: str, fraction: float) -> None:
        if self.target is not None:
            self.target(message, fraction)


def message_for(exc: BaseException) -> str:
    """A readable one-paragraph message for any error; unexpected ones are logged with their traceback."""
    if isinstance(exc, AgentimeError):
        return str(exc)
    if isinstance(exc, (FileNotFoundError, PermissionError)):
        return f"cannot read the file: {exc.strerror or exc}"
    log.exception("unexpected error in the UI", exc_info=exc)
    return f"something went wrong ({type(exc).__name__}: {exc}); the server log has the details"


def error_md(exc: BaseException) -> str:
    return f"**Error:** {message_for(exc)}"


def video_seconds(path: str) -> float:
    from agentime.video.source import open_video

    return float(open_video(path, allow_truncated=True).info.duration)


def choose_upload(file_path: str | None, state: UserState, settings) -> tuple[str | None, str, UserState]:
    """(player value, status, state) after an upload."""
    state = state or UserState()
    if not file_path:
        return None, "Upload a video, or open one by path.", state
    try:
        path = check_upload(file_path, settings.max_upload_mb)
    except Exception as exc:  # noqa: BLE001
        return None, error_md(exc), state
    _reset_video(state, str(path), uploaded=True, live=False)
    return str(path), f"Video ready: {path.name} ({clock(video_seconds(str(path)))}). Ask a question.", state


def choose_stream(url: str, state: UserState) -> tuple[str | None, str, UserState]:
    """Record a stream URL into a growing file in a private temporary folder and follow it in live mode."""
    import tempfile

    from agentime.video.stream import StreamRecorder

    try:
        recorder = StreamRecorder(url, Path(tempfile.mkdtemp(prefix="agentime-stream-")) / "recording.mp4").start()
    except Exception as exc:  # noqa: BLE001
        return None, error_md(exc), state
    _reset_video(state, str(recorder.path), uploaded=False, live=True)
    state.recorder = recorder
    return (str(recorder.path), f"Recording {url} ({clock(video_seconds(str(recorder.path)))} so far). Live mode: "
            "each question checks for new footage.", state)


def choose_path(text: str, live: bool, state: UserState, settings) -> tuple[str | None, str, UserState]:
    from agentime.video.stream import is_stream_url

    state = state or UserState()
    if is_stream_url((text or "").strip()):
        return choose_stream(text.strip(), state)
    try:
        path = open_path(text, settings.allowed_dirs)
    except Exception as exc:  # noqa: BLE001
        return None, error_md(exc), state
    _reset_video(state, str(path), uploaded=False, live=bool(live))
    mode = " Live mode: each question checks for new footage." if live else ""
    return str(path), f"Video ready: {path.name} ({clock(video_seconds(str(path)))}).{mode}", state


def _reset_video(state: UserState, path: str, *, uploaded: bool, live: bool) -> None:
    if state.recorder is not None:  # a new video: stop recording the previous stream
        state.recorder.stop()
        state.recorder = None
    state.video, state.uploaded, state.live = path, uploaded, live
    state.session = state.session_key = state.last_answer = state.relay = None
    state.turns, state.chat, state.evidence_times = [], [], []


def parse_options(text: str) -> list[str] | None:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    if len(lines) == 1:
        raise ConfigError("give at least two options, one per line, or none for an open question")
    return [line if line[:2] in {f"{c}." for c in LETTERS} else f"{LETTERS[i]}. {line}"
            for i, line in enumerate(lines[: len(LETTERS)])]


def _session(state: UserState, specs: dict, settings, seconds: float):
    from agentime.api import Session
    from agentime.config import Config, VideoConfig, default_cache_dir

    key = (state.video, tuple(sorted((k, v or "") for k, v in specs.items())), round(seconds, 1))
    if state.session is None or state.session_key != key:
        config = Config(cache_dir=settings.cache_dir or default_cache_dir(),
                        video=VideoConfig(overview_fps=settings.fps, allow_truncated=settings.allow_truncated))
        relay = _Relay()
        state.session = Session(state.video, models=load_models(specs), config=config, progress=relay)
        state.relay, state.session_key = relay, key
    return state.session


def answer_markdown(answer, how: str) -> str:
    label = f"{answer.choice}. {answer.text}" if answer.choice else (answer.text or "(no text)")
    spans = ", ".join(f"{clock(a)}–{clock(b)}" for a, b in answer.spans) or "none found"
    stats = answer.stats
    return (f"### Answer: {label}\n\n**Confidence:** {answer.confidence:.2f} ({answer.strategy})  \n"
            f"**Moments:** {spans}  \n**Looked at:** {stats['target_frames']} target frames, "
            f"{stats['draft_frames']} draft frames in {stats['seconds']:.1f} s of model time  \n*{how}*")


def gallery_items(answer) -> list:
    return [(e.frame.image, f"{clock(e.t)} · score {e.score_text()} · {e.reason}") for e in answer.evidence
            if e.frame is not None]


def progress_md(message: str, fraction: float) -> str:
    percent = int(round(100 * fraction))
    return f'<progress value="{percent}" max="100"></progress> **{percent}%** — {message}'


_advisor = TimingAdvisor()


def ask(question: str, options_text: str, strategy: str, budget: int, model_choice: str, folder: str,
        base_url: str, model_name: str, state: UserState, settings, advisor: TimingAdvisor | None = None
        ) -> Iterator[tuple]:
    """Yields (status, answer markdown, gallery, timeline html, chat, state); the last yield is the result."""
    state = state or UserState()
    advisor = advisor or _advisor
    skip = None  # "leave this output as it is"; the app maps it to gr.skip()
    try:
        if state.video is None:
            raise ConfigError("choose a video first: upload one or open one by path")
        options = parse_options(options_text)
        specs = specs_for(model_choice, folder, base_url, model_name, settings)
        seconds = video_seconds(state.video)
        now = datetime.now(timezone.utc)
        decision = advisor.decide(state.turns, question or "", now, seconds)
        if not decision.call and decision.reuse is not None:
            reuse = decision.reuse
            text = f"{reuse.answer_text} (confidence {reuse.confidence:.2f})"
            turn = Turn(question, now, False, decision.reason, reuse.answer_text, reuse.confidence, reuse.video_seconds,
                        reuse.evidence_times, reuse.spans)
            state.turns.append(turn)
            state.chat = state.chat + [{"role": "user", "content": question},
                                       {"role": "assistant", "content": f"{text}\n\n**From known evidence** "
                                        f"(the answer to “{reuse.question}”) — {decision.reason}"}]
            yield ("Answered from known evidence, without searching the video again.", skip, skip, skip,
                   state.chat, state)
            return
        session = _session(state, specs, settings, seconds)
        relay = state.relay
        updates: queue.Queue = queue.Queue()
        relay.target = lambda message, fraction: updates.put((message, fraction))
        result: dict = {}

        def work():
            try:
                result["answer"] = session.ask(question, options=options, strategy=strategy,
                                               budget=int(budget) if budget else None)
            except BaseException as exc:  # noqa: BLE001 - handed to the page below
                result["error"] = exc
            finally:
                updates.put(None)

        yield progress_md("starting", 0.0), skip, skip, skip, skip, state
        threading.Thread(target=work, daemon=True).start()
        while True:
            item = updates.get()
            if item is None:
                break
            yield progress_md(*item), skip, skip, skip, skip, state
        relay.target = None
        if "error" in result:
            raise result["error"]
        answer = result["answer"]
        how = decision.reason
        state.last_answer = answer
        state.evidence_times = [e.t for e in answer.evidence]
        turn = Turn(question, now, True, how, f"{answer.choice}. {answer.text}" if answer.choice else answer.text,
                    float(answer.confidence), seconds, state.evidence_times, [list(s) for s in answer.spans])
        state.turns.append(turn)
        state.chat = state.chat + [{"role": "user", "content": question},
                                   {"role": "assistant", "content": f"{turn.answer_text} (confidence "
                                    f"{answer.confidence:.2f})\n\n**Searched the video** (tools called) — {how}"}]
        timeline = timeline_svg(answer.trace, seconds, answer.spans, state.evidence_times)
        yield ("Done.", answer_markdown(answer, how), gallery_items(answer), timeline, state.chat, state)
    except Exception as exc:  # noqa: BLE001 - shown in the page as a message
        yield error_md(exc), skip, skip, skip, skip, state


def select_evidence(index: int | None, state: UserState) -> tuple[float | None, str]:
    """(time to seek the player to, status) for the evidence frame at `index` of the gallery."""
    if state is None or index is None or not 0 <= index < len(state.evidence_times):
        return None, "Select an evidence frame to jump there."
    t = state.evidence_times[index]
    return t, f"Player moved to {clock(t)} (evidence frame {index + 1})."


def live_status(state: UserState) -> str | None:
    if state is None or not state.live or not state.video:
        return None
    try:
        now = video_seconds(state.video)
    except Exception as exc:  # noqa: BLE001
        return error_md(exc)
    searched = state.turns[-1].video_seconds if state.turns else None
    tail = f"; the last search covered {clock(searched)}" if searched is not None else ""
    return f"Live: the recording is {clock(now)} long{tail}."
