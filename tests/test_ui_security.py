"""What a UI visitor can make the server reach: model servers and streams only where the operator allowed,
never with the server's own credentials, with errors that do not reveal which ports answer; recordings
bounded and removed; one visitor's hanging server does not hold up another. Real HTTP servers on 127.0.0.1."""

import http.server
import json
import os
import shutil
import socket
import threading
import time

import pytest

from agentime.errors import ConfigError
from pipelines.synthetic.world import WorldConfig, generate_world, write_video
from ui import callbacks
from ui.models import MODEL_URL, SERVER_MODELS, UNREACHABLE, choose_models, load_models
from ui.recordings import NOT_RECORDED, STREAMS_OFF, Recordings, pinned
from ui.settings import UISettings


class Listener:
    """An HTTP server on 127.0.0.1 that records each request's path and headers; `routes` maps a path to
    (status, headers, body)."""

    def __init__(self, routes=None, directory=None, host="127.0.0.1"):
        self.requests: list[tuple[str, dict]] = []
        routes = routes or {}
        seen = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=directory or os.getcwd(), **kwargs)

            def do_GET(self):
                seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                if self.path in routes:
                    status, headers, body = routes[self.path]
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif directory:
                    super().do_GET()
                else:
                    self.send_error(404)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


MODELS_JSON = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()


@pytest.fixture
def model_server():
    listener = Listener({"/v1/models": (200, {"Content-Type": "application/json"}, MODELS_JSON)})
    yield listener
    listener.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def typed(url, settings, key="", name="m"):
    return choose_models(MODEL_URL, "", url, name, key, settings)


def test_a_typed_model_server_never_gets_the_servers_credentials(model_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-secret")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-server")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-Api-Key: server-header-secret")
    settings = UISettings(draft=None, embedder=None, allow_model_urls=("127.0.0.1",))
    load_models(typed(f"{model_server.url}/v1", settings), settings)
    load_models(typed(f"{model_server.url}/v1", settings, key="sk-visitor"), settings)
    assert len(model_server.requests) == 2
    (_, anonymous), (_, with_key) = model_server.requests
    for headers in (anonymous, with_key):
        text = json.dumps(headers)
        assert "server-secret" not in text and "org-server" not in text and "server-header-secret" not in text
    assert "authorization" not in anonymous  # no key typed: none sent
    assert with_key["authorization"] == "Bearer sk-visitor"  # the visitor's own key, only


def test_typed_model_servers_are_refused_unless_allowed_and_errors_hide_which_ports_answer(model_server):
    closed = closed_port()
    elsewhere = UISettings(draft=None, embedder=None, allow_model_urls=("models.example.com",))
    messages = set()
    for url in (f"{model_server.url}/v1", f"http://127.0.0.1:{closed}/v1", "http://169.254.169.254/v1"):
        with pytest.raises(ConfigError) as caught:
            load_models(typed(url, elsewhere), elsewhere)
        messages.add(str(caught.value))
    assert model_server.requests == []  # a loopback address that is not listed is never contacted
    # Listed explicitly: a server that answers and a closed port read the same when neither is a model server.
    local = UISettings(draft=None, embedder=None, allow_model_urls=("127.0.0.1",))
    not_models = Listener()
    try:
        for url in (f"{not_models.url}/v1", f"http://127.0.0.1:{closed}/v1"):
            with pytest.raises(ConfigError) as caught:
                load_models(typed(url, local, name=""), local)
            messages.add(str(caught.value))
    finally:
        not_models.close()
    assert messages == {UNREACHABLE}
    assert "127.0.0.1" not in UNREACHABLE and "refused" not in UNREACHABLE.lower()


def test_a_redirect_to_a_host_that_is_not_allowed_is_not_followed(model_server):
    hop = Listener({"/v1/models": (302, {"Location": f"http://localhost:{model_server.port}/v1/models"}, b"")})
    try:
        settings = UISettings(draft=None, embedder=None, allow_model_urls=("127.0.0.1",))
        with pytest.raises(ConfigError, match="could not use a model server"):
            load_models(typed(f"{hop.url}/v1", settings), settings)
        assert len(hop.requests) == 1 and model_server.requests == []
    finally:
        hop.close()


