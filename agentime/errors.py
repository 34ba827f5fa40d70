"""Exception families raised at agentime's entry points.

Every error a user can cause is one of these, with a message that says what to do. This module holds only
the class hierarchy (and the warnings agentime issues): no logic, no imports beyond the standard library.
"""


class AgentimeError(Exception):
    """Base class of every error agentime raises on purpose."""


class ConfigError(AgentimeError, ValueError):
    """A configuration value or option is invalid."""


class BudgetTooSmallError(ConfigError):
    """The search budget cannot cover what the strategy must look at on this video; `minimum` is the smallest
    budget (in target frames) that does."""

    def __init__(self, message: str, minimum: int):
        super().__init__(message)
        self.minimum = minimum


class VideoError(AgentimeError):
    """A video cannot be opened, read or sampled as asked."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The path does not exist."""


class NotAVideoError(VideoError):
    """The path exists but is not a readable video file (a directory, an empty or non-video file)."""


class NoDecodableFramesError(VideoError):
    """The container opens but not a single frame decodes."""


class CorruptVideoError(VideoError):
    """The file is truncated or damaged; `readable_duration` says how much of it decodes."""

    def __init__(self, message: str, readable_duration: float = 0.0):
        super().__init__(message)
        self.readable_duration = readable_duration


class TimestampOutOfRangeError(VideoError, ValueError):
    """A requested timestamp or window lies outside the video."""


class TruncatedVideoWarning(UserWarning):
    """A truncated or damaged video was opened anyway (allow_truncated): only its readable part is used."""


class CacheRepairedWarning(UserWarning):
    """Part of the frame cache was damaged (a killed writer, a bad disk) and was dropped to be rebuilt."""


class CacheError(AgentimeError):
    """The frame cache is unusable (permissions, disk full, foreign files)."""


class CacheSpaceError(CacheError):
    """The cache's disk has less free space than the overview of a video is estimated to need."""


class VideoChangedError(VideoError):
    """The file changed (a recording still growing) while it was being ingested: nothing of it is kept."""


class VLMError(AgentimeError):
    """A vision-language model or embedder cannot be loaded or called."""


class TimingError(AgentimeError, ValueError):
    """A conversation or tool schema given to the time-aware policy is malformed."""


class AttentionConfigError(AgentimeError, ValueError):
    """Sparse attention settings or input shapes are inconsistent."""


class BlockedURLError(AgentimeError):
    """An outbound URL is outside what the operator allowed. The message is the same whatever the reason
    (unknown host, private address, refused scheme), so it never tells a visitor whether a host or port
    answers; `reason` holds the detail for the operator's log."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


class CheckpointError(AgentimeError):
    """A session checkpoint file is empty, truncated or damaged; the message names the file and how to start
    a fresh session."""


class SpeechError(AgentimeError):
    """A transcript source (subtitle file or stream, speech recognition) cannot be read or used."""


class SubtitleError(SpeechError):
    """A subtitle file or stream is missing, empty, in an unknown encoding or malformed."""


class TranscriptionError(SpeechError):
    """Speech recognition cannot run: the ASR spec does not load, the server fails, or the video has no audio."""


class SpeechSkippedWarning(UserWarning):
    """A transcript source failed; the answer comes from the frames alone (the reason is in the answer's stats)."""
