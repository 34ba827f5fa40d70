"""Read and write TicToc data: samples, the six per-label, per-level files, and plain message lists.

A TicToc sample is `{"id", "history", "function"}`: OpenAI-style messages each with an ISO-8601 `time`,
except the last (user) message whose `time` is a list of three moments `[small, medium, large]`; the
tool schemas are in `function`. A data folder holds `preferTool_elapse_L.json` and
`preferNoTool_elapse_L.json` for L in 0, 1, 2 (any subset); a sample in a level-L file is read with
`time[L]` as the moment of its last message. Files are written byte-compatible with the published ones
(JSON, one-space indent, ASCII escapes, no trailing newline).

This module moves data in and out; it does not judge conversations (see `conversation.py`).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

from agentime.errors import TimingError
from agentime.timing.conversation import format_time, parse_time

LEVELS = (0, 1, 2)
LEVEL_NAMES = {0: "small", 1: "medium", 2: "large"}
CONTEXT_SUFFIXES = (
    "_rep_after_failure",
    "_request_repeat",
    "_usr_confirm",
    "_in_context_cnt",
    "_incontextavail",
    "_rep_fail",
    "_requestrepeat",
    "_usrconfirm",
)


@dataclass(frozen=True)
class TicTocSample:
    id: str
    history: list
    function: list

    def to_json(self) -> dict:
        return {"id": self.id, "history": self.history, "function": self.function}


@dataclass(frozen=True)
class LabeledSample:
    """A sample as found in a data folder: `prefer_tool` is the human label, `level` the elapsed variant."""

    sample: TicTocSample
    prefer_tool: bool
    level: int


def file_name(prefer_tool: bool, level: int) -> str:
    return f"prefer{'Tool' if prefer_tool else 'NoTool'}_elapse_{level}.json"


def domain_of(sample_id: str) -> str:
    """The scenario domain: the id without its trailing `_N` and without a context-variant suffix."""
    base = re.sub(r"_\d+$", "", sample_id)
    for suffix in CONTEXT_SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def context_variant_of(sample_id: str) -> str | None:
    base = re.sub(r"_\d+$", "", sample_id)
    for suffix in CONTEXT_SUFFIXES:
        if base.endswith(suffix):
            return suffix.lstrip("_")
    return None


def sample_from_json(raw: Any, where: str = "sample") -> TicTocSample:
    if not isinstance(raw, dict):
        raise TimingError(f"{where}: expected an object with 'id', 'history' and 'function'")
    missing = [key for key in ("id", "history", "function") if key not in raw]
    if missing:
        raise TimingError(f"{where}: missing {', '.join(missing)}; a TicToc sample has id, history, function")
    history = raw["history"]
    if not isinstance(history, list) or not history:
        raise TimingError(f"{where} ({raw['id']}): 'history' must be a non-empty list of messages")
    last = history[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        raise TimingError(f"{where} ({raw['id']}): the last message must be the user's follow-up")
    times = last.get("time")
    if not isinstance(times, list) or len(times) != len(LEVELS):
        raise TimingError(f"{where} ({raw['id']}): the last message's 'time' must list 3 moments [small, medium, large]")
    function = raw["function"] if raw["function"] is not None else []
    if not isinstance(function, list):
        raise TimingError(f"{where} ({raw['id']}): 'function' must be a list of tool schemas")
    return TicTocSample(id=str(raw["id"]), history=history, function=function)


def read_tictoc_file(path: str | Path) -> list[TicTocSample]:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise TimingError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(raw, list):
        raise TimingError(f"{path}: a TicToc file holds a JSON list of samples")
    return [sample_from_json(item, f"{path.name}[{i}]") for i, item in enumerate(raw)]


def dumps_tictoc(samples: Iterable[TicTocSample]) -> str:
    return json.dumps([s.to_json() for s in samples], indent=1, ensure_ascii=True)


def write_tictoc_file(path: str | Path, samples: Iterable[TicTocSample]) -> None:
    Path(path).write_text(dumps_tictoc(samples), encoding="utf-8")


def read_tictoc_dir(folder: str | Path) -> list[LabeledSample]:
    """Every sample of every `prefer{Tool,NoTool}_elapse_{0,1,2}.json` present in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TimingError(f"{folder}: not a folder; give the folder holding prefer*_elapse_*.json files")
    found: list[LabeledSample] = []
    present = 0
    for level in LEVELS:
        for prefer_tool in (True, False):
            path = folder / file_name(prefer_tool, level)
            if path.exists():
                present += 1
                found.extend(LabeledSample(s, prefer_tool, level) for s in read_tictoc_file(path))
    if present == 0:
        raise TimingError(f"{folder}: no prefer{{Tool,NoTool}}_elapse_{{0,1,2}}.json file found")
    return found


def write_tictoc_dir(folder: str | Path, labeled: Iterable[LabeledSample]) -> dict[str, int]:
    """Write all six files (empty lists included, as the published data does); returns counts per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buckets: dict[str, list[TicTocSample]] = {file_name(t, l): [] for l in LEVELS for t in (True, False)}
    for item in labeled:
        buckets[file_name(item.prefer_tool, item.level)].append(item.sample)
    for name, samples in buckets.items():
        write_tictoc_file(folder / name, samples)
    return {name: len(samples) for name, samples in buckets.items()}


def conversation_at(sample: TicTocSample, level: int) -> tuple[list[dict], list, datetime]:
    """Messages with the last message's time set to variant `level`, the tools, and `now`."""
    if level not in LEVELS:
        raise TimingError(f"level must be one of {LEVELS}, got {level!r}")
    messages = [dict(m) for m in sample.history]
    last = messages[-1]
    moment = parse_time(last["time"][level], f"{sample.id} follow-up time[{level}]")
    last["time"] = format_time(moment)
    return messages, sample.function, moment


def sample_from_messages(
    sample_id: str,
    messages: Sequence[dict],
    tools: Sequence[dict] | None,
    follow_up_times: Sequence[Any],
) -> TicTocSample:
    """A TicToc sample from a plain timed message list whose last message is the user's follow-up.

    `follow_up_times` are the three moments (small, medium, large) for that last message.
    """
    if len(follow_up_times) != len(LEVELS):
        raise TimingError("follow_up_times must give 3 moments: small, medium, large")
    history = copy.deepcopy(list(messages))
    if not history or history[-1].get("role") != "user":
        raise TimingError("the last message must be the user's follow-up")
    for position, message in enumerate(history[:-1]):
        if message.get("time") is None:
            raise TimingError(f"message {position} has no time; every message but the follow-up needs one")
        message["time"] = format_time(parse_time(message["time"], f"message {position}"))
    history[-1]["time"] = [format_time(parse_time(t, "follow-up time")) for t in follow_up_times]
    return TicTocSample(id=sample_id, history=history, function=list(tools or []))
