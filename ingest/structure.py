"""Structure of cleaned page texts: ACR-style variant tables and narrative sections, or a plain guideline."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import takewhile as _takewhile

from assistant.records import (
    MAY_BE_APPROPRIATE,
    MAY_BE_DISAGREEMENT,
    USUALLY_APPROPRIATE,
    USUALLY_NOT_APPROPRIATE,
    Page,
    ParsedDocument,
    ProcedureRow,
    Section,
    Variant,
    category_for_rating,
)

from ingest.textdocs import guideline_structure

RAD = "\u2622"
_WS = re.compile(r"\s+")
_CATEGORY = re.compile(r"\b(usually\s+not\s+appropriate|usually\s+appropriate|may\s+be\s+appropriate)"
                       r"(\s*\(\s*disagreement\s*\))?", re.I)
_RRL_WORD = rf"(?:{RAD}|radioactive)"
_RRL = rf"(?:O|0|Varies|{_RRL_WORD}(?:\s*{_RRL_WORD}){{0,4}})"
_RRL_ONLY = re.compile(rf"^\s*{_RRL}\s*\**\s*$", re.I)
_RRL_TAIL = re.compile(rf"(?:^|\s){_RRL}\s*\**\s*$", re.I)
_DISAGREEMENT = re.compile(r"^\(?\s*disagreement\s*\)?$", re.I)
_RATING = re.compile(r"(?:^|(?<=\s))([1-9])(?=\s|$)")
_VARIANT = re.compile(r"^Variant\s*(\d{1,3})\s*[:.\-\u2013\u2014]?\s*(.*)$")
_HEADER_WORDS = {"procedure", "procedures", "radiologic", "appropriateness", "category", "relative", "radiation",
                 "level", "rating", "comments", "rrl", "peds", "adult", "dose", "estimate", "range"}
_FOOTNOTE = re.compile(r"^(\*|rating scale\b|note\s*:|\*?relative radiation level\b.*\bmsv|references\s+are)", re.I)
_SAMPLE_MARK = re.compile(r"illustrative sample\s*[-\u2013\u2014:]*\s*not (?:for )?clinical (?:guidance|use)\.?", re.I)
_BOILERPLATE = re.compile(r"^(american college of radiology\b|radguide sample library|.*modell?ed on the acr layout)",
                          re.I)
_ACR_HEADER = re.compile(r"^ACR Appropriateness Criteria\s*®?\s*", re.I)
_VERSION = re.compile(r"^(new|revised|reviewed|updated|date of origin|last review(?:ed)?(?: date)?)\b[^\n]{0,50}?"
                      r"\b(19|20)\d{2}\b.{0,40}$", re.I)
_NARRATIVE = [
    "Introduction/Background", "Introduction", "Background", "Summary of Literature Review",
    "Discussion of Procedures by Variant", "Discussion of Imaging Modalities", "Summary of Recommendations",
    "Summary of Evidence", "Supporting Documents", "Appropriateness Category Names and Definitions",
    "Relative Radiation Level Information", "References", "Special Treatment Considerations",
    "Safety Considerations in Pregnant Patients", "Overview of Imaging Modalities", "Special Imaging Considerations",
]
_NARRATIVE_RE = re.compile(r"^(%s)\s*:?$" % "|".join(re.escape(h) for h in _NARRATIVE), re.I)
_CONNECT_END = re.compile(r"(\b(and|or|with|without|of|to|for|in|the|a|an|by|on|at|plus|versus|vs\.?)|[,/\-\u2013(&+])$",
                          re.I)
_CONT_START = re.compile(r"^([a-z(\[]|(IV|contrast|and|or|with|without|plus)\b)")


def norm_ws(text: str) -> str:
    """Collapse all whitespace to single spaces."""
    return _WS.sub(" ", text).strip()


def is_noise(line: str) -> bool:
    """Lines that must never become content of a row: the sample mark and running boilerplate."""
    s = line.strip()
    return bool(_SAMPLE_MARK.fullmatch(s) or _BOILERPLATE.match(s) or _ACR_HEADER.fullmatch(s))


def build_document(source: str, pages: list[Page], warnings: list[str] | None = None) -> ParsedDocument:
    """Turn cleaned pages into an ACR document (variant tables found) or a plain guideline."""
    flat = [(p.number, _SAMPLE_MARK.sub("", ln).strip()) for p in pages for ln in p.text.split("\n")]
    title, version = title_and_version(pages, source)
    # A running footer "<title> <page>" that survived extraction is never content.
    footer = re.compile(rf"^{re.escape(title)}\s+\d+$", re.I)
    flat = [(pg, ln) for pg, ln in flat if ln and not footer.match(ln)]
    variants = parse_variants(flat)
    if variants:
        return ParsedDocument(source=source, title=title, version=version, kind="acr", pages=pages,
                              variants=variants, sections=acr_sections(flat, variants), warnings=list(warnings or []))
    sections, recs = guideline_structure(pages, skip=is_noise)
    return ParsedDocument(source=source, title=title, version=version, kind="guideline", pages=pages,
                          sections=sections, recommendations=recs, warnings=list(warnings or []))


def title_and_version(pages: list[Page], source: str) -> tuple[str, str | None]:
    """Topic title (first non-boilerplate line of the first page with text) and the printed version line."""
    first = next((p for p in pages if p.text.strip()), None)
    lines = [norm_ws(ln) for ln in (first.text.split("\n") if first else []) if ln.strip()][:25]
    title_lines: list[str] = []
    version_lines: list[str] = []
    for ln in lines:
        ln = _ACR_HEADER.sub("", ln).strip()
        if not ln or is_noise(ln) or re.fullmatch(r"(page\s*)?\d+", ln, re.I):
            continue
        if _VERSION.match(ln):
            version_lines.append(ln)
            continue
        if version_lines or _VARIANT.match(ln) or _is_header(ln) or _NARRATIVE_RE.match(ln):
            break
        title_lines.append(ln)
    # Title lines run until the version line; without one only the first line (or an all-caps run) is safe.
    if not version_lines and title_lines:
        caps = title_lines[0].isupper()
        title_lines = title_lines[:1] + list(_takewhile(lambda t: caps and t.isupper(), title_lines[1:4]))
    title = " ".join(title_lines) or source.rsplit(".", 1)[0]
    return title, (" ".join(version_lines) or None)


def _is_header(line: str) -> bool:
    words = re.findall(r"[a-z]+", line.lower())
    return bool(words) and all(w in _HEADER_WORDS for w in words) and line.strip()[:1] != "*"


@dataclass
class _Row:
    category: str
    rating: int | None
    rrl: str | None
    proc: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    lines: list[tuple[int, str]] = field(default_factory=list)


def _canonical_category(match: re.Match) -> str:
    words = norm_ws(match.group(1)).lower()
    if words == "usually not appropriate":
        return USUALLY_NOT_APPROPRIATE
    if words == "usually appropriate":
        return USUALLY_APPROPRIATE
    return MAY_BE_DISAGREEMENT if match.group(2) else MAY_BE_APPROPRIATE


def _canonical_rrl(text: str) -> str:
    text = text.strip().rstrip("*").strip()
    if text.lower() == "varies":
        return "Varies"
    if text in ("O", "0"):
        return "O"
    return RAD * len(re.findall(_RRL_WORD, text, re.I))


def _split_rrl(rest: str) -> tuple[str, str | None]:
    """Split 'comments ☢☢' into ('comments', '☢☢'); footnote stars dropped."""
    m = _RRL_TAIL.search(rest)
    if not m:
        return rest.rstrip("* ").strip(), None
    return rest[: m.start()].strip(), _canonical_rrl(m.group(0))


def _anchor(line: str, old: bool) -> tuple[str, str, int | None, str] | None:
    """(procedure part, category, rating, rest) when the line carries a row's category or rating."""
    m = _CATEGORY.search(line)
    if m and not old:
        return line[: m.start()].strip(), _canonical_category(m), None, line[m.end():]
    if old:
        r = _RATING.search(line)
        if r:
            rating = int(r.group(1))
            return line[: r.start()].strip(), category_for_rating(rating), rating, line[r.end():]
    return None


