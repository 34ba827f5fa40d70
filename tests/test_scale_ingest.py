"""Hours-long videos: ingest and index in one resumable pass, a cheap check of a cached overview, a refusal
before starting when the cache's disk is too small, and a recording that grows while it is ingested."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agentime.cli import main as cli_main
from agentime.config import Config, VideoConfig
from agentime.errors import CacheSpaceError, VideoChangedError
from agentime.index.frame_index import ChunkEmbeddings, FrameIndex
from agentime.index.ingest_index import ingest_and_index
from agentime.video import cache as cache_module
from agentime.video import ingest as ingest_module
from agentime.video.cache import OverviewStore, video_key
from agentime.video.ingest import estimated_cache_bytes, ingest
from agentime.video.live_ingest import ingest_live
from agentime.video.source import open_video
from agentime.vlm.registry import load_embedder

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "data" / "real_videos" / "edit_list_positive_shift.mp4"  # 9 s


def config(cache: Path, chunk_frames: int = 4) -> Config:
    return Config(cache_dir=cache, video=VideoConfig(overview_fps=2.0, max_side=64, chunk_frames=chunk_frames))


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("embedded:embedder")


class CountingEmbedder:
    """The shipped embedder, counting the frames it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.name, self.dim, self.frames = inner, inner.name, inner.dim, 0

    def embed_images(self, frames):
        self.frames += len(frames)
        return self.inner.embed_images(frames)


def test_ingest_and_index_gives_the_index_of_the_stored_frames(tmp_path, embedder):
    result, index = ingest_and_index(CLIP, config(tmp_path), embedder)
    plain = FrameIndex.build(embedder, result.iter_frames())
    assert len(index) == result.frames == 18
    assert np.array_equal(index.times, plain.times)
    assert np.allclose(index.embeddings(), plain.embeddings(), atol=1e-5)
    saved = FrameIndex.load(result.directory, embedder.name)  # where the agent looks for it
    assert saved is not None and len(saved) == 18
    counting = CountingEmbedder(embedder)
    again, found = ingest_and_index(CLIP, config(tmp_path), counting)
    assert again.cached and len(found) == 18 and counting.frames == 0


def test_an_overview_ingested_without_an_index_is_indexed_from_the_cache(tmp_path, embedder):
    ingest(CLIP, config(tmp_path))
    counting = CountingEmbedder(embedder)
    result, index = ingest_and_index(CLIP, config(tmp_path), counting)
    assert result.cached and len(index) == 18 and counting.frames == 18


KILLABLE = """
import sys, time
from pathlib import Path
from agentime.config import Config, VideoConfig
from agentime.index.ingest_index import ingest_and_index
from agentime.vlm.registry import load_embedder

inner = load_embedder("embedded:embedder")

class Slow:
    name, dim = inner.name, inner.dim
    def embed_images(self, frames):
        rows = inner.embed_images(frames)
        print("embedded", frames[-1].t, flush=True)
        time.sleep(0.3)
        return rows

config = Config(cache_dir=Path(sys.argv[2]), video=VideoConfig(overview_fps=2.0, max_side=64, chunk_frames=4))
ingest_and_index(sys.argv[1], config, Slow())
"""


def test_an_ingest_killed_while_indexing_resumes_where_it_stopped(tmp_path, embedder):
    cache = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", KILLABLE, str(CLIP), str(cache)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    embedded = 0
    for line in process.stdout:
        embedded += line.startswith("embedded")
        if embedded == 3:  # the rows of the first two chunks are saved by now
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    store = OverviewStore(ingest_module.overview_directory(config(cache), video_key(CLIP)))
    assert not store.complete and FrameIndex.load(store.directory, embedder.name) is None
    stored = store.chunk_times()
    parts = ChunkEmbeddings(store.directory, embedder.name)
    kept = [parts.load(i, t) is not None for i, t in enumerate(stored)]
    assert 2 <= sum(kept) < 5 and all(kept[: sum(kept)])  # 18 frames make 5 chunks

    counting = CountingEmbedder(embedder)
    result, index = ingest_and_index(CLIP, config(cache), counting)
    assert result.resumed_from is not None and not result.cached
    assert counting.frames == 18 - 4 * sum(kept)  # only what had not been embedded yet
    _, clean = ingest_and_index(CLIP, config(tmp_path / "clean"), embedder)
    assert np.array_equal(index.times, clean.times)
    assert np.allclose(index.embeddings(), clean.embeddings(), atol=1e-5)


