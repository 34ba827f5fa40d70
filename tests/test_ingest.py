"""Ingestion into the content-addressed cache: complete, atomic, resumable after a kill, instant when cached."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agentime.cli import main as cli_main
from agentime.config import Config, VideoConfig
from agentime.errors import CacheError
from agentime.video import ingest as ingest_module
from agentime.video.cache import OverviewStore, video_key
from agentime.video.frames import Frame
from agentime.video.ingest import ingest

ROOT = Path(__file__).resolve().parent.parent


def small_chunks(cache: Path) -> Config:
    return Config(cache_dir=cache, video=VideoConfig(overview_fps=1.0, max_side=160, chunk_frames=16))


def test_ingest_stores_every_overview_frame(synthetic_video, tmp_path):
    path, world = synthetic_video
    result = ingest(path, small_chunks(tmp_path))
    assert not result.cached and result.frames == int(world.duration)
    frames = list(result.iter_frames())
    assert [f.t for f in frames] == pytest.approx(np.arange(world.duration))
    assert frames[0].image.shape == (120, 160, 3)
    manifest = json.loads((result.directory / "manifest.json").read_text())
    assert manifest["frames"] == result.frames and manifest["key"] == video_key(path)
    assert result.directory.parent.name == video_key(path)


def test_second_ingest_decodes_nothing(synthetic_video, tmp_path, monkeypatch):
    path, _ = synthetic_video
    config = small_chunks(tmp_path)
    first = ingest(path, config)

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cached ingest must not decode the video again")

    monkeypatch.setattr(ingest_module, "sample_frames", no_decoding)
    monkeypatch.setattr(ingest_module, "open_video", no_decoding)
    again = ingest(path, config)
    assert again.cached and again.frames == first.frames and again.directory == first.directory


def test_identity_follows_content_not_name(synthetic_video, tmp_path):
    path, _ = synthetic_video
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes(path.read_bytes())
    os.utime(copy, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    assert video_key(copy) == video_key(path)
    os.utime(copy, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert video_key(copy) != video_key(path)


def test_a_moved_video_is_read_from_where_it_is_now(synthetic_video, tmp_path):
    """A cached overview found through a copy of the video (same key) describes the copy: frames off the
    overview are decoded from the file asked about, even when the first one is gone."""
    path, _ = synthetic_video
    first, moved = tmp_path / "first.mp4", tmp_path / "moved" / "again.mp4"
    moved.parent.mkdir()
    for copy in (first, moved):
        copy.write_bytes(path.read_bytes())
        os.utime(copy, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    config = small_chunks(tmp_path / "cache")
    assert ingest(first, config).info.path == str(first)
    first.unlink()
    again = ingest(moved, config)
    assert again.cached and again.info.path == str(moved)
    from agentime.video.view import VideoView

    view = VideoView(again.info.path, again.info, again.store, 160)
    assert view.frames_at([2.5])[0].image.size  # between overview frames: decoded from the moved file


KILLABLE_INGEST = """
import sys, time
from pathlib import Path
from agentime.config import Config, VideoConfig
from agentime.video.cache import OverviewStore
from agentime.video.ingest import ingest

original = OverviewStore.write_chunk
def slow_write_chunk(self, index, frames, quality):
    path = original(self, index, frames, quality)
    print(f"chunk {index}", flush=True)
    time.sleep(0.3)
    return path
