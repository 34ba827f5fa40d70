"""Helpers for the UI tests: a demo video, a tiny random `hf:` model folder, and a real UI server process.

The server is `python app.py` in a subprocess on a free port of 127.0.0.1, so the browser test talks to the
same program a user starts. Test code only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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
