"""Start the web UI from command-line options: `python app.py [...]` and `agentime ui [...]` share these.

Builds `UISettings` (options, then Gradio's `GRADIO_SERVER_NAME`/`GRADIO_SERVER_PORT`, then defaults:
127.0.0.1:7860) and launches `ui.app`.
"""

from __future__ import annotations

import argparse


def add_ui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--target", default="embedded:target", help="default target model spec")
    parser.add_argument("--draft", default="embedded:draft", help="default draft model spec ('' for none)")
    parser.add_argument("--embedder", default="embedded:embedder", help="default embedder spec ('' for none)")
    parser.add_argument("--allowed-dir", action="append", default=[], dest="allowed_dirs",
                        help="folder whose videos (and model folders) may be opened by path; repeatable")
    parser.add_argument("--max-upload-mb", type=float, default=2048, help="largest upload accepted, in MB")
    parser.add_argument("--cache", help="cache folder (default: $AGENTIME_CACHE or ~/.cache/agentime)")


def ui_main(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the UI runs offline; no usage pings
    from ui.app import launch
    from ui.settings import UISettings

    settings = UISettings.from_args(args)
    print(f"agentime UI on http://{settings.host}:{settings.port}", flush=True)
    launch(settings)
    return 0
