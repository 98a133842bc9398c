"""Structured records shared by ingestion and answering.

These are the parsed, source-faithful pieces of a guideline: pages, variants with
their procedure rows, narrative sections and graded recommendations. Ingestion
produces them; the library stores them; answering reads them back to show
recommendations straight from the source table.
"""
from __future__ import annotations

from dataclasses import dataclass, field

USUALLY_APPROPRIATE = "Usually Appropriate"
MAY_BE_APPROPRIATE = "May Be Appropriate"
MAY_BE_DISAGREEMENT = "May Be Appropriate (Disagreement)"
USUALLY_NOT_APPROPRIATE = "Usually Not Appropriate"

# Display order: strongest recommendation first.
CATEGORIES = (USUALLY_APPROPRIATE, MAY_BE_APPROPRIATE, MAY_BE_DISAGREEMENT, USUALLY_NOT_APPROPRIATE)


def category_for_rating(rating: int) -> str:
    """Map an old-format 1-9 appropriateness rating to its category."""
    if not 1 <= rating <= 9:
        raise ValueError(f"rating {rating} is outside 1-9")
    if rating >= 7:
        return USUALLY_APPROPRIATE
    if rating >= 4:
        return MAY_BE_APPROPRIATE
    return USUALLY_NOT_APPROPRIATE


@dataclass
class Page:
    number: int  # 1-based physical page number in the file
    text: str  # extracted text, ligatures and whitespace normalised, running header/footer removed


@dataclass
class ProcedureRow:
    procedure: str  # e.g. "CT abdomen and pelvis with IV contrast" (wrapped lines joined)
    category: str  # one of CATEGORIES
    rating: int | None = None  # 1-9 in old-format tables, else None
    rrl: str | None = None  # "O", "☢".."☢☢☢☢☢", "Varies", or None when absent
    comments: str = ""
    page: int = 0  # page on which the row starts
    source_text: str = ""  # the row as it reads in the page text (used as a checkable quote)


@dataclass
class Variant:
    number: int
    scenario: str  # heading text after "Variant N:", whitespace-normalised, may span lines
    page: int  # page of the variant heading
    rows: list[ProcedureRow] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)  # every page the table touches


@dataclass
class Section:
    heading: str
    path: list[str]  # heading path, outermost first, e.g. ["Discussion of Procedures by Variant", "Variant 3"]
    text: str
    page_start: int  # page number (PDF) or 0 when the source has no pages
    page_end: int
    variant: int | None = None  # the variant this narrative is about, when it is organised so


@dataclass
class Recommendation:
    """A graded recommendation of a non-ACR guideline, kept whole."""

    text: str
    strength: str | None  # e.g. "Strong for", "Weak against", "C", None when ungraded
    number: str | None = None
    path: list[str] = field(default_factory=list)
    page: int = 0


@dataclass
class ParsedDocument:
    source: str  # file name as ingested
    title: str
    version: str | None  # the version line as printed ("Revised 2024"), None when absent
    kind: str  # "acr" (variant tables) or "guideline" (anything else)
    pages: list[Page] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
