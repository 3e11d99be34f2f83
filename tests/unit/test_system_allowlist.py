"""SCOREKEEPER_ALLOWED_HOSTS: parsing, and which (host, resolved addresses) it lets the executor
connect to. The check on real connections is in test_http_system.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.system_executor.settings import ExecutorSettings
from shared.outbound.allowlist import DEFAULT_ALLOWED_HOSTS, HostAllowlist, HostNotAllowed

NOT_LISTED = "system URL host {host!r} is not in the executor's allowlist (SCOREKEEPER_ALLOWED_HOSTS)"
_NOT_PUBLIC = (
    "system URL host {host!r} resolves to {address}, which is not allowed: a name in the executor's allowlist "
    "(SCOREKEEPER_ALLOWED_HOSTS) may reach a non-public address only when that address is listed too"
)
PUBLIC = "93.184.216.34"


def not_public(address: str) -> str:
    return _NOT_PUBLIC.replace("{address}", address)


@pytest.mark.parametrize(
    ("allowed", "host", "addresses", "refusal"),
    [
        # the default: loopback only
        pytest.param(DEFAULT_ALLOWED_HOSTS, "127.0.0.1", ["127.0.0.1"], None, id="default-127.0.0.1"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, "127.8.9.10", ["127.8.9.10"], None, id="default-127/8"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, "::1", ["::1"], None, id="default-ipv6-loopback"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, "localhost", ["::1", "127.0.0.1"], None, id="default-localhost"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, "LocalHost.", ["127.0.0.1"], None, id="default-localhost-dot-case"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, "my.dev", ["127.0.0.1"], None, id="default-any-name-to-loopback"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, "::ffff:127.0.0.1", ["::ffff:127.0.0.1"], None, id="default-v4-mapped"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, PUBLIC, [PUBLIC], NOT_LISTED, id="default-public-ip"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, "example.com", [PUBLIC], NOT_LISTED, id="default-public-name"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, "0.0.0.0", ["0.0.0.0"], NOT_LISTED, id="default-0.0.0.0"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, "10.0.0.1", ["10.0.0.1"], NOT_LISTED, id="default-private"),
        pytest.param(DEFAULT_ALLOWED_HOSTS, "x.test", ["::ffff:10.0.0.1"], NOT_LISTED, id="default-v4-mapped-private"),
        pytest.param(
            DEFAULT_ALLOWED_HOSTS,
            "localhost",
            ["127.0.0.1", "10.0.0.1"],
            not_public("10.0.0.1"),
            id="default-mixed-answers",
        ),
        # exact names and wildcards reach public addresses only
        pytest.param("example.com", "example.com", [PUBLIC], None, id="name"),
        pytest.param("example.com", "EXAMPLE.com.", [PUBLIC], None, id="name-case-and-dot"),
        pytest.param("example.com", "www.example.com", [PUBLIC], NOT_LISTED, id="name-not-subdomain"),
        pytest.param("*.example.com", "a.example.com", [PUBLIC], None, id="wildcard"),
        pytest.param("*.example.com", "a.b.example.com", [PUBLIC], None, id="wildcard-deep"),
        pytest.param("*.example.com", "example.com", [PUBLIC], NOT_LISTED, id="wildcard-not-apex"),
        pytest.param("*.example.com", "evilexample.com", [PUBLIC], NOT_LISTED, id="wildcard-not-suffix-text"),
        pytest.param("*.example.com", "a.example.com.evil.io", [PUBLIC], NOT_LISTED, id="wildcard-not-prefix"),
        pytest.param("*.example.com", "bot.example.com", ["10.1.2.3"], not_public("10.1.2.3"), id="name-to-private"),
        pytest.param(
            "*.example.com",
            "bot.example.com",
            ["169.254.169.254"],
            not_public("169.254.169.254"),
            id="name-to-metadata",
        ),
        pytest.param("*.example.com", "bot.example.com", ["127.0.0.1"], not_public("127.0.0.1"), id="name-to-loopback"),
        pytest.param(
            "example.com", "example.com", [PUBLIC, "10.0.0.1"], not_public("10.0.0.1"), id="name-mixed-answers"
        ),
        pytest.param("*.example.com,10.1.2.3/32", "bot.example.com", ["10.1.2.3"], None, id="name-and-its-address"),
        # CIDRs allow an address whatever name led to it
        pytest.param("10.0.0.0/8", "10.1.2.3", ["10.1.2.3"], None, id="cidr"),
        pytest.param("10.0.0.0/8", "11.0.0.1", ["11.0.0.1"], NOT_LISTED, id="cidr-outside"),
        pytest.param("10.0.0.0/8", "internal.corp", ["10.9.9.9"], None, id="cidr-by-name"),
        pytest.param("10.1.2.3", "10.1.2.3", ["10.1.2.3"], None, id="single-ip-entry"),
        pytest.param("192.168.1.0/24", "192.168.2.1", ["192.168.2.1"], NOT_LISTED, id="cidr-neighbour"),
        pytest.param("fd00::/8", "v6.internal", ["fd12::1"], None, id="ipv6-cidr"),
        pytest.param("[fd00::1]", "fd00::1", ["fd00::1"], None, id="ipv6-bracketed-entry"),
        pytest.param("fd00::/8", "fe80::1", ["fe80::1%eth0"], NOT_LISTED, id="ipv6-zone-outside"),
        # everything
        pytest.param("*", "anything.internal", ["10.0.0.1"], None, id="star"),
        pytest.param("localhost, *", PUBLIC, [PUBLIC], None, id="star-among-others"),
    ],
)
def test_allowlist(allowed: str, host: str, addresses: list[str], refusal: str | None) -> None:
    allowlist = HostAllowlist.parse(allowed)
    if refusal is None:
        allowlist.check(host, addresses)
        return
    with pytest.raises(HostNotAllowed) as caught:
        allowlist.check(host, addresses)
    assert str(caught.value) == refusal.replace("{host!r}", repr(host))


@pytest.mark.parametrize(
    ("allowed", "message"),
    [
        pytest.param("evil example", "'evil example' is not a hostname, a *.domain wildcard or a CIDR", id="space"),
        pytest.param("a.*.com", "'a.*.com' is not a hostname, a *.domain wildcard or a CIDR", id="inner-star"),
        pytest.param("http://x.com", "'http://x.com' is not a hostname, a *.domain wildcard or a CIDR", id="url"),
        pytest.param("10.0.0.0/33", "'10.0.0.0/33' is not a hostname, a *.domain wildcard or a CIDR", id="bad-cidr"),
    ],
)
def test_bad_entries_are_refused_at_startup(allowed: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        HostAllowlist.parse(allowed)
    assert str(caught.value) == message
    with pytest.raises(ValidationError, match="allowed_hosts"):
        ExecutorSettings(allowed_hosts=allowed)


def test_settings_read_the_allowlist_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ExecutorSettings().allowed_hosts == "127.0.0.0/8,::1/128,localhost"
    monkeypatch.setenv("SCOREKEEPER_ALLOWED_HOSTS", "*.example.com, 10.0.0.0/8")
    allowlist = ExecutorSettings().allowlist()
    assert allowlist.names_host("bot.example.com") and not allowlist.names_host("localhost")
    allowlist.check("db.internal", ["10.2.3.4"])
