"""Chunks for retrieval, cut by meaning: one per variant (scenario plus its whole
table), narrative by section (per variant where the text is organised so), and
graded recommendations kept whole.

Each chunk has ``text`` (what BM25 indexes and the model reads) and ``embed_text``
(what the 256-token embedding model sees: the title, headings and the scenario or
paragraph, so the dense side matches clinical scenarios rather than table noise).
"""
from __future__ import annotations

import re

from assistant.records import CATEGORIES, ParsedDocument, ProcedureRow, Section, Variant
from assistant.store import text_hash

MAX_WORDS = 170  # ~230 word pieces: stays inside MiniLM's 256-token window


def row_line(row: ProcedureRow) -> str:
    parts = [row.procedure, row.category if row.rating is None else f"{row.category} (rating {row.rating})"]
    parts.append(f"RRL {row.rrl}" if row.rrl else "RRL n/a")
    if row.comments:
        parts.append(row.comments)
    return " | ".join(parts)


def sorted_rows(rows: list[ProcedureRow]) -> list[ProcedureRow]:
    """Rows ordered Usually Appropriate first, keeping table order within a category."""
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(rows, key=lambda r: order.get(r.category, len(order)))


def variant_chunk(doc: ParsedDocument, v: Variant) -> dict:
    head = f"{doc.title} — Variant {v.number}: {v.scenario}"
    lines = [head, "Procedure | Appropriateness category | Relative radiation level"]
    lines += [row_line(r) for r in sorted_rows(v.rows)]
    pages = v.pages or [v.page]
    return {
        "kind": "variant",
        "text": "\n".join(lines),
        "embed_text": f"{doc.title}. {v.scenario}",
        "section": f"Variant {v.number} table",
        "heading_path": [f"Variant {v.number}"],
        "variant": v.number,
        "page_start": min(pages),
        "page_end": max(pages),
    }


_LABEL = re.compile(r"^([A-Z]|\d{1,2}|[ivx]{1,4})[.)]$")
_BULLET = re.compile(r"^(\W\s|[-*•]\s*|\d{1,2}[.)]\s|[A-Z][.)]\s|Variant\s+\d)")


def reflow(text: str) -> str:
    """Join lines that a PDF wrapped mid-sentence; keep paragraph, bullet and heading breaks."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        lines: list[str] = []
        for raw in para.split("\n"):
            line = raw.strip()
            if not line:
                continue
            if lines and _LABEL.match(lines[-1]):
                lines[-1] += " " + line  # "A." on its own line labels the next one
            elif (not lines or _BULLET.match(line) or re.search(r"[.:;!?)]$", lines[-1]) is None
                  and len(lines[-1].split()) <= 8 and not line[:1].islower()):
                lines.append(line)  # a new item, or the line after a heading-like short line
            else:
                lines[-1] += " " + line
        if lines:
            out.append("\n".join(lines))
    return "\n\n".join(out)


def _windows(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """Split text into pieces of whole paragraphs (or sentences) of at most max_words."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", reflow(text)) if p.strip()]
    units: list[str] = []
    for p in paras:
        if len(p.split()) <= max_words:
            units.append(p)
            continue
        units.extend(s for s in re.split(r"(?<=[.;:])\s+(?=[A-Z(\[])", p) if s)
    out: list[str] = []
    cur: list[str] = []
    n = 0
    for u in units:
        w = len(u.split())
        if cur and n + w > max_words:
            out.append("\n".join(cur))
            cur, n = [], 0
        if w > max_words:  # a single overlong sentence: hard split on words
            words = u.split()
            for i in range(0, len(words), max_words):
                out.append(" ".join(words[i:i + max_words]))
            continue
        cur.append(u)
        n += w
    if cur:
        out.append("\n".join(cur))
    return out


# Sections that explain the format rather than the clinical content: kept searchable,
# but never offered to the model as evidence for a clinical answer.
REFERENCE_SECTION = re.compile(
    r"(?i)^(references?|bibliography|appropriateness category names|relative radiation level|"
    r"supporting documents?|disclaimer|acknowledg|abbreviations|panel members|methodology|"
    r"financial disclosures?|disclosures?|conflicts? of interest|funding|copyright|bibliographic|availability|"
    r"guideline status|guideline developer|guideline endorser|companion documents?|date released|adaptation|"
    r"source\(s\) of funding|composition of group|patient resources|ngc status|neats)")
_VARIANT_LINE = re.compile(r"^\W{0,3}\s*Variant\s+(\d+)\b", re.M)


def _per_variant(text: str) -> list[tuple[int | None, str]]:
    """Split a section whose paragraphs or bullets are headed "Variant N" (e.g. a summary of
    recommendations) into one piece per variant; other text stays as one piece."""
    marks = list(_VARIANT_LINE.finditer(text))
    if len(marks) < 2:
        return [(None, text)]
    pieces: list[tuple[int | None, str]] = []
    if text[: marks[0].start()].strip():
        pieces.append((None, text[: marks[0].start()].strip()))
    for m, nxt in zip(marks, marks[1:] + [None]):
        pieces.append((int(m.group(1)), text[m.start(): nxt.start() if nxt else len(text)].strip()))
    return pieces


def section_chunks(doc: ParsedDocument, s: Section) -> list[dict]:
    path = " > ".join(s.path or [s.heading])
    kind = "reference" if REFERENCE_SECTION.search(s.heading) else "section"
    pieces = [(s.variant, s.text)] if s.variant is not None else _per_variant(s.text)
    out = []
    for variant, text in pieces:
        for piece in _windows(text):
            out.append(_section_chunk(doc, s, path, kind, variant, piece))
    return out


def _section_chunk(doc: ParsedDocument, s: Section, path: str, kind: str, variant: int | None,
                   piece: str) -> dict:
    return {
        "kind": kind,
        "text": f"{doc.title} — {path}\n{piece}",
        "embed_text": f"{doc.title}. {path}. {piece}",
        "section": s.heading,
        "heading_path": list(s.path or [s.heading]),
        "variant": variant,
        "page_start": s.page_start,
        "page_end": s.page_end,
    }


def chunk_document(doc: ParsedDocument, version_id: str) -> list[dict]:
    """All chunks of a parsed document, with ids and content hashes."""
    chunks: list[dict] = [variant_chunk(doc, v) for v in doc.variants]
    for s in doc.sections:
        chunks.extend(section_chunks(doc, s))
    for r in doc.recommendations:
        path = " > ".join(r.path)
        grade = f" [{r.strength}]" if r.strength else ""
        label = f"Recommendation {r.number}" if r.number else "Recommendation"
        chunks.append({
            "kind": "recommendation",
            "text": f"{doc.title} — {path}\n{label}{grade}: {r.text}",
            "embed_text": f"{doc.title}. {r.text}",
            "section": path or "Recommendations",
            "heading_path": list(r.path),
            "variant": None,
            "page_start": r.page,
            "page_end": r.page,
        })
    if not chunks:  # a document with text but no detected structure: plain windows per page
        for p in doc.pages:
            for piece in _windows(p.text):
                chunks.append({"kind": "text", "text": f"{doc.title}\n{piece}", "embed_text": f"{doc.title}. {piece}",
                               "section": "", "heading_path": [], "variant": None,
                               "page_start": p.number, "page_end": p.number})
    for i, c in enumerate(chunks):
        c["chunk_id"] = f"{version_id}:{i}"
        c["text_hash"] = text_hash(c["embed_text"])
    return chunks
