"""The unit of a batch evaluation: one question about one video, with its ground truth.

Task readers turn a benchmark's annotation records into `EvalItem`s; the runner answers them; the metrics
read the result rows. This module holds only the types and the error raised for bad annotation files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from agentime.errors import ConfigError

KINDS = ("choice", "yesno", "grounding", "caption", "open")


class AnnotationError(ConfigError):
    """An annotation file is not in the task's published format; the message names the first bad record."""


@dataclass(frozen=True)
class EvalItem:
    """One question: `video` is a file name (or a path relative to the videos folder).

    `kind` is `choice` (answer is a letter), `yesno` (answer is "yes"/"no"), `grounding` (truth is `span`),
    `caption` (a free-form caption the benchmark scores with an LLM judge; `answer` is None) or `open` (a
    free-form answer to score against a reference text, `--open` mode).
    `categories` holds the fields the official metric breaks accuracy down by; `meta` what a submission file
    needs back (the benchmark's own ids and texts), never used for scoring.
    """

    question_id: str
    video: str
    question: str
    kind: str
    options: tuple[str, ...] | None = None
    answer: str | None = None
    span: tuple[float, float] | None = None
    categories: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["options"] = list(self.options) if self.options else None
        data["span"] = list(self.span) if self.span else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> EvalItem:
        return cls(**{**data, "options": tuple(data["options"]) if data.get("options") else None,
                      "span": tuple(data["span"]) if data.get("span") else None})
