"""`scorekeeper monitors test-alert | mute | unmute`: a monitor's alerts tried before they matter,
and quiet while an incident is handled."""

from __future__ import annotations

from typing import Annotated

import typer

from scorekeeper_sdk.cli.app import state
from scorekeeper_sdk.cli.context import CliError
from scorekeeper_sdk.cli.monitors import find_monitor, monitors, tested


@monitors.command("test-alert")
def monitors_test_alert(
    ctx: typer.Context,
    monitor: Annotated[str, typer.Argument(help="Monitor id or name.")],
    timeout_s: Annotated[float, typer.Option(min=1, help="How long to wait for the URL's answer.")] = 60,
) -> None:
    """POST a test alert to the monitor's alert URL now (signed and formatted as its alerts are) and
    say what the URL answered; exit 1 unless it was delivered."""
    st = state(ctx)
    target = find_monitor(st, monitor)
    sent = st.client.test_monitor_alert(target.id, wait_s=timeout_s)
    st.out.print(f"{target.name}: test alert {tested(sent)} — {target.alert.webhook_url}", highlight=False)
    if sent.status != "delivered":
        if not sent.settled:
            st.err.print(f"no answer yet after {timeout_s:g}s: is a system-executor running?", highlight=False)
        raise typer.Exit(1)


_UNITS = {"m": 1, "h": 60, "d": 24 * 60}


def minutes_of(text: str) -> int:
    """A duration such as 90m, 2h, 1d (or a number of minutes) in minutes."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:], 0)
    number = value[:-1] if unit else value
    if not number.isdigit() or int(number) == 0:
        raise CliError(f"--for takes a duration such as 30m, 2h or 1d, got {text!r}")
    return int(number) * (unit or 1)


@monitors.command("mute")
def monitors_mute(
    ctx: typer.Context,
    monitor: Annotated[str, typer.Argument(help="Monitor id or name.")],
    for_: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d (at most 7d).")] = "1h",
) -> None:
    """Mute the monitor's alerts for a while (windows decided meanwhile POST nothing)."""
    st = state(ctx)
    done = st.client.update_monitor(find_monitor(st, monitor).id, mute_alert_minutes=minutes_of(for_))
    st.out.print(f"monitor {done.name!r}: alerts muted until {done.alert_muted_until[:19]} UTC", highlight=False)


@monitors.command("unmute")
def monitors_unmute(ctx: typer.Context, monitor: Annotated[str, typer.Argument(help="Monitor id or name.")]) -> None:
    """Its alerts are POSTed again from the next window decided."""
    st = state(ctx)
    done = st.client.update_monitor(find_monitor(st, monitor).id, mute_alert_minutes=0)
    st.out.print(f"monitor {done.name!r}: alerts on", highlight=False)
