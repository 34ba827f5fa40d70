"""Prompts fitted to a model's limits: fewer frames, then shorter text, never an error for a prompt that fits.

Any VLM has limits: a context length (the tokens of its prompt and answer), and, behind a server such as
vLLM, a number of images per prompt. Long benchmark questions (EgoSchema's five long options) and many
frames overflow small models. `FittedVLM` wraps a VLM: when a call fails because the prompt is over a limit
(the in-process backend's `PromptTooLongError`; a server's "maximum context length" or "at most N images"
errors), it asks again with a fitted prompt:

1. fewer frames: the frames evenly thinned (first and last kept), each with its timestamp label, halving
   until one frame is left (or straight to the number of images a server says it takes);
2. then shorter text: the longest lines (long options, a long question) cut to fewer words, marked with "…",
   halving the words a line may keep down to a floor.

Each cut is reported to `on_cut` as one sentence, so the search trace says what the model did not see.
Frames are not shrunk here: processors with a fixed grid give a frame the same number of tokens at any size.
This module holds no search policy and no backend code; errors that are not about a limit pass through.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable, Sequence

from agentime.video.frames import Frame
from agentime.video.tafr import PromptPart
from agentime.vlm.base import FrameGroup, Generation, describe_parts, frame_group
from agentime.vlm.errors import InvalidPromptError, PromptTooLongError
from agentime.vlm.video_parts import thin_frames

_IMAGES = re.compile(r"at most (\d+) image", re.IGNORECASE)
_TOKENS = re.compile(r"maximum context length|context_length_exceeded|takes at most \d+|exceeds the available "
                     r"context size|too many tokens|prompt is too long", re.IGNORECASE)
_LABEL = re.compile(r"^\[\d+:\d\d:\d\d(?:\.\d+)?\]$")
MIN_WORDS = 6  # a line is never cut below this many words
MAX_TRIES = 12
# images per prompt a model was found to take, remembered per model object for as long as it lives (a search
# wraps its models anew at each step; the limit a server stated should not be learnt again each time)
_IMAGE_LIMITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def limit_of(exc: Exception) -> tuple[str, int | None] | None:
    """("images", N) or ("tokens", limit or None) when `exc` says the prompt is over a model limit, else None."""
    if isinstance(exc, PromptTooLongError):
        return "tokens", exc.limit
    if not isinstance(exc, InvalidPromptError):
        return None
    text = str(exc)
    images = _IMAGES.search(text)
    if images:
        return "images", int(images.group(1))
    return ("tokens", None) if _TOKENS.search(text) else None


def _frame_positions(parts: Sequence[PromptPart]) -> list[int]:
    return [i for i, p in enumerate(parts) if isinstance(p, Frame)]


def _cut_line(line: str, words: int) -> str:
    tokens = line.split()
    return line if len(tokens) <= words else " ".join(tokens[:words]) + " …"


def shorten_text(parts: Sequence[PromptPart], words: int) -> list[PromptPart]:
    """The prompt with every text line over `words` words cut to that many (timestamp labels untouched)."""
    return [p if isinstance(p, Frame) or _LABEL.match(p) else "\n".join(_cut_line(x, words) for x in p.split("\n"))
            for p in parts]


def _longest_line(parts: Sequence[PromptPart]) -> int:
    return max((len(line.split()) for p in parts if isinstance(p, str) for line in p.split("\n")), default=0)


class FittedVLM:
    """A VLM whose prompts are fitted to its limits (see the module docstring); otherwise the same model."""

    def __init__(self, inner, on_cut: Callable[[str], None] | None = None):
        self.inner = inner
        self.on_cut = on_cut or (lambda note: None)
        self.name = getattr(inner, "name", type(inner).__name__)
        self.max_batch = getattr(inner, "max_batch", 1)

    @property
    def _image_limit(self) -> int | None:
        try:
            return _IMAGE_LIMITS.get(self.inner)
        except TypeError:  # a model object that takes no weak reference: nothing remembered
            return None

    def _learn_image_limit(self, limit: int) -> None:
        try:
            _IMAGE_LIMITS[self.inner] = limit
        except TypeError:
            pass

    def __getattr__(self, name):  # everything else is the wrapped model's
        return getattr(self.inner, name)

    def _fit(self, call: Callable[[list[PromptPart]], object], parts: Sequence[PromptPart], what: str):
        """Call with `parts`, fitting them on each limit error until the call goes through."""
        current, words, cuts = list(parts), None, []
        frames = len(_frame_positions(current))
        if self._image_limit is not None and frames > self._image_limit:
            current = thin_frames(current, self._image_limit)
            cuts.append(f"{frames} -> {self._image_limit} frames (the model takes at most {self._image_limit})")
        for _ in range(MAX_TRIES):
            try:
                result = call(current)
            except InvalidPromptError as exc:
                limit = limit_of(exc)
                if limit is None:
                    raise
                current, words, note = self._next(current, limit, words, exc, cuts)
                cuts.append(note)
                continue
            if cuts:
                self.on_cut(f"{what}: prompt fitted to {self.name}: " + "; ".join(cuts))
            return result
        raise InvalidPromptError(f"the prompt could not be fitted to {self.name} after {MAX_TRIES} tries "
                                 f"({'; '.join(cuts)})")

    def _next(self, parts, limit, words, exc, cuts) -> tuple[list[PromptPart], int | None, str]:
        kind, value = limit
        frames = len(_frame_positions(parts))
        if kind == "images" and value is not None and frames > value:
            keep = max(1, value)
            self._learn_image_limit(keep)
            return thin_frames(parts, keep), words, f"{frames} -> {keep} frames"
        if frames > 1:
            keep = math.ceil(frames / 2)
            return thin_frames(parts, keep), words, f"{frames} -> {keep} frames"
        longest = _longest_line(parts) if words is None else words
        if longest > MIN_WORDS:
            words = max(MIN_WORDS, longest // 2)
            return shorten_text(parts, words), words, f"text lines cut to {words} words"
        raise InvalidPromptError(f"the prompt does not fit {self.name} even with one frame and lines of "
                                 f"{MIN_WORDS} words ({'; '.join(cuts)}): {exc}") from exc

    # ---- the VLM protocol --------------------------------------------------------------------------

    def generate(self, parts: Sequence[PromptPart], max_new_tokens: int = 64, **kwargs) -> Generation:
        parts = [parts] if isinstance(parts, (str, Frame)) else list(parts)
        return self._fit(lambda p: self.inner.generate(p, max_new_tokens, **kwargs), parts, "generate")

    def describe(self, frames: Sequence[Frame], max_new_tokens: int = 64) -> str:
        def call(parts: list[PromptPart]) -> str:
            return self.inner.describe([p for p in parts if isinstance(p, Frame)], max_new_tokens)

        return self._fit(call, describe_parts(frames), "describe")

    def yes_probability(self, frames_batch: Sequence[FrameGroup], statement: str):
        """Frame groups and the statement are fitted together: every group is thinned to the frames the widest
        one fits with, and the statement is cut like a text line (the same cut for the whole batch)."""
        batch = [frames_batch] if isinstance(frames_batch, Frame) else list(frames_batch)
        if not batch:
            return self.inner.yes_probability(batch, statement)
        groups = [frame_group(item) for item in batch]

        def call(parts: list[PromptPart]):
            keep = len(_frame_positions(parts))
            fitted = [item if isinstance(item, Frame) or len(group) <= keep else thin_frames(group, keep)
                      for item, group in zip(batch, groups, strict=True)]
            return self.inner.yes_probability(fitted, parts[-1])

        return self._fit(call, [*max(groups, key=len), statement], "yes/no")


def fitted(model, on_cut: Callable[[str], None] | None = None):
    """`model` with its prompts fitted (None stays None; an already fitted model gets the new `on_cut`)."""
    if model is None:
        return None
    return FittedVLM(model.inner if isinstance(model, FittedVLM) else model, on_cut)
