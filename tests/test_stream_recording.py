"""A stream served over HTTP on 127.0.0.1 is recorded into a growing file that the live layer follows."""

import functools
import http.server
import threading

import pytest

from agentime.video.live import LiveRecording
from agentime.video.sampling import sample_frames
from agentime.video.stream import StreamError, StreamRecorder, is_stream_url
from pipelines.synthetic.world import WorldConfig, generate_world, write_video


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    world = generate_world(5, WorldConfig(minutes=1, needles=1, groundings=1, orders=0, counts=1))
    write_video(world, folder / "camera.mp4", fragmented=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", world, folder / "camera.mp4"
    server.shutdown()


def test_stream_is_recorded_and_followed(served, tmp_path):
    base, world, original = served
    recorder = StreamRecorder(f"{base}/camera.mp4", tmp_path / "recording.mp4").start()
    recorder._thread.join(60)  # a finite stream: it ends when the file has been served
    assert recorder.error is None and recorder.packets == world.frame_count
    recorded = LiveRecording(tmp_path / "recording.mp4").poll(final=True).frames
    source = list(sample_frames(original, fps=1.0))
    assert len(recorded) == len(source) == int(world.duration)
    for a, b in zip(recorded, source, strict=True):  # packets were copied, not re-encoded: same pictures
        assert a.t == b.t and (a.image == b.image).all()


def test_bad_stream_urls(served, tmp_path):
    base, _, _ = served
    assert is_stream_url("rtsp://camera/1") and not is_stream_url("/data/video.mp4")
    with pytest.raises(StreamError, match="not a stream URL"):
        StreamRecorder("/data/video.mp4", tmp_path / "x.mp4")
    with pytest.raises(StreamError, match="cannot open|no video"):
        StreamRecorder(f"{base}/missing.mp4", tmp_path / "y.mp4", open_timeout=5).start()

