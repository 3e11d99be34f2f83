"""Which metrics read a record's expected values: what a monitor of logged calls (which seldom
carry any) warns about. Every heuristic kind is listed, so a new kind has to say."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring import heuristics
from shared.scoring.eval_types import eval_type

HEURISTICS: list[tuple[str, dict[str, Any], bool]] = [
    ("exact_match", {}, True),
    ("exact_match", {"expected_field": "answer"}, True),
    ("contains", {"value": "Paris"}, False),
    ("contains", {"expected_field": "answer"}, True),
    ("starts_with", {"value": "Yes"}, False),
    ("starts_with", {"expected_field": "answer"}, True),
    ("contains_all", {"values": ["a", "b"]}, False),
    ("contains_any", {"values": ["a"], "expected_field": "answer"}, True),
    ("not_contains", {"values": ["sorry"]}, False),
    ("regex", {"pattern": "^[0-9]+$"}, False),
    ("length_between", {"max_length": 100}, False),
    ("json_valid", {}, False),
    ("json_schema", {"schema": {"type": "object"}}, False),
    ("json_path_equals", {"path": "$.ok", "value": True}, False),
    ("json_path_equals", {"path": "$.ok", "value": None}, False),  # a fixed null is a value too
    ("json_path_equals", {"path": "$.ok", "expected_field": "ok"}, True),
    ("numeric_close", {"value": 42, "abs_tol": 1}, False),
    ("numeric_close", {"expected_field": "answer", "rel_tol": 0.05}, True),
    ("string_similarity", {}, True),
    ("token_f1", {}, True),
    ("bleu", {}, True),
    ("rouge_l", {}, True),
    ("latency_under", {"max_ms": 500}, False),
    ("cost_under", {"max_usd": 0.01}, False),
]


def test_every_heuristic_kind_is_listed() -> None:
    assert {kind for kind, _, _ in HEURISTICS} == set(heuristics.KINDS)


@pytest.mark.parametrize(("kind", "params", "reads"), HEURISTICS)
def test_a_heuristic_reads_expected_values_when_it_compares_with_them(
    kind: str, params: dict[str, Any], reads: bool
) -> None:
    assert eval_type("heuristic").reads_expected({"kind": kind, "params": params}) is reads


@pytest.mark.parametrize(
    ("config", "reads"),
    [
        ({"template": "answer_correctness", "model": "m"}, True),
        ({"template": "answer_relevance", "model": "m"}, False),
        ({"template": "faithfulness", "model": "m", "label_field": "faithful"}, False),
        ({"prompt_template": "Is {{ outputs }} the same as {{ expected.answer }}?", "model": "m"}, True),
        ({"prompt_template": "Is {{ outputs }} polite?", "model": "m"}, False),
    ],
)
def test_a_judge_reads_expected_values_when_its_prompt_shows_them(config: dict[str, Any], reads: bool) -> None:
    assert eval_type("ai").reads_expected(config) is reads


def test_a_human_metric_reads_nothing() -> None:
    assert eval_type("human").reads_expected({}) is False
