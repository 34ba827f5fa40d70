"""A library of real small clips: adding in worker processes, following a watched folder, transcripts, bad input."""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import agentime

REAL = Path(__file__).parent / "data" / "real_videos"
CLIPS = ["bear-vp9.webm", "sample.flv", "sample_h264.ts"]


@pytest.fixture(scope="module")
def models():
    from agentime.vlm.registry import load_model_roles

    return {**load_model_roles({"target": "embedded:target", "draft": None, "embedder": None}),
            "embedder": "embedded:embedder"}  # a spec, so that worker processes can load it


def _folder(tmp_path: Path, clips) -> Path:
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in clips:
        shutil.copy(REAL / name, folder / name)
    return folder


def test_workers_add_the_same_videos_as_one_process_and_skip_them_when_unchanged(tmp_path, models):
    folder = _folder(tmp_path, CLIPS)
    (folder / "notes.txt").write_text("not a video")
    alone = agentime.Library(folder, cache=tmp_path / "one", models=models, add=False).add()
    library = agentime.Library(folder, cache=tmp_path / "many", models=models, add=False)
    summary = library.add(workers=2)
    assert sorted(summary["added"]) == sorted(alone["added"]) == sorted(str(folder / c) for c in CLIPS)
    assert [s["path"] for s in summary["skipped"]] == [str(folder / "notes.txt")] and summary["skipped"][0]["reason"]
    one = agentime.Library(folder, cache=tmp_path / "one", models=models, add=False)
    assert {p: (v["key"], v["frames"]) for p, v in library.videos.items()} == \
           {p: (v["key"], v["frames"]) for p, v in one.videos.items()}
    assert len(library.index) == sum(v["frames"] for v in library.videos.values())

    again = agentime.Library(folder, cache=tmp_path / "many", models=models, add=False).add(workers=2)
    assert again["added"] == [] and sorted(again["unchanged"]) == sorted(summary["added"])


def test_an_interrupted_add_resumes_with_the_videos_it_had_not_finished(tmp_path, models):
    folder = _folder(tmp_path, CLIPS[:2])
    library = agentime.Library(folder, cache=tmp_path / "cache", models=models)
    manifest = json.loads((library.directory / "videos.json").read_text())
    del manifest["videos"][str(folder / CLIPS[1])]  # as if the add had stopped before the second video
    (library.directory / "videos.json").write_text(json.dumps(manifest))
    resumed = agentime.Library(folder, cache=tmp_path / "cache", models=models, add=False).add(workers=2)
    assert resumed["added"] == [str(folder / CLIPS[1])] and resumed["unchanged"] == [str(folder / CLIPS[0])]


def test_watching_adds_new_files_and_drops_deleted_ones_until_stopped(tmp_path, models):
    folder = _folder(tmp_path, CLIPS[:1])
    library = agentime.Library(folder, cache=tmp_path / "cache", models=models)
    summaries, stop = queue.Queue(), threading.Event()
    watcher = threading.Thread(target=library.watch, kwargs={"interval": 0.2, "stop": stop, "on_add": summaries.put})
    watcher.start()
    try:
        shutil.copy(REAL / CLIPS[1], folder / ".copying")  # hidden while it is written, then renamed
        os.replace(folder / ".copying", folder / CLIPS[1])
        assert summaries.get(timeout=120)["added"] == [str(folder / CLIPS[1])]
        (folder / CLIPS[0]).unlink()
        gone = summaries.get(timeout=120)
        assert gone["videos"] == 1 and any(CLIPS[0] in note and "deleted" in note for note in gone["notes"])
    finally:
        stop.set()
        watcher.join(timeout=60)
    assert not watcher.is_alive() and list(library.videos) == [str(folder / CLIPS[1])]
    with pytest.raises(agentime.errors.ConfigError, match="only a folder"):
        agentime.Library([folder / CLIPS[1]], cache=tmp_path / "cache", models=models).watch(stop=stop)


