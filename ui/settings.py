"""The UI's configuration: where to listen, default models, which folders videos may be opened from, which
hosts visitors may make the server contact (none unless the operator lists them), limits.

Built once from command-line options and Gradio's usual environment variables (`GRADIO_SERVER_NAME`,
`GRADIO_SERVER_PORT`); the rest of the UI takes this object and reads no environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from agentime.config import DEFAULT_MODEL_SPECS, Config
from agentime.errors import ConfigError


@dataclass(frozen=True)
class UISettings:
    host: str = "127.0.0.1"
    port: int = 7860
    target: str = DEFAULT_MODEL_SPECS["target"]
    draft: str | None = DEFAULT_MODEL_SPECS["draft"]
    embedder: str | None = DEFAULT_MODEL_SPECS["embedder"]
    allowed_dirs: tuple[Path, ...] = ()
    max_upload_mb: float = 2048.0
    cache_dir: Path | None = None
    fps: float = 1.0
    allow_truncated: bool = False  # use the readable part of a truncated video instead of refusing it
    default_budget: int = 32
    concurrency: int = 2  # questions answered at once across all users
    allow_stream_hosts: tuple[str, ...] = ()  # host patterns visitors may record streams from; () = off
    allow_model_urls: tuple[str, ...] = ()  # host patterns of model servers visitors may type; () = off
    max_recording_mb: float = 512.0
    max_recording_minutes: float = 30.0
    max_recordings: int = 4  # recordings running at once across all visitors
    extra: dict = field(default_factory=dict)
    config: Config = field(default_factory=Config)  # search, timing and video settings of every session

    def session_config(self) -> Config:
        """The `Config` each visitor's `Session` gets: `config` with this server's cache, rate and truncation."""
        # the chat is a conversation even over a finished file: every question after the first meets the gate
        gate = "always" if self.config.timing.gate == "live" else self.config.timing.gate
        return replace(self.config, cache_dir=self.cache_dir or self.config.cache_dir,
                       video=replace(self.config.video, overview_fps=self.fps, allow_truncated=self.allow_truncated),
                       timing=replace(self.config.timing, gate=gate))

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, got {self.port}")
        if not self.max_upload_mb > 0:
            raise ConfigError(f"max upload must be > 0 MB, got {self.max_upload_mb}")

    @property
    def streams_allowed(self) -> bool:
        return bool(self.allow_stream_hosts)

    @property
    def model_urls_allowed(self) -> bool:
        return bool(self.allow_model_urls)

    def stream_policy(self):
        from agentime.net_guard import OutboundPolicy

        return OutboundPolicy.from_patterns(list(self.allow_stream_hosts))

    def model_url_policy(self):
        from agentime.net_guard import OutboundPolicy

        return OutboundPolicy.from_patterns(list(self.allow_model_urls))

    @property
    def default_models(self) -> dict:
        return {"target": self.target, "draft": self.draft or None, "embedder": self.embedder or None}

    @classmethod
    def from_args(cls, args, environ: Mapping[str, str] = os.environ) -> UISettings:
        host = args.host or environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
        port_text = args.port if args.port is not None else environ.get("GRADIO_SERVER_PORT", "7860")
        try:
            port = int(port_text)
        except ValueError:
            raise ConfigError(f"GRADIO_SERVER_PORT must be a port number, got {port_text!r}") from None
        dirs = []
        for d in args.allowed_dirs or []:
            path = Path(d).expanduser().resolve()
            if not path.is_dir():
                raise ConfigError(f"allowed folder {d} does not exist")
            dirs.append(path)
        from agentime.cli import config_from_args

        return cls(config=config_from_args(args), host=host, port=port, target=args.target, draft=args.draft or None,
                   embedder=args.embedder or None, allowed_dirs=tuple(dirs), max_upload_mb=args.max_upload_mb,
                   cache_dir=Path(args.cache).expanduser() if args.cache else None,
                   allow_truncated=bool(getattr(args, "allow_truncated", False)),
                   allow_stream_hosts=host_patterns(getattr(args, "allow_stream_hosts", None)),
                   allow_model_urls=host_patterns(getattr(args, "allow_model_urls", None)))


def host_patterns(values) -> tuple[str, ...]:
    """Patterns from repeated, comma-separated options (`--allow-stream-hosts a.com,*.b.com`)."""
    patterns = []
    for value in values or []:
        for item in str(value).split(","):
            item = item.strip()
            if item and item not in patterns:
                patterns.append(item)
    return tuple(patterns)
