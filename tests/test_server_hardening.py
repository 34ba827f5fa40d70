"""`agentime serve` against hostile clients: bombs, deep JSON, oversized and chunked bodies, a full queue,
slow models, missing keys. Each runs a real uvicorn server on 127.0.0.1."""

import argparse
import functools
import json
import re
import select
import socket
import threading
import time

import httpx
import pytest

from agentime.vlm.base import Generation
from agentime.vlm.errors import AuthenticationError
from agentime.vlm.openai_api import OpenAIConfig, OpenAIVLM
from agentime.vlm.server import ServerConfig, Worker, _Job, add_serve_arguments, serve_in_thread, serve_main
from agentime.vlm.server_requests import ChatRequest
from pipelines.robustness.hostile_inputs import data_url, nested_json, png_bomb, small_png
from tiny_models import frames, tiny_model, tiny_vlm


@functools.lru_cache(maxsize=None)
def bomb(width, height):
    return data_url(png_bomb(width, height))


def chat_body(*images, max_tokens=1, text="Is it red?"):
    content = [{"type": "text", "text": "[00:00:01.0]"}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    content.append({"type": "text", "text": text})
    return {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "logprobs": True,
            "top_logprobs": 2}


@pytest.fixture(scope="module")
def server():
    running = serve_in_thread(tiny_vlm("llava"), ServerConfig(max_request_bytes=2_000_000))
    yield running
    running.stop()


def post(server, body, **options):
    with httpx.Client(timeout=60) as http:
        return http.post(server.base_url + "/chat/completions", json=body, **options)


def assert_json_error(answer, status):
    assert answer.status_code == status, answer.text[:300]
    error = answer.json()["error"]
    assert error["message"] and error["type"]
    assert not re.search(r"0x[0-9a-fA-F]{6,}", error["message"]), error["message"]
    for internal in ("Traceback", "BytesIO", "File \"", "PIL"):
        assert internal not in error["message"], error["message"]
    return error["message"]


def test_pixel_bombs_are_refused_from_the_header(server):
    """A 140 KB PNG of 12000x12000 (under PIL's own bomb limit) and a 20000x20000 one are refused as too
    large before decoding; the server keeps answering."""
    message = assert_json_error(post(server, chat_body(bomb(12000, 12000))), 400)
    assert "12000x12000" in message and "pixels" in message
    assert "pixels" in assert_json_error(post(server, chat_body(bomb(20000, 20000))), 400)
    small = data_url(small_png())
    assert post(server, chat_body(small)).status_code == 200


def test_images_and_pixels_per_request_are_bounded():
    running = serve_in_thread(tiny_vlm("llava"), ServerConfig(max_request_pixels=5000))
    try:
        small = data_url(small_png(32, 32))             # 1024 pixels each
        assert post(running, chat_body(*[small] * 4)).status_code == 200
        assert "pixels" in assert_json_error(post(running, chat_body(*[small] * 5)), 400)
    finally:
        running.stop()
    default = ServerConfig()
    assert default.max_images <= 64
    running = serve_in_thread(tiny_vlm("llava"), ServerConfig(max_images=3))
    try:
        assert "at most 3 images" in assert_json_error(post(running, chat_body(*[data_url(small_png(8, 8))] * 4)),
                                                       400)
    finally:
        running.stop()


def test_deep_json_and_undecodable_images_are_clean_400s(server):
    with httpx.Client(timeout=60) as http:
        url = server.base_url + "/chat/completions"
        deep = http.post(url, content=nested_json(100_000), headers={"content-type": "application/json"})
        assert "nests deeper" in assert_json_error(deep, 400)
        shallow_but_deep = {"messages": [{"role": "user", "content": "hi"}], "x": json.loads(nested_json(40))}
        assert "nests deeper" in assert_json_error(http.post(url, json=shallow_but_deep), 400)
    garbage = data_url(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert "not a decodable" in assert_json_error(post(server, chat_body(garbage)), 400)
    assert_json_error(post(server, chat_body(data_url(b"%!PS-Adobe-3.0 EPSF-3.0\n", "image/eps"))), 400)
    with httpx.Client(timeout=10) as http:
        assert_json_error(http.get(server.base_url + "/no/such/path"), 404)


def test_chunked_body_is_refused_while_streaming(server):
    """A chunked body of 64 MB against a 2 MB limit: the 413 comes after a few MB, not after all of it."""
    host, port = server.host, server.port
    sent, answer = 0, b""
    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
                           "\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"[" * 65536
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        connection.setblocking(False)
        deadline = time.monotonic() + 60
        while sent < 64 * 1024 * 1024 and time.monotonic() < deadline:
            readable, writable, _ = select.select([connection], [connection], [], 1.0)
            if readable:
                break
            if writable:
                try:
                    sent += connection.send(framed)  # partial sends only undercount what was sent
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    break
        connection.setblocking(True)
        try:
            answer = connection.recv(65536)
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 24 * 1024 * 1024, sent


def test_usage_counts_prompt_tokens(server):
    small = data_url(small_png())
    scored = post(server, chat_body(small)).json()["usage"]
    generated = post(server, chat_body(small, max_tokens=3)).json()["usage"]
    assert scored["prompt_tokens"] > 5
    assert scored["prompt_tokens"] == generated["prompt_tokens"]
    assert scored["total_tokens"] == scored["prompt_tokens"] + scored["completion_tokens"]


def test_api_key_guards_everything_but_health():
    vlm = tiny_vlm("llava")
    running = serve_in_thread(vlm, ServerConfig(api_key="s3cret"))
    try:
        with httpx.Client(timeout=60) as http:
            assert http.get(f"http://127.0.0.1:{running.port}/health").status_code == 200
            assert_json_error(http.get(running.base_url + "/models"), 401)
            assert_json_error(http.get(running.base_url + "/models", headers={"Authorization": "Bearer wrong"}),
                              401)
            assert_json_error(http.post(running.base_url + "/chat/completions", json=chat_body()), 401)
            assert http.get(running.base_url + "/models",
                            headers={"Authorization": "Bearer s3cret"}).status_code == 200
        client = OpenAIVLM(OpenAIConfig(running.base_url, api_key="s3cret", image_format="png", max_retries=0))
        assert len(client.yes_probability(frames(2), "a red circle")) == 2
        with pytest.raises(AuthenticationError):
            OpenAIVLM(OpenAIConfig(running.base_url, api_key="nope", max_retries=0))
    finally:
        running.stop()


def test_serve_reads_the_api_key_from_the_environment(monkeypatch):
    import uvicorn
    from fastapi.testclient import TestClient

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, log_level: seen.update(app=app))
    monkeypatch.setenv("AGENTIME_API_KEY", "from-env")
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    assert serve_main(parser.parse_args([f"hf:{tiny_model('llava')}"])) == 0
    with TestClient(seen["app"]) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer from-env"}).status_code == 200


class SlowVLM:
    """Answers every request after `delay` seconds; records what the worker asked for."""

    name = "slow"

    def __init__(self, delay):
        self.delay = delay
        self.max_times = []

    def first_token_generations(self, chats, top_logprobs=0):
        time.sleep(self.delay)
        return [Generation("yes", ["yes"], [-0.1], prompt_tokens=3) for _ in chats]

    def generate_chat(self, chat, max_new_tokens=64, *, temperature=0.0, top_logprobs=0, max_time_s=None):
        self.max_times.append(max_time_s)
        time.sleep(self.delay)
        return Generation("done", ["done"], [-0.1], prompt_tokens=3)


def test_full_queue_answers_503_with_retry_after():
    running = serve_in_thread(SlowVLM(0.5), ServerConfig(max_queue=2, max_batch=1))
    answers = []

    def ask():
        with httpx.Client(timeout=30) as http:
            answers.append(http.post(running.base_url + "/chat/completions",
                                     json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}))

    try:
        threads = [threading.Thread(target=ask) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        running.stop()
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) >= 2 and 503 in statuses, statuses
    busy = [a for a in answers if a.status_code == 503]
    assert all(int(a.headers["retry-after"]) >= 1 for a in busy)
    assert_json_error(busy[0], 503)


def test_request_deadline_bounds_waiting_and_generation():
    slow = SlowVLM(2.0)
    running = serve_in_thread(slow, ServerConfig(request_timeout_s=0.5))
    try:
        answer = post(running, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
        assert "did not answer within" in assert_json_error(answer, 504)
    finally:
        running.stop()
    assert slow.max_times and 0 < slow.max_times[0] <= 0.5


def test_concurrent_generations_share_a_batch_in_arrival_order():
    """A burst of generations runs as batched calls (not one after another), and no kind of request jumps
    ahead of an earlier one."""
    vlm = tiny_vlm("llava")
    calls = []

    class Recording:
        name = "recording"

        def first_token_generations(self, chats, top_logprobs=0):
            calls.append(("first", len(chats)))
            return vlm.first_token_generations(chats, top_logprobs)

        def generate_chats(self, chats, max_new_tokens, **options):
            calls.append(("generate", len(chats)))
            return vlm.generate_chats(chats, max_new_tokens, **options)

        def generate_chat(self, chat, max_new_tokens=64, **options):
            calls.append(("generate", 1))
            return vlm.generate_chat(chat, max_new_tokens, **options)

    running = serve_in_thread(Recording(), ServerConfig(max_batch=8, batch_wait_ms=300, max_batch_delay_ms=2000))
    try:
        client = OpenAIVLM(OpenAIConfig(running.base_url, image_format="png", max_concurrency=6, max_retries=0))
        clip = frames(6, seed=3)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda f: client.generate([f, "What is shown?"], max_new_tokens=4).tokens, clip))
    finally:
        running.stop()
    assert max(size for kind, size in calls if kind == "generate") > 1, calls
    alone = [vlm.generate([f, "What is shown?"], max_new_tokens=4).tokens for f in clip]
    assert answers == alone


