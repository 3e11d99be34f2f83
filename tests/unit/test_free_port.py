"""Ports for the servers the stack and the tests start are picked where no outgoing connection
can take them before the server binds (shared/embedded.py free_port)."""

from __future__ import annotations

import random
import socket

import pytest

from shared import embedded
from shared.embedded import _ephemeral_low, free_port


def test_free_ports_are_below_the_ephemeral_range_bindable_and_never_repeated() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == 200
    assert all(10_000 <= port < _ephemeral_low() for port in ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))  # nothing listens there


def test_a_port_browsers_refuse_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chromium answers net::ERR_UNSAFE_PORT for 10080: a console there cannot be opened."""
    picks = iter([10_080, 10_080, 23_456])
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.setattr(random, "randint", lambda low, high: next(picks))
    monkeypatch.setattr(embedded, "_HANDED_OUT", set())
    assert free_port() == 23_456


def test_the_suites_workers_each_pick_from_their_own_share_of_the_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers never pick one port in the second before its server binds it."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    for worker in range(3):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{worker}")
        ports = [free_port() for _ in range(50)]
        assert {port % 3 for port in ports} == {worker}
        assert all(10_000 <= port < _ephemeral_low() for port in ports)
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert len({free_port() % 3 for _ in range(60)}) == 3  # one process alone: every port
