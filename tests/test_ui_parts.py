"""The UI's parts without a browser: path and upload checks, settings, the timeline, the chat's timing
decision, and the ask flow of `ui.callbacks` on a real video with tiny random `hf:` models."""

import argparse
import os
import shutil
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from agentime.errors import ConfigError, NotAVideoError
from ui import callbacks
from ui.models import MODEL_FOLDER, MODEL_URL, SERVER_MODELS, choice_labels, choose_models
from ui.settings import UISettings
from ui.timeline import timeline_html
from agentime.agent.refresh import Turn
from agentime.agent.timing_gate import TimingGate
from ui.videos import check_upload, list_videos, resolve_path
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
    with pytest.raises(ConfigError, match="ftp:// addresses cannot be opened as a path"):
        resolve_path("ftp://camera.local/stream", (demo.allowed,))
    with pytest.raises(ConfigError, match="outside the folders"):
        resolve_path("../" + outside.name, (demo.allowed,))
    assert resolve_path(str(demo.video), (demo.allowed,)) == demo.video.resolve()
    (demo.allowed / "link.mp4").unlink()


def test_relative_paths_resolve_inside_the_allowed_folders_and_are_listed(demo, tmp_path):
    other = tmp_path / "other"
    (other / "sub").mkdir(parents=True)
    shutil.copy(demo.video, other / "sub" / "clip.mp4")
    (other / "notes.txt").write_text("not listed")
    folders = (demo.allowed, other)
    assert resolve_path("demo.mp4", folders) == demo.video.resolve()  # was called "outside" before
    assert resolve_path("sub/clip.mp4", folders) == (other / "sub" / "clip.mp4").resolve()
    listed = list_videos(folders)
    assert (f"{demo.allowed.name}/demo.mp4", str(demo.video)) in listed
    assert (f"other/{os.path.join('sub', 'clip.mp4')}", str(other / "sub" / "clip.mp4")) in listed
    assert not any(path.endswith("notes.txt") for _, path in listed)


def test_nul_bytes_and_over_long_paths_get_clear_messages(demo):
    state = callbacks.UserState()
    runtime = callbacks.Runtime(UISettings(allowed_dirs=(demo.allowed,)))
    for text, words in ((str(demo.video) + "\x00.mp4", "NUL character"), ("a" * 5000, "paths up to 1024"),
                        (str(demo.allowed / ("b" * 300 + ".mp4")), "cannot be read")):
        view = callbacks.choose_path(text, False, state, runtime)
        assert view["status"].startswith("**Error:**") and words in view["status"], view["status"]
        assert "went wrong" not in view["status"] and "ValueError" not in view["status"]


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
    assert default.allow_stream_hosts == () and default.allow_model_urls == ()  # visitors reach nothing by default
    args.allow_stream_hosts, args.allow_model_urls = ["cam.example.com,*.cdn.example.com", "10.1.2.3"], ["any"]
    opened = UISettings.from_args(args, environ={})
    assert opened.allow_stream_hosts == ("cam.example.com", "*.cdn.example.com", "10.1.2.3")
    assert opened.allow_model_urls == ("any",) and opened.streams_allowed and opened.model_urls_allowed
    args.allowed_dirs = [str(demo.folder / "missing")]
    with pytest.raises(ConfigError, match="does not exist"):
        UISettings.from_args(args, environ={})


