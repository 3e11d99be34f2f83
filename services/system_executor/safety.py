"""Which hosts the ``http`` system kind may call, enforced where the executor opens connections.

The operator lists hostnames, ``*.example.com`` wildcards and CIDRs in ``SCOREKEEPER_ALLOWED_HOSTS``
(``*`` allows everything). An address may be connected to when

- it lies in a listed CIDR (whatever name led to it), or
- the URL's host name is listed (exactly or by a wildcard) and the address is a public one.

So a listed name can never be pointed (by its owner, or by DNS rebinding) at a loopback, private
or link-local address that is not itself listed. The check runs in the connection pool's network
backend, on every new connection: the backend resolves the name itself, checks *every* address
the name resolves to, then connects to a checked address (TLS still verifies and sends SNI for
the host name). Redirect hops open their own connections, so they are checked the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

ENV_NAME = "SCOREKEEPER_ALLOWED_HOSTS"
DEFAULT_ALLOWED_HOSTS = "127.0.0.0/8,::1/128,localhost"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) → the addresses to connect to, as text.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAME = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


class HostNotAllowed(Exception):
    """A connection the allowlist refuses; ``str()`` is the message for the errored record."""


@dataclass(frozen=True)
class HostAllowlist:
    """The parsed ``SCOREKEEPER_ALLOWED_HOSTS``."""

    allow_all: bool
    names: frozenset[str]  # exact names, lower case, no trailing dot
    suffixes: tuple[str, ...]  # from "*.example.com": ".example.com"
    networks: tuple[IpNetwork, ...]

    @classmethod
    def parse(cls, text: str) -> HostAllowlist:
        """ValueError naming the entry that is neither a hostname, a ``*.`` wildcard nor a CIDR."""
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[IpNetwork] = []
        allow_all = False
        for raw in text.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                allow_all = True
                continue
            network = _network(entry)
            if network is not None:
                networks.append(network)
                continue
            name = entry.rstrip(".")
            if not _NAME.match(name):
                raise ValueError(f"{raw.strip()!r} is not a hostname, a *.domain wildcard or a CIDR")
            if name.startswith("*."):
                suffixes.append(name[1:])
            else:
                names.add(name)
        return cls(allow_all, frozenset(names), tuple(suffixes), tuple(networks))

    def names_host(self, host: str) -> bool:
        """The host name is listed, exactly or by a wildcard (IP literals never are)."""
        name = host.lower().rstrip(".")
        return name in self.names or any(name.endswith(suffix) for suffix in self.suffixes)

    def check(self, host: str, addresses: Iterable[str]) -> None:
        """HostNotAllowed unless every address ``host`` resolved to may be connected to."""
        if self.allow_all:
            return
        literal = _address(host.strip("[]"))
        named = literal is None and self.names_host(host)
        for text in addresses:
            address = _address(text)
            if address is None:
                raise HostNotAllowed(f"system URL host {host!r} resolves to {text!r}, which is not an IP address")
            if any(address in network for network in self.networks):
                continue
            if named and address.is_global:
                continue
            if named:
                raise HostNotAllowed(
                    f"system URL host {host!r} resolves to {address}, which is not allowed: a name in the "
                    f"executor's allowlist ({ENV_NAME}) may reach a non-public address only when that "
                    "address is listed too"
                )
            raise HostNotAllowed(f"system URL host {host!r} is not in the executor's allowlist ({ENV_NAME})")


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` in the resolver's order, without repeats."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AllowlistBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the allowlist check between resolving and connecting."""

    def __init__(
        self,
        allowlist: HostAllowlist,
        *,
        resolver: Resolver = resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allowlist = allowlist
        self._resolve = resolver
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host!r} took longer than {timeout}s") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host!r} resolves to no address")
        self._allowlist.check(host, addresses)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise HostNotAllowed("systems are called over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def system_http_client(
    allowlist: HostAllowlist, *, max_connections: int, resolver: Resolver = resolve
) -> httpx.AsyncClient:
    """The client the executor calls systems with: every connection passes the allowlist; no
    proxies from the environment (a proxy would connect on our behalf, unchecked); redirects are
    followed by the caller, hop by hop."""
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        trust_env=False,
    )
    pool = transport._pool
    # httpx builds its httpcore pool itself and offers no parameter for the network backend.
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpx/httpcore version does not allow the allowlist's network backend")
    pool._network_backend = AllowlistBackend(allowlist, resolver=resolver)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)


def _network(entry: str) -> IpNetwork | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _address(text: str) -> IpAddress | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return address
