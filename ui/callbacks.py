"""What the page's events do, as plain functions over one visitor's `UserState` (Gradio keeps one per browser).

Each returns (or, for a question, yields) a dict from output name (see `OUTPUTS`) to its new value; names left
out stay as they are. Choosing a video (upload, allowed path, the folder listing, or a stream when allowed)
clears everything shown about the previous one; a failed choice leaves no video chosen. Asking is a chat
turn answered by the visitor's `Session` (whose graph's timing gate decides between a search, with progress from
the first second, model loading included, and an answer from known evidence); the answer panel and the chat
always show the same answer. Every error a visitor
can cause comes back as a plain message without server paths or exception names; never a traceback.
"""

from __future__ import annotations

import logging
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from agentime.agent.timing_gate import TimingGate
from agentime.errors import AgentimeError, ConfigError, VLMError
from agentime.vocabulary import OPTION_LETTERS, has_letter_prefix, option_line
from . import answers as show
from .models import UNREACHABLE, choose_models, describe_spec, load_models, uses_demo_models
from .recordings import Recordings
from .timeline import clock, timeline_html
from .videos import FULL_PREVIEW_SECONDS, check_decodes, check_size, make_preview, needs_preview, resolve_path

log = logging.getLogger("agentime.ui")
OUTPUTS = ("upload", "player", "status", "current", "options", "answer", "notice", "details", "gallery", "transcript",
           "timeline", "chat", "chat_input", "subtitles", "state")
NO_VIDEO = "No video chosen yet."
NO_DETAILS = "Ask a question to see how the video was searched."
START = "Upload a video, pick one from the server's folders, or type its path."
UNEXPECTED = "something went wrong on the server while doing this; the server log has the details"


@dataclass
class UserState:
    """One browser session's video, chat and answers; never shared between visitors."""

    video: str | None = None
    name: str = ""  # the video's name as the visitor knows it (an upload's own file name, not a temp path)
    uploaded: bool = False
    live: bool = False
    session: object | None = None
    session_key: tuple | None = None  # (video, models): the session holds this chat's turns and answers
    chat: list[dict] = field(default_factory=list)
    evidence_times: list[float] = field(default_factory=list)  # in the gallery's order
    options_question: str | None = None  # the question the options in the box were last used with
    relay: object | None = None  # the progress callback the current session was built with
    recorder: object | None = None  # a StreamRecorder when the video is a stream being recorded
    scratch: Path | None = None  # this visitor's preview folder
    asking: bool = False  # a question of this visitor is being answered (Ask and the chat share one session)
    subtitles: str | None = None  # an uploaded subtitle file used for the videos of this visitor
    opened_path: str | None = None  # the path-box text last opened (Ask opens a typed path only if it is new)
    speech_times: list[float] = field(default_factory=list)  # start of each transcript line listed, in order


class Runtime:
    """What the UI process shares between visitors: recordings, compute slots, the timing gate's policy."""

    def __init__(self, settings, gate: TimingGate | None = None):
        self.settings = settings
        self.recordings = Recordings(settings)
        self.compute = threading.BoundedSemaphore(max(1, int(settings.concurrency)))
        self.gate = gate or TimingGate(use_policy=settings.config.timing.use_policy)
        self._visitors: dict[str, UserState] = {}  # browser session -> its state, to release it when it leaves
        self._visitors_lock = threading.Lock()

    def remember(self, session: str | None, state: UserState | None) -> None:
        if session and state is not None:
            with self._visitors_lock:
                self._visitors[session] = state

    def leave(self, session: str | None) -> None:
        """A visitor closed the page: stop their recording and remove their files now, not when Gradio
        eventually drops the session's state."""
        with self._visitors_lock:
            state = self._visitors.pop(session, None) if session else None
        self.forget(state)

    def scratch_for(self, state: UserState) -> Path:
        if state.scratch is None:
            state.scratch = self.recordings.folder / "previews" / uuid.uuid4().hex
        return state.scratch

    def forget(self, state: UserState | None) -> None:
        """Release what a visitor's state holds on disk (called when a visitor leaves or switches video)."""
        if state is None:
            return
        if state.recorder is not None:
            self.recordings.discard(state.recorder)
            state.recorder = None
        if state.scratch is not None:
            shutil.rmtree(state.scratch, ignore_errors=True)
            state.scratch = None


