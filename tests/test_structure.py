"""Structure parsing: hand-written ACR-like page texts, and every sample PDF against its TOML source."""
from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

import pytest

from assistant.records import (
    MAY_BE_APPROPRIATE,
    MAY_BE_DISAGREEMENT,
    USUALLY_APPROPRIATE,
    USUALLY_NOT_APPROPRIATE,
    Page,
    category_for_rating,
)
from ingest.parse import parse_file
from ingest.pdf import normalize_text
from ingest.structure import build_document

REPO = Path(__file__).resolve().parents[1]


def doc(*texts: str, source: str = "topic.pdf"):
    """Build a document from page texts the way the PDF reader hands them over (normalised)."""
    pages = [Page(i + 1, normalize_text(t.strip("\n"))) for i, t in enumerate(texts)]
    return build_document(source, pages)


def rows(variant):
    return [(r.procedure, r.category, r.rating, r.rrl, r.comments, r.page) for r in variant.rows]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


NEW_P1 = """
American College of Radiology
ACR Appropriateness Criteria®
Acute Onset Flank Pain–Suspicion of Stone Disease
Revised  2024
Variant 1:   Suspicion of stone disease.  Initial
imaging.
Procedure  Appropriateness Category  Relative Radiation Level
CT abdomen and pelvis without IV contrast  Usually Appropriate  ☢☢☢
US kidneys and bladder retroperitoneal  Usually  Appropriate  O
CT abdomen and pelvis without and with
IV contrast
Usually Not Appropriate
☢☢☢☢
MRI abdomen and pelvis without IV contrast  May Be Appropriate (Disagreement)  O
Radiography abdomen and pelvis (KUB)  May Be Appropriate
☢
Variant 2:  Recurrent symptoms of stone disease.  Follow-up imaging.
"""

NEW_P2 = """
ACR Appropriateness Criteria®
Procedure  Appropriateness Category  Relative Radiation Level
CT abdomen and pelvis without IV contrast  usually appropriate  ☢☢☢
US kidneys and bladder retroperitoneal  Usually Appropriate  O
Fluoroscopy-guided ﬂuid drainage  May Be
Appropriate  Varies
Acute Onset Flank Pain–Suspicion of Stone Disease 2
"""

NEW_P3 = """
ACR Appropriateness Criteria®
MRI abdomen and pelvis without and with IV contrast  May Be Appropriate  O
Illustrative sample — not clinical guidance
Variant 3:  Pregnant patient.  Initial imaging.
Procedure  Appropriateness Category  Relative Radiation Level
US kidneys and bladder retroperitoneal  Usually Appropriate  O
CT abdomen and pelvis without IV contrast  Usually Not Appropriate  ☢☢☢
Summary of Literature Review
CT is usually appropriate for most patients.
Discussion of Procedures by Variant
Variant 1:  Suspicion of stone disease.  Initial imaging.
A. CT abdomen and pelvis without IV contrast
Noncontrast CT is the reference standard.
Variant 2: Recurrent symptoms of stone disease. Follow-up imaging.
A. US kidneys
Ultrasound avoids radiation.
Summary of Recommendations
Variant 1: CT is usually appropriate.
References
1. Smith J. Stones. Radiology. 2020.
Acute Onset Flank Pain–Suspicion of Stone Disease 3
"""


def test_new_generation_title_version_and_variants():
    d = doc(NEW_P1, NEW_P2, NEW_P3)
    assert d.kind == "acr"
    assert d.title == "Acute Onset Flank Pain–Suspicion of Stone Disease"
    assert d.version == "Revised 2024"
    assert [(v.number, v.scenario, v.page, v.pages) for v in d.variants] == [
        (1, "Suspicion of stone disease. Initial imaging.", 1, [1]),
        (2, "Recurrent symptoms of stone disease. Follow-up imaging.", 1, [1, 2, 3]),
        (3, "Pregnant patient. Initial imaging.", 3, [3]),
    ]


