"""Launch agentime's web UI: `python app.py [--host H] [--port P] [--target SPEC] [--allowed-dir DIR ...]`.

Same options as `agentime ui`; serves on 127.0.0.1:7860 unless told otherwise (or by GRADIO_SERVER_NAME /
GRADIO_SERVER_PORT). Errors in the options print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from agentime.errors import AgentimeError
    from ui.launch import add_ui_arguments, ui_main

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_ui_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return ui_main(args)
    except AgentimeError as exc:
        print(f"app: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
