"""Preparing a library's videos: ingest each into the frame cache and build its frame index, in this process or
in worker processes.

`prepare_videos(paths, config, embedder, spec, workers=N)` yields `(path, outcome)` as each video is done:
the outcome is the video's manifest entry (`key`, `directory`, `frames`, `duration`) or `{"skipped": reason}`
for a file that is not a readable video; one bad file never stops the others. With `workers` > 1 each worker
process loads the embedder from its spec once and handles whole videos; only paths, the configuration and
these small dicts cross between processes. If a worker process dies, the videos not yet done are prepared
in this process. Ctrl-C stops the workers this call started and no other process.
It keeps no library state (that is `agentime.library`'s job).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from agentime.config import Config
from agentime.errors import AgentimeError, CacheError
from agentime.index.frame_index import FrameIndex

_worker_embedder = None  # the embedder a worker process loaded from its spec, once


def saved_frame_index(directory: Path, embedder_name: str) -> FrameIndex | None:
    """A video's saved frame index; None when missing or damaged (the caller builds it again)."""
    try:
        return FrameIndex.load(directory, embedder_name)
    except CacheError:
        return None


def prepare_video(path: Path, config: Config, embedder) -> dict:
    """Ingest `path` (or find it in the cache) and make sure its frame index is saved; its manifest entry."""
    from agentime.video.ingest import ingest

    try:
        result = ingest(path, config)
        frame_index = saved_frame_index(result.directory, embedder.name)
        if frame_index is None or len(frame_index) != result.frames:
            frame_index = FrameIndex.build(embedder, result.iter_frames())
            frame_index.save(result.directory)
    except (AgentimeError, OSError) as exc:
        return {"skipped": " ".join(str(exc).split()) or type(exc).__name__}
    entry = {"key": result.key, "directory": str(result.directory), "frames": result.frames,
             "duration": result.info.duration, "start_offset": result.info.start_offset}
    speech, problem = transcript_index(path, entry, config)
    entry["speech_segments"] = len(speech) if speech is not None else 0
    if problem:
        entry["speech_problem"] = problem
    return entry


def transcript_index(path: Path, entry: dict, config: Config):
    """(SpeechIndex or None, a line saying why a transcript could not be used, or None) for an added video.

    Its segment embeddings are stored beside the video's frames (`SpeechIndex.build`), so the library's
    speech index is put together again from them without encoding a line twice. Never raises for the
    transcript: a video without usable speech is still searched by its frames.
    """
    from agentime.errors import SpeechError
    from agentime.speech.index import SpeechIndex
    from agentime.speech.transcript import load_transcript

    try:
        transcript, failures = load_transcript(path, duration=entry["duration"],
                                               start_offset=entry.get("start_offset", 0.0),
                                               settings=config.speech, cache_folder=entry["directory"])
        if transcript is None or not transcript.segments:
            return None, "; ".join(failures) or None
        return SpeechIndex.build(transcript, entry["directory"]), None
    except (SpeechError, OSError) as exc:
        return None, " ".join(str(exc).split()) or type(exc).__name__


def prepare_videos(paths: Sequence[Path], config: Config, embedder, embedder_spec: str | None, *,
                   workers: int = 1) -> Iterator[tuple[Path, dict]]:
    """Each path with its outcome, in the order they finish (see the module docstring)."""
    workers = max(1, int(workers))
    if workers == 1 or len(paths) < 2 or embedder_spec is None:
        for path in paths:
            yield path, prepare_video(path, config, embedder)
        return
    yield from _in_workers(list(paths), config, embedder, embedder_spec, min(workers, len(paths)))


def _in_workers(paths: list[Path], config: Config, embedder, spec: str, workers: int) -> Iterator[tuple[Path, dict]]:
    before = {child.pid for child in multiprocessing.active_children()}
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn, not fork: a forked copy of a process that already runs torch threads can hang
    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(spec, threads))
    left = dict.fromkeys(paths)
    try:
        running = {executor.submit(_prepare_in_worker, str(path), config): path for path in paths}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                path = running.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    continue  # prepared here below
                del left[path]
                yield path, outcome
    except BrokenProcessPool:
        pass
    except BaseException:  # Ctrl-C or the caller gave up: end the workers this call started, and only those
        for child in multiprocessing.active_children():
            if child.pid not in before:
                child.terminate()
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    for path in left:  # a worker died: the videos it did not finish are prepared in this process
        yield path, prepare_video(path, config, embedder)


def _start_worker(spec: str, threads: int) -> None:
    global _worker_embedder
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends the workers
    import torch

    from agentime.vlm.registry import load_embedder

    torch.set_num_threads(threads)
    _worker_embedder = load_embedder(spec)


def _prepare_in_worker(path: str, config: Config) -> dict:
    return prepare_video(Path(path), config, _worker_embedder)
