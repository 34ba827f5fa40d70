"""Each kind of bad video gives a specific VideoError with an actionable message, never a hang or crash."""

import random
import warnings

import numpy as np
import pytest

from agentime.errors import (
    CorruptVideoError,
    NoDecodableFramesError,
    NotAVideoError,
    TimestampOutOfRangeError,
    VideoError,
    VideoNotFoundError,
)
from agentime.video.ingest import ingest
from agentime.config import Config
from agentime.video.sampling import sample_frames
from agentime.video.source import open_video


def test_missing_path(tmp_path):
    with pytest.raises(VideoNotFoundError, match="no such video file"):
        open_video(tmp_path / "nope.mp4")


def test_directory(tmp_path):
    with pytest.raises(NotAVideoError, match="is a directory"):
        open_video(tmp_path)


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(NotAVideoError, match="empty"):
        open_video(empty)


def test_non_video_file(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("these are meeting notes, not a video\n" * 50)
    with pytest.raises(NotAVideoError, match="not a readable video"):
        open_video(text)


def test_audio_only_file_has_no_video(tmp_path):
    import av

    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(NoDecodableFramesError, match="no video stream"):
        open_video(path)


def test_video_stream_with_no_decodable_frames(synthetic_video, tmp_path):
    data = bytearray(synthetic_video[0].read_bytes())
    payload = data.index(b"mdat") + 4
    rng = random.Random(0)
    data[payload:] = bytes(rng.getrandbits(8) for _ in range(len(data) - payload))
    broken = tmp_path / "garbage_payload.mp4"
    broken.write_bytes(bytes(data))
    with pytest.raises(NoDecodableFramesError, match="no decodable frames"):
        open_video(broken)


def test_truncated_mp4_reports_readable_duration(synthetic_video, tmp_path):
    path, world = synthetic_video
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(CorruptVideoError, match="truncated") as caught:
        open_video(cut)
    readable = caught.value.readable_duration
    assert 0.3 * world.duration < readable < 0.9 * world.duration
    with pytest.warns(UserWarning, match="truncated"):
        source = open_video(cut, allow_truncated=True)
    assert source.info.truncated and source.info.duration == pytest.approx(readable)
    frames = list(sample_frames(source, fps=1.0))
    assert len(frames) >= int(readable) - 1 and frames[-1].t <= readable


def test_mp4_cut_before_its_index_was_written(synthetic_video, tmp_path):
    import av

    from pipelines.synthetic.world import generate_world, WorldConfig

    path = tmp_path / "index_at_end.mp4"
    world = generate_world(5, WorldConfig(minutes=1, needles=1, groundings=1, orders=0, counts=1))
    with av.open(str(path), "w") as container:  # no faststart: the index comes last, as recorders write it
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = world.width, world.height, "yuv420p"
        for i in range(40):
            for packet in stream.encode(av.VideoFrame.from_ndarray(world.render(i / 4), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptVideoError, match="moov") as caught:
        open_video(path)
    assert caught.value.readable_duration == 0.0


def test_damaged_middle_is_skipped_not_fatal(synthetic_video, tmp_path):
    path, world = synthetic_video
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle: middle + 4000] = bytes(4000)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = list(sample_frames(open_video(damaged, allow_truncated=True), fps=1.0))
    assert len(frames) > 0.9 * world.duration
    assert np.all(np.diff([f.t for f in frames]) > 0)


@pytest.mark.parametrize("request_kwargs", [
    {"timestamps": [-1.0]}, {"timestamps": [10.0, 1e6]}, {"timestamps": [float("nan")]},
    {"fps": 1.0, "start": 1e6}, {"fps": 1.0, "start": 50.0, "end": 20.0},
])
def test_timestamps_outside_the_video(synthetic_video, request_kwargs):
    with pytest.raises(TimestampOutOfRangeError, match="outside the video|after start"):
        list(sample_frames(synthetic_video[0], **request_kwargs))


def test_bad_rate_and_mixed_requests(synthetic_video):
    with pytest.raises(ValueError, match="positive"):
        list(sample_frames(synthetic_video[0], fps=0))
    with pytest.raises(ValueError, match="either fps"):
        list(sample_frames(synthetic_video[0], fps=1, timestamps=[1.0]))


def test_ingest_of_bad_input_raises_video_error(tmp_path):
    bogus = tmp_path / "bogus.mkv"
    bogus.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoError):
        ingest(bogus, Config(cache_dir=tmp_path / "cache"))
    assert not any((tmp_path / "cache").rglob("manifest.json"))
