"""PDF pages to clean text: pypdf extraction, table-row reconstruction, normalisation, running headers."""
from __future__ import annotations

import io
import logging
import math
import re
import statistics
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import DocumentError
from assistant.records import Page

log = logging.getLogger(__name__)

RADIATION = "\u2622"  # ☢

_LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "ft", "\ufb06": "st"}
_DROP = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = dict.fromkeys(map(ord, "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"), " ")
# NFKC would turn these into plain letters ("TM") or leave them alone anyway; keep them exactly.
_KEEP = frozenset("\u2622\u00ae\u2122\u00a9")
# How some fonts without a ToUnicode map come out for the radiation trefoil.
_RAD_TOKEN = r"(?:radioactive|uni2622|u2622|/radioactive)"
_RAD_RUN = re.compile(rf"(?<![\w/]){_RAD_TOKEN}(?:\s*{_RAD_TOKEN})+(?!\w)", re.I)
_RAD_LINE = re.compile(rf"^\s*{_RAD_TOKEN}(?:\s*{_RAD_TOKEN})*\s*\**\s*$", re.I)
_RAD_AFTER_CATEGORY = re.compile(rf"(appropriate\)?|disagreement\))\s+{_RAD_TOKEN}\s*(\**)\s*$", re.I)


def normalize_text(text: str) -> str:
    """Normalise extracted text: ligatures, odd spaces, soft hyphens, NFKC, ☢ spellings, doubled spaces."""
    for lig, plain in _LIGATURES.items():
        text = text.replace(lig, plain)
    text = text.translate(_DROP).translate(_SPACES).replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = "".join(ch if ch in _KEEP or ch.isascii() else unicodedata.normalize("NFKC", ch) for ch in text)
    lines = []
    for line in text.split("\n"):
        line = re.sub(r" {2,}", " ", line).strip()
        if "adioactive" in line or "2622" in line:
            line = _normalize_radiation(line)
        lines.append(re.sub(r"\s+®", "®", line))
    return "\n".join(lines)


def _normalize_radiation(line: str) -> str:
    """Map spelled-out trefoils to ☢ only where they can only be a radiation level, never in prose."""
    if _RAD_LINE.match(line):
        return RADIATION * len(re.findall(_RAD_TOKEN, line, re.I)) + "*" * line.count("*")
    line = _RAD_RUN.sub(lambda m: RADIATION * len(re.findall(_RAD_TOKEN, m.group(0), re.I)), line)
    return _RAD_AFTER_CATEGORY.sub(lambda m: f"{m.group(1)} {RADIATION}{m.group(2)}", line)


@dataclass
class _Line:
    x: float
    y: float
    fs: float
    text: str


@dataclass
class _Block:
    cols: list[list[_Line]] = field(default_factory=list)

    @property
    def lines(self) -> list[_Line]:
        return [ln for col in self.cols for ln in col]