class _Relay:
    """A progress callback whose destination changes per question (a Session keeps the callback it got)."""

    def __init__(self):
        self.target = None

    def __call__(self, message: str, fraction: float) -> None:
        if self.target is not None:
            self.target(message, fraction)


_asking_lock = threading.Lock()


def _start_asking(state: UserState) -> bool:
    with _asking_lock:
        if state.asking:
            return False
        state.asking = True
        return True


_TEMP_PATH = re.compile(re.escape(tempfile.gettempdir()) + r"/[^\s'\"]*")


def scrub(text: str, state: UserState | None) -> str:
    """`text` without server paths the visitor did not type: the video's path becomes its name."""
    if state is not None and state.video:
        text = text.replace(state.video, state.name or Path(state.video).name)
    return _TEMP_PATH.sub(lambda m: Path(m.group(0)).name or "a temporary file", text)


def message_for(exc: BaseException, state: UserState | None = None) -> str:
    """A readable one-paragraph message for any error; unexpected ones are logged with their traceback."""
    if isinstance(exc, AgentimeError):
        return scrub(str(exc), state)
    if isinstance(exc, (FileNotFoundError, PermissionError)):
        return "the file cannot be read: " + scrub(exc.strerror or "it is missing or not readable", state)
    log.error("unexpected error in the UI", exc_info=exc)
    return UNEXPECTED


def error_md(exc: BaseException, state: UserState | None = None) -> str:
    # The status box renders HTML unsanitised (its progress bar needs its label): escape what visitors typed.
    return f"**Error:** {escape(message_for(exc, state))}"


def video_seconds(path: str) -> float:
    from agentime.video.source import open_video

    return float(open_video(path, allow_truncated=True).info.duration)


def cleared(state: UserState) -> dict:
    """Everything shown about a video's answers, emptied."""
    state.session = state.session_key = state.relay = state.options_question = None
    state.chat, state.evidence_times, state.speech_times = [], [], []
    return {"options": "", "answer": "", "details": NO_DETAILS, "gallery": [], "transcript": [], "timeline": "",
            "chat": [], "chat_input": ""}


def _switch(state: UserState, runtime: Runtime) -> dict:
    """Leave the current video. Subtitles uploaded for it leave with it (they would hide the next video's own
    subtitles); subtitles uploaded before any video was chosen stay for the first one."""
    had_video = state.video is not None
    runtime.forget(state)
    state.video, state.name, state.uploaded, state.live = None, "", False, False
    view = cleared(state)
    if had_video and state.subtitles is not None:
        state.subtitles = None
        view["subtitles"] = None
    return view


def no_video(state: UserState | None, runtime: Runtime, message: str = START) -> dict:
    """The page with no video chosen (a cleared upload box, or a failed choice)."""
    state = state or UserState()
    return {**_switch(state, runtime), "player": None, "status": message, "current": NO_VIDEO, "state": state}


def _ready(state: UserState, runtime: Runtime, path: Path, name: str, *, uploaded: bool, live: bool,
           note: str = "") -> dict:
    source = check_decodes(path)  # a frame decodes before the video is called ready (the only decode check)
    view = _switch(state, runtime)
    state.video, state.name, state.uploaded, state.live = str(path), name, uploaded, live
    player = str(path)
    if needs_preview(path, source.info.codec):
        player = str(make_preview(path, runtime.scratch_for(state),
                                  keyframes_only=source.info.duration > FULL_PREVIEW_SECONDS,
                                  end=source.info.duration))
        note += " The player shows a small preview (browsers cannot play this file's format); the answers use " \
                "the original."
    length = clock(source.info.duration)
    return {**view, "player": player, "state": state, "current": f"Current video: **{name}** ({length})",
            "status": f"Video ready: {escape(name)} ({length}). Ask a question.{note}"}


