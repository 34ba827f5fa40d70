"""Ingest a video and index its frames in one pass that survives being killed: what hours-long videos need.

`ingest_and_index(video, config, embedder)` runs the ingest (`agentime.video.ingest`) with a callback that
embeds each chunk as soon as it is stored, while the ingest's own thread decodes the next frames: two stages
on two cores. Each chunk's rows are saved at once (`ChunkEmbeddings`), so a killed run resumes after the last
chunk that was stored and embedded. Then any stored chunk without rows (an overview ingested earlier without
an index) is embedded, and the `FrameIndex` is filled from the saved rows one chunk at a time and saved
beside the overview, where the agent loads it. An index already saved for a cached overview is loaded, not
rebuilt. This module decodes no video itself and chooses no frames for a search.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from agentime.config import Config
from agentime.errors import CacheError
from agentime.index.frame_index import ChunkEmbeddings, FrameIndex
from agentime.video.cache import OverviewStore, decode_chunk
from agentime.video.ingest import IngestResult, ingest
from agentime.video.source import VideoSource


def ingest_and_index(video: str | os.PathLike | VideoSource, config: Config | None = None, embedder=None, *,
                     progress: bool = False, allow_truncated: bool = False,
                     stop_after_chunks: int | None = None,
                     load_index: bool = True) -> tuple[IngestResult, FrameIndex | None]:
    """The ingested overview of `video` and its frame index (None while the overview is incomplete, after
    `stop_after_chunks`, and, with `load_index=False`, when a matching index is already saved: the caller
    loads it once, not at every call)."""
    if embedder is None:
        raise ValueError("ingest_and_index needs an embedder")
    name = getattr(embedder, "name", "")

    def embed_chunk(chunk: int, path: Path) -> None:
        frames = decode_chunk(path)  # the stored frames, as the search will see them
        ChunkEmbeddings(path.parent, name).save(chunk, np.array([f.t for f in frames]), embedder.embed_images(frames))

    with models_beside_a_decoder():
        result = ingest(video, config, progress=progress, allow_truncated=allow_truncated,
                        stop_after_chunks=stop_after_chunks, on_chunk=embed_chunk)
        if not result.store.complete:
            return result, None
        if result.cached:
            if not load_index and FrameIndex.saved_length(result.directory, name) == result.frames:
                return result, None
            saved = _saved(result.directory, name)
            if saved is not None and len(saved) == result.frames:
                return result, saved
        # a fresh ingest embedded every chunk already: a second bar only where stored chunks still need it
        rows = _rows_by_chunk(result.store, embedder, name, progress and result.cached)
        index = FrameIndex.from_parts(rows, _dim(embedder), name)
    index.save(result.directory)
    return result, index


def _rows_by_chunk(store: OverviewStore, embedder, name: str, progress: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(times, rows) of each chunk in order: the saved rows, else the chunk embedded now (and saved)."""
    parts = ChunkEmbeddings(store.directory, name)
    paths = store.chunk_paths()
    with tqdm(total=len(paths), unit="chunk", desc="index", disable=not progress) as bar:
        for chunk, (path, times) in enumerate(zip(paths, store.chunk_times(), strict=True)):
            rows = parts.load(chunk, times)
            if rows is None:
                frames = decode_chunk(path)
                rows = embedder.embed_images(frames)
                parts.save(chunk, times, rows)
            bar.update(1)
            yield times, rows


def _saved(directory: Path, name: str) -> FrameIndex | None:
    try:
        return FrameIndex.load(directory, name)
    except CacheError:
        return None  # unreadable: rebuilt from the saved rows


def _dim(embedder) -> int:
    return int(getattr(embedder, "dim", 0) or embedder.embed_texts(["probe"]).shape[1])


@contextlib.contextmanager
def models_beside_a_decoder() -> Iterator[None]:
    """Leave one core to the decoding thread: torch's own threads would otherwise compete with it for every
    core and spin-wait on a busy machine. Nothing changes when torch is not loaded (an HTTP embedder)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, (os.cpu_count() or 2) - 1)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