def test_new_generation_rows_wrapped_cells_glyph_lines_and_categories():
    v1, v2, v3 = doc(NEW_P1, NEW_P2, NEW_P3).variants
    assert rows(v1) == [
        ("CT abdomen and pelvis without IV contrast", USUALLY_APPROPRIATE, None, "☢☢☢", "", 1),
        ("US kidneys and bladder retroperitoneal", USUALLY_APPROPRIATE, None, "O", "", 1),
        ("CT abdomen and pelvis without and with IV contrast", USUALLY_NOT_APPROPRIATE, None, "☢☢☢☢", "", 1),
        ("MRI abdomen and pelvis without IV contrast", MAY_BE_DISAGREEMENT, None, "O", "", 1),
        ("Radiography abdomen and pelvis (KUB)", MAY_BE_APPROPRIATE, None, "☢", "", 1),
    ]
    # Variant 2 starts at the bottom of page 1; its header is on page 2 but not repeated on page 3.
    assert rows(v2) == [
        ("CT abdomen and pelvis without IV contrast", USUALLY_APPROPRIATE, None, "☢☢☢", "", 2),
        ("US kidneys and bladder retroperitoneal", USUALLY_APPROPRIATE, None, "O", "", 2),
        ("Fluoroscopy-guided fluid drainage", MAY_BE_APPROPRIATE, None, "Varies", "", 2),
        ("MRI abdomen and pelvis without and with IV contrast", MAY_BE_APPROPRIATE, None, "O", "", 3),
    ]
    assert rows(v3) == [
        ("US kidneys and bladder retroperitoneal", USUALLY_APPROPRIATE, None, "O", "", 3),
        ("CT abdomen and pelvis without IV contrast", USUALLY_NOT_APPROPRIATE, None, "☢☢☢", "", 3),
    ]


def test_source_text_is_found_in_its_page_and_boilerplate_never_leaks():
    d = doc(NEW_P1, NEW_P2, NEW_P3)
    for v in d.variants:
        for r in v.rows:
            assert squash(r.source_text) in squash(d.pages[r.page - 1].text), r
            for junk in ("Illustrative", "ACR Appropriateness", "Stone Disease 2", "Flank Pain"):
                assert junk not in r.source_text and junk not in r.procedure
    assert d.variants[0].rows[2].source_text == "CT abdomen and pelvis without and with\nIV contrast\nUsually Not Appropriate\n☢☢☢☢"


def test_narrative_sections_with_variant_subsections():
    d = doc(NEW_P1, NEW_P2, NEW_P3)
    assert [(s.heading, s.path, s.page_start, s.page_end, s.variant) for s in d.sections] == [
        ("Summary of Literature Review", ["Summary of Literature Review"], 3, 3, None),
        ("Variant 1: Suspicion of stone disease. Initial imaging.",
         ["Discussion of Procedures by Variant", "Variant 1"], 3, 3, 1),
        ("Variant 2: Recurrent symptoms of stone disease. Follow-up imaging.",
         ["Discussion of Procedures by Variant", "Variant 2"], 3, 3, 2),
        ("Summary of Recommendations", ["Summary of Recommendations"], 3, 3, None),
        ("References", ["References"], 3, 3, None),
    ]
    assert d.sections[1].text == "A. CT abdomen and pelvis without IV contrast\nNoncontrast CT is the reference standard."
    assert d.sections[4].text == "1. Smith J. Stones. Radiology. 2020."


OLD_P1 = """
American College of Radiology
ACR Appropriateness Criteria®
Chronic  Knee  Pain
Date of origin: 1998
Last review date: 2012
Variant 1:  Adult or child 5 years of age or older.  First study.
Radiologic Procedure  Rating  Comments  RRL*
X-ray knee  9  Ideal initial study.  ☢
MRI knee without IV contrast  4  Only after
radiographs are
nondiagnostic.
O
CT knee without IV contrast
3
radioactive radioactive radioactive
Tc-99m bone scan knee  2  ☢ ☢ ☢
Rating Scale: 1,2,3 Usually not appropriate; 4,5,6 May be appropriate;
7,8,9 Usually appropriate
*Relative Radiation Level
"""

OLD_P2 = """
Radiologic Procedure  Rating  Comments  RRL*
US knee  5  Operator dependent.  O*
Rating Scale: 1,2,3 Usually not appropriate; 4,5,6 May be appropriate; 7,8,9 Usually appropriate
*Relative Radiation Level
Variant 2:  Adult.  Prior radiographs show osteoarthritis.  Next study.
Radiologic Procedure  Rating  Comments  RRL*
MRI knee without IV contrast  7  ﬁnds meniscal tears.  O
"""

