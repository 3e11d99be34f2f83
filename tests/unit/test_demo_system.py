"""The demo AI system: deterministic answers, and the exact mix of mistakes over the sample testset."""

from __future__ import annotations

import json
from collections import Counter

import httpx
import pytest

from services.demo_system.app import answer, create_app, traced
from services.demo_system.testset import CAPITALS, sample_testcases
from shared.spans import parse_json


@pytest.mark.parametrize(
    ("question", "reply"),
    [
        pytest.param("What is 2 + 2?", (200, "4"), id="arithmetic-right"),
        pytest.param("What is -3 * 4?", (200, "-12"), id="negative-operand"),
        pytest.param("What is 75 - 76?", (200, "0"), id="arithmetic-off-by-one"),
        pytest.param("What is 46 - 78?", (200, "The answer is -32."), id="arithmetic-chatty"),
        pytest.param("What is 55 * 20?", (200, "The answer is 1101."), id="chatty-and-wrong"),
        pytest.param("What is 76 * 9?", (500, "overloaded"), id="overloaded"),
        pytest.param("What is the capital of France?", (200, "Paris"), id="capital-right"),
        pytest.param("What is the capital of Australia?", (200, "Canberra"), id="capital-australia"),
        pytest.param("What is the capital of Finland?", (200, "helsinki"), id="capital-lower-case"),
        pytest.param("What is the capital of Norway?", (200, "The answer is Oslo."), id="capital-chatty"),
        pytest.param("What is the capital of Atlantis?", (200, "I don't know"), id="unknown-country"),
        pytest.param("what is 2 + 2?", (200, "I don't know"), id="not-a-known-question-shape"),
        pytest.param("Hello", (200, "I don't know"), id="small-talk"),
    ],
)
def test_answer(question: str, reply: tuple[int, str]) -> None:
    assert answer(question) == reply


def test_answer_is_deterministic() -> None:
    questions = [tc["question"] for tc in sample_testcases(240)]
    first = [answer(q) for q in questions]
    assert [answer(q) for q in questions] == first
    assert [answer(q) for q in reversed(questions)] == first[::-1]


def test_sample_testcases_shape() -> None:
    cases = sample_testcases(240)
    assert len(cases) == 240
    assert Counter(tc["category"] for tc in cases) == {"arithmetic": 200, "geography": 40}
    assert all(set(tc) == {"question", "answer", "category"} for tc in cases)
    assert all(
        tc["answer"] == CAPITALS[tc["question"].removeprefix("What is the capital of ").rstrip("?")]
        for tc in cases
        if tc["category"] == "geography"
    )
    assert cases == sample_testcases(240)  # same seed, same testset


@pytest.mark.parametrize(("count", "geography"), [(0, 0), (6, 1), (12, 2), (240, 40), (241, 40)])
def test_one_in_six_is_geography(count: int, geography: int) -> None:
    cases = sample_testcases(count)
    assert len(cases) == count
    assert sum(tc["category"] == "geography" for tc in cases) == geography


def outcome(expected: str, status: int, text: str) -> str:
    if status != 200:
        return "http_500"
    if text == expected:
        return "exact"
    if expected in text:
        return "chatty_but_containing"
    if text.casefold() == expected.casefold():
        return "case_only"
    return "wrong"


def test_outcome_mix_over_the_sample_testset() -> None:
    mix = Counter(outcome(tc["answer"], *answer(tc["question"])) for tc in sample_testcases(240))
    assert mix == {"exact": 203, "chatty_but_containing": 11, "case_only": 2, "wrong": 23, "http_500": 1}


def test_geography_mistakes() -> None:
    mistakes = sorted(
        (tc["question"], answer(tc["question"])[1])
        for tc in sample_testcases(240)
        if tc["category"] == "geography" and answer(tc["question"])[1] != tc["answer"]
    )
    assert mistakes == [
        ("What is the capital of Finland?", "helsinki"),
        ("What is the capital of Finland?", "helsinki"),
        ("What is the capital of Norway?", "The answer is Oslo."),
        ("What is the capital of Spain?", "The answer is Madrid."),
    ]


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()), base_url="http://demo")


@pytest.mark.parametrize(
    ("body", "status", "reply"),
    [
        pytest.param({"question": "What is 2 + 2?"}, 200, {"answer": "4", "model": "demo-1"}, id="answer"),
        pytest.param({"question": "What is 76 * 9?"}, 500, {"error": "overloaded"}, id="overloaded"),
        pytest.param(
            {"q": "What is 2 + 2?"}, 400, {"error": "expected a JSON object with a 'question'"}, id="missing-question"
        ),
        pytest.param(
            ["What is 2 + 2?"], 400, {"error": "expected a JSON object with a 'question'"}, id="not-an-object"
        ),
    ],
)
async def test_http_endpoint(body: object, status: int, reply: dict[str, str]) -> None:
    async with client() as http:
        response = await http.post("/answer", json=body)
    assert (response.status_code, response.json()) == (status, reply)


