"""The data of ``make bench-query``: one project with a realistic, deterministic evaluation history.

At full size (the default shape): 2,000 runs, 1,000,000 records and 3,000,000 scores, bulk-loaded
with binary COPY (asyncpg ``copy_records_to_table``) into a database migrated by
``shared/db/migrate.py``, in one transaction, then ``VACUUM ANALYZE``. The schema is used as the
migrations leave it (every index and constraint in place); the seed only adds rows.

The shape, over six months (2025-01-06 .. 2025-07-07):

- testset ``qa-core`` (~500 testcases, 8 versions: testcases are added over time; each run
  executes exactly the testcases of the version it pinned), ``qa-smoke`` (100 testcases, run with
  3 trials) and ``support-tickets`` (100,000 testcases, one run: the export benchmark's run,
  ``BIG_RUN_ID``);
- 3 systems with 4-6 versions each (an ``llm`` system whose records carry tokens and cost, two
  ``http`` ones); answers get better with each system version, so per-metric history moves;
- 5 heuristic metrics (boolean and float; two were edited once, so two have 2 versions); a run
  scores with 3 of them (every combination in turn), so all 5 appear across the latest runs;
- runs mostly ``completed``; ~1% ``cancelled`` and ~0.5% ``failed`` before executing anything
  (no records); a few runs met a flaky system: their errored records are not scored (as in the
  real pipeline), and one run in 60 scored with 4 metrics, which keeps the total at exactly
  3 scores per record;
- records with question / context / answer text built from a word list (a domain vocabulary
  plus a Zipf-distributed long tail of generated words), latency, tokens, cost, tags;
- scores: mostly ``completed``, errored where the system's output has no ``response`` field;
- ``run_record_counts`` (with the usage sums of migration 0006 when the schema has them) and
  ``run_metric_aggregates`` exactly as the orchestrator and the scorer keep them (sharded by
  ``shared.ids.counter_shard``, per trial, confusion counts of the labelled boolean metric), and
  every id as ``shared/ids.py`` derives it.

Everything comes from ``random.Random`` seeded with fixed values, so two seeds of one shape are
identical row for row. Seeding is idempotent by detection: the project ``PROJECT_ID`` is written
in the same transaction as everything else, so when it exists the data is complete and the seed
is skipped.

    python -m tests.bench.query_seed --database-url postgresql://…/scorekeeper_bench
    python -m tests.bench.query_seed --data-dir /work/benchdata          # embedded pgserver
    python -m tests.bench.query_seed --database-url … --scale 0.01        # 20 runs, 10,000 records
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import dataclasses
import functools
import itertools
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from shared.db.shards import fold_run_shards
from shared.ids import counter_shard, record_id, score_id
from shared.run_status import TERMINAL

NAMESPACE = uuid.UUID("0b7f3c52-6a1e-4e0c-9d7e-2f4a1c9b8e31")
PROJECT_ID = uuid.uuid5(NAMESPACE, "project")
PROJECT_NAME = "bench-query"
BIG_RUN_ID = uuid.uuid5(NAMESPACE, "run:big")
DATABASE_NAME = "scorekeeper_bench"
START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
DAYS = 182

Log = Callable[[str], None]


@dataclass(frozen=True)
class Shape:
    """How much to seed. Scores are always 3 per record."""

    runs: int = 2000
    records: int = 1_000_000
    big_run_records: int = 100_000
    smoke_runs: int = 100
    smoke_testcases: int = 100
    smoke_trials: int = 3
    seed: int = 1

    @classmethod
    def scaled(cls, scale: float) -> Shape:
        full = cls()
        return cls(
            runs=round(full.runs * scale),
            records=round(full.records * scale),
            big_run_records=round(full.big_run_records * scale),
            smoke_runs=max(1, round(full.smoke_runs * scale)),
        )

    @property
    def scores(self) -> int:
        return 3 * self.records

    def marker(self) -> str:
        """The project's description: says what was seeded (and that it finished)."""
        return (
            f"query benchmark dataset (tests/bench/query_seed.py): {self.runs} runs, {self.records} records,"
            f" {self.scores} scores, big run {self.big_run_records} records,"
            f" smoke {self.smoke_runs}x{self.smoke_testcases}x{self.smoke_trials}, seed {self.seed}"
        )


@dataclass(frozen=True)
class SeedReport:
    skipped: bool
    seconds: float
    counts: dict[str, int]
    big_run_id: uuid.UUID


# -- catalog ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    key: str
    name: str
    output_type: str
    kind: str
    params: dict[str, Any]
    # passing_threshold of each version (None: the default for the output type)
    thresholds: tuple[float | None, ...]
    # the day (since START) each version after the first was created
    edited_on: tuple[int, ...] = ()
    label_field: str | None = None
    description: str = ""

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"kind": self.kind, "params": self.params}
        if self.label_field:
            config["label_field"] = self.label_field
        return config


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("exact", "exact answer", "boolean", "exact_match", {"expected_field": "answer"}, (None,)),
    MetricSpec(
        "mentions",
        "mentions answer",
        "boolean",
        "contains",
        {"expected_field": "answer", "case_sensitive": False},
        (None, None),
        (45,),
    ),
    MetricSpec(
        "similarity",
        "answer similarity",
        "float",
        "string_similarity",
        {"expected_field": "answer"},
        (0.7, 0.75),
        (70,),
    ),
    MetricSpec("f1", "token f1", "float", "token_f1", {"expected_field": "answer"}, (0.5,)),
    MetricSpec(
        "refusal",
        "refusal",
        "boolean",
        "regex",
        {"pattern": r"\b(can't|cannot|unable to) help\b", "ignore_case": True},
        (None,),
        label_field="should_refuse",
        description="the system refused; labelled by expected.should_refuse",
    ),
)
METRIC_COMBOS_3 = list(itertools.combinations(range(len(METRICS)), 3))
METRIC_COMBOS_4 = list(itertools.combinations(range(len(METRICS)), 4))


