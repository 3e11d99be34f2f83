"""The playground without a stack: a try's rules (how many cases, whether the prompt renders for
each, the scratch testset of its cases), the console's form (typed inputs, the prompt's config,
the try it asks for) and its page over fake stubs."""

from __future__ import annotations

import json
import re
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from scorekeeper.v1 import access_pb2 as apb
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import playground_pb2 as ppb
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.datastructures import FormData
from starlette.testclient import TestClient

from services.console.app import create_app, templates
from services.console.playground_form import PlaygroundForm, same_prompt
from services.console.prompt_form import FormError
from services.console.security import Security
from services.console.settings import ConsoleSettings
from services.console.web import Console
from services.run_orchestrator.playground import rules
from services.run_orchestrator.playground.rules import Case, typed_case
from shared.edge.convert import dict_to_struct, struct_to_dict
from tests.unit.test_console import PROJECT, FakeStub, answering, failing

PROMPT = {"model": "m", "messages": [{"role": "user", "content": "{{ inputs.question }}"}]}


# -- the orchestrator's rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "error"),
    [
        (0, "a try needs at least one case"),
        (1, None),
        (20, None),
        (21, "a try takes at most 20 cases, got 21: kick off a run to evaluate a whole testset"),
    ],
)
def test_a_try_has_one_to_twenty_cases(count: int, error: str | None) -> None:
    if error is None:
        rules.check_count(count)
    else:
        with pytest.raises(ValueError, match=re.escape(error)):
            rules.check_count(count)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{{ inputs.question }} ({{ metadata.category }})", None),
        ("{{ inputs.topic }}", "config.messages[1].content cannot be rendered for case 2: UndefinedError:"),
        ("{{ inputs.question + 1 }}", "cannot be rendered for case 1: TypeError:"),
        ("{{ inputs.question.__class__.__mro__ }}", "cannot be rendered for case 1: SecurityError:"),
    ],
)
def test_the_prompt_must_render_for_every_case(content: str, error: str | None) -> None:
    config = {
        "model": "m",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}],
    }
    cases = [
        Case({"question": "a", "topic": "t"}, {}, {"category": "c"}, {}),
        Case({"question": "b"}, {}, {"category": "c"}, {}),
    ]
    if error is None:
        rules.check_prompt(config, cases)
    else:
        with pytest.raises(ValueError, match=re.escape(error)):
            rules.check_prompt(config, cases)


def test_the_scratch_testset_holds_the_cases_in_order() -> None:
    picked = Case({"q": "1"}, {"a": "x"}, {"cat": "k"}, {"q": "1", "a": "x", "cat": "k"}, uuid.uuid4())
    typed = typed_case({"q": "2", "extra": 1}, {"a": "y"}, {})
    mapping, rows = rules.scratch_testset([picked, typed])
    assert mapping.as_json() == {"inputs": ["q", "extra"], "expected": ["a"], "metadata": ["cat"]}
    assert [(r.inputs, r.expected, r.metadata) for r in rows] == [
        ({"q": "1"}, {"a": "x"}, {"cat": "k"}),
        ({"q": "2", "extra": 1}, {"a": "y"}, {}),
    ]
    assert rows[1].data == {"a": "y", "q": "2", "extra": 1}


# -- the console's form ----------------------------------------------------------------------------


def form(*items: tuple[str, str]) -> FormData:
    return FormData(list(items))


def test_typed_inputs_are_inputs_or_whole_cases_one_a_line() -> None:
    values = PlaygroundForm(
        typed='{"question": "a"}\n\n{"inputs": {"question": "b"}, "expected": {"answer": "B"}}\n{"inputs": 3}'
    )
    cases = [
        {k: struct_to_dict(getattr(c, k)) for k in ("inputs", "expected", "metadata")} for c in values.typed_cases()
    ]
    assert cases == [
        {"inputs": {"question": "a"}, "expected": {}, "metadata": {}},
        {"inputs": {"question": "b"}, "expected": {"answer": "B"}, "metadata": {}},
        {"inputs": {"inputs": 3}, "expected": {}, "metadata": {}},  # not a case: an input named inputs
    ]
    with pytest.raises(FormError, match="Typed inputs, line 2: not JSON"):
        PlaygroundForm(typed='{"a": 1}\n{oops').typed_cases()
    with pytest.raises(FormError, match="Typed inputs, line 1: a JSON object of inputs"):
        PlaygroundForm(typed="[1, 2]").typed_cases()