def choose_subtitles(file_path: str | None, state: UserState | None) -> dict:
    """After a subtitle upload (or a cleared box): the file the next questions read their speech from."""
    from agentime.errors import SubtitleError
    from agentime.speech.sources import SUBTITLE_SUFFIXES, read_subtitle_file

    state = state or UserState()
    state.session = state.session_key = None  # the next question opens the video again, with its speech
    if not file_path:
        state.subtitles = None
        return {"status": "Subtitles removed: answers use the frames (and any subtitles inside the video).",
                "state": state}
    if Path(file_path).suffix.lower() not in SUBTITLE_SUFFIXES:
        state.subtitles = None
        return {"status": f"**Error:** {escape(Path(file_path).name)} is not a subtitle file; upload "
                          f"{', '.join(SUBTITLE_SUFFIXES)}", "state": state}
    try:
        read_subtitle_file(file_path)  # an empty or unreadable file is refused now, not at the next question
    except SubtitleError as exc:
        state.subtitles = None
        return {"status": f"**Error:** {escape(str(exc))}", "state": state}
    state.subtitles = str(file_path)
    return {"status": f"Subtitles ready: {escape(Path(file_path).name)}. Ask a question.", "state": state}


def choose_upload(file_path: str | None, state: UserState | None, runtime: Runtime) -> dict:
    """After an upload (or a cleared upload box): the new video, or no video and the file box emptied."""
    state = state or UserState()
    if not file_path:
        return no_video(state, runtime)
    name = Path(file_path).name
    try:
        path = check_size(file_path, runtime.settings.max_upload_mb)
        return _ready(state, runtime, path, name, uploaded=True, live=False)
    except Exception as exc:  # noqa: BLE001 - shown in the page as a message
        failed = no_video(state, runtime, error_md(exc, UserState(video=str(file_path), name=name)))
        return {**failed, "upload": None}


def choose_path(text: str, live: bool, state: UserState | None, runtime: Runtime) -> dict:
    from agentime.video.stream import is_stream_url

    state = state or UserState()
    text = (text or "").strip()
    state.opened_path = text
    try:
        if is_stream_url(text):
            return _record(text, state, runtime)
        path = resolve_path(text, runtime.settings.allowed_dirs)
        mode = " Live mode: each question checks for new footage." if live else ""
        return _ready(state, runtime, path, path.name, uploaded=False, live=bool(live), note=mode)
    except Exception as exc:  # noqa: BLE001
        return no_video(state, runtime, error_md(exc, state))


def _record(url: str, state: UserState, runtime: Runtime) -> dict:
    """Record a stream (only from hosts the operator allowed) and follow the growing file live."""
    view = _switch(state, runtime)
    recorder = runtime.recordings.start(url)
    state.recorder = recorder
    state.video, state.name, state.uploaded, state.live = str(recorder.path), url, False, True
    limits = (f"recordings stop at {runtime.settings.max_recording_minutes:g} minutes or "
              f"{runtime.settings.max_recording_mb:g} MB")
    so_far = clock(video_seconds(str(recorder.path)))
    return {**view, "player": str(recorder.path), "state": state, "current": f"Current video: recording of **{url}**",
            "status": f"Recording {escape(url)} ({so_far} so far; {limits}). Live mode: each question checks for "
                      "new footage."}


def question_edited(question: str, state: UserState | None) -> tuple[object, UserState | None]:
    """(new options value or None for "leave it", state): options used with an earlier question are cleared
    as soon as the visitor starts a different question."""
    if state is None or state.options_question is None:
        return None, state
    if (question or "").strip() == state.options_question:
        return None, state
    state.options_question = None
    return "", state