def read_pdf(path: Path, data: bytes, *, max_pages: int) -> tuple[list[Page], list[str]]:
    """Read a PDF into cleaned pages (1-based numbers) and warnings; raise DocumentError when nothing usable."""
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError

    name, where = path.name, str(path)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise DocumentError(where, f"the PDF is encrypted in a way this install cannot open ({exc})",
                                    "export an unencrypted copy and ingest that") from None
            if not ok:
                raise DocumentError(where, "the PDF is encrypted with a password",
                                    "export an unencrypted copy (print or save without a password) and ingest that")
        n_pages = len(reader.pages)
    except DocumentError:
        raise
    except FileNotDecryptedError:
        raise DocumentError(where, "the PDF is encrypted with a password",
                            "export an unencrypted copy (print or save without a password) and ingest that") from None
    except Exception as exc:  # pypdf raises many types on damaged files; all mean the same to the user
        raise DocumentError(where, f"the PDF is damaged or truncated ({type(exc).__name__}: {exc})",
                            "re-download or re-export the file and ingest it again") from None
    if n_pages == 0:
        raise DocumentError(where, "the PDF has no pages", "check that the export finished and ingest a complete copy")
    if n_pages > max_pages:
        raise DocumentError(where, f"the PDF has {n_pages} pages, more than the limit of {max_pages}",
                            "split it into smaller files or raise the page limit")

    raw: list[list[_Line] | None] = []
    unreadable: list[int] = []
    for index in range(n_pages):
        try:
            raw.append(_page_lines(reader.pages[index]))
        except Exception as exc:  # one broken page must not lose the rest of the document
            log.debug("page %d of %s unreadable: %s", index + 1, name, exc)
            raw.append(None)
            unreadable.append(index + 1)
    if len(unreadable) == n_pages:
        raise DocumentError(where, "the PDF is damaged: no page could be read",
                            "re-download or re-export the file and ingest it again")
    _strip_running_lines([r for r in raw if r])
    pages = [Page(i + 1, _page_text(lines or [])) for i, lines in enumerate(raw)]
    empty = [p.number for p in pages if not p.text.strip() and p.number not in unreadable]
    if len(empty) + len(unreadable) == n_pages:
        raise DocumentError(where, f"no extractable text on any of its {n_pages} pages (scanned or image-only PDF)",
                            "run OCR first, e.g. ocrmypdf, then ingest the OCR'd copy")
    warnings = []
    if unreadable:
        warnings.append(f"{name}: {_pages(unreadable, 'could not be read and was', 'could not be read and were')} "
                        "skipped")
    if empty:
        warnings.append(f"{name}: {_pages(empty, 'has', 'have')} no extractable text (scanned images?); "
                        "run OCR (e.g. ocrmypdf) to include them")
    return pages, warnings


def _pages(numbers: list[int], one: str, many: str) -> str:
    if len(numbers) == 1:
        return f"page {numbers[0]} {one}"
    return f"pages {', '.join(str(n) for n in numbers)} {many}"


def _page_lines(page) -> list[_Line]:
    """Text lines of one page with positions; cells of one table row merged onto one line."""
    runs: list[tuple[float, float, float, str, bool]] = []  # x, y, font size, text, rotated

    def visit(text, cm, tm, _font, size):
        if not text or not text.strip():
            return
        a = tm[0] * cm[0] + tm[1] * cm[2]
        b = tm[0] * cm[1] + tm[1] * cm[3]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        # Only a turned baseline counts; a sheared matrix is just a synthetic italic.
        rotated = abs(b) > 0.05 * abs(a) + 1e-6
        fs = abs(size * d) if d else abs(size * math.hypot(a, b))
        for k, piece in enumerate(text.split("\n")):
            if piece.strip():
                runs.append((x, y - k * 1.2 * (fs or 10), fs if 0.5 < fs < 200 else 10.0, piece, rotated))

    page.extract_text(visitor_text=visit)
    upright = [r[:4] for r in runs if not r[4]]
    # Rotated runs are watermarks or margin notes; keep them only when the whole page is rotated.
    runs4 = upright if upright else [r[:4] for r in runs]
    if not runs4:
        plain = page.extract_text() or ""
        return [_Line(0.0, -i * 12.0, 10.0, t) for i, t in enumerate(plain.splitlines()) if t.strip()]
    return _merge_rows(_raw_lines(runs4))


def _raw_lines(runs) -> list[_Line]:
    lines: list[_Line] = []
    for x, y, fs, text in runs:
        cur = lines[-1] if lines else None
        if cur and abs(y - cur.y) <= 0.35 * max(fs, cur.fs) and x >= cur.x - fs:
            if not (cur.text.endswith(" ") or text.startswith(" ")) and x > cur.x + 0.42 * cur.fs * len(cur.text):
                text = " " + text
            cur.text += text
            cur.fs = max(cur.fs, fs)
        else:
            lines.append(_Line(x, y, fs, text))
    return lines


def _leading(lines: list[_Line]) -> float:
    gaps = [a.y - b.y for a, b in zip(lines, lines[1:]) if 0.5 * a.fs < a.y - b.y < 3 * a.fs]
    return statistics.median(gaps) if gaps else 12.0


