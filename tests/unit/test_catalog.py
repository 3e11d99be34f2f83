"""Catalog validation: names, how long logged calls are kept, field mappings, JSON Schemas,
testcase derivation."""

from __future__ import annotations

from typing import Any

import pytest

from services.run_orchestrator.catalog.rules import (
    check_call_retention,
    effective_call_retention,
    require_name,
)
from services.run_orchestrator.testsets.validation import (
    FieldMapping,
    derive_testcase,
    parse_mapping,
    schema_validator,
)
from services.run_orchestrator.testsets.validation import (
    TestcaseRow as Row,  # not collected as a test class
)

# --- require_name -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "field", "result"),
    [
        pytest.param("capitals", "name", "capitals", id="plain"),
        pytest.param("  capitals \n", "name", "capitals", id="stripped"),
        pytest.param("x" * 200, "name", "x" * 200, id="200-chars"),
    ],
)
def test_require_name_accepts(value: str, field: str, result: str) -> None:
    assert require_name(value, field) == result


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        pytest.param("", "name", "name must not be empty", id="empty"),
        pytest.param("   \t", "testset.name", "testset.name must not be empty", id="blank-named-field"),
        pytest.param("x" * 201, "name", "name must be at most 200 characters", id="201-chars"),
    ],
)
def test_require_name_rejects(value: str, field: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        require_name(value, field)
    assert str(caught.value) == message


# --- parse_mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "expected", "metadata", "message"),
    [
        pytest.param([], ["answer"], [], "field_mapping.inputs must name at least one field", id="no-inputs"),
        pytest.param([], [], [], "field_mapping.inputs must name at least one field", id="all-empty"),
        pytest.param(["question", ""], [], [], "field_mapping.inputs has an empty field name", id="empty-input-name"),
        pytest.param(
            ["question"], [""], [], "field_mapping.expected has an empty field name", id="empty-expected-name"
        ),
        pytest.param(
            ["question"], [], [""], "field_mapping.metadata has an empty field name", id="empty-metadata-name"
        ),
        pytest.param(
            ["question"],
            ["question"],
            [],
            "field 'question' is mapped twice (field_mapping.inputs and field_mapping.expected)",
            id="inputs-and-expected",
        ),
        pytest.param(
            ["question"],
            ["answer"],
            ["answer"],
            "field 'answer' is mapped twice (field_mapping.expected and field_mapping.metadata)",
            id="expected-and-metadata",
        ),
        pytest.param(
            ["q", "q"],
            [],
            [],
            "field 'q' is mapped twice (field_mapping.inputs and field_mapping.inputs)",
            id="twice-in-inputs",
        ),
    ],
)
def test_parse_mapping_rejects(inputs: list[str], expected: list[str], metadata: list[str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_mapping(inputs, expected, metadata)
    assert str(caught.value) == message


def test_parse_mapping_accepts() -> None:
    mapping = parse_mapping(["question", "context"], ["answer"], ["category"])
    assert mapping == FieldMapping(("question", "context"), ("answer",), ("category",))
    assert mapping.as_json() == {"inputs": ["question", "context"], "expected": ["answer"], "metadata": ["category"]}


# --- schema_validator ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        pytest.param(
            {"type": "bogus"},
            "json_schema is not a valid JSON Schema: 'bogus' is not valid under any of the given schemas",
            id="bad-type",
        ),
        pytest.param(
            {"required": "answer"},
            "json_schema is not a valid JSON Schema: 'answer' is not of type 'array'",
            id="required-not-array",
        ),
        pytest.param(
            {"properties": {"a": {"minLength": -1}}},
            "json_schema is not a valid JSON Schema: -1 is less than the minimum of 0",
            id="nested-bad-keyword",
        ),
    ],
)
def test_schema_validator_rejects(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        schema_validator(schema)
    assert str(caught.value) == message
    assert str(caught.value).startswith("json_schema is not a valid JSON Schema")


@pytest.mark.parametrize("schema", [pytest.param(None, id="none"), pytest.param({}, id="empty")])
def test_schema_validator_none_for_no_schema(schema: dict[str, Any] | None) -> None:
    assert schema_validator(schema) is None


# --- derive_testcase ----------------------------------------------------------------------------

QA_MAPPING = FieldMapping(inputs=("question",), expected=("answer",), metadata=("category",))
QA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["question", "answer"],
    "properties": {
        "question": {"type": "string"},
        "answer": {"type": "string"},
        "a": {"type": "array", "items": {"type": "object", "properties": {"b": {"type": "integer"}}}},
        "x/y~z": {"type": "string"},
    },
}


