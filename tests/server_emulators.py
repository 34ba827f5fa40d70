"""OpenAI-compatible servers as they really behave, emulated by a real HTTP server on 127.0.0.1.

Each `Profile` holds one server's observable behaviour, taken from its public source and documentation:
the status codes and error bodies it sends, its per-prompt image limit (vLLM `--limit-mm-per-prompt`), its
top_logprobs cap (vLLM `--max-logprobs` 20, OpenAI 20), whether it returns logprobs at all (older Ollama
and LM Studio leave them out), how it reports a prompt over its context (vLLM, SGLang, llama.cpp each in
their own words; Ollama truncates silently), how it answers an unknown model (llama.cpp ignores the name),
and that llama.cpp without `--mmproj` refuses images. The answer is always "Yes" with P(yes) = 0.8.
Prompt tokens are counted as Qwen2.5-VL does for images (one token per 28x28 pixels) plus text / 4.
"""

from __future__ import annotations

import base64
import io
import json
import math
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

P_YES = 0.8


@dataclass
class Profile:
    name: str
    models: list[str]
    error: callable  # (status, message, kind, param) -> JSON body
    overflow: callable | None = None  # (context, prompt_tokens) -> (status, message, kind); None: truncate
    image_limit: int | None = None
    video_limit: int | None = None
    videos: bool = False  # whether video_url parts are known at all
    video_frames: int = 32  # vLLM keeps the first num_frames frames of a data:video/jpeg URL
    max_logprobs: int | None = None
    logprobs: bool = True
    images: bool = True
    any_model: bool = False
    unknown_model: callable = None  # model -> message
    context: int | None = None


def _vllm_error(status, message, kind, param):
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


def _sglang_error(status, message, kind, param):
    return {"object": "error", "message": message, "type": kind, "param": param, "code": status}


def _openai_error(status, message, kind, param):
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def _lmstudio_error(status, message, kind, param):
    return {"error": message}


def vllm(**overrides) -> Profile:
    return Profile(
        "vllm", ["Qwen/Qwen2.5-VL-7B-Instruct"], _vllm_error, image_limit=overrides.pop("image_limit", None),
        max_logprobs=20, videos=True,
        overflow=lambda ctx, n: (400, f"This model's maximum context length is {ctx} tokens. However, your request "
                                      f"has {n} input tokens. Please reduce the length of the input messages.",
                                 "BadRequestError"),
        unknown_model=lambda m: f"The model `{m}` does not exist.", **overrides)


def sglang(**overrides) -> Profile:
    return Profile(
        "sglang", ["Qwen/Qwen2.5-VL-7B-Instruct"], _sglang_error, max_logprobs=None,
        overflow=lambda ctx, n: (400, f"The input ({n} tokens) is longer than the model's context length "
                                      f"({ctx} tokens).", "BadRequestError"),
        unknown_model=lambda m: f"The model `{m}` does not exist.", **overrides)


def llamacpp(**overrides) -> Profile:
    return Profile(
        "llama.cpp", ["gemma-3-4b-it-Q4_K_M.gguf"], _vllm_error, any_model=True,
        overflow=lambda ctx, n: (400, "the request exceeds the available context size, try increasing it",
                                 "exceed_context_size_error"), **overrides)


def ollama(**overrides) -> Profile:
    return Profile(
        "ollama", ["qwen2.5vl:7b", "gemma3:4b"], _openai_error, logprobs=False, overflow=None,
        unknown_model=lambda m: f'model "{m}" not found, try pulling it first', **overrides)


def lmstudio(**overrides) -> Profile:
    return Profile("lmstudio", ["smolvlm2-2.2b-instruct"], _lmstudio_error, logprobs=False,
                   unknown_model=lambda m: f'Model "{m}" not found. Please load it first.', **overrides)


def openai_api(**overrides) -> Profile:
    return Profile(
        "openai", ["gpt-4o-mini"], _openai_error, max_logprobs=20,
        overflow=lambda ctx, n: (400, f"This model's maximum context length is {ctx} tokens. However, your messages "
                                      f"resulted in {n} tokens. Please reduce the length of the messages.",
                                 "invalid_request_error"),
        unknown_model=lambda m: f"The model `{m}` does not exist or you do not have access to it.", **overrides)


@dataclass
class Received:
    model: str
    images: list[tuple[int, int]]
    videos: list[list[tuple[int, int]]]
    texts: list[str]
    top_logprobs: int | None
    logprobs: bool
    at: float