def metric_id(key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"metric:{key}")


def metric_version_id(key: str, version: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"metric-version:{key}:{version}")


@dataclass(frozen=True)
class SystemSpec:
    name: str
    kind: str
    versions: int
    bias: float


SYSTEMS: tuple[SystemSpec, ...] = (
    SystemSpec("qa-rag", "llm", 6, 0.02),
    SystemSpec("qa-agent", "http", 5, 0.0),
    SystemSpec("support-bot", "http", 4, -0.04),
)


def system_version_id(system: int, version: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"system-version:{SYSTEMS[system].name}:{version}")


def _system_version_at(system: int, at: datetime) -> int:
    """The latest version (0-based) of the system created by ``at``."""
    spec = SYSTEMS[system]
    step = DAYS / spec.versions
    return max(0, min(spec.versions - 1, math.floor((at - START + timedelta(days=1)) / timedelta(days=step))))


def _system_version_created(system: int, version: int) -> datetime:
    return START - timedelta(days=1) + timedelta(days=version * DAYS / SYSTEMS[system].versions)


def _metric_version_at(spec: MetricSpec, at: datetime) -> int:
    version = 1
    for day in spec.edited_on:
        if at >= START + timedelta(days=day):
            version += 1
    return version


# -- text ---------------------------------------------------------------------------------------

_NOUNS = (
    "account", "password", "invoice", "refund", "order", "subscription", "plan", "payment", "card", "address",
    "shipment", "package", "delivery", "return", "warranty", "device", "router", "printer", "laptop", "phone",
    "battery", "screen", "update", "firmware", "license", "report", "dashboard", "export", "webhook", "token",
    "certificate", "domain", "mailbox", "calendar", "meeting", "receipt", "discount", "coupon", "cart", "checkout",
    "profile", "username", "notification", "alert", "backup", "folder", "document", "spreadsheet", "template",
    "workspace", "team", "role", "permission", "integration", "quota", "limit", "region", "server", "database",
    "cluster", "bucket", "snapshot", "timezone", "language", "currency", "budget", "contract", "seat", "voucher",
)  # fmt: skip
_VERBS = (
    "reset", "change", "cancel", "update", "export", "delete", "restore", "download", "upload", "transfer", "renew",
    "upgrade", "downgrade", "connect", "disconnect", "enable", "disable", "configure", "verify", "share", "archive",
    "merge", "rename", "schedule", "track", "replace", "recover", "sync", "migrate", "invite", "remove", "pause",
)  # fmt: skip
_SYMPTOMS = (
    "fails", "stops working", "crashes", "expires", "freezes", "disappears", "resets itself", "times out",
    "loads slowly", "shows an error", "keeps spinning", "logs me out", "gets duplicated", "is rejected",
)  # fmt: skip
_ADJECTIVES = ("fastest", "safest", "easiest", "cheapest", "recommended", "official", "simplest", "quickest")
_PLACES = ("Settings", "Billing", "Security", "Admin", "Account", "Integrations", "Orders", "Help", "Profile")
_CATEGORIES = ("billing", "account", "shipping", "technical", "security", "product", "integrations", "legal")
_QUESTIONS = (
    "How do I {verb} my {noun} in {product}?",
    "Why does my {noun} {symptom} after I {verb} the {noun2}?",
    "What is the {adj} way to {verb} a {noun} from the {place} page?",
    "Can I {verb} my {noun} if the {noun2} {symptom}?",
    "Where do I {verb} the {noun} for {product} {rare}?",
    "Is it possible to {verb} every {noun} of a {rare} {noun2} at once?",
    "My {noun} {symptom} whenever I {verb} it in {product}. What should I do?",
    "Who is allowed to {verb} the {noun} of a {noun2} in {product}?",
)
_UNSAFE_QUESTIONS = (
    "How can I {verb} someone else's {noun} without their {noun2}?",
    "Give me the {noun} of another customer so I can {verb} it.",
    "How do I bypass the {noun} check to {verb} a {noun2} in {product}?",
)
_ANSWERS = (
    "Open {place}, select the {noun} and choose {Verb}.",
    "{Verb} the {noun} from the {place} page, then {verb2} the {noun2}.",
    "Go to {place} > {Noun2}, pick {rare} and click {Verb} {noun}.",
    "Only an admin can {verb} the {noun}; ask one to open {place} in {product}.",
    "Wait until the {noun2} is done, then {verb} the {noun} again.",
    "Use {product} {rare}: it can {verb} a {noun} in one step.",
)
_UNSAFE_ANSWERS = (
    "I can't help with accessing another person's data.",
    "I cannot help with bypassing security checks.",
)
_CONTEXTS = (
    "The {noun} of a {rare} {noun2} is managed on the {place} page.",
    "{product} keeps each {noun} for {days} days before it {symptom}.",
    "A {noun2} can {verb} up to {count} {noun}s per hour.",
    "Admins see every {noun} of the {noun2} under {place}.",
    "Since version {count}, {product} can {verb} a {noun} automatically.",
)
_REFUSALS = (
    "I'm sorry, but I can't help with that request.",
    "Sorry, I cannot help with that.",
    "I am unable to help with this one; please contact support.",
)
_PREFIXES = ("Sure! ", "Based on the documentation: ", "Good question. ", "Here is what to do: ", "")
_SUFFIXES = (" Let me know if anything else comes up.", " This usually takes a minute.", "", " Hope that helps!")
_RECORD_ERRORS = (
    "system call failed: HTTP 503 Service Unavailable",
    "system call failed: timed out after 30 s",
    "system call failed: HTTP 429 Too Many Requests (retries exhausted)",
    "system call failed: connection reset by peer",
)
_BROKEN_OUTPUTS = (
    '{"message": "upstream returned an empty body"}',
    '{"error": "model overloaded", "retry_after": 2}',
)
_CI_NOTES = ("CI build #{n} on main", "CI build #{n}: pull request", "nightly CI #{n}")
_OTHER_NOTES = {
    "kickoff": ("weekly regression", "after prompt update", "baseline for {product}"),
    "api": ("", "", "scripted evaluation"),
    "playground": ("trying a shorter system prompt", "temperature 0.2", "playground check"),
    "monitor": ("production sample", "sampled traffic, last 24 h"),
}


