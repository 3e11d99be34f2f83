"""The console's monitor form as the CreateMonitor request it asks for: the alert's slice fields."""

from __future__ import annotations

import pytest
from scorekeeper.v1 import monitors_pb2 as mpb
from starlette.datastructures import FormData

from services.console.pages.monitors import MonitorFormError, create_request, monitor_values


def _form(**fields: str) -> FormData:
    base = {"name": "prod", "sample_rate": "10", "window": "60", "window_kind": "minutes"}
    return FormData({**base, **fields})


def test_slice_fields_are_split_at_commas_outside_quotes() -> None:
    made = create_request("p", _form(alert_slices=' metadata.lang , metadata."a,b",, ', min_slice_calls="5"))
    assert list(made.alert.slice_fields) == ["metadata.lang", 'metadata."a,b"']
    assert made.alert.min_slice_calls == 5
    # Left empty: no slices, and the API's default number of calls.
    plain = create_request("p", _form())
    assert (list(plain.alert.slice_fields), plain.alert.min_slice_calls) == ([], 0)
    # The Edit form shows them back as they were given.
    values = monitor_values(mpb.Monitor(name="prod", sample_rate=10, window_minutes=60, alert=made.alert))
    assert (values["alert_slices"], values["min_slice_calls"]) == ('metadata.lang, metadata."a,b"', "5")


def test_a_bad_slice_entry_is_said_on_the_form() -> None:
    with pytest.raises(MonitorFormError, match=r"^the slice fields: a double quote is not closed$"):
        create_request("p", _form(alert_slices='metadata."lang'))
    with pytest.raises(MonitorFormError, match=r"^The calls a slice needs must be a number, got 'many'$"):
        create_request("p", _form(alert_slices="metadata.lang", min_slice_calls="many"))
