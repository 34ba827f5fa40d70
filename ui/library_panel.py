"""The library panel's components and their events (the logic is `ui.library`'s): kept apart from `app.py`
so the page's layout stays readable. An answer's video becomes the page's current video, so the player, the
"Current video" line, the folder listing and the next questions all agree."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from . import callbacks
from .library import DONE, LIBRARY_START, LibraryState, ask_library, open_library
from .videos import list_videos

BUSY = "Error: a question about the current video is being answered; ask the library when its answer is shown"

# After an answer the player shows its video at its moment; on a phone the player sits screens below the
# panel, so it is brought into view (only when the answer opened it).
SHOW_PLAYER_JS = """
() => {
  const DONE = %s;
  let tries = 0;
  const show = () => {  // once the page has drawn the answer and the player is shown (polled for up to 6 s)
    const status = document.querySelector('#library-status');
    const player = document.querySelector('#player');
    const done = status && status.innerText.includes(DONE);
    if (done && player && player.offsetParent !== null) { player.scrollIntoView({block: 'center'}); return; }
    if (++tries < 30) setTimeout(show, 200);
  };
  setTimeout(show, 300);
}
""" % json.dumps(DONE)


@dataclass
class LibraryPanel:
    folder: gr.Textbox
    open_button: gr.Button
    question: gr.Textbox
    ask_button: gr.Button
    status: gr.Markdown
    answer: gr.Markdown
    state: gr.State


def build_panel(visible: bool) -> LibraryPanel:
    with gr.Accordion("A folder of videos (library)", open=False, elem_id="library", visible=visible):
        folder = gr.Textbox(label="Folder (under the server's folders)", placeholder="lectures/",
                            elem_id="library-folder")
        open_button = gr.Button("Open as library", elem_id="library-open")
        question = gr.Textbox(label="Question about any video of the folder", elem_id="library-question",
                              placeholder="In which lecture is the red star shown?")
        ask_button = gr.Button("Ask the library", elem_id="library-ask")
        status = gr.Markdown(LIBRARY_START, elem_id="library-status")
        answer = gr.Markdown(elem_id="library-answer")
        state = gr.State(LibraryState())
    return LibraryPanel(folder, open_button, question, ask_button, status, answer, state)


def wire(panel: LibraryPanel, runtime, *, page_state: gr.State, page_outputs: list, show: Callable,
         browse: gr.Dropdown, player: gr.Video) -> list:
    """The panel's events. An answer makes its video the page's current video (`page_outputs`, through `show`,
    as choosing a video does) and selects it in the folder listing; returns the answer events, for the page
    to chain its own steps after them."""

    def on_open(text, state):
        values = open_library(text, state, runtime)
        return values["library_status"], values["library_state"]

    def on_ask(text, state, user, request: gr.Request):
        user = user or callbacks.UserState()
        if not callbacks.start_asking(user):  # the page's video is being asked about: it cannot change under it
            user.shown_at = None
            return (*show({}, request), BUSY, gr.skip(), gr.skip())
        try:  # the page's own questions wait until the library's answer has set its video
            values = ask_library(text, state, runtime)
            if "video" not in values:
                user.shown_at = None  # the player stays where the visitor left it
                return (*show({}, request), values["library_status"], gr.skip(), gr.skip())
            path, name, at = values["video"]
            page = callbacks.choose_library_video(path, name, at, user, runtime)
            listed = {p for _, p in list_videos(runtime.settings.allowed_dirs)}
            status = values["library_status"] if page.get("current") != callbacks.NO_VIDEO else page["status"]
            return (*show(page, request), status, values["library_answer"],
                    gr.Dropdown(value=path if path in listed else None))
        finally:
            user.asking = False

    def seek(user):
        # A player that already showed another video keeps its old position when its video changes: the
        # answer's moment is set again once the new video is in place.
        at = getattr(user, "shown_at", None)
        return gr.skip() if at is None else gr.Video(playback_position=at)

    panel.open_button.click(on_open, [panel.folder, panel.state], [panel.status, panel.state])
    panel.folder.submit(on_open, [panel.folder, panel.state], [panel.status, panel.state])
    events = []
    for event in (panel.ask_button.click, panel.question.submit):
        asked = event(on_ask, [panel.question, panel.state, page_state],
                      [*page_outputs, panel.status, panel.answer, browse]).then(
            seek, page_state, player, queue=False, show_progress="hidden")
        # the script runs before this no-op step, that is after the answer has been shown
        asked.then(lambda: None, None, None, js=SHOW_PLAYER_JS, queue=False, show_progress="hidden")
        events.append(asked)
    return events
