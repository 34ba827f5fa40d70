"""The `openai` backend: the `VLM` protocol over any OpenAI-compatible Chat Completions server.

Works with vLLM, SGLang, Ollama, llama.cpp's server, OpenAI and `agentime serve`. Frames travel as base64
image data URLs, timestamps as the text items before them (the same prompt parts as in process).
`yes_probability` reads the first answer token's `top_logprobs`; servers without logprobs get a parsed
fallback. Retries with backoff (429, 5xx, connection errors) are the official client's; this module maps
its exceptions to agentime's, and bounds concurrent requests. It holds no model and imports no torch.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np

from agentime.errors import AgentimeError, ConfigError, VLMError
from agentime.video.frames import Frame
from agentime.video.tafr import PromptPart
from agentime.vlm.base import (
    FrameGroup,
    Generation,
    as_rgb,
    describe_parts,
    normalise_parts,
    parse_yes_no,
    yes_no_parts,
    yes_probability_from_logprobs,
)
from agentime.vlm.errors import (
    AuthenticationError,
    InvalidPromptError,
    NoLogprobsError,
    ServerError,
    ServerTimeoutError,
    ServerUnavailableError,
    UnknownModelError,
)
from agentime.vlm.video_parts import VLLM_VIDEO_FRAMES, video_content
from agentime.vlm.server_adapt import (
    IMAGE_SHRINKS,
    MIN_IMAGE_SIDE,
    ServerLimits,
    context_error,
    context_limit,
    frame_count,
    thin_frames,
)


@dataclass
class OpenAIConfig:
    """Where the server is and how to talk to it. `model` None: the server's only model.

    The key sent is `api_key`, else the environment variable `api_key_env`; an empty `api_key_env` ("" or None) never reads
    the environment (for URLs typed by someone other than the operator, whose key must not travel there).
    `url_check(url)`, when given, is called before every request, redirects included, and raises to refuse it;
    when it returns the addresses it allowed, plain HTTP connects to the first of them instead of resolving the
    name again (a name that resolves elsewhere a moment later cannot move the connection).
    """

    base_url: str
    model: str | None = None
    api_key: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    connect_timeout_s: float | None = None  # None: the same as timeout_s
    url_check: Callable[[str], object] | None = None
    max_retries: int = 3
    max_concurrency: int = 8
    max_batch: int = 16
    image_format: str = "jpeg"
    jpeg_quality: int = 90
    max_image_side: int | None = 768
    frames_as: str = "images"  # "video": runs of timestamped frames as one video_url part (vLLM), see video_parts
    video_max_frames: int = VLLM_VIDEO_FRAMES
    top_logprobs: int = 20
    request_logprobs: bool = True
    require_logprobs: bool = False
    check_model: bool = True
    name: str | None = None


def check_frames_as(value: str) -> str:
    """`value` when it is a way to send frames (images or video); raises ConfigError otherwise."""
    if value not in ("images", "video"):
        raise ConfigError(f"frames_as must be 'images' or 'video', got {value!r}")
    return value


def check_base_url(url: str) -> str:
    """An http(s) URL with a host, without a trailing slash; raises ConfigError otherwise."""
    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(
            f"not a server URL: {url!r}; expected something like http://127.0.0.1:8000/v1"
        )
    return url.rstrip("/")


def encode_image(image: np.ndarray, *, image_format: str = "jpeg", quality: int = 90,
                 max_side: int | None = None) -> str:
    """An RGB array as a `data:image/...;base64,` URL, shrunk so its longer side is at most `max_side`."""
    from PIL import Image

    picture = Image.fromarray(as_rgb(image))
    if max_side and max(picture.size) > max_side:
        scale = max_side / max(picture.size)
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                 Image.BICUBIC)
    buffer = io.BytesIO()
    fmt = image_format.lower()
    if fmt in ("jpeg", "jpg"):
        picture.save(buffer, format="JPEG", quality=int(quality))
        mime = "image/jpeg"
    elif fmt == "png":
        picture.save(buffer, format="PNG")
        mime = "image/png"
    else:
        raise ConfigError(f"image_format must be jpeg or png, got {image_format!r}")
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _timeout(cfg: OpenAIConfig):
    import openai  # its own HTTP package's Timeout, whichever package that is

    return openai.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s or cfg.timeout_s)


# Headers a request to a server typed by someone other than the operator may carry; anything else the client
# picks up from the environment (organisation, project, custom headers) stays home.
PLAIN_HEADERS = {"host", "accept", "accept-encoding", "connection", "content-type", "content-length", "user-agent"}


def _http_client(cfg: OpenAIConfig):
    """An HTTP client that runs `cfg.url_check` on every request (redirects too; plain HTTP connects to the
    address it allowed) and, when the environment's credentials must not be used (empty `api_key_env`), sends
    no header but plain ones and the own key."""
    hooks = []
    if cfg.url_check is not None:
        check = cfg.url_check

        def checked_and_pinned(request) -> None:
            from agentime.net_guard import pin_url

            addresses = check(str(request.url))
            if isinstance(addresses, list) and addresses:
                # the Host header keeps the name the request was built for
                request.url = type(request.url)(pin_url(str(request.url), addresses[0])[0])

        hooks.append(checked_and_pinned)
    if not cfg.api_key_env:
        own = f"Bearer {cfg.api_key}" if cfg.api_key else None

        def own_credentials_only(request) -> None:
            for name in list(request.headers.keys()):
                lower = name.lower()
                if lower == "authorization" and own is not None and request.headers[name] == own:
                    continue
                if lower not in PLAIN_HEADERS and not lower.startswith("x-stainless-"):
                    del request.headers[name]

        hooks.append(own_credentials_only)
    if not hooks:
        return None
    import openai

    return openai.DefaultHttpxClient(timeout=_timeout(cfg), event_hooks={"request": hooks})


class OpenAIVLM:
    """A VLM served over an OpenAI-compatible HTTP API."""

    def __init__(self, cfg: OpenAIConfig):
        import openai

        self.config = cfg
        check_frames_as(cfg.frames_as)
        self._openai = openai
        from openai.types.chat import ChatCompletion

        self._completion_type = ChatCompletion
        base_url = check_base_url(cfg.base_url)
        api_key = cfg.api_key or (os.environ.get(cfg.api_key_env) if cfg.api_key_env else None) or "not-needed"
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=_timeout(cfg),
                                    max_retries=cfg.max_retries, http_client=_http_client(cfg))
        self.max_batch = max(1, int(cfg.max_batch))
        self._pool = ThreadPoolExecutor(max_workers=max(1, int(cfg.max_concurrency)))
        self.model = cfg.model
        if cfg.check_model or self.model is None:
            self.model = self._resolve_model(cfg.model)
        self.name = cfg.name or self.model
        self.logprobs_seen: bool | None = None
        self.limits = ServerLimits(base_url)  # what the server's rejections taught; `limits.notes` says it

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self.client.close()

    # ---- requests ---------------------------------------------------------------------------------

    def _call(self, function, *args, **kwargs):
        """Call the client, turning its exceptions into agentime's ServerError family."""
        openai = self._openai
        where = self.config.base_url
        try:
            return function(*args, **kwargs)
        except VLMError:
            raise
        except openai.APITimeoutError as exc:
            raise ServerTimeoutError(
                f"{where} did not answer within {self.config.timeout_s} s ({self.config.max_retries} retries); "
                "raise timeout_s or check the server's load"
            ) from exc
        except openai.APIConnectionError as exc:
            if isinstance(exc.__cause__, AgentimeError):
                raise exc.__cause__ from None  # refused by `url_check` before anything was sent
            raise ServerUnavailableError(
                f"cannot reach {where}: {exc}; is the server running (e.g. `agentime serve`) and the URL right?"
            ) from exc
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise AuthenticationError(
                f"{where} rejected the API key ({exc.status_code}); set "
                f"{self.config.api_key_env + ' or ' if self.config.api_key_env else ''}api_key"
            ) from exc
        except openai.NotFoundError as exc:
            message = _error_message(exc)
            if "model" in message.lower():
                raise UnknownModelError(f"{where} does not serve model {self.model!r} ({message}); it serves: "
                                        f"{', '.join(self._served_models()) or 'no model it lists'}") from exc
            raise ServerError(f"{where} has no such endpoint ({message}); does the URL end with /v1?") from exc
        except openai.BadRequestError as exc:
            raise InvalidPromptError(f"{where} rejected the request: {_error_message(exc)}") from exc
        except openai.RateLimitError as exc:
            wait = exc.response.headers.get("retry-after") if exc.response is not None else None
            raise ServerError(
                f"{where} is still rate limiting (HTTP 429) after {self.config.max_retries} retries"
                + (f", it asks to retry after {wait} s" if wait else "")
                + f": {_error_message(exc)}; lower max_concurrency or raise max_retries"
            ) from exc
        except openai.APIStatusError as exc:
            raise ServerError(
                f"{where} answered HTTP {exc.status_code} after {self.config.max_retries} retries: "
                f"{_error_message(exc)}"
            ) from exc
        except openai.APIResponseValidationError as exc:
            raise ServerError(f"{where} sent a malformed answer: {exc}") from exc
        except openai.APIError as exc:
            raise ServerError(f"{where}: {exc}") from exc
        except ValueError as exc:
            raise ServerError(f"{where} sent a malformed answer (not JSON?): {exc}") from exc

    def _resolve_model(self, wanted: str | None) -> str:
        try:
            listing = self._call(self.client.models.list)
            served = [m.id for m in listing.data]
        except ServerError as exc:
            if wanted is not None and not isinstance(exc, (ServerUnavailableError, AuthenticationError,
                                                           ServerTimeoutError)):
                return wanted  # some servers have no /models; the first request will tell.
            raise
        except (AttributeError, TypeError) as exc:
            raise ServerError(f"{self.config.base_url}/models sent a malformed answer") from exc
        if wanted is None:
            if len(served) != 1:
                raise UnknownModelError(
                    f"{self.config.base_url} serves {len(served)} models ({', '.join(served) or 'none'}); "
                    "name one, e.g. openai:URL#model"
                )
            return served[0]
        if served and wanted not in served:
            raise UnknownModelError(
                f"{self.config.base_url} does not serve {wanted!r}; it serves: {', '.join(served)}"
            )
        return wanted

    def _served_models(self) -> list[str]:
        """The ids the server lists at /models, or [] when it lists none or cannot be asked."""
        try:
            return [m.id for m in self.client.models.list().data]
        except Exception:  # noqa: BLE001 - only used to enrich an error message
            return []

    def messages(self, parts: Sequence[PromptPart], max_side: int | None = None) -> list[dict]:
        """Prompt parts as one user message: text items and image data URLs (or video parts), in order."""
        content = []
        if self.config.frames_as == "video" and not self.limits.videos_refused:
            def jpeg(frame: Frame) -> str:
                return encode_image(frame.image, image_format="jpeg", quality=self.config.jpeg_quality,
                                    max_side=max_side or self.config.max_image_side).split(",", 1)[1]

            return [{"role": "user", "content": video_content(normalise_parts(parts), jpeg,
                                                              self.config.video_max_frames)}]
        for part in normalise_parts(parts):
            if isinstance(part, Frame):
                url = encode_image(part.image, image_format=self.config.image_format,
                                   quality=self.config.jpeg_quality, max_side=max_side or self.config.max_image_side)
                content.append({"type": "image_url", "image_url": {"url": url}})
            else:
                content.append({"type": "text", "text": part})
        return [{"role": "user", "content": content}]

    def _complete(self, parts, max_tokens: int, temperature: float, top_logprobs: int):
        response = self._call(self._post_fitted, normalise_parts(parts), int(max_tokens), float(temperature),
                              int(top_logprobs))
        choices = getattr(response, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise ServerError(f"{self.config.base_url} sent a malformed answer: {str(response)[:200]!r}")
        return choices[0]

    def _post_fitted(self, parts: list[PromptPart], max_tokens: int, temperature: float, top_logprobs: int):
        """POST a chat completion shaped to the server's limits, learning new ones from its rejections."""
        side, frames, shrinks = self.config.max_image_side, None, 0
        while True:
            sent = self.limits.fit_images(parts)
            sent = thin_frames(sent, frames) if frames is not None else sent
            body = dict(model=self.model, messages=self.messages(sent, max_side=side), max_tokens=max_tokens,
                        temperature=temperature, n=1)
            if self.config.request_logprobs and self.limits.request_logprobs:
                body["logprobs"] = True
                if top_logprobs > 0:
                    body["top_logprobs"] = self.limits.top_logprobs(top_logprobs)
            try:
                # The client's low-level post skips its per-call walk over the request's typed dicts
                # (milliseconds per request with inline images); retries, timeouts and errors are `create`'s.
                return self.client.post("/chat/completions", body=body, cast_to=self._completion_type)
            except self._openai.BadRequestError as exc:
                message = _error_message(exc)
                if self.limits.learn(message, sent):
                    continue
                if context_limit(message) is None or not frame_count(sent):
                    raise
                # Context overflow, for this prompt only: smaller frames first (fewer tokens on servers that
                # tile by resolution), then fewer frames, then an error naming the server flags.
                largest = max(max(p.height, p.width) for p in sent if isinstance(p, Frame))
                side = min(side or largest, largest)
                if shrinks < IMAGE_SHRINKS and side > MIN_IMAGE_SIDE:
                    side, shrinks = max(MIN_IMAGE_SIDE, side // 2), shrinks + 1
                elif frame_count(sent) > 1:
                    frames = frame_count(sent) // 2
                else:
                    raise context_error(self.config.base_url, message, frame_count(sent)) from exc
                self.limits.note(f"{self.config.base_url}: a prompt over the server's context was sent with "
                                 "smaller or fewer frames")

    # ---- protocol ---------------------------------------------------------------------------------

    def generate(self, parts: Sequence[PromptPart], max_new_tokens: int = 64, *, temperature: float = 0.0,
                 top_logprobs: int = 0) -> Generation:
        choice = self._complete(parts, max_new_tokens, temperature, top_logprobs)
        text = choice.message.content or ""
        content = choice.logprobs.content if choice.logprobs is not None else None
        if not content:
            return Generation(text=text, finish_reason=choice.finish_reason or "stop")
        tokens = [item.token for item in content]
        logprobs = [float(item.logprob) for item in content]
        top = None
        if top_logprobs > 0:
            top = [{alt.token: float(alt.logprob) for alt in (item.top_logprobs or [])} for item in content]
        return Generation(text=text, tokens=tokens, logprobs=logprobs, top_logprobs=top,
                          finish_reason=choice.finish_reason or "stop")

    def _yes_probability_one(self, item: FrameGroup, statement: str) -> float:
        choice = self._complete(yes_no_parts(item, statement), 1, 0.0, self.config.top_logprobs)
        content = choice.logprobs.content if choice.logprobs is not None else None
        if content:
            first = content[0]
            candidates = [(alt.token, alt.logprob) for alt in (first.top_logprobs or [])]
            if first.token not in {token for token, _ in candidates}:
                candidates.append((first.token, first.logprob))
            value = yes_probability_from_logprobs(candidates)
            self.logprobs_seen = True
            if value is not None:
                return value
        else:
            self.logprobs_seen = False
            self.limits.note(f"{self.config.base_url} returns no logprobs for {self.model!r}: yes-probabilities are "
                             "parsed yes/no answers (0, 0.5 or 1), a coarser confidence than token probabilities")
            if self.config.require_logprobs:
                raise NoLogprobsError(
                    f"{self.config.base_url} returned no logprobs for {self.model!r}; enable them on the server "
                    "(vLLM: --max-logprobs) or set require_logprobs=False to accept parsed yes/no answers"
                )
        return parse_yes_no(choice.message.content or "")

    def yes_probability(self, frames_batch: Sequence[FrameGroup], statement: str) -> np.ndarray:
        """One request per item, at most `max_concurrency` in flight; the server batches them."""
        if isinstance(frames_batch, Frame):
            frames_batch = [frames_batch]
        items = list(frames_batch)
        for item in items:
            yes_no_parts(item, statement)  # fail before sending anything
        values = list(self._pool.map(lambda item: self._yes_probability_one(item, statement), items))
        return np.asarray(values, dtype=np.float64)

    def describe(self, frames: Sequence[Frame], max_new_tokens: int = 64) -> str:
        return self.generate(describe_parts(frames), max_new_tokens).text.strip()


def _error_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", exc))


__all__ = ["OpenAIConfig", "OpenAIVLM", "encode_image", "check_base_url", "VLMError"]
