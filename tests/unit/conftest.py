"""Fixtures the unit tests share: the fake ``http`` system (a real HTTP server), one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_system import FakeSystemServer, fake_system_server

system_server = pytest.fixture(scope="module")(fake_system_server)


@pytest.fixture
def system(system_server: FakeSystemServer) -> Iterator[FakeSystemServer]:
    """The module's fake system, with no scripted answers left over from another test."""
    system_server.reset()
    yield system_server
    system_server.reset()
