"""agentime's web UI (Gradio): pick a video, ask questions, see the answer, its evidence and the search.

`ui.app.build_app(settings)` builds the page; `ui.launch` starts it (`python app.py`, `agentime ui`). The UI
builds configuration and calls `agentime.Session`; it holds no search logic of its own.
"""
