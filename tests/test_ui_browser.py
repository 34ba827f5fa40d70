"""The web UI as people use it: headless Chromium drives `python app.py` with the built-in demo models.

One browser and one server for the test session (shared with the library panel's tests: `ui_server` and
`ui_browser` in conftest.py) and a handful of page loads: a desktop walk (1400x900) through choosing, asking,
following up, switching and failing videos, and a phone walk (390x844). Each finding of the UI review has a
check here (numbered as in the review). axe-core runs on the loaded, answered and error states; screenshots
go to `artifacts/ui/`. Needs Debian's `chromium`, `playwright` and `axe-playwright-python` (no browser
download); outside CI the module is skipped when they are missing.
"""

import json
import time

from ui_support import ROOT

ARTIFACTS = ROOT / "artifacts" / "ui"
DESKTOP, PHONE = {"width": 1400, "height": 900}, {"width": 390, "height": 844}
JARGON = ("target frames", "draft frames", "spectemp", "timesearch", "p(call)", "tools called", "embedded:")


def status_includes(*words: str) -> str:
    tests = " || ".join(f"s.includes({w!r})" for w in words)
    return ("(() => { const e = document.querySelector('#status [data-testid=markdown]'); "
            "const s = e ? e.innerText : ''; "
            f"return {tests}; }})()")


def open_page(browser, server, viewport):
    page = browser.new_page(viewport=viewport)
    page.goto(server.url)
    page.wait_for_selector("#upload input[type=file]", state="attached", timeout=60_000)
    page.wait_for_function("document.querySelector('#status') && "
                           "document.querySelector('#status').getAttribute('aria-live') === 'polite'")
    return page


def text(page, selector) -> str:
    return page.locator(selector).inner_text() if page.locator(selector).count() else ""


def status(page) -> str:
    return text(page, "#status [data-testid=markdown]").strip()


def serious_violations(page, state: str) -> list:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [(state, v["id"], [n["target"] for n in v["nodes"]]) for v in found if v["impact"] in ("serious", "critical")]


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def changed_to(before: str, *words: str) -> str:
    """JS: the status differs from `before` and includes one of `words`."""
    return (f"(() => {{ const ok = {status_includes(*words)}; const e = document.querySelector('#status "
            f"[data-testid=markdown]'); return ok && e.innerText.trim() !== {json.dumps(before)}; }})()")


def upload(page, path, *words):
    if not page.locator("#upload input[type=file]").count():  # a file is in the box: clear it first, as people do
        page.locator("#upload button[aria-label='Clear']").first.click()
        page.wait_for_selector("#upload input[type=file]", state="attached", timeout=15_000)
        page.wait_for_function(status_includes("Upload a video"), timeout=15_000)
    before = status(page)
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.wait_for_function(changed_to(before, *(words or ("Video ready", "Error"))), timeout=60_000)


def open_by_path(page, typed):
    before = status(page)
    page.locator("#path textarea, #path input").first.fill(typed)
    page.locator("#open-path").click()
    page.wait_for_function(changed_to(before, "Video ready", "Error", "Recording"), timeout=60_000)


def ask(page, question, options="", via="#ask"):
    """Ask and wait for the answer; returns the status texts seen while it worked."""
    seen = []
    before = status(page)
    if via == "#ask":
        page.locator("#question textarea").fill(question)
        page.locator("#options textarea").fill(options)
        page.locator("#ask").click()
    else:
        page.locator("#chat-input textarea").fill(question)
        page.locator("#chat-send").click()
    page.wait_for_function("(() => { const e = document.querySelector('#status [data-testid=markdown]'); "
                           f"return e && e.innerText !== {json.dumps(before)}; }})()", timeout=60_000)
    seen.append(status(page))
    if "%" in seen[0]:
        assert page.locator("#status progress").get_attribute("aria-label")  # (12) the progress has a label
    page.wait_for_function(status_includes("Done.", "Answered from", "Error"), timeout=240_000)
    page.wait_for_timeout(300)
    return seen


def headline(block: str) -> str:
    for line in block.splitlines():
        if line.startswith(("Answer:", "Unsure")):
            return line.strip()
    raise AssertionError(f"no answer line in {block!r}")


def chat_replies(page) -> list[str]:
    return [t.strip() for t in page.locator("#chat .bot, #chat [data-testid=bot]").all_inner_texts() if t.strip()]


