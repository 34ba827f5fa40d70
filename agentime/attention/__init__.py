"""Frame-aware block-sparse attention for local VLMs, and its registration in transformers.

Light at import: settings (`SparseAttentionConfig`) and the frame-boundary context (`frame_boundaries`) load
without torch; the kernel (`sparse_attention`) and `register_sparse_attention` load torch on first use.
"""

from agentime.attention.config import ATTENTION_NAME, SparseAttentionConfig
from agentime.attention.context import (
    FrameLayout,
    clear_frame_boundaries,
    current_frame_layout,
    frame_boundaries,
    make_frame_layout,
    prompt_text_positions,
    publish_frame_boundaries,
)

_LAZY = {
    "sparse_attention": "agentime.attention.kernel",
    "dense_attention": "agentime.attention.kernel",
    "AttentionShapeError": "agentime.attention.kernel",
    "register_sparse_attention": "agentime.attention.register",
    "registered_config": "agentime.attention.register",
}

__all__ = [
    "ATTENTION_NAME",
    "FrameLayout",
    "SparseAttentionConfig",
    "clear_frame_boundaries",
    "current_frame_layout",
    "frame_boundaries",
    "make_frame_layout",
    "prompt_text_positions",
    "publish_frame_boundaries",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agentime.attention' has no attribute {name!r}")
