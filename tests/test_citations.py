from __future__ import annotations

from assistant import citations


def test_split_sentences_keeps_markers_with_their_sentence():
    text = "US is first [1]. MRI follows if US is nondiagnostic [2][3]. CT is reserved (rarely) [1, 3]."
    assert citations.split_sentences(text) == [
        "US is first [1].", "MRI follows if US is nondiagnostic [2][3].", "CT is reserved (rarely) [1, 3]."]
    assert citations.markers("CT is reserved (rarely) [1, 3] and [3].") == [1, 3]


def test_clean_markers_drops_and_counts_invented_ones():
    cleaned, removed = citations.clean_markers("US first [1][7]. CT later [9]. MRI [2, 8].", {1, 2})
    assert cleaned == "US first [1]. CT later. MRI [2]."
    assert removed == 3


def test_verify_is_whitespace_insensitive_and_exact_otherwise():
    page = "If ultrasound is nondiagnostic, MRI without\ncontrast is   recommended."
    assert citations.verify("If ultrasound is nondiagnostic, MRI without contrast is recommended.", page)
    assert not citations.verify("If ultrasound is nondiagnostic, CT without contrast is recommended.", page)
    assert not citations.verify("", page)
    assert not citations.verify("anything", None)


def test_best_span_and_locate():
    spans = ["Ultrasound uses no ionizing radiation.", "CT has high sensitivity for appendicitis in adults."]
    assert citations.best_span("CT is highly sensitive in adults [2].", spans) == spans[1]
    assert citations.best_span("Completely unrelated words here.", spans) is None
    pages = {1: "nothing here", 2: "CT has high sensitivity for\nappendicitis in adults."}
    assert citations.locate(spans[1], pages) == 2
    assert citations.locate("not on any page at all", pages) is None


def test_supports_needs_most_content_words_in_the_passage():
    passage = "Noncontrast CT is the most sensitive test for ureteral stones."
    assert citations.supports("Noncontrast CT is the most sensitive test for stones [1].", passage)
    assert not citations.supports("MRI with gadolinium is preferred in children with fever [1].", passage)


def test_table_conflicts_catch_claims_the_table_contradicts():
    rows = [{"procedure": "MRI breast without and with IV contrast", "category": "Usually Appropriate"},
            {"procedure": "MRI breast without IV contrast", "category": "Usually Not Appropriate"},
            {"procedure": "Mammography screening", "category": "Usually Appropriate"}]
    assert citations.table_conflicts("MRI breast without IV contrast is usually appropriate [1].", rows) == [
        "MRI breast without IV contrast"]
    assert citations.table_conflicts("MRI breast without and with IV contrast is usually appropriate [1].", rows) == []
    assert citations.table_conflicts("Mammography screening is usually not appropriate [1].", rows) == [
        "Mammography screening"]
    assert citations.table_conflicts("Mammography screening finds early cancers [2].", rows) == []


def test_quote_over_a_page_break_is_located_and_verified():
    pages = {3: "A. US duplex\nFor a bruit, duplex is first. It is inexpensive,", 4: "widely available, and cheap.\nB."}
    quote = "It is inexpensive, widely available, and cheap."
    assert citations.locate(quote, pages) == 3
    assert citations.verify_at(quote, pages, 3)
    assert not citations.verify_at(quote, pages, 4)
    assert citations.candidate_spans("For a bruit, duplex is first. It is inexpensive.") == [
        "For a bruit, duplex is first.", "It is inexpensive."]
