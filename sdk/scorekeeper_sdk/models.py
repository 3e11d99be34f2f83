"""What the SDK returns for the catalog, testsets and keys: plain frozen dataclasses.

Field names and meanings are those of the proto messages (``proto/scorekeeper/v1``); times are
RFC 3339 strings as the server sends them; JSON documents (configs, testcase data) are dicts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Project:
    """A project: every other entity belongs to exactly one."""

    id: str
    name: str
    description: str = ""
    created_at: str = ""
    # Its logged calls are deleted this many days after they were logged (but those an open
    # window holds); 0: kept for ever (or as long as the instance's limit allows).
    call_retention_days: int = 0
    # The most days this instance keeps any project's logged calls; 0: no limit.
    call_retention_limit_days: int = 0

    @property
    def calls_kept_days(self) -> int:
        """The days its logged calls are kept, its own capped by the instance's limit; 0: for ever."""
        days, limit = self.call_retention_days, self.call_retention_limit_days
        return (min(days, limit) if days else limit) if limit else days


@dataclass(frozen=True)
class ApiKey:
    """An API key of a project (never its secret); ``role`` is read, write, admin or instance_admin."""

    id: str
    project_id: str
    name: str
    role: str
    prefix: str = ""
    created_at: str = ""
    last_used_at: str = ""
    revoked_at: str = ""
    expires_at: str = ""  # "" for a key that never expires


@dataclass(frozen=True)
class AuditTarget:
    """The ids a call named in one request field (run_id, record_ids …; at most 10 listed, ``count``
    in all), or ``created``: the id of what it made."""

    field: str
    ids: list[str] = dataclasses.field(default_factory=list)
    count: int = 0


@dataclass(frozen=True)
class AuditEvent:
    """One call in a project's audit log: a change a key made, or an attempt at one it was refused."""

    id: str
    project_id: str
    at: str
    key_id: str  # "" for the instance admin key
    key_name: str
    key_prefix: str
    key_role: str
    # The RPC: CreateRun, RevokeApiKey …; grpc | http.
    action: str
    edge: str
    targets: list[AuditTarget] = field(default_factory=list)
    name: str = ""
    # OK, or the error's code (PERMISSION_DENIED, NOT_FOUND …) and its message.
    outcome: str = "OK"
    error: str = ""
    # The program it came from: scorekeeper-sdk, scorekeeper-cli, scorekeeper-console, curl/8.5.0 …
    client: str = ""


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: ``secret`` is the whole key, shown here and nowhere else, ever."""

    key: ApiKey
    secret: str


@dataclass(frozen=True)
class RotatedApiKey:
    """A key made in place of ``replaced`` (the same name and role): ``secret`` is the whole new
    key, shown here and nowhere else; ``replaced`` is revoked, or expires at the end of the grace."""

    key: ApiKey
    secret: str
    replaced: ApiKey


@dataclass(frozen=True)
class Schedule:
    """A run kicked off each time ``cron`` comes due in ``timezone`` (IANA): of
    ``system_version_id``, or of the production version of ``system_id`` at that time.
    ``last_error`` says why the last firing made no run; ``next_run_at`` (UTC) is "" while it is
    paused."""

    id: str
    project_id: str
    name: str
    cron: str
    testset_id: str
    system_version_id: str = ""
    system_id: str = ""
    metric_ids: list[str] = field(default_factory=list)
    metric_group_id: str = ""
    trials: int = 1
    tags: list[str] = field(default_factory=list)
    paused_at: str = ""
    next_run_at: str = ""
    last_fired_at: str = ""
    last_run_id: str = ""
    last_error: str = ""
    created_at: str = ""
    timezone: str = "UTC"


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST to a webhook: ``event`` run.finished | webhook.test; ``status`` pending | sending |
    retrying | delivered | failed; ``response_status`` 0 without an answer."""

    id: str
    webhook_id: str
    event: str
    status: str
    run_id: str = ""
    run_status: str = ""
    attempts: int = 0
    response_status: int = 0
    error: str = ""
    created_at: str = ""
    delivered_at: str = ""
    next_attempt_at: str = ""


