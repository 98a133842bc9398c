#!/usr/bin/env python3
"""Build the radguide illustrative sample library from its reviewable TOML sources.

    python corpora/build_sample.py           # write every PDF next to its source
    python corpora/build_sample.py --check   # validate sources, eval.jsonl, EXPECTED_DIFF.md
                                             # and that the committed PDFs are up to date

Sources:   corpora/sample/src/<slug>.toml      -> corpora/sample/<slug>.pdf
           corpora/previous/<slug>.toml        -> corpora/previous/<slug>.pdf

The PDFs imitate the *layout* of ACR Appropriateness Criteria® documents (variant
tables of two generations, running header/footer, narrative sections) so that the
parser can be tested without shipping licensed ACR content. The content was written
by the radguide team, is illustrative only and is not clinical guidance; every page
says so.

Needs fpdf2 (build) and pypdf (--check only), and the DejaVu TTF fonts so that the
radiation glyph ☢ renders. Output is deterministic: rerunning gives identical bytes.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE_DIR = HERE / "sample"
SAMPLE_SRC = SAMPLE_DIR / "src"
PREVIOUS_DIR = HERE / "previous"
EVAL_FILE = SAMPLE_DIR / "eval.jsonl"
EXPECTED_DIFF = PREVIOUS_DIR / "EXPECTED_DIFF.md"

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"

# Fixed so that reruns give identical bytes.
CREATION_DATE = _dt.datetime(2024, 1, 1, 0, 0, 0, tzinfo=_dt.timezone.utc)

RUNNING_HEADER = "Illustrative Appropriateness Criteria®"
MARK = "Illustrative sample — not clinical guidance"
FIRST_PAGE_LINE = "radguide sample library — modelled on the ACR Appropriateness Criteria® layout"
RATING_FOOTNOTE = (
    "Rating Scale: 1,2,3 Usually not appropriate; 4,5,6 May be appropriate; 7,8,9 Usually appropriate"
)
RRL_FOOTNOTE = "*Relative Radiation Level"

CATEGORIES = (
    "Usually Appropriate",
    "May Be Appropriate",
    "May Be Appropriate (Disagreement)",
    "Usually Not Appropriate",
)
RRLS = ("O", "☢", "☢☢", "☢☢☢", "☢☢☢☢", "☢☢☢☢☢", "Varies")
VERSION_RE = re.compile(
    r"^(New|Revised) (19|20)\d\d$|^Date of origin: (19|20)\d\d / Last review date: (19|20)\d\d$"
)

CATEGORY_DEFINITIONS = [
    ("Usually Appropriate", "the procedure is generally indicated for the clinical scenario; its expected benefit clearly outweighs its risks."),
    ("May Be Appropriate", "the procedure may be indicated; the evidence is limited, or the balance of benefit and risk is uncertain or depends on the individual patient."),
    ("May Be Appropriate (Disagreement)", "the panel did not reach agreement on the rating; the procedure may be indicated, and its use depends on local practice and the individual patient."),
    ("Usually Not Appropriate", "the procedure is unlikely to be indicated for the clinical scenario, or its risks are likely to outweigh its benefits."),
]
RRL_TABLE = [
    ("Relative Radiation Level", "Adult Effective Dose Estimate Range", "Pediatric Effective Dose Estimate Range"),
    ("O", "0 mSv", "0 mSv"),
    ("☢", "<0.1 mSv", "<0.03 mSv"),
    ("☢☢", "0.1-1 mSv", "0.03-0.3 mSv"),
    ("☢☢☢", "1-10 mSv", "0.3-3 mSv"),
    ("☢☢☢☢", "10-30 mSv", "3-10 mSv"),
    ("☢☢☢☢☢", "30-100 mSv", "10-30 mSv"),
]


# --------------------------------------------------------------------------- model
@dataclass
class Row:
    procedure: str
    rrl: str
    category: str  # for rating generation: mapped from the rating
    rating: int | None = None
    comment: str = ""

    @property
    def usually_appropriate(self) -> bool:
        return self.category == "Usually Appropriate"


@dataclass
class Variant:
    number: int
    scenario: str
    summary: str
    rows: list[Row]
    discussion: list[tuple[str, str]]


@dataclass
class Topic:
    path: Path
    title: str
    version: str
    generation: str
    introduction: str
    references: list[str]
    variants: list[Variant]
    no_repeat_header: list[int] = field(default_factory=list)
    near_bottom: list[int] = field(default_factory=list)

    @property
    def pdf_path(self) -> Path:
        return self.path.parent.parent / (self.path.stem + ".pdf") if self.path.parent.name == "src" \
            else self.path.with_suffix(".pdf")

    def variant(self, number: int) -> Variant | None:
        return next((v for v in self.variants if v.number == number), None)


def rating_to_category(rating: int) -> str:
    if 7 <= rating <= 9:
        return "Usually Appropriate"
    if 4 <= rating <= 6:
        return "May Be Appropriate"
    if 1 <= rating <= 3:
        return "Usually Not Appropriate"
    raise ValueError(f"rating {rating} outside 1-9")


class SourceError(Exception):
    pass


def load_topic(path: Path) -> Topic:
    with path.open("rb") as fh:
        d = tomllib.load(fh)
    where = path.relative_to(HERE.parent) if path.is_relative_to(HERE.parent) else path

    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise SourceError(f"{where}: {msg}")

    for key in ("title", "version", "generation", "introduction", "references", "variant"):
        need(key in d, f"missing key {key!r}")
    gen = d["generation"]
    need(gen in ("category", "rating"), f"generation must be 'category' or 'rating', not {gen!r}")
    need(bool(VERSION_RE.match(d["version"])), f"bad version line {d['version']!r}")
    if gen == "rating":
        need(d["version"].startswith("Date of origin"), "rating generation uses the old 'Date of origin' line")
    variants = []
    for i, v in enumerate(d["variant"], start=1):
        need(v.get("number") == i, f"variants must be numbered 1..n in order (got {v.get('number')} at {i})")
        rows = []
        for r in v["rows"]:
            need(r.get("rrl") in RRLS, f"variant {i}: bad RRL {r.get('rrl')!r} for {r.get('procedure')!r}")
            if gen == "category":
                need(r.get("category") in CATEGORIES, f"variant {i}: bad category {r.get('category')!r}")
                need("rating" not in r, f"variant {i}: 'rating' in a category-generation table")
                rows.append(Row(r["procedure"], r["rrl"], r["category"], None, r.get("comment", "")))
            else:
                rating = r.get("rating")
                need(isinstance(rating, int) and 1 <= rating <= 9, f"variant {i}: bad rating {rating!r}")
                need("category" not in r, f"variant {i}: 'category' in a rating-generation table")
                rows.append(Row(r["procedure"], r["rrl"], rating_to_category(rating), rating, r.get("comment", "")))
        names = [r.procedure for r in rows]
        need(len(names) == len(set(names)), f"variant {i}: duplicate procedure in table")
        need(len(rows) >= 4, f"variant {i}: fewer than 4 rows")
        disc = []
        for item in v.get("discussion", []):
            need(item["procedure"] in names,
                 f"variant {i}: discussion procedure {item['procedure']!r} is not a row of the table")
            disc.append((item["procedure"], item["text"].strip()))
        need(len(disc) >= 1, f"variant {i}: no discussion")
        need(v["summary"].startswith(f"Variant {i}: "), f"variant {i}: summary must start with 'Variant {i}: '")
        variants.append(Variant(i, v["scenario"].strip(), v["summary"].strip(), rows, disc))
    need(3 <= len(variants) <= 5, f"{len(variants)} variants (want 3-5)")
    layout = d.get("layout", {})
    return Topic(path, d["title"], d["version"], gen, d["introduction"].strip(), list(d["references"]),
                 variants, list(layout.get("no_repeat_header", [])), list(layout.get("near_bottom", [])))


def source_paths() -> list[Path]:
    return sorted(SAMPLE_SRC.glob("*.toml")) + sorted(PREVIOUS_DIR.glob("*.toml"))


# --------------------------------------------------------------------------- rendering
def _require_fonts() -> None:
    if not (FONT_REGULAR.is_file() and FONT_BOLD.is_file()):
        print(f"error: DejaVu fonts missing ({FONT_REGULAR}); install them with: apt-get install fonts-dejavu-core",
              file=sys.stderr)
        raise SystemExit(1)


def _import_fpdf():
    try:
        import fpdf  # noqa: F401
    except ImportError:
        print("error: fpdf2 is not installed; install it with: pip install fpdf2==2.8.9", file=sys.stderr)
        raise SystemExit(1)
    return fpdf


@dataclass
class LayoutFacts:
    """What actually happened on the page, for the report and --check."""
    pages: int = 0
    tables: dict[int, tuple[list[int], bool]] = field(default_factory=dict)  # variant -> (pages, header repeated)
    heading_near_bottom: list[tuple[int, int]] = field(default_factory=list)  # (variant, page)


def render(topic: Topic) -> tuple[bytes, LayoutFacts]:
    fpdf = _import_fpdf()
    from fpdf import FPDF, FontFace
    from fpdf.table import Table

    _require_fonts()
    facts = LayoutFacts()
    rendered_rows: list[tuple[int, int]] = []  # (page, row index) of each table row drawn, incl. repeats

    class Doc(FPDF):
        def header(self) -> None:
            self.set_font("DejaVu", "", 8)
            self.set_text_color(90, 90, 90)
            self.set_y(8)
            self.cell(0, 4, RUNNING_HEADER, align="C", new_x="LMARGIN", new_y="NEXT")
            self.set_draw_color(150, 150, 150)
            self.line(self.l_margin, 13, self.w - self.r_margin, 13)
            self.set_draw_color(0, 0, 0)
            self.set_text_color(0, 0, 0)
            self.set_y(18)

        def footer(self) -> None:
            self.set_y(-17)
            self.set_font("DejaVu", "", 7.5)
            self.set_text_color(150, 0, 0)
            self.cell(0, 4, MARK, align="C", new_x="LMARGIN", new_y="NEXT")
            self.set_text_color(0, 0, 0)
            self.set_font("DejaVu", "", 8)
            self.cell(0, 5, f"{topic.title} {self.page_no()}", align="C")

    orig_render_row = Table._render_table_row

    def counting_render_row(self, i, *args, **kwargs):
        rendered_rows.append((self._fpdf.page, i))
        return orig_render_row(self, i, *args, **kwargs)

    pdf = Doc(orientation="P", unit="mm", format="letter")
    pdf.set_creation_date(CREATION_DATE)
    pdf.set_title(topic.title)
    pdf.set_author("radguide team")
    pdf.set_subject(f"{MARK}. {topic.version}.")
    pdf.set_creator("radguide corpora/build_sample.py")
    pdf.set_lang("en")
    pdf.add_font("DejaVu", "", str(FONT_REGULAR))
    pdf.add_font("DejaVu", "B", str(FONT_BOLD))
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=22)
    pdf.add_page()

    # ---- page 1 block
    pdf.set_font("DejaVu", "", 9.5)
    pdf.multi_cell(0, 5, FIRST_PAGE_LINE, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", "B", 17)
    pdf.multi_cell(0, 8, topic.title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10.5)
    pdf.multi_cell(0, 6, topic.version, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    # ---- variant tables
    bold = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))
    if topic.generation == "category":
        headings = ("Procedure", "Appropriateness Category", "Relative Radiation Level")
        widths = (56, 28, 16)
        aligns = ("LEFT", "LEFT", "CENTER")
    else:
        headings = ("Radiologic Procedure", "Rating", "Comments", "RRL*")
        widths = (36, 8, 45, 11)
        aligns = ("LEFT", "CENTER", "LEFT", "CENTER")

    Table._render_table_row = counting_render_row
    try:
        for v in topic.variants:
            # Park a heading listed in [layout] near_bottom in the last few centimetres of the
            # page, so its table starts on the next page (fpdf2 never leaves a table heading row
            # alone). Only when the previous content ends above that point (no blank pages).
            park_y = pdf.page_break_trigger - 16
            if v.number in topic.near_bottom and pdf.get_y() + 3 <= park_y:
                pdf.set_y(park_y)
                facts.heading_near_bottom.append((v.number, pdf.page))
            else:
                pdf.ln(3)
                # otherwise keep the heading with at least a few lines of its table
                if pdf.get_y() + 30 > pdf.page_break_trigger:
                    pdf.add_page()
            pdf.set_font("DejaVu", "B", 10.5)
            pdf.multi_cell(0, 5.5, f"Variant {v.number}:   {v.scenario}", align="L",
                           new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
            pdf.set_font("DejaVu", "", 9)
            rendered_rows.clear()
            repeat = 0 if v.number in topic.no_repeat_header else 1
            with pdf.table(col_widths=widths, text_align=aligns, headings_style=bold, line_height=4.6,
                           padding=1.2, repeat_headings=repeat, v_align="MIDDLE") as table:
                table.row(headings)
                for r in v.rows:
                    if topic.generation == "category":
                        table.row((r.procedure, r.category, r.rrl))
                    else:
                        table.row((r.procedure, str(r.rating), r.comment, r.rrl))
            pages = sorted({p for p, _ in rendered_rows})
            header_repeats = sum(1 for _, i in rendered_rows if i == 0) > 1
            facts.tables[v.number] = (pages, header_repeats)
            if topic.generation == "rating":
                pdf.set_font("DejaVu", "", 7.5)
                pdf.multi_cell(0, 4, RATING_FOOTNOTE, align="L", new_x="LMARGIN", new_y="NEXT")
                pdf.multi_cell(0, 4, RRL_FOOTNOTE, align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    finally:
        Table._render_table_row = orig_render_row

    # ---- narrative
    pdf.add_page()

    def heading(text: str, size: float = 12, before: float = 3) -> None:
        pdf.ln(before)
        if pdf.get_y() + 20 > pdf.page_break_trigger:
            pdf.add_page()
        pdf.set_font("DejaVu", "B", size)
        pdf.multi_cell(0, size * 0.55, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def para(text: str, size: float = 9.5) -> None:
        pdf.set_font("DejaVu", "", size)
        for chunk in [c.strip() for c in text.split("\n\n") if c.strip()]:
            pdf.multi_cell(0, size * 0.5, " ".join(chunk.split()), align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)

    pdf.set_font("DejaVu", "B", 14)
    pdf.multi_cell(0, 7, topic.title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(0, 5, f"{topic.version}. Narrative written by the radguide team for the illustrative sample library.",
                   align="L", new_x="LMARGIN", new_y="NEXT")
    if topic.generation == "rating":
        heading("Summary of Literature Review", 12)
        heading("Introduction/Background", 11, before=0)
    else:
        heading("Introduction/Background", 12)
    para(topic.introduction)

    heading("Discussion of Procedures by Variant", 12)
    for v in topic.variants:
        heading(f"Variant {v.number}: {v.scenario}", 10.5, before=1)
        for letter, (proc, text) in zip("ABCDEFGHIJ", v.discussion):
            pdf.set_font("DejaVu", "B", 9.5)
            pdf.multi_cell(0, 5, f"{letter}. {proc}", align="L", new_x="LMARGIN", new_y="NEXT")
            para(text)

    heading("Summary of Recommendations", 12)
    pdf.set_font("DejaVu", "", 9.5)
    for v in topic.variants:
        pdf.multi_cell(0, 4.75, f"• {v.summary}", align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    heading("Appropriateness Category Names and Definitions", 12)
    if topic.generation == "rating":
        para("This document uses the older 1-9 rating scale. " + RATING_FOOTNOTE + ". "
             "Each rating maps to one of the category names below.")
    for name, text in CATEGORY_DEFINITIONS:
        para(f"{name}: {text}")

    heading("Relative Radiation Level Information", 12)
    para("Each procedure carries a relative radiation level (RRL), an estimate of the effective dose of a typical "
         "examination. Ranges for children are lower because children are more sensitive to radiation. Procedures "
         "whose dose depends on the technique are marked Varies.")
    pdf.set_font("DejaVu", "", 8.5)
    with pdf.table(col_widths=(30, 35, 35), text_align=("CENTER", "CENTER", "CENTER"), headings_style=bold,
                   line_height=4.3, padding=1, width=130, align="LEFT") as table:
        for r in RRL_TABLE:
            table.row(r)

    heading("References", 12)
    pdf.set_font("DejaVu", "", 8.5)
    for i, ref in enumerate(topic.references, start=1):
        pdf.multi_cell(0, 4.3, f"{i}. {ref}", align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.8)
    pdf.ln(2)
    para("These references are given for orientation only. This illustrative sample was written by the radguide "
         "team and was not derived from a systematic literature review; it must not be used for patient care.", 8.5)

    facts.pages = pdf.page
    return bytes(pdf.output()), facts


# --------------------------------------------------------------------------- build
def build(write: bool = True, verbose: bool = True) -> dict[Path, tuple[Topic, bytes, LayoutFacts]]:
    out = {}
    for src in source_paths():
        topic = load_topic(src)
        data, facts = render(topic)
        out[topic.pdf_path] = (topic, data, facts)
        if write:
            topic.pdf_path.write_bytes(data)
        if verbose:
            rel = topic.pdf_path.relative_to(HERE.parent)
            print(f"{rel}: {facts.pages} pages, {len(data) // 1024} KB  [{topic.generation}] {topic.title} — {topic.version}")
            for n, (pages, rep) in facts.tables.items():
                if len(pages) > 1:
                    print(f"    variant {n} table spans pages {pages[0]}-{pages[-1]}"
                          f" (header row {'repeated' if rep else 'NOT repeated'})")
            for n, page in facts.heading_near_bottom:
                print(f"    variant {n} heading at the bottom of page {page}")
    return out


# --------------------------------------------------------------------------- checks
def compute_diff(old: Topic, new: Topic) -> dict:
    """Differences between two versions of one topic, variants matched by scenario text."""
    old_by = {v.scenario: v for v in old.variants}
    new_by = {v.scenario: v for v in new.variants}
    out: dict = {
        "title": new.title,
        "old_version": old.version,
        "new_version": new.version,
        "variants_added": [{"variant": v.number, "scenario": v.scenario} for v in new.variants if v.scenario not in old_by],
        "variants_removed": [{"variant": v.number, "scenario": v.scenario} for v in old.variants if v.scenario not in new_by],
        "variants_changed": [],
    }
    for v in new.variants:
        ov = old_by.get(v.scenario)
        if ov is None:
            continue
        o_rows = {r.procedure: r for r in ov.rows}
        n_rows = {r.procedure: r for r in v.rows}
        ch = {
            "variant": v.number,
            "old_variant": ov.number,
            "scenario": v.scenario,
            "procedures_added": [p for p in n_rows if p not in o_rows],
            "procedures_removed": [p for p in o_rows if p not in n_rows],
            "category_changes": [{"procedure": p, "old": o_rows[p].category, "new": n_rows[p].category}
                                 for p in n_rows if p in o_rows and o_rows[p].category != n_rows[p].category],
            "rrl_changes": [{"procedure": p, "old": o_rows[p].rrl, "new": n_rows[p].rrl}
                            for p in n_rows if p in o_rows and o_rows[p].rrl != n_rows[p].rrl],
        }
        if any(ch[k] for k in ("procedures_added", "procedures_removed", "category_changes", "rrl_changes")):
            out["variants_changed"].append(ch)
    return out


def expected_diff_json() -> dict:
    text = EXPECTED_DIFF.read_text(encoding="utf-8")
    m = re.search(r"```json\n(.*?)\n```", text, re.S)
    if not m:
        raise SourceError(f"{EXPECTED_DIFF}: no ```json block")
    return json.loads(m.group(1))


def check() -> int:
    problems: list[str] = []

    def need(cond: bool, msg: str) -> None:
        if not cond:
            problems.append(msg)

    notes: list[str] = []
    # Rendering needs fpdf2 and the DejaVu fonts; without them the sources, eval set, diff and
    # the committed PDFs are still checked, but not whether the PDFs match the sources.
    try:
        import fpdf  # noqa: F401
        can_render = FONT_REGULAR.is_file() and FONT_BOLD.is_file()
    except ImportError:
        can_render = False
    if can_render:
        built = build(write=False, verbose=False)
    else:
        notes.append("fpdf2 or the DejaVu fonts are missing: PDFs not re-rendered, layout not checked")
        built = {}
        for src in source_paths():
            t = load_topic(src)
            built[t.pdf_path] = (t, None, None)
    current = {t.title: t for (t, _, _) in built.values() if t.path.parent == SAMPLE_SRC}
    previous = [t for (t, _, _) in built.values() if t.path.parent == PREVIOUS_DIR]

    # ---- library-wide source checks
    need(len(current) >= 11, f"only {len(current)} current topics")
    need(sum(t.generation == "rating" for t in current.values()) >= 3, "fewer than 3 rating-generation topics")
    used = {r.category for t in current.values() for v in t.variants for r in v.rows if r.rating is None}
    need(set(CATEGORIES) <= used, f"categories not used in current tables: {set(CATEGORIES) - used}")
    need(any(r.comment for t in current.values() for v in t.variants for r in v.rows), "no comments filled")

    # ---- version pair
    for old in previous:
        new = current.get(old.title)
        need(new is not None, f"{old.path.name}: no current version of {old.title!r}")
        if new is None:
            continue
        got = compute_diff(old, new)
        try:
            exp = expected_diff_json()
        except (SourceError, json.JSONDecodeError, OSError) as e:
            problems.append(str(e))
            continue
        need(got == exp, "EXPECTED_DIFF.md json block differs from the sources:\n"
             + json.dumps(got, ensure_ascii=False, indent=2))
        need(bool(got["variants_added"]), "version pair: no variant added")
        chs = got["variants_changed"]
        for k in ("procedures_added", "procedures_removed", "category_changes", "rrl_changes"):
            need(any(c[k] for c in chs), f"version pair: no {k}")

    # ---- eval set
    answerable = refusals = 0
    ids = set()
    covered: set[str] = set()
    try:
        lines = EVAL_FILE.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        lines = []
        problems.append(f"eval: {e}")
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"eval line {n}: {e}")
            continue
        qid, exp = q.get("id"), q.get("expect", {})
        need(qid not in ids, f"eval line {n}: duplicate id {qid!r}")
        ids.add(qid)
        need(bool(q.get("question", "").strip()), f"eval {qid}: empty question")
        if exp.get("refuse") is True:
            refusals += 1
            need(set(exp) == {"refuse"}, f"eval {qid}: refusal with extra keys")
            continue
        answerable += 1
        t = current.get(exp.get("title"))
        if t is None:
            problems.append(f"eval {qid}: unknown title {exp.get('title')!r}")
            continue
        covered.add(t.title)
        v = t.variant(exp.get("variant", -1))
        if v is None:
            problems.append(f"eval {qid}: {t.title!r} has no variant {exp.get('variant')!r}")
            continue
        row = next((r for r in v.rows if r.procedure == exp.get("procedure")), None)
        need(row is not None, f"eval {qid}: {exp.get('procedure')!r} is not a row of {t.title} variant {v.number}")
        need(row is None or row.usually_appropriate,
             f"eval {qid}: {exp.get('procedure')!r} is not Usually Appropriate in {t.title} variant {v.number}")
    need(answerable >= 48, f"eval: {answerable} answerable questions (want >= 48)")
    need(refusals >= 10, f"eval: {refusals} refusal questions (want >= 10)")
    need(covered == set(current), f"eval: topics without a question: {sorted(set(current) - covered)}")

    # ---- PDFs: up to date, small, text extracts with header/footer/mark
    try:
        from pypdf import PdfReader
    except ImportError:
        PdfReader = None
        problems.append("pypdf is not installed; cannot check PDF text (pip install pypdf)")
    n_rep = n_norep = 0
    n_bottom = 0
    def page_texts(src) -> list[str]:
        return [p.extract_text() or "" for p in PdfReader(src).pages]

    for pdf_path, (topic, data, facts) in built.items():
        rel = pdf_path.relative_to(HERE.parent)
        if not pdf_path.is_file():
            problems.append(f"{rel}: missing (run python corpora/build_sample.py)")
            continue
        committed = pdf_path.read_bytes()
        need(len(committed) < 100 * 1024, f"{rel}: {len(committed)} bytes (want < 100 KB)")
        if data is not None and committed != data:
            # Different fpdf2 or font builds change bytes; only a change of text means stale.
            if PdfReader is not None and page_texts(io.BytesIO(committed)) == page_texts(io.BytesIO(data)):
                notes.append(f"{rel}: bytes differ from a fresh build but text is identical "
                             "(different fpdf2/font version?)")
            else:
                problems.append(f"{rel}: out of date (run python corpora/build_sample.py)")
        if facts is not None:
            for pages, rep in facts.tables.values():
                if len(pages) > 1:
                    n_rep += rep
                    n_norep += not rep
            n_bottom += len(facts.heading_near_bottom)
        if PdfReader is None:
            continue
        texts = page_texts(str(pdf_path))
        need(facts is None or len(texts) == facts.pages, f"{rel}: page count")
        for i, text in enumerate(texts, start=1):
            need(RUNNING_HEADER in text, f"{rel} p{i}: running header missing")
            need(MARK in text, f"{rel} p{i}: mark missing")
            need(f"{topic.title} {i}" in text, f"{rel} p{i}: footer '{topic.title} {i}' missing")
        need(FIRST_PAGE_LINE in texts[0], f"{rel}: first-page line missing")
        need(topic.version in texts[0], f"{rel}: version line missing on page 1")
        full = "\n".join(texts)
        for v in topic.variants:
            need(f"Variant {v.number}:   " in full, f"{rel}: heading 'Variant {v.number}:   ' not extracted")
        if any("☢" in r.rrl for v in topic.variants for r in v.rows):
            need("☢" in full, f"{rel}: ☢ glyph not extracted")
        if topic.generation == "rating":
            need(RATING_FOOTNOTE in full, f"{rel}: rating footnote not extracted")
    if can_render:
        need(n_rep >= 2, f"only {n_rep} tables break across pages with a repeated header row")
        need(n_norep >= 1, "no table breaks across pages without a repeated header row")
        need(n_bottom >= 1, "no variant heading near the bottom of a page")

    for n in notes:
        print("note:", n)
    for p in problems:
        print("FAIL:", p)
    print(f"{len(built)} PDFs, {len(current)} current topics, {answerable} answerable + {refusals} refusal eval "
          f"questions; {n_rep} tables broken with repeated header, {n_norep} without; "
          f"{n_bottom} headings at page bottom")
    print("check: OK" if not problems else f"check: {len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true",
                    help="validate sources, eval.jsonl and EXPECTED_DIFF.md; verify committed PDFs are up to date")
    args = ap.parse_args(argv)
    try:
        if args.check:
            return check()
        build(write=True, verbose=True)
    except SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