def _merge_rows(lines: list[_Line]) -> list[_Line]:
    """Join the cells of a table row (drawn cell by cell) into one line; leave prose lines alone."""
    lead = _leading(lines)
    blocks: list[_Block] = []
    for ln in lines:
        b = blocks[-1] if blocks else None
        if b and _join_right(blocks, ln, lead):
            continue
        if b and _continues(b, ln, lead):
            b.cols[-1].append(ln)
            continue
        blocks.append(_Block([[ln]]))
    out: list[_Line] = []
    for b in blocks:
        if len(b.cols) == 1:
            out.extend(b.cols[0])
        else:
            top = max(ln.y for ln in b.lines)
            text = " ".join(" ".join(ln.text.strip() for ln in col) for col in b.cols)
            out.append(_Line(b.cols[0][0].x, top, max(ln.fs for ln in b.lines), text))
    return out


def _continues(b: _Block, ln: _Line, lead: float) -> bool:
    col = b.cols[-1]
    prev = col[-1]
    if not 0 < prev.y - ln.y <= 1.6 * lead:
        return False
    if len(b.cols) == 1:
        return abs(ln.x - col[0].x) <= 0.5 * ln.fs
    # A wrapped cell in a right column: stays right of the column before it.
    return abs(ln.x - col[0].x) <= 2.5 * ln.fs and ln.x > b.cols[-2][0].x + ln.fs


def _join_right(blocks: list[_Block], ln: _Line, lead: float) -> bool:
    """Attach ln as a new cell to the right of the last block when it sits beside it."""
    b = blocks[-1]
    if ln.x <= b.cols[-1][0].x + ln.fs:
        return False
    if len(b.cols) > 1:
        ys = [x.y for x in b.lines]
        if min(ys) - 1.1 * lead <= ln.y <= max(ys) + 1.1 * lead:
            b.cols.append([ln])
            return True
        return False
    col = b.cols[0]
    keep = [x for x in col if x.y <= ln.y + 0.6 * lead]
    if not keep or len(keep) > 6 or keep[0].y < ln.y - 1.1 * lead or ln.y < keep[-1].y - 1.1 * lead:
        return False
    above = col[: len(col) - len(keep)]
    if above:
        b.cols[0] = above
        blocks.append(_Block([keep, [ln]]))
    else:
        b.cols.append([ln])
    return True


_PAGE_NO = re.compile(r"^(page)?#(of#)?$")
# Table headings and rows can sit at a page edge on many pages; they are content, not running lines.
_NEVER_RUNNING = re.compile(r"^(variant\b|radiologic procedure|procedure\b)|\bappropriate\b|\u2622", re.I)


def _running_key(text: str) -> str:
    key = re.sub(r"[^a-z#]", "", re.sub(r"\d+", "#", normalize_text(text).lower()))
    # The page number may sit before or after the running text, or on its own line.
    return key.strip("#") or key


def _edge_lines(lines: list[_Line]) -> list[_Line]:
    by_y = sorted(lines, key=lambda ln: -ln.y)
    return by_y[:2] + by_y[-2:] if len(by_y) > 4 else by_y


def _strip_running_lines(pages: list[list[_Line]]) -> None:
    """Remove running headers/footers: lines repeated at the top or bottom of most pages (page number may vary)."""
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({_running_key(ln.text) for ln in _edge_lines(lines)})
    need = max(2, math.ceil(0.5 * len(pages)))
    running = {k for k, n in counts.items() if k and (n >= need or _PAGE_NO.match(k))}
    for lines in pages:
        edge = {id(ln) for ln in _edge_lines(lines)
                if _running_key(ln.text) in running and not _NEVER_RUNNING.search(ln.text.strip())}
        lines[:] = [ln for ln in lines if id(ln) not in edge]


def _page_text(lines: list[_Line]) -> str:
    if not lines:
        return ""
    lead = _leading(lines)
    parts = []
    prev = None
    for ln in lines:
        if prev is not None and prev.y - ln.y > 2.2 * lead:
            parts.append("")  # paragraph break: keep the visual gap as a blank line
        parts.append(ln.text)
        prev = ln
    text = normalize_text("\n".join(parts))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
