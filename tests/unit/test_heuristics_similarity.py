"""Graded heuristics: string_similarity, token_f1, bleu, rouge_l — scores, thresholds, reasoning, limits."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import HeuristicError, Verdict, evaluate, validate_params
from shared.scoring.heuristics.similarity import BleuParams, RougeLParams, StringSimilarityParams, TokenF1Params, tokens
from shared.scoring.record import ScoringInput

NFC_E = "Caf\u00e9 au lait"
NFD_E = "Cafe\u0301 au lait"
CAT, CAT_A = "The cat sat on the mat.", "The cat sat on a mat."
TOKYO, TOKYO_DA = "東京は日本の首都です", "東京は日本の首都だ"


def judge(kind: str, params: dict[str, Any], output: Any, expected: Any) -> Verdict:
    return evaluate(kind, params, ScoringInput(outputs={"response": output}, expected={"answer": expected}))


def graded(name: str, score: float, shown: str, output: str, expected: str, tail: str = "", note: str = "") -> Verdict:
    """The verdict a graded heuristic gives: ``shown`` is e.g. '0.95 ≥ 0.80'."""
    passed = "≥" in shown
    return Verdict(passed, f"{name} {shown}{tail} between output {output!r} and expected {expected!r}{note}", score)


def assert_verdict(got: Verdict, want: Verdict) -> None:
    assert (got.passed, got.reasoning) == (want.passed, want.reasoning)
    assert got.score == pytest.approx(want.score, abs=1e-12)


# --- string_similarity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "output", "expected", "verdict"),
    [
        pytest.param(
            {},
            "Paris is the capitol",
            "Paris is the capital",
            graded("Levenshtein similarity", 0.95, "0.95 ≥ 0.80", "Paris is the capitol", "Paris is the capital"),
            id="levenshtein-pass",
        ),
        pytest.param(
            {},
            "paris",
            "Paris",
            graded("Levenshtein similarity", 0.8, "0.80 ≥ 0.80", "paris", "Paris"),
            id="at-threshold-passes",
        ),
        pytest.param(
            {"case_sensitive": False},
            "PARIS",
            "Paris",
            graded("Levenshtein similarity", 1.0, "1.00 ≥ 0.80", "PARIS", "Paris"),
            id="case-insensitive",
        ),
        pytest.param(
            {},
            "Lyon",
            "Paris",
            graded("Levenshtein similarity", 0.0, "0.00 < 0.80", "Lyon", "Paris"),
            id="levenshtein-fail",
        ),
        pytest.param(
            {"threshold": 0.95},
            "Paris is the capitol",
            "Paris is the capital",
            graded("Levenshtein similarity", 0.95, "0.95 ≥ 0.95", "Paris is the capitol", "Paris is the capital"),
            id="custom-threshold",
        ),
        pytest.param(
            {"threshold": 0.951},
            "Paris is the capitol",
            "Paris is the capital",
            graded("Levenshtein similarity", 0.95, "0.950 < 0.951", "Paris is the capitol", "Paris is the capital"),
            id="more-decimals-when-two-look-equal",
        ),
        pytest.param(
            {},
            "  Paris \n",
            "Paris",
            graded("Levenshtein similarity", 1.0, "1.00 ≥ 0.80", "  Paris \n", "Paris"),
            id="whitespace-folded",
        ),
        pytest.param(
            {},
            NFD_E,
            NFC_E,
            graded("Levenshtein similarity", 1.0, "1.00 ≥ 0.80", NFD_E, NFC_E),
            id="nfd-vs-nfc",
        ),
        pytest.param(
            {"unicode_normalize": False},
            "Cafe\u0301",
            "Caf\u00e9",
            graded("Levenshtein similarity", 0.6, "0.60 < 0.80", "Cafe\u0301", "Caf\u00e9"),
            id="nfd-vs-nfc-not-normalised",
        ),
        pytest.param(
            {},
            "I like it 👍",
            "I like it 👎",
            graded("Levenshtein similarity", 10 / 11, "0.91 ≥ 0.80", "I like it 👍", "I like it 👎"),
            id="emoji-is-one-character",
        ),
        pytest.param(
            {},
            TOKYO,
            TOKYO_DA,
            graded("Levenshtein similarity", 0.8, "0.80 ≥ 0.80", TOKYO, TOKYO_DA),
            id="cjk",
        ),
        pytest.param(
            {"algorithm": "jaro_winkler", "threshold": 0.9},
            "Pariss",
            ["London", "Paris"],
            graded(
                "Jaro-Winkler similarity", 29 / 30, "0.97 ≥ 0.90", "Pariss", "Paris", note=" (best of 2 references)"
            ),
            id="jaro-winkler-best-of-references",
        ),
        pytest.param(
            {},
            "",
            "Paris",
            graded("Levenshtein similarity", 0.0, "0.00 < 0.80", "", "Paris"),
            id="empty-output",
        ),
        pytest.param({}, "", "", graded("Levenshtein similarity", 1.0, "1.00 ≥ 0.80", "", ""), id="both-empty"),
    ],
)
def test_string_similarity(params: dict[str, Any], output: str, expected: Any, verdict: Verdict) -> None:
    got = judge("string_similarity", params, output, expected)
    assert_verdict(got, verdict)


# --- token_f1 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "verdict"),
    [
        pytest.param(
            "The capital is Paris.",
            "Paris",
            graded("token F1", 0.5, "0.50 ≥ 0.50", "The capital is Paris.", "Paris", " (precision 0.33, recall 1.00)"),
            id="articles-and-punctuation-dropped",
        ),
        pytest.param(
            "paris!",
            "Paris",
            graded("token F1", 1.0, "1.00 ≥ 0.50", "paris!", "Paris", " (precision 1.00, recall 1.00)"),
            id="exact-after-normalisation",
        ),
        pytest.param(
            "Lyon",
            "Paris",
            graded("token F1", 0.0, "0.00 < 0.50", "Lyon", "Paris", " (precision 0.00, recall 0.00)"),
            id="no-overlap",
        ),
        pytest.param(
            "on the mat the cat sat",
            CAT,
            graded("token F1", 1.0, "1.00 ≥ 0.50", "on the mat the cat sat", CAT, " (precision 1.00, recall 1.00)"),
            id="bag-of-tokens-ignores-order",
        ),
        pytest.param(
            "cat cat cat",
            "cat",
            graded("token F1", 0.5, "0.50 ≥ 0.50", "cat cat cat", "cat", " (precision 0.33, recall 1.00)"),
            id="repeats-count-once-each",
        ),
        pytest.param(
            TOKYO,
            TOKYO_DA,
            graded("token F1", 16 / 19, "0.84 ≥ 0.50", TOKYO, TOKYO_DA, " (precision 0.80, recall 0.89)"),
            id="cjk-characters-are-tokens",
        ),
        pytest.param(
            "I love it 👍",
            "love it 👍",
            graded("token F1", 6 / 7, "0.86 ≥ 0.50", "I love it 👍", "love it 👍", " (precision 0.75, recall 1.00)"),
            id="emoji-is-a-token",
        ),
        pytest.param(
            NFD_E,
            NFC_E.upper(),
            graded("token F1", 1.0, "1.00 ≥ 0.50", NFD_E, NFC_E.upper(), " (precision 1.00, recall 1.00)"),
            id="nfd-vs-nfc-uppercase",
        ),
        pytest.param(
            "",
            "Paris",
            graded("token F1", 0.0, "0.00 < 0.50", "", "Paris", " (precision 0.00, recall 0.00)"),
            id="empty-output",
        ),
        pytest.param(
            "The.",
            "a",
            graded("token F1", 1.0, "1.00 ≥ 0.50", "The.", "a", " (precision 1.00, recall 1.00)"),
            id="both-empty-after-normalisation-agree",
        ),
    ],
)
def test_token_f1(output: str, expected: Any, verdict: Verdict) -> None:
    got = judge("token_f1", {}, output, expected)
    assert_verdict(got, verdict)


def test_token_f1_best_of_references() -> None:
    got = judge("token_f1", {"threshold": 0.7}, "Paris", ["Lyon", "Paris, France"])
    assert_verdict(
        got,
        Verdict(
            False,
            "token F1 0.67 < 0.70 (precision 1.00, recall 0.50) between output 'Paris' and expected 'Paris, France' "
            "(best of 2 references)",
            2 / 3,
        ),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("The cat, the hat!", ["the", "cat", "the", "hat"], id="punctuation-and-case"),
        pytest.param("don't stop", ["dont", "stop"], id="inner-apostrophe-removed"),
        pytest.param("«Ça» — va?", ["ça", "va"], id="unicode-punctuation"),
        pytest.param(NFD_E, ["café", "au", "lait"], id="nfd-composed"),
        pytest.param("東京は首都。", ["東", "京", "は", "首", "都"], id="cjk-per-character"),
        pytest.param("서울은 수도", ["서울은", "수도"], id="hangul-by-spaces"),
        pytest.param("ok 👍🏽 €5 $5 1+1=2", ["ok", "👍🏽", "€5", "5", "112"], id="emoji-and-non-ascii-symbols-kept"),
        pytest.param("हिन्दी भाषा", ["हिन्दी", "भाषा"], id="combining-marks-kept"),
        pytest.param("", [], id="empty"),
        pytest.param("... !!!", [], id="only-punctuation"),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


# --- bleu ---------------------------------------------------------------------------------------

# sacrebleu 2.6 sentence BLEU (13a tokens, exponential smoothing) of CAT_A against CAT: 48.892302...
BLEU_CAT_A = 0.48892302243490086
# ... and of TOKYO against TOKYO_DA with its "zh" tokenizer (one token per CJK character).
BLEU_TOKYO_ZH = 0.8633400213704509
# ... and of CAT.upper() against CAT: only "." matches, smoothing keeps it above 0.
BLEU_CAT_UPPER = 0.06567274736060395


@pytest.mark.parametrize(
    ("params", "output", "expected", "verdict"),
    [
        pytest.param({}, CAT_A, CAT, graded("BLEU", BLEU_CAT_A, "0.49 ≥ 0.30", CAT_A, CAT), id="close"),
        pytest.param(
            {"threshold": 0.5}, CAT_A, CAT, graded("BLEU", BLEU_CAT_A, "0.49 < 0.50", CAT_A, CAT), id="below-threshold"
        ),
        pytest.param({}, CAT, CAT, graded("BLEU", 1.0, "1.00 ≥ 0.30", CAT, CAT), id="identical-clamped-to-1"),
        pytest.param({}, "Lyon", CAT, graded("BLEU", 0.0, "0.00 < 0.30", "Lyon", CAT), id="nothing-shared"),
        pytest.param({}, "", CAT, graded("BLEU", 0.0, "0.00 < 0.30", "", CAT), id="empty-output"),
        pytest.param(
            {},
            CAT.upper(),
            CAT,
            graded("BLEU", BLEU_CAT_UPPER, "0.07 < 0.30", CAT.upper(), CAT),
            id="case-sensitive-default",
        ),
        pytest.param(
            {"case_sensitive": False},
            CAT.upper(),
            CAT,
            graded("BLEU", 1.0, "1.00 ≥ 0.30", CAT.upper(), CAT),
            id="case-insensitive",
        ),
        pytest.param({}, NFD_E, NFC_E, graded("BLEU", 1.0, "1.00 ≥ 0.30", NFD_E, NFC_E), id="nfd-vs-nfc"),
        pytest.param({}, TOKYO, TOKYO_DA, graded("BLEU", 0.0, "0.00 < 0.30", TOKYO, TOKYO_DA), id="cjk-13a-one-token"),
        pytest.param(
            {"tokenize": "zh"},
            TOKYO,
            TOKYO_DA,
            graded("BLEU", BLEU_TOKYO_ZH, "0.86 ≥ 0.30", TOKYO, TOKYO_DA),
            id="cjk-zh-tokenizer",
        ),
    ],
)
def test_bleu(params: dict[str, Any], output: str, expected: Any, verdict: Verdict) -> None:
    got = judge("bleu", params, output, expected)
    assert_verdict(got, verdict)


def test_bleu_scores_against_all_references_at_once() -> None:
    got = judge("bleu", {}, CAT_A, [CAT, CAT_A])
    assert_verdict(got, graded("BLEU", 1.0, "1.00 ≥ 0.30", CAT_A, CAT, note=" (2 references)"))


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
    got = judge("rouge_l", {}, output, expected)
    assert_verdict(got, verdict)


def test_rouge_l_best_of_references() -> None:
    got = judge("rouge_l", {}, CAT_A, ["Paris", CAT])
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
        judge(kind, {}, output, expected)
    assert str(caught.value) == message


@pytest.mark.parametrize("kind", ["string_similarity", "token_f1", "bleu", "rouge_l"])
def test_empty_reference_list_cannot_score(kind: str) -> None:
    with pytest.raises(HeuristicError) as caught:
        judge(kind, {}, "x", [])
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
