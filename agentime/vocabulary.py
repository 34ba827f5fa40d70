"""Words every layer shares: option letters, how an option line is written and read, and span overlap (IoU).

Import-light on purpose (standard library only): the video prompts, the search's answer step, the benchmark
readers and metrics, the web UI and the pipelines all speak this vocabulary. No policy lives here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

OPTION_LETTERS = "ABCDEFGHIJ"  # at most ten options, lettered A to J
OPTION_PREFIX = re.compile(r"^\s*\(?([A-J])[.):]\s*")  # "A. ", "(B) ", "C: " at the start of an option line


def option_line(index: int, text: str) -> str:
    """The option at `index` as the project writes it: "A. text"."""
    return f"{OPTION_LETTERS[index]}. {text}"


def has_letter_prefix(line: str) -> bool:
    """Whether an option line already starts with its letter and a dot ("B. blue")."""
    return line[:2] in {f"{c}." for c in OPTION_LETTERS}


def option_texts(options: Iterable[str] | None) -> list[str]:
    """Option texts without their letter prefixes ("A. red" -> "red")."""
    return [OPTION_PREFIX.sub("", str(o)).strip() for o in options or []]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two [start, end] spans (0 when they do not overlap or are empty)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0
