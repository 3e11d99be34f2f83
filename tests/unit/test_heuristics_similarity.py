"""Graded heuristics: string_similarity, token_f1, bleu — scores, thresholds, reasoning."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import Verdict
from shared.scoring.heuristics.similarity import tokens
from tests.support.heuristics import assert_verdict, graded, judge_against

NFC_E = "Caf\u00e9 au lait"
NFD_E = "Cafe\u0301 au lait"
CAT, CAT_A = "The cat sat on the mat.", "The cat sat on a mat."
TOKYO, TOKYO_DA = "東京は日本の首都です", "東京は日本の首都だ"


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
    got = judge_against("string_similarity", params, output, expected)
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
    got = judge_against("token_f1", {}, output, expected)
    assert_verdict(got, verdict)


def test_token_f1_best_of_references() -> None:
    got = judge_against("token_f1", {"threshold": 0.7}, "Paris", ["Lyon", "Paris, France"])
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
    got = judge_against("bleu", params, output, expected)
    assert_verdict(got, verdict)


def test_bleu_scores_against_all_references_at_once() -> None:
    got = judge_against("bleu", {}, CAT_A, [CAT, CAT_A])
    assert_verdict(got, graded("BLEU", 1.0, "1.00 ≥ 0.30", CAT_A, CAT, note=" (2 references)"))
