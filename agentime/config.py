"""agentime's configuration: one typed object built by the CLI, the UI or the caller, passed down.

Environment variables are read here and only here (the cache folder); deeper code takes what it is given.
Sections of later layers (models, search, timing) join this object as they are built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from agentime.errors import ConfigError
from agentime.speech.settings import SpeechConfig


def default_cache_dir() -> Path:
    """`AGENTIME_CACHE` if set, else `~/.cache/agentime`."""
    env = os.environ.get("AGENTIME_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "agentime"


@dataclass(frozen=True)
class VideoConfig:
    """How videos are ingested: the overview's rate, the stored frame size and quality, and whether a
    truncated file is used for its readable part (`allow_truncated`) instead of refused."""

    overview_fps: float = 1.0
    max_side: int = 384
    jpeg_quality: int = 90
    chunk_frames: int = 64
    allow_truncated: bool = False

    def __post_init__(self) -> None:
        if not (self.overview_fps > 0):
            raise ConfigError(f"overview_fps must be > 0 frames per second, got {self.overview_fps}")
        if not (16 <= self.max_side <= 4096):
            raise ConfigError(f"max_side must be between 16 and 4096 pixels, got {self.max_side}")
        if not (10 <= self.jpeg_quality <= 100):
            raise ConfigError(f"jpeg_quality must be between 10 and 100, got {self.jpeg_quality}")
        if self.chunk_frames < 1:
            raise ConfigError(f"chunk_frames must be >= 1, got {self.chunk_frames}")


@dataclass(frozen=True)
class Config:
    """Everything agentime needs to run; every field has a working default."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    video: VideoConfig = field(default_factory=VideoConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)

    def with_video(self, **changes) -> Config:
        return replace(self, video=replace(self.video, **changes))

    def with_speech(self, **changes) -> Config:
        return replace(self, speech=replace(self.speech, **changes))
