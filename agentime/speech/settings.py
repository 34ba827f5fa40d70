"""The speech section of agentime's configuration: which text sources to use and how.

Built by the caller, the CLI or the UI and passed down inside `agentime.config.Config`; validated here,
read nowhere else. No file is opened here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from agentime.errors import ConfigError


@dataclass(frozen=True)
class SpeechConfig:
    """`enabled=False` ignores every text source. `subtitles` names a subtitle file (else one beside the video
    is used when `sidecar`, else a subtitle stream of the container when `streams`); `language` picks among
    several; `encoding` forces a file's encoding; `offset` seconds are subtracted from every cue of a file (a
    file that runs early or late); `asr` is a speech recognition spec (`hf:/path` or `openai:URL#model`),
    used when no subtitles are found."""

    enabled: bool = True
    subtitles: Path | None = None
    language: str | None = None
    encoding: str | None = None
    offset: float = 0.0
    sidecar: bool = True
    streams: bool = True
    asr: str | None = None

    def __post_init__(self) -> None:
        if self.subtitles is not None:
            object.__setattr__(self, "subtitles", Path(self.subtitles).expanduser())
        if not isinstance(self.offset, (int, float)) or not math.isfinite(self.offset):
            raise ConfigError(f"the subtitle offset must be a finite number of seconds, got {self.offset!r}")
        if self.asr is not None and not str(self.asr).startswith(("hf:", "openai:")):
            raise ConfigError(f"unknown ASR spec {self.asr!r}; use hf:/path/to/whisper or openai:URL#model")
