"""An ingested video by time: overview frames from the ingest cache, other times decoded from the file.

`VideoView` is what a search looks at; it holds at most a few cached chunks in memory and never the whole
video. It knows nothing of models or search policy.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from agentime.video.cache import ChunkFrames, OverviewStore
from agentime.video.frames import Frame
from agentime.video.sampling import sample_frames
from agentime.video.source import VideoInfo, VideoSource

_CHUNK_CACHE = 32  # chunks held in memory (their JPEG bytes, and the frames decoded so far)


class VideoView:
    """Frames of one ingested video by time; at most a few cached chunks in memory."""

    def __init__(self, path: str, info: VideoInfo, store: OverviewStore, max_side: int):
        self.path, self.info, self.store, self.max_side = path, info, store, max_side
        self._source = VideoSource(replace(info, path=str(path)))  # described at ingest: no probe per decode
        self._chunks = store.chunk_paths()
        self._chunk_times = store.chunk_times()
        self.overview_times = np.concatenate(self._chunk_times) if self._chunk_times else np.zeros(0)
        self._chunk_starts = [float(t[0]) if t.size else float("inf") for t in self._chunk_times]
        self._loaded: OrderedDict[int, ChunkFrames] = OrderedDict()

    @property
    def duration(self) -> float:
        return self.info.duration

    def overview_between(self, start: float, end: float) -> np.ndarray:
        """The overview's frame times in [start, end)."""
        lo, hi = np.searchsorted(self.overview_times, [start, end], side="left")
        return self.overview_times[lo:hi]

    def _chunk_frames(self, index: int) -> ChunkFrames:
        if index not in self._loaded:
            self._loaded[index] = ChunkFrames(self._chunks[index])
            while len(self._loaded) > _CHUNK_CACHE:
                self._loaded.popitem(last=False)
        self._loaded.move_to_end(index)
        return self._loaded[index]

    def frames_at(self, times: Sequence[float]) -> list[Frame]:
        """Frames at the given times, in the given order: cached overview frames, else decoded."""
        out: dict[float, Frame] = {}
        missing = []
        for t in times:
            chunk = bisect.bisect_right(self._chunk_starts, t + 1e-9) - 1
            frame = self._chunk_frames(chunk).get(t) if chunk >= 0 else None
            if frame is None:
                missing.append(t)
            else:
                out[t] = frame
        if missing:
            decoded = sample_frames(self._source, timestamps=sorted(set(missing)), max_side=self.max_side)
            for asked, frame in zip(sorted(set(missing)), decoded, strict=True):
                out[asked] = Frame(asked, frame.image) if abs(frame.t - asked) < 1e-3 else frame
        return [out[t] for t in times]