@pytest.mark.parametrize(
    ("data", "schema", "row"),
    [
        pytest.param(
            {"question": "What is 2 + 2?", "answer": "4", "category": "arithmetic", "source": "handmade"},
            None,
            Row(
                data={"question": "What is 2 + 2?", "answer": "4", "category": "arithmetic", "source": "handmade"},
                inputs={"question": "What is 2 + 2?"},
                expected={"answer": "4"},
                metadata={"category": "arithmetic", "source": "handmade"},
                validation_errors=[],
            ),
            id="unmapped-field-is-metadata",
        ),
        pytest.param(
            {"category": "geography"},
            None,
            Row(
                data={"category": "geography"},
                inputs={},
                expected={},
                metadata={"category": "geography"},
                # A missing input is an error (the system would be called without it); a missing
                # expected field is not (a testcase may have no reference answer).
                validation_errors=[{"path": "/question", "message": "'question' is missing: an input of this testset"}],
            ),
            id="missing-mapped-fields-absent",
        ),
        pytest.param(
            {"question": "q", "answer": 5},
            QA_SCHEMA,
            Row(
                data={"question": "q", "answer": 5},
                inputs={"question": "q"},
                expected={"answer": 5},
                metadata={},
                validation_errors=[{"path": "/answer", "message": "5 is not of type 'string'"}],
            ),
            id="wrong-type-kept-with-error",
        ),
        pytest.param(
            {"question": "q"},
            QA_SCHEMA,
            Row(
                data={"question": "q"},
                inputs={"question": "q"},
                expected={},
                metadata={},
                validation_errors=[{"path": "", "message": "'answer' is a required property"}],
            ),
            id="missing-required-at-root",
        ),
        pytest.param(
            {"question": "q", "answer": "a", "a": [{"b": 1}, {"b": "no"}]},
            QA_SCHEMA,
            Row(
                data={"question": "q", "answer": "a", "a": [{"b": 1}, {"b": "no"}]},
                inputs={"question": "q"},
                expected={"answer": "a"},
                metadata={"a": [{"b": 1}, {"b": "no"}]},
                validation_errors=[{"path": "/a/1/b", "message": "'no' is not of type 'integer'"}],
            ),
            id="nested-pointer",
        ),
        pytest.param(
            {"question": "q", "answer": "a", "x/y~z": 1},
            QA_SCHEMA,
            Row(
                data={"question": "q", "answer": "a", "x/y~z": 1},
                inputs={"question": "q"},
                expected={"answer": "a"},
                metadata={"x/y~z": 1},
                validation_errors=[{"path": "/x~1y~0z", "message": "1 is not of type 'string'"}],
            ),
            id="pointer-escapes-tilde-and-slash",
        ),
        pytest.param(
            {"question": "q", "answer": "a"},
            QA_SCHEMA,
            Row(
                data={"question": "q", "answer": "a"},
                inputs={"question": "q"},
                expected={"answer": "a"},
                metadata={},
                validation_errors=[],
            ),
            id="valid",
        ),
    ],
)
def test_derive_testcase(data: dict[str, Any], schema: dict[str, Any] | None, row: Row) -> None:
    assert derive_testcase(data, QA_MAPPING, schema_validator(schema)) == row


def test_derive_testcase_reports_every_violation_in_path_order() -> None:
    data = {"answer": 5, "a": [{"b": "no"}], "question": 7}
    row = derive_testcase(data, QA_MAPPING, schema_validator(QA_SCHEMA))
    assert row.validation_errors == [
        {"path": "/a/0/b", "message": "'no' is not of type 'integer'"},
        {"path": "/answer", "message": "5 is not of type 'string'"},
        {"path": "/question", "message": "7 is not of type 'string'"},
    ]


# --- call retention -----------------------------------------------------------------------------


def test_a_project_keeps_its_calls_its_own_days_capped_by_the_instances_limit() -> None:
    # (the project's days, the instance's limit) -> days kept (0: for ever)
    cases = {(0, 0): 0, (30, 0): 30, (0, 90): 90, (30, 90): 30, (90, 90): 90, (365, 90): 90}
    assert {case: effective_call_retention(*case) for case in cases} == cases
    assert check_call_retention(90, 90) == 90 and check_call_retention(0, 90) == 0
    with pytest.raises(ValueError, match="call_retention_days must be at most 90: this instance keeps logged calls at"):
        check_call_retention(91, 90)
    with pytest.raises(ValueError, match=r"must be 0 \(kept for ever\) or 1..3,650, got 3,651"):
        check_call_retention(3651)
