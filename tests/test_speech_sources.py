"""Text sources of a video's speech: subtitle files (encodings, bad timings, empty files), sidecar discovery
with a language choice, subtitle streams in MKV (SRT, ASS), MP4 (mov_text) and WebM (WebVTT), and one
timeline on the frames' clock (start offsets, tags stripped, overlaps and duplicates merged)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agentime.errors import SubtitleError
from agentime.speech.segments import RawCue, build_timeline, clean_text
from agentime.speech.settings import SpeechConfig
from agentime.speech.sources import find_sidecar, read_subtitle_file, read_subtitle_stream
from agentime.speech.transcript import load_transcript

REAL_VIDEOS = Path(__file__).resolve().parent / "data" / "real_videos"

SRT = """1
00:00:01,000 --> 00:00:02,500
<i>Hello</i> <font color="red">there</font>

2
00:00:02,000 --> 00:00:03,000
General Kenobi

3
00:00:04,000 --> 00:00:05,000
Same line

4
00:00:05,000 --> 00:00:06,000
Same line
"""

ASS = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.50,0:00:01.50,Default,,0,0,0,,{\\i1}Styled{\\i0} words\\Nsecond row
Comment: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,not shown
"""


def test_tags_are_stripped_and_overlapping_or_repeated_cues_merged(tmp_path):
    path = tmp_path / "clip.srt"
    path.write_text(SRT, encoding="utf-8")
    text = read_subtitle_file(path)
    segments, skipped = build_timeline(text.cues, duration=60.0)
    assert [(s.start, s.end, s.text) for s in segments] == [
        (1.0, 3.0, "Hello there General Kenobi"),  # overlapping cues joined
        (4.0, 6.0, "Same line"),  # the same line shown twice in a row is one segment
    ]
    assert skipped == []
    assert clean_text("{\\an8}<b>Bold</b>\\Nnext") == "Bold next"


def test_ass_file_keeps_dialogue_and_drops_comments(tmp_path):
    path = tmp_path / "clip.ass"
    path.write_text(ASS, encoding="utf-8")
    segments, _ = build_timeline(read_subtitle_file(path).cues, duration=10.0)
    assert [(s.start, s.end, s.text) for s in segments] == [(0.5, 1.5, "Styled words second row")]


def test_legacy_encoding_is_read_and_reported(tmp_path):
    path = tmp_path / "clip.srt"
    path.write_bytes("1\n00:00:01,000 --> 00:00:02,000\nCaf\u00e9 cr\u00e8me \u2013 s\u00fc\u00df\n".encode("cp1252"))
    text = read_subtitle_file(path)
    assert clean_text(text.cues[0].text) == "Caf\u00e9 cr\u00e8me \u2013 s\u00fc\u00df"
    assert any("cp1252" in note for note in text.skipped)


def test_binary_file_and_empty_file_fail_clearly(tmp_path):
    binary = tmp_path / "bad.srt"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(SubtitleError, match="not text in .*convert it to UTF-8"):
        read_subtitle_file(binary)
    empty = tmp_path / "empty.vtt"
    empty.write_bytes(b"  \n")
    with pytest.raises(SubtitleError, match="empty"):
        read_subtitle_file(empty)
    nocues = tmp_path / "notes.srt"
    nocues.write_text("just some words\nno timings here\n")
    with pytest.raises(SubtitleError, match="no SRT cues"):
        read_subtitle_file(nocues)
    with pytest.raises(SubtitleError, match="unsupported subtitle format"):
        read_subtitle_file(tmp_path / "clip.txt")


def test_malformed_timings_and_cues_past_the_end_are_skipped_and_reported(tmp_path):
    path = tmp_path / "clip.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nfirst\n\n2\n00:00:0x,000 --> 00:00:03,000\nbroken\n\n"
                    "3\n00:00:05,000 --> 00:00:04,000\nbackwards\n\n4\n00:00:08,000 --> 00:00:12,000\nruns past\n\n"
                    "5\n00:01:00,000 --> 00:01:02,000\nafter the end\n", encoding="utf-8")
    text = read_subtitle_file(path)
    segments, skipped = build_timeline(text.cues, duration=10.0)
    assert [(s.start, s.end, s.text) for s in segments] == [(1.0, 2.0, "first"), (8.0, 10.0, "runs past")]
    assert "1 cue(s) with unreadable timing lines" in text.skipped
    assert any("malformed timings" in s for s in skipped) and any("outside the video" in s for s in skipped)


