"""The demo AI system: deterministic answers, and the exact mix of mistakes over the sample testset."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from services.demo_system.app import answer, create_app
from services.demo_system.testset import CAPITALS, sample_testcases


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


async def test_plain_text_endpoint_is_not_json() -> None:
    async with client() as http:
        response = await http.post("/text", json={"question": "What is 2 + 2?"})
    assert (response.status_code, response.text) == (200, "I am not JSON")
