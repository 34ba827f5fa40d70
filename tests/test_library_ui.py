"""The web UI's library panel as people use it: headless Chromium opens a folder under the allowed folder as a
library and asks which video shows an object. The answer's headline is that video and its moment, and the page
makes it the current video: the player jumps there, "Current video", the main status and the folder listing
name it, a file left in the upload box is cleared, and the next question is about it (desktop and phone sizes;
screenshots in `artifacts/ui/`). The server and browser are the session's shared ones (`ui_server`,
`ui_browser` in conftest.py). A folder outside the allowed ones is refused before any read."""

import json
import re

from agentime.library import asks_which_video
from ui_support import ROOT

ARTIFACTS = ROOT / "artifacts" / "ui"
DESKTOP, PHONE = {"width": 1400, "height": 900}, {"width": 390, "height": 844}
CLOCK = r"\d\d:\d\d"


def test_which_video_questions_are_told_from_questions_about_a_moment():
    for question in ("In which video is the white hexagon shown?", "Which recording shows a red star?",
                     "In which lecture does the blue circle appear?", "What clip has the number 72?"):
        assert asks_which_video(question), question
    for question in ("When is the white hexagon shown?", "Which object comes right after the red star?",
                     "What number is shown with the blue circle?", "How many times does the green square appear?"):
        assert not asks_which_video(question), question


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


def _text(page, selector: str) -> str:
    return page.locator(selector).inner_text().strip() if page.locator(selector).count() else ""


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _page_agrees(page, name: str, found: str) -> None:
    """The answer's headline names the video and its span; the rest of the page has that video as its own."""
    answer = _library_text(page, "answer").splitlines()
    assert re.fullmatch(rf"Answer: lectures/{re.escape(name)}, {CLOCK}–{CLOCK}", answer[0]), answer
    assert any(line.startswith("What it shows there: ") and found in line for line in answer), answer
    current = _text(page, "#current")
    assert current.startswith(f"Current video: lectures/{name} (01:00)"), current
    status = _text(page, "#status [data-testid=markdown]")
    assert status.startswith(f"Video ready: lectures/{name} (01:00), the library's answer"), status


def test_desktop_the_library_answer_becomes_the_current_video(ui_browser, ui_server):
    page = ui_browser.new_page(viewport=DESKTOP)
    page.goto(ui_server.url)
    page.wait_for_selector("#library", state="attached", timeout=60_000)
    # A video uploaded before: after the library's answer the upload box no longer names it.
    page.locator("#upload input[type=file]").set_input_files(str(ui_server.folder / "second.mp4"))
    page.wait_for_function("document.querySelector('#current').innerText.includes('second.mp4')", timeout=60_000)
    name = _open_and_ask(page, ui_server, 1)
    question = ui_server.asked[1][1]
    _page_agrees(page, name, question["question"].split(" the ")[1].split(" shown")[0])
    _player_at(page, name, *question["answer_spans"][0])
    assert "second.mp4" not in _text(page, "#upload")
    assert page.locator("#browse input").input_value() == f"lectures/{name}"
    _shot(page, "library-desktop")
    # The next question is about that video.
    before = _text(page, "#status [data-testid=markdown]")
    page.locator("#question textarea").fill(question["question"].replace("In which video is", "When is"))
    page.locator("#ask").click()
    page.wait_for_function("(() => { const e = document.querySelector('#status [data-testid=markdown]'); "
                           f"const s = e ? e.innerText.trim() : ''; return s !== {json.dumps(before)} && "
                           "(s.startsWith('Done.') || s.includes('Error')); })()", timeout=240_000)
    assert _text(page, "#status [data-testid=markdown]") == "Done."
    assert f"About lectures/{name}:" in _text(page, "#answer")
    _shot(page, "library-desktop-next-question")
    page.close()


def test_phone_the_library_panel_fits_and_the_player_jumps(ui_browser, ui_server):
    page = ui_browser.new_page(viewport=PHONE)
    page.goto(ui_server.url)
    page.wait_for_selector("#library", state="attached", timeout=60_000)
    name = _open_and_ask(page, ui_server, 0)
    question = ui_server.asked[0][1]
    _player_at(page, name, *question["answer_spans"][0])
    page.wait_for_function("(() => { const b = document.querySelector('#player').getBoundingClientRect(); "
                           "return b.top < window.innerHeight && b.bottom > 0; })()", timeout=15_000)  # in view
    _page_agrees(page, name, question["question"].split(" the ")[1].split(" shown")[0])
    for element in ("#library-folder", "#library-ask", "#library-answer"):
        box = page.locator(element).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, (element, box)
    _shot(page, "library-phone")
    page.close()
