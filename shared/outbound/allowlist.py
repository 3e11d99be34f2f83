"""Which hosts Scorekeeper may call out to (``http`` and ``llm`` systems, LLM judges, webhooks),
enforced where the connection is opened.

The operator lists hostnames, ``*.example.com`` wildcards and CIDRs in ``SCOREKEEPER_ALLOWED_HOSTS``
(``*`` allows everything). An address may be connected to when

- it lies in a listed CIDR (whatever name led to it), or
- the URL's host name is listed (exactly or by a wildcard) and the address is a public one.

So a listed name can never be pointed (by its owner, or by DNS rebinding) at a loopback, private
or link-local address that is not itself listed. The check runs in the connection pool's network
backend, on every new connection: the backend resolves the name itself, checks *every* address
the name resolves to, then connects to a checked address (TLS still verifies and sends SNI for
the host name). Redirect hops open their own connections, so they are checked the same way.

Whatever the allowlist says, the platform's own listeners (``SCOREKEEPER_PLATFORM_ADDRESSES``:
the orchestrator, query service, console, PostgreSQL, the broker …) are never reached: a system
version must not be able to call the API it is evaluated by, even when loopback is allowed.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpcore2
import httpx
import httpx2

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

    def with_names(self, hosts: Iterable[str]) -> HostAllowlist:
        """This allowlist plus exact host names (the endpoints the operator configured)."""
        extra = {h.lower().rstrip(".") for h in hosts if h}
        return HostAllowlist(self.allow_all, self.names | extra, self.suffixes, self.networks)

    def check(self, host: str, addresses: Iterable[str], label: str = "system URL", owner: str = "executor") -> None:
        """HostNotAllowed unless every address ``host`` resolved to may be connected to; the
        message names the ``label`` ("system URL", "judge endpoint") and whose allowlist it is."""
        if self.allow_all:
            return
        literal = _address(host.strip("[]"))
        named = literal is None and self.names_host(host)
        for text in addresses:
            address = _address(text)
            if address is None:
                raise HostNotAllowed(f"{label} host {host!r} resolves to {text!r}, which is not an IP address")
            if any(address in network for network in self.networks):
                continue
            if named and address.is_global:
                continue
            if named:
                raise HostNotAllowed(
                    f"{label} host {host!r} resolves to {address}, which is not allowed: a name in the "
                    f"{owner}'s allowlist ({ENV_NAME}) may reach a non-public address only when that "
                    "address is listed too"
                )
            raise HostNotAllowed(f"{label} host {host!r} is not in the {owner}'s allowlist ({ENV_NAME})")


PLATFORM_ENV_NAME = "SCOREKEEPER_PLATFORM_ADDRESSES"


@dataclass(frozen=True)
class PlatformListeners:
    """The platform's own ``host:port`` listeners (``SCOREKEEPER_PLATFORM_ADDRESSES``), never called.

    A listener on a loopback or unspecified address (``127.0.0.1:8080``, ``0.0.0.0:8080``) is
    refused on every local address with its port, since any of them reaches it; a named one
    (``postgres:5432``) is refused on the addresses its name resolves to, with its port."""

    local_ports: frozenset[int] = frozenset()
    named: tuple[tuple[str, int], ...] = ()

    @classmethod
    def parse(cls, text: str) -> PlatformListeners:
        """ValueError naming an entry that is not ``host:port``."""
        local: set[int] = set()
        named: list[tuple[str, int]] = []
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            host, sep, port_text = entry.rpartition(":")
            host = host.strip("[]").lower()
            if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError(f"{entry!r} is not host:port")
            address = _address(host)
            if host == "localhost" or (address is not None and (address.is_loopback or address.is_unspecified)):
                local.add(int(port_text))
            else:
                named.append((host, int(port_text)))
        return cls(frozenset(local), tuple(named))

    async def check(self, host: str, addresses: list[str], port: int, label: str, resolver: Resolver) -> None:
        """HostNotAllowed when ``host:port`` (resolved to ``addresses``) is one of the listeners."""
        refused = f"{label} {host}:{port} is one of Scorekeeper's own listeners ({PLATFORM_ENV_NAME}), never called"
        if port in self.local_ports:
            for text in addresses:
                address = _address(text)
                if address is not None and (address.is_loopback or address.is_unspecified or _is_local(address)):
                    raise HostNotAllowed(refused)
        for name, listener_port in self.named:
            if listener_port != port:
                continue
            if name == host.lower() or set(addresses) & set(await _resolved(name, port, resolver)):
                raise HostNotAllowed(refused)


class ResolveFailed(Exception):
    """A host name that resolves to nothing (each backend raises its own ConnectError for it)."""


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` in the resolver's order, without repeats."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolveFailed(f"cannot resolve {host!r}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _resolved(name: str, port: int, resolver: Resolver) -> list[str]:
    try:
        return await resolver(name, port)
    except ResolveFailed:
        return []


def _is_local(address: IpAddress) -> bool:
    """An address of this machine's own interfaces (a listener on 0.0.0.0 answers on them)."""
    return str(address) in _local_addresses()