def test_model_choices_become_specs_and_typed_servers_are_off_by_default(demo):
    settings = UISettings(target="embedded:target", allowed_dirs=(demo.folder,))
    assert [value for _, value in choice_labels(settings)] == [SERVER_MODELS, MODEL_FOLDER]
    assert choose_models(SERVER_MODELS, "", "", "", "", settings).specs["target"] == "embedded:target"
    assert choose_models(MODEL_FOLDER, str(demo.model), "", "", "", settings).specs["target"] == \
        f"hf:{demo.model.resolve()}"
    with pytest.raises(ConfigError, match="does not let visitors choose a model server"):
        choose_models(MODEL_URL, "", "http://127.0.0.1:8000/v1", "", "", settings)
    with pytest.raises(ConfigError, match="outside"):
        choose_models(MODEL_FOLDER, "/usr/lib", "", "", "", settings)
    opened = UISettings(target="embedded:target", allow_model_urls=("models.example.com",))
    assert [value for _, value in choice_labels(opened)] == [SERVER_MODELS, MODEL_URL]
    typed = choose_models(MODEL_URL, "", "https://models.example.com/v1/", "qwen", " sk-visitor ", opened)
    assert typed.specs["target"] == "openai:https://models.example.com/v1#qwen" and typed.typed_url
    assert typed.api_key == "sk-visitor" and "sk-visitor" not in repr(typed) and "sk-visitor" not in str(typed.key)
    with pytest.raises(ConfigError, match="base URL"):
        choose_models(MODEL_URL, "", "localhost:8000", "", "", opened)


def test_timeline_draws_each_kind_of_step_with_a_title_legend_and_seekable_marks():
    trace = [
        {"step": "overview", "lane": "looked", "times": [10.0, 50.0], "scores": [0.2, 0.9], "extra": {}},
        {"step": "spotlight", "lane": "looked", "times": [48.0], "scores": [0.95], "note": "segment",
         "extra": {"segment": [40, 60]}},
        {"step": "reflect", "lane": "check", "times": [48.0, 52.0], "scores": [0.83], "note": "confident", "extra": {}},
        {"step": "draft_scan", "lane": "draft", "times": [60.0, 90.0], "scores": [0.7], "note": "round 1", "extra": {}},
        {"step": "verify", "lane": "verdict", "times": [70.0, 80.0], "scores": [0.9, 0.1], "extra": {"rejected": [80.0]}},
    ]
    html = timeline_html(trace, 120.0, spans=[(47.5, 52.5)], evidence_times=[48.0])
    assert html.startswith("<figure") and html.endswith("</figure>")
    for text in ("Where the search looked", "tl-legend", "looked closely at 00:40–01:00", "83% sure",
                 "small model scanned 01:00–01:30", "main model agreed with the frame at 01:10",
                 "main model rejected the frame at 01:20", "answer moment 00:48–00:52",
                 'aria-label="play from 00:48 (evidence frame)"', 'data-t="48.000"', 'data-duration="120.000"',
                 "02:00"):
        assert text in html, text
    assert html.count('class="tl-row"') == 6  # every kind of step has its row
    for jargon in ("spectemp", "p(call)", "draft scan", "target looked"):
        assert jargon not in html


def test_timeline_draws_by_lane_so_every_step_that_looked_is_drawn():
    """Steps the timeline has no name for (watch, confirm, the counting sweep) are drawn in the lane they carry;
    a step with no lane (the answer, prompt fitting) is not."""
    trace = [
        {"step": "watch", "lane": "looked", "times": [30.0, 33.0], "scores": [0.9, 0.1], "extra": {}},
        {"step": "confirm", "lane": "looked", "times": [61.0], "scores": [0.8], "extra": {}},
        {"step": "count_draft", "lane": "draft", "times": [90.0, 100.0], "scores": [0.7, 0.6], "extra": {}},
        {"step": "count_verify", "lane": "looked", "times": [90.0], "scores": [0.95], "extra": {}},
        {"step": "some_future_step", "lane": "check", "times": [5.0], "scores": [0.5], "extra": {}},
        {"step": "fit", "lane": "", "times": [], "scores": [], "extra": {}},
    ]
    html = timeline_html(trace, 120.0)
    for text in ("00:30: relevance 0.90", "00:33: relevance 0.10", "01:01: relevance 0.80", "01:30: relevance 0.95",
                 "small model proposed 01:30", "small model proposed 01:40", "self-check around 00:05: 50% sure"):
        assert text in html, text
    assert html.count('class="tl-row"') == 3


def turn(question, minutes_ago, seconds=120.0):
    return Turn(question, datetime.now(timezone.utc) - timedelta(minutes=minutes_ago), True, "", "A. red", 0.9,
                seconds, [12.0], [[10.0, 14.0]])


