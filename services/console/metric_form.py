"""The metric form: create a metric or edit it into a new version."""

from __future__ import annotations

import json
from typing import Any

from scorekeeper.v1 import catalog_pb2 as cpb
from starlette.datastructures import FormData

from shared.edge.convert import dict_to_struct, struct_to_dict

EVAL_TYPES = ("heuristic", "ai", "human", "code")
OUTPUT_TYPES = ("boolean", "int", "float")
AI_TEMPLATES = ("answer_correctness", "faithfulness", "answer_relevance", "instruction_following", "safety")


class MetricFormError(ValueError):
    """A field the visitor must fix."""


def _text(form: FormData, name: str) -> str:
    return str(form.get(name, "") or "")


def _threshold(form: FormData) -> float | None:
    raw = _text(form, "passing_threshold").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise MetricFormError(f"The passing threshold must be a number, not {raw!r}.") from None


def _heuristic(form: FormData) -> cpb.HeuristicConfig:
    raw = _text(form, "heuristic_params").strip() or "{}"
    try:
        params = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MetricFormError(f"The heuristic's params are not JSON: {exc.msg} (line {exc.lineno}).") from None
    if not isinstance(params, dict):
        raise MetricFormError("The heuristic's params must be a JSON object.")
    return cpb.HeuristicConfig(kind=_text(form, "heuristic_kind").strip(), params=dict_to_struct(params))


def _ai(form: FormData) -> cpb.AiConfig:
    ai = cpb.AiConfig(
        model=_text(form, "ai_model").strip(),
        template=_text(form, "ai_template").strip(),
        prompt_template=_text(form, "ai_prompt_template"),
    )
    raw = _text(form, "ai_temperature").strip()
    if raw:
        try:
            ai.temperature = float(raw)
        except ValueError:
            raise MetricFormError(f"The temperature must be a number, not {raw!r}.") from None
    return ai


def create_request(project_id: str, form: FormData) -> cpb.CreateMetricRequest:
    eval_type = _text(form, "eval_type")
    request = cpb.CreateMetricRequest(
        project_id=project_id,
        name=_text(form, "name").strip(),
        description=_text(form, "description"),
        eval_type=eval_type,
        output_type=_text(form, "output_type"),
        guidelines=_text(form, "guidelines"),
        expected_label_field=_text(form, "expected_label_field").strip(),
    )
    threshold = _threshold(form)
    if threshold is not None:
        request.passing_threshold = threshold
    if eval_type == "heuristic":
        request.heuristic.CopyFrom(_heuristic(form))
    elif eval_type == "ai":
        request.ai.CopyFrom(_ai(form))
    return request


def update_request(metric: cpb.Metric, form: FormData) -> cpb.UpdateMetricRequest:
    """Every field as the form has it; the API makes a new version."""
    request = cpb.UpdateMetricRequest(
        metric_id=metric.id,
        name=_text(form, "name").strip(),
        description=_text(form, "description"),
        guidelines=_text(form, "guidelines"),
        expected_label_field=_text(form, "expected_label_field").strip(),
    )
    threshold = _threshold(form)
    if threshold is not None:
        request.passing_threshold = threshold
    if metric.eval_type == "heuristic":
        request.heuristic.CopyFrom(_heuristic(form))
    elif metric.eval_type == "ai":
        request.ai.CopyFrom(_ai(form))
    return request


def form_values(metric: cpb.Metric | None) -> dict[str, Any]:
    """The form's fields for a metric (empty for a new one)."""
    if metric is None:
        return {"eval_type": "heuristic", "output_type": "boolean", "heuristic_params": "{}"}
    return {
        "name": metric.name,
        "description": metric.description,
        "eval_type": metric.eval_type,
        "output_type": metric.output_type,
        "guidelines": metric.guidelines,
        "passing_threshold": f"{metric.passing_threshold:g}" if metric.HasField("passing_threshold") else "",
        "expected_label_field": metric.expected_label_field,
        "heuristic_kind": metric.heuristic.kind,
        "heuristic_params": json.dumps(struct_to_dict(metric.heuristic.params), indent=2),
        "ai_model": metric.ai.model,
        "ai_template": metric.ai.template,
        "ai_prompt_template": metric.ai.prompt_template,
        "ai_temperature": f"{metric.ai.temperature:g}" if metric.ai.HasField("temperature") else "",
    }


def posted_values(form: FormData) -> dict[str, Any]:
    return {key: _text(form, key) for key in form}
