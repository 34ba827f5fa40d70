"""agentime: answer questions about long videos by searching them like a person would.

Importing this package is cheap: the public names below load their modules (and torch, PyAV, OpenCV) only
when first used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "ask": "agentime.api",
    "Session": "agentime.api",
    "Answer": "agentime.api",
    "Library": "agentime.library",
    "SpeechEvidence": "agentime.api",
    "Config": "agentime.config",
    "VideoConfig": "agentime.config",
    "SpeechConfig": "agentime.speech.settings",
    "Frame": "agentime.video.frames",
    "open_video": "agentime.video.source",
    "VideoInfo": "agentime.video.source",
    "sample_frames": "agentime.video.sampling",
    "ingest": "agentime.video.ingest",
    "LiveRecording": "agentime.video.live",
    "format_timestamp": "agentime.video.tafr",
    "build_prompt": "agentime.video.tafr",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agentime' has no attribute {name!r}")
