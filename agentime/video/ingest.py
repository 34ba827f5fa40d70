"""Ingest a video: sample its base overview once and keep it in the frame cache.

`ingest(path, config)` opens the video, samples it at the overview rate with the cheapest decoding method,
downscales the frames and writes them chunk by chunk into the cache (`cache.py`); a thread decodes ahead
while the caller's thread encodes and stores (and, through `on_chunk`, embeds: `agentime.index.ingest_index`).
An interrupted ingest resumes after its last complete chunk; a finished one is found again from the file's
identity in well under a second, after its chunks are checked (by size and time against the manifest; a
changed chunk is read whole): damaged ones are dropped and rebuilt, and the result says so. An ingest that
samples no frame is an error and leaves no manifest. Before decoding, an overview the cache's disk cannot
hold is refused with the estimate (`CacheSpaceError`). A file that changes while it is ingested (a recording
still being written) is refused with `VideoChangedError` and nothing of it is kept: growing recordings are
followed by `live_ingest.py`, which keeps each part it has read as complete up to its `until`. Nothing here
chooses decoding methods (`sampling.py`) or file formats (`cache.py`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from agentime.config import Config, VideoConfig
from agentime.errors import (CacheError, CacheRepairedWarning, CacheSpaceError, NoDecodableFramesError,
                             VideoChangedError)
from agentime.video.cache import OverviewStore, atomic_write_json, video_key
from agentime.video.frames import Frame
from agentime.video.sampling import plan_sampling, sample_frames
from agentime.video.source import VideoInfo, VideoSource, check_video_path, open_video

CACHE_FORMAT = 2  # 2: times from the first displayed frame, frames turned and at display aspect
FRAME_OVERHEAD_BYTES = 1024  # per stored frame beside its pixels: JPEG headers and tables, time, offset


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


ChunkDone = Callable[[int, Path], None]


def ingest(
    video: str | os.PathLike | VideoSource,
    config: Config | None = None,
    *,
    progress: bool = False,
    allow_truncated: bool = False,
    stop_after_chunks: int | None = None,
    on_chunk: ChunkDone | None = None,
) -> IngestResult:
    """Sample the overview of `video` into the cache (or find it there) and describe the result.

    `stop_after_chunks` stops after writing that many new chunks, leaving a resumable partial overview
    (for tests and for callers that ingest in slices). `on_chunk(index, path)` is called with each chunk
    as soon as it is stored, while the next frames are being decoded (the indexer embeds there), and
    before the progress bar counts it.
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
        identity = _identity(path)
        source = video if isinstance(video, VideoSource) else open_video(path, allow_truncated=allow_truncated)
        return _ingest_locked(source, store, key, config, began, progress, stop_after_chunks, repaired,
                              on_chunk, identity)


