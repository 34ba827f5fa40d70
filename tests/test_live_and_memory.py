"""Growing recordings are followed without repeats or gaps; memory stays bounded on long videos."""

import gc

import numpy as np
import psutil
import pytest

from agentime.video.live import LiveRecording, read_tail
from agentime.video.sampling import sample_frames
from pipelines.synthetic.world import WorldConfig, generate_world, write_video


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    world = generate_world(77, WorldConfig(minutes=2, needles=1, groundings=1, orders=1, counts=1))
    return write_video(world, tmp_path_factory.mktemp("live") / "finished.mp4", fragmented=True), world


def test_polls_follow_a_growing_file(recording, tmp_path):
    finished, world = recording
    data = finished.read_bytes()
    live = tmp_path / "live.mp4"
    follower = LiveRecording(live)
    seen = []
    for fraction in (0.35, 0.7, 1.0):
        live.write_bytes(data[: int(len(data) * fraction)])  # the recorder appended more bytes
        tail = follower.poll(final=fraction == 1.0)
        assert all(f.t > (seen[-1] if seen else -1) for f in tail.frames)
        seen.extend(f.t for f in tail.frames)
        assert follower.poll(final=fraction == 1.0).frames == []  # nothing new since the last poll
    whole = [f.t for f in sample_frames(finished, fps=1.0)]
    assert seen == pytest.approx(whole)
    assert len(seen) == int(world.duration)


def test_read_tail_since_a_time(recording):
    finished, _ = recording
    tail = read_tail(finished, since=100.0, final=True)
    assert [f.t for f in tail.frames] == pytest.approx(np.arange(101.0, 120.0))
    assert read_tail(finished, since=500.0).frames == []


def test_memory_stays_bounded_while_streaming_a_long_video(tmp_path):
    world = generate_world(9, WorldConfig(minutes=40, fps=2.0))
    path = write_video(world, tmp_path / "long.mp4", gop_seconds=10)
    process = psutil.Process()
    stream = sample_frames(path, fps=2.0)  # every frame: 4800 frames, 1.1 GB if they were all kept
    rss = []
    for i, frame in enumerate(stream):
        if i in (200, 4700):
            gc.collect()
            rss.append(process.memory_info().rss)
    assert i == 4799
    assert rss[1] - rss[0] < 40 * 2**20, f"memory grew by {(rss[1] - rss[0]) / 2**20:.0f} MiB"
