"""agentime's configuration: one typed object built by the CLI, the UI or the caller, passed down.

`Config` has a section per layer: `video` (ingest), `search` (shared knobs plus one section per strategy),
`models` (the spec of each model role) and `timing` (when the time-aware gate decides). Every field has a
working default. `Config.from_toml(path)` reads a TOML file of the same shape, `with_settings` applies
`section.field=value` strings (the CLI's `--set search.timesearch.zoom_seconds=8`); both refuse an unknown
key or a value of the wrong type with a ConfigError naming it. Environment variables are read here and only
here (the cache folder); deeper code takes what it is given.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path

from agentime.errors import ConfigError
from agentime.speech.settings import SpeechConfig

DEFAULT_MODEL_SPECS = {"target": "embedded:target", "draft": "embedded:draft", "embedder": "embedded:embedder"}


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
class TimeSearchConfig:
    """TimeSearch: the timeline's first segments, and how a spotlighted moment is zoomed into."""

    segments: int = 16  # initial segments of the timeline
    zoom_fps: float = 2.0  # sampling rate inside a spotlighted moment
    zoom_seconds: float = 6.0  # width of the zoom window

    def __post_init__(self) -> None:
        if self.segments < 1 or not self.zoom_fps > 0 or not self.zoom_seconds > 0:
            raise ConfigError("timesearch: segments must be >= 1, zoom_fps and zoom_seconds positive")


SPECTEMP_PRESETS = ("guided", "paper")


@dataclass(frozen=True)
class SpecTempConfig:
    """SpecTemp: where the draft scans, how many frames it proposes to the target, how many rounds.

    `preset` picks the protocol. "guided" (the default): the embedder names the likeliest moments, the draft
    scans `window_seconds` around `moments` of them per round in one batch and proposes `draft_proposals` frames
    for the target to verify; no uniform first look. "paper": the published protocol: the target first sees
    `uniform_first` uniform frames, then the draft scans a `region_seconds` region at `draft_fps` and proposes
    `draft_proposals` frames per round (the defaults are the paper's: 10 frames, 1 fps, 2 proposals). Both stop
    after `rounds` rounds at most."""

    preset: str = "guided"
    uniform_first: int = 10  # paper: frames the target sees first
    draft_proposals: int = 2  # frames the draft proposes per round
    rounds: int = 3  # at most this many rounds
    draft_fps: float = 1.0  # the draft's scanning rate
    region_seconds: float = 60.0  # paper: width of a region around a pinpointed moment (the target's or embedder's)
    diversity: float = 0.5  # penalty on proposals close to frames already picked
    moments: int = 6  # guided: the embedder's moments the draft scans per round
    window_seconds: float = 2.0  # guided: the draft scans this long around each moment (3 frames at 1 fps)

    def __post_init__(self) -> None:
        if self.preset not in SPECTEMP_PRESETS:
            raise ConfigError(f"search.spectemp.preset must be one of {', '.join(SPECTEMP_PRESETS)}, "
                              f"got {self.preset!r}")
        if self.rounds < 1 or self.uniform_first < 1 or self.draft_proposals < 1 or self.moments < 1:
            raise ConfigError("rounds, uniform_first, draft_proposals and moments must be >= 1")
        if not self.region_seconds > 0 or not self.window_seconds > 0:
            raise ConfigError("region_seconds and window_seconds must be positive, got "
                              f"{self.region_seconds!r} and {self.window_seconds!r}")
        if not self.draft_fps > 0:
            raise ConfigError(f"draft_fps must be positive, got {self.draft_fps!r}")


@dataclass(frozen=True)
class SearchConfig:
    """Knobs every strategy shares (`budget` is in target-model frames), and one section per strategy."""

    budget: int = 64
    confidence_threshold: float = 0.8
    relevance_threshold: float = 0.5
    answer_frames: int = 8
    timesearch: TimeSearchConfig = field(default_factory=TimeSearchConfig)
    spectemp: SpecTempConfig = field(default_factory=SpecTempConfig)

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise ConfigError(f"the budget must be a positive number of target frames, got {self.budget!r}")
        if not 0 < self.confidence_threshold <= 1:
            raise ConfigError("confidence_threshold must be in (0, 1]")


