"""The library panel's components and their events (the logic is `ui.library`'s): kept apart from `app.py`
so the page's layout stays readable."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .library import LIBRARY_START, LibraryState, ask_library, open_library

# After an answer the player shows its video at its moment; on a phone the player sits screens below the
# panel, so it is brought into view (only when the answer opened it).
SHOW_PLAYER_JS = """
() => {
  setTimeout(() => {  // after the page has drawn the answer
    const status = document.querySelector('#library-status');
    const player = document.querySelector('#player');
    if (status && player && status.innerText.includes('Done. The player shows') && player.offsetParent !== null) {
      player.scrollIntoView({block: 'center'});
    }
  }, 300);
}
"""


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


def wire(panel: LibraryPanel, player: gr.Video, runtime) -> None:
    def on_open(text, state):
        values = open_library(text, state, runtime)
        return values["library_status"], values["library_state"]

    def on_ask(text, state):
        values = ask_library(text, state, runtime)
        shown = values.get("player")
        video = gr.skip() if shown is None else gr.Video(value=shown[0], playback_position=shown[1], visible=True)
        return video, values["library_status"], values.get("library_answer", gr.skip())

    panel.open_button.click(on_open, [panel.folder, panel.state], [panel.status, panel.state])
    panel.folder.submit(on_open, [panel.folder, panel.state], [panel.status, panel.state])
    for event in (panel.ask_button.click, panel.question.submit):
        # the script runs before this no-op step, that is after the answer has been shown
        event(on_ask, [panel.question, panel.state], [player, panel.status, panel.answer]).then(
            lambda: None, None, None, js=SHOW_PLAYER_JS, queue=False, show_progress="hidden")