OverviewStore.write_chunk = slow_write_chunk
ingest(sys.argv[1], Config(cache_dir=Path(sys.argv[2]), video=VideoConfig(overview_fps=1.0, max_side=160, chunk_frames=16)))
"""


def test_ingest_killed_halfway_resumes_to_a_consistent_cache(synthetic_video, tmp_path):
    path, world = synthetic_video
    cache = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", KILLABLE_INGEST, str(path), str(cache)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("chunk 4"):
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    config = small_chunks(cache)
    store = OverviewStore(ingest_module.overview_directory(config, video_key(path)))
    assert not store.complete
    with pytest.raises(CacheError, match="incomplete"):
        next(store.iter_frames())
    stored_before = len(store.chunk_paths())
    assert 5 <= stored_before < int(world.duration) // 16

    resumed = ingest(path, config)
    clean = ingest(path, small_chunks(tmp_path / "clean"))
    assert resumed.resumed_from is not None and resumed.resumed_from >= 5 * 16 - 1
    assert resumed.frames == clean.frames
    resumed_frames, clean_frames = list(resumed.iter_frames()), list(clean.iter_frames())
    assert [f.t for f in resumed_frames] == [f.t for f in clean_frames]
    assert all(np.abs(a.image.astype(int) - b.image).max() <= 2 for a, b in zip(resumed_frames, clean_frames))
    names = sorted(p.name for p in store.directory.iterdir() if p.name.startswith("chunk_"))
    assert names == [f"chunk_{i:06d}.npz" for i in range(len(names))]


def test_temporary_files_are_never_read(synthetic_video, tmp_path):
    path, _ = synthetic_video
    result = ingest(path, small_chunks(tmp_path))
    (result.directory / ".chunk_000099.npz.abc.tmp").write_bytes(b"half a chunk")
    assert len(list(result.iter_frames())) == result.frames


def test_cli_ingest_prints_what_it_found(synthetic_video, tmp_path, capsys):
    path, world = synthetic_video
    assert cli_main(["ingest", str(path), "--cache", str(tmp_path), "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames_sampled"] == int(world.duration) and summary["duration"] == pytest.approx(240.0)
    assert Path(summary["cache"]).is_dir()
    assert cli_main(["ingest", str(tmp_path / "missing.mp4"), "--cache", str(tmp_path)]) == 2
    assert "no such video file" in capsys.readouterr().err


def test_unwritable_cache_is_a_clear_error(synthetic_video, tmp_path):
    blocker = tmp_path / "file_not_folder"
    blocker.write_text("x")
    with pytest.raises(CacheError, match="AGENTIME_CACHE"):
        ingest(synthetic_video[0], Config(cache_dir=blocker / "cache"))


def test_ingest_benchmark_reports_every_method(synthetic_video):
    from pipelines.bench.ingest import run

    path, world = synthetic_video
    report = run(str(path), fps=1.0, repeats=1, max_side=384)
    assert report["frames"] == int(world.duration) and report["method"] == "reference"
    assert report["repeat_cached"] and report["ingest_frames"] == report["frames"]
    assert set(report["methods"]) == {"keyframes", "reference", "sequential", "seek", "opencv"}
    assert not report["methods"]["keyframes"]["delivers_request"]  # 5-s keyframes cannot give 1 fps
    assert all(report["methods"][m]["delivers_request"] for m in ("reference", "sequential", "seek", "opencv"))
    assert report["fastest_seconds"] == min(v["seconds"] for v in report["methods"].values()
                                            if v["delivers_request"])


def test_a_chunk_decodes_only_the_frames_asked_for(tmp_path, monkeypatch):
    """A search reads single frames of many chunks: each JPEG is decoded once, when first asked for, and the
    frames equal the whole-chunk decode; a broken JPEG is a clear error when it is asked for."""
    from agentime.video import cache

    rng = np.random.default_rng(0)
    frames = [Frame(float(t), rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)) for t in range(10)]
    path = tmp_path / "chunk_000000.npz"
    path.write_bytes(cache.encode_chunk(frames, quality=90))
    decoded = []
    real = cache._decode_jpeg
    monkeypatch.setattr(cache, "_decode_jpeg", lambda p, jpeg, t: decoded.append(t) or real(p, jpeg, t))
    chunk = cache.ChunkFrames(path)
    whole = {f.t: f for f in cache.decode_chunk(path)}
    decoded.clear()
    assert np.array_equal(chunk.get(3.0).image, whole[3.0].image) and chunk.get(3.0).t == 3.0
    assert chunk.get(7.0) is not None and chunk.get(3.0) is not None and chunk.get(2.5) is None
    assert decoded == [3.0, 7.0]

    with np.load(path) as npz:
        parts = {k: npz[k].copy() for k in npz.files}
    parts["data"][parts["offsets"][4]:parts["offsets"][5]] = 0  # frame 4's JPEG bytes zeroed
    broken = tmp_path / "chunk_000001.npz"
    np.savez(broken, **parts)
    chunk = cache.ChunkFrames(broken)
    assert chunk.get(3.0) is not None
    with pytest.raises(CacheError, match="broken frame"):
        chunk.get(4.0)
