"""The attack part of the reliability suite: SSRF and traversal catalogues, hostile payloads, a load test.

Everything runs against 127.0.0.1 only: `agentime serve` started as a user starts it, small listeners
standing in for internal services, the outbound policy (`agentime.net_guard`) and the UI's path checks.
Each function returns plain dicts of counts; `pipelines.robustness.chaos` adds them up. It changes no project state.
"""

from __future__ import annotations

import json
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pipelines.robustness.hostile_inputs import data_url, mutate, nested_json, png_bomb, small_png

ROOT = Path(__file__).resolve().parents[2]
INTERNAL_SECRET = b"internal-only-video-bytes"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Internal(BaseHTTPRequestHandler):
    """An internal service: serves a secret, or redirects to `server.target` under /go."""

    def do_GET(self):
        if self.path.startswith("/go"):
            self.send_response(302)
            self.send_header("Location", self.server.target)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(INTERNAL_SECRET)))
        self.end_headers()
        self.wfile.write(INTERNAL_SECRET)

    def log_message(self, *args):
        pass


def _listener(host: str, target: str = "") -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, 0), _Internal)
    server.target = target
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ssrf_catalogue() -> dict:
    """Outbound URLs a visitor could type; each must be refused by the policy an operator opens widest
    (`any`), redirects included, and refusals must read the same for an open and a closed port."""
    import httpx

    from agentime.errors import BlockedURLError
    from agentime.net_guard import OutboundPolicy

    internal = _listener("127.0.0.1")
    port = internal.server_address[1]
    secret_url = f"http://127.0.0.1:{port}/internal/video.mp4"
    redirector = _listener("127.0.0.2", secret_url)
    closed = free_port()
    widest = OutboundPolicy.from_patterns(["any"])
    urls = [secret_url, f"http://localhost:{port}/internal/video.mp4", f"http://[::1]:{port}/",
            f"http://0.0.0.0:{port}/", f"http://2130706433:{port}/", f"http://0x7f000001:{port}/",
            f"http://127.1:{port}/", f"http://[::ffff:127.0.0.1]:{port}/", f"rtsp://127.0.0.1:{port}/live",
            f"tcp://127.0.0.1:{port}", f"udp://127.0.0.1:{port}", f"srt://127.0.0.1:{port}",
            f"rtmp://127.0.0.1:{port}/app", "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/", "http://100.100.100.200/", "http://10.0.0.1/", "http://192.168.1.1/",
            "http://172.16.0.1/", "http://[fe80::1]/", "http://224.0.0.1/", "file:///etc/passwd",
            "gopher://127.0.0.1:25/", "ftp://127.0.0.1/", f"http://localhost.:{port}/",
            f"http://user:pw@127.0.0.1:{port}/", "http://metadata.google.internal/"]
    cases, blocked, failures = 0, 0, []
    for url in urls:
        cases += 1
        try:
            widest.check_url(url)
            failures.append(url)
        except BlockedURLError:
            blocked += 1
    # a redirect from an explicitly allowed host to an internal one
    cases += 1
    listed = OutboundPolicy.from_patterns(["127.0.0.2"])
    try:
        with httpx.Client(event_hooks=listed.httpx_hooks(), follow_redirects=True, timeout=5) as client:
            body = client.get(f"http://127.0.0.2:{redirector.server_address[1]}/go").content
        failures.append("redirect" if INTERNAL_SECRET in body else "redirect (answered)")
    except BlockedURLError:
        blocked += 1
    # the port-scan oracle: an open and a closed port must be refused with the same words
    cases += 1
    messages = set()
    for probe in (port, closed):
        try:
            widest.check_url(f"http://127.0.0.1:{probe}/")
        except BlockedURLError as exc:
            messages.add(str(exc))
    if len(messages) == 1:
        blocked += 1
    else:
        failures.append("port oracle")
    internal.shutdown()
    redirector.shutdown()
    return {"cases": cases, "blocked": blocked, "failures": failures}


def traversal_catalogue(base_url: str, work: Path) -> dict:
    """Paths that try to leave the allowed folders (the UI's path check) or reach files through the model
    server. Blocked: nothing outside is accepted or served; an error that is not the project's is counted
    as unclear."""
    from agentime.errors import AgentimeError

    allowed = work / "allowed"
    allowed.mkdir(parents=True, exist_ok=True)
    outside = work / "secret.mp4"
    outside.write_bytes(b"secret")
    link = allowed / "link.mp4"
    if not link.exists():
        link.symlink_to(outside)
    cases, blocked, unclear, failures = 0, 0, 0, []
    try:
        from ui.videos import resolve_path
    except ImportError:
        resolve_path = None
    if resolve_path is not None:
        attempts = [str(allowed / ".." / "secret.mp4"), str(outside), "../../../../etc/passwd", "/etc/passwd",
                    str(link), "~/.ssh/id_rsa", str(allowed) + "/../" + "secret.mp4", str(allowed / "a\x00.mp4"),
                    str(allowed / ("a" * 5000)), "file:///etc/passwd", str(allowed) + "/%2e%2e/secret.mp4",
                    str(allowed).replace("allowed", "allowed_sibling") + "/x.mp4", "\\..\\..\\etc\\passwd"]
        for text in attempts:
            cases += 1
            try:
                resolved = resolve_path(text, (allowed.resolve(),))
                inside = resolved.resolve().is_relative_to(allowed.resolve())
                (blocked := blocked + 1) if inside else failures.append(text)
            except AgentimeError:
                blocked += 1
            except Exception:  # refused, but not with a message the UI can show
                blocked += 1
                unclear += 1
    import httpx

    origin = base_url.rsplit("/v1", 1)[0]
    for path in ("/../../etc/passwd", "/v1/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                 "/v1/models/..%2f..%2fetc%2fpasswd", "/static/../../../etc/passwd", "/health/../../etc/passwd",
                 "/docs/../../etc/passwd", "//etc/passwd"):
        cases += 1
        try:
            answer = httpx.get(origin + path, timeout=10)
            leaked = b"root:" in answer.content
        except httpx.HTTPError:
            leaked = False
        (blocked := blocked + 1) if not leaked else failures.append(path)
    return {"cases": cases, "blocked": blocked, "unclear": unclear, "failures": failures}


