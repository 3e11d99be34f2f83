"""What every command shares: the connection, the exit codes, and names resolved to ids."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Console
from rich.text import Text

from scorekeeper_sdk.api.testsets import AddedFrom
from scorekeeper_sdk.baselines import PREVIOUS, described
from scorekeeper_sdk.clients import Scorekeeper
from scorekeeper_sdk.config import Settings, resolve
from scorekeeper_sdk.models import Metric, Schedule, SystemVersion, Testset
from scorekeeper_sdk.views import Run

# Exit codes (documented in the README and `scorekeeper --help`).
OK = 0
GATE_FAILED = 1
USAGE = 2
RUN_FAILED = 3
# What the CLI's calls say they come from (x-scorekeeper-client; the audit log shows it).
CLIENT = "scorekeeper-cli"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class CliError(Exception):
    """Ends the command with one line on stderr and an exit code."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def is_id(text: str) -> bool:
    return bool(_UUID.match(text))


def key_value(given: str, option: str) -> tuple[str, Any]:
    """An option's KEY=VALUE: the value as JSON (3, true, "a b", [1, 2]) when it parses, else text."""
    key, sep, raw = given.partition("=")
    if not sep or not key:
        raise CliError(f"{option} takes KEY=VALUE, got {given!r}")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def metric_thresholds(st: State, texts: list[str], option: str) -> dict[str, float]:
    """METRIC=THRESHOLD options (a fraction, or a percentage with %), by metric id."""
    thresholds: dict[str, float] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            below = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
        except ValueError:
            raise CliError(f"{option} takes METRIC=THRESHOLD, got {text!r}") from None
        thresholds[st.metrics([key.strip()])[0].id] = below
    return thresholds


