"""PDF reading: normalisation, running header/footer removal, table rows from positions, a real public PDF."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from fpdf import FPDF

from assistant.records import MAY_BE_DISAGREEMENT, USUALLY_APPROPRIATE, USUALLY_NOT_APPROPRIATE
from ingest.parse import parse_file
from ingest.pdf import normalize_text, read_pdf

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PUBLIC = Path(os.environ.get("RADGUIDE_PUBLIC_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpora" / "public")
CDC = PUBLIC / "cdc_infection_prevention_outpatient_2016.pdf"
TITLE = "Acute Onset Flank Pain–Suspicion of Stone Disease"


def test_normalize_text_ligatures_spaces_and_hyphens():
    raw = "ﬁrst ﬂow eﬀect oﬃce baﬄe ﬅ ﬆ\u00a0non\u2009breaking\u202fspaces soft\u00adhyphen  doubled   spaces \t tab"
    assert normalize_text(raw) == "first flow effect office baffle ft st non breaking spaces softhyphen doubled spaces tab"


def test_normalize_text_keeps_radiation_and_registered_marks():
    assert normalize_text("ACR Appropriateness Criteria ®  ☢☢☢  \u2122") == "ACR Appropriateness Criteria® ☢☢☢ \u2122"
    assert normalize_text("x\u00b2 \uff21") == "x2 A"  # NFKC where it is safe


def test_normalize_text_maps_radioactive_words_only_where_they_are_a_level():
    text = "radioactive radioactive\nCT head Usually Appropriate radioactive\nradioactive\nA radioactive tracer is used."
    assert normalize_text(text) == "☢☢\nCT head Usually Appropriate ☢\n☢\nA radioactive tracer is used."
    assert normalize_text("uni2622uni2622uni2622") == "☢☢☢"


def build_acr_pdf(path: Path, *, blank_page: bool = False) -> Path:
    """Three ACR-like pages: running header and footer, a table drawn cell by cell with wrapped cells."""
    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONT))
    pdf.add_font("DejaVu", "B", str(FONT.with_name("DejaVuSans-Bold.ttf")))
    pdf.set_font("DejaVu", size=10)
    pdf.set_auto_page_break(False)

    def page(lines_or_table, number):
        pdf.add_page()
        pdf.set_xy(10, 8)
        pdf.cell(0, 6, "ACR Appropriateness Criteria®")
        pdf.set_xy(10, 280)
        pdf.cell(0, 6, f"{TITLE} {number}")
        pdf.set_xy(10, 20)
        lines_or_table()

    def first():
        for text in ("American College of Radiology", TITLE, "Revised 2022",
                     "Variant 1: Suspicion of stone disease. Initial imaging."):
            pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        with pdf.table(col_widths=(90, 60, 40), line_height=6) as table:
            for cells in (("Procedure", "Appropriateness Category", "Relative Radiation Level"),
                          ("CT abdomen and pelvis without IV contrast", "Usually Appropriate", "☢☢☢"),
                          ("MRI abdomen and pelvis without and with IV contrast and MR urography with extra words",
                           "May Be Appropriate (Disagreement)", "O"),
                          ("Radiography abdomen and pelvis", "Usually Not Appropriate", "☢☢")):
                row = table.row()
                for c in cells:
                    row.cell(c)

    def image_only():
        pdf.rect(20, 40, 100, 80, style="F")

    def last():
        for text in ("Summary of Literature Review", "Noncontrast CT is the reference standard."):
            pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")

    page(first, 1)
    if blank_page:
        page(image_only, 2)
    page(last, 3 if blank_page else 2)
    pdf.output(str(path))
    return path


def test_running_header_footer_removed_and_physical_page_numbers_kept(tmp_path):
    pdf = build_acr_pdf(tmp_path / "flank.pdf")
    pages, warnings = read_pdf(pdf, pdf.read_bytes(), max_pages=10)
    assert [p.number for p in pages] == [1, 2] and warnings == []
    for p in pages:
        assert "ACR Appropriateness Criteria" not in p.text and TITLE + " " not in p.text
    assert pages[1].text == "Summary of Literature Review\nNoncontrast CT is the reference standard."


def test_table_cells_drawn_one_by_one_come_back_as_rows(tmp_path):
    d = parse_file(build_acr_pdf(tmp_path / "flank.pdf"))
    assert (d.kind, d.title, d.version) == ("acr", TITLE, "Revised 2022")
    (v,) = d.variants
    assert [(r.procedure, r.category, r.rrl, r.page) for r in v.rows] == [
        ("CT abdomen and pelvis without IV contrast", USUALLY_APPROPRIATE, "☢☢☢", 1),
        ("MRI abdomen and pelvis without and with IV contrast and MR urography with extra words",
         MAY_BE_DISAGREEMENT, "O", 1),
        ("Radiography abdomen and pelvis", USUALLY_NOT_APPROPRIATE, "☢☢", 1),
    ]
    # Positions put each wrapped row on one line of the page text.
    assert "MRI abdomen and pelvis without and with IV contrast and MR urography with extra words " \
           "May Be Appropriate (Disagreement) O" in d.pages[0].text.split("\n")


def test_page_without_text_is_named_in_a_warning(tmp_path):
    d = parse_file(build_acr_pdf(tmp_path / "scan.pdf", blank_page=True))
    assert [p.number for p in d.pages] == [1, 2, 3] and d.pages[1].text == ""
    assert d.warnings == ["scan.pdf: page 2 has no extractable text (scanned images?); "
                          "run OCR (e.g. ocrmypdf) to include them"]
    assert [s.heading for s in d.sections] == ["Summary of Literature Review"] and d.sections[0].page_start == 3


@pytest.fixture(scope="module")
def cdc():
    if not CDC.exists():
        pytest.skip(f"public corpus not found at {PUBLIC} (set RADGUIDE_PUBLIC_CORPUS)")
    return parse_file(CDC)


def test_cdc_pdf_pages_and_running_lines(cdc):
    assert cdc.kind == "guideline"
    assert cdc.title == "GUIDE TO INFECTION PREVENTION FOR OUTPATIENT SETTINGS: MINIMUM EXPECTATIONS FOR SAFE CARE"
    assert [p.number for p in cdc.pages] == list(range(1, 45))
    assert cdc.warnings == ["cdc_infection_prevention_outpatient_2016.pdf: page 43 has no extractable text "
                            "(scanned images?); run OCR (e.g. ocrmypdf) to include them"]
    assert not [p.number for p in cdc.pages if "Version 2.3" in p.text]
    assert cdc.pages[2].text.startswith("INTRODUCTION\n\nThe transition of healthcare delivery from acute")


def test_cdc_pdf_headings_and_their_pages(cdc):
    found = {s.heading: (s.page_start, s.page_end, s.path) for s in cdc.sections}
    fundamentals = "FUNDAMENTAL ELEMENTS NEEDED TO PREVENT TRANSMISSION OF INFECTIOUS AGENTS IN OUTPATIENT SETTINGS"
    assert found["INTRODUCTION"] == (3, 4, ["INTRODUCTION"])
    assert found["OBJECTIVES"] == (5, 5, ["OBJECTIVES"])
    assert found[fundamentals][0] == 6
    assert found["Hand Hygiene"] == (8, 9, [fundamentals, "Hand Hygiene"])
    assert found["Injection Safety"][0] == 10
    assert found["Environmental Cleaning"][0] == 11
    assert found["SOURCE DOCUMENTS"][0] == 16
    assert found["REFERENCES"] == (18, 18, ["REFERENCES"])
    assert found["APPENDIX A: INFECTION PREVENTION CHECKLIST FOR OUTPATIENT SETTINGS"][0] == 19
