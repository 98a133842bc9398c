"""Markdown, HTML and plain-text guidelines: heading paths and graded recommendations kept whole."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.parse import parse_file
from ingest.textdocs import find_strength

PUBLIC = Path(os.environ.get("RADGUIDE_PUBLIC_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpora" / "public")
needs_public = pytest.mark.skipif(not PUBLIC.is_dir(), reason=f"public corpus not found at {PUBLIC} (set RADGUIDE_PUBLIC_CORPUS)")
MAJOR = ["Recommendations", "Major Recommendations"]


@pytest.mark.parametrize("text, strength", [
    ("... imaging studies. ( **Strong Against; Reviewed, Amended** )", "Strong against"),
    ("We suggest offering it (Weak for).", "Weak for"),
    ("Clinicians may use plain radiography. **[C]**", "C"),
    ("Obtain MRI for red flags (Grade B).", "B"),
    ("Strength of recommendation: C. Consider imaging.", "C"),
    ("There is no evidence for or against it. ( **N/A; Reviewed, New-added** )", "Not applicable"),
    ("Grades used: Strong for, Weak for, Weak against, Strong against.", None),
    ("Imaging is usually appropriate.", None),
])
def test_find_strength(text, strength):
    assert find_strength(text) == strength


@needs_public
def test_ngc_low_back_pain_paths_and_recommendations():
    d = parse_file(PUBLIC / "vadod_low_back_pain_2017.md")
    assert (d.kind, d.title, d.version) == (
        "guideline", "VA/DoD clinical practice guideline for diagnosis and treatment of low back pain", None)
    assert [(s.heading, s.path, s.page_start) for s in d.sections[:2]] == [
        ("Guideline Title", ["General", "Guideline Title"], 0),
        ("Bibliographic Source(s)", ["General", "Bibliographic Source(s)"], 0),
    ]
    assert [r.number for r in d.recommendations] == [str(n) for n in range(1, 39)]
    r3 = d.recommendations[2]
    assert (r3.number, r3.strength, r3.path, r3.page) == ("3", "Strong against", MAJOR + ["A. Diagnostic Approach"], 0)
    assert r3.text == ("For patients with acute axial low back pain (i.e., localized, non-radiating), the Work Group "
                       "recommends against routinely obtaining imaging studies or invasive diagnostic tests. "
                       "(Strong Against; Reviewed, Amended)")
    assert d.recommendations[3].strength == "Strong for"


@needs_public
def test_ngc_concussion_recommendation_with_sub_items_kept_whole():
    d = parse_file(PUBLIC / "vadod_concussion_mtbi_2016.md")
    assert [r.number for r in d.recommendations] == [str(n) for n in range(1, 24)]
    r3 = d.recommendations[2]
    assert r3.strength == "Weak against" and r3.path == MAJOR + ["Diagnosis and Assessment"]
    assert r3.text.startswith("Excluding patients with indicators for immediate referral")
    assert r3.text.endswith("\n1. Neuroimaging\n2. Serum biomarkers, including S100 calcium-binding protein B "
                            "(S100-B), glial fibrillary acidic protein (GFAP), ubiquitin carboxyl-terminal esterase L1 "
                            "(UCH-L1), neuron specific enolase (NSE), and α-amino-3-hydroxy-5-methyl-4-isoxazolepropionic"
                            " acid receptor (AMPAR) peptide\n3. Electroencephalogram (EEG)\n"
                            "(Weak Against; Reviewed, New-replaced)")
    r13 = d.recommendations[12]
    assert (r13.strength, r13.path) == ("Not applicable", MAJOR + ["Treatment", "Tinnitus"])


@needs_public
def test_ngc_osteoarthritis_letter_grades():
    d = parse_file(PUBLIC / "vadod_hip_knee_osteoarthritis_2014.md")
    r2 = d.recommendations[1]
    assert (r2.number, r2.strength, r2.text) == (
        "2", "C", "Clinicians may use plain radiography to confirm the clinical diagnosis of hip and knee OA. [C]")
    assert r2.path == MAJOR + ["Module A: Diagnosis and Evaluation", "Plain Radiography", "Recommendation"]
    assert [r.strength for r in d.recommendations].count("A") >= 1 and len(d.recommendations) == 31


@needs_public
def test_ngc_ungraded_guideline_has_sections_but_no_graded_recommendations():
    d = parse_file(PUBLIC / "low_back_pain_medical_treatment.md")
    assert d.title == "Low back pain medical treatment guidelines"
    assert d.recommendations == []
    acupuncture = [s for s in d.sections if s.heading == "Acupuncture"]
    assert acupuncture[0].path == MAJOR + ["Therapeutic Procedures—Non-operative", "Acupuncture"]


def test_html_headings_and_ordered_recommendations(tmp_path):
    page = tmp_path / "guide.html"
    page.write_text("""<!DOCTYPE html><html><head><title>Imaging in Low Back Pain</title>
