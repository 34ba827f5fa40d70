"""The web UI's library panel as people use it: headless Chromium opens a folder under the allowed folder as a
library, asks which video shows an object, and the player jumps to that video and moment (desktop and phone
sizes; screenshots in `artifacts/ui/`). A folder outside the allowed ones is refused before any read."""

import json

import pytest

from pipelines.synthetic.make_benchmark import library_configs, library_questions
from pipelines.synthetic.world import generate_world, write_video
from ui_support import CHROMIUM_FLAGS, ROOT, UIServer, chromium_path

ARTIFACTS = ROOT / "artifacts" / "ui"
DESKTOP, PHONE = {"width": 1400, "height": 900}, {"width": 390, "height": 844}


def test_a_folder_outside_the_allowed_ones_is_refused_before_any_read(tmp_path):
    from ui.callbacks import Runtime
    from ui.library import ask_library, open_library
    from ui.settings import UISettings

    allowed = tmp_path / "allowed"
    (allowed / "lib").mkdir(parents=True)
    (tmp_path / "private").mkdir()
    runtime = Runtime(UISettings(allowed_dirs=(allowed,), cache_dir=tmp_path / "cache"))
    for typed in ("../private", str(tmp_path / "private"), "lib/../../private"):
        values = open_library(typed, None, runtime)
        assert values["library_status"].startswith("Error:") and "outside the folders" in values["library_status"]
    assert ask_library("Which video?", None, runtime)["library_status"] == "Error: open a folder as a library first"
    assert not (tmp_path / "cache").exists()  # nothing was read or cached


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from test_ui_browser import _need_browser

    _need_browser()
    folder = tmp_path_factory.mktemp("library-ui")
    lib = folder / "allowed" / "lectures"
    lib.mkdir(parents=True)
    asked = []
    for number, config in enumerate(library_configs(2, minutes=1, fps=2, seed=4)):
        world = generate_world(700 + number, config)
        path = write_video(world, lib / f"lecture_{number}.mp4")
        asked.append((path.name, next(q for q in library_questions(world, path.stem, number)
                                      if q["task_type"] == "which_video")))
    (lib / "notes.txt").write_text("not a video")
    running = UIServer(["--allowed-dir", str(folder / "allowed"), "--cache", str(folder / "cache")],
                       folder / "server.log", env={"GRADIO_TEMP_DIR": str(folder / "gradio")})
    running.asked = asked
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _library_text(page, name: str) -> str:
    found = page.locator(f"#library-{name} [data-testid=markdown]")
    return found.inner_text().strip() if found.count() else ""


def _wait_status(page, before: str, *words: str) -> str:
    check = " || ".join(f"s.includes({w!r})" for w in words)
    page.wait_for_function(
        "(() => { const e = document.querySelector('#library-status [data-testid=markdown]'); "
        f"const s = e ? e.innerText.trim() : ''; return s !== {json.dumps(before)} && ({check}); }})()",
        timeout=240_000)
    return _library_text(page, "status")


def _open_and_ask(page, server, number: int) -> str:
    page.locator("#library").get_by_text("A folder of videos (library)").first.click()
    page.locator("#library-folder textarea, #library-folder input").first.fill("lectures")
    before = _library_text(page, "status")
    page.locator("#library-open").click()
    status = _wait_status(page, before, "Library ready", "Error")
    assert status.startswith("Library ready: 2 videos in lectures."), status
    assert "Skipped lectures/notes.txt: lectures/notes.txt is not a readable video" in status
    assert str(server.log.parent) not in status
    name, question = server.asked[number]
    page.locator("#library-question textarea").fill(question["question"])
    page.locator("#library-ask").click()
    status = _wait_status(page, status, "Done.", "Error")
    assert status == f"Done. The player shows lectures/{name}.", status
    return name


def _player_at(page, name: str, start: float, end: float) -> None:
    page.wait_for_function("(() => { const v = document.querySelector('#player video'); "
                           f"return v && v.currentSrc.includes({json.dumps(name)}) && v.readyState >= 1; }})()",
                           timeout=60_000)
    page.wait_for_function(f"document.querySelector('#player video').currentTime >= {start - 2}", timeout=30_000)
    t = page.evaluate("document.querySelector('#player video').currentTime")
    assert start - 2 <= t <= end + 2, (t, start, end)


def test_desktop_the_library_answer_names_the_video_and_the_player_jumps_there(browser, server):
    page = browser.new_page(viewport=DESKTOP)
    page.goto(server.url)
    page.wait_for_selector("#library", state="attached", timeout=60_000)
    name = _open_and_ask(page, server, 1)
    answer = _library_text(page, "answer")
    question = server.asked[1][1]
    assert f"In lectures/{name} at" in answer, answer
    _player_at(page, name, *question["answer_spans"][0])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "library-desktop.png"), full_page=True)
    page.close()


def test_phone_the_library_panel_fits_and_the_player_jumps(browser, server):
    page = browser.new_page(viewport=PHONE)
    page.goto(server.url)
    page.wait_for_selector("#library", state="attached", timeout=60_000)
    name = _open_and_ask(page, server, 0)
    _player_at(page, name, *server.asked[0][1]["answer_spans"][0])
    page.wait_for_function("(() => { const b = document.querySelector('#player').getBoundingClientRect(); "
                           "return b.top < window.innerHeight && b.bottom > 0; })()", timeout=15_000)  # in view
    for element in ("#library-folder", "#library-ask", "#library-answer"):
        box = page.locator(element).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, (element, box)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "library-phone.png"), full_page=True)
    page.close()