OLD_P3 = """
X-ray knee weight-bearing  8    ☢
Rating Scale: 1,2,3 Usually not appropriate; 4,5,6 May be appropriate; 7,8,9 Usually appropriate
Summary of Literature Review
Radiographs come first.
"""


def test_old_generation_ratings_comments_rrl_and_footnotes():
    d = doc(OLD_P1, OLD_P2, OLD_P3, source="knee.pdf")
    assert d.title == "Chronic Knee Pain"
    assert d.version == "Date of origin: 1998 Last review date: 2012"
    v1, v2 = d.variants
    assert v1.scenario == "Adult or child 5 years of age or older. First study."
    assert rows(v1) == [
        ("X-ray knee", USUALLY_APPROPRIATE, 9, "☢", "Ideal initial study.", 1),
        ("MRI knee without IV contrast", MAY_BE_APPROPRIATE, 4, "O",
         "Only after radiographs are nondiagnostic.", 1),
        ("CT knee without IV contrast", USUALLY_NOT_APPROPRIATE, 3, "☢☢☢", "", 1),
        ("Tc-99m bone scan knee", USUALLY_NOT_APPROPRIATE, 2, "☢☢☢", "", 1),
        ("US knee", MAY_BE_APPROPRIATE, 5, "O", "Operator dependent.", 2),
    ]
    assert rows(v2) == [
        ("MRI knee without IV contrast", USUALLY_APPROPRIATE, 7, "O", "finds meniscal tears.", 2),
        ("X-ray knee weight-bearing", USUALLY_APPROPRIATE, 8, "☢", "", 3),
    ]
    assert v2.pages == [2, 3]
    assert all("Rating Scale" not in r.source_text and "Usually not" not in r.comments for r in v1.rows + v2.rows)


def test_rows_drawn_line_by_line_with_wrapped_procedure_names():
    # Cells drawn per visual line: wrapped names continue below (connector word, lowercase) or start above.
    page = """
Headache
New 2019
Variant 1:  Sudden severe headache.  Initial imaging.
Procedure  Appropriateness Category  Relative Radiation Level
CT head without IV contrast  Usually Appropriate  ☢☢☢
CTA head and neck with  May Be Appropriate  ☢☢☢
IV contrast
MRI head without and with IV contrast and  May Be Appropriate  O
MRA head without IV contrast
Arteriography cervicocerebral
with catheter  Usually Not Appropriate  ☢☢☢
"""
    (v,) = doc(page).variants
    assert [(r.procedure, r.category) for r in v.rows] == [
        ("CT head without IV contrast", USUALLY_APPROPRIATE),
        ("CTA head and neck with IV contrast", MAY_BE_APPROPRIATE),
        ("MRI head without and with IV contrast and MRA head without IV contrast", MAY_BE_APPROPRIATE),
        ("Arteriography cervicocerebral with catheter", USUALLY_NOT_APPROPRIATE),
    ]
    assert v.rows[3].source_text == "Arteriography cervicocerebral\nwith catheter Usually Not Appropriate ☢☢☢"


def test_variant_mentions_in_prose_are_not_tables():
    text = """
Some Topic
Revised 2020
Summary of Recommendations
Variant 1: CT is usually appropriate for the first study.
Imaging is usually not appropriate otherwise.
"""
    d = doc(text)
    assert d.kind == "guideline" and d.variants == []


