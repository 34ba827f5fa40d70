"""Ingest a video: sample its base overview once and keep it in the frame cache.

`ingest(path, config)` opens the video, samples it at the overview rate with the cheapest decoding method,
downscales the frames and writes them chunk by chunk into the cache (`cache.py`). An interrupted ingest
resumes after its last complete chunk; a finished one is found again from the file's identity in well under
a second. Nothing here chooses decoding methods (`sampling.py`) or file formats (`cache.py`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from agentime.config import Config
from agentime.video.cache import OverviewStore, atomic_write_json, video_key
from agentime.video.frames import Frame
from agentime.video.sampling import plan_sampling, sample_frames
from agentime.video.source import VideoInfo, VideoSource, check_video_path, open_video

CACHE_FORMAT = 1


@dataclass(frozen=True)
class IngestResult:
    """What an ingest produced: where the overview lives and how it was made."""

    key: str
    directory: Path
    info: VideoInfo
    frames: int
    seconds: float
    method: str
    cached: bool  # True when the overview was already complete and nothing was decoded
    resumed_from: float | None  # time of the last stored frame an interrupted ingest had reached

    @property
    def store(self) -> OverviewStore:
        return OverviewStore(self.directory)

    def iter_frames(self):
        return self.store.iter_frames()

    def summary(self) -> dict:
        return {
            "video": self.info.path, "duration": self.info.duration, "fps": self.info.fps,
            "size": [self.info.width, self.info.height], "codec": self.info.codec,
            "frames_sampled": self.frames, "method": self.method, "seconds": round(self.seconds, 3),
            "cached": self.cached, "resumed_from": self.resumed_from, "cache": str(self.directory),
        }


def overview_directory(config: Config, key: str) -> Path:
    v = config.video
    return Path(config.cache_dir) / key / f"overview_{v.overview_fps:g}fps_{v.max_side}px_q{v.jpeg_quality}"


def ingest(
    video: str | os.PathLike | VideoSource,
    config: Config | None = None,
    *,
    progress: bool = False,
    allow_truncated: bool = False,
    stop_after_chunks: int | None = None,
) -> IngestResult:
    """Sample the overview of `video` into the cache (or find it there) and describe the result.

    `stop_after_chunks` stops after writing that many new chunks, leaving a resumable partial overview
    (for tests and for callers that ingest in slices).
    """
    config = config or Config()
    began = time.perf_counter()
    path = video.path if isinstance(video, VideoSource) else os.fspath(video)
    key = video_key(check_video_path(path))
    store = OverviewStore(overview_directory(config, key))

    manifest = store.manifest()
    if manifest is not None:
        return _result_from_manifest(store, key, manifest, began)

    source = video if isinstance(video, VideoSource) else open_video(path, allow_truncated=allow_truncated)
    with store.lock():
        manifest = store.manifest()  # another process may have finished it while we waited
        if manifest is not None:
            return _result_from_manifest(store, key, manifest, began)
        return _ingest_locked(source, store, key, config, began, progress, stop_after_chunks)


def _ingest_locked(source: VideoSource, store: OverviewStore, key: str, config: Config, began: float,
                   progress: bool, stop_after_chunks: int | None) -> IngestResult:
    v = config.video
    chunks, last_t, stored = store.last_time()
    start = 0.0 if last_t is None else min(source.info.duration, last_t + 0.5 / v.overview_fps)
    plan = plan_sampling(source, fps=v.overview_fps, start=start)
    total = len(plan.targets) + stored
    buffer: list[Frame] = []
    written = 0
    with tqdm(total=total, initial=stored, unit="frame", desc="ingest", disable=not progress) as bar:
        if plan.targets.size:
            for frame in sample_frames(source, fps=v.overview_fps, start=start, max_side=v.max_side,
                                       method=plan.method):
                if last_t is not None and frame.t <= last_t:
                    continue
                buffer.append(frame)
                bar.update(1)
                if len(buffer) >= v.chunk_frames:
                    store.write_chunk(chunks, buffer, v.jpeg_quality)
                    chunks, stored, written, buffer = chunks + 1, stored + len(buffer), written + 1, []
                    if stop_after_chunks is not None and written >= stop_after_chunks:
                        return IngestResult(key, store.directory, source.info, stored,
                                            time.perf_counter() - began, plan.method, False, last_t)
        if buffer:
            store.write_chunk(chunks, buffer, v.jpeg_quality)
            stored += len(buffer)
    manifest = {
        "format": CACHE_FORMAT, "key": key, "info": source.info.to_dict(), "frames": stored,
        "overview_fps": v.overview_fps, "max_side": v.max_side, "jpeg_quality": v.jpeg_quality,
        "method": plan.method,
    }
    atomic_write_json(store.manifest_path, manifest)
    return IngestResult(key, store.directory, source.info, stored, time.perf_counter() - began, plan.method,
                        False, last_t)


def _result_from_manifest(store: OverviewStore, key: str, manifest: dict, began: float) -> IngestResult:
    info = VideoInfo(**manifest["info"])
    return IngestResult(key, store.directory, info, int(manifest["frames"]), time.perf_counter() - began,
                        manifest.get("method", "?"), True, None)