async def test_http_endpoint_rejects_non_json() -> None:
    async with client() as http:
        response = await http.post("/answer", content=b"not json", headers={"content-type": "application/json"})
        assert (response.status_code, response.json()) == (400, {"error": "expected a JSON object with a 'question'"})
        assert (await http.get("/healthz")).json() == {"status": "ok"}


async def test_the_alert_receiver_keeps_the_latest_100_documents() -> None:
    async with client() as http:
        assert (await http.get("/alerts")).json() == []
        for i in range(105):
            assert (await http.post("/alerts", json={"type": "monitor.alert", "i": i})).status_code == 204
        bad = await http.post("/alerts", content=b"not json", headers={"content-type": "application/json"})
        assert (bad.status_code, bad.json()) == (400, {"error": "expected a JSON document"})
        kept = (await http.get("/alerts")).json()
    assert [d["i"] for d in kept] == list(range(5, 105))


async def test_plain_text_endpoint_is_not_json() -> None:
    async with client() as http:
        response = await http.post("/text", json={"question": "What is 2 + 2?"})
    assert (response.status_code, response.text) == (200, "I am not JSON")


def judge_request(answer_format: str, output: str, output_type: str = "boolean") -> dict[str, object]:
    from shared.scoring import judge_prompts as scoring_judge
    from shared.scoring.record import ScoringInput

    config = scoring_judge.parse_config(
        {"model": "demo-judge", "template": "answer_correctness", "answer_format": answer_format}
    )
    prompt = scoring_judge.build_prompt(
        config, output_type, "", ScoringInput(outputs={"response": output}, expected={"answer": "Paris"})
    )
    body: dict[str, object] = {"model": "demo-judge", "messages": prompt.messages}
    if prompt.tools:
        body |= {"tools": prompt.tools, "tool_choice": prompt.tool_choice}
    else:
        body["response_format"] = prompt.response_format
    return body


@pytest.mark.parametrize(
    ("answer_format", "output", "output_type", "verdict"),
    [
        pytest.param("json_schema", "It is paris.", "boolean", {"score": True}, id="json-right"),
        pytest.param("json_schema", "Lyon", "boolean", {"score": False}, id="json-wrong"),
        pytest.param("tool_call", "PARIS", "int", {"score": 5}, id="tool-right"),
        pytest.param("json_schema", "Lyon", "float", {"score": 0.0}, id="float-wrong"),
    ],
)
async def test_the_demo_judge_answers_scorekeeper_judge_prompts(
    answer_format: str, output: str, output_type: str, verdict: dict[str, object]
) -> None:
    async with client() as demo:
        reply = await demo.post("/v1/chat/completions", json=judge_request(answer_format, output, output_type))
    assert reply.status_code == 200
    completion = reply.json()
    message = completion["choices"][0]["message"]
    text = message["tool_calls"][0]["function"]["arguments"] if answer_format == "tool_call" else message["content"]
    assert json.loads(text)["score"] == verdict["score"]
    assert completion["usage"]["prompt_tokens"] > 0


async def test_the_demo_judge_refuses_other_requests() -> None:
    async with client() as demo:
        reply = await demo.post(
            "/v1/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": "hi"}]}
        )
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == (
        "the demo judge only answers Scorekeeper judge prompts: the system message names no data nonce"
    )


def test_a_traced_answer_says_its_usage_and_its_steps() -> None:
    said = traced("What is the capital of France?", "Paris")
    assert said["usage"] == {"prompt_tokens": 26, "completion_tokens": 1, "cost_usd": 0.0000145}
    steps = parse_json(said["trace"]["spans"], "spans")  # type: ignore[index]
    assert [(s["name"], s["kind"], s.get("output")) for s in steps] == [
        ("understand", "chain", "capital"),
        ("look up the capital", "retrieval", "Paris"),
        ("phrase the answer", "llm", "Paris"),
    ]
    assert steps[2]["start_ms"] == steps[1]["start_ms"] + steps[1]["duration_ms"]
    sums = traced("What is 2 + 2?", "4")["trace"]["spans"]  # type: ignore[index]
    assert [s["name"] for s in sums] == ["understand", "calculate", "phrase the answer"]
    assert sums[1]["input"] == {"a": 2, "op": "+", "b": 2}