def test_sidecar_is_found_by_name_and_language(tmp_path):
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"")
    for name in ("talk.en.srt", "talk.de.srt", "other.srt"):
        (tmp_path / name).write_text("1\n00:00:01,000 --> 00:00:02,000\nx\n")
    assert find_sidecar(video, "de").name == "talk.de.srt"
    assert find_sidecar(video, "eng").name == "talk.en.srt"
    assert find_sidecar(video, "fr") is None
    assert find_sidecar(video).name == "talk.de.srt"  # no untagged file: the first in name order
    (tmp_path / "talk.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nx\n")
    assert find_sidecar(video).name == "talk.srt"


def test_srt_stream_of_a_real_mkv():
    real_videos = REAL_VIDEOS
    text = read_subtitle_stream(real_videos / "sample_with_srt.mkv")
    assert text.language == "eng" and text.source.startswith("stream:2")
    transcript, failures = load_transcript(real_videos / "sample_with_srt.mkv", duration=0.968, start_offset=0.0,
                                           settings=SpeechConfig())
    assert failures == []
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [(0.0, 0.968, "This is the first subtitle.")]
    assert read_subtitle_stream(real_videos / "bear-vp9.webm") is None


def _ffmpeg(*args) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is needed (make browser installs it)")
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def containers(tmp_path_factory) -> dict[str, Path]:
    """A 6-s clip with one subtitle stream per container kind; the MKV starts at 2 s on its own clock."""
    folder = tmp_path_factory.mktemp("subs")
    srt = folder / "cues.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\n<i>first</i> line\n\n2\n00:00:03,000 --> 00:00:04,500\n"
                   "second line\n", encoding="utf-8")
    ass = folder / "cues.ass"
    ass.write_text(ASS, encoding="utf-8")
    clip = ["-f", "lavfi", "-i", "testsrc=duration=6:size=64x48:rate=5"]
    made = {"mkv_ass": folder / "ass.mkv", "mp4_mov_text": folder / "movtext.mp4", "webm_vtt": folder / "vtt.webm",
            "mkv_offset": folder / "offset.mkv"}
    _ffmpeg(*clip, "-i", ass, "-c:v", "libx264", "-c:s", "ass", "-metadata:s:s:0", "language=fre", made["mkv_ass"])
    _ffmpeg(*clip, "-i", srt, "-c:v", "libx264", "-c:s", "mov_text", made["mp4_mov_text"])
    _ffmpeg(*clip, "-i", srt, "-c:v", "libvpx", "-b:v", "100k", "-c:s", "webvtt", made["webm_vtt"])
    _ffmpeg(*clip, "-i", srt, "-c:v", "libx264", "-c:s", "srt", "-output_ts_offset", "2", made["mkv_offset"])
    return made


def _timeline(path: Path) -> list[tuple[float, float, str]]:
    from agentime.video.source import open_video

    info = open_video(path).info
    transcript, failures = load_transcript(path, duration=info.duration, start_offset=info.start_offset,
                                           settings=SpeechConfig(sidecar=False))
    assert failures == []
    return [(round(s.start, 2), round(s.end, 2), s.text) for s in transcript.segments]


def test_subtitle_streams_of_each_container_kind(containers):
    assert _timeline(containers["mkv_ass"]) == [(0.5, 1.5, "Styled words second row")]
    expected = [(1.0, 2.0, "first line"), (3.0, 4.5, "second line")]
    assert _timeline(containers["mp4_mov_text"]) == expected
    assert _timeline(containers["webm_vtt"]) == expected


def test_stream_cues_land_on_the_frames_clock_despite_a_start_offset(containers):
    from agentime.video.source import open_video

    assert open_video(containers["mkv_offset"]).info.start_offset == pytest.approx(2.0, abs=0.05)
    assert _timeline(containers["mkv_offset"]) == [(1.0, 2.0, "first line"), (3.0, 4.5, "second line")]