def _job(arrival, max_tokens, temperature=0.0):
    job = _Job(ChatRequest([("user", ["hi"])], max_tokens, temperature, False, 0, []), None, 0.0)
    job.arrival = arrival
    return job


def test_worker_plan_keeps_arrival_order_between_groups():
    class Model:
        def generate_chats(self, *args, **kwargs):
            pass

    worker = Worker(Model(), max_batch=2, batch_wait_ms=0)
    worker.stop()
    jobs = [_job(1, 16), _job(2, 1), _job(3, 16), _job(4, 8, temperature=0.7), _job(5, 1), _job(6, 16)]
    plan = [[j.arrival for j in group] for group in worker.plan(jobs)]
    assert plan == [[1, 3], [6], [2, 5], [4]]


def test_batched_generation_equals_one_by_one():
    vlm = tiny_vlm("llava")
    clip = frames(3, seed=5)
    chats = [[("user", [clip[0], "Describe."])], [("user", ["hello there, what now?"])], [("user", [clip[2], "Say"])]]
    together = vlm.generate_chats([chats[0], chats[2]], [5, 2], top_logprobs=2)
    for chat, limit, result in zip([chats[0], chats[2]], [5, 2], together):
        alone = vlm.generate_chat(chat, limit, top_logprobs=2)
        assert result.tokens == alone.tokens and result.prompt_tokens == alone.prompt_tokens > 0
        assert len(result.tokens) <= limit