@dataclass(frozen=True)
class AlertThreshold:
    """Alert below this: a metric's pass rate (0..1, boolean) or mean (int, float) in a run."""

    metric_id: str
    below: float


@dataclass(frozen=True)
class Webhook:
    """A URL of the project told when its runs move to one of ``statuses`` (never its secret)."""

    id: str
    project_id: str
    name: str
    url: str
    format: str
    statuses: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    created_at: str = ""
    last_delivery: WebhookDelivery | None = None
    # When it was paused (told of no run); "" while it is active.
    paused_at: str = ""
    # Told of a completed run only when one of these metrics is below its threshold (empty: always).
    below: list[AlertThreshold] = field(default_factory=list)


@dataclass(frozen=True)
class NewWebhook:
    """A webhook just created (or its secret rotated): ``secret`` signs its POSTs, shown here only."""

    webhook: Webhook
    secret: str


@dataclass(frozen=True)
class Metric:
    """A metric at one version; ``heuristic`` / ``ai`` hold the config of its eval type."""

    id: str
    project_id: str
    name: str
    eval_type: str
    output_type: str
    version_id: str
    version: int
    description: str = ""
    guidelines: str = ""
    passing_threshold: float | None = None
    created_at: str = ""
    heuristic: dict[str, Any] | None = None
    ai: dict[str, Any] | None = None
    expected_label_field: str = ""
    # Scoring reads a record's expected values (a logged call without them cannot be scored well).
    reads_expected: bool = False
    archived_at: str = ""  # when it was archived (left out of metric lists, refused for new runs); "" if not


@dataclass(frozen=True)
class MetricGroup:
    """A named set of metrics a run can be scored with."""

    id: str
    project_id: str
    name: str
    metric_ids: list[str] = field(default_factory=list)
    created_at: str = ""


@dataclass(frozen=True)
class System:
    """An AI system; its versions are immutable."""

    id: str
    project_id: str
    name: str
    description: str = ""
    production_version_id: str = ""
    created_at: str = ""


@dataclass(frozen=True)
class SystemVersion:
    """One immutable version of a system: ``kind`` http, llm or sdk, and its config."""

    id: str
    system_id: str
    name: str
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


@dataclass(frozen=True)
class SystemWithVersions:
    """A system and every version of it, oldest first."""

    system: System
    versions: list[SystemVersion] = field(default_factory=list)


@dataclass(frozen=True)
class FieldMapping:
    """Which testcase fields are the system's inputs, the expected outputs and metadata."""

    inputs: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Testset:
    """A testset as of ``version`` (the latest unless one was asked for)."""

    id: str
    project_id: str
    name: str
    version: int
    testcase_count: int
    latest_version: int
    field_mapping: FieldMapping = field(default_factory=FieldMapping)
    json_schema: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    invalid_testcase_count: int = 0
    created_at: str = ""


@dataclass(frozen=True)
class TestsetVersion:
    """One version of a testset and what changed in it."""

    version: int
    change: str
    testcase_count: int
    invalid_testcase_count: int = 0
    created_at: str = ""


@dataclass(frozen=True)
class TestcaseError:
    """A schema violation of a testcase: a JSON Pointer into its data and the message."""

    path: str
    message: str


@dataclass(frozen=True)
class Testcase:
    """A testcase: its data and what the field mapping derives from it."""

    id: str
    testset_id: str
    position: int
    data: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    validation_errors: list[TestcaseError] = field(default_factory=list)
    since_version: int = 0


@dataclass(frozen=True)
class TestcaseChange:
    """A testcase added, removed or changed between two versions, as it was (``before``) and is
    (``after``); None on the side it is missing from."""

    change: str
    testcase_id: str
    before: Testcase | None = None
    after: Testcase | None = None


@dataclass(frozen=True)
class TestsetChanges:
    """One page of what changed between two versions of a testset; the counts cover all of it."""

    testset_id: str
    from_version: int
    to_version: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    unchanged: int = 0
    schema_changed: bool = False
    mapping_changed: bool = False
    changes: list[TestcaseChange] = field(default_factory=list)
    next_page_token: str = ""


@dataclass(frozen=True)
class ImportResult:
    """A finished import: the testset at its new version and how many testcases were read."""

    testset: Testset
    imported: int
