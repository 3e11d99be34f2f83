"""Graded heuristics: rouge_l, and the limits, errors and defaults every graded heuristic shares."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import HeuristicError, Verdict, validate_params
from shared.scoring.heuristics.similarity import BleuParams, RougeLParams, StringSimilarityParams, TokenF1Params
from tests.support.heuristics import assert_verdict, graded, judge_against

NFC_E = "Caf\u00e9 au lait"
NFD_E = "Cafe\u0301 au lait"
CAT, CAT_A = "The cat sat on the mat.", "The cat sat on a mat."
TOKYO, TOKYO_DA = "東京は日本の首都です", "東京は日本の首都だ"


# --- rouge_l ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "verdict"),
    [
        pytest.param(
            CAT_A,
            CAT,
            graded("ROUGE-L F1", 5 / 6, "0.83 ≥ 0.50", CAT_A, CAT, " (precision 0.83, recall 0.83)"),
            id="one-word-differs",
        ),
        pytest.param(
            "on the mat the cat sat",
            CAT,
            graded("ROUGE-L F1", 0.5, "0.50 ≥ 0.50", "on the mat the cat sat", CAT, " (precision 0.50, recall 0.50)"),
            id="order-matters",
        ),
        pytest.param(
            "the cat",
            CAT,
            graded("ROUGE-L F1", 0.5, "0.50 ≥ 0.50", "the cat", CAT, " (precision 1.00, recall 0.33)"),
            id="short-output",
        ),
        pytest.param(
            "Lyon",
            "Paris",
            graded("ROUGE-L F1", 0.0, "0.00 < 0.50", "Lyon", "Paris", " (precision 0.00, recall 0.00)"),
            id="nothing-shared",
        ),
        pytest.param(
            TOKYO,
            TOKYO_DA,
            graded("ROUGE-L F1", 16 / 19, "0.84 ≥ 0.50", TOKYO, TOKYO_DA, " (precision 0.80, recall 0.89)"),
            id="cjk-characters-are-tokens",
        ),
        pytest.param(
            NFD_E,
            NFC_E,
            graded("ROUGE-L F1", 1.0, "1.00 ≥ 0.50", NFD_E, NFC_E, " (precision 1.00, recall 1.00)"),
            id="nfd-vs-nfc",
        ),
        pytest.param(
            "👍 great",
            "great 👍",
            graded("ROUGE-L F1", 0.5, "0.50 ≥ 0.50", "👍 great", "great 👍", " (precision 0.50, recall 0.50)"),
            id="emoji",
        ),
        pytest.param(
            "",
            CAT,
            graded("ROUGE-L F1", 0.0, "0.00 < 0.50", "", CAT, " (precision 0.00, recall 0.00)"),
            id="empty-output",
        ),
    ],
)
def test_rouge_l(output: str, expected: Any, verdict: Verdict) -> None:
    got = judge_against("rouge_l", {}, output, expected)
    assert_verdict(got, verdict)


def test_rouge_l_best_of_references() -> None:
    got = judge_against("rouge_l", {}, CAT_A, ["Paris", CAT])
    assert_verdict(
        got,
        graded(
            "ROUGE-L F1", 5 / 6, "0.83 ≥ 0.50", CAT_A, CAT, " (precision 0.83, recall 0.83)", " (best of 2 references)"
        ),
    )


# --- limits and errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "output", "expected", "message"),
    [
        pytest.param(
            "string_similarity",
            "x" * 200_000,
            "y" * 100_000,
            "output and expected are too long for string_similarity: 200,000 × 100,000 characters is over the limit "
            "of 10,000,000,000 pairs",
            id="similarity-pairs",
        ),
        pytest.param(
            "rouge_l",
            "w " * 1500,
            "w " * 1500,
            "output and expected are too long for rouge_l: 1,500 × 1,500 tokens is over the limit of 2,000,000 pairs",
            id="rouge-pairs",
        ),
        pytest.param(
            "bleu",
            "w " * 600_000,
            "w",
            "output or expected is too long for bleu: 1,200,000 characters is over the limit of 1,000,000",
            id="bleu-length",
        ),
    ],
)
def test_too_long_to_compare(kind: str, output: str, expected: str, message: str) -> None:
    with pytest.raises(HeuristicError) as caught:
        judge_against(kind, {}, output, expected)
    assert str(caught.value) == message


@pytest.mark.parametrize("kind", ["string_similarity", "token_f1", "bleu", "rouge_l"])
def test_empty_reference_list_cannot_score(kind: str) -> None:
    with pytest.raises(HeuristicError) as caught:
        judge_against(kind, {}, "x", [])
    assert str(caught.value) == "the expected field 'answer' is an empty list: nothing to compare"


@pytest.mark.parametrize(
    ("kind", "params", "parsed"),
    [
        pytest.param(
            "string_similarity",
            {},
            StringSimilarityParams(algorithm="levenshtein", threshold=0.8, case_sensitive=True),
            id="similarity-0.8",
        ),
        pytest.param("token_f1", {}, TokenF1Params(threshold=0.5), id="token-f1-0.5"),
        pytest.param("bleu", {}, BleuParams(threshold=0.3, tokenize="13a", case_sensitive=True), id="bleu-0.3"),
        pytest.param("rouge_l", {}, RougeLParams(threshold=0.5), id="rouge-l-0.5"),
    ],
)
def test_graded_defaults(kind: str, params: dict[str, Any], parsed: object) -> None:
    assert validate_params(kind, params) == parsed


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        pytest.param(
            "string_similarity",
            {"threshold": 1.5},
            "invalid params for string_similarity: params.threshold: Input should be less than or equal to 1",
            id="threshold-above-1",
        ),
        pytest.param(
            "token_f1",
            {"threshold": -0.1},
            "invalid params for token_f1: params.threshold: Input should be greater than or equal to 0",
            id="threshold-negative",
        ),
        pytest.param(
            "string_similarity",
            {"algorithm": "cosine"},
            "invalid params for string_similarity: params.algorithm: Input should be 'levenshtein' or 'jaro_winkler'",
            id="unknown-algorithm",
        ),
        pytest.param(
            "bleu",
            {"tokenize": "ja-mecab"},
            "invalid params for bleu: params.tokenize: Input should be '13a', 'intl', 'zh', 'char' or 'none'",
            id="tokenizer-needing-extras",
        ),
        pytest.param(
            "rouge_l",
            {"use_stemmer": True},
            "invalid params for rouge_l: params.use_stemmer: Extra inputs are not permitted",
            id="rouge-no-stemmer",
        ),
    ],
)
def test_graded_params_rejected(kind: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_params(kind, params)
    assert str(caught.value) == message