def parse_options(text: str) -> list[str] | None:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    if len(lines) == 1:
        raise ConfigError("give at least two options, one per line, or none for an open question")
    return [line if has_letter_prefix(line) else option_line(i, line)
            for i, line in enumerate(lines[: len(OPTION_LETTERS)])]


def progress_md(message: str, fraction: float) -> str:
    percent = int(round(100 * max(0.0, min(1.0, fraction))))
    return (f'<progress aria-label="Progress of the question" value="{percent}" max="100"></progress> '
            f'**{percent}%** — {escape(message)}')


def _work(question, options, strategy, budget, choice, state: UserState, runtime: Runtime,
          updates: queue.Queue, result: dict) -> None:
    """The slow part of a question, in a thread: load the models, open the session, search (in a compute slot)."""
    from agentime.api import Session

    settings = runtime.settings
    try:
        updates.put(("Loading the models (the first question takes longer)…", 0.02))
        models = load_models(choice, settings)
        # answers of another model or with other subtitles are never reused: their own session
        key = (state.video, choice.key, state.subtitles)
        if state.session is None or state.session_key != key:
            updates.put(("Opening the video…", 0.05))
            relay = _Relay()
            config = settings.session_config().with_speech(subtitles=state.subtitles)
            state.session = Session(state.video, models=models, config=config, progress=relay,
                                    timing_gate=runtime.gate)
            state.relay, state.session_key = relay, key
        state.relay.target = lambda message, fraction: updates.put((scrub(message, state), 0.05 + 0.95 * fraction))
        if not runtime.compute.acquire(blocking=False):
            updates.put(("Waiting for other questions on this server to finish…", 0.05))
            runtime.compute.acquire()
        try:
            result["answer"] = state.session.ask(question, options=options, strategy=strategy,
                                                 budget=int(budget) if budget else None)
        finally:
            runtime.compute.release()
    except BaseException as exc:  # noqa: BLE001 - handed to the page
        result["error"] = exc
    finally:
        if state.relay is not None:
            state.relay.target = None
        updates.put(None)


def _show(answer, state: UserState, choice, reason: str, runtime: Runtime, seconds: float, *,
          reused_from: str | None = None) -> dict:
    state.evidence_times = show.gallery_times(answer)
    state.speech_times = [e.t for e in answer.evidence if e.source == "speech"]
    spec_words = {role: describe_spec(spec) if isinstance(spec, str) else None for role, spec in choice.specs.items()}
    notice = show.demo_notice(len(runtime.settings.allowed_dirs) > 0 or runtime.settings.model_urls_allowed) \
        if uses_demo_models(choice.specs) else ""
    return {"answer": show.answer_markdown(answer, state.name, reused_from=reused_from), "notice": notice,
            "details": show.search_details(answer, reason, spec_words), "gallery": show.gallery_items(answer),
            "transcript": show.transcript_lines(answer),
            "timeline": timeline_html(answer.trace, seconds, answer.spans,
                                      [e.t for e in answer.evidence if e.source != "speech"],
                                      speech=[(e.t, e.end, e.text) for e in answer.evidence if e.source == "speech"]),
            "chat": state.chat, "chat_input": "", "state": state}


def ask(question: str, options_text: str, strategy: str, budget: int, model_choice: str, folder: str,
        base_url: str, model_name: str, api_key: str, state: UserState | None, runtime: Runtime, *,
        typed_path: str = "", typed_live: bool = False) -> Iterator[dict]:
    """Yields output updates: progress while working, then the answer (or an error message). With no video
    chosen but a path typed in the path box and not opened yet, that path is opened first, as Open would (text
    left there from an earlier video is not opened again)."""
    state = state or UserState()
    if not _start_asking(state):
        yield {"status": "A question is already being answered; its answer comes first."}
        return
    try:
        typed_path = (typed_path or "").strip()
        if state.video is None and typed_path and typed_path != state.opened_path:
            opened = choose_path(typed_path, typed_live, state, runtime)
            yield opened
            if state.video is None:
                return  # the path could not be opened: its error is in the status
        yield from _ask(question, options_text, strategy, budget, model_choice, folder, base_url, model_name, api_key,
                        state, runtime)
    finally:
        state.asking = False