<style>h1 {color: red}</style><script>alert('x')</script></head><body>
<h1>Imaging in Low Back Pain</h1><p>Scope of the guideline.</p>
<h2>Recommendations</h2><h3>Acute pain</h3>
<ol><li>Do not image acute low back pain without red flags. (Strong against)</li>
<li>Image red flags &amp; deficits promptly. (Strong for)</li></ol>
</body></html>""", encoding="utf-8")
    d = parse_file(page)
    assert (d.kind, d.title) == ("guideline", "Imaging in Low Back Pain")
    assert [(s.heading, s.path, s.text) for s in d.sections] == [
        ("Imaging in Low Back Pain", ["Imaging in Low Back Pain"], "Scope of the guideline."),
        ("Acute pain", ["Imaging in Low Back Pain", "Recommendations", "Acute pain"],
         "1. Do not image acute low back pain without red flags. (Strong against)\n"
         "2. Image red flags & deficits promptly. (Strong for)"),
    ]
    assert [(r.number, r.strength, r.text) for r in d.recommendations] == [
        ("1", "Strong against", "Do not image acute low back pain without red flags. (Strong against)"),
        ("2", "Strong for", "Image red flags & deficits promptly. (Strong for)"),
    ]
    assert "alert" not in d.pages[0].text and "color" not in d.pages[0].text


def test_plain_text_headings_and_grades(tmp_path):
    f = tmp_path / "protocol.txt"
    f.write_text("Local CT Protocol\n\n1. Scope\nAdults only.\n\n2. Recommendations\n"
                 "1) Use low-dose CT for renal colic. (Grade A)\n2) Avoid routine follow-up CT.\n", encoding="utf-8")
    d = parse_file(f)
    assert d.title == "Local CT Protocol"
    assert [(s.heading, s.path) for s in d.sections] == [
        ("Local CT Protocol", ["Local CT Protocol"]), ("1. Scope", ["1. Scope"]),
        ("2. Recommendations", ["2. Recommendations"])]
    assert [(r.number, r.strength, r.text, r.path) for r in d.recommendations] == [
        ("1", "A", "1) Use low-dose CT for renal colic. (Grade A)", ["2. Recommendations"])]


def test_markdown_front_matter_title_and_heading_levels(tmp_path):
    f = tmp_path / "local.md"
    f.write_text('---\ntitle: "Local Head CT Rules."\n---\n# Head Injury\n## Adults\n'
                 '1. CT head within 1 hour for GCS below 13. **[B]**\n\n## Children\nText.\n', encoding="utf-8")
    d = parse_file(f)
    assert d.title == "Local Head CT Rules"
    assert [(s.heading, s.path, s.text) for s in d.sections] == [
        ("Adults", ["Head Injury", "Adults"], "1. CT head within 1 hour for GCS below 13. [B]"),
        ("Children", ["Head Injury", "Children"], "Text.")]
    assert [(r.number, r.strength, r.path) for r in d.recommendations] == [("1", "B", ["Head Injury", "Adults"])]
