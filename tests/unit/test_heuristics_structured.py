"""Structured heuristics: json_valid, json_schema, json_path_equals."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import HeuristicError, Verdict, validate_params
from shared.scoring.heuristics.structured import JsonSchemaParams, json_equal
from tests.support.heuristics import judge

NFC_E = "Caf\u00e9"
NFD_E = "Cafe\u0301"

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age"],
}


# --- json_valid ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "verdict"),
    [
        pytest.param('{"a": [1, 2]}', Verdict(True, "output is valid JSON (object)"), id="object"),
        pytest.param(" [1] ", Verdict(True, "output is valid JSON (array)"), id="array-with-spaces"),
        pytest.param('"hi"', Verdict(True, "output is valid JSON (string)"), id="string"),
        pytest.param("-1.5e3", Verdict(True, "output is valid JSON (number)"), id="number"),
        pytest.param("false", Verdict(True, "output is valid JSON (boolean)"), id="boolean"),
        pytest.param("null", Verdict(True, "output is valid JSON (null)"), id="null"),
        pytest.param({"already": "structured"}, Verdict(True, "output is valid JSON (object)"), id="structured-dict"),
        pytest.param([1], Verdict(True, "output is valid JSON (array)"), id="structured-list"),
        pytest.param(7, Verdict(True, "output is valid JSON (number)"), id="structured-int"),
        pytest.param(
            '{"都市": "東京", "e": "\\u00e9", "👍": 1}', Verdict(True, "output is valid JSON (object)"), id="unicode"
        ),
        pytest.param(
            "",
            Verdict(False, "output '' is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
            id="empty",
        ),
        pytest.param(
            "{'a': 1}",
            Verdict(
                False,
                "output \"{'a': 1}\" is not valid JSON: Expecting property name enclosed in double quotes: "
                "line 1 column 2 (char 1)",
            ),
            id="single-quotes",
        ),
        pytest.param(
            '{"a": 1} extra',
            Verdict(False, "output '{\"a\": 1} extra' is not valid JSON: Extra data: line 1 column 10 (char 9)"),
            id="trailing-text",
        ),
        pytest.param(
            '```json\n{"a": 1}\n```',
            Verdict(
                False,
                "output '```json\\n{\"a\": 1}\\n```' is not valid JSON: Expecting value: line 1 column 1 (char 0)",
            ),
            id="code-fence-is-not-json",
        ),
        pytest.param(
            '{"a": NaN}', Verdict(False, "output '{\"a\": NaN}' is not valid JSON: NaN is not valid JSON"), id="nan"
        ),
        pytest.param(
            "[-Infinity]",
            Verdict(False, "output '[-Infinity]' is not valid JSON: -Infinity is not valid JSON"),
            id="infinity",
        ),
        pytest.param(
            "[" * 100_000,
            Verdict(False, f"output {'[' * 79 + '…'!r} is not valid JSON: nested too deeply"),
            id="deeply-nested",
        ),
    ],
)
def test_json_valid(output: Any, verdict: Verdict) -> None:
    assert judge("json_valid", {}, output) == verdict


# --- json_schema --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "output", "verdict"),
    [
        pytest.param(PERSON, '{"name": "Ada", "age": 36}', Verdict(True, "output matches the JSON schema"), id="ok"),
        pytest.param(PERSON, {"name": "Ada", "age": 36}, Verdict(True, "output matches the JSON schema"), id="dict"),
        pytest.param(
            PERSON,
            '{"name": "Ada"}',
            Verdict(False, "output does not match the JSON schema at $: 'age' is a required property"),
            id="missing-property",
        ),
        pytest.param(
            PERSON,
            '{"name": 1, "age": -1}',
            Verdict(False, "output does not match the JSON schema at $.name: 1 is not of type 'string'; 1 other error"),
            id="two-errors",
        ),
        pytest.param(
            PERSON,
            '{"name": "Ada", "age": 1, "tags": ["a", 2]}',
            Verdict(False, "output does not match the JSON schema at $.tags[1]: 2 is not of type 'string'"),
            id="nested-path",
        ),
        pytest.param(
            {"type": "string", "maxLength": 4},
            '"東京は日本の首都"',
            Verdict(False, "output does not match the JSON schema at $: '東京は日本の首都' is too long"),
            id="cjk-length",
        ),
        pytest.param(
            {"const": NFC_E},
            {"x": 1},
            Verdict(False, f"output does not match the JSON schema at $: {NFC_E!r} was expected"),
            id="const",
        ),
        pytest.param(
            {"type": "object"},
            "",
            Verdict(False, "output '' is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
            id="empty-output-is-not-json",
        ),
        pytest.param(
            {"type": "string", "format": "email"},
            '"not an email"',
            Verdict(True, "output matches the JSON schema"),
            id="format-is-an-annotation",
        ),
        pytest.param(
            {"$defs": {"id": {"type": "integer"}}, "properties": {"id": {"$ref": "#/$defs/id"}}},
            '{"id": "7"}',
            Verdict(False, "output does not match the JSON schema at $.id: '7' is not of type 'integer'"),
            id="local-ref",
        ),
    ],
)
def test_json_schema(schema: dict[str, Any], output: Any, verdict: Verdict) -> None:
    assert judge("json_schema", {"schema": schema}, output) == verdict


def test_json_schema_unresolvable_ref_cannot_score() -> None:
    with pytest.raises(HeuristicError) as caught:
        judge("json_schema", {"schema": {"$ref": "https://example.com/person.json"}}, "{}")
    assert str(caught.value) == (
        "the JSON schema has a $ref that cannot be resolved: Unresolvable: https://example.com/person.json"
    )


def test_json_schema_params_spell_schema() -> None:
    assert validate_params("json_schema", {"schema": PERSON}) == JsonSchemaParams(schema=PERSON)


# --- json_path_equals ---------------------------------------------------------------------------

ORDER = '{"id": 7, "city": "Paris", "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}], "paid": true}'


@pytest.mark.parametrize(
    ("params", "output", "expected", "verdict"),
    [
        pytest.param(
            {"path": "$.city", "value": "Paris"}, ORDER, {}, Verdict(True, '$.city is "Paris", as expected'), id="ok"
        ),
        pytest.param(
            {"path": "$.city", "expected_field": "city"},
            ORDER,
            {"city": "Lyon"},
            Verdict(False, '$.city is "Paris", expected "Lyon"'),
            id="expected-field",
        ),
        pytest.param(
            {"path": "$.id", "value": 7.0}, ORDER, {}, Verdict(True, "$.id is 7, as expected"), id="int-equals-float"
        ),
        pytest.param(
            {"path": "$.id", "value": "7"}, ORDER, {}, Verdict(False, '$.id is 7, expected "7"'), id="number-vs-string"
        ),
        pytest.param(
            {"path": "$.paid", "value": 1}, ORDER, {}, Verdict(False, "$.paid is true, expected 1"), id="true-is-not-1"
        ),
        pytest.param(
            {"path": "$.items[1].sku", "value": "b"},
            ORDER,
            {},
            Verdict(True, '$.items[1].sku is "b", as expected'),
            id="index",
        ),
        pytest.param(
            {"path": "$.items[*].qty", "value": [1, 2]},
            ORDER,
            {},
            Verdict(True, "$.items[*].qty is [1, 2], as expected"),
            id="wildcard-gives-list",
        ),
        pytest.param(
            {"path": "$.items[?@.qty > 1].sku", "value": ["b"]},
            ORDER,
            {},
            Verdict(True, '$.items[?@.qty > 1].sku is ["b"], as expected'),
            id="filter",
        ),
        pytest.param(
            {"path": "$.items[?@.qty > 5].sku", "value": []},
            ORDER,
            {},
            Verdict(True, "$.items[?@.qty > 5].sku is [], as expected"),
            id="filter-matches-nothing-gives-empty-list",
        ),
        pytest.param(
            {"path": "$.missing", "value": None},
            '{"a": 1}',
            {},
            Verdict(False, '$.missing matches nothing in the output {"a": 1}'),
            id="singular-matches-nothing",
        ),
        pytest.param(
            {"path": "$.missing", "value": None},
            '{"missing": null}',
            {},
            Verdict(True, "$.missing is null, as expected"),
            id="null-value",
        ),
        pytest.param(
            {"path": "$.items", "expected_field": "items"},
            {"items": [{"a": 1}]},
            {"items": [{"a": 1.0}]},
            Verdict(True, '$.items is [{"a": 1}], as expected'),
            id="structured-output-deep-equal",
        ),
        pytest.param(
            {"path": "$['都市']", "value": NFC_E},
            f'{{"都市": "{NFD_E}"}}',
            {},
            Verdict(True, f"$['都市'] is \"{NFD_E}\", as expected"),
            id="cjk-key-nfd-value",
        ),
        pytest.param(
            {"path": "$.a", "value": 1},
            "",
            {},
            Verdict(False, "output '' is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
            id="empty-output",
        ),
        pytest.param({"path": "$", "value": "x"}, '"x"', {}, Verdict(True, '$ is "x", as expected'), id="root"),
    ],
)
def test_json_path_equals(params: dict[str, Any], output: Any, expected: dict[str, Any], verdict: Verdict) -> None:
    assert judge("json_path_equals", params, output, expected) == verdict


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        pytest.param(1, 1.0, True, id="int-float"),
        pytest.param(True, 1, False, id="bool-int"),
        pytest.param(False, False, True, id="bools"),
        pytest.param(None, None, True, id="nulls"),
        pytest.param(None, 0, False, id="null-zero"),
        pytest.param("1", 1, False, id="string-number"),
        pytest.param([1, [2]], [1.0, [2.0]], True, id="nested-lists"),
        pytest.param([1, 2], [2, 1], False, id="list-order"),
        pytest.param({"a": 1, "b": 2}, {"b": 2, "a": 1}, True, id="dict-order-free"),
        pytest.param({"a": 1}, {"a": 1, "b": 2}, False, id="dict-extra-key"),
        pytest.param(NFD_E, NFC_E, True, id="nfc"),
    ],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
    assert json_equal(b, a) is equal
