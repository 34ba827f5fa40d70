"""A folder of videos opened as one library: the page's library panel.

A visitor types a folder under one of the operator's allowed folders (the same policy and checks as opening a
video by path: `videos.resolve_path`, refused before any read when outside); it is opened as an
`agentime.Library` with the server's models and cache (its videos are added, unchanged ones found in the
cache). A question is answered across the library; the answer names the video and the moment, and the page's
player opens that video at that moment. Every error a visitor can cause comes back as a plain message
without server paths or exception names. It holds no search logic (that is `agentime.library`'s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from agentime.errors import AgentimeError, ConfigError

from .models import ModelChoice, load_models
from .timeline import clock
from .videos import resolve_path

log = logging.getLogger("agentime.ui")
LIBRARY_START = "Type a folder under the server's folders to search all its videos at once."
UNEXPECTED = "something went wrong on the server while doing this; the server log has the details"


@dataclass
class LibraryState:
    """One visitor's open library; never shared between visitors."""

    library: object | None = None
    root: Path | None = None  # the allowed folder it lies under: names are shown relative to it
    names: dict[str, str] = field(default_factory=dict)


def open_library(text: str, state: LibraryState | None, runtime) -> dict:
    """Open the typed folder as a library; `library_status` says what it holds and what it skipped."""
    from agentime.library import Library

    state = state or LibraryState()
    settings = runtime.settings
    try:
        folder = resolve_path(text, settings.allowed_dirs, kind="library folder")
        if not folder.is_dir():
            raise ConfigError(f"{_relative(folder, settings.allowed_dirs)} is not a folder; type a folder of videos")
        with runtime.compute:
            models = load_models(ModelChoice(dict(settings.default_models)), settings)
            library = Library(folder, cache=settings.session_config(), models=models)
    except AgentimeError as exc:
        return {"library_status": f"Error: {escape(str(exc))}", "library_state": state}
    except Exception:  # noqa: BLE001 - the visitor gets a plain message, the log the details
        log.exception("opening a library failed")
        return {"library_status": f"Error: {UNEXPECTED}", "library_state": state}
    root = next(Path(d) for d in settings.allowed_dirs if folder == Path(d) or folder.is_relative_to(Path(d)))
    state = LibraryState(library, root, {p: str(Path(p).relative_to(root)) for p in library.videos})
    lines = [f"Library ready: {len(library.videos)} videos in {escape(str(folder.relative_to(root)) or '.')}."]
    lines += [f"Skipped {escape(_relative(Path(s.path), settings.allowed_dirs))}: {escape(_hide_paths(s.reason, state))}"
              for s in library.skipped]
    return {"library_status": "\n\n".join(lines), "library_state": state}


def ask_library(question: str, state: LibraryState | None, runtime) -> dict:
    """Answer across the open library: `library_answer` names the video and moment, `player` opens it there."""
    if state is None or state.library is None:
        return {"library_status": "Error: open a folder as a library first"}
    try:
        with runtime.compute:
            answer = state.library.ask(question)
    except AgentimeError as exc:
        return {"library_status": f"Error: {escape(str(exc))}"}
    except Exception:  # noqa: BLE001
        log.exception("a library question failed")
        return {"library_status": f"Error: {UNEXPECTED}"}
    name = state.names.get(answer.video) or Path(answer.video).name
    start = answer.spans[0][0] if answer.spans else (answer.evidence[0].t if answer.evidence else 0.0)
    lines = [f"**Answer:** {escape(answer.text or 'unsure')}",
             f"In **{escape(name)}** at {clock(start)}" + (f"–{clock(answer.spans[0][1])}" if answer.spans else "")]
    others = [state.names.get(c["video"]) or Path(c["video"]).name for c in answer.candidates[1:3]]
    if others:
        lines.append("Other likely videos: " + ", ".join(escape(o) for o in others))
    lines += [f"Note: {escape(_hide_paths(note, state))}" for note in answer.notes]
    return {"library_answer": "\n\n".join(lines), "library_status": f"Done. The player shows {escape(name)}.",
            "player": (answer.video, start)}


def _relative(path: Path, allowed_dirs) -> str:
    for folder in allowed_dirs:
        if path == Path(folder) or path.is_relative_to(Path(folder)):
            return str(path.relative_to(Path(folder))) or "."
    return path.name


def _hide_paths(note: str, state: LibraryState) -> str:
    """A library note or reason with its server paths written relative to the allowed folder."""
    return note.replace(str(state.root) + "/", "").replace(str(state.root), ".") if state.root else note