def test_a_typed_model_server_is_reached_at_the_address_that_was_checked(model_server):
    from agentime.net_guard import OutboundPolicy
    from agentime.vlm.openai_api import OpenAIConfig, _http_client

    answers = iter([["127.0.0.1"], ["10.9.9.9"]])  # a name that resolves elsewhere right after the check
    policy = OutboundPolicy.from_patterns(["models.test"], resolver=lambda host, port: next(answers))
    url = f"http://models.test:{model_server.port}/v1/models"
    with _http_client(OpenAIConfig(base_url=url, url_check=policy.check_url)) as client:
        assert client.get(url).status_code == 200
    (path, headers), = model_server.requests
    assert path == "/v1/models" and headers["host"] == f"models.test:{model_server.port}"


def test_a_hanging_model_server_of_one_visitor_does_not_stall_another(tmp_path):
    from ui_support import make_tiny_model

    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)  # accepts connections, never answers
    accepted = []
    threading.Thread(target=lambda: accepted.append(hanging.accept()), daemon=True).start()
    model = make_tiny_model(tmp_path / "tiny")
    settings = UISettings(target=f"hf:{model}", draft=None, embedder=None, allow_model_urls=("127.0.0.1",))
    stuck = threading.Thread(target=lambda: pytest.raises(ConfigError, load_models,
                                                          typed(f"http://127.0.0.1:{hanging.getsockname()[1]}/v1",
                                                                settings), settings), daemon=True)
    stuck.start()
    deadline = time.monotonic() + 30
    while not accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert accepted, "the first visitor's load never reached the hanging server"
    loaded = load_models(choose_models(SERVER_MODELS, "", "", "", "", settings), settings)
    assert loaded["target"] is not None
    assert stuck.is_alive()  # the other visitor got their model while the first is still waiting
    hanging.close()


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    folder = tmp_path_factory.mktemp("camera")
    world = generate_world(5, WorldConfig(minutes=1, needles=1, groundings=1, orders=0, counts=1))
    write_video(world, folder / "camera.mp4", fragmented=True)
    listener = Listener({"/moved": (302, {"Location": "/camera.mp4"}, b"")}, directory=str(folder))
    listener.server_video = folder / "camera.mp4"
    yield listener
    listener.close()


def stream_runtime(tmp_path, **limits):
    settings = UISettings(draft=None, embedder=None, **limits)
    runtime = callbacks.Runtime(settings)
    runtime.recordings = Recordings(settings, root=tmp_path / "recordings")
    return runtime


def test_streams_are_off_by_default_and_only_allowed_hosts_are_contacted(camera, tmp_path):
    url = f"{camera.url}/camera.mp4"
    off = callbacks.choose_path(url, False, None, stream_runtime(tmp_path))
    assert STREAMS_OFF in off["status"] and off["state"].video is None
    elsewhere = callbacks.choose_path(url, False, None, stream_runtime(tmp_path, allow_stream_hosts=("cam.example.com",)))
    assert NOT_RECORDED in elsewhere["status"]
    assert camera.requests == []  # neither reached the internal server
    local = stream_runtime(tmp_path, allow_stream_hosts=("127.0.0.1",))
    statuses = {callbacks.choose_path(u, False, None, local)["status"]
                for u in (f"{camera.url}/missing.mp4", f"http://127.0.0.1:{closed_port()}/camera.mp4",
                          f"{camera.url}/moved", f"{camera.url}/camera.mp4?listen=1")}
    # a 404, a closed port, a redirect and a request to listen for connections read the same
    assert statuses == {f"**Error:** {NOT_RECORDED}"}
    assert [path for path, _ in camera.requests] == ["/missing.mp4", "/moved"]  # the redirect was not followed


def write_playlist(video, folder, segment_base=""):
    """`video` cut into one-second HLS segments in `folder`; the playlist names them under `segment_base`."""
    import av

    with av.open(str(video)) as source, av.open(str(folder / "raw.m3u8"), "w", format="hls",
                                                options={"hls_time": "1", "hls_list_size": "0"}) as sink:
        out = sink.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                sink.mux(packet)
    lines = (folder / "raw.m3u8").read_text().splitlines()
    (folder / "live.m3u8").write_text("\n".join(segment_base + line if line.endswith(".ts") else line
                                                for line in lines) + "\n")


