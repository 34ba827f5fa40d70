"""The page: its layout and the wiring of events to `ui.callbacks`.

Left: the video (upload, or a path under the allowed folders, optionally followed live) and its player.
Right: the question, options, strategy, budget and models; the status with live progress; the answer with
its confidence; the evidence gallery (selecting a frame seeks the player); the search timeline; the chat.
Per-user data lives in a `gr.State`; Gradio's queue runs several users' questions at once.
"""

from __future__ import annotations

import functools

import gradio as gr

from agentime.search import NAMES
from ui import callbacks
from ui.models import CHOICES
from ui.settings import UISettings

CSS = """
#status {min-height: 2.5em}
#timeline svg {max-width: 100%}
"""


def _outputs_for(values: tuple) -> tuple:
    return tuple(gr.skip() if v is None else v for v in values)


def build_app(settings: UISettings) -> gr.Blocks:
    folders = ", ".join(str(d) for d in settings.allowed_dirs) or "none (opening by path is off)"
    with gr.Blocks(title="agentime") as app:
        state = gr.State(None)
        gr.Markdown("# agentime\nAsk questions about a long video; the answer comes with the moments and frames "
                    "that support it.")
        with gr.Row():
            with gr.Column(scale=5):
                upload = gr.File(label="Upload a video", type="filepath", elem_id="upload")
                with gr.Row():
                    path = gr.Textbox(label="…or a path on the server", placeholder="/data/videos/match.mp4",
                                      info=f"allowed folders: {folders}", elem_id="path", scale=4)
                    live = gr.Checkbox(label="live recording", value=False, elem_id="live", scale=1)
                open_button = gr.Button("Open path", elem_id="open-path")
                player = gr.Video(label="Video", interactive=False, elem_id="player")
            with gr.Column(scale=6):
                question = gr.Textbox(label="Question", placeholder="When does the red circle first appear?",
                                      elem_id="question")
                options = gr.Textbox(label="Options (optional, one per line)", lines=3, elem_id="options")
                with gr.Row():
                    strategy = gr.Dropdown(list(NAMES), value="auto", label="Strategy", elem_id="strategy")
                    budget = gr.Slider(4, 256, value=settings.default_budget, step=4,
                                       label="Budget (target frames)", elem_id="budget")
                with gr.Accordion("Models", open=False):
                    model_choice = gr.Radio(list(CHOICES), value=CHOICES[0], label="Target model",
                                            info=f"server default: {settings.target}", elem_id="model-choice")
                    folder = gr.Textbox(label="Local model folder (under an allowed folder)", elem_id="model-folder")
                    with gr.Row():
                        base_url = gr.Textbox(label="OpenAI-compatible base URL",
                                              placeholder="http://127.0.0.1:8000/v1", elem_id="base-url")
                        model_name = gr.Textbox(label="Model name", elem_id="model-name")
                ask_button = gr.Button("Ask", variant="primary", elem_id="ask")
                status = gr.Markdown("Upload a video, or open one by path.", elem_id="status")
                answer = gr.Markdown(elem_id="answer")
        gallery = gr.Gallery(label="Evidence frames (select one to jump there)", columns=6, height="auto",
                             elem_id="evidence", allow_preview=False)
        timeline = gr.HTML(elem_id="timeline")
        chat = gr.Chatbot(label="Chat about this video", elem_id="chat", height=320)
        timer = gr.Timer(5.0, active=False)

        upload.upload(functools.partial(callbacks.choose_upload, settings=settings), [upload, state],
                      [player, status, state])
        open_button.click(functools.partial(callbacks.choose_path, settings=settings), [path, live, state],
                          [player, status, state]).then(lambda on: gr.Timer(active=bool(on)), live, timer)

        def ask(*values):
            for out in callbacks.ask(*values, settings=settings):
                yield _outputs_for(out)

        inputs = [question, options, strategy, budget, model_choice, folder, base_url, model_name, state]
        outputs = [status, answer, gallery, timeline, chat, state]
        ask_button.click(ask, inputs, outputs, concurrency_limit=settings.concurrency)
        question.submit(ask, inputs, outputs, concurrency_limit=settings.concurrency)

        def select(event: gr.SelectData, user):
            t, message = callbacks.select_evidence(event.index, user)
            return (gr.skip() if t is None else gr.Video(playback_position=t)), message

        gallery.select(select, [state], [player, status])

        def tick(user):
            message = callbacks.live_status(user)
            return gr.skip() if message is None else message

        timer.tick(tick, [state], [status])
    app.queue(default_concurrency_limit=settings.concurrency)
    return app


def launch(settings: UISettings, **kwargs):
    """Start the server (blocking unless `prevent_thread_lock=True` is passed)."""
    app = build_app(settings)
    return app.launch(server_name=settings.host, server_port=settings.port, show_error=False,
                      allowed_paths=[str(d) for d in settings.allowed_dirs],
                      max_file_size=f"{settings.max_upload_mb:g}mb", css=CSS, footer_links=["gradio"], **kwargs)