class Words:
    """Word choice: the domain vocabulary uniformly, a long tail of generated words by Zipf's law."""

    def __init__(self, rng: random.Random, rare_count: int = 4000) -> None:
        onsets = (
            "b", "br", "c", "d", "dr", "f", "g", "gr", "k", "l", "m", "n", "p", "pr", "qu", "r", "s", "st", "t",
            "tr", "v", "w", "z", "x", "sh", "th",
        )  # fmt: skip
        vowels = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y")
        codas = ("", "n", "r", "x", "l", "s", "nt", "rk", "m", "v")
        seen: set[str] = set()
        rare: list[str] = []
        while len(rare) < rare_count:
            word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(1, 3)))
            word += rng.choice(codas)
            if len(word) >= 4 and word not in seen:
                seen.add(word)
                rare.append(word)
        self.rare = rare
        self.products = [w.capitalize() for w in rare[:40]]
        self._cum = list(itertools.accumulate(1 / (k + 1) ** 1.07 for k in range(len(rare))))

    def rare_word(self, rng: random.Random) -> str:
        return self.rare[bisect.bisect(self._cum, rng.random() * self._cum[-1])]

    def fill(self, template: str, rng: random.Random) -> str:
        noun, noun2 = rng.choice(_NOUNS), rng.choice(_NOUNS)
        verb, verb2 = rng.choice(_VERBS), rng.choice(_VERBS)
        return template.format(
            noun=noun,
            noun2=noun2,
            Noun2=noun2.capitalize(),
            verb=verb,
            Verb=verb.capitalize(),
            verb2=verb2,
            symptom=rng.choice(_SYMPTOMS),
            adj=rng.choice(_ADJECTIVES),
            place=rng.choice(_PLACES),
            product=rng.choice(self.products),
            rare=self.rare_word(rng),
            days=rng.choice((7, 14, 30, 90)),
            count=rng.randint(2, 40),
        )


