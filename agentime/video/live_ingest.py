"""Ingest a live recording incrementally: each call appends the footage recorded since the last one.

A growing file's identity changes with every byte, so its overview is kept under a key from its path
(`<cache>/live/<hash of the path>/...`) instead of its content. Each call reads the new tail
(`live.read_tail`, which holds back the last moments until the frames after them exist), appends it as new
chunks and rewrites the manifest atomically. Decoding is `sampling.py`'s job, storage `cache.py`'s.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from pathlib import Path

from agentime.config import Config
from agentime.errors import CacheRepairedWarning
from agentime.video.cache import OverviewStore, atomic_write_json
from agentime.video.ingest import CACHE_FORMAT, IngestResult, overview_directory
from agentime.video.live import read_tail, with_first_frame
from agentime.video.source import check_video_path


def live_key(path: str | os.PathLike) -> str:
    return "live-" + hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:24]


def ingest_live(path: str | os.PathLike, config: Config | None = None, *, final: bool = False) -> IngestResult:
    """Append the new footage of a growing recording to its overview; `final=True` once it has ended."""
    config = config or Config()
    began = time.perf_counter()
    path = check_video_path(path)
    key = live_key(path)
    store = OverviewStore(overview_directory(config, key))
    v = config.video
    with store.lock():
        repaired = tuple(store.repair())
        for note in repaired:
            warnings.warn(note, CacheRepairedWarning, stacklevel=2)
        chunks, last_t, stored = store.last_time()
        tail = read_tail(path, since=last_t if last_t is not None else 0.0, fps=v.overview_fps,
                         max_side=v.max_side, final=final)
        frames = tail.frames if last_t is not None else with_first_frame(path, tail, v.max_side)
        for start in range(0, len(frames), v.chunk_frames):
            store.write_chunk(chunks, frames[start:start + v.chunk_frames], v.jpeg_quality)
            chunks += 1
        stored += len(frames)
        info = tail.info
        atomic_write_json(store.manifest_path, {
            "format": CACHE_FORMAT, "key": key, "info": info.to_dict(), "frames": stored, "live": True,
            "overview_fps": v.overview_fps, "max_side": v.max_side, "jpeg_quality": v.jpeg_quality,
            "method": "live", "until": frames[-1].t if frames else last_t,
        })
    return IngestResult(key, store.directory, info, stored, time.perf_counter() - began, "live", False, last_t,
                        repaired)
