"""Settings of the services that call out (system-executor, scorer)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, field_validator

from shared.outbound.allowlist import DEFAULT_ALLOWED_HOSTS, HostAllowlist, PlatformListeners


class OutboundSettings(BaseModel):
    """Mix into a service's settings (``SCOREKEEPER_ALLOWED_HOSTS``, ``SCOREKEEPER_PLATFORM_ADDRESSES``)."""

    # Hosts calls may go to: comma-separated hostnames, "*.example.com" wildcards and CIDRs; "*"
    # allows everything. A listed name may reach public addresses; a loopback, private or
    # link-local address must be listed itself (see shared/outbound/allowlist.py).
    allowed_hosts: str = DEFAULT_ALLOWED_HOSTS
    # The platform's own listeners, host:port, comma-separated: never called, whatever is allowed.
    platform_addresses: str = ""

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_parse(cls, allowed_hosts: str) -> str:
        HostAllowlist.parse(allowed_hosts)
        return allowed_hosts

    @field_validator("platform_addresses")
    @classmethod
    def _platform_parses(cls, text: str) -> str:
        PlatformListeners.parse(text)
        return text

    def allowlist(self, *configured_urls: str) -> HostAllowlist:
        """The allowlist, plus the hosts of endpoints the operator configured (a default judge)."""
        hosts = [urlsplit(url).hostname or "" for url in configured_urls]
        return HostAllowlist.parse(self.allowed_hosts).with_names(hosts)

    def platform(self) -> PlatformListeners:
        return PlatformListeners.parse(self.platform_addresses)
