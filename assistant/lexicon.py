"""Clinical phrasing to searchable words: abbreviations, ages, pregnancy weeks,
"?appendicitis" shorthand, and the qualifiers that tell look-alike variants apart.

Radiologists type "28 wk pregnant, RLQ pain, ?appendicitis"; guideline tables say
"Right lower quadrant pain. Suspected appendicitis. Pregnant patient." This module
bridges the two for BM25 and for variant selection. It knows general clinical and
radiology shorthand, nothing about any particular guideline.
"""
from __future__ import annotations

import re

import Stemmer

_stemmer = Stemmer.Stemmer("english")

# Shorthand -> words as guidelines write them. Keys are matched as whole tokens,
# case-insensitively unless listed in CASE_SENSITIVE.
ABBREVIATIONS: dict[str, str] = {
    "rlq": "right lower quadrant", "ruq": "right upper quadrant", "llq": "left lower quadrant",
    "luq": "left upper quadrant", "pe": "pulmonary embolism", "dvt": "deep vein thrombosis",
    "cta": "ct angiography", "ctpa": "ct pulmonary angiography", "mra": "mr angiography",
    "mr": "mri", "nect": "ct without contrast", "cect": "ct with contrast", "xr": "radiography",
    "xray": "radiography", "x-ray": "radiography", "x-rays": "radiography", "cxr": "chest radiography",
    "films": "radiography", "film": "radiography", "plain": "radiography",
    "ultrasound": "us ultrasound", "sono": "us ultrasound", "sonography": "us ultrasound",
    "mammo": "mammography", "mammogram": "mammography", "dbt": "digital breast tomosynthesis",
    "tomo": "tomosynthesis", "pet": "pet", "nm": "nuclear medicine", "vq": "ventilation perfusion",
    "v/q": "ventilation perfusion", "pt": "patient", "pts": "patients", "hx": "history", "h/o": "history",
    "sx": "symptoms", "dx": "diagnosis", "tx": "treatment", "f/u": "follow-up", "fu": "follow-up",
    "r/o": "suspected", "ro": "suspected", "w/o": "without", "w/": "with", "wo": "without",
    "sob": "shortness of breath dyspnea", "cp": "chest pain", "acs": "acute coronary syndrome",
    "mi": "myocardial infarction", "lbp": "low back pain", "ha": "headache", "tia": "transient ischemic attack",
    "cva": "stroke", "sah": "subarachnoid hemorrhage", "ich": "intracranial hemorrhage", "tbi": "head trauma brain injury",
    "mvc": "motor vehicle collision trauma", "mva": "motor vehicle collision trauma", "loc": "loss of consciousness",
    "gcs": "glasgow coma scale", "abd": "abdominal", "preg": "pregnant", "pregnancy": "pregnant pregnancy",
    "gravid": "pregnant", "peds": "pediatric child", "paeds": "pediatric child", "paediatric": "pediatric child",
    "kid": "child", "kids": "child", "toddler": "child", "infant": "child infant", "boy": "child", "girl": "child",
    "teen": "adolescent child", "teenager": "adolescent child", "neonate": "newborn child",
    "oa": "osteoarthritis", "ra": "rheumatoid arthritis", "uti": "urinary tract infection",
    "stone": "stone urolithiasis calculus", "stones": "stone urolithiasis calculus", "calculi": "stone calculus",
    "renal": "kidney renal", "kidney": "kidney renal", "colic": "colic flank pain",
    "flank": "flank", "neuro": "neurologic", "thunderclap": "thunderclap sudden severe",
    "worst": "worst sudden severe", "ed": "emergency department", "er": "emergency department",
    "ddimer": "d-dimer", "d-dimer": "d-dimer", "wells": "wells pretest probability",
    "gross": "gross visible", "microscopic": "microscopic", "brca": "brca high risk genetic",
    "afib": "atrial fibrillation", "mets": "metastases", "ca": "cancer", "bx": "biopsy",
}
CASE_SENSITIVE = {"US": "us ultrasound", "PE": "pulmonary embolism", "CT": "ct", "MS": "multiple sclerosis"}

STOPWORDS = set(
    """a an the and or of for to in on at by with without is are was were be been being what which who whom whose
    when where why how do does did should would could can may might must shall will i we you he she it they them
    his her its their our your my me us this that these those there here than then so if but not no any some
    please tell recommend recommended recommendation best first next test tests study studies imaging image
    images scan scans modality appropriate appropriateness order ordering get need needs want choose choice
    option options workup work up evaluate evaluation evaluating assess assessment patient patients pt about
    regarding vs versus right now today use used using guideline guidelines acr criteria""".split()
)

