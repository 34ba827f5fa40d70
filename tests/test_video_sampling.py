"""Sampling returns the frame that was written at each returned timestamp, with the right method."""


import numpy as np
import pytest

from agentime.video.sampling import plan_sampling, sample_frames
from agentime.video.source import open_video
from video_reference import write_timed_frames


def assert_shows_frame_written_at_t(world, frame) -> None:
    """The decoded image matches what the generator wrote at `frame.t` better than its neighbours' frames
    (ties happen when nothing moves, and then any of them is the same picture)."""
    step = 1.0 / world.fps
    own = np.abs(world.render(frame.t).astype(np.int16) - frame.image).mean()
    assert own < 6, f"frame at {frame.t} does not look like the generated frame (mean error {own:.1f})"
    for t in (frame.t - step, frame.t + step):
        if 0 <= t < world.duration:
            other = np.abs(world.render(t).astype(np.int16) - frame.image).mean()
            assert own <= other + 1e-6, f"frame labelled {frame.t} shows the content of {t}"


def test_info_describes_the_generated_file(synthetic_video):
    path, world = synthetic_video
    info = open_video(path).info
    assert info.duration == pytest.approx(world.duration, abs=0.3)
    assert info.fps == pytest.approx(world.fps)
    assert info.frame_count == world.frame_count
    assert (info.width, info.height, info.codec) == (320, 240, "h264")
    assert info.keyframe_interval == pytest.approx(5.0)
    assert info.reference_interval == pytest.approx(1.0)  # 3 non-reference B-frames between references
    assert info.seekable and not info.variable_frame_rate and not info.truncated


@pytest.mark.parametrize("method", ["auto", "reference", "sequential", "opencv", "seek"])
def test_rate_sampling_frames_match_ground_truth(synthetic_video, method):
    path, world = synthetic_video
    frames = list(sample_frames(path, fps=1.0, method=method))
    times = np.array([f.t for f in frames])
    assert len(frames) == int(world.duration)
    assert np.all(np.diff(times) > 0)
    assert np.abs(times - np.arange(len(frames))).max() <= 0.5
    for frame in frames[::7]:
        assert_shows_frame_written_at_t(world, frame)


def test_timestamps_give_the_frame_shown_at_each_time(synthetic_video):
    path, world = synthetic_video
    asked = [200.0, 10.3, 77.74, 0.0, 239.9]
    frames = list(sample_frames(path, timestamps=asked))
    expected = sorted(np.floor(np.array(asked) * world.fps + 1e-9) / world.fps)
    assert [f.t for f in frames] == pytest.approx(expected)
    for frame in frames:
        assert_shows_frame_written_at_t(world, frame)


def test_window_sampling_stays_inside_the_window(synthetic_video):
    path, _ = synthetic_video
    frames = list(sample_frames(path, fps=2.0, start=30.0, end=40.0))
    assert [f.t for f in frames] == pytest.approx(np.arange(30.0, 40.0, 0.5))


def test_method_follows_the_request(synthetic_video):
    path, _ = synthetic_video
    source = open_video(path)
    assert plan_sampling(source, fps=0.1).method == "keyframes"
    assert plan_sampling(source, fps=1.0).method == "reference"
    assert plan_sampling(source, fps=4.0).method == "sequential"
    plan = plan_sampling(source, timestamps=[1.0, 2.0, 100.0, 200.0])
    assert plan.method == "sequential" and plan.runs == [(0, 2), (2, 3), (3, 4)]  # far targets are seeked


def test_keyframe_overview_returns_real_keyframe_times(synthetic_video):
    path, world = synthetic_video
    frames = list(sample_frames(path, fps=0.1, max_side=160))
    assert [f.t for f in frames] == pytest.approx(np.arange(0, world.duration, 10.0))
    assert frames[0].image.shape == (120, 160, 3)


def test_real_h264_sample(real_videos):
    info = open_video(real_videos / "mmcv_test.mp4").info
    assert (info.width, info.height, info.codec, info.frame_count) == (294, 240, "h264", 168)
    assert info.duration == pytest.approx(6.72)
    frames = list(sample_frames(real_videos / "mmcv_test.mp4", fps=1.0))
    assert [f.t for f in frames] == pytest.approx(np.arange(7.0), abs=0.021)
    every = list(sample_frames(real_videos / "mmcv_test.mp4", fps=25.0))
    assert len(every) == 168
    exact = list(sample_frames(real_videos / "mmcv_test.mp4", timestamps=[f.t for f in every[::40]]))
    for a, b in zip(exact, every[::40], strict=True):
        assert a.t == b.t and np.array_equal(a.image, b.image)


def test_4k_hevc_is_decoded_and_downscaled(real_videos):
    source = open_video(real_videos / "wildcam_test.mp4")
    assert (source.info.width, source.info.height, source.info.codec) == (3840, 2160, "hevc")
    frames = list(sample_frames(source, fps=1.0, max_side=384))
    assert len(frames) == 6 and all(f.image.shape == (216, 384, 3) for f in frames)
    assert frames[2].image.std() > 5  # real content, not a blank frame


def test_variable_frame_rate_uses_presentation_times(tmp_path):
    written = [0.0, 0.1, 0.15, 0.9, 1.0, 2.5, 2.55, 2.6, 4.0, 4.04, 5.7, 6.0]
    images = [np.full((48, 64, 3), (i * 20) % 256, np.uint8) for i in range(len(written))]
    path = write_timed_frames(tmp_path / "vfr.mp4", images, written, options={"g": "4", "bf": "0"})
    source = open_video(path)
    assert source.info.variable_frame_rate
    frames = list(sample_frames(source, timestamps=[0.12, 2.0, 4.03, 5.9]))
    assert [f.t for f in frames] == pytest.approx([0.1, 1.0, 4.0, 5.7])
    for frame in frames:
        index = written.index(round(frame.t, 2))
        assert abs(int(frame.image.mean()) - (index * 20) % 256) <= 3