@dataclass
class State:
    """The global options, and a client made from them on first use."""

    url: str | None = None
    query_url: str | None = None
    api_key: str | None = None
    project: str | None = None
    debug: bool = False
    # No markup: names, inputs and messages are printed as written ("[x] + 1?" is not a style); the
    # few styled words are Text with their style.
    out: Console = field(default_factory=lambda: Console(markup=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, markup=False))
    _client: Scorekeeper | None = None
    _project_id: str | None = None

    def settings(self) -> Settings:
        resolved = resolve(self.url, self.api_key, query_url=self.query_url, project=self.project)
        return replace(resolved, client=CLIENT)

    @property
    def client(self) -> Scorekeeper:
        if self._client is None:
            self._client = Scorekeeper(settings=self.settings())
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def project_id(self) -> str:
        """--project / SCOREKEEPER_PROJECT / the saved project (an id or a name), else the key's own."""
        if self._project_id is None:
            given = self.client.settings.project
            if not given:
                me = self.client.who_am_i()
                if not me.project_id:
                    raise CliError(
                        "this key belongs to no project (the instance admin key):"
                        " name one with --project or SCOREKEEPER_PROJECT"
                    )
                given = me.project_id
            self._project_id = given if is_id(given) else self._project_named(given)
        return self._project_id

    def _project_named(self, name: str) -> str:
        matches = [p.id for p in self.client.list_projects() if p.name == name]
        if not matches:
            raise CliError(f"no project named {name!r} (see `scorekeeper projects list`)")
        if len(matches) > 1:  # the first would be a guess: the commands would act on the wrong one
            raise CliError(f"{len(matches)} projects are named {name!r} ({', '.join(sorted(matches))}): give the id")
        return matches[0]

    def testset(self, name_or_id: str) -> Testset:
        """A testset by id, or the newest of that name in the project."""
        if is_id(name_or_id):
            return self.client.get_testset(name_or_id)
        for testset in self.client.list_testsets(self.project_id()):
            if testset.name == name_or_id:
                return testset
        raise CliError(f"no testset named {name_or_id!r} in this project (see `scorekeeper testsets list`)")

    def schedule(self, name_or_id: str) -> Schedule:
        """A schedule of the project by its id or its name."""
        found = self.client.list_schedules(self.project_id())
        matches = [s for s in found if (s.id if is_id(name_or_id) else s.name) == name_or_id]
        if not matches:
            raise CliError(f"no schedule {name_or_id!r} in this project (see `scorekeeper schedules list`)")
        return matches[0]

    def metrics(self, names_or_ids: list[str], project_id: str | None = None) -> list[Metric]:
        """Metrics by id or name (of ``project_id``, by default the command's project), in order;
        archived ones too, so that the server says so when a run names one."""
        if not names_or_ids:
            return []
        known = self.client.list_metrics(project_id or self.project_id(), include_archived=True)
        found = []
        for given in names_or_ids:
            match = [m for m in known if given in (m.id, m.name)]
            if not match:
                raise CliError(f"no metric {given!r} in this project (see `scorekeeper metrics list`)")
            # A name an archived metric shares with a live one is the live one's; two live ones: ambiguous.
            live = [m for m in match if not m.archived_at] or match
            if len(live) > 1:
                ids = ", ".join(sorted(m.id for m in live))
                raise CliError(f"{len(live)} metrics are named {given!r} ({ids}): give the id")
            found.append(live[0])
        return found

    def previous_run(self, run_id: str, tags: Sequence[str] = ()) -> Run | None:
        """The run RUN is compared with as "previous" (scorekeeper_sdk.baselines), said on stderr;
        None when there is none."""
        found = self.client.previous_run(run_id, tags=tags)
        if found is not None:
            version = found.system_version
            named = f"{version.system_name} {version.name}, " if version else ""
            when = found.created_at.replace("T", " ")[:16]
            self.err.print(
                f"baseline: {found.id}, the previous run ({named}{when} UTC, {found.status})", highlight=False
            )
        return found

    def baseline(self, given: str, run_id: str, tags: Sequence[str] = ()) -> str:
        """A command's baseline run: its id as given, or "previous" resolved for RUN (among the runs
        with every one of ``tags``); a usage error when there is none."""
        if given != PREVIOUS:
            if tags:
                raise CliError("--baseline-tag picks the previous run among those tagged: give --baseline previous")
            return given
        found = self.previous_run(run_id, tags)
        if found is None:
            run = self.client.get_run(run_id)
            raise CliError(f"previous: {described(run.testset_name, tags)} before run {run_id}")
        return found.id

    def system_version(self, given: str) -> SystemVersion:
        """A system version by id, or ``SYSTEM[:VERSION]`` names (the production version by default)."""
        if is_id(given):
            return self._version_by_id(given)
        system_name, _, version_name = given.partition(":")
        systems = [s for s in self.client.list_systems(self.project_id()) if s.system.name == system_name]
        if not systems:
            raise CliError(f"no system named {system_name!r} in this project (see `scorekeeper systems list`)")
        detail = systems[0]
        for version in reversed(detail.versions):
            if version.name == version_name or (not version_name and version.id == detail.system.production_version_id):
                return version
        if not version_name and detail.versions:
            return detail.versions[-1]
        raise CliError(f"system {system_name!r} has no version {version_name!r}")

    def _version_by_id(self, version_id: str) -> SystemVersion:
        for system in self.client.list_systems(self.project_id()):
            for version in system.versions:
                if version.id == version_id:
                    return version
        raise CliError(f"system version {version_id} does not exist")


def said_added(st: State, testset_name: str, done: AddedFrom) -> None:
    """What adding calls or records to a testset did: "2 testcases added to 'regressions', now
    version 5; 1 already held"."""
    left = [
        f"{n:,} {what}"
        for n, what in ((done.already, "already held"), (done.no_output, "errored, with no output to keep"))
        if n
    ]
    said = f"{done.added:,} testcases added to {testset_name!r}"
    said += f", now version {done.testset.version}" if done.added else " (no new version)"
    st.out.print(Text(said + (f"; {', '.join(left)}" if left else "")))