# Qualifiers that separate look-alike variants of one topic. Each group: the
# patterns that show it in a question or a scenario (after expansion).
QUALIFIERS: dict[str, str] = {
    "pregnant": r"\bpregnan\w*|\bgestation\w*|\btrimester|\bweeks? pregnant",
    "child": r"\bchild\w*|\bpediatric|\binfant|\badolescen\w*|\bnewborn|\bneonat\w*|\byoung(er)? than 1[0-8]|\bunder 1[0-8]\b|\bage(d)? (<|less than) ?1[0-8]",
    "adult": r"\badults?\b",
    "older": r"\bolder adult|\belderly|\bage(d)? ?(≥|>=|>|over|older than) ?(50|55|60|65|70)|\b(6[5-9]|[7-9]\d)[ -]?(yo|y/o|years?)",
    "followup": r"\bfollow-?up|\bsurveillance|\bpost-?treatment|\bafter treatment",
    "next": r"\bnext imaging|\bafter (a )?(negative|normal|nondiagnostic|inconclusive|equivocal)|\b(negative|normal|nondiagnostic|inconclusive|equivocal|indeterminate) (initial )?(radiograph|us|ultrasound|ct|imaging|x-?ray)",
    "high_risk": r"\bhigh(er)?[ -](pretest|risk|probability|clinical probability)|\bwells (score )?(high|>|greater)|\bpe likely",
    "low_risk": r"\blow[ -](pretest|risk|probability|clinical probability)|\bpe unlikely|\bwells (score )?(low|<)|\bnegative d-?dimer",
    "intermediate": r"\bintermediate[ -](pretest|risk|probability)",
    "red_flags": r"\bred flags?|\bcauda equina|\bcancer|\bmalignan\w*|\binfection|\bfever\b|\bimmunosuppress\w*|\bneurologic deficit|\bprogressive",
    "trauma": r"\btrauma|\binjur\w*|\bfall\b|\bcollision",
    "chronic": r"\bchronic",
    "acute": r"\bacute|\bsudden|\bthunderclap",
    "dense": r"\bdense breast|\bheterogeneously dense|\bextremely dense",
    "average_risk": r"\baverage[ -]risk",
}
# Groups where a scenario stating it and a question silent about it is a mismatch.
DISCRIMINATING = {"pregnant", "child", "older", "followup", "next", "high_risk", "low_risk", "intermediate",
                  "red_flags", "dense"}
CONFLICTS = {("child", "adult"), ("adult", "child"), ("pregnant", "child"), ("high_risk", "low_risk"),
             ("low_risk", "high_risk"), ("high_risk", "average_risk"), ("average_risk", "high_risk"),
             ("older", "child"), ("chronic", "acute"), ("acute", "chronic")}

_AGE = re.compile(r"\b(\d{1,3})\s*[- ]?\s*(yo|y/o|y\.o\.|yrs?|years?[- ]old|year[- ]old|yr[- ]old|-year-old|mo|months?[- ]old)\b", re.I)
_AGE_SEX = re.compile(r"\b(\d{1,3})\s?(m|f|male|female|man|woman|boy|girl)\b", re.I)
_WEEKS = re.compile(r"\b(\d{1,2})\s*(wk|wks|week|weeks)\b(\s*(pregnant|gestation|ga|pg))?", re.I)


def expand(text: str) -> str:
    """The question in guideline words: shorthand expanded, ages and pregnancy made explicit."""
    extra: list[str] = []
    for m in _AGE.finditer(text):
        age, unit = int(m.group(1)), m.group(2).lower()
        if unit.startswith("mo"):
            extra.append("child infant pediatric")
        elif age < 18:
            extra.append("child pediatric")
        else:
            extra.append("adult" + (" older adult" if age >= 65 else ""))
    for m in _AGE_SEX.finditer(text):
        age = int(m.group(1))
        if 0 < age < 110:
            extra.append("child pediatric" if age < 18 else "adult" + (" older adult" if age >= 65 else ""))
    for m in _WEEKS.finditer(text):
        if m.group(4) or re.search(r"pregn|gestation|\bga\b|\bg\d", text, re.I):
            extra.append("pregnant pregnancy")
    if re.search(r"\bG\d+\s*P\d+", text):
        extra.append("pregnant pregnancy")
    # "?appendicitis" and "query appendicitis" mean suspected appendicitis.
    text = re.sub(r"\?\s*(?=\w)", " suspected ", text)
    text = re.sub(r"\b(query|possible|likely|concern for|worried about|rule out)\b", " suspected ", text, flags=re.I)
    out: list[str] = []
    for tok in re.findall(r"[A-Za-z0-9]+(?:[/-][A-Za-z0-9]+)*/?|[^\sA-Za-z0-9]", text):
        if tok in CASE_SENSITIVE:
            out.append(CASE_SENSITIVE[tok])
            continue
        low = tok.lower()
        out.append(f"{tok} {ABBREVIATIONS[low]}" if low in ABBREVIATIONS else tok)
    return " ".join(out + extra)


_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str, *, drop_stopwords: bool = True) -> list[str]:
    """Stemmed lowercase word tokens for BM25."""
    words = _WORD.findall(text.lower())
    if drop_stopwords:
        words = [w for w in words if w not in STOPWORDS]
    return _stemmer.stemWords(words)


def qualifiers(text: str) -> set[str]:
    low = text.lower()
    return {name for name, pat in QUALIFIERS.items() if re.search(pat, low)}


def qualifier_score(question_q: set[str], scenario: str) -> float:
    """How well a variant's scenario fits the question's qualifiers (higher is better)."""
    sq = qualifiers(scenario)
    score = float(len(question_q & sq))
    score -= sum(1.0 for g in sq & DISCRIMINATING if g not in question_q)
    score -= sum(1.5 for a in question_q for b in sq if (a, b) in CONFLICTS)
    return score