def test_stream_language_choice_and_a_bad_file_falls_through_to_the_stream(containers, tmp_path):
    assert read_subtitle_stream(containers["mkv_ass"], "fr").language == "fre"
    assert read_subtitle_stream(containers["mkv_ass"], "de") is None
    bad = tmp_path / "bad.srt"
    bad.write_bytes(b"\x00\x01\x02" * 100)
    transcript, failures = load_transcript(containers["mp4_mov_text"], duration=6.0, start_offset=0.0,
                                           settings=SpeechConfig(subtitles=bad))
    assert transcript.source.startswith("stream:") and len(transcript.segments) == 2
    assert len(failures) == 1 and "bad.srt is not text" in failures[0]


def test_stream_transcripts_are_cached_and_a_damaged_cache_is_read_again(containers, tmp_path):
    settings = SpeechConfig(sidecar=False)
    first, _ = load_transcript(containers["mp4_mov_text"], duration=6.0, start_offset=0.0, settings=settings,
                               cache_folder=tmp_path)
    [stored] = tmp_path.glob("transcript_stream_*.json")
    assert "second line" in stored.read_text()
    stored.write_text('{"format": 1, "source": "stream:0", "segments": [{"start": "x"}]}')  # a torn or altered file
    again, _ = load_transcript(containers["mp4_mov_text"], duration=6.0, start_offset=0.0, settings=settings,
                               cache_folder=tmp_path)
    assert again.segments == first.segments and again.source == first.source


def test_make_benchmark_speech_writes_srt_mkv_and_questions(tmp_path):
    import json

    from pipelines.make_benchmark import make_benchmark

    summary = make_benchmark(tmp_path, videos=1, minutes=2, seed=3, progress=False, speech=True)
    questions = json.loads((tmp_path / "questions.json").read_text())
    kinds = {q["task_type"] for q in questions}
    assert {"speech", "cross_modal", "needle"} <= kinds and summary["speech"]
    srt, mkv = tmp_path / "videos" / "synth_s3_000.srt", tmp_path / "videos_mkv" / "synth_s3_000.mkv"
    stream = read_subtitle_stream(mkv)
    assert stream.language == "eng" and len(stream.cues) == len(read_subtitle_file(srt).cues) > 4
    spoken = next(q for q in questions if q["task_type"] == "speech")
    assert any(spoken["answer_text"] in c.text for c in stream.cues)
    stamp = mkv.stat().st_mtime_ns
    make_benchmark(tmp_path, videos=1, minutes=2, seed=3, progress=False, speech=True)  # a rerun redoes nothing
    assert mkv.stat().st_mtime_ns == stamp


def test_a_stream_transcript_stored_while_the_recording_was_shorter_is_read_again(containers, tmp_path):
    settings = SpeechConfig(sidecar=False)
    early, _ = load_transcript(containers["mp4_mov_text"], duration=3.0, start_offset=0.0, settings=settings,
                               cache_folder=tmp_path)
    assert [s.text for s in early.segments] == ["first line"]  # the second cue starts at the end: skipped
    grown, _ = load_transcript(containers["mp4_mov_text"], duration=6.0, start_offset=0.0, settings=settings,
                               cache_folder=tmp_path)
    assert [s.text for s in grown.segments] == ["first line", "second line"]


def test_a_growing_recordings_subtitles_are_read_again_once_it_is_longer(tmp_path):
    from agentime.speech.prepare import speech_for_video

    video = tmp_path / "live.mp4"
    video.write_bytes(b"")  # only the subtitles beside it are read
    srt = tmp_path / "live.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nthe doors open\n", encoding="utf-8")
    folder = tmp_path / "cache"
    folder.mkdir()
    cache: dict = {}

    def read(duration: float) -> dict:
        entry = {"path": str(video), "directory": str(folder), "info": {"duration": duration, "start_offset": 0.0}}
        return speech_for_video(entry, SpeechConfig(streams=False), cache)[1]

    assert read(3.0)["segments"] == 1
    srt.write_text(srt.read_text() + "\n2\n00:00:04,000 --> 00:00:05,000\nthe first band plays\n", encoding="utf-8")
    assert read(3.0)["segments"] == 1  # same length: the process's copy
    assert read(6.0)["segments"] == 2  # longer: read again, the new line is in