def test_guideline_headings_and_graded_recommendations():
    text = """
Management of Low Back Pain
1. Introduction
This guideline covers imaging.
2. Imaging Recommendations
2.1 Acute Pain
Recommendation 1. We recommend against routine imaging for acute low back pain.
(Strong against)

2. Imaging is suggested for red flags. (Grade B)

Strength of recommendation: C. Consider MRI before
surgery for persistent radicular pain.
RATING SCHEME
Weak for, Weak against, Strong for and Strong against are used.
"""
    d = doc(text, source="lbp.pdf")
    assert d.kind == "guideline"
    assert d.title == "Management of Low Back Pain"
    assert [(s.heading, s.path, s.page_start) for s in d.sections] == [
        ("Management of Low Back Pain", ["Management of Low Back Pain"], 1),
        ("1. Introduction", ["1. Introduction"], 1),
        ("2. Imaging Recommendations", ["2. Imaging Recommendations"], 1),
        ("2.1 Acute Pain", ["2. Imaging Recommendations", "2.1 Acute Pain"], 1),
        ("RATING SCHEME", ["RATING SCHEME"], 1),
    ]
    assert [(r.number, r.strength, r.text, r.path) for r in d.recommendations] == [
        ("1", "Strong against",
         "Recommendation 1. We recommend against routine imaging for acute low back pain. (Strong against)",
         ["2. Imaging Recommendations", "2.1 Acute Pain"]),
        ("2", "B", "2. Imaging is suggested for red flags. (Grade B)",
         ["2. Imaging Recommendations", "2.1 Acute Pain"]),
        (None, "C", "Strength of recommendation: C. Consider MRI before surgery for persistent radicular pain.",
         ["2. Imaging Recommendations", "2.1 Acute Pain"]),
    ]


# --- the sample library, checked against its sources ------------------------------------------------

SAMPLE_PDFS = sorted((REPO / "corpora" / "sample").glob("*.pdf")) + sorted((REPO / "corpora" / "previous").glob("*.pdf"))


def _source_for(pdf: Path) -> Path:
    src = pdf.parent / "src" / f"{pdf.stem}.toml"
    return src if src.exists() else pdf.with_suffix(".toml")


@pytest.mark.skipif(not SAMPLE_PDFS, reason="sample PDFs not built yet (run corpora/build_sample.py)")
@pytest.mark.parametrize("pdf", SAMPLE_PDFS, ids=lambda p: p.name)
def test_sample_pdf_matches_its_source(pdf: Path):
    src = tomllib.loads(_source_for(pdf).read_text(encoding="utf-8"))
    d = parse_file(pdf)
    assert (d.kind, d.title, d.version, d.warnings) == ("acr", src["title"], src["version"], [])
    assert [(v.number, v.scenario) for v in d.variants] == [(v["number"], v["scenario"]) for v in src["variant"]]
    for got, want in zip(d.variants, src["variant"]):
        expected = [(r["procedure"], r["category"] if "category" in r else category_for_rating(r["rating"]),
                     r.get("rating"), r["rrl"], r.get("comment", "")) for r in want["rows"]]
        assert [(r.procedure, r.category, r.rating, r.rrl, r.comments) for r in got.rows] == expected
        for r in got.rows:
            assert squash(r.source_text) in squash(d.pages[r.page - 1].text)
    for page in d.pages:
        for junk in ("Illustrative Appropriateness Criteria", "Illustrative sample — not clinical guidance",
                     f"{src['title']} {page.number}"):
            assert junk not in page.text, (page.number, junk)


@pytest.mark.skipif(not SAMPLE_PDFS, reason="sample PDFs not built yet (run corpora/build_sample.py)")
def test_sample_tables_that_break_across_pages_keep_row_pages():
    d = parse_file(REPO / "corpora" / "sample" / "suspected_pulmonary_embolism.pdf")
    v3 = d.variants[2]
    assert (v3.page, v3.pages) == (1, [1, 2])  # heading at the foot of page 1, table on page 2
    assert [(r.procedure, r.page) for r in v3.rows[:2]] == [("CTA chest with IV contrast", 2), ("V/Q scan lung", 2)]
    lbp = parse_file(REPO / "corpora" / "sample" / "low_back_pain.pdf")
    v5 = next(v for v in lbp.variants if v.number == 5)
    assert len(v5.pages) == 2 and {r.page for r in v5.rows} == set(v5.pages)


@pytest.mark.skipif(not SAMPLE_PDFS, reason="sample PDFs not built yet (run corpora/build_sample.py)")
def test_sample_library_parses_fast():
    start = time.perf_counter()
    pages = sum(len(parse_file(pdf).pages) for pdf in SAMPLE_PDFS)
    assert (time.perf_counter() - start) / pages < 0.05
