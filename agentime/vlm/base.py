"""The protocols the rest of agentime talks to, and the prompt conventions every backend shares.

`VLM` answers prompts made of text and timestamped frames; `Embedder` maps frames and texts into one
normalised space. Search strategies and the agent depend only on these; which backend implements them is
configuration (see `registry.py`). The yes/no prompt and the yes-probability arithmetic live here so that
the in-process and the served paths score exactly the same prompt the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from agentime.video.frames import Frame
from agentime.video.tafr import PromptPart, timestamped_frames
from agentime.vlm.errors import InvalidPromptError

FrameGroup = Frame | Sequence[Frame]

YES_NO_INSTRUCTION = "Answer yes or no."
DESCRIBE_INSTRUCTION = "Describe what the frames show."
MIN_IMAGE_SIDE = 16


@dataclass
class Generation:
    """A model's answer: the text, its tokens and, when the backend provides them, their log-probabilities."""

    text: str
    tokens: list[str] = field(default_factory=list)
    logprobs: list[float] | None = None
    top_logprobs: list[dict[str, float]] | None = None
    finish_reason: str = "stop"
    token_ids: list[int] = field(default_factory=list)
    prompt_tokens: int = 0


@runtime_checkable
class VLM(Protocol):
    """A vision-language model behind any backend."""

    name: str
    max_batch: int

    def generate(
        self, parts: Sequence[PromptPart], max_new_tokens: int = 64, *, temperature: float = 0.0,
        top_logprobs: int = 0,
    ) -> Generation:
        """Answer one prompt (text items and frames, in order)."""
        ...

    def yes_probability(self, frames_batch: Sequence[FrameGroup], statement: str) -> np.ndarray:
        """For each frame or frame group, the probability that the model answers "yes" to `statement`."""
        ...

    def describe(self, frames: Sequence[Frame], max_new_tokens: int = 64) -> str:
        """A short caption of the frames."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Frames and texts into one L2-normalised space (rows of float32), for inner-product retrieval."""

    name: str
    dim: int

    def embed_images(self, frames: Sequence[Frame]) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def frame_group(item: FrameGroup) -> list[Frame]:
    """One frame or a group of frames, as a non-empty list."""
    frames = [item] if isinstance(item, Frame) else list(item)
    if not frames or not all(isinstance(f, Frame) for f in frames):
        raise InvalidPromptError("each item of frames_batch must be a Frame or a non-empty sequence of Frames")
    return frames


def yes_no_parts(item: FrameGroup, statement: str) -> list[PromptPart]:
    """The prompt scored by `yes_probability`: timestamped frames, the statement, the yes/no instruction."""
    if not statement or not statement.strip():
        raise InvalidPromptError("the statement to score is empty; pass a sentence such as 'a red car is visible'")
    return timestamped_frames(frame_group(item)) + [f"Statement: {statement.strip()}\n{YES_NO_INSTRUCTION}"]


def describe_parts(frames: Sequence[Frame]) -> list[PromptPart]:
    """The prompt of `describe`: timestamped frames and the caption instruction."""
    return timestamped_frames(frames) + [DESCRIBE_INSTRUCTION]


def as_rgb(image) -> np.ndarray:
    """Any image (PIL, grayscale, RGBA, float in [0, 1], tiny) as an HxWx3 uint8 array of at least 16 px a side."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidPromptError(f"an image must be HxW, HxWx1, HxWx3 or HxWx4, got shape {array.shape}")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and float(np.nanmax(array)) <= 1.0:
            array = array * 255.0
        array = np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        array = array[:, :, :3]
    height, width = array.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        # Nearest-neighbour upscaling keeps the content; processors reject or mangle slivers.
        scale = math.ceil(MIN_IMAGE_SIDE / min(height, width))
        array = np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)
    return np.ascontiguousarray(array)


def normalise_parts(parts: Sequence) -> list[PromptPart]:
    """Check a prompt and bring its images to RGB uint8 frames; raises InvalidPromptError when unusable."""
    if isinstance(parts, (str, Frame)):
        parts = [parts]
    out: list[PromptPart] = []
    for part in parts:
        if isinstance(part, str):
            if part:
                out.append(part)
        elif isinstance(part, Frame):
            out.append(Frame(part.t, as_rgb(part.image)) if min(part.height, part.width) < MIN_IMAGE_SIDE else part)
        elif isinstance(part, np.ndarray) or hasattr(part, "convert"):
            if hasattr(part, "convert"):
                part = part.convert("RGB")
            out.append(Frame(0.0, as_rgb(part)))
        else:
            raise InvalidPromptError(f"a prompt part must be text or a Frame, got {type(part).__name__}")
    if not any(isinstance(p, str) and p.strip() for p in out) and not any(isinstance(p, Frame) for p in out):
        raise InvalidPromptError("the prompt is empty: give at least one text item or frame")
    return out


def batched(items: Sequence, size: int) -> Iterator[Sequence]:
    """Consecutive slices of at most `size` items."""
    size = max(1, int(size))
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _is_answer(token: str, word: str) -> bool:
    return token.strip().lower() == word


def yes_probability_from_logprobs(candidates: Iterable[tuple[str, float]]) -> float | None:
    """P(yes) / (P(yes) + P(no)) from (token text, logprob) pairs, e.g. an API's top_logprobs.

    Tokens that read "yes" or "no" after stripping spaces and case are pooled. When only one side appears,
    the other is bounded by the smallest listed logprob (it was not in the list, so it is no more likely).
    Returns None when neither side appears.
    """
    pairs = [(tok, float(lp)) for tok, lp in candidates]
    yes = [lp for tok, lp in pairs if _is_answer(tok, "yes")]
    no = [lp for tok, lp in pairs if _is_answer(tok, "no")]
    if not yes and not no:
        return None
    floor = min(lp for _, lp in pairs)
    yes_mass = math.fsum(math.exp(lp) for lp in yes) if yes else math.exp(floor)
    no_mass = math.fsum(math.exp(lp) for lp in no) if no else math.exp(floor)
    return yes_mass / (yes_mass + no_mass)


_YES_RE = re.compile(r"^\W*(yes|true|y)\b", re.IGNORECASE)
_NO_RE = re.compile(r"^\W*(no|false|n)\b", re.IGNORECASE)


def parse_yes_no(text: str) -> float:
    """Parsed fallback for backends without logprobs: 1.0 for a yes, 0.0 for a no, 0.5 when unclear."""
    if _YES_RE.match(text or ""):
        return 1.0
    if _NO_RE.match(text or ""):
        return 0.0
    return 0.5
