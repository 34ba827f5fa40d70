"""The UI's parts without a browser: path and upload checks, settings, the timeline, the chat's timing
decision, and the ask flow of `ui.callbacks` on a real video with a tiny random `hf:` model."""

import argparse
import os
import shutil
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from agentime.errors import ConfigError, NotAVideoError
from ui import callbacks
from ui.models import CHOICES, specs_for
from ui.settings import UISettings
from ui.timeline import timeline_svg
from agentime.agent.refresh import TimingAdvisor, Turn
from ui.videos import check_upload, resolve_path
from ui_support import make_demo_video, make_tiny_model


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-demo")
    video = make_demo_video(folder / "bench", minutes=2)
    allowed = folder / "allowed"
    allowed.mkdir()
    shutil.copy(video, allowed / "demo.mp4")
    model = make_tiny_model(folder / "tiny")
    return SimpleNamespace(folder=folder, allowed=allowed, video=allowed / "demo.mp4", model=model)


def no_reads(monkeypatch):
    import agentime.video.source as source

    def forbidden(*args, **kwargs):
        raise AssertionError("a file outside the allowed folders was opened")

    monkeypatch.setattr(source, "open_video", forbidden)


def test_paths_outside_the_allowed_folders_are_refused_before_any_read(demo, tmp_path, monkeypatch):
    outside = tmp_path / "secret.mp4"
    shutil.copy(demo.video, outside)
    (demo.allowed / "link.mp4").symlink_to(outside)
    no_reads(monkeypatch)
    for text in (str(outside), f"{demo.allowed}/../{os.path.relpath(outside, demo.allowed.parent)}",
                 str(demo.allowed / "link.mp4"), "/etc/passwd"):
        with pytest.raises(ConfigError, match="outside the folders this server may read"):
            resolve_path(text, (demo.allowed,))
    with pytest.raises(ConfigError, match="opening files by path is off"):
        resolve_path(str(demo.video), ())
    with pytest.raises(ConfigError, match="ftp:// URLs are not supported"):
        resolve_path("ftp://camera.local/stream", (demo.allowed,))
    assert resolve_path(str(demo.video), (demo.allowed,)) == demo.video.resolve()
    (demo.allowed / "link.mp4").unlink()


