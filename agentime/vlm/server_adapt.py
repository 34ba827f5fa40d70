"""What an OpenAI-compatible server says about its limits when it rejects a request, and how to fit them.

Servers state their limits in the error message of a rejected request, each in its own words (the
patterns below are the ones vLLM, SGLang, llama.cpp's server and OpenAI send). `ServerLimits` remembers what
was learnt from those rejections and shapes the next request to fit:

- images per prompt (vLLM `--limit-mm-per-prompt`): frames are thinned evenly to the limit, each kept frame
  with its timestamp text; a limit of 0 (a text-only model) is an error naming the flag;
- top_logprobs above the server's cap (vLLM `--max-logprobs`, OpenAI's 20): asked again at the cap;
- logprobs refused outright: not asked for again (yes-probabilities are then parsed answers);
- video parts refused (`frames_as="video"` on a server or model without video input): frames go as images;
- context length (vLLM `--max-model-len`, SGLang `--context-length`, llama.cpp `-c`): for that request only,
  frames are sent smaller, then fewer, before giving up with an error naming the flags.

Every adaptation is recorded in `notes` (one line each) for the caller to report. It makes no requests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentime.video.frames import Frame
from agentime.video.tafr import PromptPart
from agentime.vlm.errors import InvalidPromptError
from agentime.vlm.video_parts import thin_frames

_IMAGE_LIMIT = re.compile(r"at most (\d+) image\(s\)", re.IGNORECASE)
_NO_VIDEO = (
    re.compile(r"at most 0 video\(s\)", re.IGNORECASE),  # vLLM serving a model without video input
    re.compile(r"video_url.*(invalid|unsupported|not supported)|(invalid|unsupported|not supported).*video_url",
               re.IGNORECASE),  # OpenAI, llama.cpp and others that know no video part
)
_LOGPROBS_CAP = (
    re.compile(r"logprobs of \d+, which is greater than max allowed: (\d+)", re.IGNORECASE),  # vLLM
    re.compile(r"top_logprobs'?:? integer above maximum value\. Expected a value <= (\d+)", re.IGNORECASE),  # OpenAI
    re.compile(r"top_logprobs must be (?:between 0 and|at most|<=) ?(\d+)", re.IGNORECASE),
)
_LOGPROBS_REFUSED = re.compile(r"logprobs?\b.*\b(not supported|unsupported|not implemented)", re.IGNORECASE)
_CONTEXT = (
    re.compile(r"maximum context length is (\d+) tokens", re.IGNORECASE),  # vLLM, OpenAI
    re.compile(r"longer than the model's context length \((\d+) tokens\)", re.IGNORECASE),  # SGLang
    re.compile(r"exceeds the available context size", re.IGNORECASE),  # llama.cpp
    re.compile(r"decoder prompt \(length \d+\) is longer than the maximum model length of (\d+)", re.IGNORECASE),
)
CONTEXT_FLAGS = "vLLM --max-model-len, SGLang --context-length, llama.cpp -c, Ollama num_ctx"
MIN_IMAGE_SIDE = 112
IMAGE_SHRINKS = 2  # halvings of the image side tried before dropping frames


class ServerLimitError(InvalidPromptError):
    """The server's limits leave no way to send this prompt; the message names the server flag to change."""


@dataclass
class ServerLimits:
    """Limits learnt from a server's rejections, and the request shape that fits them."""

    where: str
    top_logprobs_cap: int | None = None
    request_logprobs: bool = True
    image_limit: int | None = None
    videos_refused: bool = False
    notes: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)

    def top_logprobs(self, wanted: int) -> int:
        return min(wanted, self.top_logprobs_cap) if self.top_logprobs_cap is not None else wanted

    def fit_images(self, parts: Sequence[PromptPart]) -> list[PromptPart]:
        """`parts` with at most `image_limit` frames (thinned evenly), as the server accepts them."""
        return thin_frames(parts, self.image_limit) if self.image_limit is not None else list(parts)

    def learn(self, message: str, sent: Sequence[PromptPart]) -> bool:
        """Learn from a rejection of `sent`; True when a request shaped by the new limits may succeed."""
        if not self.videos_refused and any(pattern.search(message) for pattern in _NO_VIDEO):
            self.videos_refused = True
            self.note(f"{self.where} takes no video parts ({message.strip()}): frames are sent as timestamped images")
            return True
        match = _IMAGE_LIMIT.search(message)
        if match:
            limit = int(match.group(1))
            if limit == 0:
                raise ServerLimitError(
                    f"{self.where} takes no images in a prompt ({message.strip()}); serve a vision-language model, "
                    "or raise the limit, e.g. vllm serve ... --limit-mm-per-prompt '{\"image\": 32}'"
                )
            if self.image_limit is not None and limit >= self.image_limit:
                return False
            self.image_limit = limit
            self.note(f"{self.where} takes at most {limit} image(s) per prompt: frames are thinned evenly to {limit} "
                      "(vLLM: raise it with --limit-mm-per-prompt '{\"image\": N}')")
            return True
        for pattern in _LOGPROBS_CAP:
            match = pattern.search(message)
            if match and (self.top_logprobs_cap is None or int(match.group(1)) < self.top_logprobs_cap):
                self.top_logprobs_cap = int(match.group(1))
                self.note(f"{self.where} returns at most {self.top_logprobs_cap} top_logprobs; asking for that many")
                return True
        if self.request_logprobs and _LOGPROBS_REFUSED.search(message):
            self.request_logprobs = False
            self.note(f"{self.where} refuses logprobs: yes-probabilities are parsed yes/no answers (0, 0.5 or 1), "
                      "a coarser confidence than token probabilities")
            return True
        return False


def context_limit(message: str) -> int | None:
    """The context length a context-overflow rejection states (0 when it states none); None for other errors."""
    for pattern in _CONTEXT:
        match = pattern.search(message)
        if match:
            return int(match.group(1)) if match.groups() else 0
    return None


def context_error(where: str, message: str, frames: int) -> ServerLimitError:
    return ServerLimitError(
        f"{where}: the prompt does not fit the server's context even with smaller and fewer frames ({frames} "
        f"sent at the end): {message.strip()} Raise the server's context ({CONTEXT_FLAGS}) or ask about fewer frames"
    )


def frame_count(parts: Sequence[PromptPart]) -> int:
    """How many frames a prompt holds."""
    return sum(isinstance(part, Frame) for part in parts)