def test_the_form_asks_for_a_try_of_its_prompt_cases_and_metrics() -> None:
    values = PlaygroundForm.from_form(
        form(
            ("model", "gpt-x"),
            ("system_prompt", "Be brief."),
            ("user_template", "{{ inputs.q }}"),
            ("temperature", "0.3"),
            ("extra", json.dumps({"api_key_env": "SECRET_KEY", "timeout_s": 5})),
            ("system_version_id", "v"),
            ("testset_id", "t"),
            ("testcase_id", "c1"),
            ("testcase_id", "c2"),
            ("metric_id", "m"),
            ("typed", '{"q": "typed"}'),
        )
    )
    request = values.try_request("p")
    assert struct_to_dict(request.config) == {
        "api_key_env": "SECRET_KEY",
        "timeout_s": 5,
        "model": "gpt-x",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{ inputs.q }}"}],
        "temperature": 0.3,
    }
    assert (request.project_id, request.system_version_id, request.testset_id) == ("p", "v", "t")
    assert (list(request.testcase_ids), list(request.metric_ids), len(request.cases)) == (["c1", "c2"], ["m"], 1)
    # A testset with nothing picked and nothing typed: all its testcases; typed only: not the testset.
    assert PlaygroundForm(model="m", testset_id="t").try_request("p").testset_id == "t"
    assert PlaygroundForm(model="m", testset_id="t", typed='{"q": 1}').try_request("p").testset_id == ""
    with pytest.raises(FormError, match="Pick testcases of a testset, or type inputs"):
        PlaygroundForm(model="m").try_request("p")
    with pytest.raises(FormError, match="Name the model"):
        PlaygroundForm(typed='{"q": 1}').try_request("p")


def test_a_try_or_a_version_fills_the_form_and_an_unchanged_prompt_is_the_same() -> None:
    config = {**PROMPT, "temperature": 0.5, "api_key_env": "SECRET_X"}
    tried = ppb.Try(
        id="t",
        config=dict_to_struct(config),
        system_version_id="v",
        testset_id="ts",
        cases=[
            ppb.TryCase(testcase_id="x1", source_testcase_id="c1", inputs=dict_to_struct({"question": "a"})),
            ppb.TryCase(
                testcase_id="x2", inputs=dict_to_struct({"question": "b"}), expected=dict_to_struct({"answer": "B"})
            ),
        ],
        metric_ids=["m"],
    )
    values = PlaygroundForm.from_try(tried)
    assert (values.model, values.user_template, values.temperature) == ("m", "{{ inputs.question }}", "0.5")
    assert (values.testset_id, values.testcase_ids, values.metric_ids) == ("ts", ["c1"], ["m"])
    assert values.typed == '{"inputs": {"question": "b"}, "expected": {"answer": "B"}}'
    assert same_prompt(values.full_config(), config)
    values.temperature = "0.7"
    assert not same_prompt(values.full_config(), config)
    version = cpb.SystemVersion(id="v", kind="llm", config=dict_to_struct(config))
    assert PlaygroundForm.from_version(version, "bot").save_system == "bot"


# -- the page over fake stubs ----------------------------------------------------------------------


def test_the_page_offers_saved_prompts_testsets_metrics_and_earlier_tries() -> None:
    version = cpb.SystemVersion(id="v1", system_id="s", name="v1", kind="llm", config=dict_to_struct(PROMPT))
    http = cpb.SystemVersion(id="h1", system_id="h", name="v1", kind="http", config=dict_to_struct({"url": "x"}))
    systems = cpb.ListSystemsResponse(
        systems=[
            cpb.SystemWithVersions(system=cpb.System(id="s", name="bot"), versions=[version]),
            cpb.SystemWithVersions(system=cpb.System(id="h", name="web"), versions=[http]),
        ]
    )
    tried = ppb.Try(id="t1", status="completed", created_by="alice", config=dict_to_struct(PROMPT))
    stub = FakeStub(
        failing(RuntimeError("unexpected call")),
        {
            "ListProjects": answering(cpb.ListProjectsResponse(projects=[cpb.Project(id=PROJECT, name="p")])),
            "ListSystems": answering(systems),
            "ListTestsets": answering(tpb.ListTestsetsResponse(testsets=[tpb.Testset(id="ts", name="qa")])),
            "ListMetrics": answering(
                cpb.ListMetricsResponse(
                    metrics=[
                        cpb.Metric(id="m1", name="exact", eval_type="heuristic"),
                        cpb.Metric(id="m2", name="reviewed", eval_type="human"),
                    ]
                )
            ),
            "ListTries": answering(ppb.ListTriesResponse(tries=[tried])),
            "WhoAmI": answering(apb.WhoAmIResponse(key=apb.ApiKey(role="write"))),
        },
    )
    stubs: Any = SimpleNamespace(catalog=stub, query=stub, runs=stub, testsets=stub, access=stub, playground=stub)
    console = Console(ConsoleSettings(), stubs, templates(), Security("unit-test-secret", secure_cookies=False))
    client = TestClient(create_app(console, []), raise_server_exceptions=False)
    client.cookies.set("sk_session", "sk_key")
    page = client.get(f"/projects/{PROJECT}/playground?version=v1")
    assert page.status_code == 200, page.text
    assert re.findall(r'<option value="(\w+)" selected>', page.text) == ["v1"]
    assert "bot · v1" in page.text and "web · v1" not in page.text  # llm versions only
    assert 'name="user_template" rows="3">{{ inputs.question }}</textarea>' in page.text
    assert 'value="m1"' in page.text and 'value="m2"' not in page.text  # no human metric in a try
    assert 'data-try="t1"' in page.text and "alice" in page.text
