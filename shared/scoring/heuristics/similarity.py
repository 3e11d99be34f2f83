"""Graded comparisons of the output with the expected text: a score in 0..1 that passes at a threshold.

An expected field holding a list gives several acceptable references: the best one counts (BLEU
scores against all of them at once, as multi-reference BLEU does).
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections import Counter
from typing import Any, Literal

from pydantic import Field
from rapidfuzz.distance import JaroWinkler, Levenshtein
from sacrebleu.metrics.bleu import BLEU

from shared.scoring.heuristics.base import (
    EPSILON,
    HeuristicError,
    OutputParams,
    TextParams,
    Verdict,
    expected_name,
    expected_texts,
    normalise,
    output_text,
    show,
)
from shared.scoring.record import ScoringInput

# Edit distance and LCS cost grows with the product of both lengths; past these a record errors
# instead of holding the scorer for minutes (about 0.3 s for string_similarity, 0.4 s for rouge_l).
MAX_CHARACTER_PAIRS = 10_000_000_000
MAX_TOKEN_PAIRS = 2_000_000
# BLEU is linear but slow: about a second per million characters.
MAX_BLEU_CHARACTERS = 1_000_000

# Kana and CJK ideographs: no spaces between words, so each character is a token.
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ARTICLES = frozenset({"a", "an", "the"})
# SQuAD drops all of these, "$" and "+" included; beyond ASCII only punctuation goes (emoji, "€" stay).
_ASCII_PUNCTUATION = frozenset(string.punctuation)


class _GradedParams(OutputParams):
    # Key of the record's expected values holding the reference(s); default: the only expected field.
    expected_field: str | None = None

    def reads_expected(self) -> bool:
        return True  # the reference is always an expected value


class StringSimilarityParams(_GradedParams, TextParams):
    """Normalised Levenshtein or Jaro-Winkler similarity (rapidfuzz) of output and reference text."""

    algorithm: Literal["levenshtein", "jaro_winkler"] = "levenshtein"
    threshold: float = Field(default=0.8, ge=0, le=1)
    # Strip both ends and fold inner runs of whitespace to one space, as exact_match does.
    strip_whitespace: bool = True


class TokenF1Params(_GradedParams):
    """SQuAD-style token F1: bag-of-tokens overlap after casefolding, dropping punctuation and a/an/the."""

    threshold: float = Field(default=0.5, ge=0, le=1)


class BleuParams(_GradedParams):
    """Sentence BLEU (sacrebleu, exponential smoothing), scaled to 0..1."""

    # Sentence BLEU of a good paraphrase is often 0.3..0.5, so the bar is lower than for token F1.
    threshold: float = Field(default=0.3, ge=0, le=1)
    # sacrebleu's tokenizers: "13a" (its default), "intl" (unicode punctuation), "zh" and "char" for
    # text without spaces between words, "none" for pre-tokenised text.
    tokenize: Literal["13a", "intl", "zh", "char", "none"] = "13a"
    case_sensitive: bool = True


class RougeLParams(_GradedParams):
    """ROUGE-L F-measure (rouge-score) over the same unicode-aware tokens as token_f1 (articles kept)."""

    threshold: float = Field(default=0.5, ge=0, le=1)


def tokens(text: str) -> list[str]:
    """Casefolded NFC words without punctuation; CJK one token per character; emoji and "€" are tokens."""
    text = _CJK.sub(r" \g<0> ", unicodedata.normalize("NFC", text).casefold())
    words = []
    for word in text.split():
        # Fast path for "word," in C; the per-character pass keeps letters' combining marks and symbols.
        word = word.strip(string.punctuation)
        if word and not word.isalnum():
            word = "".join(ch for ch in word if ch not in _ASCII_PUNCTUATION and unicodedata.category(ch)[0] != "P")
        if word:
            words.append(word)
    return words


def _references(record: ScoringInput, field: str | None) -> list[str]:
    refs = expected_texts(record, field)
    if not refs:
        raise HeuristicError(
            f"the expected field {expected_name(record, field)!r} is an empty list: nothing to compare"
        )
    return refs


def _check_size(kind: str, n: int, m: int, unit: str, limit: int) -> None:
    if n * m > limit:
        raise HeuristicError(
            f"output and expected are too long for {kind}: {n:,} × {m:,} {unit}s is over the limit of {limit:,} pairs"
        )


def _pair(score: float, threshold: float) -> tuple[str, str]:
    """Both numbers with as few decimals as show which side of the threshold the score is on."""
    for digits in range(2, 7):
        shown, limit = f"{score:.{digits}f}", f"{threshold:.{digits}f}"
        if shown != limit or abs(score - threshold) <= EPSILON:
            break
    return shown, limit


def _graded(name: str, score: float, threshold: float, got: str, ref: str, detail: str, refs_note: str) -> Verdict:
    score = min(1.0, max(0.0, score))
    passed = score >= threshold - EPSILON
    shown, limit = _pair(score, threshold)
    return Verdict(
        passed,
        f"{name} {shown} {'≥' if passed else '<'} {limit}{detail} between output {show(got)} "
        f"and expected {show(ref)}{refs_note}",
        score,
    )


def _best_of(count: int) -> str:
    return f" (best of {count} references)" if count > 1 else ""


def string_similarity(p: StringSimilarityParams, record: ScoringInput) -> Verdict:
    got, refs = output_text(record, p.output_field), _references(record, p.expected_field)
    options = {"case_sensitive": p.case_sensitive, "unicode_normalize": p.unicode_normalize}
    a = normalise(got, fold_whitespace=p.strip_whitespace, **options)
    similarity = (
        Levenshtein.normalized_similarity if p.algorithm == "levenshtein" else JaroWinkler.normalized_similarity
    )
    scored = []
    for ref in refs:
        b = normalise(ref, fold_whitespace=p.strip_whitespace, **options)
        _check_size("string_similarity", len(a), len(b), "character", MAX_CHARACTER_PAIRS)
        scored.append((float(similarity(a, b)), ref))
    score, ref = max(scored, key=lambda s: s[0])
    name = "Levenshtein similarity" if p.algorithm == "levenshtein" else "Jaro-Winkler similarity"
    return _graded(name, score, p.threshold, got, ref, "", _best_of(len(refs)))


def _f1(pred: list[str], ref: list[str]) -> tuple[float, float, float]:
    """(F1, precision, recall) of two bags of tokens; two empty answers agree (SQuAD)."""
    if not pred or not ref:
        same = float(pred == ref)
        return same, same, same
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0, 0.0, 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall), precision, recall


def token_f1(p: TokenF1Params, record: ScoringInput) -> Verdict:
    got, refs = output_text(record, p.output_field), _references(record, p.expected_field)
    pred = [t for t in tokens(got) if t not in _ARTICLES]
    (f1, precision, recall), ref = max(
        ((_f1(pred, [t for t in tokens(ref) if t not in _ARTICLES]), ref) for ref in refs), key=lambda s: s[0][0]
    )
    detail = f" (precision {precision:.2f}, recall {recall:.2f})"
    return _graded("token F1", f1, p.threshold, got, ref, detail, _best_of(len(refs)))


def bleu(p: BleuParams, record: ScoringInput) -> Verdict:
    got, refs = output_text(record, p.output_field), _references(record, p.expected_field)
    longest = max(len(got), *(len(ref) for ref in refs))
    if longest > MAX_BLEU_CHARACTERS:
        raise HeuristicError(
            f"output or expected is too long for bleu: {longest:,} characters is over the limit of "
            f"{MAX_BLEU_CHARACTERS:,}"
        )
    metric = BLEU(tokenize=p.tokenize, lowercase=not p.case_sensitive, effective_order=True)
    nfc = functools.partial(unicodedata.normalize, "NFC")
    score = metric.sentence_score(nfc(got), [nfc(ref) for ref in refs]).score / 100
    refs_note = f" ({len(refs)} references)" if len(refs) > 1 else ""
    return _graded("BLEU", score, p.threshold, got, refs[0], "", refs_note)


class _Tokens:
    """rouge-score's tokenizer protocol over text that is already tokens joined by spaces."""

    def tokenize(self, text: str) -> list[str]:
        return text.split()


@functools.cache
def rouge_scorer() -> Any:
    # rouge-score imports nltk, which takes seconds: only a process that scores rouge_l pays for it.
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokens())


def rouge_l(p: RougeLParams, record: ScoringInput) -> Verdict:
    got, refs = output_text(record, p.output_field), _references(record, p.expected_field)
    pred = tokens(got)
    scored = []
    for ref in refs:
        target = tokens(ref)
        _check_size("rouge_l", len(pred), len(target), "token", MAX_TOKEN_PAIRS)
        scored.append((rouge_scorer().score(" ".join(target), " ".join(pred))["rougeL"], ref))
    result, ref = max(scored, key=lambda s: float(s[0].fmeasure))
    detail = f" (precision {result.precision:.2f}, recall {result.recall:.2f})"
    return _graded("ROUGE-L F1", float(result.fmeasure), p.threshold, got, ref, detail, _best_of(len(refs)))
