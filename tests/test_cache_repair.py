"""A damaged frame cache is found, reported with its file, dropped and rebuilt; never a raw zipfile error."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agentime.cli import main as cli_main
from agentime.config import Config, VideoConfig
from agentime.errors import CacheError, CacheRepairedWarning, NoDecodableFramesError
from agentime.video import ingest as ingest_module
from agentime.video.cache import ChunkFrames, OverviewStore
from agentime.video.ingest import ingest

CLIP = Path(__file__).resolve().parent / "data" / "real_videos" / "edit_list_positive_shift.mp4"  # 9 s


def config(cache: Path) -> Config:
    return Config(cache_dir=cache, video=VideoConfig(overview_fps=2.0, max_side=64, chunk_frames=4))


def frames_of(result) -> list:
    return [(f.t, f.image) for f in result.iter_frames()]


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the JPEG bytes: the zip's CRC no longer matches
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, flip_a_byte, lambda p: p.unlink()], ids=["cut", "flipped", "missing"])
def test_a_damaged_chunk_is_dropped_and_rebuilt(tmp_path, damage):
    clean = ingest(CLIP, config(tmp_path / "clean"))
    first = ingest(CLIP, config(tmp_path / "cache"))
    chunk = first.directory / "chunk_000002.npz"
    damage(chunk)
    with pytest.warns(CacheRepairedWarning, match="chunk_000002.npz"):
        again = ingest(CLIP, config(tmp_path / "cache"))
    assert not again.cached and len(again.repaired) == 1
    assert "chunk_000002.npz" in again.repaired[0] and "rebuilding" in again.repaired[0]
    assert again.frames == clean.frames == 18
    for (t, image), (t_clean, image_clean) in zip(frames_of(again), frames_of(clean), strict=True):
        assert t == t_clean and np.abs(image.astype(int) - image_clean).max() <= 2
    third = ingest(CLIP, config(tmp_path / "cache"))
    assert third.cached and third.repaired == ()


def test_reading_a_damaged_chunk_names_the_file(tmp_path):
    result = ingest(CLIP, config(tmp_path))
    chunk = result.directory / "chunk_000001.npz"
    truncate(chunk)
    for read in (lambda: ChunkFrames(chunk), lambda: OverviewStore(result.directory).chunk_times(),
                 lambda: list(result.iter_frames())):
        with pytest.raises(CacheError, match="chunk_000001.npz is damaged"):
            read()


def test_leftover_temporary_files_and_a_torn_manifest_are_repaired(tmp_path):
    first = ingest(CLIP, config(tmp_path))
    (first.directory / ".chunk_000005.npz.k3j2.tmp").write_bytes(b"")
    with pytest.warns(CacheRepairedWarning, match="temporary"):
        again = ingest(CLIP, config(tmp_path))
    assert again.cached and any("temporary" in note for note in again.repaired)
    assert not list(first.directory.glob(".*.tmp"))
    manifest = first.directory / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    with pytest.warns(CacheRepairedWarning, match="unreadable"):
        torn = ingest(CLIP, config(tmp_path))
    assert torn.frames == first.frames and any("manifest.json was unreadable" in n for n in torn.repaired)
    assert json.loads(manifest.read_text())["frames"] == first.frames


def test_an_outdated_cache_format_is_rebuilt(tmp_path):
    first = ingest(CLIP, config(tmp_path))
    manifest = first.directory / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "format": 1}))
    with pytest.warns(CacheRepairedWarning, match="older format"):
        again = ingest(CLIP, config(tmp_path))
    assert not again.cached and "older format" in again.repaired[0] and again.frames == first.frames


def test_an_ingest_that_samples_nothing_is_an_error_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_module, "sample_frames", lambda *args, **kwargs: iter(()))
    with pytest.raises(NoDecodableFramesError, match="no frame could be sampled"):
        ingest(CLIP, config(tmp_path))
    assert not list(tmp_path.rglob("manifest.json"))
    monkeypatch.undo()
    assert ingest(CLIP, config(tmp_path)).frames == 18


def test_cli_ingest_reports_the_repair_in_one_line(tmp_path, capsys):
    args = ["ingest", str(CLIP), "--cache", str(tmp_path), "--fps", "2", "--max-side", "64", "--quiet"]
    assert cli_main(args) == 0
    capsys.readouterr()
    chunk = next(tmp_path.rglob("chunk_000000.npz"))
    flip_a_byte(chunk)
    assert cli_main(args) == 0
    out, err = capsys.readouterr()
    assert "ingested" in out and "found in cache" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentime: warning: cache chunk") and str(chunk) in lines[0]


def test_cli_never_shows_a_zipfile_traceback(tmp_path):
    """A chunk damaged under a finished overview, then `agentime ask`: it is repaired before the search."""
    subprocess.run([sys.executable, "-m", "agentime.cli", "ingest", str(CLIP), "--cache", str(tmp_path), "--quiet"],
                   check=True, capture_output=True)
    truncate(next(tmp_path.rglob("chunk_000000.npz")))
    run = subprocess.run([sys.executable, "-m", "agentime.cli", "ask", str(CLIP), "is there a red circle?",
                          "--cache", str(tmp_path), "--budget", "1", "--strategy", "uniform", "--draft", "",
                          "--embedder", "", "--target", "embedded:draft", "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "BadZipFile" not in run.stderr
    assert "agentime: warning: cache chunk" in run.stderr