def test_a_playlist_on_an_allowed_host_cannot_send_the_server_to_another(camera, tmp_path):
    folder = tmp_path / "hls"
    folder.mkdir()
    internal = Listener(directory=str(folder), host="127.0.0.2")  # stands for a service inside the network
    try:
        write_playlist(camera.server_video, folder, segment_base=f"{internal.url}/")
        (folder / "evil.m3u8").write_text((folder / "live.m3u8").read_text())
        write_playlist(camera.server_video, folder)
        allowed = Listener(directory=str(folder))
        runtime = stream_runtime(tmp_path, allow_stream_hosts=("127.0.0.1",))
        evil = callbacks.choose_path(f"{allowed.url}/evil.m3u8", False, None, runtime)
        assert evil["status"] == f"**Error:** {NOT_RECORDED}"
        assert internal.requests == []  # the playlist was read; none of the segments it named elsewhere

        view = callbacks.choose_path(f"{allowed.url}/live.m3u8", False, None, runtime)
        recorder = view["state"].recorder
        recorder._thread.join(60)
        assert recorder.error is None and recorder.packets > 0
        assert [path for path, _ in allowed.requests][:3] == ["/evil.m3u8", "/live.m3u8", "/raw0.ts"]
        allowed.close()
    finally:
        internal.close()


def test_recordings_are_bounded_one_per_visitor_and_removed(camera, tmp_path):
    runtime = stream_runtime(tmp_path, allow_stream_hosts=("127.0.0.1",), max_recording_mb=0.05,
                             max_recording_minutes=10)
    view = callbacks.choose_path(f"{camera.url}/camera.mp4", False, None, runtime)
    state = view["state"]
    assert view["status"].startswith("Recording") and state.live and view["player"] == str(state.recorder.path)
    first = state.recorder
    first._thread.join(60)
    assert first.limit_reached and "size limit" in first.limit_reached and first.bytes_written <= 50_000
    assert "recording stopped at the size limit" in callbacks.live_status(state)

    short = stream_runtime(tmp_path / "short", allow_stream_hosts=("127.0.0.1",), max_recording_minutes=0.05)
    recorder = callbacks.choose_path(f"{camera.url}/camera.mp4", False, None, short)["state"].recorder
    recorder._thread.join(60)
    assert "length limit" in recorder.limit_reached and callbacks.video_seconds(str(recorder.path)) <= 4.0

    second = callbacks.choose_path(f"{camera.url}/camera.mp4", False, state, runtime)["state"].recorder
    assert not first.path.parent.exists() and second.path.exists()  # one recording per visitor
    assert runtime.recordings.active == 1
    callbacks.choose_path("", False, state, runtime)  # a failed choice leaves no recording behind
    assert not second.path.parent.exists() and runtime.recordings.active == 0


def test_leftover_recordings_of_dead_processes_are_removed_at_start(tmp_path):
    root = tmp_path / "recordings"
    dead, alive = root / "999999999", root / str(os.getppid())
    for folder in (dead, alive):
        (folder / "x").mkdir(parents=True)
        (folder / "x" / "recording.mp4").write_bytes(b"old")
    recordings = Recordings(UISettings(allow_stream_hosts=("127.0.0.1",)), root=root)
    assert not dead.exists() and alive.exists()
    recordings.folder.mkdir(parents=True)
    recordings.discard_all()
    assert not recordings.folder.exists()
    shutil.rmtree(alive)


def test_recordings_connect_to_the_checked_address_not_a_fresh_lookup():
    assert pinned("http://cam.example.com:8080/live.ts?x=1", "93.184.216.34") == (
        "http://93.184.216.34:8080/live.ts?x=1", {"max_redirects": "0", "headers": "Host: cam.example.com:8080\r\n"})
    assert pinned("rtsp://user:pw@cam.example.com/stream", "2001:db8::7") == ("rtsp://user:pw@[2001:db8::7]/stream", {})
    # TLS names the host in its certificate: the name stays; redirects are still refused.
    assert pinned("https://cdn.example.com/live.m3u8", "93.184.216.34") == (
        "https://cdn.example.com/live.m3u8", {"max_redirects": "0"})