def test_uploads_that_are_not_videos_or_too_large(demo, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(NotAVideoError):
        check_upload(text, max_upload_mb=100)
    with pytest.raises(ConfigError, match="accepts videos up to 0.01 MB"):
        check_upload(demo.video, max_upload_mb=0.01)
    assert check_upload(demo.video, max_upload_mb=100) == demo.video


def test_settings_from_options_and_gradio_environment(demo):
    args = argparse.Namespace(host=None, port=None, target="hf:/m", draft="", embedder="", allowed_dirs=[],
                              max_upload_mb=10, cache=None)
    default = UISettings.from_args(args, environ={})
    assert (default.host, default.port) == ("127.0.0.1", 7860)
    assert default.default_models == {"target": "hf:/m", "draft": None, "embedder": None}
    env = UISettings.from_args(args, environ={"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8123"})
    assert (env.host, env.port) == ("0.0.0.0", 8123)
    args.host, args.port = "127.0.0.2", 9000
    assert UISettings.from_args(args, environ={"GRADIO_SERVER_PORT": "8123"}).port == 9000
    args.allowed_dirs = [str(demo.folder / "missing")]
    with pytest.raises(ConfigError, match="does not exist"):
        UISettings.from_args(args, environ={})


def test_model_choices_become_specs(demo):
    settings = UISettings(target="embedded:target", allowed_dirs=(demo.folder,))
    assert specs_for(CHOICES[0], "", "", "", settings)["target"] == "embedded:target"
    assert specs_for(CHOICES[1], str(demo.model), "", "", settings)["target"] == f"hf:{demo.model.resolve()}"
    assert specs_for(CHOICES[2], "", "http://127.0.0.1:8000/v1/", "qwen", settings)["target"] == \
        "openai:http://127.0.0.1:8000/v1#qwen"
    with pytest.raises(ConfigError, match="outside"):
        specs_for(CHOICES[1], "/usr/lib", "", "", settings)
    with pytest.raises(ConfigError, match="base URL"):
        specs_for(CHOICES[2], "", "localhost:8000", "", settings)


def test_timeline_draws_each_kind_of_step():
    trace = [
        {"step": "overview", "times": [10.0, 50.0], "scores": [0.2, 0.9], "extra": {}},
        {"step": "spotlight", "times": [48.0], "scores": [0.95], "note": "segment", "extra": {"segment": [40, 60]}},
        {"step": "reflect", "times": [48.0, 52.0], "scores": [0.83], "note": "confident", "extra": {}},
        {"step": "draft_scan", "times": [60.0, 90.0], "scores": [0.7], "note": "round 1", "extra": {}},
        {"step": "verify", "times": [70.0, 80.0], "scores": [0.9, 0.1], "extra": {"rejected": [80.0]}},
    ]
    svg = timeline_svg(trace, 120.0, spans=[(47.5, 52.5)], evidence_times=[48.0])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for text in ("spotlight 00:40-01:00", "confidence 0.83", "draft scan: round 1", "target accepted 01:10",
                 "target overruled 01:20", "answer span 00:48-00:52", "evidence frame at 00:48", "02:00"):
        assert text in svg, text


def turn(question, minutes_ago, seconds=120.0):
    return Turn(question, datetime.now(timezone.utc) - timedelta(minutes=minutes_ago), True, "", "A. red", 0.9,
                seconds, [12.0], [[10.0, 14.0]])


def test_timing_rule_when_no_policy_is_used():
    advisor = TimingAdvisor(use_policy=False)
    now = datetime.now(timezone.utc)
    first = advisor.decide([], "What is red?", now, 120.0)
    assert first.call and "first question" in first.reason
    turns = [turn("What is red?", 2)]
    same = advisor.decide(turns, "what is red", now, 120.0)
    assert not same.call and same.reuse is turns[0] and "no new footage" in same.reason
    grown = advisor.decide(turns, "What is red?", now, 150.0)
    assert grown.call and "grew by 30 s" in grown.reason
    new = advisor.decide(turns, "How many stars?", now, 120.0)
    assert new.call and "new question" in new.reason


def test_timing_policy_decides_when_available_and_errors_fall_back():
    seen = {}

    class Policy:
        def decide(self, messages, tools, now):
            seen.update(messages=messages, tools=tools)
            return SimpleNamespace(call=False, probability=0.12, reason="the video result is still fresh")

    now = datetime.now(timezone.utc)
    turns = [turn("What is red?", 1)]
    decision = TimingAdvisor(Policy()).decide(turns, "And what is red?", now, 120.0)
    assert not decision.call and decision.by_policy and "still fresh" in decision.reason
    assert decision.reuse is turns[0]
    uncovered = TimingAdvisor(Policy()).decide(turns, "How many blue stars are there?", now, 120.0)
    assert uncovered.call and "no earlier answer covers this question" in uncovered.reason
    roles = [m["role"] for m in seen["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert all("time" in m for m in seen["messages"]) and seen["tools"][0]["function"]["name"] == "search_video"

    class Broken:
        def decide(self, messages, tools, now):
            from agentime.errors import TimingError

            raise TimingError("unreadable")

    fallback = TimingAdvisor(Broken()).decide(turns, "What is red?", now, 120.0)
    assert not fallback.call and "could not decide" in fallback.reason and "no new footage" in fallback.reason


def run_ask(question, state, settings, advisor, options=""):
    outs = list(callbacks.ask(question, options, "uniform", 8, CHOICES[0], "", "", "", state, settings=settings,
                              advisor=advisor))
    return outs


def test_ask_flow_progress_answer_gallery_chat_and_known_evidence(demo, tmp_path):
    settings = UISettings(target=f"hf:{demo.model}", draft=None, embedder=None, allowed_dirs=(demo.allowed,),
                          cache_dir=tmp_path / "cache")
    advisor = TimingAdvisor(use_policy=False)
    state = callbacks.UserState()
    outs = run_ask("What is shown?", state, settings, advisor)
    assert outs[-1][0].startswith("**Error:**") and "choose a video first" in outs[-1][0]

    player, status, state = callbacks.choose_path(str(demo.video), True, state, settings)
    assert player == str(demo.video.resolve()) and "Video ready" in status and state.live
    outs = run_ask("When does the pink square first appear?", state, settings, advisor, "red\nblue\ngreen")
    progress = [o[0] for o in outs[:-1]]
    assert any("%" in p and "<progress" in p for p in progress)
    status, answer_md, gallery, timeline, chat, state = outs[-1]
    assert status == "Done." and "Confidence:" in answer_md and "### Answer: " in answer_md
    assert gallery and all(isinstance(caption, str) and ":" in caption for _, caption in gallery)
    assert timeline.startswith("<svg") and len(chat) == 2 and "Searched the video" in chat[1]["content"]

    t, message = callbacks.select_evidence(0, state)
    assert t == state.evidence_times[0] and "Player moved to" in message

    again = run_ask("When does the pink square first appear?", state, settings, advisor)[-1]
    assert "known evidence" in again[0] and "From known evidence" in again[4][-1]["content"]

    # Live mode: the recording grows (here: replaced by a longer one); the same question searches again.
    longer = make_demo_video(tmp_path / "longer", minutes=3)
    shutil.copy(longer, demo.video)
    assert "3:00" in callbacks.live_status(state) or "03:00" in callbacks.live_status(state)
    grown = run_ask("When does the pink square first appear?", state, settings, advisor)[-1]
    assert grown[0] == "Done." and "grew by" in grown[4][-1]["content"]
    other = callbacks.UserState()  # another browser session: nothing shared
    assert other.chat == [] and other.session is None and len(state.chat) == 6


def test_bad_options_and_missing_model_are_messages(demo, tmp_path):
    settings = UISettings(target=str(tmp_path / "no-model"), draft=None, embedder=None,
                          allowed_dirs=(demo.allowed,), cache_dir=tmp_path / "cache")
    state = callbacks.choose_upload(str(demo.video), None, settings)[2]
    out = list(callbacks.ask("What?", "only one", "auto", 8, CHOICES[0], "", "", "", state, settings=settings))[-1]
    assert out[0].startswith("**Error:**") and "at least two options" in out[0]
    out = list(callbacks.ask("What?", "", "auto", 8, CHOICES[0], "", "", "", state, settings=settings))[-1]
    assert out[0].startswith("**Error:**") and "Traceback" not in out[0]


def test_command_lines_share_options_and_refuse_bad_settings_readably(tmp_path):
    import subprocess
    import sys

    from agentime.cli import build_parser
    from agentime.cli import add_ui_arguments
    from ui_support import ROOT

    argv = ["--host", "127.0.0.1", "--port", "7999", "--target", "hf:/m", "--draft", "", "--embedder", "",
            "--allowed-dir", str(tmp_path), "--max-upload-mb", "5", "--cache", str(tmp_path)]
    from_cli = vars(build_parser().parse_args(["ui", *argv]))
    standalone = argparse.ArgumentParser()
    add_ui_arguments(standalone)
    from_app = vars(standalone.parse_args(argv))
    assert {k: v for k, v in from_cli.items() if k not in ("command", "run")} == from_app

    for cmd in ([sys.executable, "-m", "agentime.cli", "ui", "--port", "0"],
                [sys.executable, "app.py", "--allowed-dir", str(tmp_path / "nowhere")]):
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr


def test_the_shipped_timing_policy_reads_the_chat():
    advisor = TimingAdvisor()
    now = datetime.now(timezone.utc)
    turns = [turn("When does the red circle appear?", 3)]
    decision = advisor.decide(turns, "When does the red circle appear?", now, 120.0)
    assert advisor.unavailable is None, advisor.unavailable  # the policy is a dependency: it must load
    assert decision.by_policy and decision.reason.startswith("timing policy:")
    assert "could not decide" not in decision.reason  # the policy accepted the conversation as built
