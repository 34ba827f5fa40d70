"""`agentime serve`: one in-process VLM behind an OpenAI-compatible HTTP API (FastAPI + uvicorn).

Endpoints: `GET /health` (never needs a key), `GET /v1/models`, `POST /v1/chat/completions` (text and
base64 image parts, `logprobs`, `top_logprobs`, greedy or sampled). With an API key set, every endpoint but
`/health` answers 401 without `Authorization: Bearer <key>`.

A request is admitted only while fewer than `max_queue` are in flight (else 503 with Retry-After), its body
is read and validated off the event loop (see `server_requests`), then it waits in a queue that one worker
thread drains in arrival order: requests that arrive together and can share a forward pass run as one batch
(greedy one-token scoring, and greedy generation when the model offers `generate_chats`), so a burst of
long generations no longer runs one after another while the rest wait. Each request has a deadline
(`request_timeout_s`, 504 after it) that also bounds the model's generation time. Every error is an
OpenAI-style JSON body whose message says what to change and shows no internals. The CLI calls
`add_serve_arguments` and `serve_main`; tests and benchmarks use `build_app` and `serve_in_thread`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import logging
import math
import os
import queue
import re
import sys
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from agentime.errors import AgentimeError, VLMError
from agentime.video.frames import Frame
from agentime.vlm.errors import InvalidPromptError
from agentime.vlm.registry import DEFAULT_MODEL_SPECS
from agentime.vlm.server_requests import (
    ChatRequest,
    RequestError,
    RequestLimits,
    parse_json,
    parse_request,
    read_body,
)

log = logging.getLogger("agentime.server")
PUBLIC_PATHS = ("/health",)
API_KEY_ENV = "AGENTIME_API_KEY"


@dataclass
class ServerConfig:
    """Limits, batching and access of the HTTP server (the request limits are those of `RequestLimits`)."""

    model_name: str | None = None
    api_key: str | None = None
    max_request_bytes: int = RequestLimits.max_request_bytes
    max_json_depth: int = RequestLimits.max_json_depth
    max_images: int = RequestLimits.max_images
    max_image_pixels: int = RequestLimits.max_image_pixels
    max_request_pixels: int = RequestLimits.max_request_pixels
    max_tokens_limit: int = RequestLimits.max_tokens_limit
    max_top_logprobs: int = RequestLimits.max_top_logprobs
    max_queue: int = 64
    request_timeout_s: float = 120.0
    body_timeout_s: float = 60.0
    decode_threads: int = 2
    max_batch: int = 16
    batch_wait_ms: float = 5.0
    max_batch_delay_ms: float = 50.0

    def limits(self) -> RequestLimits:
        return RequestLimits(**{f.name: getattr(self, f.name) for f in fields(RequestLimits)})


class RequestTimeout(Exception):
    """A request's deadline passed before the model could answer it."""


@dataclass
class _Job:
    request: ChatRequest
    future: Future
    deadline: float
    arrival: int = 0

    @property
    def kind(self) -> str:
        """first: greedy one-token scoring; greedy: greedy generation; sampled: anything else."""
        if self.request.temperature != 0.0:
            return "sampled"
        return "first" if self.request.max_tokens == 1 else "greedy"

    @property
    def has_frames(self) -> bool:
        return any(isinstance(p, Frame) for _, parts in self.request.chat for p in parts)


def _accepts(method, name: str) -> bool:
    try:
        return name in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