class Served:
    """`agentime serve` started as a user starts it, on a free port of 127.0.0.1."""

    def __init__(self, env: dict, model: str = "embedded:target", extra: tuple = ()):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.process = subprocess.Popen([sys.executable, "-m", "agentime.cli", "serve", model, "--port",
                                         str(self.port), *extra], cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"agentime serve exited: {self.process.stderr.read()[-500:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("agentime serve did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _chat(images: list[str], max_tokens: int) -> dict:
    content = [{"type": "text", "text": "[00:00:01.0]"}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    content.append({"type": "text", "text": "Is there a red circle? Answer yes or no."})
    return {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "logprobs": True,
            "top_logprobs": 5}


def payload_fuzz(base_url: str, count: int, rng: random.Random) -> list[dict]:
    """Hostile request bodies: mutated PNG/JPEG images, pixel bombs, deep JSON, broken JSON and fields."""
    import io

    import httpx
    import numpy as np
    from PIL import Image

    png = small_png(48, 48, seed=1)
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    fixed = [json.dumps(_chat([data_url(png_bomb(12000, 12000))], 1)).encode(),
             json.dumps(_chat([data_url(png_bomb(20000, 20000))], 1)).encode(),
             json.dumps(_chat([data_url(png)] * 300, 1)).encode(), nested_json(100_000),
             b"{", b"", b"\xff\xfe", json.dumps({"messages": "x"}).encode(),
             json.dumps({**_chat([], 1), "max_tokens": 10**12}).encode(),
             json.dumps({**_chat([], 1), "temperature": "hot"}).encode()]
    bodies = list(fixed)
    while len(bodies) < count:
        kind = rng.random()
        if kind < 0.4:
            bodies.append(json.dumps(_chat([data_url(mutate(png, rng))], 1)).encode())
        elif kind < 0.8:
            bodies.append(json.dumps(_chat([data_url(mutate(jpeg, rng), "image/jpeg")], 1)).encode())
        else:
            bodies.append(mutate(json.dumps(_chat([data_url(png)], 1)).encode(), rng))
    results = []
    with httpx.Client(timeout=60) as client:
        for index, body in enumerate(bodies[:count]):
            try:
                answer = client.post(base_url + "/chat/completions", content=body,
                                     headers={"content-type": "application/json"})
            except httpx.TimeoutException:
                results.append({"id": f"payload{index}", "kind": "payload", "outcome": "hang", "status": None})
                continue
            text = answer.text
            if answer.status_code >= 500 or "Traceback" in text:
                outcome = "traceback"
            elif answer.status_code >= 400:
                try:
                    message = answer.json()["error"]["message"]
                    outcome = "clear" if message and not re.search(r"0x[0-9a-fA-F]{6,}", message) else "unclear"
                except (ValueError, KeyError, TypeError):
                    message, outcome = text[:200], "unclear"
            else:
                message, outcome = "", "accepted"
            results.append({"id": f"payload{index}", "kind": "payload", "outcome": outcome,
                            "status": answer.status_code, "message": message[:300]})
    return results


def load_test(base_url: str, clients: int, per_client: int, generate_every: int = 4) -> dict:
    """`clients` concurrent clients, each sending `per_client` requests in turn: yes/no scoring of one frame,
    and every `generate_every`-th a short generation (what search strategies send)."""
    import httpx

    images = [data_url(small_png(64, 64, seed=s)) for s in range(8)]
    latencies, statuses = [], []
    lock = threading.Lock()

    def client(index: int) -> None:
        with httpx.Client(timeout=300) as http:
            for k in range(per_client):
                generate = generate_every and k % generate_every == generate_every - 1
                body = _chat([images[(index + k) % len(images)]], 8 if generate else 1)
                began = time.monotonic()
                try:
                    status = http.post(base_url + "/chat/completions", json=body).status_code
                except httpx.HTTPError:
                    status = None
                with lock:
                    latencies.append(time.monotonic() - began)
                    statuses.append(status)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    ordered = sorted(latencies)
    p99_index = max(0, int(round(0.99 * len(ordered))) - 1)
    return {"requests": len(statuses), "ok": statuses.count(200),
            "errors": len(statuses) - statuses.count(200),
            "server_5xx": sum(1 for s in statuses if s is not None and s >= 500),
            "p50_ms": round(statistics.median(ordered) * 1000, 1), "p99_ms": round(ordered[p99_index] * 1000, 1)}