def timeline_rows(page) -> int:
    return page.locator("#timeline .tl-row").count()


def test_desktop_walk(ui_browser, ui_server):
    page = open_page(ui_browser, ui_server, DESKTOP)
    problems = serious_violations(page, "loaded")
    shot(page, "desktop-start")

    # (6) The demo models say what they are, near the answer, from the start.
    assert "only understand the generated demo world" in text(page, "#notice")
    # (13) The allowed folder is browsable, and a relative path inside it opens.
    page.locator("#browse input").click()
    assert page.locator("[role=listbox] [role=option]", has_text="demo.mp4").count() == 1
    page.keyboard.press("Escape")
    open_by_path(page, "demo.mp4")
    assert status(page).startswith("Video ready: demo.mp4 (02:00)"), status(page)
    assert "demo.mp4" in text(page, "#current")

    # (10) Progress from the first second, with a message, while the models load on the first question.
    q = ui_server.question
    seen = ask(page, q["question"])
    assert "%" in seen[0] and any(word in seen[0] for word in ("Starting", "Loading the models", "Opening"))
    assert status(page) == "Done.", status(page)
    answer = text(page, "#answer")
    # (7) Plain words in the main view; the details sit in "How it searched".
    assert "About demo.mp4" in answer and "frames closely" in answer
    assert not any(word in answer.lower() for word in JARGON), answer
    page.get_by_text("How it searched").click()
    page.wait_for_function("document.querySelector('#details') && "
                           "document.querySelector('#details').innerText.includes('Method:')")
    assert "Main model" in text(page, "#details")
    # (9) and (4): the chat has its own input; a follow-up answered from known evidence shows the same answer
    # in the panel and in the chat, and (8) its timeline still draws every step.
    first_rows = timeline_rows(page)
    assert first_rows >= 2
    ask(page, q["question"], via="chat")
    # The timing policy decides whether to search again; either way the panel and the chat agree.
    assert status(page) == "Done." or "without searching the video again" in status(page), status(page)
    assert chat_replies(page)[-1].startswith(headline(text(page, "#answer")) + " (")
    assert timeline_rows(page) >= 2
    shot(page, "desktop-answered")
    problems += serious_violations(page, "answered")

    # (8) Gallery: full captions; frames shown for context come after the best ones, with their images.
    captions = page.locator("#evidence .caption-label")
    assert captions.count() >= 1
    for i in range(captions.count()):
        clipped = captions.nth(i).evaluate("e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1")
        assert not clipped, captions.nth(i).inner_text()
    kinds = ["context" in c for c in captions.all_inner_texts()]
    assert kinds == sorted(kinds)  # every context frame after every scored one
    page.wait_for_function("Array.from(document.querySelectorAll('#evidence img')).every(i => i.complete && i.naturalWidth > 0)")
    # (8) Timeline: title and legend in plain words; axis labels do not overlap; a mark seeks the player.
    assert "Where the search looked" in text(page, "#timeline")
    assert page.locator("#timeline .tl-legend li").count() >= 2
    boxes = [page.locator("#timeline .tl-time").nth(i).bounding_box() for i in range(page.locator("#timeline .tl-time").count())]
    assert all(a["x"] + a["width"] <= b["x"] for a, b in zip(boxes, boxes[1:]))
    mark = page.locator("#timeline button.tl-dot").first
    wanted = float(mark.get_attribute("data-t"))
    mark.click()
    page.wait_for_function("(() => { const v = document.querySelector('#player video'); "
                           f"return v && Math.abs(v.currentTime - {wanted}) <= 0.6; }})()", timeout=15_000)

    # An evidence frame seeks the player too.
    page.locator("#evidence button.thumbnail-item").nth(1).click()
    page.wait_for_function(status_includes("Player moved to"), timeout=15_000)
    minutes, seconds = status(page).split("Player moved to ")[1][:5].split(":")
    page.wait_for_function("(() => { const v = document.querySelector('#player video'); "
                           f"return v && Math.abs(v.currentTime - {int(minutes) * 60 + int(seconds)}) <= 1; }})()",
                           timeout=15_000)

    # (3) Options belong to one question: asked with options, then a new question empties the box.
    ask(page, q["question"], "\n".join(q["options"]))
    assert status(page) == "Done."
    page.locator("#question textarea").fill("When is the yellow hexagon on screen")
    page.locator("#question textarea").press_sequentially("?")  # typed, as a person does
    page.wait_for_function("document.querySelector('#options textarea').value === ''", timeout=10_000)

    # (1) A new video clears the previous answer, evidence, timeline, chat and options; clearing resets too.
    page.locator("#options textarea").fill("A. 1\nB. 2")
    upload(page, ui_server.folder / "second.mp4")
    assert status(page).startswith("Video ready: second.mp4")
    for selector in ("#answer", "#timeline", "#chat .bot"):
        assert text(page, selector).strip() == "", selector
    assert page.locator("#evidence").is_hidden()
    assert page.locator("#options textarea").input_value() == ""
    assert "second.mp4" in text(page, "#current")
    page.locator("#upload button[aria-label='Clear']").first.click()
    page.wait_for_function(status_includes("Upload a video"), timeout=15_000)
    assert "No video chosen" in text(page, "#current")

    # (2) A failed upload empties the file box, and Ask then says to choose a video.
    upload(page, ui_server.clips / "holiday.mp4", "Error")
    assert "holiday.mp4" in status(page) and "Traceback" not in page.content()
    page.wait_for_function("!document.querySelector('#upload').innerText.includes('holiday.mp4')", timeout=10_000)
    ask(page, "What is shown?")
    assert "choose a video first" in status(page)
    shot(page, "desktop-error")
    problems += serious_violations(page, "error")
    # (5) An audio-only file: plain words, no server path or exception name.
    upload(page, ui_server.clips / "voice.mp4", "Error")
    message = status(page)
    assert "no video stream" in message and "/tmp" not in message and str(ui_server.temp) not in message
    assert "Error:" in message and "NoDecodableFrames" not in message
    # (5) HEVC in MPEG-TS: a frame decodes, and the player gets an H.264 preview it can play.
    upload(page, ui_server.clips / "camera-hevc.ts")
    assert status(page).startswith("Video ready: camera-hevc.ts") and "preview" in status(page)
    page.wait_for_function("(() => { const v = document.querySelector('#player video'); "
                           "return v && v.readyState >= 1 && v.duration > 4; })()", timeout=30_000)
    # (11) A portrait clip keeps the player's height bounded.
    upload(page, ui_server.clips / "portrait.mp4")
    page.wait_for_function("(() => { const v = document.querySelector('#player video'); "
                           "return v && v.readyState >= 1; })()", timeout=30_000)
    assert page.locator("#player video").bounding_box()["height"] <= 500
    # Stream recording (allowed for 127.0.0.1 on this server): recorded, followed live, removed at exit.
    open_by_path(page, ui_server.stream_url)
    assert status(page).startswith("Recording"), status(page)
    recording = list(ui_server.temp.glob("agentime-ui-recordings-*/*/*/recording.mp4"))
    assert len(recording) == 1
    # (12) Strategy is a list of choices that cannot stay open after tabbing away.
    page.get_by_text("Search settings and models").click()
    page.locator("#strategy input[type=radio]").first.focus()
    page.keyboard.press("Tab")
    assert page.locator("[role=listbox]:visible").count() == 0
    assert page.locator("#strategy input[type=radio]").count() == 5
    assert problems == [], problems
    page.close()
    # The visitor left: their recording stops and its folder goes now, not when the UI stops.
    deadline = time.monotonic() + 30
    while recording[0].exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not recording[0].exists()


def test_phone_walk(ui_browser, ui_server):
    page = open_page(ui_browser, ui_server, PHONE)
    problems = serious_violations(page, "phone loaded")
    # (2) On a fresh page nothing is chosen and Ask says so.
    ask(page, "What is shown?")
    assert "choose a video first" in status(page)
    # (11) "Live recording" is not clipped.
    label = page.locator("#live label").first
    assert not label.evaluate("e => e.scrollWidth > e.clientWidth + 1")
    open_by_path(page, "demo.mp4")
    # (11) The question and Ask come before the player.
    assert page.locator("#ask").bounding_box()["y"] < page.locator("#player").bounding_box()["y"]
    ask(page, ui_server.question["question"])
    assert status(page) in ("Done.",) or "without searching" in status(page)
    # (8) Readable timeline text at phone width.
    sizes = page.locator("#timeline .tl-name, #timeline .tl-time, #timeline .tl-legend li").evaluate_all(
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert sizes and min(sizes) >= 12
    shot(page, "phone-answered")
    problems += serious_violations(page, "phone answered")
    assert problems == [], problems
    page.close()