class Worker:
    """The single thread that runs the model, in arrival order, batching requests that can share a pass."""

    def __init__(self, vlm, max_batch: int, batch_wait_ms: float, max_delay_ms: float = 50.0):
        self.vlm = vlm
        self.max_batch = max(1, int(max_batch))
        self.batch_wait_s = max(0.0, batch_wait_ms / 1000.0)
        self.max_delay_s = max(self.batch_wait_s, max_delay_ms / 1000.0)
        self.batched_generation = hasattr(vlm, "generate_chats")
        self.bounded_generation = _accepts(getattr(vlm, "generate_chat", None), "max_time_s")
        self.jobs: queue.Queue = queue.Queue()
        self._arrivals = 0
        self.thread = threading.Thread(target=self._loop, name="agentime-vlm-worker", daemon=True)
        self.thread.start()

    def submit(self, job: _Job) -> Future:
        self._arrivals += 1
        job.arrival = self._arrivals
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

    def plan(self, jobs: list[_Job]) -> list[list[_Job]]:
        """Groups that run as one model call, ordered by their earliest request (no kind jumps the queue)."""
        groups: dict[tuple, list[_Job]] = {}
        for job in sorted(jobs, key=lambda j: j.arrival):
            shareable = job.kind == "first" or (job.kind == "greedy" and self.batched_generation)
            key = (job.kind, job.has_frames) if shareable else ("single", job.arrival)
            groups.setdefault(key, []).append(job)
        ordered = sorted(groups.values(), key=lambda group: group[0].arrival)
        return [group[i:i + self.max_batch] for group in ordered for i in range(0, len(group), self.max_batch)]

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            for group in self.plan(self._collect(job)):
                group = [j for j in group if self._start(j)]
                if group:
                    self._run_group(group)

    @staticmethod
    def _start(job: _Job) -> bool:
        """Mark a job running; False when its client has given up or its deadline has passed."""
        if not job.future.set_running_or_notify_cancel():
            return False
        if time.monotonic() >= job.deadline:
            job.future.set_exception(RequestTimeout())
            return False
        return True

    def _run_group(self, group: list[_Job]) -> None:
        if len(group) == 1:
            self._run_single(group[0])
            return
        try:
            results = self._call(group)
        except Exception:  # one bad prompt must not fail the others: retry them one by one
            for job in group:
                self._run_single(job)
            return
        for job, result in zip(group, results):
            job.future.set_result(result)

    def _run_single(self, job: _Job) -> None:
        try:
            job.future.set_result(self._call([job])[0])
        except Exception as exc:
            job.future.set_exception(exc)

    def _call(self, group: list[_Job]) -> list:
        requests = [j.request for j in group]
        chats = [r.chat for r in requests]
        if group[0].kind == "first":
            top = max(r.top_logprobs for r in requests)
            results = self.vlm.first_token_generations(chats, top)
            for request, result in zip(requests, results):
                if result.top_logprobs:
                    result.top_logprobs = [dict(sorted(e.items(), key=lambda kv: -kv[1])[:request.top_logprobs])
                                           for e in result.top_logprobs]
            return results
        budget = {}
        if self.bounded_generation:
            budget["max_time_s"] = max(0.001, min(j.deadline for j in group) - time.monotonic())
        if len(group) > 1:
            top = max(r.top_logprobs for r in requests)
            results = self.vlm.generate_chats(chats, [r.max_tokens for r in requests], top_logprobs=top, **budget)
            for request, result in zip(requests, results):
                if result.top_logprobs:
                    result.top_logprobs = [dict(sorted(e.items(), key=lambda kv: -kv[1])[:request.top_logprobs])
                                           for e in result.top_logprobs]
            return results
        request = requests[0]
        return [self.vlm.generate_chat(request.chat, request.max_tokens, temperature=request.temperature,
                                       top_logprobs=request.top_logprobs, **budget)]


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


_ADDRESS = re.compile(r"\s*(?:at )?0x[0-9a-fA-F]{6,}")


def public_message(text: str) -> str:
    """An error text fit for a client: one line, no memory addresses."""
    return _ADDRESS.sub("", str(text)).splitlines()[0][:500] if text else "error"


def error_response(status: int, message: str, code: str, param: str | None = None, headers: dict | None = None):
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse(status_code=status, headers=headers,
                        content={"error": {"message": public_message(message), "type": kind, "param": param,
                                           "code": code}})


