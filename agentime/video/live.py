"""Follow a live recording: a video file that is still being written.

`read_tail(path, since)` re-opens the file and samples only what was recorded after `since`; `LiveRecording`
remembers how far it has read so each `poll()` returns just the new footage. Recorders should write
fragmented MP4 (or MPEG-TS) so a growing file stays readable; a partly written last fragment is tolerated.
This module does not cache: callers ingest or index what they get.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from agentime.errors import TimestampOutOfRangeError
from agentime.video.frames import Frame
from agentime.video.sampling import sample_frames
from agentime.video.source import VideoInfo, open_video


@dataclass(frozen=True)
class Tail:
    """New footage: the frames recorded after `since` and the file as it was when it was read."""

    since: float
    frames: list[Frame]
    info: VideoInfo

    @property
    def until(self) -> float:
        return self.frames[-1].t if self.frames else self.since


def read_tail(path: str | os.PathLike, since: float, *, fps: float = 1.0, max_side: int | None = None,
              final: bool = False) -> Tail:
    """Frames at `fps` recorded strictly after `since` seconds (none if nothing new was written).

    While the file grows, the last grid times are held back until the frames after them exist, so that
    every returned frame is the one a read of the finished file would return; `final=True` reads to the end.
    """
    if since < 0:
        raise TimestampOutOfRangeError(f"since must be >= 0 seconds, got {since}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a growing file always looks truncated at its end
        source = open_video(path, allow_truncated=True)
    info = source.info
    hold_back = 0.0 if final else (info.reference_interval or 0.0) + (1.0 / info.fps if info.fps else 0.0)
    end = info.duration - hold_back
    start = since + 1e-6
    if start >= end:
        return Tail(since, [], info)
    frames = [f for f in sample_frames(source, fps=fps, start=start, end=end, max_side=max_side) if f.t > since]
    if frames and not final:
        # The file's index may list samples whose bytes are not written yet; what decoded last is the edge.
        edge = frames[-1].t - hold_back
        frames = [f for f in frames if f.t <= edge]
    return Tail(since, frames, info)


def with_first_frame(path: str | os.PathLike, tail: Tail, max_side: int | None) -> list[Frame]:
    """A first read of a recording keeps its frame at t = 0 too (`read_tail` returns frames after `since`)."""
    if not tail.info.duration:
        return tail.frames
    first = list(sample_frames(path, timestamps=[0.0], max_side=max_side))
    return first + [f for f in tail.frames if f.t > first[0].t]


class LiveRecording:
    """A growing video file read incrementally; `poll()` returns what was added since the last poll."""

    def __init__(self, path: str | os.PathLike, *, fps: float = 1.0, max_side: int | None = None):
        self.path = os.fspath(path)
        self.fps = fps
        self.max_side = max_side
        self.seen_until: float = -1.0
        self.info: VideoInfo | None = None

    def poll(self, *, final: bool = False) -> Tail:
        """New frames since the last poll; `final=True` once the recording has ended, to get its last frames."""
        tail = read_tail(self.path, max(0.0, self.seen_until), fps=self.fps, max_side=self.max_side, final=final)
        if self.seen_until < 0:  # first poll: include the frame at t = 0
            tail = Tail(0.0, with_first_frame(self.path, tail, self.max_side), tail.info)
        if tail.frames:
            self.seen_until = tail.frames[-1].t
        self.info = tail.info
        return tail
