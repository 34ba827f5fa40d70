"""Settings of the frame-aware block-sparse attention.

This module only holds the typed settings and their validation; it imports nothing heavy (no torch), so
configuration code can build and check settings without loading the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentime.errors import AttentionConfigError

ATTENTION_NAME = "agentime_sparse"


@dataclass(frozen=True)
class SparseAttentionConfig:
    """How the sparse kernel cuts keys into blocks and chooses which blocks each query block reads.

    block_size: tokens per key block when no frame boundaries are known (and the longest text block when they
        are; a frame's tokens form one block, a frame longer than 2 * block_size is split).
    top_k: key blocks per query block in total, the always-on sink and local blocks included (as in MoBA); the
        rest are chosen by score. A top_k at least the number of blocks makes the kernel exact.
    sink_blocks: leading blocks every query block reads (attention sinks).
    local_blocks: blocks around the query block's own (diagonal) block that are always read: the diagonal block
        and the local_blocks - 1 before it (causal), or around it (non-causal).
    min_seq_len: below this many keys the kernel calls dense SDPA.
    global_positions: token positions (of the whole sequence) that attend to every key and that every query
        attends to, on top of any given per call (e.g. the question's tokens).
    frame_aligned: use frame boundaries when the caller provides them; fixed-size blocks otherwise.
    summarize_skipped: every query also reads one summary key per key block it skips (the block's mean key and
        mean value, weighted by the block's size), so attention mass spread over many blocks is not simply
        dropped. Exactness with a covering top_k is kept (nothing is skipped then).
    chunk_bytes: rough memory budget of one chunk of query blocks processed together.
    """

    block_size: int = 128
    top_k: int = 8
    sink_blocks: int = 1
    local_blocks: int = 1
    min_seq_len: int = 4096
    global_positions: tuple[int, ...] = ()
    frame_aligned: bool = True
    summarize_skipped: bool = False
    chunk_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("block_size", "top_k", "min_seq_len", "chunk_bytes", "sink_blocks", "local_blocks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise AttentionConfigError(f"{name} must be an integer, got {value!r}")
        if self.block_size <= 0:
            raise AttentionConfigError(f"block_size must be a positive number of tokens, got {self.block_size}")
        if self.top_k <= 0:
            raise AttentionConfigError(f"top_k must be at least 1 key block, got {self.top_k}")
        if self.sink_blocks < 0 or self.local_blocks < 0:
            raise AttentionConfigError("sink_blocks and local_blocks cannot be negative")
        if self.sink_blocks + self.local_blocks > self.top_k:
            raise AttentionConfigError(
                f"top_k ({self.top_k}) counts the always-on blocks: it must be at least sink_blocks + local_blocks "
                f"({self.sink_blocks} + {self.local_blocks})"
            )
        if self.min_seq_len < 0:
            raise AttentionConfigError(f"min_seq_len cannot be negative, got {self.min_seq_len}")
        if self.chunk_bytes <= 0:
            raise AttentionConfigError(f"chunk_bytes must be positive, got {self.chunk_bytes}")
        positions = tuple(self.global_positions)
        if any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in positions):
            raise AttentionConfigError(f"global_positions must be non-negative integers, got {positions!r}")
        object.__setattr__(self, "global_positions", positions)

    @classmethod
    def from_dict(cls, values: dict) -> "SparseAttentionConfig":
        """Build from a plain mapping (e.g. a section of the app's config file); unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise AttentionConfigError(f"unknown sparse attention settings {unknown}; known: {sorted(known)}")
        values = dict(values)
        if "global_positions" in values:
            values["global_positions"] = tuple(values["global_positions"])
        return cls(**values)
