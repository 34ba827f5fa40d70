"""Record a network stream (rtsp://, rtmp://, http(s):// progressive or HLS, udp://, srt://) into a growing file.

`StreamRecorder(url, path).start()` copies the stream's video packets, without re-encoding, into a fragmented
MP4 in a background thread; the file stays readable while it grows, so it is followed like any live
recording (`LiveRecording`, `Session(live=True)`). This module moves packets; it never decodes or samples.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from agentime.errors import VideoError
from agentime.video.checked_http import CUSTOM_IO_HLS_OPTIONS

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class StreamError(VideoError):
    """A stream URL cannot be opened or recorded."""


def is_stream_url(text: str) -> bool:
    match = _SCHEME.match(text or "")
    return bool(match) and match.group(1).lower() in STREAM_SCHEMES


class StreamRecorder:
    """Copies a stream's video packets into `path` (fragmented MP4) until `stop()` or the stream ends."""

    def __init__(self, url: str, path: str | os.PathLike, *, open_timeout: float = 15.0,
                 max_bytes: int | None = None, max_seconds: float | None = None, options: dict | None = None,
                 io_open=None):
        """`max_bytes` / `max_seconds` (of footage) end the recording when reached (`limit_reached` says
        which); `options` are extra FFmpeg options for opening the URL (e.g. {"max_redirects": "0"});
        `io_open` (e.g. a `checked_http.CheckedOpener`) opens every URL of an HTTP input, playlists' too."""
        if not is_stream_url(url):
            raise StreamError(f"{url!r} is not a stream URL; use one of {', '.join(s + '://' for s in STREAM_SCHEMES)}")
        self.url, self.path, self.open_timeout = url, Path(path), open_timeout
        self.max_bytes, self.max_seconds, self.options = max_bytes, max_seconds, dict(options or {})
        self.io_open = io_open
        self.packets = 0
        self.bytes_written = 0
        self.limit_reached: str | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, wait_for_first_keyframe: bool = True) -> StreamRecorder:
        """Start recording; with `wait_for_first_keyframe`, return once the file holds a decodable start."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._record, name=f"record {self.url}", daemon=True)
        self._thread.start()
        if wait_for_first_keyframe:
            if not self._opened.wait(self.open_timeout) and self.error is None:
                self.stop()
                raise StreamError(f"no video arrived from {self.url} within {self.open_timeout:g} s")
            if self.error is not None:
                raise StreamError(self.error)
            self._wait_until_readable()
        return self

    def _wait_until_readable(self) -> None:
        """The muxer writes a fragment out a little after it is complete: poll until the file opens."""
        import warnings

        from agentime.video.source import open_video

        deadline = time.monotonic() + self.open_timeout
        while True:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    open_video(self.path, allow_truncated=True)
                return
            except VideoError:
                if time.monotonic() > deadline or (not self.running and self.error):
                    self.stop()
                    raise StreamError(self.error or f"the recording of {self.url} stays unreadable") from None
                time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _over_limit(self, size: int, seconds: float) -> bool:
        if self.max_bytes is not None and size > self.max_bytes:
            self.limit_reached = f"size limit of {self.max_bytes / 1e6:g} MB"
        elif self.max_seconds is not None and seconds > self.max_seconds:
            self.limit_reached = f"length limit of {self.max_seconds:g} s"
        return self.limit_reached is not None

    def _record(self) -> None:
        import av

        timeout_us = str(int(self.open_timeout * 1e6))
        options = {"rw_timeout": timeout_us, "timeout": timeout_us, **self.options}
        opened = {}
        if self.io_open is not None:
            opened = {"io_open": self.io_open}
            options.update(CUSTOM_IO_HLS_OPTIONS)
        try:
            source = av.open(self.url, options=options, timeout=self.open_timeout, **opened)
        except (av.error.FFmpegError, OSError) as exc:
            self.error = f"cannot open the stream {self.url}: {exc}"
            self._opened.set()
            return
        try:
            if not source.streams.video:
                self.error = f"{self.url} carries no video"
                return
            video = source.streams.video[0]
            with av.open(str(self.path), "w", format="mp4",
                         options={"movflags": "frag_keyframe+empty_moov+default_base_moof"}) as sink:
                out = sink.add_stream_from_template(video)
                started = False
                first_time, began = None, time.monotonic()
                for packet in source.demux(video):
                    if self._stop.is_set():
                        break
                    if packet.dts is None or packet.size == 0:
                        continue
                    if not started and not packet.is_keyframe:
                        continue  # a recording starts at a keyframe, or its first frames cannot be decoded
                    started = True
                    seconds = float(packet.dts * packet.time_base)
                    first_time = seconds if first_time is None else first_time
                    # Footage time or wall time, whichever is longer: a stream cannot stretch either.
                    elapsed = max(seconds - first_time, time.monotonic() - began)
                    if self._over_limit(self.bytes_written + packet.size, elapsed):
                        break
                    packet.stream = out
                    self.bytes_written += packet.size
                    sink.mux(packet)
                    self.packets += 1
                    if packet.is_keyframe and self.packets > 1:
                        self._opened.set()  # a fragment with a keyframe has been written
        except (av.error.FFmpegError, OSError) as exc:
            self.error = f"the stream {self.url} failed: {exc}"
        finally:
            source.close()
            self._opened.set()
