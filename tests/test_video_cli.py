"""The video side of the command line: the facts `ingest --json` prints, `--allow-truncated` on every command
that opens a video, warnings as one readable line, errors as one line with exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentime.cli import build_parser
from agentime.cli import main as cli_main

CORPUS = Path(__file__).resolve().parent / "data" / "real_videos"
FACTS = {"duration", "start_offset", "width", "height", "rotation", "sample_aspect_ratio", "fps", "frames_sampled",
         "codec", "container", "seconds", "video_track", "video_tracks"}


def agentime(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentime.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory) -> Path:
    """A 10-s MP4 (index at the front) cut in half, as a copy interrupted halfway leaves it."""
    folder = tmp_path_factory.mktemp("cut")
    whole = folder / "whole.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=10:duration=10",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", "-movflags", "+faststart", str(whole)],
                   check=True)
    cut = folder / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


def test_ingest_json_prints_the_facts(tmp_path, capsys):
    clip = CORPUS / "bbb_800x640_768kbps_30fps_avc_2b_firstpts_10_sec.mp4"
    assert cli_main(["ingest", str(clip), "--cache", str(tmp_path), "--json", "--quiet"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert FACTS <= set(facts)
    assert facts["start_offset"] == pytest.approx(10.0) and facts["duration"] == pytest.approx(4.0)
    assert (facts["width"], facts["height"], facts["sample_aspect_ratio"]) == (1137, 640, "1137:800")
    assert (facts["codec"], facts["container"], facts["rotation"], facts["frames_sampled"]) == ("h264", "mp4", 0, 4)
    assert facts["fps"] == pytest.approx(30.0)
    phone = CORPUS / "dolbyVision-hdr.MOV"
    assert cli_main(["ingest", str(phone), "--cache", str(tmp_path), "--json", "--quiet"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert (facts["codec"], facts["container"], facts["rotation"], facts["width"], facts["height"]) == \
        ("hevc", "mov", 90, 720, 1280)


@pytest.mark.parametrize("command", [["ingest", "v.mp4"], ["ask", "v.mp4", "what?"],
                                     ["eval", "--task", "synthetic", "--annotations", "a", "--videos", "v",
                                      "--out", "o"], ["ui"]])
def test_every_command_that_opens_videos_accepts_allow_truncated(command):
    assert build_parser().parse_args([*command, "--allow-truncated"]).allow_truncated
    assert not build_parser().parse_args(command).allow_truncated


def test_a_truncated_video_is_refused_in_one_line_with_the_flag_to_use(cut_video, tmp_path):
    for command in (["ingest", str(cut_video)], ["ask", str(cut_video), "what happens?"]):
        run = agentime(*command, "--cache", str(tmp_path), "--quiet")
        assert run.returncode == 2 and "Traceback" not in run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and "truncated" in lines[0] and "--allow-truncated" in lines[0]


def test_allow_truncated_asks_about_the_readable_part_and_warns_once(cut_video, tmp_path):
    run = agentime("ask", str(cut_video), "is there a red circle?", "--allow-truncated", "--cache", str(tmp_path),
                   "--budget", "1", "--strategy", "uniform", "--target", "embedded:draft", "--draft", "",
                   "--embedder", "", "--quiet", "--json")
    assert run.returncode == 0, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentime: warning: ") and "truncated" in lines[0]
    assert "UserWarning" not in run.stderr and "warnings.warn" not in run.stderr
    answer = json.loads(run.stdout)
    assert answer["evidence"] and all(e["t"] < 6.0 for e in answer["evidence"])


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """A 1-minute generated video (2 fps): small enough to ingest and ask about in seconds."""
    from pipelines.synthetic.world import WorldConfig, generate_world, write_video

    world = generate_world(17, WorldConfig(minutes=1, fps=2, needles=1, groundings=1, orders=0, counts=0))
    return write_video(world, tmp_path_factory.mktemp("short") / "clip.mp4")


def test_ingest_builds_the_frame_index_so_a_later_ask_prepares_nothing(short_clip, tmp_path):
    from agentime.api import ask
    from agentime.config import Config

    cache = tmp_path / "cache"
    ingested = agentime("ingest", str(short_clip), "--cache", str(cache))
    assert ingested.returncode == 0, ingested.stderr
    assert ingested.stdout.startswith(f"{short_clip}: ingested") and "frame index of 60 frames" in ingested.stdout
    # the embedded models are named on stderr, once, and stdout stays the report
    notes = [line for line in ingested.stderr.splitlines() if line.startswith("agentime: note: ")]
    assert len(notes) == 1 and "demo models in use (embedder)" in notes[0] and "--embedder" in notes[0], notes
    asked = agentime("ask", str(short_clip), "What is shown?", "--cache", str(cache), "--strategy", "uniform",
                     "--budget", "4", "--json")
    assert asked.returncode == 0, asked.stderr
    assert "agentime: note:" not in asked.stderr  # --json: no note
    prepared = json.loads(asked.stdout)["stats"]["prepare"]
    assert (prepared["ingested"], prepared["indexed"]) == (False, False), prepared
    # the same ask on an empty cache does both: what `ingest` saved the ask above
    fresh = ask(short_clip, "What is shown?", strategy="uniform", budget=4,
                         config=Config(cache_dir=tmp_path / "fresh"))
    assert (fresh.stats["prepare"]["ingested"], fresh.stats["prepare"]["indexed"]) == (True, True)


def test_the_demo_models_note_is_one_stderr_line_unless_quiet_or_json(capsys):
    import argparse

    from agentime.cli import note_demo_models

    specs = {"target": "embedded:target", "draft": "", "embedder": "embedded:embedder"}
    note_demo_models(specs, argparse.Namespace(quiet=False, json=False))
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("agentime: note: built-in demo models in use (target, embedder): they only understand "
                          "the generated demo world") and "--target/--embedder" in err
    for quiet, as_json in ((True, False), (False, True)):
        note_demo_models(specs, argparse.Namespace(quiet=quiet, json=as_json))
        assert capsys.readouterr() == ("", "")
    note_demo_models({"target": "hf:/models/qwen", "embedder": "hf:/models/siglip"}, argparse.Namespace())
    assert capsys.readouterr() == ("", "")
