"""Ingest a video: sample its base overview once and keep it in the frame cache.

`ingest(path, config)` opens the video, samples it at the overview rate with the cheapest decoding method,
downscales the frames and writes them chunk by chunk into the cache (`cache.py`). An interrupted ingest
resumes after its last complete chunk; a finished one is found again from the file's identity in well under
a second, after its chunks are checked: damaged ones are dropped and rebuilt, and the result says so. An
ingest that samples no frame is an error and leaves no manifest. Nothing here chooses decoding methods
(`sampling.py`) or file formats (`cache.py`).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from agentime.config import Config
from agentime.errors import CacheError, CacheRepairedWarning, NoDecodableFramesError
from agentime.video.cache import OverviewStore, atomic_write_json, video_key
from agentime.video.frames import Frame
from agentime.video.sampling import plan_sampling, sample_frames
from agentime.video.source import VideoInfo, VideoSource, check_video_path, open_video

CACHE_FORMAT = 2  # 2: times from the first displayed frame, frames turned and at display aspect


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
    repaired: tuple[str, ...] = ()  # one line per damaged cache part that was dropped and rebuilt

    @property
    def store(self) -> OverviewStore:
        return OverviewStore(self.directory)

    def iter_frames(self):
        return self.store.iter_frames()

    def summary(self) -> dict:
        """The facts `agentime ingest --json` prints (sizes are as displayed, times on the video's clock)."""
        i = self.info
        return {
            "video": i.path, "duration": i.duration, "start_offset": i.start_offset, "width": i.width,
            "height": i.height, "rotation": i.rotation, "mirrored": i.mirrored,
            "sample_aspect_ratio": i.sample_aspect_ratio, "fps": i.fps, "variable_frame_rate": i.variable_frame_rate,
            "frames_sampled": self.frames, "codec": i.codec, "container": i.container,
            "video_track": i.stream_index, "video_tracks": i.video_tracks, "truncated": i.truncated,
            "seconds": round(self.seconds, 3), "method": self.method, "cached": self.cached,
            "resumed_from": self.resumed_from, "repaired": list(self.repaired), "cache": str(self.directory),
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
    allow_truncated = allow_truncated or config.video.allow_truncated
    began = time.perf_counter()
    path = video.path if isinstance(video, VideoSource) else os.fspath(video)
    key = video_key(check_video_path(path))
    store = OverviewStore(overview_directory(config, key))

    if _intact(store):
        return _result_from_manifest(store, key, store.manifest(), began)

    with store.lock():
        repaired = tuple(store.repair(CACHE_FORMAT))
        for note in repaired:
            warnings.warn(note, CacheRepairedWarning, stacklevel=2)
        manifest = store.manifest()  # another process may have finished it while we waited
        if manifest is not None:
            return _result_from_manifest(store, key, manifest, began, repaired)
        source = video if isinstance(video, VideoSource) else open_video(path, allow_truncated=allow_truncated)
        return _ingest_locked(source, store, key, config, began, progress, stop_after_chunks, repaired)


def _intact(store: OverviewStore) -> bool:
    """True when the overview is complete, in the current format, every chunk checks out and no killed
    writer left a temporary file behind."""
    try:
        manifest = store.manifest()
    except CacheError:
        return False
    return (manifest is not None and manifest.get("format") == CACHE_FORMAT and not store.temporary_files()
            and store.first_damage() is None)


def _ingest_locked(source: VideoSource, store: OverviewStore, key: str, config: Config, began: float,
                   progress: bool, stop_after_chunks: int | None, repaired: tuple[str, ...]) -> IngestResult:
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
                                            time.perf_counter() - began, plan.method, False, last_t, repaired)
        if buffer:
            store.write_chunk(chunks, buffer, v.jpeg_quality)
            stored += len(buffer)
    if stored == 0:
        raise NoDecodableFramesError(
            f"{source.path}: no frame could be sampled at {v.overview_fps:g} fps although the file opens; it is "
            "damaged or in a form this build of FFmpeg cannot decode (try re-encoding it)")
    manifest = {
        "format": CACHE_FORMAT, "key": key, "info": source.info.to_dict(), "frames": stored,
        "overview_fps": v.overview_fps, "max_side": v.max_side, "jpeg_quality": v.jpeg_quality,
        "method": plan.method,
    }
    atomic_write_json(store.manifest_path, manifest)
    return IngestResult(key, store.directory, source.info, stored, time.perf_counter() - began, plan.method,
                        False, last_t, repaired)


def _result_from_manifest(store: OverviewStore, key: str, manifest: dict, began: float,
                          repaired: tuple[str, ...] = ()) -> IngestResult:
    info = VideoInfo(**manifest["info"])
    return IngestResult(key, store.directory, info, int(manifest["frames"]), time.perf_counter() - began,
                        manifest.get("method", "?"), True, None, repaired)