def test_cli_watch_follows_the_folder_and_stops_cleanly_on_ctrl_c(tmp_path):
    folder = _folder(tmp_path, CLIPS[:1])
    command = [sys.executable, "-m", "agentime.cli", "library", "add", str(folder), "--watch", "--interval", "0.3",
               "--cache", str(tmp_path / "cache"), "--json", "--quiet", "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "HF_HUB_OFFLINE": "1"}
    # as from a terminal: a test run in the background would hand the command an ignored Ctrl-C
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = json.loads(process.stdout.readline())
        assert first["added"] == [str(folder / CLIPS[0])]
        shutil.copy(REAL / CLIPS[2], folder / CLIPS[2])
        assert json.loads(process.stdout.readline())["added"] == [str(folder / CLIPS[2])]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0 and "stopped watching; 2 videos" in err and "Traceback" not in err


def test_transcript_lines_find_the_video_and_moment_by_what_was_said(tmp_path, models):
    folder = _folder(tmp_path, CLIPS[:2])
    (folder / "bear-vp9.srt").write_text("1\n00:00:01,000 --> 00:00:02,500\nThe bear catches a silver salmon in the river.\n")
    (folder / "sample.srt").write_text("1\n00:00:00,200 --> 00:00:00,800\nWelcome to the quarterly budget meeting.\n")
    library = agentime.Library(folder, cache=tmp_path / "cache", models=models)
    assert library.skipped == []  # the subtitle files are read beside their videos, not listed as skipped

    budget = library.search("the quarterly budget", 3)[0]
    assert budget.video == str(folder / "sample.flv") and budget.said.startswith("Welcome to the quarterly")
    assert budget.t == pytest.approx(0.2) and budget.end == pytest.approx(0.8)
    ranked = library.rank_videos("What does the narrator say about the salmon?")
    assert ranked[0]["video"] == str(folder / "bear-vp9.webm") and "salmon" in ranked[0]["said"]
    assert all(m.said is None for m in library.search("a purple hexagon", 3))  # no line says it: frames only

    (folder / "sample.srt").unlink()  # the transcript goes with its file on the next add
    library.add()
    assert all(m.video != str(folder / "sample.flv") or m.said is None for m in library.search("quarterly budget", 5))


def test_an_index_of_another_version_and_a_damaged_manifest_are_rebuilt_from_the_video_caches(tmp_path, models):
    folder = _folder(tmp_path, CLIPS[:2])
    library = agentime.Library(folder, cache=tmp_path / "cache", models=models)
    rows = len(library.index)
    manifest = library.directory / "library.json"
    manifest.write_text(manifest.read_text().replace('"format": 1', '"format": 0'))
    (library.directory / "videos.json").write_text('{"videos": {"')  # torn
    from agentime.index.library_index import LibraryIndex

    assert LibraryIndex.load(library.directory, library.embedder.name) is None  # never trusted as it is
    again = agentime.Library(folder, cache=tmp_path / "cache", models=models, add=False)
    summary = again.add()
    assert sorted(summary["added"]) == sorted(library.videos) and len(again.index) == rows
    assert LibraryIndex.load(again.directory, again.embedder.name) is not None
    assert [v["key"] for v in again.videos.values()] == again.index.videos


def test_a_file_that_breaks_midway_is_skipped_with_its_reason_and_the_rest_are_added(tmp_path, models):
    folder = _folder(tmp_path, CLIPS[:1])
    data = (REAL / CLIPS[1]).read_bytes()
    (folder / "cut.flv").write_bytes(data[: len(data) // 20])  # a download that stopped early
    (folder / "photo.mp4").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))  # not a video, whatever its name
    summary = agentime.Library(folder, cache=tmp_path / "cache", models=models, add=False).add(workers=2)
    assert summary["added"] == [str(folder / CLIPS[0])]
    reasons = {Path(s["path"]).name: s["reason"] for s in summary["skipped"]}
    assert set(reasons) == {"cut.flv", "photo.mp4"} and all(len(r) > 10 for r in reasons.values())