@functools.cache
def _local_addresses() -> frozenset[str]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        return frozenset()
    return frozenset(str(info[4][0]) for info in infos)


class Gate:
    """The platform and allowlist checks of one kind of outbound call, between resolving a host
    and connecting to it: what each HTTP client's connection layer asks before it connects."""

    def __init__(
        self,
        allowlist: HostAllowlist,
        *,
        platform: PlatformListeners | None = None,
        resolver: Resolver = resolve,
        label: str = "system URL",
        owner: str = "executor",
    ) -> None:
        self._allowlist = allowlist
        self._platform = platform if platform is not None else PlatformListeners()
        self._resolve = resolver
        self.label = label
        self._owner = owner

    async def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to for ``host:port``: ResolveFailed when it resolves to
        nothing, HostNotAllowed when any address it resolves to may not be called."""
        addresses = await self._resolve(host, port)
        if not addresses:
            raise ResolveFailed(f"{host!r} resolves to no address")
        await self._platform.check(host, addresses, port, self.label, self._resolve)
        self._allowlist.check(host, addresses, self.label, self._owner)
        return addresses


class _GatedBackend:
    """An httpcore network backend that passes the Gate before connecting. httpx and httpx2 (the
    openai client's fork) each have their own httpcore, so each gets a subclass naming its module
    in ``_core``."""

    _core: Any

    def __init__(
        self,
        allowlist: HostAllowlist,
        *,
        platform: PlatformListeners | None = None,
        resolver: Resolver = resolve,
        inner: Any = None,
        label: str = "system URL",
        owner: str = "executor",
    ) -> None:
        self._gate = Gate(allowlist, platform=platform, resolver=resolver, label=label, owner=owner)
        self._inner = inner if inner is not None else self._core.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        core = self._core
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._gate.addresses(host, port)
        except TimeoutError as exc:
            raise core.ConnectTimeout(f"resolving {host!r} took longer than {timeout}s") from exc
        except ResolveFailed as exc:
            raise core.ConnectError(str(exc)) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (core.ConnectError, core.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> Any:
        raise HostNotAllowed(f"{self._gate.label}s are called over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class AllowlistBackend(_GatedBackend, httpcore.AsyncNetworkBackend):
    """For httpx (the executor's calls of http systems)."""

    _core = httpcore


class _Allowlist2Backend(_GatedBackend, httpcore2.AsyncNetworkBackend):
    """For httpx2 (the openai client: llm systems and judges)."""

    _core = httpcore2


def _gated(transport: Any, backend: _GatedBackend) -> None:
    pool = transport._pool
    # httpx builds its httpcore pool itself and offers no parameter for the network backend.
    if not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpx/httpcore version does not allow the allowlist's network backend")
    pool._network_backend = backend


def outbound_http_client(
    allowlist: HostAllowlist,
    *,
    max_connections: int,
    platform: PlatformListeners | None = None,
    resolver: Resolver = resolve,
    label: str = "system URL",
    owner: str = "executor",
) -> httpx.AsyncClient:
    """The client the executor calls http systems with: every connection passes the platform check
    and the allowlist; no proxies from the environment (a proxy would connect on our behalf,
    unchecked); redirects are followed by the caller, hop by hop."""
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        trust_env=False,
    )
    _gated(transport, AllowlistBackend(allowlist, platform=platform, resolver=resolver, label=label, owner=owner))
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)


def openai_http_client(
    allowlist: HostAllowlist,
    *,
    max_connections: int,
    platform: PlatformListeners | None = None,
    label: str,
    owner: str,
) -> httpx2.AsyncClient:
    """The same checks for the openai client (llm systems, judges), which speaks httpx2."""
    transport = httpx2.AsyncHTTPTransport(
        limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        trust_env=False,
    )
    _gated(transport, _Allowlist2Backend(allowlist, platform=platform, label=label, owner=owner))
    return httpx2.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)


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
