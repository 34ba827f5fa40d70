"""The OpenAI-compatible server and the openai backend, end to end on 127.0.0.1 with the official client."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest

from agentime.errors import ConfigError
from agentime.video.tafr import build_prompt
from agentime.vlm.errors import (
    AuthenticationError,
    InvalidPromptError,
    NoLogprobsError,
    ServerError,
    ServerTimeoutError,
    ServerUnavailableError,
    UnknownModelError,
)
from agentime.vlm.openai_api import OpenAIConfig, OpenAIVLM, encode_image
from agentime.vlm.server import ServerConfig, serve_in_thread
from tiny_models import frames, tiny_vlm


@pytest.fixture(scope="module", params=["llava", "qwen2_5_vl"])
def served(request):
    vlm = tiny_vlm(request.param)
    server = serve_in_thread(vlm, ServerConfig(max_top_logprobs=2000, max_request_bytes=300_000, max_images=8))
    yield vlm, server
    server.stop()


def _client(server, **options):
    return OpenAIVLM(OpenAIConfig(server.base_url, image_format="png", top_logprobs=2000, **options))


def test_served_answers_equal_in_process(served):
    vlm, server = served
    client = _client(server)
    assert client.model == vlm.name
    clip = frames(5, seed=7)
    items = [clip[0], clip[1:3], clip[3], clip[4], clip[0:4:2]]
    local = vlm.yes_probability(items, "a green triangle")
    remote = client.yes_probability(items, "a green triangle")
    np.testing.assert_allclose(remote, local, atol=1e-5)
    assert client.logprobs_seen is True
    parts = build_prompt(clip[:2], "What changes between the frames?")
    a = vlm.generate(parts, max_new_tokens=6, top_logprobs=3)
    b = client.generate(parts, max_new_tokens=6, top_logprobs=3)
    assert b.text == a.text and b.tokens == a.tokens and b.finish_reason == a.finish_reason
    np.testing.assert_allclose(b.logprobs, a.logprobs, atol=1e-4)
    assert list(b.top_logprobs[0]) == list(a.top_logprobs[0])
    assert client.describe(clip[:1], max_new_tokens=3) == vlm.describe(clip[:1], max_new_tokens=3)


def test_unknown_model_and_model_discovery(served):
    _, server = served
    with pytest.raises(UnknownModelError, match="serves"):
        _client(server, model="no-such-model")
    unchecked = _client(server, model="no-such-model", check_model=False)
    with pytest.raises(UnknownModelError):
        unchecked.yes_probability(frames(1), "a cat")


def test_server_rejects_bad_requests_and_keeps_serving(served):
    vlm, server = served
    url = server.base_url + "/chat/completions"
    image = encode_image(frames(1)[0].image, image_format="png")
    good = {"model": vlm.name, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "[00:00:01.0]"}, {"type": "image_url", "image_url": {"url": image}},
        {"type": "text", "text": "Is it red?"}]}], "max_tokens": 1, "logprobs": True, "top_logprobs": 2}
    bad = [
        (b"{not json", 400),
        (json.dumps({"model": vlm.name}).encode(), 400),
        (json.dumps({**good, "messages": [{"role": "robot", "content": "hi"}]}).encode(), 400),
        (json.dumps({**good, "messages": [{"role": "user", "content": [{"type": "audio"}]}]}).encode(), 400),
        (json.dumps({**good, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "http://example.com/a.jpg"}}]}]}).encode(), 400),
        (json.dumps({**good, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}).encode(), 400),
        (json.dumps({**good, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": image}}] * 9}]}).encode(), 400),
        (json.dumps({**good, "max_tokens": 0}).encode(), 400),
        (json.dumps({**good, "top_logprobs": 5000}).encode(), 400),
        (json.dumps({**good, "stream": True}).encode(), 400),
        (json.dumps({**good, "model": "other"}).encode(), 404),
        (json.dumps({**good, "messages": [{"role": "user", "content": "x" * 400_000}]}).encode(), 413),
        (json.dumps({**good, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}).encode(),
         400),
    ]
    with httpx.Client(timeout=30) as http:
        for payload, status in bad:
            answer = http.post(url, content=payload, headers={"content-type": "application/json"})
            assert answer.status_code == status, (payload[:80], answer.text)
            error = answer.json()["error"]
            assert error["message"] and error["type"]
        ok = http.post(url, json=good)
        assert ok.status_code == 200
        body = ok.json()
        assert body["object"] == "chat.completion"
        assert len(body["choices"][0]["logprobs"]["content"][0]["top_logprobs"]) == 2
        assert http.get(server.base_url + "/models").json()["data"][0]["id"] == vlm.name


def test_encode_image_formats_and_size():
    from PIL import Image
    import base64
    import io

    image = np.zeros((40, 100, 3), dtype=np.uint8)
    url = encode_image(image, image_format="jpeg", max_side=50)
    assert url.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (50, 20)
    assert encode_image(image, image_format="png").startswith("data:image/png;base64,")
    with pytest.raises(ConfigError):
        encode_image(image, image_format="gif")


class _Fake:
    """A scripted OpenAI-like server: each request pops the next (status, body, delay) or repeats the last."""

    def __init__(self, script):
        self.script = list(script)
        self.hits = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                with fake.lock:
                    fake.hits += 1
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    fake.auth.append(self.headers.get("authorization"))
                    status, body, delay = fake.script.pop(0) if len(fake.script) > 1 else fake.script[0]
                time.sleep(delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("retry-after-ms", "5")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            do_GET = _answer
            do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _completion(content, logprobs=None):
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop", "logprobs": logprobs}]}


@pytest.fixture
def fake():
    servers = []

    def make(*script):
        server = _Fake(script)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def _fake_client(server, **options):
    options.setdefault("model", "m")
    options.setdefault("check_model", False)
    options.setdefault("max_retries", 0)
    return OpenAIVLM(OpenAIConfig(server.url, **options))


def test_parsed_fallback_without_logprobs(fake):
    server = fake((200, _completion("Yes."), 0))
    client = _fake_client(server)
    assert client.yes_probability(frames(2), "a cat").tolist() == [1.0, 1.0]
    assert client.logprobs_seen is False
    assert client.generate(["hello"], 4).logprobs is None
    strict = _fake_client(fake((200, _completion("no"), 0)), require_logprobs=True)
    with pytest.raises(NoLogprobsError, match="logprobs"):
        strict.yes_probability(frames(1), "a cat")


def test_top_logprobs_with_one_side_missing_use_the_floor(fake):
    logprobs = {"content": [{"token": "Yes", "logprob": -0.1, "top_logprobs": [
        {"token": "Yes", "logprob": -0.1}, {"token": " yes", "logprob": -2.0}, {"token": "Maybe", "logprob": -3.0}]}]}
    client = _fake_client(fake((200, _completion("Yes", logprobs), 0)))
    value = client.yes_probability(frames(1), "a cat")[0]
    yes = np.exp(-0.1) + np.exp(-2.0)
    assert value == pytest.approx(yes / (yes + np.exp(-3.0)))


def test_retries_with_backoff_then_succeeds(fake):
    error = {"error": {"message": "overloaded", "type": "server_error"}}
    server = fake((503, error, 0), (429, error, 0), (200, _completion("no"), 0))
    client = _fake_client(server, max_retries=2)
    assert client.yes_probability(frames(1), "a cat").tolist() == [0.0]
    assert server.hits == 3


def test_server_errors_are_specific(fake):
    error = {"error": {"message": "boom", "type": "server_error"}}
    server = fake((500, error, 0))
    with pytest.raises(ServerError, match="500"):
        _fake_client(server, max_retries=1).generate(["hi"], 2)
    assert server.hits == 2
    with pytest.raises(AuthenticationError, match="API key"):
        _fake_client(fake((401, {"error": {"message": "bad key"}}, 0))).generate(["hi"], 2)
    with pytest.raises(ServerError, match="malformed"):
        _fake_client(fake((200, b"<html>not json", 0))).generate(["hi"], 2)
    with pytest.raises(ServerError, match="malformed"):
        _fake_client(fake((200, {"unexpected": True}, 0))).generate(["hi"], 2)
    with pytest.raises(InvalidPromptError, match="too long"):
        _fake_client(fake((400, {"error": {"message": "prompt too long"}}, 0))).generate(["hi"], 2)
    with pytest.raises(ServerTimeoutError, match="timeout_s"):
        _fake_client(fake((200, _completion("x"), 1.0)), timeout_s=0.2).generate(["hi"], 2)
    closed = fake((200, _completion("x"), 0))
    closed.close()
    with pytest.raises(ServerUnavailableError, match="running"):
        _fake_client(closed).generate(["hi"], 2)
    with pytest.raises(ServerUnavailableError):
        OpenAIVLM(OpenAIConfig(closed.url, max_retries=0))
    with pytest.raises(ConfigError, match="URL"):
        OpenAIVLM(OpenAIConfig("ftp://nowhere"))


def test_api_key_from_env_and_concurrency_limit(fake, monkeypatch):
    monkeypatch.setenv("AGENTIME_TEST_KEY", "sekret")
    server = fake((200, _completion("yes"), 0.05))
    client = _fake_client(server, api_key_env="AGENTIME_TEST_KEY", max_concurrency=2)
    assert client.yes_probability(frames(6), "a cat").tolist() == [1.0] * 6
    assert server.max_in_flight == 2
    assert set(server.auth) == {"Bearer sekret"}
    explicit = fake((200, _completion("yes"), 0))
    _fake_client(explicit, api_key="given").generate(["hi"], 1)
    assert explicit.auth == ["Bearer given"]


def test_concurrent_one_token_requests_share_a_forward_pass():
    vlm = tiny_vlm("llava")

    class Recording:
        name = "recording"

        def __init__(self):
            self.batches = []

        def first_token_generations(self, chats, top_logprobs=0):
            self.batches.append(len(chats))
            return vlm.first_token_generations(chats, top_logprobs)

        def generate_chat(self, *args, **kwargs):
            return vlm.generate_chat(*args, **kwargs)

    recording = Recording()
    server = serve_in_thread(recording, ServerConfig(max_batch=8, batch_wait_ms=300, max_batch_delay_ms=2000,
                                                     max_top_logprobs=2000))
    try:
        client = OpenAIVLM(OpenAIConfig(server.base_url, image_format="png", top_logprobs=2000, max_concurrency=8))
        clip = frames(8, seed=9)
        remote = client.yes_probability(clip, "a yellow star")
        np.testing.assert_allclose(remote, vlm.yes_probability(clip, "a yellow star"), atol=1e-5)
        assert sum(recording.batches) == 8 and max(recording.batches) > 1
        assert client.generate(["hello"], max_new_tokens=3).tokens == vlm.generate(["hello"], 3).tokens
    finally:
        server.stop()
