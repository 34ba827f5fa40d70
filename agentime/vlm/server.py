"""`agentime serve`: one in-process VLM behind an OpenAI-compatible HTTP API (FastAPI + uvicorn).

Endpoints: `GET /v1/models`, `POST /v1/chat/completions` (text and base64 image parts, `logprobs`,
`top_logprobs`, greedy or sampled). Requests wait in a queue that one worker thread drains: greedy one-token
requests (the yes/no scoring that search strategies send by the hundred) that arrive together run as one
batch, everything else runs one at a time. Bad requests get a 4xx with an OpenAI-style JSON error body and
the server keeps serving. The CLI calls `add_serve_arguments` and `serve_main`; tests and benchmarks use
`build_app` and `serve_in_thread`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from agentime.errors import AgentimeError, VLMError
from agentime.video.frames import Frame
from agentime.vlm.errors import InvalidPromptError

ROLES = ("system", "user", "assistant")


@dataclass
class ServerConfig:
    """Limits and batching of the HTTP server."""

    model_name: str | None = None
    max_request_bytes: int = 32 * 1024 * 1024
    max_images: int = 256
    max_tokens_limit: int = 4096
    max_top_logprobs: int = 20
    max_batch: int = 16
    batch_wait_ms: float = 5.0
    max_batch_delay_ms: float = 50.0


class RequestError(Exception):
    """A client error: becomes a 4xx answer with an OpenAI-style JSON body."""

    def __init__(self, status: int, message: str, code: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


@dataclass
class _Job:
    chat: list
    max_tokens: int
    temperature: float
    top_logprobs: int
    future: Future

    @property
    def batchable(self) -> bool:
        return self.max_tokens == 1 and self.temperature == 0.0

    @property
    def has_frames(self) -> bool:
        return any(isinstance(p, Frame) for _, parts in self.chat for p in parts)


class Worker:
    """The single thread that runs the model; batches concurrent greedy one-token requests."""

    def __init__(self, vlm, max_batch: int, batch_wait_ms: float, max_delay_ms: float = 50.0):
        self.vlm = vlm
        self.max_batch = max(1, int(max_batch))
        self.batch_wait_s = max(0.0, batch_wait_ms / 1000.0)
        self.max_delay_s = max(self.batch_wait_s, max_delay_ms / 1000.0)
        self.jobs: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="agentime-vlm-worker", daemon=True)
        self.thread.start()

    def submit(self, job: _Job) -> Future:
        self.jobs.put(job)
        return job.future

    def stop(self) -> None:
        self.jobs.put(None)

    def _collect(self, first: _Job) -> list[_Job]:
        """Take the requests of one burst: keep waiting while each arrives within `batch_wait_s` of the
        previous one (clients send a batch as a burst of concurrent requests), at most `max_delay_s` in all."""
        taken = [first]
        limit = time.monotonic() + self.max_delay_s
        while len(taken) < self.max_batch:
            wait = min(self.batch_wait_s, limit - time.monotonic())
            try:
                job = self.jobs.get(timeout=wait) if wait > 0 else self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self.jobs.put(None)
                break
            taken.append(job)
        return taken

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            jobs = self._collect(job) if job.batchable else [job]
            singles = [j for j in jobs if not j.batchable]
            for with_frames in (True, False):
                group = [j for j in jobs if j.batchable and j.has_frames == with_frames]
                if group:
                    self._run_batch(group)
            for single in singles:
                self._run_single(single)

    def _run_batch(self, group: list[_Job]) -> None:
        try:
            top = max(j.top_logprobs for j in group)
            results = self.vlm.first_token_generations([j.chat for j in group], top)
        except Exception:  # one bad prompt must not fail the others: retry them one by one
            for job in group:
                self._run_single(job)
            return
        for job, result in zip(group, results):
            if result.top_logprobs:
                result.top_logprobs = [dict(sorted(e.items(), key=lambda kv: -kv[1])[:job.top_logprobs])
                                       for e in result.top_logprobs]
            job.future.set_result(result)

    def _run_single(self, job: _Job) -> None:
        try:
            if job.batchable:
                result = self.vlm.first_token_generations([job.chat], job.top_logprobs)[0]
            else:
                result = self.vlm.generate_chat(job.chat, job.max_tokens, temperature=job.temperature,
                                                top_logprobs=job.top_logprobs)
            job.future.set_result(result)
        except Exception as exc:
            job.future.set_exception(exc)


def decode_image_url(url: str) -> Frame:
    """A `data:image/...;base64,` URL as a Frame (t = 0; timestamps travel as text)."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(url, str) or not url.startswith("data:"):
        raise RequestError(400, "only base64 data URLs (data:image/...;base64,...) are accepted as images",
                           param="messages")
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise RequestError(400, "image data URLs must be base64-encoded", param="messages")
    try:
        raw = base64.b64decode(payload, validate=True)
        with Image.open(io.BytesIO(raw)) as picture:
            array = np.asarray(picture.convert("RGB"))
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as exc:
        raise RequestError(400, f"an image_url is not a decodable image: {exc}", param="messages") from exc
    from agentime.vlm.base import as_rgb

    return Frame(0.0, as_rgb(array))