@dataclass(frozen=True)
class ModelsConfig:
    """The spec of each model role (`embedded:target`, `hf:/path`, `openai:URL#model`); None: no such model."""

    target: str = DEFAULT_MODEL_SPECS["target"]
    draft: str | None = DEFAULT_MODEL_SPECS["draft"]
    embedder: str | None = DEFAULT_MODEL_SPECS["embedder"]

    def specs(self) -> dict:
        return {"target": self.target, "draft": self.draft, "embedder": self.embedder}


@dataclass(frozen=True)
class TimingConfig:
    """When each question first meets the time-aware gate (search again, or answer from known evidence):
    `gate` "live" (only on live recordings), "always" (every question after the first) or "off";
    `use_policy` False decides by the plain rule instead of the learned policy."""

    gate: str = "live"
    use_policy: bool = True

    def __post_init__(self) -> None:
        if self.gate not in ("live", "always", "off"):
            raise ConfigError(f"timing.gate must be 'live', 'always' or 'off', got {self.gate!r}")


@dataclass(frozen=True)
class Config:
    """Everything agentime needs to run; every field has a working default."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    video: VideoConfig = field(default_factory=VideoConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    timing: TimingConfig = field(default_factory=TimingConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    verbose: bool = False  # show the in-process models' loading output (transformers' progress bars, warnings)

    @classmethod
    def from_toml(cls, path: str | os.PathLike, base: Config | None = None) -> Config:
        """`base` (default: the defaults) with the values of a TOML file of the same shape."""
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"the configuration file {path} is not valid TOML: {exc}") from None
        return _merged(base or cls(), data, "")

    def with_settings(self, settings: list[str] | tuple[str, ...]) -> Config:
        """This configuration with `section.field=value` settings applied, e.g.
        `search.timesearch.zoom_seconds=8`, `models.draft=none`, `timing.gate=always`."""
        config = self
        for setting in settings:
            name, sep, text = setting.partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"a setting is written name=value, e.g. search.budget=32; got {setting!r}")
            nested: dict = {}
            level = nested
            *parents, last = name.strip().split(".")
            for part in parents:
                level = level.setdefault(part, {})
            level[last] = text.strip()
            config = _merged(config, nested, "", from_text=True)
        return config

    def with_speech(self, **changes) -> Config:
        return replace(self, speech=replace(self.speech, **changes))


def _hint(owner: type, name: str) -> typing.Any:
    return typing.get_type_hints(owner)[name]


def _converted(value, hint, where: str, from_text: bool):
    """`value` as the field's type; text (from `--set`) is parsed, TOML values are checked."""
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if from_text and optional and str(value).lower() in ("none", ""):
        return None
    try:
        if base is bool:
            if from_text:
                if str(value).lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return str(value).lower() in ("true", "1", "yes")
            if not isinstance(value, bool):
                raise ValueError
            return value
        if base is int:
            if isinstance(value, bool) or (not from_text and not isinstance(value, int)):
                raise ValueError
            return int(value)
        if base is float:
            if isinstance(value, bool) or (not from_text and not isinstance(value, (int, float))):
                raise ValueError
            return float(value)
        if base is Path:
            return Path(str(value)).expanduser()
        if not isinstance(value, str):
            raise ValueError
        return value
    except ValueError:
        raise ConfigError(f"setting {where} takes {getattr(base, '__name__', base)}, got {value!r}") from None


def _merged(section, data: dict, prefix: str, from_text: bool = False):
    """A copy of the dataclass `section` with `data`'s values, section by section."""
    if not isinstance(data, dict):
        raise ConfigError(f"setting {prefix.rstrip('.')} is a section; give its fields, e.g. {prefix}budget=32")
    fields = {f.name for f in dataclasses.fields(section)}
    changes = {}
    for name, value in data.items():
        where = f"{prefix}{name}"
        if name not in fields:
            raise ConfigError(f"unknown setting {where}; known here: {', '.join(sorted(fields))}")
        current = getattr(section, name)
        if dataclasses.is_dataclass(current):
            changes[name] = _merged(current, value, where + ".", from_text)
        else:
            changes[name] = _converted(value, _hint(type(section), name), where, from_text)
    return replace(section, **changes)
