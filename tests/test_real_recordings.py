"""Real recordings, read right: every clip of the corpus (`tests/data/real_videos/`) and every generated fixture
matches a reference decode by Debian's ffmpeg in duration, displayed proportions and orientation, and the
timing of the frame shown at each time; and a question about it is answered without error."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from agentime.config import Config, VideoConfig
from agentime.video.sampling import sample_frames
from agentime.video.source import open_video
from video_reference import VFR_TIMES, reference, write_fixtures

CORPUS = Path(__file__).resolve().parent / "data" / "real_videos"
REAL_CLIPS = sorted(p.name for p in CORPUS.iterdir() if p.name not in ("LICENSE", "README.md"))
FIXTURES = ["anamorphic_pal.mp4", "rotated_90.mp4", "rotated_180.mp4", "rotated_270.mp4", "start_offset.mp4",
            "hls_segment.ts", "pts_wrap.ts", "late_keyframe.ts", "two_tracks.mkv", "vfr.mp4"]
SIDE = 96  # the frames compared are this size, like the reference's


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory) -> dict[str, Path]:
    return write_fixtures(tmp_path_factory.mktemp("video_fixtures"))


def clip_path(name: str, fixtures: dict[str, Path]) -> Path:
    return fixtures[name] if name in fixtures else CORPUS / name


ALL = [pytest.param(name, id=name) for name in REAL_CLIPS + FIXTURES]


def test_the_corpus_is_small_licensed_and_listed():
    assert len(REAL_CLIPS) >= 15
    assert sum((CORPUS / name).stat().st_size for name in REAL_CLIPS) < 20 * 2**20
    assert "Apache License" in (CORPUS / "LICENSE").read_text()
    listing = (CORPUS / "README.md").read_text()
    assert all(f"`{name}`" in listing for name in REAL_CLIPS)


def _mean_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _wrong_orientations(image: np.ndarray) -> list[np.ndarray]:
    """The turns and mirrors of `image` that keep its shape (what a wrong orientation would look like)."""
    turned = [image[::-1, ::-1], image[:, ::-1], image[::-1, :]]
    if image.shape[0] == image.shape[1]:
        turned += [np.rot90(image), np.rot90(image, -1), image.transpose(1, 0, 2)]
    return turned


@pytest.mark.parametrize("name", ALL)
def test_clip_matches_the_reference_decode(name, fixtures):
    import cv2

    path = clip_path(name, fixtures)
    info = open_video(path).info
    ref = reference(path, info.stream_index)

    # duration: the span of presentation times, within one frame (the last interval, which VFR makes long)
    last_interval = float(ref.times[-1] - ref.times[-2]) if ref.times.size > 1 else ref.interval
    assert info.duration == pytest.approx(ref.duration, abs=max(ref.interval, last_interval) + 1e-3)
    # displayed proportions and size (rotation and pixel aspect applied)
    assert info.width / info.height == pytest.approx(ref.width / ref.height, rel=0.02)

    # the frame shown at chosen times: its own time and its picture, upright
    picks = sorted({0, ref.times.size // 3, (2 * ref.times.size) // 3, ref.times.size - 1})
    asked = [float(ref.times[i]) for i in picks]
    asked += [float(ref.times[i] + 0.6 * (ref.times[i + 1] - ref.times[i])) for i in picks if i + 1 < ref.times.size]
    asked = sorted(t for t in asked if t <= info.duration)
    frames = list(sample_frames(path, timestamps=asked, max_side=SIDE))
    assert len(frames) == len(asked)
    for t, frame in zip(asked, frames, strict=True):
        shown = ref.index_shown_at(t)
        assert frame.t == pytest.approx(ref.times[shown], abs=1e-3), f"{name}: asked {t:.4f}"
        expected = ref.frames[shown]
        assert abs(frame.width - expected.shape[1]) <= 1 and abs(frame.height - expected.shape[0]) <= 1
        image = cv2.resize(frame.image, (expected.shape[1], expected.shape[0]), interpolation=cv2.INTER_AREA)
        error = _mean_error(image, expected)
        assert error < 12, f"{name} at {frame.t:.3f} s differs from the reference (mean error {error:.1f})"
        assert all(error < _mean_error(image, wrong) for wrong in _wrong_orientations(expected)
                   if _mean_error(expected, wrong) > 8), f"{name} at {frame.t:.3f} s is turned or mirrored"

    # a rate request returns real frames, each once, in order
    rate = list(sample_frames(path, fps=2.0, max_side=SIDE))
    times = np.array([f.t for f in rate])
    assert times.size >= 1 and np.all(np.diff(times) > 0)
    assert np.abs(times[:, None] - ref.times[None, :]).min(axis=1).max() < 1e-3


def test_what_the_headers_get_wrong_is_measured(fixtures):
    """MKV header rate of 1000 fps and a duration that counts its subtitles; MPEG-TS and edit-list starts."""
    mkv = open_video(CORPUS / "sample_with_srt.mkv").info
    assert mkv.fps == pytest.approx(30, abs=0.1) and mkv.frame_count == 30 and mkv.duration < 1.0
    assert open_video(CORPUS / "sample_av1.mp4").info.codec == "av1"  # not the decoder's name, libdav1d
    ts = open_video(CORPUS / "sample_h264.ts").info
    assert ts.start_offset == pytest.approx(1.4667, abs=1e-3) and ts.duration == pytest.approx(1.0, abs=0.034)
    edit = open_video(CORPUS / "edit_list_positive_shift.mp4").info
    assert edit.start_offset == pytest.approx(1.0) and edit.duration == pytest.approx(9.0, abs=0.034)
    segment = open_video(fixtures["hls_segment.ts"]).info
    assert segment.start_offset > 10 and segment.duration == pytest.approx(4.0, abs=0.11)
    wrapped = open_video(fixtures["pts_wrap.ts"]).info
    assert wrapped.duration == pytest.approx(4.0, abs=0.11) and wrapped.frame_count == 40
    vfr = open_video(fixtures["vfr.mp4"]).info
    assert vfr.variable_frame_rate and vfr.frame_count == len(VFR_TIMES)


def test_rotation_and_pixel_aspect_are_reported_and_applied(fixtures):
    flat = open_video(fixtures["anamorphic_pal.mp4"]).info
    assert (flat.width, flat.height, flat.sample_aspect_ratio) == (256, 144, "16:11")
    assert (flat.coded_width, flat.coded_height) == (176, 144)
    for degrees, clockwise in ((90, 270), (180, 180), (270, 90)):  # the tag turns counter-clockwise
        info = open_video(fixtures[f"rotated_{degrees}.mp4"]).info
        assert info.rotation == clockwise and not info.mirrored
        assert (info.width, info.height) == ((144, 256) if degrees != 180 else (256, 144))
        frame = next(sample_frames(fixtures[f"rotated_{degrees}.mp4"], timestamps=[1.0], max_side=128))
        assert frame.image.shape == ((128, 72, 3) if degrees != 180 else (72, 128, 3))
    phone = open_video(CORPUS / "dolbyVision-hdr.MOV").info
    assert (phone.rotation, phone.width, phone.height, phone.codec) == (90, 720, 1280, "hevc")
    transposed = open_video(CORPUS / "sample_rotate_and_reflect.mp4").info
    assert (transposed.rotation, transposed.mirrored) == (90, True)


def test_the_default_video_track_is_read_and_reported(fixtures):
    info = open_video(fixtures["two_tracks.mkv"]).info
    assert (info.video_tracks, info.stream_index, info.width, info.height) == (2, 1, 96, 64)
    frame = next(sample_frames(fixtures["two_tracks.mkv"], timestamps=[2.0]))
    assert frame.image[..., 0].mean() > 200 and frame.image[..., 1:].mean() < 60  # the red track


def test_a_ts_joined_mid_picture_group_samples_from_its_first_keyframe(fixtures, tmp_path):
    """Frames before the first keyframe cannot be decoded: the clock starts at the keyframe, every request
    returns frames, and an ingest caches a full overview."""
    from agentime.video.ingest import ingest

    path = fixtures["late_keyframe.ts"]
    info = open_video(path).info
    for method in ("auto", "seek", "sequential"):
        frames = list(sample_frames(path, timestamps=[0.0, 0.5, info.duration - 0.05], method=method))
        assert [f.t for f in frames] == pytest.approx([0.0, 0.5, info.duration - 0.1], abs=1e-3)
    result = ingest(path, Config(cache_dir=tmp_path, video=VideoConfig(max_side=64)))
    assert result.frames == int(np.ceil(info.duration)) and result.store.complete


@pytest.mark.parametrize("name", ["sample_h264.ts", "iibbibb_editlist_videoonly.mp4"])
def test_a_picture_has_one_identity_whichever_path_decoded_it(name, tmp_path):
    """The overview cache and a decode from the file give the same picture the same `t` and `pts`."""
    from agentime.video.ingest import ingest

    path = CORPUS / name
    cached = list(ingest(path, Config(cache_dir=tmp_path, video=VideoConfig(overview_fps=4.0))).iter_frames())
    decoded = list(sample_frames(path, timestamps=[f.t for f in cached]))
    assert [f.pts for f in cached] == [f.pts for f in decoded] and None not in [f.pts for f in cached]
    assert [f.t for f in cached] == [f.t for f in decoded]
    assert len({f.pts for f in cached}) == len(cached)


@pytest.fixture(scope="module")
def embedded_target():
    from agentime.vlm.registry import load_vlm

    return load_vlm("embedded:target")


def test_every_clip_can_be_asked_about(fixtures, embedded_target, tmp_path):
    """`ask` with the shipped target model and a budget of one frame answers about every clip, and the
    evidence frames are shown as displayed (proportions of the displayed video)."""
    from agentime.api import ask

    config = Config(cache_dir=tmp_path)
    models = {"target": embedded_target, "draft": None, "embedder": None}
    for name in REAL_CLIPS + FIXTURES:
        path = clip_path(name, fixtures)
        info = open_video(path).info
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # none of these clips is damaged: no warning either
            answer = ask(path, "is there a red circle?", models=models, budget=1, strategy="uniform",
                         config=config)
        assert isinstance(answer.text, str) and answer.evidence, name
        for evidence in answer.evidence:
            assert 0 <= evidence.t <= info.duration, name
            shape = evidence.frame.image.shape
            assert shape[1] / shape[0] == pytest.approx(info.width / info.height, rel=0.03), name


@pytest.mark.parametrize("name", ["sample_h264.ts", "bear-vp9.webm", "dolbyVision-hdr.MOV", "sample_with_srt.mkv"])
def test_damaged_real_clips_give_video_errors_or_frames(name, tmp_path):
    """Cut or scrambled copies of real clips either still give frames or raise a VideoError with one line:
    never another exception, never a hang (pytest-timeout would stop one)."""
    from agentime.errors import VideoError

    data = (CORPUS / name).read_bytes()
    rng = np.random.default_rng(7)
    for case in range(6):
        damaged = bytearray(data[: int(len(data) * rng.uniform(0.3, 0.95))] if case % 2 else data)
        for position in rng.integers(0, len(damaged), size=20 * (case + 1)):
            damaged[position] = rng.integers(0, 256)
        path = tmp_path / f"{case}_{name}"
        path.write_bytes(bytes(damaged))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                source = open_video(path, allow_truncated=True)
                frames = list(sample_frames(source, fps=2.0, max_side=64))
                frames += list(sample_frames(source, timestamps=[0.0, source.info.duration], max_side=64))
        except VideoError as error:
            message = str(error)
            assert "\n" not in message and path.name in message, message
        else:
            assert frames and all(0 <= f.t <= source.info.duration + 1e-6 for f in frames)
