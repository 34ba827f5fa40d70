"""Stream recordings started by the UI's visitors: only from hosts the operator allowed, bounded, cleaned up.

Each recording lives in its own folder under this process's folder (`<temp>/agentime-ui-recordings/<pid>`),
holds at most `max_recording_mb` and `max_recording_minutes`, and is removed when its visitor switches video
or leaves, when the UI stops, or (if the process was killed) when the next UI starts. The URL is checked
against the operator's allow-list after DNS resolution and then opened at the checked address, so a name
that resolves differently a moment later cannot redirect the connection; HTTP redirects are refused. An
HTTP(S) input is read through `checked_http.CheckedOpener`, so each URL FFmpeg opens for it (an HLS playlist's
variant playlists, segments and keys) passes the same check. Every failure reads the same to the visitor, so
the box cannot be used to learn which hosts or ports answer.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from agentime.errors import AgentimeError, ConfigError
from agentime.net_guard import pin_url
from agentime.video.checked_http import CheckedOpener

log = logging.getLogger("agentime.ui")

STREAMS_OFF = ("recording streams is off on this server; upload a video or open one by path (the operator can "
               "allow stream hosts with --allow-stream-hosts)")
NOT_RECORDED = ("could not record from that address: it is not allowed on this server, not reachable, or sends "
                "no video. Check the URL, or ask the operator which stream hosts are allowed")
TOO_MANY = "the server is recording as many streams as it allows; try again later"


def default_root() -> Path:
    return Path(tempfile.gettempdir()) / f"agentime-ui-recordings-{os.getuid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pinned(url: str, address: str) -> tuple[str, dict]:
    """(URL to open, FFmpeg options) connecting to the checked `address` rather than resolving the name again."""
    target, host_header = pin_url(url, address)
    options = {"max_redirects": "0"} if urlsplit(url).scheme.lower() in ("http", "https") else {}
    if host_header:
        options["headers"] = f"Host: {host_header}\r\n"
    return target, options


def _asks_to_listen(url: str) -> bool:
    """FFmpeg reads options from a URL's query: `listen` (or SRT's listener mode) would make the server open a
    port for anyone to connect to, instead of connecting out."""
    query = urlsplit(url).query.lower()
    return "listen" in query


class Recordings:
    """The recordings of this UI process; `start` one per visitor, `discard` it when done."""

    def __init__(self, settings, root: Path | None = None):
        self.settings = settings
        self.folder = (root or default_root()) / str(os.getpid())
        self._active: set = set()
        self._lock = threading.Lock()
        remove_leftovers(self.folder.parent)
        atexit.register(self.discard_all)

    def start(self, url: str, *, open_timeout: float = 15.0):
        """A started `StreamRecorder` for `url`; raises ConfigError with a message that reveals nothing."""
        from agentime.video.stream import StreamRecorder

        if not self.settings.streams_allowed:
            raise ConfigError(STREAMS_OFF)
        with self._lock:
            if len(self._active) >= self.settings.max_recordings:
                raise ConfigError(TOO_MANY)
            folder = self.folder / uuid.uuid4().hex
            folder.mkdir(parents=True, mode=0o700)
            recorder = None
            try:
                if _asks_to_listen(url):
                    raise ConfigError("a stream URL that asks the server to listen for connections")
                policy = self.settings.stream_policy()
                addresses = policy.check_url(url)
                if urlsplit(url).scheme.lower() in ("http", "https"):
                    # every URL of the input (an HLS playlist's segments too) is checked as FFmpeg opens it
                    target, options = url, {}
                    io_open = CheckedOpener(policy.check_url, timeout=open_timeout)
                else:
                    (target, options), io_open = pinned(url, addresses[0]), None
                recorder = StreamRecorder(target, folder / "recording.mp4", open_timeout=open_timeout,
                                          max_bytes=int(self.settings.max_recording_mb * 1e6),
                                          max_seconds=self.settings.max_recording_minutes * 60, options=options,
                                          io_open=io_open)
                self._active.add(recorder)
            except AgentimeError as exc:
                shutil.rmtree(folder, ignore_errors=True)
                log.info("stream %s refused: %s", url, exc)
                raise ConfigError(NOT_RECORDED) from None
        try:
            return recorder.start()
        except AgentimeError as exc:
            log.info("stream %s failed: %s", url, exc)
            self.discard(recorder)
            raise ConfigError(NOT_RECORDED) from None

    def discard(self, recorder) -> None:
        """Stop `recorder` and delete its folder."""
        if recorder is None:
            return
        recorder.stop()
        with self._lock:
            self._active.discard(recorder)
        if recorder.path.parent.parent == self.folder:
            shutil.rmtree(recorder.path.parent, ignore_errors=True)

    def discard_all(self) -> None:
        for recorder in list(self._active):
            self.discard(recorder)
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def active(self) -> int:
        return len(self._active)


def remove_leftovers(root: Path) -> list[Path]:
    """Delete the recording folders of UI processes that are no longer running; returns what was removed."""
    removed = []
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        if entry.is_dir() and entry.name.isdigit() and not _alive(int(entry.name)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