def _ask(question, options_text, strategy, budget, model_choice, folder, base_url, model_name, api_key,
         state: UserState, runtime: Runtime) -> Iterator[dict]:
    from agentime.api import validate_question

    choice = None
    try:
        if state.video is None:
            raise ConfigError("choose a video first: upload one, pick one from the list or open one by path")
        options = parse_options(options_text)
        question, options = validate_question(question, options)
        choice = choose_models(model_choice, folder, base_url, model_name, api_key, runtime.settings)
        seconds = video_seconds(state.video)
        state.options_question = question if options else None
        yield {"status": progress_md("Starting…", 0.0), "state": state}
        updates: queue.Queue = queue.Queue()
        result: dict = {}
        worker = threading.Thread(target=_work, args=(question, options, strategy, budget, choice, state,
                                                      runtime, updates, result), daemon=True)
        worker.start()
        began, last = time.monotonic(), ("Starting…", 0.0)
        while True:
            try:
                item = updates.get(timeout=1.0)
            except queue.Empty:  # nothing new: say how long it has been working, so the page never looks stuck
                yield {"status": progress_md(f"{last[0]} ({time.monotonic() - began:.0f} s)", last[1])}
                continue
            if item is None:
                break
            last = item
            yield {"status": progress_md(*item)}
        if "error" in result:
            raise result["error"]
        answer = result["answer"]
        gate = answer.trace[0] if answer.trace and answer.trace[0]["step"] == "timing_gate" else None
        reason = gate["note"] if gate else ""
        reused_from = gate["extra"].get("reused_question") if gate and not gate["extra"]["refreshed"] else None
        state.chat = state.chat + [{"role": "user", "content": question},
                                   {"role": "assistant", "content": show.chat_reply(answer, reused_from=reused_from)}]
        status = ("Answered from what was already found, without searching the video again." if reused_from
                  else "Done.")
        yield {**_show(answer, state, choice, reason, runtime, seconds, reused_from=reused_from), "status": status}
    except Exception as exc:  # noqa: BLE001 - shown in the page as a message
        if choice is not None and choice.typed_url and isinstance(exc, VLMError):
            log.info("visitor model server failed during a question: %s", exc)
            exc = ConfigError(UNREACHABLE)
        yield {"status": error_md(exc, state), "state": state}


def select_evidence(index: int | None, state: UserState | None) -> tuple[float | None, str]:
    """(time to seek the player to, status) for the evidence frame at `index` of the gallery."""
    if state is None or index is None or not 0 <= index < len(state.evidence_times):
        return None, "Select an evidence frame to jump there."
    t = state.evidence_times[index]
    return t, f"Player moved to {clock(t)} (evidence frame {index + 1})."


def select_line(index: int | None, state: UserState | None) -> tuple[float | None, str]:
    """(time to seek the player to, status) for the transcript line at `index` of the list."""
    if state is None or index is None or not 0 <= index < len(state.speech_times):
        return None, "Select a transcript line to jump there."
    t = state.speech_times[index]
    return t, f"Player moved to {clock(t)} (when the line is said)."


def live_status(state: UserState | None) -> str | None:
    if state is None or not state.live or not state.video:
        return None
    try:
        now = video_seconds(state.video)
    except Exception as exc:  # noqa: BLE001
        return error_md(exc, state)
    turns = state.session.turns if state.session is not None else []
    searched = turns[-1].video_seconds if turns else None
    tail = f"; the last search covered {clock(searched)}" if searched is not None else ""
    stopped = ""
    if state.recorder is not None and state.recorder.limit_reached:
        stopped = f"; recording stopped at the {state.recorder.limit_reached}"
    return f"Live: the recording is {clock(now)} long{tail}{stopped}."
