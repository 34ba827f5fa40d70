"""The `agentime` command line: `ask`, `ingest`, `serve`, `graph`, `eval`, `library`, `ui`.

The CLI builds a `Config` from its options, calls the library and prints results; it holds no logic of its
own. Errors a user can cause print one readable line and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from dataclasses import replace

from agentime.config import DEFAULT_MODEL_SPECS, Config
from agentime.errors import AgentimeError


def _offline_default(verbose: bool = False) -> None:
    # A hub id that cannot be reached otherwise takes ~25 s to fail; users with network can unset these.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not verbose:
        # The CLI reports its own progress; library progress bars and config notices would drown it.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


_WARNED: set[str] = set()


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one readable line, without the source line Python prints by default, each once (a video
    is opened by several layers, and each would repeat that it is truncated)."""
    text = " ".join(str(message).split())
    if text not in _WARNED:
        _WARNED.add(text)
        print(f"agentime: warning: {text}", file=sys.stderr)


def config_from_args(args: argparse.Namespace) -> Config:
    """The run's `Config`: the defaults, then `--config FILE` (TOML), then the command's own options, then each
    `--set section.field=value` in order."""
    config = Config.from_toml(args.config) if getattr(args, "config", None) else Config()
    if getattr(args, "cache", None):
        config = replace(config, cache_dir=Path(args.cache).expanduser())
    video = {name: getattr(args, option) for name, option in
             (("overview_fps", "fps"), ("max_side", "max_side")) if getattr(args, option, None) is not None}
    if getattr(args, "allow_truncated", False):
        video["allow_truncated"] = True
    models = {role: getattr(args, role) or None for role in DEFAULT_MODEL_SPECS if getattr(args, role, None) is not None}
    config = replace(config, video=replace(config.video, **video), models=replace(config.models, **models))
    if getattr(args, "verbose", False):
        config = replace(config, verbose=True)
    if hasattr(args, "subtitle_language"):  # the commands with `add_speech_arguments`
        config = replace(config, speech=speech_config(args, config.speech))
    return config.with_settings(getattr(args, "settings", None) or [])


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` and `--set section.field=value`, the same on every command that builds a Config."""
    parser.add_argument("--config", metavar="FILE", help="TOML file of settings (sections video, search, "
                        "search.timesearch, search.spectemp, models, timing)")
    parser.add_argument("--set", action="append", default=[], dest="settings", metavar="NAME=VALUE",
                        help="one setting, e.g. search.timesearch.zoom_seconds=8 or timing.gate=always; repeatable")


def _ingest(args: argparse.Namespace) -> int:
    from agentime.video.ingest import ingest

    config = config_from_args(args)
    result = ingest(args.video, config, progress=not args.quiet)  # repairs of the cache come as warnings
    summary = result.summary()
    if args.json:
        print(json.dumps(summary))
        return 0
    state = "found in cache" if result.cached else "ingested"
    print(f"{summary['video']}: {state}")
    turned = f", turned {summary['rotation']} degrees" if summary["rotation"] else ""
    turned += ", mirrored" if summary["mirrored"] else ""
    print(f"  duration {summary['duration']:.2f} s from {summary['start_offset']:.2f} s in the file, "
          f"{summary['fps']:.2f} fps, {summary['width']}x{summary['height']} as displayed "
          f"(pixel aspect {summary['sample_aspect_ratio']}{turned})")
    print(f"  {summary['codec']} in {summary['container']}, video track {summary['video_track']} "
          f"of {summary['video_tracks']}")
    print(f"  frames sampled {summary['frames_sampled']} at {config.video.overview_fps:g} fps "
          f"({summary['method']} decoding) in {summary['seconds']:.2f} s")
    print(f"  cache {summary['cache']}")
    return 0


def _progress_on_stderr(message: str, fraction: float) -> None:
    print(f"\r[{fraction * 100:5.1f}%] {message:<60}", end="" if fraction < 1 else "\n", file=sys.stderr,
          flush=True)


def _ask(args: argparse.Namespace) -> int:
    from agentime.api import Session, ask

    config = config_from_args(args)
    progress = None if args.quiet else _progress_on_stderr
    if args.checkpoint:  # a conversation across runs: earlier questions are known to the timing gate
        session = Session(args.video, config=config, session_id=args.session, checkpoint=args.checkpoint,
                          progress=progress)
        try:
            answer = session.ask(args.question, options=args.options, strategy=args.strategy, budget=args.budget)
        finally:
            session.close()
    else:
        answer = ask(args.video, args.question, options=args.options, strategy=args.strategy, budget=args.budget,
                     config=config, progress=progress)
    if args.json:
        print(json.dumps(answer.to_dict()))
        return 0
    from agentime.video.tafr import format_timestamp

    stats = answer.stats
    label = f"{answer.choice}. {answer.text}" if answer.choice else answer.text
    if answer.trace and answer.trace[0]["step"] == "timing_gate":
        print(f"timing: {answer.trace[0]['note']}")
    print(f"answer: {label}")
    print(f"confidence: {answer.confidence:.2f} ({answer.strategy})")
    for start, end in answer.spans:
        print(f"span: {format_timestamp(start)} - {format_timestamp(end)}")
    frames = [e for e in answer.evidence if e.source != "speech"]
    if frames:  # an answer read from the transcript has none
        print("evidence: " + ", ".join(f"{format_timestamp(e.t)} ({e.score_text()})" for e in frames))
    for line in (e for e in answer.evidence if e.source == "speech"):
        print(f'speech: {format_timestamp(line.t)} "{line.text}"')
    speech = stats.get("speech") or {}
    if speech.get("source"):
        print(f"text from {speech['source']} ({speech['segments']} segments)")
    print(f"looked at {stats['target_frames']} target frames, {stats['draft_frames']} draft frames "
          f"in {stats['seconds']:.1f} s of model time")
    return 0


def add_speech_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the text of a video's speech comes from: `ask` and `eval` share these options."""
    parser.add_argument("--subtitles", type=Path, default=None,
                        help="subtitle file (.srt, .vtt, .ass, .ssa); default: one beside the video, else a "
                             "subtitle stream inside it")
    parser.add_argument("--subtitle-language", default=None, help="language to pick among several (e.g. en)")
    parser.add_argument("--subtitle-encoding", default=None, help="encoding of a subtitle file that is not UTF-8")
    parser.add_argument("--subtitle-offset", type=float, default=0.0,
                        help="seconds to subtract from every cue of a subtitle file that runs late")
    parser.add_argument("--asr", default=None, metavar="SPEC",
                        help="speech recognition when no subtitles are found: hf:/path/to/whisper or "
                             "openai:URL#model")
    parser.add_argument("--no-speech", action="store_true", help="ignore subtitles and speech: frames only")


def speech_config(args: argparse.Namespace, base):
    """`base` (the configuration file's speech section) with the speech options that were given."""
    changes = {"enabled": False} if args.no_speech else {}
    for name, option in (("subtitles", "subtitles"), ("language", "subtitle_language"),
                         ("encoding", "subtitle_encoding"), ("asr", "asr")):
        if getattr(args, option) is not None:
            changes[name] = getattr(args, option)
    if args.subtitle_offset:
        changes["offset"] = args.subtitle_offset
    return replace(base, **changes)


def _graph(args: argparse.Namespace) -> int:
    from agentime.agent.graph import build_graph

    print(build_graph().get_graph().draw_mermaid())
    return 0


def _serve(args: argparse.Namespace) -> int:
    from agentime.vlm.server import serve_main

    return serve_main(args)


def _eval(args: argparse.Namespace) -> int:
    from agentime.eval.command import eval_main

    return eval_main(args)


def _ui(args: argparse.Namespace) -> int:
    ui_main = getattr(args, "ui_main", None)  # `python app.py` in a checkout passes the checkout's UI
    if ui_main is None:
        try:
            from agentime_ui.launch import ui_main
        except ImportError as exc:
            raise AgentimeError(f"the web UI is not installed here ({exc}); install the package "
                                "(pip install -e .) or run `python app.py` from a checkout") from exc
    return ui_main(args)


def add_ui_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `agentime ui` (and `python app.py`, which runs the same command)."""
    parser.add_argument("--host", default=None, help="address to listen on (default $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--target", default=DEFAULT_MODEL_SPECS["target"], help="default target model spec")
    parser.add_argument("--draft", default=DEFAULT_MODEL_SPECS["draft"], help="default draft model spec ('' for none)")
    parser.add_argument("--embedder", default=DEFAULT_MODEL_SPECS["embedder"], help="default embedder spec ('' for none)")
    parser.add_argument("--allowed-dir", action="append", default=[], dest="allowed_dirs",
                        help="folder whose videos (and model folders) may be opened by path; repeatable")
    parser.add_argument("--max-upload-mb", type=float, default=2048, help="largest upload accepted, in MB")
    parser.add_argument("--cache", help="cache folder (default: $AGENTIME_CACHE or ~/.cache/agentime)")
    parser.add_argument("--allow-stream-hosts", action="append", default=[], metavar="PATTERNS",
                        help="hosts whose streams visitors may record (comma-separated patterns such as "
                             "cam.example.com or *.example.com, or 'any'); default: stream recording is off")
    parser.add_argument("--allow-model-urls", action="append", default=[], metavar="PATTERNS",
                        help="hosts of OpenAI-compatible servers visitors may type (patterns as above, or "
                             "'any'); default: visitors use only the models this server was started with")
    add_truncated_argument(parser)
    add_config_arguments(parser)


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    """`--verbose`, on every command that loads models: their loading output is hidden by default."""
    parser.add_argument("--verbose", action="store_true",
                        help="show the models' loading output (progress bars and warnings), hidden by default")


def add_truncated_argument(parser: argparse.ArgumentParser) -> None:
    """`--allow-truncated`, the same on every command that opens videos."""
    parser.add_argument("--allow-truncated", action="store_true",
                        help="use the readable part of a truncated or damaged video instead of refusing it")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentime", description="Answer questions about long videos.")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="sample a video's overview into the frame cache")
    ingest.add_argument("video", help="path of a video file")
    ingest.add_argument("--fps", type=float, default=None, help="overview frames per second (default 1)")
    ingest.add_argument("--max-side", type=int, default=None, help="longer side of stored frames in pixels (default 384)")
    ingest.add_argument("--cache", help="cache folder (default: $AGENTIME_CACHE or ~/.cache/agentime)")
    add_truncated_argument(ingest)
    add_config_arguments(ingest)
    ingest.add_argument("--json", action="store_true", help="print a JSON summary")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(run=_ingest)

    from agentime.search import NAMES

    ask = commands.add_parser("ask", help="answer a question about a video")
    ask.add_argument("video", help="path of a video file")
    ask.add_argument("question")
    ask.add_argument("--options", nargs="+", help="multiple-choice options, e.g. 'A. red' 'B. blue'")
    ask.add_argument("--strategy", default="auto", choices=NAMES)
    ask.add_argument("--target", default=None, help=f"target model spec (default {DEFAULT_MODEL_SPECS['target']})")
    ask.add_argument("--draft", default=None, help=f"draft model spec ('' for none; default {DEFAULT_MODEL_SPECS['draft']})")
    ask.add_argument("--embedder", default=None,
                     help=f"embedder spec ('' for none; default {DEFAULT_MODEL_SPECS['embedder']})")
    ask.add_argument("--budget", type=int, default=None, help="target frames the search may look at")
    ask.add_argument("--fps", type=float, default=None, help="overview frames per second (default 1)")
    ask.add_argument("--cache", help="cache folder (default: $AGENTIME_CACHE or ~/.cache/agentime)")
    ask.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    ask.add_argument("--checkpoint", metavar="FILE", help="session file (SQLite): questions asked with the same "
                     "--session are one conversation, and the timing gate knows the earlier answers")
    ask.add_argument("--session", default="cli", help="session id inside --checkpoint (default: cli)")
    add_truncated_argument(ask)
    add_config_arguments(ask)
    add_verbose_argument(ask)
    add_speech_arguments(ask)
    ask.add_argument("--quiet", action="store_true", help="no progress on stderr")
    ask.set_defaults(run=_ask)

    serve = commands.add_parser("serve", help="serve a local VLM over an OpenAI-compatible HTTP API")
    from agentime.vlm.server import add_serve_arguments

    add_serve_arguments(serve)
    add_verbose_argument(serve)
    serve.set_defaults(run=_serve)

    graph = commands.add_parser("graph", help="print the agent graph as Mermaid")
    graph.set_defaults(run=_graph)

    evaluate = commands.add_parser("eval", help="evaluate on a benchmark: per-question JSONL, metrics and submission files")
    from agentime.eval.command import add_eval_arguments

    add_eval_arguments(evaluate)
    add_truncated_argument(evaluate)
    add_verbose_argument(evaluate)
    evaluate.set_defaults(run=_eval)

    library = commands.add_parser("library", help="many videos as one library: add DIR, search DIR TEXT, ask DIR QUESTION")
    from agentime.library_cli import add_library_arguments, library_main

    add_library_arguments(library)
    library.set_defaults(run=library_main)

    ui = commands.add_parser("ui", help="start the web UI (Gradio) on 127.0.0.1:7860")
    add_ui_arguments(ui)
    ui.set_defaults(run=_ui)
    return parser


def main(argv: list[str] | None = None, ui_main=None) -> int:
    """Run one command; `ui_main` is the web UI's entry when the caller has it at hand (`app.py`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _offline_default(verbose=getattr(args, "verbose", False))
    args.ui_main = ui_main
    warnings.showwarning = _one_line_warning
    try:
        return args.run(args)
    except AgentimeError as exc:
        print(f"agentime: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("agentime: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # whoever read the output stopped reading (`agentime graph | head`): nothing is wrong, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