def parse_messages(messages, max_images: int) -> list:
    """OpenAI chat messages as (role, parts) turns; raises RequestError on anything malformed."""
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages must be a non-empty list", param="messages")
    chat, images = [], 0
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise RequestError(400, f"messages[{index}] needs a role among {', '.join(ROLES)}", param="messages")
        content = message.get("content")
        parts: list = []
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for item in content:
                kind = item.get("type") if isinstance(item, dict) else None
                if kind == "text" and isinstance(item.get("text"), str):
                    parts.append(item["text"])
                elif kind == "image_url":
                    image = item.get("image_url")
                    url = image.get("url") if isinstance(image, dict) else image
                    images += 1
                    if images > max_images:
                        raise RequestError(400, f"at most {max_images} images per request", param="messages")
                    parts.append(decode_image_url(url))
                else:
                    raise RequestError(400, f"messages[{index}] has a content item of unsupported type {kind!r}; "
                                       "use text and image_url", param="messages")
        else:
            raise RequestError(400, f"messages[{index}].content must be a string or a list", param="messages")
        chat.append((message["role"], parts))
    return chat


def _int_field(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(400, f"{name} must be an integer in [{low}, {high}], got {value!r}", param=name)
    return value


def parse_request(body, cfg: ServerConfig, model_name: str) -> tuple[list, int, float, bool, int, list[str]]:
    """Validate a chat completion request; returns chat, max_tokens, temperature, logprobs, top_k, stops."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    if body.get("model") not in (None, model_name):
        raise RequestError(404, f"model {body.get('model')!r} is not served here; this server serves "
                           f"{model_name!r}", code="model_not_found", param="model")
    if body.get("stream"):
        raise RequestError(400, "stream=true is not supported by this server", param="stream")
    if body.get("n", 1) not in (1, None):
        raise RequestError(400, "only n=1 is supported", param="n")
    limit = cfg.max_tokens_limit
    max_tokens = _int_field(body, "max_completion_tokens", _int_field(body, "max_tokens", 256, 1, limit), 1, limit)
    temperature = body.get("temperature", 0.0)
    if temperature is None:
        temperature = 0.0
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise RequestError(400, f"temperature must be a number in [0, 2], got {temperature!r}", param="temperature")
    logprobs = bool(body.get("logprobs", False))
    top = _int_field(body, "top_logprobs", 0, 0, cfg.max_top_logprobs)
    if top and not logprobs:
        raise RequestError(400, "top_logprobs needs logprobs=true", param="top_logprobs")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise RequestError(400, "stop must be a string or a list of strings", param="stop")
    chat = parse_messages(body.get("messages"), cfg.max_images)
    return chat, max_tokens, float(temperature), logprobs, top, stop


def _logprob_item(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def completion_body(result, model_name: str, logprobs: bool, stops: list[str]) -> dict:
    """A Generation as an OpenAI chat.completion object."""
    text, finish = result.text, result.finish_reason
    for stop in stops:
        if stop in text:
            text, finish = text[:text.index(stop)], "stop"
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
              "logprobs": None}
    if logprobs and result.logprobs is not None:
        content = []
        for k, (token, value) in enumerate(zip(result.tokens, result.logprobs)):
            item = _logprob_item(token, value)
            alternatives = result.top_logprobs[k] if result.top_logprobs else {}
            item["top_logprobs"] = [_logprob_item(t, v) for t, v in alternatives.items()]
            content.append(item)
        choice["logprobs"] = {"content": content}
    completion = len(result.tokens)
    prompt = int(getattr(result, "prompt_tokens", 0) or 0)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": model_name, "choices": [choice],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def _error_response(status: int, message: str, code: str, param: str | None = None):
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": kind, "param": param,
                                                               "code": code}})


def build_app(vlm, config: ServerConfig | None = None):
    """The FastAPI app serving `vlm` (an HFVLM, or anything with `first_token_generations`/`generate_chat`)."""
    import json

    cfg = config or ServerConfig()
    model_name = cfg.model_name or vlm.name
    worker = Worker(vlm, cfg.max_batch, cfg.batch_wait_ms, cfg.max_batch_delay_ms)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        worker.stop()

    app = FastAPI(title="agentime VLM server", lifespan=lifespan)
    app.state.worker = worker
    app.state.model_name = model_name

    @app.exception_handler(HTTPException)
    async def http_error(_request, exc: HTTPException):
        return _error_response(exc.status_code, str(exc.detail), "http_error")

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, exc: RequestValidationError):
        return _error_response(400, str(exc), "invalid_request_error")

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": 0,
                                            "owned_by": "agentime"}]}

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": model_name}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        try:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > cfg.max_request_bytes:
                raise RequestError(413, f"request of {declared} bytes exceeds {cfg.max_request_bytes}",
                                   code="request_too_large")
            raw = await request.body()
            if len(raw) > cfg.max_request_bytes:
                raise RequestError(413, f"request of {len(raw)} bytes exceeds {cfg.max_request_bytes}",
                                   code="request_too_large")
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RequestError(400, f"the request body is not valid JSON: {exc}") from exc
            chat, max_tokens, temperature, logprobs, top, stops = parse_request(body, cfg, model_name)
            job = _Job(chat, max_tokens, temperature, top if logprobs else 0, Future())
            result = await asyncio.wrap_future(worker.submit(job))
            return JSONResponse(completion_body(result, model_name, logprobs, stops))
        except RequestError as exc:
            return _error_response(exc.status, exc.message, exc.code, exc.param)
        except InvalidPromptError as exc:
            return _error_response(400, str(exc), "invalid_prompt")
        except AgentimeError as exc:
            return _error_response(500, str(exc), "model_error")
        except Exception as exc:  # keep serving whatever one request did
            return _error_response(500, f"{type(exc).__name__}: {exc}", "internal_error")

    return app


class ServerThread:
    """A uvicorn server running in a background thread (tests, benchmarks, notebooks)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="agentime-server", daemon=True)
        self.host = host

    def start(self, timeout_s: float = 30.0) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise VLMError("the server did not start (port taken?)")
            time.sleep(0.02)
        return self

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(vlm, config: ServerConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> ServerThread:
    """Start serving `vlm` on host:port (0: a free port) in a background thread; `.base_url`, `.stop()`."""
    return ServerThread(build_app(vlm, config), host, port).start()


def run_server(spec: str, host: str = "127.0.0.1", port: int = 8000, *, config: ServerConfig | None = None,
               log_level: str = "info", **model_options) -> None:
    """Load the model named by `spec` (an hf or embedded spec) and serve it until interrupted."""
    import uvicorn

    from agentime.vlm.registry import load_vlm

    vlm = load_vlm(spec, **model_options)
    if not hasattr(vlm, "first_token_generations"):
        raise VLMError(f"{spec} is not an in-process model; serve an hf: or embedded: model")
    uvicorn.run(build_app(vlm, config), host=host, port=port, log_level=log_level)


def add_serve_arguments(parser) -> None:
    """Options of `agentime serve`."""
    parser.add_argument("model", nargs="?", default="embedded:target",
                        help="model spec: embedded:target, hf:/path/to/model (default: embedded:target)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--name", default=None, help="model name clients use (default: the folder name)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    parser.add_argument("--attn-implementation", default=None,
                        help="attention for the whole model, or vision=NAME,text=NAME")
    parser.add_argument("--max-batch", type=int, default=16, help="requests batched into one forward pass")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0,
                        help="a batch keeps filling while requests arrive within this gap (default 5)")
    parser.add_argument("--max-request-mb", type=float, default=32.0, help="largest accepted request body")
    parser.add_argument("--max-top-logprobs", type=int, default=20, help="largest top_logprobs accepted")
    parser.add_argument("--trust-remote-code", action="store_true", help="run custom code from the model folder")


def parse_attn_option(value: str | None):
    """`sdpa` or `vision=sdpa,text=agentime_sparse` as the backend's attn_implementation."""
    if not value or "=" not in value:
        return value
    out = {}
    for piece in value.split(","):
        key, _, name = piece.partition("=")
        out[key.strip()] = name.strip()
    return out


def serve_main(args) -> int:
    """Run `agentime serve` from parsed arguments (see `add_serve_arguments`)."""
    config = ServerConfig(model_name=args.name, max_request_bytes=int(args.max_request_mb * 1024 * 1024),
                          max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
                          max_top_logprobs=args.max_top_logprobs)
    run_server(args.model, args.host, args.port, config=config, device=args.device, dtype=args.dtype,
               attn_implementation=parse_attn_option(args.attn_implementation), max_batch=args.max_batch,
               trust_remote_code=args.trust_remote_code, name=args.name)
    return 0
