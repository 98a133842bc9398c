"""Markdown, HTML and plain-text guidelines, and the heading/recommendation rules shared with guideline PDFs."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from assistant.records import Page, ParsedDocument, Recommendation, Section

from ingest.pdf import normalize_text

# --- strength grades -------------------------------------------------------------------------

_DIRECTIONAL = re.compile(r"\b(strong|weak|conditional)\s+(for|against)\b", re.I)
_LABELLED = re.compile(r"\bstrength of (?:the )?recommendation\s*(?:is|:|=|-)?\s*(?:grade\s+)?"
                       r"(strong|weak|moderate|conditional|EO|I|[A-D])\b", re.I)
_GRADE = re.compile(r"\(\s*grade\s+([A-D])\s*\)|\bgrade\s+([A-D])\s+recommendation\b|\[\s*(A|B|C|D|I|EO)\s*\]", re.I)
_NOT_APPLICABLE = re.compile(r"\([\s*_]*(?:not applicable|n/a)\s*;", re.I)


def find_strength(text: str) -> str | None:
    """The strength grade a recommendation carries ("Strong for", "C", ...), or None when ungraded."""
    found = {f"{m.group(1).capitalize()} {m.group(2).lower()}" for m in _DIRECTIONAL.finditer(text)}
    if len(found) > 1:
        return None  # several grades named at once: a definition of the scale, not a recommendation
    if found:
        return found.pop()
    m = _LABELLED.search(text)
    if m:
        value = m.group(1)
        return value.upper() if len(value) <= 2 else value.capitalize()
    m = _GRADE.search(text)
    if m:
        return next(g for g in m.groups() if g).upper()
    if _NOT_APPLICABLE.search(text):
        return "Not applicable"
    return None


# --- markdown ---------------------------------------------------------------------------------

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^ {0,3}(\d{1,3})[.)]\s+(.*)$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>\n]{1,400}>")


def clean_inline(text: str) -> str:
    """Strip Markdown/HTML inline markup and collapse spaces, keeping the words as printed."""
    text = _LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = re.sub(r"(\*\*|__)", "", text)
    text = re.sub(r"(?<![\w*])[*_](?=\S)|(?<=\S)[*_](?![\w*])", "", text)
    text = re.sub(r"(?<!\S)[*_]+(?!\S)", "", text)  # emphasis markers left floating: "_**against** _"
    text = re.sub(r"\s+([,.;:)])", r"\1", re.sub(r"\(\s+", "(", text))
    return re.sub(r"[ \t]+", " ", normalize_text(text)).strip()


def parse_markdown(source: str, text: str, *, title: str | None = None) -> ParsedDocument:
    """Markdown (with optional YAML front matter) to a guideline document with heading paths and recommendations."""
    text = text.replace("\r\n", "\n")
    m = _FRONT.match(text)
    if m:
        fm = re.search(r"^title:\s*(.+?)\s*$", m.group(1), re.M)
        if fm and not title:
            title = fm.group(1).strip().strip("\"'")
        text = text[m.end():]
    lines = text.split("\n")
    sections: list[Section] = []
    recs: list[Recommendation] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    heading: str | None = None
    top_heading: tuple[int, str] | None = None  # the shallowest, earliest heading names the document

    def flush() -> None:
        content = "\n".join(clean_inline(b) for b in body if b.strip()).strip()
        if heading is not None and content:
            sections.append(Section(heading, [h for _, h in path], content, 0, 0))
        if heading is not None or content:
            recs.extend(_recommendations(body, [h for _, h in path], 0))

    for line in lines:
        hm = _HEADING.match(line)
        if hm and len(hm.group(2)) <= 150 and clean_inline(hm.group(2)):
            flush()
            level, heading = len(hm.group(1)), clean_inline(hm.group(2))
            if top_heading is None or level < top_heading[0]:
                top_heading = (level, heading)
            path = [(lv, h) for lv, h in path if lv < level] + [(level, heading)]
            body = []
        else:
            body.append(line)
    flush()
    if not title:
        title = top_heading[1] if top_heading else None
    full = "\n".join(clean_inline(x) for x in lines if x.strip())
    return ParsedDocument(source=source, title=_title(title, source), version=None, kind="guideline",
                          pages=[Page(0, full)], sections=sections, recommendations=recs)


def _title(title: str | None, source: str) -> str:
    title = clean_inline(title or "") or source.rsplit(".", 1)[0]
    return title[:-1] if title.endswith(".") and not title.endswith("..") else title


def _recommendations(body: list[str], path: list[str], page: int) -> list[Recommendation]:
    """Numbered list items carrying a strength grade, kept whole with their sub-items."""
    out: list[Recommendation] = []
    items: list[tuple[str, list[str]]] = []
    for line in body:
        m = _ITEM.match(line)
        if m:
            items.append((m.group(1), [m.group(2)]))
        elif items:
            items[-1][1].append(line)
    for number, parts in items:
        kept: list[str] = []
        graded = False
        for part in parts:
            if graded and not part.strip():
                break  # text after a graded item's blank line is the section's prose, not the item
            if part.strip():
                kept.append(clean_inline(part))
                graded = graded or find_strength(part) is not None
        whole = "\n".join(k for k in kept if k)
        strength = find_strength(whole)
        if strength:
            out.append(Recommendation(text=whole, strength=strength, number=number, path=list(path), page=page))
    return out


# --- HTML ---------------------------------------------------------------------------------------

class _HtmlToMarkdown(HTMLParser):
    """Render HTML as Markdown-like lines: headings as '#', list items numbered, scripts dropped."""

    _BLOCK = {"p", "div", "br", "tr", "table", "section", "article", "header", "footer", "blockquote", "pre",
              "ul", "ol", "dl", "dt", "dd", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.cur: list[str] = []
        self.skip = 0
        self.title: str | None = None
        self.in_title = False
        self.lists: list[list[int] | None] = []

    def _newline(self) -> None:
        line = "".join(self.cur).strip()
        if line:
            self.out.append(line)
        self.cur = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "noscript", "template"):
            self.skip += 1
        elif tag == "title":
            self.in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self._newline()
            self.cur.append("#" * int(tag[1]) + " ")
        elif tag in ("ol", "ul"):
            self._newline()
            self.lists.append([0] if tag == "ol" else None)
        elif tag == "li":
            self._newline()
            counter = self.lists[-1] if self.lists else None
            if counter is not None:
                counter[0] += 1
                self.cur.append(f"{counter[0]}. " if len(self.lists) == 1 else f"    {counter[0]}. ")
            else:
                self.cur.append("- ")
        elif tag in self._BLOCK:
            self._newline()
        elif tag in ("td", "th"):
            self.cur.append(" ")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "noscript", "template"):
            self.skip = max(0, self.skip - 1)
        elif tag == "title":
            self.in_title = False
        elif tag in ("ol", "ul"):
            self._newline()
            if self.lists:
                self.lists.pop()
        elif re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCK or tag == "li":
            self._newline()

    def handle_data(self, data):
        if self.skip:
            return
        if self.in_title:
            self.title = (self.title or "") + data
            return
        self.cur.append(re.sub(r"\s+", " ", data))


def parse_html(source: str, text: str) -> ParsedDocument:
    """HTML to a guideline document via its headings and ordered lists."""
    parser = _HtmlToMarkdown()
    parser.feed(text)
    parser.close()
    parser._newline()
    title = (parser.title or "").strip() or None
    return parse_markdown(source, "\n".join(parser.out), title=title)


# --- plain text and guideline PDFs -----------------------------------------------------------------

_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(\S.*)$")
_SMALL = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the", "to", "with",
          "vs", "versus", "per", "via", "without"}


def heading_level(line: str, next_line: str = "", prev_line: str = "") -> int | None:
    """Heading level of a line in running text (1 = all-caps or top number), None for ordinary text."""
    s = line.strip()
    if not 3 <= len(s) <= 90 or s[-1] in ".,;" or not re.search(r"[A-Za-z]{4}", s):
        return None
    if not (s[0].isupper() or s[0].isdigit()) or re.search(r"https?:|www\.|\w/\w+/", s):
        return None
    if next_line.strip()[:1].islower():
        return None  # the sentence runs on: this is a wrapped line, not a heading
    words = re.findall(r"[A-Za-z][\w'’/-]*", s)
    if len(words) > 14 or words[-1].lower() in _SMALL:
        return None
    m = _NUMBERED.match(s)
    if m:
        rest = m.group(2)
        if int(m.group(1).split(".")[0]) <= 30 and (_title_case(rest) or rest.isupper()):
            return 1 + m.group(1).count(".")
        return None
    letters = [c for c in s if c.isalpha()]
    if len(letters) >= 4 and all(c.isupper() for c in letters):
        return 1
    # A title-case line is a heading only where a paragraph has ended before it.
    prev = prev_line.strip()
    if _title_case(s) and not s.endswith(":") and (not prev or prev[-1] in ".:!?)" or prev.isupper()):
        return 2
    return None


def _title_case(text: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][\w'’-]*", text) if w.lower() not in _SMALL]
    return bool(words) and len(words) <= 12 and sum(w[0].isupper() for w in words) / len(words) >= 0.8 \
        and words[0][0].isupper()


def guideline_structure(pages: list[Page], *, skip=lambda line: False) -> tuple[list[Section], list[Recommendation]]:
    """Sections by detected headings and graded recommendations from page texts of a non-ACR guideline."""
    flat = [(p.number, ln) for p in pages for ln in p.text.split("\n")]
    found: list[tuple[Section, list[tuple[int, str]]]] = []
    path: list[tuple[int, str]] = []
    i = 0
    while i < len(flat):
        page, line = flat[i]
        nxt = flat[i + 1][1] if i + 1 < len(flat) else ""
        prev = flat[i - 1][1] if i else ""
        level = heading_level(line, nxt, prev) if line.strip() and not skip(line) else None
        if level is not None:
            heading = line.strip()
            # A heading wrapped over lines: following all-caps lines continue it.
            while i + 1 < len(flat) and flat[i + 1][1].strip() and _same_heading_kind(line, flat[i + 1][1], level):
                i += 1
                heading += " " + flat[i][1].strip()
            path = [(lv, h) for lv, h in path if lv < level] + [(level, heading)]
            found.append((Section(heading, [h for _, h in path], "", page, page), []))
        elif found:
            sec, body = found[-1]
            body.append((page, line))
            if line.strip():
                sec.page_end = page
        i += 1
    recs: list[Recommendation] = []
    for sec, body in found:
        sec.text = "\n".join(ln for _, ln in body).strip()
        recs.extend(_paragraph_recommendations(body, sec.path))
    return [sec for sec, _ in found], recs


def _same_heading_kind(first: str, nxt: str, level: int) -> bool:
    letters = [c for c in nxt if c.isalpha()]
    return level == 1 and first.strip().isupper() and bool(letters) and all(c.isupper() for c in letters) \
        and len(nxt.strip()) <= 90


_ITEM_START = re.compile(r"^\s*(?:(\d{1,3})[.)]|Recommendation\s+(\d{1,3})\s*[:.]?)\s+\S")


def _paragraph_recommendations(lines: list[tuple[int, str]], path: list[str]) -> list[Recommendation]:
    paras: list[tuple[str | None, int, list[str]]] = []
    for page, line in lines:
        m = _ITEM_START.match(line)
        if m or not line.strip() or not paras:
            if line.strip():
                paras.append((m.group(1) or m.group(2) if m else None, page, [line.strip()]))
            elif paras and paras[-1][2]:
                paras.append((None, page, []))
            continue
        paras[-1][2].append(line.strip())
    out = []
    for number, page, parts in paras:
        whole = " ".join(parts).strip()
        strength = find_strength(whole) if whole else None
        if strength:
            out.append(Recommendation(text=whole, strength=strength, number=number, path=list(path), page=page))
    return out


def parse_text(source: str, text: str) -> ParsedDocument:
    """Plain text to a guideline document: headings by shape, graded recommendations by paragraph."""
    clean = normalize_text(text)
    page = Page(0, clean.strip())
    sections, recs = guideline_structure([page])
    title = next((ln.strip() for ln in clean.split("\n") if ln.strip()), source)
    return ParsedDocument(source=source, title=_title(title[:200], source), version=None, kind="guideline",
                          pages=[page], sections=sections, recommendations=recs)
