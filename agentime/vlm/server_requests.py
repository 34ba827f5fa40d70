"""Validation of `agentime serve` requests: body size, JSON depth, chat messages and their images.

Everything a client sends is hostile until checked here. Bodies are read chunk by chunk and refused as soon
as they pass the size limit (a chunked body is never held whole first); JSON nesting is bounded; images are
base64 data URLs whose decoded pixel count is read from the image header and checked, per image and per
request, before any pixel is decoded. Every refusal is a `RequestError` (a 4xx) whose message names the
field and the limit and carries no internals. This module knows nothing of models, queues or HTTP servers.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass

import numpy as np

from agentime.video.frames import Frame

ROLES = ("system", "user", "assistant")
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")


@dataclass
class RequestLimits:
    """What one request may carry."""

    max_request_bytes: int = 32 * 1024 * 1024
    max_json_depth: int = 32
    max_images: int = 64
    max_image_pixels: int = 4096 * 4096
    max_request_pixels: int = 40_000_000
    max_tokens_limit: int = 4096
    max_top_logprobs: int = 20


class RequestError(Exception):
    """A client error: becomes a 4xx answer with an OpenAI-style JSON body."""

    def __init__(self, status: int, message: str, code: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def too_large(limit: int) -> RequestError:
    return RequestError(413, f"the request body exceeds {limit} bytes; send fewer or smaller images",
                        code="request_too_large")


async def read_body(request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as the declared or streamed size passes `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError(400, "the Content-Length header is not a number")
        if int(declared) > limit:
            raise too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def json_depth_exceeds(value, limit: int) -> bool:
    """Whether arrays and objects in `value` nest deeper than `limit` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def parse_json(raw: bytes, max_depth: int):
    """The JSON body, refused with 400 when it is not JSON or nests deeper than `max_depth`."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise RequestError(400, f"the request JSON nests deeper than {max_depth} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "it is not UTF-8"
        raise RequestError(400, f"the request body is not valid JSON ({reason})") from None
    if json_depth_exceeds(body, max_depth):
        raise RequestError(400, f"the request JSON nests deeper than {max_depth} levels")
    return body


class ImageBudget:
    """Counts the images and decoded pixels of one request against its limits."""

    def __init__(self, limits: RequestLimits):
        self.limits = limits
        self.images = 0
        self.pixels = 0

    def admit(self, width: int, height: int, where: str) -> None:
        limits = self.limits
        self.images += 1
        if self.images > limits.max_images:
            raise RequestError(400, f"at most {limits.max_images} images per request", param="messages")
        pixels = int(width) * int(height)
        if pixels > limits.max_image_pixels:
            raise RequestError(400, f"{where} is {width}x{height} pixels; at most {limits.max_image_pixels} pixels "
                               "per image are accepted: send it smaller", param="messages")
        self.pixels += pixels
        if self.pixels > limits.max_request_pixels:
            raise RequestError(400, f"the images of this request add up to more than {limits.max_request_pixels} "
                               "pixels: send fewer or smaller images", param="messages")


def decode_image_url(url, budget: ImageBudget, where: str) -> Frame:
    """A `data:image/...;base64,` URL as a Frame (t = 0; timestamps travel as text), its size checked from
    the header against `budget` before its pixels are decoded."""
    from PIL import Image

    if not isinstance(url, str) or not url.startswith("data:"):
        raise RequestError(400, f"{where}: only base64 data URLs (data:image/...;base64,...) are accepted",
                           param="messages")
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise RequestError(400, f"{where}: image data URLs must be base64-encoded", param="messages")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, f"{where} is not valid base64", param="messages") from None
    unreadable = RequestError(400, f"{where} is not a decodable {', '.join(IMAGE_FORMATS)} image",
                              param="messages")
    try:
        # Only plain raster formats: some PIL plugins (EPS) run external programs.
        with Image.open(io.BytesIO(raw), formats=IMAGE_FORMATS) as picture:
            width, height = picture.size
            budget.admit(width, height, where)
            array = np.asarray(picture.convert("RGB"))
    except RequestError:
        raise
    except Image.DecompressionBombError:
        raise RequestError(400, f"{where} has more pixels than this server accepts "
                           f"({budget.limits.max_image_pixels} per image): send it smaller",
                           param="messages") from None
    except Exception:  # PIL raises many kinds on damaged data; none of their texts are shown to clients
        raise unreadable from None
    from agentime.vlm.base import as_rgb

    return Frame(0.0, as_rgb(array))


def parse_messages(messages, limits: RequestLimits) -> list:
    """OpenAI chat messages as (role, parts) turns; raises RequestError on anything malformed."""
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages must be a non-empty list", param="messages")
    chat, budget = [], ImageBudget(limits)
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise RequestError(400, f"messages[{index}] needs a role among {', '.join(ROLES)}", param="messages")
        content = message.get("content")
        parts: list = []
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for position, item in enumerate(content):
                kind = item.get("type") if isinstance(item, dict) else None
                if kind == "text" and isinstance(item.get("text"), str):
                    parts.append(item["text"])
                elif kind == "image_url":
                    image = item.get("image_url")
                    url = image.get("url") if isinstance(image, dict) else image
                    parts.append(decode_image_url(url, budget, f"messages[{index}].content[{position}]"))
                else:
                    raise RequestError(400, f"messages[{index}] has a content item of unsupported type "
                                       f"{str(kind)[:40]!r}; use text and image_url", param="messages")
        else:
            raise RequestError(400, f"messages[{index}].content must be a string or a list", param="messages")
        chat.append((message["role"], parts))
    return chat


def _int_field(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(400, f"{name} must be an integer in [{low}, {high}], got {str(value)[:40]}", param=name)
    return value


@dataclass
class ChatRequest:
    """A validated chat completion request."""

    chat: list
    max_tokens: int
    temperature: float
    logprobs: bool
    top_logprobs: int
    stops: list[str]


def parse_request(body, limits: RequestLimits, model_name: str) -> ChatRequest:
    """Validate a chat completion request body (already parsed JSON)."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    model = body.get("model")
    if model not in (None, model_name):
        raise RequestError(404, f"model {str(model)[:80]!r} is not served here; this server serves "
                           f"{model_name!r}", code="model_not_found", param="model")
    if body.get("stream"):
        raise RequestError(400, "stream=true is not supported by this server", param="stream")
    if body.get("n", 1) not in (1, None):
        raise RequestError(400, "only n=1 is supported", param="n")
    limit = limits.max_tokens_limit
    max_tokens = _int_field(body, "max_completion_tokens", _int_field(body, "max_tokens", 256, 1, limit), 1, limit)
    temperature = body.get("temperature", 0.0)
    if temperature is None:
        temperature = 0.0
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise RequestError(400, f"temperature must be a number in [0, 2], got {str(temperature)[:40]}",
                           param="temperature")
    logprobs = bool(body.get("logprobs", False))
    top = _int_field(body, "top_logprobs", 0, 0, limits.max_top_logprobs)
    if top and not logprobs:
        raise RequestError(400, "top_logprobs needs logprobs=true", param="top_logprobs")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise RequestError(400, "stop must be a string or a list of strings", param="stop")
    chat = parse_messages(body.get("messages"), limits)
    return ChatRequest(chat, max_tokens, float(temperature), logprobs, top if logprobs else 0, stop)
