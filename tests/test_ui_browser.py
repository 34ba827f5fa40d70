"""The web UI in a real browser: headless Chromium drives `python app.py` (tiny random `hf:` target).

Uploads the demo video, asks a question, waits for the answer and the evidence gallery, saves a screenshot
to `artifacts/ui/answered.png`, selects an evidence frame (the player seeks there), and checks that bad input
shows readable messages and that two browsers get separate sessions. Needs Debian's `chromium` and the
`playwright` package (no browser download); outside CI the test is skipped when they are missing.
"""

import os
import shutil

import pytest

from ui_support import CHROMIUM_FLAGS, ROOT, UIServer, chromium_path, make_demo_video, make_tiny_model

ARTIFACTS = ROOT / "artifacts" / "ui"


def _need_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if chromium_path() is None:
        missing.append("chromium (apt-get install chromium)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _need_browser()
    folder = tmp_path_factory.mktemp("ui-browser")
    video = make_demo_video(folder / "bench", minutes=3)
    allowed = folder / "allowed"
    allowed.mkdir()
    shutil.copy(video, allowed / "demo.mp4")
    model = make_tiny_model(folder / "tiny")
    running = UIServer(["--target", f"hf:{model}", "--draft", "", "--embedder", "", "--allowed-dir", str(allowed),
                        "--cache", str(folder / "cache")], folder / "server.log")
    running.video, running.allowed, running.folder = allowed / "demo.mp4", allowed, folder
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def status_includes(*words: str) -> str:
    tests = " || ".join(f"s.includes({w!r})" for w in words)
    return ("(() => { const e = document.querySelector('#status'); const s = e ? e.innerText : ''; "
            f"return {tests}; }})()")


def open_page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1900})
    page.goto(server.url)
    page.wait_for_selector("#upload input[type=file]", state="attached", timeout=60_000)
    return page


def test_upload_ask_answer_gallery_and_seek(browser, server):
    page = open_page(browser, server)
    page.locator("#upload input[type=file]").set_input_files(str(server.video))
    page.wait_for_function(status_includes("Video ready", "Error"), timeout=60_000)
    assert "Video ready: demo.mp4 (03:00)" in page.locator("#status").inner_text()

    page.locator("#question textarea").fill("When does the pink square first appear?")
    page.locator("#ask").click()
    page.wait_for_function(status_includes("%"), timeout=60_000)  # live progress while searching
    page.wait_for_function(status_includes("Done.", "Error"), timeout=180_000)
    assert page.locator("#status").inner_text().strip() == "Done."
    answer = page.locator("#answer").inner_text()
    assert "Answer:" in answer and "Confidence:" in answer and "timesearch" in answer
    page.wait_for_selector("#evidence img", timeout=30_000)
    assert page.locator("#evidence img").count() >= 1
    assert page.locator("#timeline svg").count() == 1
    assert "Searched the video" in page.locator("#chat").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "answered.png"), full_page=True)

    caption = page.locator("#evidence img").first
    caption.click()
    page.wait_for_function(status_includes("Player moved to"), timeout=30_000)
    moved = page.locator("#status").inner_text()
    minutes, seconds = moved.split("Player moved to ")[1][:5].split(":")
    wanted = int(minutes) * 60 + int(seconds)
    page.wait_for_function("(() => { const v = document.querySelector('#player video'); "
                           f"return v && Math.abs(v.currentTime - {wanted}) <= 1; }})()", timeout=30_000)
    assert "Traceback" not in page.content()
    page.close()


def test_bad_input_shows_messages_and_sessions_are_separate(browser, server, tmp_path):
    page = open_page(browser, server)
    other = open_page(browser, server)

    page.locator("#path textarea, #path input").first.fill("/etc/passwd")
    page.locator("#open-path").click()
    page.wait_for_function(status_includes("Error"), timeout=30_000)
    assert "outside the folders this server may read" in page.locator("#status").inner_text()

    not_video = tmp_path / "holiday.mp4"
    not_video.write_text("not a video at all\n" * 50)
    page.locator("#upload input[type=file]").set_input_files(str(not_video))
    page.wait_for_function(status_includes("Error:"), timeout=30_000)
    assert "Traceback" not in page.locator("#status").inner_text()

    page.locator("#path textarea, #path input").first.fill(str(server.video))
    page.locator("#open-path").click()
    page.wait_for_function(status_includes("Video ready"), timeout=30_000)

    # The second browser has its own session: no video chosen there.
    other.locator("#question textarea").fill("What is shown?")
    other.locator("#ask").click()
    other.wait_for_function(status_includes("Error"), timeout=30_000)
    assert "choose a video first" in other.locator("#status").inner_text()
    for p in (page, other):
        assert "Traceback" not in p.content()
        p.close()
