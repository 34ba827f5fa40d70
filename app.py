"""Launch agentime's web UI: `python app.py [--host H] [--port P] [--target SPEC] [--allowed-dir DIR ...]
[--allow-model-urls PATTERNS] [--allow-stream-hosts PATTERNS]` (visitors reach no other host unless listed).

The same command as `agentime ui` (same options and errors); serves on 127.0.0.1:7860 unless told otherwise
(or by GRADIO_SERVER_NAME / GRADIO_SERVER_PORT).
"""

from __future__ import annotations

import sys

from agentime.cli import main as cli_main
from ui.launch import ui_main  # this checkout's UI (installed, the same folder is `agentime_ui`)


def main(argv: list[str] | None = None) -> int:
    return cli_main(["ui", *(sys.argv[1:] if argv is None else argv)], ui_main=ui_main)


if __name__ == "__main__":
    sys.exit(main())
