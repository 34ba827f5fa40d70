"""Outbound connection policy: which URLs a server-side component may connect to on a visitor's behalf.

The operator lists host patterns (`models.example.com`, `*.cdn.example.com`, `10.1.2.3`, `10.0.0.0/8`, or
`any`). `OutboundPolicy.check_url` parses a URL, checks its scheme and host against the list, resolves the
host and refuses it when any resolved address is loopback, link-local, private, shared, multicast,
reserved, unspecified or a cloud metadata address, unless that host name or address is listed explicitly
(a wildcard or `any` never opens an internal address). Every refusal raises `BlockedURLError` with one
generic message, so the error never reveals whether a host resolves or a port answers.

This module only decides; it opens no connection. Callers connect to the addresses `check_url` returned
(or re-check on every redirect hop, see `httpx_hooks`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from agentime.errors import BlockedURLError

TLS_SCHEMES = frozenset({"https", "rtsps", "rtmps"})  # the certificate names the host: these keep the name
DEFAULT_SCHEMES = ("http", "https", "rtsp", "rtsps", "rtmp", "rtmps", "srt", "tcp", "udp")
ANY_HOST = "any"
# Instance metadata services answer on these even where the ranges around them look harmless.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int | None], list[str]]


def resolve_host(host: str, port: int | None) -> list[str]:
    """Every address `host` resolves to (the system resolver, as a connection would use it)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def pin_url(url: str, address: str) -> tuple[str, str | None]:
    """(`url` aimed at the checked `address` instead of its host name, the Host header it then needs). TLS
    schemes keep the name (the certificate proves it), so they come back unchanged with no header."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in TLS_SCHEMES or not parts.hostname:
        return url, None
    host = f"[{address}]" if ":" in address else address
    userinfo, _, named = parts.netloc.rpartition("@")
    netloc = (f"{userinfo}@" if userinfo else "") + host + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return pinned, (named if scheme == "http" else None)


def _embedded_ipv4(address: Address) -> Address | None:
    """The IPv4 address carried inside an IPv6 one (mapped, 6to4, NAT64), if any."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_internal_address(address: Address) -> bool:
    """True for anything but a public unicast address (loopback, private, link-local, metadata, ...)."""
    inner = _embedded_ipv4(address)
    if inner is not None and is_internal_address(inner):
        return True
    if address in METADATA_ADDRESSES:
        return True
    return (not address.is_global or address.is_multicast or address.is_loopback or address.is_link_local
            or address.is_private or address.is_reserved or address.is_unspecified)


def _parse_address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class OutboundPolicy:
    """The operator's allow-list for outbound connections (see the module docstring)."""

    hosts: frozenset[str] = frozenset()            # exact host names, lower case, no trailing dot
    suffixes: tuple[str, ...] = ()                  # from `*.example.com`: ".example.com"
    networks: tuple[Network, ...] = ()              # from IP literals and CIDR blocks
    allow_any: bool = False
    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    resolver: Resolver = field(default=resolve_host, compare=False, repr=False)

    @classmethod
    def from_patterns(cls, patterns: Iterable[str], schemes: Iterable[str] | None = None,
                      resolver: Resolver | None = None) -> "OutboundPolicy":
        """Build a policy from host patterns; an empty list allows nothing. Raises ConfigError on a
        pattern that is neither a host name, `*.suffix`, an IP address, a CIDR block nor `any`."""
        from agentime.errors import ConfigError

        hosts, suffixes, networks, allow_any = set(), [], [], False
        for raw in patterns:
            pattern = str(raw).strip().lower().rstrip(".")
            if not pattern:
                continue
            if pattern == ANY_HOST:
                allow_any = True
            elif pattern.startswith("*."):
                suffixes.append(pattern[1:])
            elif "/" in pattern:
                try:
                    networks.append(ipaddress.ip_network(pattern, strict=False))
                except ValueError as exc:
                    raise ConfigError(f"allowed host pattern {raw!r} is not a valid network; "
                                      "use e.g. 10.0.0.0/8") from exc
            elif _parse_address(pattern.strip("[]")) is not None:
                networks.append(ipaddress.ip_network(_parse_address(pattern.strip("[]"))))
            elif "*" in pattern or ":" in pattern or " " in pattern:
                raise ConfigError(f"allowed host pattern {raw!r} is not supported; use a host name, "
                                  "*.domain, an IP address, a CIDR block or 'any'")
            else:
                hosts.add(pattern)
        chosen = tuple(s.lower() for s in (schemes if schemes is not None else DEFAULT_SCHEMES))
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks), allow_any, chosen,
                   resolver or resolve_host)

    @property
    def allows_nothing(self) -> bool:
        return not (self.allow_any or self.hosts or self.suffixes or self.networks)

    def allows_host(self, host: str) -> bool:
        """Whether `host` (a name or an IP literal) matches a pattern; no DNS lookup."""
        name = str(host).strip().lower().rstrip(".").strip("[]")
        if not name:
            return False
        address = _parse_address(name)
        if address is not None:
            return self.allow_any or any(address in net for net in self.networks)
        return (self.allow_any or name in self.hosts
                or any(name.endswith(suffix) for suffix in self.suffixes))

    def _listed_explicitly(self, host: str, address: Address) -> bool:
        return host in self.hosts or any(address in net for net in self.networks)

    def check_url(self, url: str) -> list[str]:
        """The resolved addresses of `url`'s host, all allowed; raises BlockedURLError otherwise."""
        parts, host = self._split(url)
        shown = f"{parts.scheme}://{host}" if parts is not None and host else "this address"
        if parts is None or not host:
            raise self._blocked(shown, "the URL has no host or does not parse")
        if parts.scheme not in self.schemes:
            raise self._blocked(shown, f"scheme {parts.scheme!r} not allowed")
        if not self.allows_host(host):
            raise self._blocked(shown, "host matches no allowed pattern")
        try:
            port = parts.port
            resolved = self.resolver(host, port)
        except (OSError, ValueError, UnicodeError) as exc:
            raise self._blocked(shown, f"resolution failed: {exc}") from None
        if not resolved:
            raise self._blocked(shown, "resolved to no address")
        for text in resolved:
            address = _parse_address(text)
            if address is None:
                raise self._blocked(shown, f"resolved to something not an address: {text!r}")
            if is_internal_address(address) and not self._listed_explicitly(host, address):
                raise self._blocked(shown, f"resolves to internal address {address}")
        return list(resolved)

    def httpx_hooks(self, asynchronous: bool = False) -> dict:
        """`event_hooks` for an httpx client: every request, redirect hops included, is checked first."""
        def check(request) -> None:
            self.check_url(str(request.url))

        async def check_async(request) -> None:
            check(request)

        return {"request": [check_async if asynchronous else check]}

    @staticmethod
    def _split(url: str):
        if not isinstance(url, str) or any(ch in url for ch in "\x00\r\n\t ") or len(url) > 4096:
            return None, ""
        try:
            parts = urlsplit(url.strip())
            host = (parts.hostname or "").lower().rstrip(".")
        except ValueError:
            return None, ""
        return parts, host

    @staticmethod
    def _blocked(shown: str, reason: str) -> BlockedURLError:
        return BlockedURLError(f"{shown} is not reachable from this server: it connects only to the hosts its "
                               "operator allowed (ask for the host to be added to the allow-list)", reason)