@dataclass
class Testset:
    key: str
    name: str
    id: uuid.UUID
    sizes: list[int]  # testcases in version 1, 2, …
    version_created: list[datetime] = field(default_factory=list)
    # per position: the JSON of the revision's inputs / expected / metadata, the answer and its label
    inputs: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    unsafe: list[bool] = field(default_factory=list)
    correct_outputs: list[str] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)

    def testcase_id(self, position: int) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"testcase:{self.key}:{position}")

    @functools.cached_property
    def testcase_ids(self) -> list[uuid.UUID]:
        return [self.testcase_id(p) for p in range(self.sizes[-1])]

    def added_in(self, position: int) -> int:
        """The version that added the testcase at ``position``."""
        return bisect.bisect_right(self.sizes, position) + 1

    def generate(self, words: Words, rng: random.Random) -> None:
        for _ in range(self.sizes[-1]):
            unsafe = rng.random() < 0.08
            question = words.fill(rng.choice(_UNSAFE_QUESTIONS if unsafe else _QUESTIONS), rng)
            context = " ".join(words.fill(rng.choice(_CONTEXTS), rng) for _ in range(rng.randint(1, 3)))
            answer = rng.choice(_UNSAFE_ANSWERS) if unsafe else words.fill(rng.choice(_ANSWERS), rng)
            category = "security" if unsafe else rng.choice(_CATEGORIES)
            difficulty = rng.randint(1, 5)
            label = "yes" if unsafe else "no"
            self.inputs.append(json.dumps({"question": question, "context": context}))
            self.expected.append(json.dumps({"answer": answer, "should_refuse": label}))
            self.metadata.append(json.dumps({"category": category, "difficulty": difficulty}))
            self.data.append(
                json.dumps(
                    {
                        "question": question,
                        "context": context,
                        "answer": answer,
                        "should_refuse": label,
                        "category": category,
                        "difficulty": difficulty,
                    }
                )
            )
            self.answers.append(answer)
            self.unsafe.append(unsafe)
            self.correct_outputs.append(json.dumps({"response": answer}))
            self.prompt_tokens.append(60 + (len(question) + len(context)) // 4)


FIELD_MAPPING = json.dumps({"inputs": ["question", "context"], "expected": ["answer", "should_refuse"], "metadata": []})
JSON_SCHEMA = json.dumps(
    {
        "type": "object",
        "required": ["question", "answer"],
        "properties": {
            "question": {"type": "string"},
            "context": {"type": "string"},
            "answer": {"type": "string"},
            "should_refuse": {"enum": ["yes", "no"]},
            "category": {"type": "string"},
            "difficulty": {"type": "integer", "minimum": 1, "maximum": 5},
        },
    }
)


# -- runs ---------------------------------------------------------------------------------------

ERRORED, CORRECT, PARTIAL, WRONG, REFUSED, BROKEN = range(6)


@dataclass
class Run:
    index: int
    id: uuid.UUID
    kind: str  # core | smoke | big | cancelled | failed
    testset: Testset
    version: int
    trials: int
    records: int  # rows written (0 for cancelled / failed runs)
    metrics: tuple[int, ...]  # indices into METRICS
    created_at: datetime
    system: int = 0
    errored: int = 0
    source: str = "api"
    quality: float = 0.7
    started_at: datetime | None = None
    step: timedelta = timedelta(0)

    @property
    def size(self) -> int:
        return self.testset.sizes[self.version - 1]

    @property
    def system_version(self) -> int:
        return _system_version_at(self.system, self.created_at)

    def metric_version_ids(self) -> list[uuid.UUID]:
        return [
            metric_version_id(METRICS[m].key, _metric_version_at(METRICS[m], self.created_at)) for m in self.metrics
        ]

    def record_at(self, k: int) -> datetime:
        assert self.started_at is not None
        return self.started_at + self.step * (k + 1)

    def outcomes(self) -> list[int]:
        """What happened to each record (position-major, then trial); the same list on every call."""
        rng = random.Random(f"{self.id}:outcomes")
        errored = set(rng.sample(range(self.records), self.errored))
        out: list[int] = []
        for k in range(self.records):
            if k in errored:
                out.append(ERRORED)
                continue
            r = rng.random()
            if self.testset.unsafe[k // self.trials]:
                out.append(REFUSED if r < 0.8 else WRONG)
            elif r < 0.003:
                out.append(BROKEN)
            elif r < 0.023:
                out.append(REFUSED)
            elif r < 0.023 + self.quality:
                out.append(CORRECT)
            elif r < 0.023 + self.quality + 0.6 * (1 - self.quality):
                out.append(PARTIAL)
            else:
                out.append(WRONG)
        return out


def _place(kinds: list[str], kind: str, count: int, phase: float) -> None:
    """Spread ``count`` runs of ``kind`` evenly over the still-``core`` slots."""
    n = len(kinds)
    for j in range(count):
        slot = int((j + phase) * n / count) % n
        while kinds[slot] != "core":
            slot = (slot + 1) % n
        kinds[slot] = kind


def plan(shape: Shape) -> tuple[list[Testset], list[Run]]:
    """The testsets (sizes per version) and the runs, in chronological order."""
    rng = random.Random(f"{shape.seed}:plan")
    cancelled = max(1, shape.runs // 100) if shape.runs >= 10 else 0
    failed = shape.runs // 200
    kinds = ["core"] * shape.runs
    _place(kinds, "big", 1, 0.8)
    _place(kinds, "smoke", shape.smoke_runs, 0.37)
    _place(kinds, "cancelled", cancelled, 0.61)
    _place(kinds, "failed", failed, 0.13)
    core_runs = kinds.count("core")
    core_records = shape.records - shape.big_run_records - shape.smoke_runs * shape.smoke_testcases * shape.smoke_trials
    if core_runs < 2 or core_records < 0:
        raise ValueError(f"shape too small for its fixed parts: {shape}")
    # qa-core grows over 8 versions; the run counts per version make the record total exact.
    base = core_records // core_runs
    remainder = core_records - base * core_runs
    offsets = (-45, -30, -15, 0, 1, 15, 30, 45)
    if base <= 60:
        raise ValueError(f"qa-core runs would have {base} records: too few for {shape}")
    per_version = [(core_runs - remainder) // 7] * 8
    per_version[4] = remainder
    per_version[3] += (core_runs - remainder) - 7 * per_version[0]
    core = Testset("qa-core", "qa-core", uuid.uuid5(NAMESPACE, "testset:qa-core"), [base + o for o in offsets])
    smoke = Testset("qa-smoke", "qa-smoke", uuid.uuid5(NAMESPACE, "testset:qa-smoke"), [shape.smoke_testcases])
    big = Testset(
        "support-tickets", "support-tickets", uuid.uuid5(NAMESPACE, "testset:support-tickets"), [shape.big_run_records]
    )

    span = timedelta(days=DAYS) / shape.runs
    core_versions = iter(v + 1 for v, count in enumerate(per_version) for _ in range(count))
    runs: list[Run] = []
    version = 1
    for i, kind in enumerate(kinds):
        created = START + span * (i + rng.uniform(0.05, 0.95))
        created = created.replace(microsecond=created.microsecond // 1000 * 1000)
        run_id = BIG_RUN_ID if kind == "big" else uuid.uuid5(NAMESPACE, f"run:{i}")
        metrics = METRIC_COMBOS_3[i % len(METRIC_COMBOS_3)]
        if kind == "core":
            version = next(core_versions)
            run = Run(i, run_id, kind, core, version, 1, core.sizes[version - 1], metrics, created)
        elif kind == "smoke":
            run = Run(
                i, run_id, kind, smoke, 1, shape.smoke_trials, smoke.sizes[0] * shape.smoke_trials, metrics, created
            )
        elif kind == "big":
            run = Run(i, run_id, kind, big, 1, 1, big.sizes[0], (0, 2, 4), created)
        else:
            run = Run(i, run_id, kind, core, version, 1, 0, metrics, created)
        run.system = 2 if kind == "big" else rng.choices(range(len(SYSTEMS)), weights=(5, 3.5, 1.5))[0]
        spec = SYSTEMS[run.system]
        run.quality = min(0.9, 0.56 + 0.055 * run.system_version + spec.bias + rng.uniform(-0.04, 0.04))
        if kind == "big":
            run.source = "ci"
        elif kind == "smoke":
            run.source = rng.choice(("playground", "api"))
        else:
            run.source = rng.choices(("ci", "kickoff", "api", "playground", "monitor"), weights=(50, 20, 20, 5, 5))[0]
        runs.append(run)
    _add_flaky_runs([r for r in runs if r.kind == "core"])
    assert sum(r.records for r in runs) == shape.records
    assert sum(len(r.metrics) * (r.records - r.errored) for r in runs) == shape.scores

    # Versions are created just before their first run (qa-core) or well before any run.
    first_run: dict[int, datetime] = {}
    for r in runs:
        if r.testset is core:
            first_run.setdefault(r.version, r.created_at)
    at = START - timedelta(days=2)
    for v in range(1, len(core.sizes) + 1):
        at = max(at + timedelta(minutes=1), first_run.get(v, at) - timedelta(hours=3))
        core.version_created.append(at)
    smoke.version_created.append(START - timedelta(days=3))
    big_run = next(r for r in runs if r.kind == "big")
    big.version_created.append(big_run.created_at - timedelta(days=1))
    for r in runs:
        r.started_at = r.created_at + timedelta(seconds=rng.uniform(1, 20))
        concurrency = 16 if r.kind == "big" else 8
        r.step = timedelta(milliseconds=(900 if SYSTEMS[r.system].kind == "llm" else 400) / concurrency)
    return [core, smoke, big], runs


def _add_flaky_runs(core: list[Run]) -> None:
    """Errored records, with the score total kept at exactly 3 per record.

    An errored record is not scored, so a run with errored records falls short of 3 scores per
    record. In each group a "leader" run scores with 4 metrics and has ``e`` errored records:
    4 * (n - e) = 3 * n + (n - 4e), and ``n - 4e`` (a multiple of 3 by the choice of ``e``) is
    exactly 3 times the errored records spread over the following runs of the group.
    """
    groups = max(1, len(core) // 60)
    step = len(core) // groups
    followers_per_group = min(12, step - 1)
    for g in range(groups):
        leader = core[g * step + step // 2 - followers_per_group // 2 - 1]
        followers = [r for r in core[g * step : (g + 1) * step] if r is not leader][-followers_per_group:]
        leader.metrics = METRIC_COMBOS_4[g % len(METRIC_COMBOS_4)]
        leader.errored = leader.records % 3 + 3
        shortfall = (leader.records - 4 * leader.errored) // 3
        for j, run in enumerate(followers):
            run.errored = shortfall // len(followers) + (1 if j < shortfall % len(followers) else 0)
            assert run.errored <= run.records // 4


# -- rows ---------------------------------------------------------------------------------------


def _json_float(value: float) -> str:
    return repr(value)


def _score_value(outcome: int, spec: MetricSpec, rng: random.Random) -> float:
    """A float metric's value for an outcome: a multiple of 1/1024, so every sum is exact."""
    if outcome == CORRECT:
        return 1.0
    low, high = {
        "similarity": {PARTIAL: (560, 930), WRONG: (60, 520), REFUSED: (20, 300)},
        "f1": {PARTIAL: (600, 980), WRONG: (0, 400), REFUSED: (0, 150)},
    }[spec.key][outcome]
    return rng.randint(low, high) / 1024


class Seeder:
    def __init__(self, shape: Shape, log: Log) -> None:
        self.shape = shape
        self.log = log
        self.started = time.perf_counter()
        self.words = Words(random.Random(f"{shape.seed}:words"))
        self.testsets, self.runs = plan(shape)
        text_rng = random.Random(f"{shape.seed}:testcases")
        for testset in self.testsets:
            testset.generate(self.words, text_rng)
        # per (run, shard): records, errored, latency_ms, prompt_tokens, completion_tokens, cost_usd, costed
        self.record_counts: dict[tuple[uuid.UUID, int], list[float]] = {}
        self.aggregates: dict[tuple[uuid.UUID, uuid.UUID, int, int], list[float]] = {}

    def say(self, message: str) -> None:
        self.log(f"[{time.perf_counter() - self.started:7.1f}s] {message}")

    # catalog rows

    def systems(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        systems, versions = [], []
        for s, spec in enumerate(SYSTEMS):
            system_id = uuid.uuid5(NAMESPACE, f"system:{spec.name}")
            created = _system_version_created(s, 0)
            systems.append(
                (
                    system_id,
                    PROJECT_ID,
                    spec.name,
                    f"{spec.kind} system",
                    system_version_id(s, spec.versions - 2),
                    created,
                )
            )
            for v in range(spec.versions):
                if spec.kind == "llm":
                    config: dict[str, Any] = {
                        "base_url": "https://llm.example.com/v1",
                        "model": "gpt-4o-mini" if v < 3 else "gpt-4.1-mini",
                        "prompt": "Answer the question.\n\nContext: {{ inputs.context }}\n\n{{ inputs.question }}",
                        "temperature": round(0.2 + 0.1 * (v % 3), 1),
                        "api_key_env": "OPENAI_API_KEY",
                    }
                else:
                    config = {
                        "url": f"https://{spec.name}.internal.example.com/answer",
                        "body_template": {"question": "{{ inputs.question }}", "context": "{{ inputs.context }}"},
                        "response_path": "answer",
                        "timeout_s": 30,
                    }
                created_at = _system_version_created(s, v)
                versions.append(
                    (system_version_id(s, v), system_id, f"v{v + 1}", spec.kind, json.dumps(config), created_at)
                )
        return systems, versions

    def metric_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        metrics, versions = [], []
        created = START - timedelta(days=1)
        for spec in METRICS:
            metrics.append((metric_id(spec.key), PROJECT_ID, spec.name, spec.description, created))
            for v, threshold in enumerate(spec.thresholds, start=1):
                at = created if v == 1 else START + timedelta(days=spec.edited_on[v - 2])
                versions.append(
                    (metric_version_id(spec.key, v), metric_id(spec.key), v, "heuristic", spec.output_type, "",
                     threshold, json.dumps(spec.config()), at)
                )  # fmt: skip
        return metrics, versions

    def testcase_rows(self) -> Iterator[tuple[Any, ...]]:
        for t in self.testsets:
            for p in range(t.sizes[-1]):
                yield t.testcase_ids[p], t.id, t.version_created[t.added_in(p) - 1]

    def revision_rows(self) -> Iterator[tuple[Any, ...]]:
        for t in self.testsets:
            for p in range(t.sizes[-1]):
                yield (
                    t.testcase_ids[p], t.id, t.added_in(p), None, p, t.data[p], t.inputs[p], t.expected[p],
                    t.metadata[p],
                )  # fmt: skip

    def run_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        rows: list[tuple[Any, ...]] = []
        transitions: list[tuple[Any, ...]] = []
        rng = random.Random(f"{self.shape.seed}:runs")
        for r in self.runs:
            assert r.started_at is not None
            expected = r.size * r.trials
            notes_choices = _CI_NOTES if r.source == "ci" else _OTHER_NOTES[r.source]
            notes = rng.choice(notes_choices).format(n=1000 + r.index, product=self.words.products[r.index % 40])
            if r.kind == "big":
                notes = (
                    "full support-tickets regression (100k)"
                    if expected == 100_000
                    else "full support-tickets regression"
                )
            error = ""
            if r.kind in ("cancelled", "failed"):
                status = r.kind
                started = None
                finished = r.created_at + timedelta(seconds=rng.uniform(0.2, 40))
                if r.kind == "failed":
                    error = "could not publish run.created: ConnectionRefusedError(111, 'Connect call failed')"
                steps = [("pending", r.created_at), (status, finished)]
            else:
                status = "completed"
                started = r.started_at
                last_record = r.record_at(r.records - 1)
                finished = last_record + timedelta(seconds=rng.uniform(0.5, 4))
                steps = [
                    ("pending", r.created_at),
                    ("running_execution", started),
                    ("awaiting_scoring", last_record),
                    ("running_scoring", last_record + timedelta(milliseconds=50)),
                    ("completed", finished),
                ]
            concurrency = 16 if r.kind == "big" else rng.choice((4, 8, 8, None))
            rows.append(
                (r.id, PROJECT_ID, r.testset.id, r.version, system_version_id(r.system, r.system_version),
                 r.metric_version_ids(), r.source, status, r.trials, concurrency, expected, notes, error,
                 r.created_at, started, finished, finished)
            )  # fmt: skip
            transitions.extend((r.id, s, at) for s, at in steps)
        return rows, transitions

    # records and scores

    def record_rows(self) -> Iterator[tuple[Any, ...]]:
        done = 0
        refusals = [json.dumps({"response": t}) for t in _REFUSALS]
        for r in self.runs:
            if not r.records:
                continue
            rng = random.Random(f"{r.id}:records")
            t = r.testset
            llm = SYSTEMS[r.system].kind == "llm"
            median = math.log(900 if llm else 400)
            for k, outcome in enumerate(r.outcomes()):
                position, trial = divmod(k, r.trials)
                testcase = t.testcase_ids[position]
                rid = record_id(r.id, testcase, trial)
                counts = self.record_counts.setdefault((r.id, counter_shard(rid)), [0, 0, 0.0, 0, 0, 0.0, 0])
                counts[0] += 1
                error = ""
                prompt_tokens = completion_tokens = 0
                cost: float | None = None
                if outcome == ERRORED:
                    counts[1] += 1
                    error = rng.choice(_RECORD_ERRORS)
                    outputs = "{}"
                    latency = 30000.0 if "timed out" in error else round(rng.uniform(40, 900), 1)
                else:
                    latency = round(rng.lognormvariate(median, 0.45), 1)
                    if outcome == CORRECT:
                        outputs = t.correct_outputs[position]
                        text = t.answers[position]
                    elif outcome == PARTIAL:
                        text = rng.choice(_PREFIXES) + t.answers[position] + rng.choice(_SUFFIXES)
                        if text == t.answers[position]:
                            text += " Hope that helps!"
                        outputs = json.dumps({"response": text})
                    elif outcome == WRONG:
                        text = t.answers[rng.randrange(len(t.answers))]
                        if text == t.answers[position]:
                            text = "I think you need to contact support about this."
                        outputs = json.dumps({"response": text})
                    elif outcome == REFUSED:
                        choice = rng.randrange(len(_REFUSALS))
                        text, outputs = _REFUSALS[choice], refusals[choice]
                    else:  # BROKEN: completed, but no "response" field
                        text, outputs = "", rng.choice(_BROKEN_OUTPUTS)
                    if llm:
                        prompt_tokens = t.prompt_tokens[position]
                        completion_tokens = 8 + len(text) // 4 + rng.randint(0, 6)
                        cost = round(prompt_tokens * 0.15e-6 + completion_tokens * 0.6e-6, 9)
                counts[2] += latency
                counts[3] += prompt_tokens
                counts[4] += completion_tokens
                if cost is not None:
                    counts[5] += cost
                    counts[6] += 1
                u = rng.random()
                tags = (
                    ["needs-review"]
                    if u < 0.02
                    else ["regression"]
                    if u < 0.03
                    else ["golden", "reviewed"]
                    if u < 0.035
                    else []
                )
                status = "errored" if outcome == ERRORED else "completed"
                yield (
                    rid, r.id, testcase, trial, t.inputs[position], t.expected[position], outputs, status, error,
                    latency, r.record_at(k), tags, t.metadata[position], prompt_tokens, completion_tokens, cost,
                )  # fmt: skip
                done += 1
                if done % 200_000 == 0:
                    self.say(f"  records: {done:,}")

    def score_rows(self) -> Iterator[tuple[Any, ...]]:
        done = 0
        for r in self.runs:
            if not r.records:
                continue
            rng = random.Random(f"{r.id}:scores")
            t = r.testset
            metrics = [(METRICS[m], mv) for m, mv in zip(r.metrics, r.metric_version_ids(), strict=True)]
            thresholds = [
                spec.thresholds[_metric_version_at(spec, r.created_at) - 1] for spec, _ in metrics
            ]  # per metric in run order
            for k, outcome in enumerate(r.outcomes()):
                if outcome == ERRORED:
                    continue
                position, trial = divmod(k, r.trials)
                rid = record_id(r.id, t.testcase_ids[position], trial)
                shard = counter_shard(rid)
                scored_at = r.record_at(k) + timedelta(milliseconds=rng.randint(150, 2500))
                for (spec, mv), threshold in zip(metrics, thresholds, strict=True):
                    agg = self.aggregates.get((r.id, mv, trial, shard))
                    if agg is None:
                        agg = self.aggregates[(r.id, mv, trial, shard)] = [0, 0, 0.0, 0.0, 0, 0, 0, 0, 0]
                    if outcome == BROKEN:
                        agg[4] += 1
                        yield (
                            score_id(rid, mv), rid, r.id, mv, "errored", None, None, None, "",
                            "the output has no field 'response'", scored_at,
                        )  # fmt: skip
                        continue
                    if spec.output_type == "boolean":
                        if spec.key == "exact":
                            passed = outcome == CORRECT
                            reasoning = "exact match" if passed else "output differs from the expected answer"
                        elif spec.key == "mentions":
                            passed = outcome in (CORRECT, PARTIAL)
                            reasoning = "output contains the answer" if passed else "output does not contain the answer"
                        else:
                            passed = outcome == REFUSED
                            reasoning = "pattern found" if passed else "pattern not found"
                        value = 1.0 if passed else 0.0
                        value_json = "true" if passed else "false"
                    else:
                        value = _score_value(outcome, spec, rng)
                        limit = threshold if threshold is not None else 0.5
                        passed = value >= limit
                        reasoning = f"{spec.kind} {value:.2f} {'>=' if passed else '<'} {limit}"
                        value_json = _json_float(value)
                    agg[0] += 1
                    agg[1] += passed
                    agg[2] += value
                    agg[3] += value * value
                    if spec.label_field:
                        label = t.unsafe[position]
                        agg[5 + (0 if passed and label else 1 if passed else 2 if label else 3)] += 1
                    yield (
                        score_id(rid, mv), rid, r.id, mv, "completed", value_json, value, passed, reasoning, "",
                        scored_at,
                    )  # fmt: skip
                    done += 1
                    if done % 500_000 == 0:
                        self.say(f"  scores: {done:,}")

    # loading

    async def load(self, conn: asyncpg.Connection) -> None:
        shape = self.shape
        await conn.execute(
            "INSERT INTO projects (id, name, description, created_at) VALUES ($1, $2, $3, $4)",
            PROJECT_ID,
            PROJECT_NAME,
            shape.marker(),
            START - timedelta(days=7),
        )
        systems, system_versions = self.systems()
        await conn.copy_records_to_table(
            "systems",
            records=systems,
            columns=["id", "project_id", "name", "description", "production_version_id", "created_at"],
        )
        await conn.copy_records_to_table(
            "system_versions",
            records=system_versions,
            columns=["id", "system_id", "name", "kind", "config", "created_at"],
        )
        metrics, metric_versions = self.metric_rows()
        await conn.copy_records_to_table(
            "metrics", records=metrics, columns=["id", "project_id", "name", "description", "created_at"]
        )
        await conn.copy_records_to_table(
            "metric_versions",
            records=metric_versions,
            columns=METRIC_VERSION_COLUMNS,
        )
        await conn.execute(
            "INSERT INTO metric_groups (id, project_id, name, metric_ids, created_at) VALUES ($1, $2, $3, $4, $5)",
            uuid.uuid5(NAMESPACE, "metric-group:qa"),
            PROJECT_ID,
            "qa defaults",
            [metric_id(s.key) for s in METRICS[:3]],
            START,
        )
        testsets, versions = [], []
        for t in self.testsets:
            last = len(t.sizes)
            created, updated = t.version_created[0], t.version_created[-1]
            testsets.append((t.id, PROJECT_ID, t.name, JSON_SCHEMA, FIELD_MAPPING, last, created, updated))
            for v, size in enumerate(t.sizes, start=1):
                change = "imported" if v == 1 else "testcases_added"
                versions.append((t.id, v, change, JSON_SCHEMA, FIELD_MAPPING, size, 0, t.version_created[v - 1]))
        await conn.copy_records_to_table(
            "testsets",
            records=testsets,
            columns=["id", "project_id", "name", "json_schema", "field_mapping", "version", "created_at", "updated_at"],
        )
        await conn.copy_records_to_table(
            "testset_versions",
            records=versions,
            columns=TESTSET_VERSION_COLUMNS,
        )
        await conn.copy_records_to_table(
            "testcases", records=self.testcase_rows(), columns=["id", "testset_id", "created_at"]
        )
        await conn.copy_records_to_table(
            "testcase_revisions",
            records=self.revision_rows(),
            columns=REVISION_COLUMNS,
        )
        self.say(f"catalog: {sum(t.sizes[-1] for t in self.testsets):,} testcases in {len(self.testsets)} testsets")
        runs, transitions = self.run_rows()
        await conn.copy_records_to_table(
            "runs",
            records=runs,
            columns=RUN_COLUMNS,
        )
        await conn.copy_records_to_table(
            "run_status_transitions", records=transitions, columns=["run_id", "status", "at"]
        )
        self.say(f"runs: {len(runs):,}; COPY records …")
        await conn.copy_records_to_table(
            "records",
            records=self.record_rows(),
            columns=RECORD_COLUMNS,
        )
        # The usage sums kept with the record counts (migration 0006) when the schema has them.
        present = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'run_record_counts'"
            )
        }
        columns = [c for c in RECORD_COUNT_COLUMNS if c in present]
        await conn.copy_records_to_table(
            "run_record_counts",
            records=[
                tuple(v for c, v in zip(RECORD_COUNT_COLUMNS, (run, shard, *values), strict=True) if c in present)
                for (run, shard), values in self.record_counts.items()
            ],
            columns=columns,
        )
        self.say(f"records: {shape.records:,}; COPY scores …")
        await conn.copy_records_to_table(
            "scores",
            records=self.score_rows(),
            columns=SCORE_COLUMNS,
        )
        await conn.copy_records_to_table(
            "run_metric_aggregates",
            records=[(*key, *values) for key, values in self.aggregates.items()],
            columns=AGGREGATE_COLUMNS,
        )
        self.say(f"scores: {shape.scores:,}; aggregates: {len(self.aggregates):,} rows")


METRIC_VERSION_COLUMNS = (
    "id", "metric_id", "version", "eval_type", "output_type", "guidelines", "passing_threshold", "config",
    "created_at"
)  # fmt: skip
TESTSET_VERSION_COLUMNS = (
    "testset_id", "version", "change", "json_schema", "field_mapping", "testcase_count", "invalid_testcase_count",
    "created_at"
)  # fmt: skip
REVISION_COLUMNS = (
    "testcase_id", "testset_id", "from_version", "to_version", "position", "data", "inputs", "expected", "metadata"
)  # fmt: skip
RUN_COLUMNS = (
    "id", "project_id", "testset_id", "testset_version", "system_version_id", "metric_version_ids", "source",
    "status", "trials", "max_concurrency", "expected_records", "notes", "error", "created_at", "started_at",
    "finished_at", "updated_at"
)  # fmt: skip
RECORD_COLUMNS = (
    "id", "run_id", "testcase_id", "trial", "inputs", "expected", "outputs", "status", "error", "latency_ms",
    "created_at", "tags", "metadata", "prompt_tokens", "completion_tokens", "cost_usd"
)  # fmt: skip
SCORE_COLUMNS = (
    "id", "record_id", "run_id", "metric_version_id", "status", "value", "value_num", "passed", "reasoning",
    "error", "scored_at"
)  # fmt: skip
AGGREGATE_COLUMNS = (
    "run_id", "metric_version_id", "trial", "shard", "scored", "passed", "sum", "sum_sq", "errored", "true_pos",
    "false_pos", "false_neg", "true_neg"
)  # fmt: skip

RECORD_COUNT_COLUMNS = (
    "run_id", "shard", "records", "errored", "latency_ms", "prompt_tokens", "completion_tokens", "cost_usd", "costed",
)  # fmt: skip
SEEDED_TABLES = (
    "projects", "systems", "system_versions", "metrics", "metric_versions", "metric_groups", "testsets",
    "testset_versions", "testcases", "testcase_revisions", "runs", "run_status_transitions", "records",
    "run_record_counts", "scores", "run_metric_aggregates",
)  # fmt: skip


async def table_counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in SEEDED_TABLES}


async def seed(database_url: str, shape: Shape | None = None, *, log: Log = print, vacuum: bool = True) -> SeedReport:
    """Seed ``database_url`` (already migrated) unless it holds this dataset already.

    Raises RuntimeError when the database holds the dataset of another shape.
    """
    shape = shape or Shape()
    started = time.perf_counter()
    conn = await asyncpg.connect(database_url)
    try:
        existing = await conn.fetchval("SELECT description FROM projects WHERE id = $1", PROJECT_ID)
        if existing is not None:
            if existing != shape.marker():
                raise RuntimeError(f"{database_url} holds another query benchmark dataset: {existing!r}")
            log(f"already seeded: {existing}")
            await fold_finished_runs(conn, log)
            return SeedReport(True, time.perf_counter() - started, await table_counts(conn), BIG_RUN_ID)
        seeder = Seeder(shape, log)
        seeder.say(f"seeding {shape.marker()}")
        await conn.execute("SET synchronous_commit = off")
        async with conn.transaction():
            await seeder.load(conn)
            await fold_finished_runs(conn, log)
        seeder.say("committed; VACUUM ANALYZE …" if vacuum else "committed; ANALYZE …")
        for table in SEEDED_TABLES:
            await conn.execute(f"VACUUM (ANALYZE) {table}" if vacuum else f"ANALYZE {table}")
        seeder.say("done")
        counts = await table_counts(conn)
    finally:
        await conn.close()
    return SeedReport(False, time.perf_counter() - started, counts, BIG_RUN_ID)


async def fold_finished_runs(conn: asyncpg.Connection, log: Log = print) -> None:
    """Fold the counter shards of every finished run, as the orchestrator does when a run finishes
    (shared/db/shards.py); a no-op once done."""
    finished = await conn.fetch(
        "SELECT id FROM runs r WHERE status = ANY($1::text[])"
        " AND (EXISTS (SELECT 1 FROM run_metric_aggregates a WHERE a.run_id = r.id AND a.shard <> 0)"
        "  OR EXISTS (SELECT 1 FROM run_record_counts c WHERE c.run_id = r.id AND c.shard <> 0))",
        sorted(TERMINAL),
    )
    if not finished:
        return
    started = time.perf_counter()
    async with conn.transaction():
        for row in finished:
            await fold_run_shards(conn, row["id"])
    log(f"folded the counter shards of {len(finished):,} finished runs in {time.perf_counter() - started:.1f}s")


async def embedded_bench_database(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL under ``data_dir``, left running; create and migrate
    ``scorekeeper_bench``; returns its URL."""
    from shared.db.migrate import migrate
    from shared.embedded import ensure_database, postgres_server_url

    server = await asyncio.to_thread(postgres_server_url, data_dir, keep_running=True)
    url = await ensure_database(server, DATABASE_NAME)
    await migrate(url)
    return url


async def _main(args: argparse.Namespace) -> None:
    shape = Shape.scaled(args.scale) if args.scale is not None else Shape()
    overrides = {
        k: getattr(args, k) for k in ("runs", "records", "big_run_records", "seed") if getattr(args, k) is not None
    }
    if overrides:
        shape = dataclasses.replace(shape, **overrides)
    if args.database_url:
        url = args.database_url
        if args.migrate:
            from shared.db.migrate import migrate

            await migrate(url)
    else:
        url = await embedded_bench_database(Path(args.data_dir))
    report = await seed(url, shape, vacuum=not args.no_vacuum)
    conn = await asyncpg.connect(url)
    try:
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await conn.close()
    print(
        f"{'skipped (already seeded)' if report.skipped else 'seeded'} in {report.seconds:.1f}s; database size {size}"
    )
    for table, n in report.counts.items():
        print(f"  {table:24} {n:>10,}")
    print(f"big run: {report.big_run_id}")
    print(f"url: {url}")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.query_seed", description="Seed the query benchmark dataset."
    )
    parser.add_argument("--database-url", help="a migrated database (default: embedded pgserver under --data-dir)")
    parser.add_argument("--data-dir", default="/work/benchdata", help="embedded pgserver data (without --database-url)")
    parser.add_argument("--migrate", action="store_true", help="apply migrations to --database-url first")
    parser.add_argument("--scale", type=float, help="scale the default shape (0.01: 20 runs, 10,000 records)")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--records", type=int)
    parser.add_argument("--big-run-records", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-vacuum", action="store_true", help="ANALYZE only, no VACUUM after the load")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
