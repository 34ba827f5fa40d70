"""The page: its layout and the wiring of events to `ui.callbacks`.

Desktop: the video chooser and the player on the left, the question, status and answer on the right; on a
phone the question and Ask come right after the chooser, before the player. Below: the evidence gallery
(selecting a frame seeks the player), the transcript lines behind the answer, the search timeline (selecting
a row, or a speech line on its speech lane, seeks too) and the chat with its own input. Per-visitor data
lives in a `gr.State` (released when the visitor leaves); questions of several visitors run at once, the
model work of at most `settings.concurrency` of them.
"""

from __future__ import annotations


import gradio as gr

from . import callbacks
from . import library_panel as library_ui
from .answers import STRATEGY_CHOICES, demo_notice
from .callbacks import OUTPUTS, Runtime
from .models import MODEL_FOLDER, MODEL_URL, SERVER_MODELS, choice_labels, uses_demo_models
from .settings import UISettings
from .timeline import TIMELINE_CSS
from .videos import list_videos

CSS = TIMELINE_CSS + """
#main {display: grid !important; grid-template-columns: minmax(0, 5fr) minmax(0, 6fr); gap: 16px;
       grid-template-areas: "chooser ask" "player ask"; align-items: start}
#video-column {grid-area: chooser} #ask-column {grid-area: ask} #player-column {grid-area: player}
@media (max-width: 800px) {
  #main {grid-template-columns: minmax(0, 1fr); grid-template-areas: "chooser" "ask" "player"}
}
#player video {max-height: min(60vh, 480px); object-fit: contain}
#status {min-height: 2.5em}
#status progress {width: 10em; vertical-align: middle}
#ask {background: #9a3412; color: #fff; border-color: #9a3412}
#ask:hover {background: #7c2d12}
#notice {border-left: 4px solid #b45309; padding-left: 10px; background: #fffbeb}
#evidence .caption-label {position: static !important; white-space: normal !important; overflow: visible !important;
       text-overflow: clip !important; max-width: none !important; font-size: 14px; line-height: 1.3;
       margin: 4px 0 0 !important; background: none !important; color: inherit !important}
#evidence .grid-wrap {height: auto !important; max-height: none !important; overflow: visible !important}
#evidence .thumbnail-item {aspect-ratio: auto !important; height: auto !important; display: flex !important;
       flex-direction: column; overflow: visible !important}
#evidence .thumbnail-item img {aspect-ratio: 1 / 1; height: auto !important; width: 100%}
@media (max-width: 800px) { #evidence .grid-container {grid-template-columns: repeat(2, minmax(0, 1fr)) !important} }
"""

# Runs once in the browser when the page loads: the status is announced to screen readers as it changes, and a
# click (or Enter on a focused mark) on the timeline plays the video from that moment.
PAGE_JS = """
() => {
  const status = document.getElementById('status');
  if (status) { status.setAttribute('role', 'status'); status.setAttribute('aria-live', 'polite'); }
  document.addEventListener('click', (event) => {
    const track = event.target.closest('#timeline .tl-track');
    if (!track) return;
    const mark = event.target.closest('[data-t]');
    let t;
    if (mark) { t = parseFloat(mark.dataset.t); }
    else {
      const box = track.getBoundingClientRect();
      t = (event.clientX - box.left) / box.width * parseFloat(track.dataset.duration);
    }
    const video = document.querySelector('#player video');
    if (video && isFinite(t)) { video.currentTime = Math.max(0, t); }
  });
}
"""

THEME = gr.themes.Default().set(
    body_text_color_subdued="#4b5563",  # hints and slider labels readable (WCAG AA contrast on white)
    block_info_text_color="#4b5563",
)


