"""Specific errors of the VLM layer; all are `VLMError`s so callers can catch the family.

Holds only the class hierarchy. Messages are written where the error is raised and say what to do.
"""

from agentime.errors import ConfigError, VLMError


class ModelNotFoundError(VLMError, FileNotFoundError):
    """A model folder does not exist, or a hub id cannot be resolved (offline or unknown)."""


class ProcessorMissingError(VLMError):
    """A model folder has weights but no processor files (tokenizer, image processor)."""


class UnsupportedArchitectureError(VLMError):
    """The model is not an image-text-to-text model (or not an image/text embedder)."""


class TrustRemoteCodeError(VLMError):
    """The model needs custom code from its folder, and `trust_remote_code` is not enabled."""


class EmbeddedModelMissingError(VLMError, FileNotFoundError):
    """An `embedded:` model is not trained or not installed in this package."""


class InvalidPromptError(VLMError, ValueError):
    """A prompt is empty, malformed, or longer than the model's context."""


class PromptTooLongError(InvalidPromptError):
    """A prompt has more tokens than the model's context; `tokens` and `limit` say by how much."""

    def __init__(self, message: str, tokens: int = 0, limit: int = 0):
        super().__init__(message)
        self.tokens, self.limit = tokens, limit


class ModelSpecError(ConfigError, VLMError):
    """A model spec string such as `hf:/path` or `openai:http://host/v1#model` cannot be parsed."""


class ServerError(VLMError):
    """An OpenAI-compatible server answered with an error, or with something that is not a valid answer."""


class ServerUnavailableError(ServerError, ConnectionError):
    """The server cannot be reached (down, wrong URL, connection refused)."""


class ServerTimeoutError(ServerError, TimeoutError):
    """The server did not answer in time, after all retries."""


class AuthenticationError(ServerError):
    """The server rejected the API key."""


class UnknownModelError(ServerError):
    """The server does not serve the requested model."""


class NoLogprobsError(ServerError):
    """The server returned no token log-probabilities where they were required."""
