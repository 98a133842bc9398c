"""Choosing the clinical variant of a topic that fits the question.

Variants of one topic are look-alikes: "Suspected appendicitis. Pregnant patient.
Initial imaging." versus "... Pregnant patient. Ultrasound nondiagnostic. Next
imaging study." The score combines four signals, each general to how guideline
scenarios are written:
- dense similarity of the question to the scenario,
- lexical coverage of the scenario's *distinguishing* words (weighted by how few
  sibling variants use them, so words every variant shares count for little),
- qualifier agreement (pregnancy, child, follow-up, next study after a negative
  test, risk level...), with penalties for a qualifier the question contradicts,
- numeric fit: a GCS, an age or hours since onset in the question inside or
  outside the range the scenario states.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from assistant import lexicon

W_DENSE, W_LEXICAL, W_QUALIFIER, W_NUMERIC = 1.0, 1.0, 0.35, 0.5


@dataclass
class VariantScore:
    number: int
    score: float
    dense: float
    lexical: float
    qualifier: float
    numeric: float


_NUM = r"(\d+(?:\.\d+)?)"
_Q_PATTERNS = {
    "gcs": [rf"\bgcs\s*(?:of|=|:)?\s*{_NUM}", rf"glasgow coma (?:scale|score)\s*(?:of)?\s*{_NUM}"],
    "hours": [rf"(?<!within ){_NUM}\s*(?:h|hr|hrs|hours?)\b", rf"within\s+{_NUM}\s*(?:h|hr|hrs|hours?)\b"],
    "age": [rf"\b{_NUM}\s*[- ]?(?:yo|y/o|y\.o\.|years?[- ]old|year[- ]old|yr[- ]old)\b", rf"\bage[ds]?\s*{_NUM}\b",
            rf"\b{_NUM}\s?(?:m|f|male|female|man|woman)\b", rf"\bnow\s+{_NUM}\b"],
}
_S_UNITS = {"gcs": r"gcs", "hours": r"hours?|hrs?", "age": r"years?(?: of age| old)?|age"}


def question_numbers(text: str) -> dict[str, float]:
    low = text.lower()
    found: dict[str, float] = {}
    for kind, pats in _Q_PATTERNS.items():
        for p in pats:
            m = re.search(p, low)
            if m:
                # "within 6 hours" means up to six: just under the boundary a scenario would state.
                found[kind] = float(m.group(1)) - (0.5 if m.group(0).startswith("within") else 0.0)
                break
    return found


def scenario_ranges(text: str) -> dict[str, tuple[float, float]]:
    """Ranges a scenario states, e.g. "GCS 13 to 15", "less than 6 hours", "age 40 years or older"."""
    low = text.lower()
    out: dict[str, tuple[float, float]] = {}
    for kind, unit in _S_UNITS.items():
        pre = rf"(?:{unit})\s*" if kind == "gcs" else ""
        post = "" if kind == "gcs" else rf"\s*(?:{unit})"
        m = re.search(rf"{pre}{_NUM}\s*(?:to|-|–)\s*{_NUM}{post}", low)
        if m:
            out[kind] = (float(m.group(1)), float(m.group(2)))
            continue
        m = re.search(rf"(?:less than|under|below|<)\s*{pre}{_NUM}{post}", low) or \
            re.search(rf"{pre}{_NUM}{post}\s*or (?:less|fewer|younger|below)", low)
        if m:
            out[kind] = (-math.inf, float(m.group(1)) - (0.001 if "less than" in m.group(0) else 0))
            continue
        m = re.search(rf"(?:over|more than|greater than|above|>|≥)\s*{pre}{_NUM}{post}", low) or \
            re.search(rf"{pre}{_NUM}{post}\s*or (?:older|more|greater|above)", low)
        if m:
            out[kind] = (float(m.group(1)), math.inf)
    return out


def numeric_fit(qnums: dict[str, float], scenario: str) -> float:
    ranges = scenario_ranges(scenario)
    score = 0.0
    for kind, value in qnums.items():
        if kind in ranges:
            lo, hi = ranges[kind]
            score += 1.0 if lo <= value <= hi else -1.0
    return score


def lexical_coverage(qtokens: set[str], scenario_tokens: list[set[str]]) -> list[float]:
    """How much of each scenario's distinguishing wording the question shares.

    Words are weighted by how few sibling scenarios use them. The matched weight is taken
    relative to the best sibling (so long scenarios are not penalised for their length), less
    a share of the distinguishing weight the question does not mention ("not indicated",
    "gross" when the question says "microscopic")."""
    n = len(scenario_tokens)
    df: dict[str, int] = {}
    for toks in scenario_tokens:
        for t in toks:
            df[t] = df.get(t, 0) + 1
    matched, missing = [], []
    for toks in scenario_tokens:
        weights = {t: math.log(1 + n / df[t]) for t in toks}
        distinct = {t: w for t, w in weights.items() if df[t] < n} or weights
        matched.append(sum(w for t, w in weights.items() if t in qtokens))
        total = sum(distinct.values()) or 1.0
        missing.append(sum(w for t, w in distinct.items() if t not in qtokens) / total)
    best = max(matched) or 1.0
    return [m / best - 0.3 * miss for m, miss in zip(matched, missing)]


def rank_variants(question: str, expanded: str, scenarios: dict[int, str], dense: dict[int, float]) -> list[VariantScore]:
    """Variants of one topic, best fit first."""
    qtokens = set(lexicon.tokens(expanded, keep_negation=True))
    qq = lexicon.qualifiers(expanded)
    qnums = question_numbers(question)
    numbers = list(scenarios)
    lex = lexical_coverage(qtokens, [set(lexicon.tokens(scenarios[k], keep_negation=True)) for k in numbers])
    scored = []
    for k, lx in zip(numbers, lex):
        qual = lexicon.qualifier_score(qq, scenarios[k])
        num = numeric_fit(qnums, scenarios[k])
        d = dense.get(k, 0.0)
        total = W_DENSE * d + W_LEXICAL * lx + W_QUALIFIER * qual + W_NUMERIC * num
        scored.append(VariantScore(k, total, d, lx, qual, num))
    return sorted(scored, key=lambda s: (-s.score, s.number))
