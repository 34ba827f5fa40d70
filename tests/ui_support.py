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
    from pipelines.make_benchmark import make_benchmark

    make_benchmark(folder, videos=1, minutes=minutes, seed=seed, progress=False)
    return folder / "videos" / f"synth_s{seed}_000.mp4"


def make_tiny_model(folder: Path) -> Path:
    from agentime.vlm.tiny import build_llava

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

    def __init__(self, args: list[str], log: Path, timeout: float = 120.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
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
