"""Citations that can be checked.

The model writes [n] markers; everything else here is deterministic: markers
that point at no passage are removed and counted, each cited passage gets an
exact quote chosen from the passage (never written by the model), and the quote
is verified against the stored page text of that document version.
"""
from __future__ import annotations

import re

from assistant import lexicon

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def squash(text: str) -> str:
    """Whitespace-insensitive form used for quote verification."""
    return "".join(text.split())


def verify(quote: str, page_text: str | None) -> bool:
    return bool(quote.strip()) and page_text is not None and squash(quote) in squash(page_text)


def split_sentences(text: str) -> list[str]:
    """Sentences with their trailing markers kept attached."""
    text = text.strip()
    if not text:
        return []
    out, start = [], 0
    for m in re.finditer(r"[.!?](?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*(?=\s+[A-Z0-9(\"']|\s*$)", text):
        out.append(text[start:m.end()].strip())
        start = m.end()
    if text[start:].strip():
        out.append(text[start:].strip())
    # A list label ("A.", "2.") or a fragment of a word or two belongs to the sentence after it.
    merged: list[str] = []
    carry = ""
    for s in out:
        if len(strip_markers(s).split()) < 3 and not markers(s):
            carry = f"{carry} {s}".strip()
            continue
        merged.append(f"{carry} {s}".strip() if carry else s)
        carry = ""
    if carry:
        merged.append(carry)
    return merged


def markers(sentence: str) -> list[int]:
    keys: list[int] = []
    for m in _MARKER.finditer(sentence):
        for part in re.split(r"\s*[,;]\s*", m.group(1)):
            k = int(part)
            if k not in keys:
                keys.append(k)
    return keys


def clean_markers(answer: str, valid: set[int]) -> tuple[str, int]:
    """Drop markers that name no passage; return the cleaned text and how many were dropped."""
    removed = 0

    def fix(m: re.Match) -> str:
        nonlocal removed
        keys = [int(p) for p in re.split(r"\s*[,;]\s*", m.group(1))]
        keep = [k for k in keys if k in valid]
        removed += len(keys) - len(keep)
        return "".join(f"[{k}]" for k in keep)

    cleaned = _MARKER.sub(fix, answer)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip(), removed


def strip_markers(sentence: str) -> str:
    return _MARKER.sub("", sentence).strip()


def candidate_spans(text: str) -> list[str]:
    """Quotable spans of a passage body: its lines, and the sentences of longer lines."""
    spans: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        parts = re.split(r"(?<=[.;])\s+(?=[A-Z(])", line)
        spans.extend(p.strip() for p in parts if len(p.split()) >= 3)
    return spans


def best_span(sentence: str, spans: list[str]) -> str | None:
    """The span sharing most content words with the sentence (ties: the earlier span)."""
    want = set(lexicon.tokens(lexicon.expand(strip_markers(sentence))))
    best, best_score = None, 0.0
    for span in spans:
        have = set(lexicon.tokens(span))
        if not have:
            continue
        overlap = len(want & have)
        score = overlap / (len(have) ** 0.5)
        if overlap and score > best_score:
            best, best_score = span, score
    return best


def locate(quote: str, pages: dict[int, str]) -> int | None:
    """The first page whose text contains the quote, whitespace-insensitively; a quote that runs
    over a page break is located on the page where it starts."""
    q = squash(quote)
    if not q:
        return None
    numbers = sorted(pages)
    for number in numbers:
        if q in squash(pages[number]):
            return number
    for a, b in zip(numbers, numbers[1:]):
        if b == a + 1 and q in squash(pages[a] + pages[b]):
            return a
    return None


def verify_at(quote: str, pages: dict[int, str], page: int) -> bool:
    """The quote is on that page, or starts there and runs onto the next one."""
    if verify(quote, pages.get(page)):
        return True
    nxt = pages.get(page + 1)
    return nxt is not None and verify(quote, pages.get(page, "") + nxt)


def supports(sentence: str, passage: str, min_share: float = 0.5) -> bool:
    """Does the passage carry most of the sentence's content words? A cheap, deterministic check
    that catches a marker pinned on a passage about something else."""
    want = set(lexicon.tokens(strip_markers(sentence)))
    if not want:
        return True
    have = set(lexicon.tokens(passage))
    return len(want & have) / len(want) >= min_share


_CLAIM = re.compile(r"\b(usually not appropriate|not appropriate|may be appropriate|usually appropriate|"
                    r"is appropriate|are appropriate|recommended|preferred|first[- ]line)\b", re.I)


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def table_conflicts(sentence: str, rows: list[dict]) -> list[str]:
    """Procedures the sentence names verbatim with an appropriateness claim the table contradicts.

    The table is the source of truth: "MRI breast without IV contrast is usually appropriate" is
    flagged when that row says Usually Not Appropriate, whatever passage the marker points at."""
    claim = _CLAIM.search(sentence)
    if not claim:
        return []
    said = claim.group(1).lower()
    positive = not said.startswith(("usually not", "not ", "may be"))
    text = _words(strip_markers(sentence))
    names = sorted({r["procedure"] for r in rows}, key=len, reverse=True)
    found: list[str] = []
    for name in names:
        w = _words(name)
        if w in text and not any(w in _words(longer) for longer in found):
            found.append(name)
    conflicts = []
    for name in found:
        cats = {r["category"] for r in rows if r["procedure"] == name}
        if positive and "Usually Appropriate" not in cats:
            conflicts.append(name)
        elif said.startswith(("usually not", "not ")) and not any("Not" in c for c in cats):
            conflicts.append(name)
    return conflicts