def build_app(settings: UISettings, runtime: Runtime | None = None) -> gr.Blocks:
    runtime = runtime or Runtime(settings)
    folders = ", ".join(str(d) for d in settings.allowed_dirs)
    path_hint = (f"a path under {folders} (or relative to it)" if folders else "opening by path is off on this server")
    if settings.streams_allowed:
        path_hint += "; or a stream URL (rtsp://, https://, ...) from an allowed host, recorded and followed live"
    labels = choice_labels(settings)
    with gr.Blocks(title="agentime") as app:
        state = gr.State(None, delete_callback=runtime.forget)
        gr.Markdown("# agentime\nAsk questions about a long video; the answer comes with the moments and frames "
                    "that support it.")
        with gr.Row(elem_id="main"):
            with gr.Column(elem_id="video-column"):
                upload = gr.File(label="Upload a video", type="filepath", elem_id="upload")
                subtitles = gr.File(label="Subtitles (optional: .srt, .vtt, .ass, .ssa)", type="filepath",
                                    file_types=[".srt", ".vtt", ".ass", ".ssa"], elem_id="subtitles-upload")
                browse = gr.Dropdown([], value=None, label="…or pick a video from the server's folders",
                                     elem_id="browse", visible=bool(settings.allowed_dirs), allow_custom_value=False)
                path = gr.Textbox(label="…or type its path", placeholder="videos/match.mp4", info=path_hint,
                                  elem_id="path", interactive=bool(folders) or settings.streams_allowed)
                live = gr.Checkbox(label="Live recording (the file is still growing)", value=False, elem_id="live")
                open_button = gr.Button("Open", elem_id="open-path")
                current = gr.Markdown(callbacks.NO_VIDEO, elem_id="current")
                library_panel = library_ui.build_panel(visible=bool(settings.allowed_dirs))
            with gr.Column(elem_id="ask-column"):
                question = gr.Textbox(label="Question", placeholder="When does the red circle first appear?",
                                      elem_id="question")
                options = gr.Textbox(label="Answer options (optional, one per line)", lines=3, elem_id="options",
                                     info="leave empty for an open question; cleared when the question changes")
                ask_button = gr.Button("Ask", variant="primary", elem_id="ask")
                status = gr.Markdown(callbacks.START, elem_id="status", sanitize_html=False)  # text escaped by callbacks
                notice = gr.Markdown(demo_notice(len(labels) > 1), elem_id="notice",
                                     visible=uses_demo_models(settings.default_models))
                answer = gr.Markdown(elem_id="answer")
                with gr.Accordion("How it searched", open=False, elem_id="how"):
                    details = gr.Markdown(callbacks.NO_DETAILS, elem_id="details")
                with gr.Accordion("Search settings and models", open=False, elem_id="settings"):
                    strategy = gr.Radio(STRATEGY_CHOICES, value="auto", label="How to search", elem_id="strategy")
                    budget = gr.Slider(4, 256, value=settings.default_budget, step=4,
                                       label="Frames the main model may look at closely",
                                       info="more frames: slower, and sometimes more accurate", elem_id="budget")
                    model_choice = gr.Radio(labels, value=SERVER_MODELS, label="Models", elem_id="model-choice",
                                            visible=len(labels) > 1)
                    folder = gr.Textbox(label="Model folder (under an allowed folder)", elem_id="model-folder",
                                        visible=any(v == MODEL_FOLDER for _, v in labels))
                    with gr.Row(visible=any(v == MODEL_URL for _, v in labels)):
                        base_url = gr.Textbox(label="Server base URL", placeholder="https://models.example.com/v1",
                                              elem_id="base-url")
                        model_name = gr.Textbox(label="Model name", elem_id="model-name")
                        api_key = gr.Textbox(label="Your API key for that server (optional)", type="password",
                                             elem_id="api-key")
            with gr.Column(elem_id="player-column"):
                player = gr.Video(label="Video", interactive=False, elem_id="player", visible=False)
        gallery = gr.Gallery(label="Evidence frames (select one to play the video there)", columns=4,
                             height="auto", elem_id="evidence", allow_preview=False, visible=False,
                             buttons=["download"])
        transcript = gr.Radio([], label="What was said (transcript lines matching the question; select one to "
                              "play the video there)", elem_id="transcript", visible=False, interactive=True)
        timeline = gr.HTML(elem_id="timeline")
        chat = gr.Chatbot(label="Chat about this video", elem_id="chat", height=320, buttons=["copy", "copy_all"])
        with gr.Row():
            chat_input = gr.Textbox(label="Ask a follow-up question", placeholder="And when does it leave?",
                                    elem_id="chat-input", scale=5)
            chat_send = gr.Button("Send", elem_id="chat-send", scale=1, min_width=100)
        timer = gr.Timer(5.0, active=False)

        components = {"upload": upload, "player": player, "status": status, "current": current, "options": options,
                      "answer": answer, "notice": notice, "details": details, "gallery": gallery,
                      "transcript": transcript, "timeline": timeline, "chat": chat, "chat_input": chat_input,
                      "subtitles": subtitles, "state": state}
        outputs = [components[name] for name in OUTPUTS]

        def as_outputs(values: dict) -> tuple:
            out = []
            for name in OUTPUTS:
                if name not in values:
                    out.append(gr.skip())
                elif name == "notice":
                    out.append(gr.Markdown(value=values[name], visible=bool(values[name])))
                elif name == "player":  # an empty player or gallery is hidden, not a large blank box
                    out.append(gr.Video(value=values[name], visible=values[name] is not None))
                elif name == "gallery":
                    out.append(gr.Gallery(value=values[name], visible=bool(values[name])))
                elif name == "transcript":
                    out.append(gr.Radio(choices=values[name], value=None, visible=bool(values[name])))
                else:
                    out.append(values[name])
            return tuple(out)

        def live_timer(user):
            return gr.Timer(active=bool(user is not None and user.live))

        def chosen(values: dict, request: gr.Request | None) -> tuple:
            runtime.remember(getattr(request, "session_hash", None), values.get("state"))
            return as_outputs(values)

        def on_upload(file_path, user, request: gr.Request):
            return chosen(callbacks.choose_upload(file_path, user, runtime), request)

        def on_clear(user, request: gr.Request):
            return chosen(callbacks.no_video(user, runtime), request)

        def on_path(text, is_live, user, request: gr.Request):
            return chosen(callbacks.choose_path(text, is_live, user, runtime), request)

        def on_pick(value, user, request: gr.Request):
            if not value:
                return as_outputs({})
            return chosen(callbacks.choose_path(value, False, user, runtime), request)

        def on_subtitles(file_path, user):
            values = callbacks.choose_subtitles(file_path, user)
            return values["status"], values["state"]

        subtitles.upload(on_subtitles, [subtitles, state], [status, state])
        subtitles.clear(on_subtitles, [subtitles, state], [status, state])
        upload.upload(on_upload, [upload, state], outputs).then(live_timer, state, timer)
        upload.clear(on_clear, [state], outputs).then(live_timer, state, timer)
        open_button.click(on_path, [path, live, state], outputs).then(live_timer, state, timer)
        path.submit(on_path, [path, live, state], outputs).then(live_timer, state, timer)
        browse.input(on_pick, [browse, state], outputs).then(live_timer, state, timer)
        app.load(lambda: gr.Dropdown(choices=list_videos(settings.allowed_dirs)), None, browse)

        def on_leave(request: gr.Request):
            runtime.leave(getattr(request, "session_hash", None))

        app.unload(on_leave)

        def on_question_edit(text, user):
            cleared, user = callbacks.question_edited(text, user)
            return (gr.skip() if cleared is None else cleared), user

        question.input(on_question_edit, [question, state], [options, state], queue=False, show_progress="hidden")

        def ask(text, options_text, how, frames, choice, folder_text, url, name, key, typed, is_live, user,
                request: gr.Request):
            user = user or callbacks.UserState()
            runtime.remember(getattr(request, "session_hash", None), user)  # a typed path may open a recording
            for values in callbacks.ask(text, options_text, how, frames, choice, folder_text, url, name, key, user,
                                        runtime, typed_path=typed, typed_live=is_live):
                yield as_outputs(values)

        def ask_in_chat(text, how, frames, choice, folder_text, url, name, key, typed, is_live, user,
                        request: gr.Request):
            yield from ask(text, "", how, frames, choice, folder_text, url, name, key, typed, is_live, user, request)

        settings_inputs = [strategy, budget, model_choice, folder, base_url, model_name, api_key, path, live, state]
        # Model work is bounded by the runtime's compute slots, so waiting on a slow model server does not
        # hold up the queue: allow many questions in flight.
        in_flight = max(8, 4 * settings.concurrency)
        ask_button.click(ask, [question, options, *settings_inputs], outputs, concurrency_limit=in_flight,
                         concurrency_id="ask", show_progress="hidden").then(
            live_timer, state, timer)
        question.submit(ask, [question, options, *settings_inputs], outputs, concurrency_limit=in_flight,
                        concurrency_id="ask", show_progress="hidden").then(
            live_timer, state, timer)
        chat_send.click(ask_in_chat, [chat_input, *settings_inputs], outputs, concurrency_limit=in_flight,
                        concurrency_id="ask", show_progress="hidden").then(
            live_timer, state, timer)
        chat_input.submit(ask_in_chat, [chat_input, *settings_inputs], outputs, concurrency_limit=in_flight,
                          concurrency_id="ask", show_progress="hidden").then(
            live_timer, state, timer)

        def select(event: gr.SelectData, user):
            t, message = callbacks.select_evidence(event.index, user)
            return (gr.skip() if t is None else gr.Video(playback_position=t)), message

        gallery.select(select, [state], [player, status])

        def select_line(event: gr.SelectData, user):
            t, message = callbacks.select_line(event.index, user)
            return (gr.skip() if t is None else gr.Video(playback_position=t)), message

        transcript.select(select_line, [state], [player, status])

        def tick(user):
            message = callbacks.live_status(user)
            return gr.skip() if message is None else message

        timer.tick(tick, [state], [status])
        library_ui.wire(library_panel, player, runtime)
    app.queue(default_concurrency_limit=settings.concurrency)
    return app


def launch(settings: UISettings, **kwargs):
    """Start the server (blocking unless `prevent_thread_lock=True` is passed)."""
    runtime = Runtime(settings)
    app = build_app(settings, runtime)
    try:
        return app.launch(server_name=settings.host, server_port=settings.port, show_error=False,
                          allowed_paths=[str(d) for d in settings.allowed_dirs],
                          max_file_size=f"{settings.max_upload_mb:g}mb", css=CSS, js=PAGE_JS, theme=THEME,
                          footer_links=["gradio"], **kwargs)
    finally:
        if not kwargs.get("prevent_thread_lock"):
            runtime.recordings.discard_all()
