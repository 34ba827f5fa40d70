"""The outbound policy: host patterns, DNS-resolved address checks, explicit listing, generic refusals."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from agentime.errors import AgentimeError, BlockedURLError, ConfigError
from agentime.net_guard import OutboundPolicy

FAKE_DNS = {
    "cam.example.com": ["93.184.216.34"],
    "models.example.com": ["93.184.216.35", "2606:2800:220:1:248:1893:25c8:1946"],
    "edge.cdn.example.com": ["93.184.216.36"],
    "rebind.cdn.example.com": ["10.0.0.5"],              # a public-looking name pointing inside
    "mixed.cdn.example.com": ["93.184.216.37", "127.0.0.1"],
    "meta.cdn.example.com": ["169.254.169.254"],
    "v6meta.cdn.example.com": ["fd00:ec2::254"],
    "mapped.cdn.example.com": ["::ffff:192.168.1.1"],
    "nas.lan": ["192.168.1.20"],
}


def fake_resolver(host, port):
    if host in FAKE_DNS:
        return FAKE_DNS[host]
    try:
        import ipaddress
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        raise OSError("Name or service not known") from None


def policy(*patterns, **options):
    return OutboundPolicy.from_patterns(list(patterns), resolver=fake_resolver, **options)


def test_public_hosts_matching_a_pattern_are_allowed_with_their_addresses():
    p = policy("cam.example.com", "models.example.com", "*.cdn.example.com")
    assert p.check_url("rtsp://cam.example.com:554/live") == ["93.184.216.34"]
    assert p.check_url("https://models.example.com/v1") == FAKE_DNS["models.example.com"]
    assert p.check_url("http://edge.cdn.example.com/a.mp4") == ["93.184.216.36"]
    assert p.allows_host("cam.example.com") and p.allows_host("CAM.example.com.")
    assert p.allows_host("deep.edge.cdn.example.com")
    assert not p.allows_host("cdn.example.com.evil.org") and not p.allows_host("example.com")


@pytest.mark.parametrize("url", [
    "http://other.example.org/",                  # no pattern
    "ftp://cam.example.com/file",                 # scheme
    "file:///etc/passwd",
    "http://rebind.cdn.example.com/",             # private address behind a wildcard
    "http://mixed.cdn.example.com/",              # one of the addresses is loopback
    "http://meta.cdn.example.com/latest/meta-data",
    "http://v6meta.cdn.example.com/",
    "http://mapped.cdn.example.com/",             # IPv4-mapped private address
    "http://no-such.cdn.example.com/",            # does not resolve: same refusal
    "http:///nohost",
    "not a url",
])
def test_refused_urls_raise_blocked_url_error(url):
    with pytest.raises(BlockedURLError):
        policy("cam.example.com", "*.cdn.example.com").check_url(url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/internal/video.mp4", "http://localhost:8000/", "http://[::1]/", "http://0.0.0.0/",
    "http://2130706433/", "http://0x7f.1/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/",
    "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.0.1/", "http://100.64.0.1/",
    "http://224.0.0.1/", "udp://239.1.1.1:1234", "http://[fe80::1]/", "http://[fd00:ec2::254]/",
    "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/", "http://localhost./",
])
def test_any_never_opens_internal_addresses_real_dns(url):
    """'any' allows every public host, but loopback, private, link-local and metadata stay closed
    (the system resolver is used here, as a real connection would use it)."""
    with pytest.raises(BlockedURLError):
        OutboundPolicy.from_patterns(["any"]).check_url(url)


def test_empty_policy_allows_nothing():
    p = policy()
    assert p.allows_nothing and not p.allows_host("cam.example.com")
    with pytest.raises(BlockedURLError):
        p.check_url("rtsp://cam.example.com/live")


def test_explicitly_listed_hosts_and_addresses_may_be_internal():
    assert policy("10.1.2.3").check_url("http://10.1.2.3:9000/v1") == ["10.1.2.3"]
    assert policy("nas.lan").check_url("rtsp://nas.lan/stream") == ["192.168.1.20"]
    assert policy("any", "10.0.0.0/8").check_url("http://rebind.cdn.example.com/") == ["10.0.0.5"]
    assert OutboundPolicy.from_patterns(["localhost"]).check_url("http://localhost:1/")
    # listing one internal address does not open its neighbours, nor does a wildcard open internal ones
    with pytest.raises(BlockedURLError):
        policy("10.1.2.3").check_url("http://10.1.2.4/")
    with pytest.raises(BlockedURLError):
        policy("*.lan").check_url("rtsp://nas.lan/stream")


def test_custom_schemes():
    p = policy("any", schemes=["https"])
    assert p.check_url("https://cam.example.com/") == ["93.184.216.34"]
    with pytest.raises(BlockedURLError):
        p.check_url("http://cam.example.com/")


def test_refusal_messages_are_generic_and_reasons_stay_internal():
    p = policy("any")
    messages = set()
    for host in ("no-such.cdn.example.com", "rebind.cdn.example.com", "meta.cdn.example.com"):
        with pytest.raises(BlockedURLError) as caught:
            p.check_url(f"http://{host}:8080/x")
        assert isinstance(caught.value, AgentimeError) and caught.value.reason
        messages.add(str(caught.value).replace(host, "HOST"))
    assert len(messages) == 1
    text = messages.pop()
    for leak in ("refused", "resolve", "private", "internal", "10.0.0.5", "169.254", "8080"):
        assert leak not in text.lower()


def test_bad_patterns_are_config_errors():
    for bad in ("10.0.0.0/99", "cam*.example.com", "host:80"):
        with pytest.raises(ConfigError):
            OutboundPolicy.from_patterns([bad])


class _Redirector(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ok":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"fine")
            return
        self.send_response(302)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_httpx_hooks_check_every_redirect_hop():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        p = OutboundPolicy.from_patterns(["127.0.0.1"])
        with httpx.Client(event_hooks=p.httpx_hooks(), follow_redirects=True, timeout=5) as client:
            assert client.get(base + "/ok").text == "fine"
            with pytest.raises(BlockedURLError):
                client.get(base + "/bounce")
        with httpx.Client(event_hooks=OutboundPolicy.from_patterns([]).httpx_hooks(), timeout=5) as client:
            with pytest.raises(BlockedURLError):
                client.get(base + "/ok")
    finally:
        server.shutdown()
        server.server_close()