def _identity(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def _intact(store: OverviewStore) -> bool:
    """True when the overview is complete, in the current format, every chunk checks out and no killed
    writer left a temporary file behind. Chunks whose size and modification time are those the manifest
    recorded when they were written are not read again (an hours-long overview is hundreds of MB); any
    other chunk is read whole, so its checksums are verified."""
    try:
        manifest = store.manifest()
    except CacheError:
        return False
    if manifest is None or manifest.get("format") != CACHE_FORMAT or store.temporary_files():
        return False
    recorded = manifest.get("chunks")
    if not isinstance(recorded, list):
        return store.first_damage() is None
    return store.first_damage(unchanged=_stamps(recorded)) is None


def _stamps(recorded: list) -> dict[str, tuple[int, int]]:
    try:
        return {str(name): (int(size), int(mtime)) for name, size, mtime in recorded}
    except (TypeError, ValueError):
        return {}


def _decode_in_background(source: VideoSource, fps: float, start: float, max_side: int, method: str,
                          depth: int) -> Iterator[Frame]:
    """The sampled frames, decoded by a thread one stage ahead of the caller (who encodes, stores and embeds
    them meanwhile: PyAV, OpenCV and torch release the GIL). At most `depth` frames wait in between."""
    frames: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def hand_over(item: object) -> bool:
        """Queue `item` unless the consumer has stopped; False once it has."""
        while not stop.is_set():
            try:
                frames.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in sample_frames(source, fps=fps, start=start, max_side=max_side, method=method):
                if not hand_over(frame):
                    return
            hand_over(end)
        except BaseException as exc:  # handed to the consumer, raised there
            hand_over(exc)

    worker = threading.Thread(target=produce, name="agentime-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = frames.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                frames.get_nowait()
        worker.join(timeout=5)


def _ingest_locked(source: VideoSource, store: OverviewStore, key: str, config: Config, began: float,
                   progress: bool, stop_after_chunks: int | None, repaired: tuple[str, ...],
                   on_chunk: ChunkDone | None = None, identity: tuple[int, int] | None = None) -> IngestResult:
    v = config.video
    chunks, last_t, stored = store.last_time()
    start = 0.0 if last_t is None else min(source.info.duration, last_t + 0.5 / v.overview_fps)
    plan = plan_sampling(source, fps=v.overview_fps, start=start)
    check_free_space(store.directory, source, len(plan.targets), v)
    total = len(plan.targets) + stored
    buffer: list[Frame] = []
    written = 0

    def store_chunk(bar: tqdm) -> None:
        nonlocal chunks, stored, written, buffer
        path = store.write_chunk(chunks, buffer, v.jpeg_quality)
        if identity is not None and _identity(source.path) != identity:
            _refuse_changed(source.path, store, identity)
        if on_chunk is not None:
            on_chunk(chunks, path)
        bar.update(len(buffer))
        chunks, stored, written, buffer = chunks + 1, stored + len(buffer), written + 1, []

    with tqdm(total=total, initial=stored, unit="frame", desc="ingest", disable=not progress) as bar:
        if plan.targets.size:
            frames = _decode_in_background(source, v.overview_fps, start, v.max_side, plan.method,
                                           depth=2 * v.chunk_frames)
            with contextlib.closing(frames):  # stops the decoding thread however the loop ends
                for frame in frames:
                    if last_t is not None and frame.t <= last_t:
                        continue
                    buffer.append(frame)
                    if len(buffer) >= v.chunk_frames:
                        store_chunk(bar)
                        if stop_after_chunks is not None and written >= stop_after_chunks:
                            return IngestResult(key, store.directory, source.info, stored,
                                                time.perf_counter() - began, plan.method, False, last_t, repaired)
        if buffer:
            store_chunk(bar)
    if stored == 0:
        raise NoDecodableFramesError(
            f"{source.path}: no frame could be sampled at {v.overview_fps:g} fps although the file opens; it is "
            "damaged or in a form this build of FFmpeg cannot decode (try re-encoding it)")
    if identity is not None and _identity(source.path) != identity:  # grown after its last chunk was read
        _refuse_changed(source.path, store, identity)
    manifest = {
        "format": CACHE_FORMAT, "key": key, "info": source.info.to_dict(), "frames": stored,
        "overview_fps": v.overview_fps, "max_side": v.max_side, "jpeg_quality": v.jpeg_quality,
        "method": plan.method, "chunks": store.chunk_stamps(),
    }
    atomic_write_json(store.manifest_path, manifest)
    return IngestResult(key, store.directory, source.info, stored, time.perf_counter() - began, plan.method,
                        False, last_t, repaired)


def _refuse_changed(path: str, store: OverviewStore, identity: tuple[int, int]) -> None:
    """A file that changes while it is ingested is a recording still being written: what was sampled is
    dropped (it belongs to no file that exists any more) and the caller is pointed to the live path."""
    size = _identity(path)[0]
    store.drop(0)
    raise VideoChangedError(
        f"{path} changed while it was being ingested ({identity[0]} bytes, now {size}): it is a recording still "
        "being written; ask with --live (Session(..., live=True)) to follow it, or ingest it once it is finished")


def estimated_cache_bytes(source: VideoSource, frames: int, video: VideoConfig) -> int:
    """A generous estimate of the cache an overview of `frames` frames takes: JPEG at the stored size seldom
    exceeds 3 bits per pixel at quality 90 (real footage; synthetic footage takes far less)."""
    width, height = source.info.width or video.max_side, source.info.height or video.max_side
    scale = min(1.0, video.max_side / max(width, height, 1))
    pixels = max(1, round(width * scale)) * max(1, round(height * scale))
    bits_per_pixel = 1.0 + 2.0 * video.jpeg_quality / 100
    return int(frames * (pixels * bits_per_pixel / 8 + FRAME_OVERHEAD_BYTES))


def check_free_space(directory: Path, source: VideoSource, frames: int, video: VideoConfig) -> None:
    """Refuse, before decoding anything, an overview the cache's disk has no room for."""
    needed = estimated_cache_bytes(source, frames, video)
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise CacheSpaceError(
            f"{source.path}: its overview needs about {_size(needed)} ({frames} frames at {video.overview_fps:g} "
            f"fps, {video.max_side} px) but the cache at {directory} has {_size(free)} free; free some space, set "
            "AGENTIME_CACHE to a larger disk, or lower video.max_side / video.overview_fps")


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _result_from_manifest(store: OverviewStore, key: str, manifest: dict, began: float,
                          repaired: tuple[str, ...] = ()) -> IngestResult:
    info = VideoInfo(**manifest["info"])
    return IngestResult(key, store.directory, info, int(manifest["frames"]), time.perf_counter() - began,
                        manifest.get("method", "?"), True, None, repaired)