def _looks_continuation(prev: str, frag: str) -> bool:
    return bool(_CONNECT_END.search(prev.strip()) or _CONT_START.match(frag.strip()))


class _Table:
    """Row builder for one variant: lines arrive in reading order, rows come out whole."""

    def __init__(self, old: bool) -> None:
        self.old = old
        self.rows: list[_Row] = []
        self.pending: list[tuple[int, str]] = []

    def feed(self, page: int, line: str) -> None:
        last = self.rows[-1] if self.rows else None
        if _DISAGREEMENT.match(line) and last and last.category == MAY_BE_APPROPRIATE:
            last.category = MAY_BE_DISAGREEMENT
            last.lines.append((page, line))
            return
        if _RRL_ONLY.match(line) and last and last.rrl is None:
            # Cell-by-cell order: lines between an old table's rating and its RRL cell are comments.
            (last.comments if self.old else last.proc).extend(t for _, t in self.pending)
            last.lines.extend(self.pending)
            self.pending = []
            last.rrl = _canonical_rrl(line)
            last.lines.append((page, line))
            return
        anchor = _anchor(line, self.old)
        if anchor is None:
            self.pending.append((page, line))
            return
        proc, category, rating, rest = anchor
        comments, rrl = _split_rrl(rest)
        row = _Row(category, rating, rrl, comments=[comments] if comments else [])
        if proc:
            cont = self._continuations(last)
            lead = self.pending[len(cont):]
            row.proc = [t for _, t in lead] + [proc]
            row.lines = lead + [(page, line)]
        else:
            row.proc = [t for _, t in self.pending]
            row.lines = self.pending + [(page, line)]
        self.pending = []
        self.rows.append(row)

    def _continuations(self, last: _Row | None) -> list[tuple[int, str]]:
        """Pending lines that finish the previous row (wrapped cells of a row drawn line by line)."""
        if last is None:
            return []
        taken: list[tuple[int, str]] = []
        for page, frag in self.pending:
            target = last.comments if (self.old and last.comments and not _CONNECT_END.search(last.proc[-1])) \
                else last.proc
            prev = target[-1] if target else ""
            if not _looks_continuation(prev, frag):
                break
            target.append(frag)
            last.lines.append((page, frag))
            taken.append((page, frag))
        return taken

    def finish(self) -> list[_Row]:
        self._continuations(self.rows[-1] if self.rows else None)
        self.pending = []
        return [r for r in self.rows if norm_ws(" ".join(r.proc))]


