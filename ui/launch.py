"""Start the web UI from the options of `agentime ui` / `python app.py` (`agentime.cli.add_ui_arguments`).

Builds `UISettings` (options, then Gradio's `GRADIO_SERVER_NAME`/`GRADIO_SERVER_PORT`, then defaults:
127.0.0.1:7860) and launches `ui.app`.
"""

from __future__ import annotations

import argparse
import signal
import sys


def ui_main(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the UI runs offline; no usage pings
    from .app import launch
    from .settings import UISettings

    settings = UISettings.from_args(args)
    # A plain `kill` ends the UI like Ctrl-C: its recordings and previews are removed on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f"agentime UI on http://{settings.host}:{settings.port}", flush=True)
    launch(settings)
    return 0
