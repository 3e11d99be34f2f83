"""What changed between two metric versions, as the metric page shows it."""

from __future__ import annotations

from scorekeeper.v1 import catalog_pb2 as cpb

from scorekeeper_sdk.text_diff import Part
from services.console.metric_versions import FieldChange, changes
from shared.edge.convert import dict_to_struct


def _heuristic(version: int, params: dict[str, object], **fields: object) -> cpb.Metric:
    return cpb.Metric(
        name="concise",
        version=version,
        eval_type="heuristic",
        heuristic=cpb.HeuristicConfig(kind="length_between", params=dict_to_struct(params)),
        **fields,  # type: ignore[arg-type]
    )


def test_the_same_definition_has_no_changes() -> None:
    v1 = _heuristic(1, {"max_length": 40})
    assert changes(v1, _heuristic(2, {"max_length": 40})) == []


def test_short_fields_read_before_and_after_and_params_by_line() -> None:
    v1 = _heuristic(1, {"max_length": 40, "min_length": 1}, description="short")
    v2 = _heuristic(2, {"max_length": 60, "min_length": 1}, passing_threshold=0.5, expected_label_field="label")
    assert changes(v1, v2) == [
        FieldChange("Description", "short", "—"),
        FieldChange("Passing threshold", "—", "0.5"),
        FieldChange("Expected label field", "—", "label"),
        FieldChange(
            "Params",
            lines=[
                Part("same", "{"),
                Part("removed", '  "max_length": 40,'),
                Part("added", '  "max_length": 60,'),
                Part("same", '  "min_length": 1'),
            ],
        ),
    ]


def test_a_judges_prompt_written_from_nothing_is_all_added_lines() -> None:
    v1 = cpb.Metric(name="judge", eval_type="ai", ai=cpb.AiConfig(model="m", template="faithfulness"))
    v2 = cpb.Metric(name="judge", eval_type="ai", ai=cpb.AiConfig(model="m", prompt_template="Judge:\n{{ output }}"))
    assert changes(v1, v2) == [
        FieldChange("Built-in template", "faithfulness", "—"),
        FieldChange("Prompt template", lines=[Part("added", "Judge:"), Part("added", "{{ output }}")]),
    ]