def _find_table_start(flat: list[tuple[int, str]], i: int) -> int | None:
    """Index of the table header row following a variant heading at i, or None (narrative mention)."""
    for j in range(i + 1, min(i + 7, len(flat))):
        line = flat[j][1]
        if _is_header(line) and re.search(r"procedure|rating|appropriateness", line, re.I):
            return j
        if _VARIANT.match(line) or _NARRATIVE_RE.match(line) or _anchor(line, False):
            return None
    return None


_CATEGORY_HEAD = re.compile(r"\b(usually|usually not|may|may be)$", re.I)
_CATEGORY_TAIL = re.compile(r"^(not appropriate|appropriate|be appropriate)\b", re.I)


def _join_split_categories(flat: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Rejoin a category cell wrapped over two lines ("May Be" / "Appropriate O")."""
    out: list[tuple[int, str]] = []
    for page, line in flat:
        if out and out[-1][0] == page and _CATEGORY_TAIL.match(line) and _CATEGORY_HEAD.search(out[-1][1]) \
                and not _CATEGORY.search(out[-1][1]):
            out[-1] = (page, f"{out[-1][1]} {line}")
        else:
            out.append((page, line))
    return out


def parse_variants(flat: list[tuple[int, str]]) -> list[Variant]:
    """Variants with their procedure rows from (page, line) pairs in reading order."""
    flat = _join_split_categories(flat)
    variants: list[Variant] = []
    seen: set[int] = set()
    i = 0
    while i < len(flat):
        page, line = flat[i]
        m = _VARIANT.match(line)
        start = _find_table_start(flat, i) if m else None
        if start is None or int(m.group(1)) in seen:
            i += 1
            continue
        scenario = norm_ws(" ".join([m.group(2)] + [ln for _, ln in flat[i + 1:start] if not is_noise(ln)]))
        number = int(m.group(1))
        seen.add(number)
        variant = Variant(number=number, scenario=scenario, page=page, pages=[])
        i = _read_table(flat, start, variant)
        variants.append(variant)
    return variants


def _read_table(flat: list[tuple[int, str]], start: int, variant: Variant) -> int:
    """Fill variant.rows from the header row at start; return the index where the table ended."""
    header_text = ""
    j = start
    while j < len(flat) and _is_header(flat[j][1]):
        header_text += " " + flat[j][1].lower()
        j += 1
    table = _Table(old="rating" in header_text)
    header_pages = {flat[start][0]}
    suspended_on: int | None = None
    held: list[tuple[int, str]] = []
    i = j
    while i < len(flat):
        page, line = flat[i]
        if (_VARIANT.match(line) and _find_table_start(flat, i) is not None) or _NARRATIVE_RE.match(line):
            break
        i += 1
        if is_noise(line):
            continue
        if _is_header(line):
            suspended_on, held = None, []
            header_pages.add(page)
            continue
        if _FOOTNOTE.match(line):
            suspended_on = page
            continue
        if suspended_on is not None:
            # After a footnote the table goes on only where a later page opens with rows.
            if page == suspended_on:
                continue
            if _anchor(line, table.old) is None and not _RRL_ONLY.match(line):
                held.append((page, line))
                if len(held) > 3:
                    break
                continue
            table.pending.extend(held)
            suspended_on, held = None, []
        if len(table.pending) > 6:
            break  # a run of lines without any category or rating: prose, the table is over
        table.feed(page, line)
    touched = {variant.page} | header_pages
    for row in table.finish():
        page = row.lines[0][0] if row.lines else variant.page
        touched |= {p for p, _ in row.lines}
        variant.rows.append(ProcedureRow(
            procedure=norm_ws(" ".join(row.proc)), category=row.category, rating=row.rating, rrl=row.rrl,
            comments=norm_ws(" ".join(row.comments)), page=page,
            source_text="\n".join(t for p, t in row.lines if p == page)))
    variant.pages = sorted(touched)
    return i


def acr_sections(flat: list[tuple[int, str]], variants: list[Variant] = ()) -> list[Section]:
    """Narrative sections by the ACR headings; Variant N subsections under the discussion by variant."""
    scenarios = {v.number: f"Variant {v.number}: {v.scenario}" for v in variants}
    sections: list[Section] = []
    cur: Section | None = None
    parent: str | None = None
    consumed = ""  # a wrapped Variant heading: lines still spelling out the known scenario
    for page, line in flat:
        if consumed and cur is not None and cur.heading.startswith(f"{consumed} {norm_ws(line)}"):
            consumed = f"{consumed} {norm_ws(line)}"
            continue
        consumed = ""
        top = _NARRATIVE_RE.match(line)
        vm = _VARIANT.match(line) if parent and parent.lower().startswith("discussion of procedures") else None
        if top or vm:
            if cur and cur.text.strip():
                sections.append(cur)
            if top:
                parent = norm_ws(line).rstrip(":")
                cur = Section(parent, [parent], "", page, page)
            else:
                number = int(vm.group(1))
                heading = scenarios.get(number, norm_ws(line))
                cur = Section(heading, [parent, f"Variant {number}"], "", page, page, variant=number)
                consumed = norm_ws(line) if heading.startswith(norm_ws(line)) and heading != norm_ws(line) else ""
            continue
        if cur is None or is_noise(line):
            continue
        cur.text = f"{cur.text}\n{line}" if cur.text else line
        cur.page_end = page
    if cur and cur.text.strip():
        sections.append(cur)
    return sections
