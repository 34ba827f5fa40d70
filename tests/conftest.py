"""Shared test setup: offline model hubs, small real video files generated once per test session, and the one
UI server and headless Chromium that the browser tests share (started once, at the first test that needs them)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def real_videos() -> Path:
    folder = SHARED / "real_videos"
    assert folder.is_dir(), f"shared test data missing at {folder}"
    return folder


@pytest.fixture(scope="session")
def synthetic_video(tmp_path_factory):
    """A 4-minute synthetic video (4 fps, keyframe every 5 s) and the world it was rendered from."""
    from pipelines.synthetic.world import WorldConfig, generate_world, write_video

    world = generate_world(321, WorldConfig(minutes=4))
    path = write_video(world, tmp_path_factory.mktemp("synthetic") / "world.mp4")
    return path, world


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory):
    """`python app.py` with a demo video, a library folder and stream recording allowed (`ui_support.browser_server`)."""
    from ui_support import browser_server, need_browser

    need_browser()
    with browser_server(tmp_path_factory.mktemp("ui-browser")) as running:
        yield running


@pytest.fixture(scope="session")
def ui_browser(ui_server):
    from ui_support import chromium_browser

    with chromium_browser() as chromium:
        yield chromium
