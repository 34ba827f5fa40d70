"""Frame boundaries and global tokens of the prompt being run, handed to the kernel through a context variable.

The prompt builder knows where each frame's image tokens lie; the attention function, called deep inside a
transformers model, does not. `frame_boundaries(...)` publishes that knowledge for the duration of a model
call. This module holds no torch code and does not decide anything about blocks (see `layout.py`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from agentime.errors import AttentionConfigError

Span = tuple[int, int]


@dataclass(frozen=True)
class FrameLayout:
    """Per batch element: the (start, end) token spans of each frame's image tokens and the global positions.

    Positions index the full token sequence (end exclusive). `seq_len` is the prompt length the positions refer
    to: the layout is used only by causal (text) attention over at least that many keys, so a vision tower's
    own attention never picks it up.
    """

    spans: tuple[tuple[Span, ...], ...]
    global_positions: tuple[tuple[int, ...], ...]
    seq_len: int | None = None

    def for_batch(self, batch_size: int) -> "FrameLayout":
        """The layout with one entry per batch element (a single shared entry is repeated)."""
        if len(self.spans) == batch_size and len(self.global_positions) == batch_size:
            return self
        spans = self.spans * batch_size if len(self.spans) == 1 else self.spans
        globals_ = self.global_positions * batch_size if len(self.global_positions) == 1 else self.global_positions
        if len(spans) != batch_size or len(globals_) != batch_size:
            raise AttentionConfigError(
                f"frame layout has {len(self.spans)} span lists and {len(self.global_positions)} global lists "
                f"for a batch of {batch_size}"
            )
        return FrameLayout(spans, globals_, self.seq_len)


_CURRENT: contextvars.ContextVar[FrameLayout | None] = contextvars.ContextVar("agentime_frame_layout", default=None)


def _is_span(item) -> bool:
    return len(item) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in item)


def _normalise_spans(spans) -> tuple[tuple[Span, ...], ...]:
    spans = list(spans)
    per_batch = [spans] if not spans or _is_span(spans[0]) else spans
    result = []
    for element in per_batch:
        checked = []
        for item in element:
            if not _is_span(item):
                raise AttentionConfigError(f"a frame span must be a (start, end) pair of ints, got {item!r}")
            start, end = int(item[0]), int(item[1])
            if start < 0 or end <= start:
                raise AttentionConfigError(f"a frame span needs 0 <= start < end, got {(start, end)}")
            checked.append((start, end))
        checked.sort()
        for (_, prev_end), (start, _) in zip(checked, checked[1:]):
            if start < prev_end:
                raise AttentionConfigError(f"frame spans overlap: {checked}")
        result.append(tuple(checked))
    return tuple(result)


def _normalise_globals(positions) -> tuple[tuple[int, ...], ...]:
    positions = list(positions)
    per_batch = [positions] if not positions or isinstance(positions[0], int) else positions
    result = []
    for element in per_batch:
        values = sorted({int(p) for p in element})
        if values and values[0] < 0:
            raise AttentionConfigError(f"global positions must be non-negative, got {values[0]}")
        result.append(tuple(values))
    return tuple(result)


def make_frame_layout(
    spans: Sequence[Span] | Sequence[Sequence[Span]] = (),
    global_positions: Sequence[int] | Sequence[Sequence[int]] = (),
    seq_len: int | None = None,
) -> FrameLayout:
    """Validate and normalise spans and global positions (shared by the batch, or one list per element)."""
    return FrameLayout(_normalise_spans(spans), _normalise_globals(global_positions), seq_len)


@contextmanager
def frame_boundaries(
    spans: Sequence[Span] | Sequence[Sequence[Span]] = (),
    global_positions: Sequence[int] | Sequence[Sequence[int]] = (),
    seq_len: int | None = None,
) -> Iterator[FrameLayout]:
    """Within this block, sparse attention aligns key blocks to these frames and treats these tokens as global.

    spans: (start, end) token index pairs of each frame's image tokens, for the whole batch or one list per
        batch element. global_positions: e.g. the question's and the prompt text's token positions.
    seq_len: the padded prompt length; attention calls over fewer keys (a vision tower) ignore the layout.
    """
    token = _CURRENT.set(make_frame_layout(spans, global_positions, seq_len))
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def prompt_text_positions(spans: Sequence[Span], seq_len: int, max_tokens: int = 1024) -> list[int]:
    """Token positions of the prompt's text around the frames: before the first frame (the instructions) and
    after the last one (the question), i.e. the natural global tokens. Timestamps between frames are left out.
    At most `max_tokens` are kept, the ones closest to the end (the question) first.
    """
    if not spans:
        positions = list(range(seq_len))
    else:
        first_start = min(start for start, _ in spans)
        last_end = max(end for _, end in spans)
        positions = list(range(0, min(first_start, seq_len))) + list(range(last_end, seq_len))
    return positions[-max_tokens:] if max_tokens > 0 else []


def publish_frame_boundaries(
    spans: Sequence[Span] | Sequence[Sequence[Span]] = (),
    global_positions: Sequence[int] | Sequence[Sequence[int]] = (),
    seq_len: int | None = None,
) -> contextvars.Token:
    """Like `frame_boundaries` for callers that cannot wrap the model call in a `with` block (e.g. an input
    hook): publishes the layout until `clear_frame_boundaries(token)`; a later publish replaces it."""
    return _CURRENT.set(make_frame_layout(spans, global_positions, seq_len))


def clear_frame_boundaries(token: contextvars.Token | None = None) -> None:
    """Undo `publish_frame_boundaries` (with its token), or drop any published layout (without one)."""
    if token is not None:
        _CURRENT.reset(token)
    else:
        _CURRENT.set(None)


def current_frame_layout() -> FrameLayout | None:
    """The layout published by the innermost active `frame_boundaries`, or None."""
    return _CURRENT.get()
