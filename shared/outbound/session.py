"""The aiohttp session the executor calls ``http`` systems with: every new connection passes the
same Gate as httpx's (shared/outbound/allowlist.py) — the host is resolved here, every address it
resolves to is checked, and the connection goes to a checked address. IP literals are checked too
(aiohttp would not resolve them), and nothing is cached: each new connection resolves again."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp.abc import ResolveResult

from shared.outbound.allowlist import Gate, HostAllowlist, PlatformListeners, Resolver, resolve


class _GatedConnector(aiohttp.TCPConnector):
    def __init__(self, gate: Gate, *, limit: int) -> None:
        super().__init__(limit=limit, limit_per_host=0, use_dns_cache=False)
        self._gate = gate

    async def _resolve_host(self, host: str, port: int, traces: Sequence[Any] | None = None) -> list[ResolveResult]:
        addresses = await self._gate.addresses(host, port)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for address in addresses
        ]


def outbound_session(
    allowlist: HostAllowlist,
    *,
    max_connections: int,
    platform: PlatformListeners | None = None,
    resolver: Resolver = resolve,
    label: str = "system URL",
    owner: str = "executor",
) -> aiohttp.ClientSession:
    """No proxies from the environment (a proxy would connect on our behalf, unchecked), no
    cookies kept between calls; redirects are followed by the caller, hop by hop."""
    gate = Gate(allowlist, platform=platform, resolver=resolver, label=label, owner=owner)
    return aiohttp.ClientSession(
        connector=_GatedConnector(gate, limit=max_connections),
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )
