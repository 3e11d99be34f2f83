"""Which broker `make demo|up|bench` run on, from SCOREKEEPER_BUS / SCOREKEEPER_BUS_URL."""

from __future__ import annotations

import pytest

from shared.devstack.stack import bus_from_env


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ("nats", "")),
        ({"SCOREKEEPER_BUS": "kafka"}, ("kafka", "")),
        ({"SCOREKEEPER_BUS": " Kafka "}, ("kafka", "")),
        ({"SCOREKEEPER_BUS_URL": "kafka://127.0.0.1:9092"}, ("kafka", "kafka://127.0.0.1:9092")),
        (
            {"SCOREKEEPER_BUS": "kafka", "SCOREKEEPER_BUS_URL": "kafka://b1:9092,b2:9092"},
            ("kafka", "kafka://b1:9092,b2:9092"),
        ),
        ({"SCOREKEEPER_BUS_URL": "nats://127.0.0.1:4222"}, ("nats", "nats://127.0.0.1:4222")),
    ],
)
def test_the_url_names_the_broker_else_the_bus_setting_does(environ: dict[str, str], expected: tuple[str, str]) -> None:
    assert bus_from_env(environ) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SCOREKEEPER_BUS": "rabbit"}, "SCOREKEEPER_BUS='rabbit': use nats or kafka"),
        (
            {"SCOREKEEPER_BUS": "nats", "SCOREKEEPER_BUS_URL": "kafka://127.0.0.1:9092"},
            "SCOREKEEPER_BUS=nats but SCOREKEEPER_BUS_URL is a kafka URL",
        ),
        (
            {"SCOREKEEPER_BUS_URL": "amqp://127.0.0.1"},
            "SCOREKEEPER_BUS_URL='amqp://127.0.0.1': use kafka://host:port or nats://host:port",
        ),
    ],
)
def test_a_contradiction_or_an_unknown_broker_is_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        bus_from_env(environ)
    assert str(refused.value) == message