class RequireAPIKey:
    """ASGI middleware: every HTTP path but `PUBLIC_PATHS` needs `Authorization: Bearer <key>`."""

    def __init__(self, app, api_key: str):
        self.app = app
        self.expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path") not in PUBLIC_PATHS:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                answer = error_response(401, "missing or wrong API key: send the header Authorization: Bearer "
                                        "<key> (the key the server was started with)", "invalid_api_key",
                                        headers={"WWW-Authenticate": "Bearer"})
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Admission:
    """Counts requests in flight and estimates, from recent latencies, when a refused client should retry."""

    def __init__(self, capacity: int, max_batch: int):
        self.capacity = max(1, int(capacity))
        self.max_batch = max(1, int(max_batch))
        self.in_flight = 0
        self.latency_s = 1.0

    def try_enter(self) -> bool:
        if self.in_flight >= self.capacity:
            return False
        self.in_flight += 1
        return True

    def leave(self, seconds: float | None) -> None:
        self.in_flight -= 1
        if seconds is not None:
            self.latency_s = 0.8 * self.latency_s + 0.2 * seconds

    def retry_after_s(self) -> int:
        return int(min(60, max(1, math.ceil(self.latency_s * self.in_flight / (2 * self.max_batch)))))


def build_app(vlm, config: ServerConfig | None = None, recognizer=None):
    """The ASGI app serving `vlm` (an HFVLM, or anything with `first_token_generations`/`generate_chat`), and
    with a speech `recognizer` (see `agentime.speech.asr`) also `/v1/audio/transcriptions`."""
    cfg = config or ServerConfig()
    limits = cfg.limits()
    model_name = cfg.model_name or vlm.name
    worker = Worker(vlm, cfg.max_batch, cfg.batch_wait_ms, cfg.max_batch_delay_ms)
    decoders = ThreadPoolExecutor(max_workers=max(1, cfg.decode_threads), thread_name_prefix="agentime-decode")
    admission = Admission(cfg.max_queue, cfg.max_batch)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        worker.stop()
        decoders.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="agentime VLM server", lifespan=lifespan)
    app.state.worker = worker
    app.state.model_name = model_name
    app.state.admission = admission

    @app.exception_handler(HTTPException)
    async def http_error(_request, exc: HTTPException):
        return error_response(exc.status_code, str(exc.detail), "http_error")

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, _exc: RequestValidationError):
        return error_response(400, "the request does not match this endpoint", "invalid_request_error")

    @app.exception_handler(Exception)
    async def internal_error(_request, exc: Exception):
        log.error("unexpected error", exc_info=exc)
        return error_response(500, "internal server error; the server's log has the details", "internal_error")

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": 0,
                                            "owned_by": "agentime"}]}

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": model_name}

    async def answer(request: Request, deadline: float):
        loop = asyncio.get_running_loop()
        try:
            raw = await asyncio.wait_for(read_body(request, limits.max_request_bytes), cfg.body_timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(408, f"the request body did not arrive within {cfg.body_timeout_s:g} s") from None
        body = await loop.run_in_executor(decoders, parse_json, raw, limits.max_json_depth)
        del raw
        parsed = await loop.run_in_executor(decoders, parse_request, body, limits, model_name)
        future = worker.submit(_Job(parsed, Future(), deadline))
        try:
            result = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)),
                                            max(0.001, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            future.cancel()
            raise RequestTimeout() from None
        return JSONResponse(completion_body(result, model_name, parsed.logprobs, parsed.stops))

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        if not admission.try_enter():
            return error_response(503, f"the server is busy ({admission.capacity} requests in flight); retry "
                                  "after the Retry-After seconds", "server_busy",
                                  headers={"Retry-After": str(admission.retry_after_s())})
        started = time.monotonic()
        served = None
        try:
            response = await answer(request, started + cfg.request_timeout_s)
            served = time.monotonic() - started
            return response
        except RequestError as exc:
            return error_response(exc.status, exc.message, exc.code, exc.param)
        except RequestTimeout:
            return error_response(504, f"the model did not answer within {cfg.request_timeout_s:g} s; retry "
                                  "later, or ask for fewer tokens or frames", "timeout")
        except InvalidPromptError as exc:
            return error_response(400, str(exc), "invalid_prompt")
        except AgentimeError as exc:
            log.error("model error", exc_info=exc)
            return error_response(500, f"the model could not answer: {exc}", "model_error")
        except Exception as exc:  # keep serving whatever one request did
            log.error("unexpected error", exc_info=exc)
            return error_response(500, "internal server error; the server's log has the details",
                                  "internal_error")
        finally:
            admission.leave(served)

    if recognizer is not None:
        from agentime.speech.transcription_api import add_transcription_route

        add_transcription_route(app, recognizer, model_name=recognizer.name, max_bytes=cfg.max_request_bytes,
                                error_response=error_response)
    if cfg.api_key:
        app.add_middleware(RequireAPIKey, api_key=cfg.api_key)
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


def serve_in_thread(vlm, config: ServerConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                    recognizer=None) -> ServerThread:
    """Start serving `vlm` (and `recognizer`, if given) on host:port (0: a free port) in a background thread;
    `.base_url`, `.stop()`."""
    return ServerThread(build_app(vlm, config, recognizer), host, port).start()


def run_server(spec: str, host: str = "127.0.0.1", port: int = 8000, *, config: ServerConfig | None = None,
               log_level: str = "info", asr_model: str | None = None, **model_options) -> None:
    """Load the model named by `spec` (an hf or embedded spec) and serve it until interrupted."""
    import uvicorn

    from agentime.vlm.registry import load_vlm

    vlm = load_vlm(spec, **model_options)
    if not hasattr(vlm, "first_token_generations"):
        raise VLMError(f"{spec} is not an in-process model; serve an hf: or embedded: model")
    recognizer = None
    if asr_model:
        from agentime.speech.asr import HFRecognizer

        recognizer = HFRecognizer(asr_model)
    uvicorn.run(build_app(vlm, config, recognizer), host=host, port=port, log_level=log_level)


def add_serve_arguments(parser) -> None:
    """Options of `agentime serve`."""
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL_SPECS["target"],
                        help="model spec: embedded:target, hf:/path/to/model (default: the embedded target)")
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
    parser.add_argument("--api-key", default=None,
                        help="require Authorization: Bearer KEY on every endpoint but /health "
                             "(default: $AGENTIME_API_KEY; none: no authentication)")
    parser.add_argument("--max-images", type=int, default=64, help="images accepted per request (default 64)")
    parser.add_argument("--max-image-pixels", type=int, default=4096 * 4096,
                        help="decoded pixels accepted per image, read from its header (default 4096x4096)")
    parser.add_argument("--max-request-pixels", type=int, default=40_000_000,
                        help="decoded pixels accepted per request, all images together (default 40M)")
    parser.add_argument("--max-queue", type=int, default=64,
                        help="requests in flight before new ones get 503 + Retry-After (default 64)")
    parser.add_argument("--request-timeout", type=float, default=120.0,
                        help="seconds a request may wait and run before it gets 504 (default 120)")
    parser.add_argument("--trust-remote-code", action="store_true", help="run custom code from the model folder")
    parser.add_argument("--asr-model", default=None, metavar="PATH",
                        help="also serve /v1/audio/transcriptions with this Whisper-family model folder")


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
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None
    if not api_key and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host} without an API key; anyone who reaches this port can use the "
              f"model (set --api-key or {API_KEY_ENV})", file=sys.stderr)
    config = ServerConfig(model_name=args.name, api_key=api_key,
                          max_request_bytes=int(args.max_request_mb * 1024 * 1024),
                          max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
                          max_top_logprobs=args.max_top_logprobs, max_images=args.max_images,
                          max_image_pixels=args.max_image_pixels, max_request_pixels=args.max_request_pixels,
                          max_queue=args.max_queue, request_timeout_s=args.request_timeout)
    run_server(args.model, args.host, args.port, config=config, device=args.device, dtype=args.dtype,
               attn_implementation=parse_attn_option(args.attn_implementation), max_batch=args.max_batch,
               trust_remote_code=args.trust_remote_code, name=args.name, asr_model=args.asr_model,
               **({"verbose": True} if getattr(args, "verbose", False) else {}))
    return 0