def test_ingest_shows_one_bar_with_the_time_left(tmp_path, embedder, capsys):
    ingest_and_index(CLIP, config(tmp_path), embedder, progress=True)
    err = capsys.readouterr().err
    assert "ingest" in err and "18/18" in err and "<" in err  # tqdm's [elapsed<remaining]
    assert "index" not in err.replace("ingest", "")


def test_a_cached_overview_is_found_without_reading_its_chunks(tmp_path, monkeypatch):
    first = ingest(CLIP, config(tmp_path))
    read = []
    real_check = cache_module._check_chunk
    monkeypatch.setattr(cache_module, "_check_chunk", lambda path: read.append(path) or real_check(path))
    assert ingest(CLIP, config(tmp_path)).cached and read == []
    touched = first.directory / "chunk_000001.npz"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    assert ingest(CLIP, config(tmp_path)).cached and read == [touched]  # a touched chunk is read whole


def test_an_overview_too_big_for_the_disk_is_refused_before_starting(tmp_path, monkeypatch):
    free = shutil.disk_usage(tmp_path).free
    monkeypatch.setattr(ingest_module.shutil, "disk_usage",
                        lambda path: shutil._ntuple_diskusage(free, free - 2000, 2000))
    with pytest.raises(CacheSpaceError, match=r"needs about [\d.]+ KB .* has 2.0 KB free"):
        ingest(CLIP, config(tmp_path))
    directory = ingest_module.overview_directory(config(tmp_path), video_key(CLIP))
    assert OverviewStore(directory).chunk_paths() == []


def test_cli_refuses_a_full_disk_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ingest_module.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10, 10, 0))
    code = cli_main(["ingest", str(CLIP), "--cache", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "needs about" in err and "0 bytes free" in err


def test_the_estimate_covers_what_is_stored(tmp_path):
    result = ingest(CLIP, config(tmp_path))
    stored = sum(p.stat().st_size for p in result.directory.glob("chunk_*.npz"))
    estimate = estimated_cache_bytes(open_video(CLIP), result.frames, config(tmp_path).video)
    assert stored <= estimate <= 20 * stored


def test_a_recording_that_grows_while_ingested_is_refused_and_nothing_is_kept(tmp_path):
    recording = tmp_path / "recording.mp4"
    shutil.copy(CLIP, recording)
    key = video_key(recording)

    def recorder_writes(chunk, path):
        with open(recording, "ab") as f:
            f.write(b"\0" * 4096)  # the recorder appends while the ingest reads

    with pytest.raises(VideoChangedError, match="still being written.*--live"):
        ingest(recording, config(tmp_path / "cache"), on_chunk=recorder_writes)
    store = OverviewStore(ingest_module.overview_directory(config(tmp_path / "cache"), key))
    assert not store.complete and store.chunk_paths() == []
    live = ingest_live(recording, config(tmp_path / "cache"))  # the documented path for a growing file
    assert live.frames > 0


def test_asking_indexes_through_the_resumable_pass(synthetic_video, tmp_path):
    from oracle_models import OracleEmbedder, OracleVLM

    from agentime.api import Session

    path, world = synthetic_video
    models = {"target": OracleVLM(world), "draft": None, "embedder": OracleEmbedder(world)}
    session = Session(path, models=models, config=Config(cache_dir=tmp_path).with_speech(enabled=False))
    answer = session.ask("When does the red circle appear?", strategy="timesearch", budget=8)
    assert answer.stats["target_frames"] > 0
    directory = ingest_module.overview_directory(Config(cache_dir=tmp_path), video_key(path))
    parts = ChunkEmbeddings(directory, "oracle-embedder")
    times = OverviewStore(directory).chunk_times()
    assert times and all(parts.load(i, t) is not None for i, t in enumerate(times))  # saved per chunk
    assert FrameIndex.saved_length(directory, "oracle-embedder") == sum(t.size for t in times)


def test_a_decoding_error_reaches_the_caller_and_stops_the_ingest(tmp_path, monkeypatch):
    from agentime.errors import CorruptVideoError

    real = ingest_module.sample_frames

    def broken(source, **kwargs):  # the file turns out damaged after a few frames
        yield from list(real(source, **kwargs))[:5]
        raise CorruptVideoError("cut short", 2.0)

    monkeypatch.setattr(ingest_module, "sample_frames", broken)
    with pytest.raises(CorruptVideoError, match="cut short"):
        ingest(CLIP, config(tmp_path))
    assert not OverviewStore(ingest_module.overview_directory(config(tmp_path), video_key(CLIP))).complete