def test_timing_rule_when_no_policy_is_used():
    advisor = TimingGate(use_policy=False)
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
    decision = TimingGate(Policy()).decide(turns, "And what is red?", now, 120.0)
    assert not decision.call and decision.by_policy and "still fresh" in decision.reason
    assert decision.reuse is turns[0]
    uncovered = TimingGate(Policy()).decide(turns, "How many blue stars are there?", now, 120.0)
    assert uncovered.call and "no earlier answer covers this question" in uncovered.reason
    roles = [m["role"] for m in seen["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert all("time" in m for m in seen["messages"]) and seen["tools"][0]["function"]["name"] == "search_video"

    class Broken:
        def decide(self, messages, tools, now):
            from agentime.errors import TimingError

            raise TimingError("unreadable")

    fallback = TimingGate(Broken()).decide(turns, "What is red?", now, 120.0)
    assert not fallback.call and "could not decide" in fallback.reason and "no new footage" in fallback.reason


def run_ask(question, state, runtime, options="", choice=SERVER_MODELS, folder=""):
    return list(callbacks.ask(question, options, "uniform", 8, choice, folder, "", "", "", state, runtime))


def test_ask_flow_progress_answer_gallery_chat_and_known_evidence(demo, tmp_path):
    settings = UISettings(target=f"hf:{demo.model}", draft=None, embedder=None, allowed_dirs=(demo.allowed,),
                          cache_dir=tmp_path / "cache")
    runtime = callbacks.Runtime(settings, gate=TimingGate(use_policy=False))
    state = callbacks.UserState()
    outs = run_ask("What is shown?", state, runtime)
    assert outs[-1]["status"].startswith("**Error:**") and "choose a video first" in outs[-1]["status"]

    view = callbacks.choose_path(str(demo.video), True, state, runtime)
    state = view["state"]
    assert view["player"] == str(demo.video.resolve()) and "Video ready" in view["status"] and state.live
    assert "demo.mp4" in view["current"] and view["answer"] == "" and view["chat"] == []
    outs = run_ask("When does the pink square first appear?", state, runtime, "red\nblue\ngreen")
    assert "Starting" in outs[0]["status"]  # progress from the first moment
    progress = [o["status"] for o in outs[:-1]]
    assert any("Loading the models" in p for p in progress) and all("<progress" in p for p in progress)
    last = outs[-1]
    assert last["status"] == "Done." and "About **demo.mp4**" in last["answer"]
    headline = last["answer"].split("## ")[1].splitlines()[0]
    assert last["chat"][-1]["content"].startswith(headline)  # the panel and the chat say the same
    assert last["gallery"] and all(isinstance(caption, str) and ":" in caption for _, caption in last["gallery"])
    assert last["timeline"].startswith("<figure") and len(last["chat"]) == 2
    assert "Method:" in last["details"] and "frames in" in last["details"]

    t, message = callbacks.select_evidence(0, state)
    assert t == state.evidence_times[0] and "Player moved to" in message

    # The same question with the same options: answered from known evidence; the panel shows that answer too.
    again = run_ask("When does the pink square first appear?", state, runtime, "red\nblue\ngreen")[-1]
    assert "without searching the video again" in again["status"]
    again_headline = again["answer"].split("## ")[1].splitlines()[0]
    assert again_headline == headline and again["chat"][-1]["content"].startswith(headline)
    assert "from what was found" in again["chat"][-1]["content"]
    # The same words with other options are another question: searched, never the old letter.
    other = run_ask("When does the pink square first appear?", state, runtime, "yellow\npink")[-1]
    assert other["status"] == "Done."

    # Live mode: the recording grows (here: replaced by a longer one); the same question searches again.
    longer = make_demo_video(tmp_path / "longer", minutes=3)
    shutil.copy(longer, demo.video)
    assert "03:00" in callbacks.live_status(state)
    grown = run_ask("When does the pink square first appear?", state, runtime, "yellow\npink")[-1]
    assert grown[ "status"] == "Done." and "grew by" in grown["details"]
    state.asking = True  # Ask and the chat's Send share one session: a second question waits its turn
    assert "already being answered" in run_ask("What is red?", state, runtime)[-1]["status"]
    state.asking = False
    fresh = callbacks.UserState()  # another browser session: nothing shared
    assert fresh.chat == [] and fresh.session is None and len(state.chat) == 8


def test_options_belong_to_one_question_and_a_new_video_clears_everything(demo, tmp_path):
    settings = UISettings(target=f"hf:{demo.model}", draft=None, embedder=None, allowed_dirs=(demo.allowed,),
                          cache_dir=tmp_path / "cache")
    runtime = callbacks.Runtime(settings, gate=TimingGate(use_policy=False))
    state = callbacks.choose_path("demo.mp4", False, None, runtime)["state"]
    run_ask("What number is shown?", state, runtime, "96\n19")
    assert callbacks.question_edited("What number is shown?", state)[0] is None  # same question: kept
    cleared, state = callbacks.question_edited("When is the yellow hexagon on screen?", state)
    assert cleared == ""  # a different question: the options box is emptied
    assert callbacks.question_edited("When is the yellow hexagon on screen? ", state)[0] is None
    view = callbacks.choose_upload(str(demo.video), state, runtime)
    for name in ("answer", "timeline", "options", "chat_input"):
        assert view[name] == "", name
    assert view["gallery"] == [] and view["chat"] == [] and state.session is None
    assert view["details"] == callbacks.NO_DETAILS
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 4096)
    failed = callbacks.choose_upload(str(bad), state, runtime)
    assert failed["upload"] is None and failed["player"] is None and state.video is None
    assert "broken.mp4" in failed["status"] and str(tmp_path) not in failed["status"]
    assert "choose a video first" in run_ask("What number is shown?", state, runtime)[-1]["status"]


def test_switching_the_model_never_reuses_an_earlier_answer(demo, tmp_path):
    from ui_support import make_tiny_model

    second = make_tiny_model(demo.allowed / "second-model")
    settings = UISettings(target=f"hf:{demo.model}", draft=None, embedder=None, allowed_dirs=(demo.allowed,),
                          cache_dir=tmp_path / "cache")
    runtime = callbacks.Runtime(settings, gate=TimingGate(use_policy=False))
    state = callbacks.choose_path(str(demo.video), False, None, runtime)["state"]
    assert run_ask("What is red?", state, runtime)[-1]["status"] == "Done."
    assert "without searching" in run_ask("What is red?", state, runtime)[-1]["status"]
    switched = run_ask("What is red?", state, runtime, choice=MODEL_FOLDER, folder=str(second))
    assert switched[-1]["status"] == "Done." and any("Loading the models" in o["status"] for o in switched[:-1])
    assert "second-model" in switched[-1]["details"]


def test_bad_options_and_missing_model_are_messages(demo, tmp_path):
    settings = UISettings(target=str(tmp_path / "no-model"), draft=None, embedder=None,
                          allowed_dirs=(demo.allowed,), cache_dir=tmp_path / "cache")
    runtime = callbacks.Runtime(settings)
    state = callbacks.choose_upload(str(demo.video), None, runtime)["state"]
    out = run_ask("What?", state, runtime, "only one")[-1]
    assert out["status"].startswith("**Error:**") and "at least two options" in out["status"]
    out = run_ask("What?", state, runtime)[-1]
    assert out["status"].startswith("**Error:**") and "Traceback" not in out["status"]


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
    advisor = TimingGate()
    now = datetime.now(timezone.utc)
    turns = [turn("When does the red circle appear?", 3)]
    decision = advisor.decide(turns, "When does the red circle appear?", now, 120.0)
    assert advisor.unavailable is None, advisor.unavailable  # the policy is a dependency: it must load
    assert decision.by_policy and decision.reason.startswith("timing policy:")
    assert "could not decide" not in decision.reason  # the policy accepted the conversation as built


def test_videos_browsers_cannot_play_get_an_h264_preview_with_the_same_times(tmp_path):
    from agentime.video.source import open_video
    from ui.videos import make_preview, needs_preview
    from ui_support import make_clip

    hevc = make_clip(tmp_path / "camera.ts", codec="libx265", width=192, height=108, seconds=6, container="mpegts")
    original = open_video(hevc).info
    assert needs_preview(hevc, original.codec) and not needs_preview(tmp_path / "x.mp4", "h264")
    for keyframes_only in (False, True):
        preview = open_video(make_preview(hevc, tmp_path / f"preview-{keyframes_only}",
                                          keyframes_only=keyframes_only, end=original.duration)).info
        assert preview.codec == "h264" and abs(preview.duration - original.duration) <= 0.5
        assert preview.frame_count < original.frame_count if keyframes_only else preview.frame_count >= 50


def test_an_answer_that_says_it_is_unsure_is_not_wrapped_in_a_second_unsure():
    from ui.answers import headline

    unsure = SimpleNamespace(choice=None, text="Unsure: the model answered \"42\", but no frame found shows it",
                             confidence=0.2)
    assert headline(unsure) == unsure.text
    guess = SimpleNamespace(choice=None, text="orange hexagon", confidence=0.2)
    assert headline(guess) == "Unsure — best guess: orange hexagon"
    sure = SimpleNamespace(choice="B", text="96", confidence=0.9)
    assert headline(sure) == "Answer: B. 96"
    from ui.answers import answer_markdown

    unsure.confidence, unsure.question, unsure.spans, unsure.stats, unsure.trace = 0.95, "Which number?", [], {}, []
    shown = answer_markdown(unsure, "clip.mp4")  # even with a high confidence, no "How sure: 95%" beside it
    assert "How sure" not in shown and "not sure" in shown


def test_subtitles_uploaded_for_a_video_leave_with_it(demo, tmp_path):
    settings = UISettings(target=f"hf:{demo.model}", draft=None, embedder=None, allowed_dirs=(demo.allowed,),
                          cache_dir=tmp_path / "cache")
    runtime = callbacks.Runtime(settings, gate=TimingGate(use_policy=False))
    srt = tmp_path / "talk.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    state = callbacks.UserState()
    callbacks.choose_subtitles(str(srt), state)  # before any video: kept for the first one
    view = callbacks.choose_path(str(demo.video), False, state, runtime)
    assert state.subtitles == str(srt) and "subtitles" not in view
    view = callbacks.choose_upload(str(demo.video), state, runtime)  # another video: its own subtitles count
    assert state.subtitles is None and view["subtitles"] is None and "subtitles" in callbacks.OUTPUTS


def test_asking_with_a_typed_path_not_yet_opened_opens_it_first(demo, tmp_path):
    settings = UISettings(target=f"hf:{demo.model}", draft=None, embedder=None, allowed_dirs=(demo.allowed,),
                          cache_dir=tmp_path / "cache")
    runtime = callbacks.Runtime(settings, gate=TimingGate(use_policy=False))
    state = callbacks.UserState()
    outs = list(callbacks.ask("What is shown?", "", "uniform", 8, SERVER_MODELS, "", "", "", "", state, runtime,
                              typed_path="demo.mp4"))
    assert "Video ready" in outs[0]["status"] and outs[0]["player"] == str(demo.video.resolve())
    assert outs[-1]["status"] == "Done." and outs[-1]["answer"]
    callbacks.no_video(state, runtime)  # the visitor clears the video; the path box still says demo.mp4
    outs = list(callbacks.ask("What is shown?", "", "uniform", 8, SERVER_MODELS, "", "", "", "", state, runtime,
                              typed_path="demo.mp4"))
    assert "choose a video first" in outs[-1]["status"]  # text left from an opened video is not opened again
    state = callbacks.UserState()
    outs = list(callbacks.ask("What is shown?", "", "uniform", 8, SERVER_MODELS, "", "", "", "", state, runtime,
                              typed_path="/etc/passwd"))  # the same rules as Open: outside the allowed folders
    assert len(outs) == 1 and outs[0]["status"].startswith("**Error:**") and state.video is None
