"""Helpers for the UI tests: a demo video, a tiny random `hf:` model folder, a real UI server process, and the
one server and Chromium that the browser tests share (`browser_server`; conftest.py makes them session
fixtures, so `make test` starts them once).

The server is `python app.py` in a subprocess on a free port of 127.0.0.1, so the browser tests talk to the
same program a user starts. Test code only.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]


def make_demo_video(folder: Path, minutes: float = 3, seed: int = 2024) -> Path:
    """A synthetic long-video sample like `make demo`'s, shorter; returns the video's path."""
    from pipelines.synthetic.make_benchmark import make_benchmark

    make_benchmark(folder, videos=1, minutes=minutes, seed=seed, progress=False)
    return folder / "videos" / f"synth_s{seed}_000.mp4"


def make_tiny_model(folder: Path) -> Path:
    from pipelines.tiny.vlms import build_llava

    return build_llava(folder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class UIServer:
    """`python app.py ...` running until `stop()`; its output goes to `log`."""

    def __init__(self, args: list[str], log: Path, timeout: float = 120.0, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               **(env or {})}
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port), *args], cwd=ROOT,
                                        env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.log = log
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the UI server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the UI server did not answer in {timeout} s: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def make_clip(path: Path, *, codec: str = "libx264", width: int = 160, height: int = 96, seconds: float = 6.0,
              fps: int = 10, container: str | None = None) -> Path:
    """A short clip of moving colour bars (e.g. HEVC in MPEG-TS, or a portrait H.264 MP4), written with PyAV."""
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container) as sink:
        stream = sink.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            image = np.zeros((height, width, 3), dtype=np.uint8)
            image[:, :, 0] = (np.arange(width) * 255 // width)[None, :]
            image[: height // 2, :, 1] = (i * 20) % 255
            image[height // 2:, :, 2] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                sink.mux(packet)
        for packet in stream.encode():
            sink.mux(packet)
    return path


def make_audio_only(path: Path, seconds: float = 3.0) -> Path:
    """An MP4 holding only an audio track (no video): a file a user may upload by mistake."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="mp4") as sink:
        stream = sink.add_stream("aac", rate=16000)
        stream.layout = "mono"
        samples = (np.sin(np.arange(int(16000 * seconds)) / 8.0) * 0.3).astype(np.float32)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                sink.mux(packet)
        for packet in stream.encode():
            sink.mux(packet)
    return path


def need_browser() -> None:
    """Skip (fail in CI) when the browser tests cannot run: playwright, axe-core's binding or Chromium missing."""
    missing = []
    for module, what in (("playwright.sync_api", "the playwright package"),
                         ("axe_playwright_python", "the axe-playwright-python package")):
        try:
            __import__(module)
        except ImportError:
            missing.append(what)
    if chromium_path() is None:
        missing.append("chromium (apt-get install chromium)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def browser_server(folder: Path) -> Iterator[UIServer]:
    """`python app.py` over an allowed folder holding a 2-minute demo video (`demo.mp4`) and a library folder
    (`lectures/`: two 1-minute videos and a text file), allowed to record streams from 127.0.0.1, where a
    local HTTP server serves `clips/`. Attributes: `allowed`, `clips`, `temp` (the server's own temporary
    folder), `folder`, `question` (a question about demo.mp4), `asked` ((file name, "which video" question)
    per lecture), `stream_url`. On exit the server stops and no recording may be left behind."""
    from pipelines.synthetic.make_benchmark import library_configs, library_questions
    from pipelines.synthetic.world import WorldConfig, generate_world, write_video

    allowed = folder / "allowed"
    allowed.mkdir()
    demo = make_demo_video(folder / "bench", minutes=2)
    shutil.copy(demo, allowed / "demo.mp4")
    question = json.loads((folder / "bench" / "questions.json").read_text())[0]
    shutil.copy(make_demo_video(folder / "bench2", minutes=2, seed=7), folder / "second.mp4")
    lectures = allowed / "lectures"
    lectures.mkdir()
    asked = []
    for number, config in enumerate(library_configs(2, minutes=1, fps=2, seed=4)):
        world = generate_world(700 + number, config)
        path = write_video(world, lectures / f"lecture_{number}.mp4")
        asked.append((path.name, next(q for q in library_questions(world, path.stem, number)
                                      if q["task_type"] == "which_video")))
    (lectures / "notes.txt").write_text("not a video")
    clips = folder / "clips"
    make_clip(clips / "camera-hevc.ts", codec="libx265", width=192, height=108, container="mpegts")
    make_clip(clips / "portrait.mp4", width=108, height=192)
    make_audio_only(clips / "voice.mp4")
    (clips / "holiday.mp4").write_text("not a video at all\n" * 50)
    world = generate_world(5, WorldConfig(minutes=1, needles=1, groundings=1, orders=0, counts=1))
    write_video(world, clips / "camera.mp4", fragmented=True)
    streams = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(http.server.SimpleHTTPRequestHandler,
                                                                        directory=str(clips)))
    threading.Thread(target=streams.serve_forever, daemon=True).start()
    temp = folder / "server-tmp"  # the UI's own temporary folder: its recordings must be gone when it stops
    temp.mkdir()
    running = UIServer(["--allowed-dir", str(allowed), "--cache", str(folder / "cache"),
                        "--allow-stream-hosts", "127.0.0.1"], folder / "server.log",
                       env={"TMPDIR": str(temp), "GRADIO_TEMP_DIR": str(folder / "gradio")})
    running.allowed, running.clips, running.temp, running.folder = allowed, clips, temp, folder
    running.question, running.asked = question, asked
    running.stream_url = f"http://127.0.0.1:{streams.server_address[1]}/camera.mp4"
    try:
        yield running
    finally:
        running.stop()
        streams.shutdown()
    leftovers = [p for p in temp.glob("agentime-ui-recordings-*/*/*") if p.is_dir()]
    assert leftovers == [], f"recordings left behind after the UI stopped: {leftovers}"


@contextlib.contextmanager
def chromium_browser() -> Iterator[object]:
    """Debian's headless Chromium driven by playwright (never a downloaded browser build)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()
