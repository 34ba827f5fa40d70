"""Cutting a key sequence into blocks: fixed-size, or aligned to frames when their token spans are known.

Produces a `BlockLayout`: block start positions, a padded (blocks x longest block) table of token positions
and the block id of each position. It decides nothing about which blocks a query reads (see `selection.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from agentime.errors import AttentionConfigError


@dataclass(frozen=True)
class BlockLayout:
    """Key blocks of a sequence of `length` tokens.

    starts: block boundaries, len = blocks + 1, starts[0] == 0, starts[-1] == length.
    table: (blocks, block_len) token positions of each block, -1 where a shorter block is padded.
    block_of: (length,) the block id of each position.
    Both are stored only for uneven blocks; uniform ones make them when asked for (or `positions` computes the
    rows asked for), so that they take no memory while the kernel attends.
    uniform: every block has exactly block_len tokens (then `table` is a plain reshape of the positions).
    """

    starts: tuple[int, ...]
    uneven_table: torch.Tensor | None
    uneven_block_of: torch.Tensor | None
    uniform: bool
    device: torch.device | str = "cpu"

    @property
    def table(self) -> torch.Tensor:
        if self.uneven_table is not None:
            return self.uneven_table
        return torch.arange(self.length, device=self.device).view(self.num_blocks, self.block_len)

    @property
    def block_of(self) -> torch.Tensor:
        if self.uneven_block_of is not None:
            return self.uneven_block_of
        return torch.arange(self.length, device=self.device) // self.block_len

    def positions(self, blocks: torch.Tensor) -> torch.Tensor:
        """(..., block_len) token positions of the given block ids (-1 padded), like `table[blocks]`."""
        if self.uneven_table is not None:
            return self.uneven_table[blocks]
        return blocks[..., None] * self.block_len + torch.arange(self.block_len, device=blocks.device)

    @property
    def num_blocks(self) -> int:
        return len(self.starts) - 1

    @property
    def block_len(self) -> int:
        if self.uneven_table is not None:
            return int(self.uneven_table.shape[1])
        return self.starts[1] - self.starts[0]

    @property
    def length(self) -> int:
        return self.starts[-1]


def _split_evenly(start: int, end: int, block_size: int) -> list[int]:
    """Cut points (excluding `start`) splitting [start, end) into ceil(len / block_size) near-equal pieces."""
    pieces = -(-(end - start) // block_size)
    return [start + (end - start) * i // pieces for i in range(1, pieces + 1)]


def fixed_block_starts(length: int, block_size: int) -> list[int]:
    """Boundaries of consecutive blocks of `block_size` tokens (the last one may be shorter)."""
    if block_size <= 0:
        raise AttentionConfigError(f"block_size must be positive, got {block_size}")
    return list(range(0, length, block_size)) + [length]


def frame_block_starts(length: int, block_size: int, spans: Sequence[tuple[int, int]]) -> list[int]:
    """Boundaries that never cut a frame: each frame's image tokens lie in one block (VMoBA-style).

    A short text gap before a frame (its timestamp) joins that frame's block; consecutive small frames share a
    block while it holds at most `block_size` tokens (so top-k reads as many keys as with fixed blocks); other
    text is cut into pieces of at most `block_size`; a frame (with its gap) longer than 2 * block_size is split
    evenly. Spans beyond `length` are clipped away.
    """
    if block_size <= 0:
        raise AttentionConfigError(f"block_size must be positive, got {block_size}")
    frames = sorted((max(0, s), min(length, e)) for s, e in spans if s < length and e > max(0, s))
    starts = [0]
    cursor = 0
    open_frames = None  # start of the last block while it holds only whole frames (and their timestamps)
    for frame_start, frame_end in frames:
        if frame_start < cursor:
            raise AttentionConfigError(f"frame spans overlap near position {frame_start}")
        gap = frame_start - cursor
        block_start = frame_start
        if gap > block_size // 2:
            # a long text stretch is its own run of text blocks
            starts.extend(_split_evenly(cursor, frame_start, block_size)[:-1])
            starts.append(frame_start)
            open_frames = None
        elif gap > 0:
            block_start = cursor  # the short gap (a timestamp) joins the frame that follows it
        if open_frames is not None and block_start == cursor and frame_end - open_frames <= block_size:
            starts.remove(cursor)  # this frame joins the previous frames' block
        else:
            if block_start != starts[-1]:
                starts.append(block_start)
            open_frames = block_start
            if frame_end - block_start > 2 * block_size:
                starts.extend(_split_evenly(block_start, frame_end, block_size)[:-1])
                open_frames = None
        starts.append(frame_end)
        cursor = frame_end
    if cursor < length:
        starts.extend(_split_evenly(cursor, length, block_size))
    return sorted(set(starts))


def merge_starts(all_starts: Sequence[Sequence[int]]) -> list[int]:
    """Union of the cut points of several batch elements, so each element's frames stay block-aligned."""
    merged = set()
    for starts in all_starts:
        merged.update(starts)
    return sorted(merged)


def layout_from_starts(starts: Sequence[int], device: torch.device | str = "cpu") -> BlockLayout:
    """Build the position table of blocks given their boundaries."""
    starts = [int(s) for s in starts]
    if len(starts) < 2 or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])):
        raise AttentionConfigError(f"block boundaries must start at 0 and strictly increase, got {starts[:8]}...")
    bounds = torch.tensor(starts, dtype=torch.long)
    sizes = bounds[1:] - bounds[:-1]
    block_len = int(sizes.max())
    offsets = torch.arange(block_len, dtype=torch.long)
    table = bounds[:-1, None] + offsets[None, :]
    table = torch.where(offsets[None, :] < sizes[:, None], table, torch.full_like(table, -1))
    if bool((sizes == block_len).all()):
        return BlockLayout(tuple(starts), None, None, True, device)
    block_of = torch.repeat_interleave(torch.arange(len(starts) - 1), sizes)
    return BlockLayout(tuple(starts), table.to(device), block_of.to(device), False, device)


def build_block_layout(
    length: int,
    block_size: int,
    spans_per_batch: Sequence[Sequence[tuple[int, int]]] | None = None,
    device: torch.device | str = "cpu",
) -> BlockLayout:
    """Fixed-size blocks, or frame-aligned ones when any batch element has frame spans."""
    if length <= 0:
        raise AttentionConfigError(f"cannot cut an empty sequence into blocks (length {length})")
    if spans_per_batch and any(len(spans) for spans in spans_per_batch):
        starts = merge_starts([frame_block_starts(length, block_size, spans) for spans in spans_per_batch])
    else:
        starts = fixed_block_starts(length, block_size)
    return layout_from_starts(starts, device)