class EmulatedServer:
    """A real HTTP server speaking as `profile`; `script` maps request numbers (1-based) to faults."""

    def __init__(self, profile: Profile, *, faults: dict[int, str] | None = None, retry_after: float = 1.0):
        self.profile = profile
        self.faults = dict(faults or {})  # n (or "always") -> "drop" | "503" | "429" | "429-always" | "slow"
        self.retry_after = retry_after
        self.received: list[Received] = []
        self.count = 0
        self.arrivals: list[float] = []  # monotonic time of every POST, refused or not
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    data = [{"id": m, "object": "model", "created": 0, "owned_by": profile.name}
                            for m in profile.models]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, profile.error(404, f"no route {self.path}", "NotFoundError", None))

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                with server.lock:
                    server.count += 1
                    number = server.count
                    server.arrivals.append(time.monotonic())
                fault = server.faults.get(number) or server.faults.get("always")
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "slow":  # a long prefill before the first token
                    time.sleep(server.retry_after)
                if fault == "503":
                    return self._send(503, profile.error(503, "Service Unavailable", "ServiceUnavailableError", None))
                if fault in ("429", "429-always"):
                    return self._send(429, profile.error(429, "Rate limit reached for requests", "requests", None),
                                      {"retry-after": f"{server.retry_after:g}"})
                self._send(*server.answer(body))

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, body: dict) -> tuple[int, dict]:
        from PIL import Image

        p = self.profile
        content = body["messages"][-1]["content"]
        sizes, videos, texts = [], [], []
        for item in content:
            if item["type"] == "image_url":
                raw = base64.b64decode(item["image_url"]["url"].split(",", 1)[1])
                sizes.append(Image.open(io.BytesIO(raw)).size)
            elif item["type"] == "video_url":
                url = item["video_url"]["url"]
                assert url.startswith("data:video/jpeg;base64,")
                frames = url.split(",", 1)[1].split(",")[: p.video_frames]
                videos.append([Image.open(io.BytesIO(base64.b64decode(f))).size for f in frames])
            else:
                texts.append(item["text"])
        self.received.append(Received(body.get("model"), sizes, videos, texts, body.get("top_logprobs"),
                                      bool(body.get("logprobs")), time.monotonic()))
        model = body.get("model")
        if model not in p.models and not p.any_model:
            return 404, p.error(404, p.unknown_model(model), "NotFoundError", "model")
        if videos and not p.videos:
            return 400, p.error(400, "Invalid value: 'video_url'. Supported values are: 'text', 'image_url', "
                                     "'input_audio', 'refusal', 'audio', and 'file'.", "invalid_request_error",
                                "messages[0].content[1].type")
        if p.video_limit is not None and len(videos) > p.video_limit:
            return 400, p.error(400, f"At most {p.video_limit} video(s) may be provided in one prompt.",
                                "BadRequestError", None)
        if sizes and not p.images:
            return 500, p.error(500, "image input is not supported - hint: if this is unexpected, you may need to "
                                     "provide the mmproj", "server_error", None)
        if p.image_limit is not None and len(sizes) > p.image_limit:
            message = f"At most {p.image_limit} image(s) may be provided in one prompt."
            if p.image_limit > 0:
                message += " Set `--limit-mm-per-prompt` to increase this limit."
            return 400, p.error(400, message, "BadRequestError", None)
        top = body.get("top_logprobs")
        if p.max_logprobs is not None and top is not None and top > p.max_logprobs:
            if p.name == "openai":
                message = (f"Invalid 'top_logprobs': integer above maximum value. Expected a value <= "
                           f"{p.max_logprobs}, but got {top} instead.")
            else:
                message = f"Requested sample logprobs of {top}, which is greater than max allowed: {p.max_logprobs}"
            return 400, p.error(400, message, "BadRequestError", "logprobs")
        tokens = sum(len(t) // 4 + 1 for t in texts) + sum(math.ceil(w / 28) * math.ceil(h / 28) + 2 for w, h in sizes)
        # A video costs one temporal patch (two frames) per grid cell, as Qwen2.5-VL counts it.
        tokens += sum(math.ceil(len(v) / 2) * math.ceil(v[0][0] / 28) * math.ceil(v[0][1] / 28) + 2 for v in videos)
        if p.context is not None and p.overflow is not None and tokens + body.get("max_tokens", 0) > p.context:
            status, message, kind = p.overflow(p.context, tokens)
            return status, p.error(status, message, kind, None)
        return 200, self.completion(body, tokens)

    def completion(self, body: dict, prompt_tokens: int) -> dict:
        logprobs = None
        if body.get("logprobs") and self.profile.logprobs:
            top = [{"token": "Yes", "logprob": math.log(P_YES), "bytes": None},
                   {"token": "No", "logprob": math.log(1 - P_YES), "bytes": None}]
            top = top[: max(1, body.get("top_logprobs") or 1)]
            logprobs = {"content": [{"token": "Yes", "logprob": math.log(P_YES), "bytes": None, "top_logprobs": top}]}
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes"},
                             "logprobs": logprobs, "finish_reason": "length"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1}}


@dataclass
class Servers:
    started: list = field(default_factory=list)

    def __call__(self, profile: Profile, **kwargs) -> EmulatedServer:
        server = EmulatedServer(profile, **kwargs)
        self.started.append(server)
        return server

    def close(self):
        for server in self.started:
            server.close()
