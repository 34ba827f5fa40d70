"""HTTP reads for FFmpeg that pass an outbound check first, every one of them.

An HTTP(S) stream is often a playlist (HLS) that names further URLs: variant playlists, segments, keys. FFmpeg
opens those itself, so checking only the URL a visitor typed would let a playlist on an allowed host point the
server at an internal address. `CheckedOpener` is given to PyAV as `io_open`: FFmpeg then opens every URL of
the input through it (the first one included), each is checked, connected to at the checked address (plain
HTTP; TLS keeps the name its certificate proves), redirects are refused, and bodies are read as they arrive.

This module neither decides what is allowed (that is `agentime.net_guard`'s job) nor decodes video.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx

from agentime.errors import AgentimeError
from agentime.net_guard import pin_url

# FFmpeg's HLS reader reuses an HTTP connection object for the next segment and asks its private HTTP
# protocol for cookies; neither exists when reads go through custom I/O, so both are turned off.
CUSTOM_IO_HLS_OPTIONS = {"http_persistent": "0", "http_multiple": "0"}
_HTTP_SCHEMES = ("http", "https")


class CheckedOpener:
    """`io_open` for `av.open`: each URL is checked with `check_url` (returns the allowed addresses or raises)."""

    def __init__(self, check_url: Callable[[str], list[str]], *, timeout: float = 15.0):
        self.check_url = check_url
        self.timeout = timeout
        self.opened: list[str] = []  # every URL FFmpeg asked for, in order (for logs and tests)

    def __call__(self, url: str, flags: int, options: dict) -> CheckedBody:
        self.opened.append(url)
        if urlsplit(url).scheme.lower() not in _HTTP_SCHEMES:
            raise PermissionError("only http and https reads are allowed inside this stream")
        try:
            addresses = self.check_url(url)
        except AgentimeError as exc:  # FFmpeg's custom I/O reports OSErrors; the message stays generic
            raise PermissionError(str(exc)) from None
        target, host_header = pin_url(url, addresses[0])
        client = httpx.Client(follow_redirects=False, timeout=self.timeout, trust_env=False)
        try:
            request = client.build_request("GET", target, headers={"Host": host_header} if host_header else None)
            response = client.send(request, stream=True)
            if response.status_code != 200:
                response.close()
                raise OSError(f"the stream answered HTTP {response.status_code}")
        except httpx.HTTPError as exc:
            client.close()
            raise OSError(f"the stream could not be read: {type(exc).__name__}") from None
        except OSError:
            client.close()
            raise
        return CheckedBody(client, response)


class CheckedBody:
    """A response body read in order; FFmpeg sees it as a stream it cannot seek."""

    def __init__(self, client: httpx.Client, response: httpx.Response):
        self._client, self._response = client, response
        self._chunks: Iterator[bytes] = response.iter_bytes()
        self._pending = b""

    def read(self, size: int) -> bytes:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending = chunk
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def close(self) -> None:
        self._response.close()
        self._client.close()
