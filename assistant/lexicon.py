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
    "afib": "atrial fibrillation", "mets": "metastases", "met": "metastases", "ca": "cancer", "bx": "biopsy",
    "ces": "cauda equina syndrome", "ivdu": "intravenous drug use infection", "ivda": "intravenous drug use infection",
    "lkw": "last known well", "lvo": "large vessel occlusion stroke", "ptx": "pneumothorax", "trop": "troponin",
    "cad": "coronary artery disease", "fhx": "family history", "fh": "family history", "fx": "fracture",
    "fxs": "fracture", "iih": "idiopathic intracranial hypertension papilledema", "stemi": "myocardial infarction "
    "acute coronary syndrome elevated troponin", "nstemi": "myocardial infarction acute coronary syndrome elevated "
    "troponin", "appy": "appendicitis", "appendix": "appendix appendicitis", "dz": "disease",
    "ams": "altered mental status", "bilat": "bilateral", "b/l": "bilateral", "neg": "negative", "pos": "positive",
    "nl": "normal", "wnl": "normal", "abnl": "abnormal", "s/p": "after history", "sp": "after history",
    "hpi": "history", "yo": "years old", "y/o": "years old", "wk": "weeks", "wks": "weeks", "hr": "hours",
    "hrs": "hours", "h": "hours", "mo": "months", "mos": "months", "avg": "average", "hi-risk": "high risk",
    "ct": "ct", "mri": "mri", "dwi": "diffusion mri", "ekg": "ecg", "ecg": "ecg", "wbc": "white blood cell leukocytosis",
    "fell": "fall trauma", "fall": "fall trauma", "falls": "fall trauma",
    "hit": "trauma", "struck": "trauma", "injury": "injury trauma", "injured": "injury trauma",
    "xrays": "radiography radiographs", "radiograph": "radiography radiographs", "retear": "tear recurrent repair",
    "recurrent": "recurrent", "hodgkin": "lymphoma chest irradiation radiation", "mantle": "chest irradiation radiation",
    "sciatica": "radiculopathy", "nsaids": "medical management", "nsaid": "medical management",
    "pt/nsaids": "medical management", "physio": "medical management", "tenderness": "pain", "tender": "pain",
    "osteochondritis": "osteochondritis dissecans", "ocd": "osteochondritis dissecans", "hemiparesis": "focal neurologic deficit stroke",
    "hemiplegia": "focal neurologic deficit stroke", "aphasia": "focal neurologic deficit stroke",
    "weakness": "weakness deficit", "tachycardic": "tachycardia", "hypoxic": "hypoxia", "smoker": "smoking",
    "microhematuria": "microscopic hematuria", "hematuria": "hematuria", "papilledema": "papilledema optic disc edema",
    "hiv": "hiv immunosuppression", "aids": "immunosuppression", "immunocompromised": "immunosuppression",
    "transplant": "immunosuppression", "chemo": "chemotherapy cancer immunosuppression",
    "elevated": "elevated positive", "raised": "elevated positive",
    "pcs": "post concussion", "concussion": "concussion mild head trauma", "gravida": "pregnant",
    # Clinicians' words for what guideline scenarios name otherwise.
    "gestation": "pregnant", "gestational": "pregnant", "trimester": "pregnant", "antenatal": "pregnant",
    "prenatal": "pregnant", "obstetric": "pregnant", "postpartum": "postpartum",
    "dcis": "ductal carcinoma in situ personal history of breast cancer",
    "lcis": "lobular carcinoma in situ lobular neoplasia", "adh": "atypical ductal hyperplasia",
    "lumpectomy": "personal history of breast cancer", "mastectomy": "personal history of breast cancer",
    "amaurosis": "transient ischemic attack vision loss", "fugax": "transient",
    "dysarthria": "focal neurologic deficit stroke", "droop": "focal neurologic deficit stroke",
    "hemianopia": "focal neurologic deficit stroke", "ataxia": "neurologic deficit",
    "discitis": "infection discitis", "osteomyelitis": "infection osteomyelitis", "abscess": "infection abscess",
    "sepsis": "infection", "septic": "infection", "febrile": "fever",
    "memory": "cognitive", "confusion": "cognitive altered mental status", "confused": "cognitive altered mental status",
    "dementia": "cognitive", "forgetful": "cognitive",
    "longstanding": "chronic", "long-standing": "chronic", "unchanged": "stable no new features",
    "migraines": "migraine", "dyspnea": "shortness of breath dyspnea", "breathless": "shortness of breath dyspnea",
    "breathlessness": "shortness of breath dyspnea", "physiotherapy": "medical management",
    "conservative": "medical management", "surgical": "surgery", "operative": "surgery",
    "ex-smoker": "smoking", "smoked": "smoking", "smoking": "smoking", "blood": "blood hematuria",
    "urine": "urine urinary", "bloody": "gross hematuria", "painless": "painless",
    "periumbilical": "abdomen abdominal", "umbilical": "abdomen abdominal", "belly": "abdomen abdominal",
    "tummy": "abdomen abdominal", "stomach": "abdomen abdominal", "groin": "groin flank",
    "mammography": "mammography", "tomosynthesis": "tomosynthesis",
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
    "next": r"\bnext (imaging|study|step|test|scan)|\bwhat next\b|\bnext\?|\bafter (a |an )?(negative|normal|nondiagnostic|inconclusive|equivocal)|\b(negative|normal|nondiagnostic|non-diagnostic|inconclusive|equivocal|indeterminate)\b|\bnot (seen|visuali[sz]ed)\b|\bfailed\b|\bfurther imaging|\bshow(s|ed)? (osteoarthritis|degenerative)|\bon (x-?ray|radiograph)",
    "high_risk": r"\bhigh(er)?[ -](pretest|risk|probability|clinical probability)|\bwells (score )?(high|>|greater)|\bpe likely",
    "low_risk": r"\blow[ -](pretest|risk|probability|clinical probability)|\bpe unlikely|\bwells (score )?(low|<)|\bnegative d-?dimer",
    "intermediate": r"\bintermediate[ -](pretest|risk|probability)",
    "red_flags": r"\bred flags?|\bcauda equina|\bcancer|\bmalignan\w*|\binfection|\bfever\b|\bimmunosuppress\w*|\bneurologic deficit|\bprogressive",
    "trauma": r"\btrauma|\binjur\w*|\bfall\b|\bcollision",
    "chronic": r"\bchronic",
    "acute": r"\bacute|\bsudden|\bthunderclap",
    "dense": r"\bdense breast|\bheterogeneously dense|\bextremely dense",
    "gross_hematuria": r"\bgross\b|\bvisible hematuria|\bfrank (blood|hematuria)|\bbloody urine",
    "microscopic_hematuria": r"\bmicroscopic\b|\bmicro-?hematuria|\bnon-?visible hematuria|\bdipstick",
    "average_risk": r"\baverage[ -]risk",
}
# Groups where a scenario stating it and a question silent about it is a mismatch.
DISCRIMINATING = {"pregnant", "child", "older", "followup", "next", "high_risk", "low_risk", "intermediate",
                  "red_flags", "dense", "gross_hematuria", "microscopic_hematuria"}
CONFLICTS = {("child", "adult"), ("adult", "child"), ("pregnant", "child"), ("high_risk", "low_risk"),
             ("low_risk", "high_risk"), ("high_risk", "average_risk"), ("average_risk", "high_risk"),
             ("older", "child"), ("chronic", "acute"), ("acute", "chronic"),
             ("gross_hematuria", "microscopic_hematuria"), ("microscopic_hematuria", "gross_hematuria")}

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
    # Clinical decision rules (Canadian CT head, PECARN, NEXUS, Ottawa, Wells/PERC) speak of
    # "positive"/"negative"; guideline scenarios say imaging is or is not indicated.
    if re.search(r"\brules?\s*(?:is\s*)?(positive|\+|met)\b|\bmeets? (the )?(\w+ )?(criteria|rule)", text, re.I):
        extra.append("imaging indicated by clinical decision rules")
    if re.search(r"\brules?\s*(?:is\s*)?(negative|-|not met)|\bdoes not meet (the )?(\w+ )?(criteria|rule)", text, re.I):
        extra.append("imaging not indicated by clinical decision rules")
    # Bedside phrasing of results that scenarios state formally.
    if re.search(r"\bst[ -](elevation|depression|changes?)|\bischemic (ecg|ekg)|\bt[ -]wave inversion", text, re.I):
        extra.append("ischemic ecg changes acute coronary syndrome")
    if re.search(r"\b(trop(onin)?s?\s*(up|raised|rising|elevated|positive|\+))|\b(positive|raised|elevated|rising) trop", text,
                 re.I):
        extra.append("elevated troponin")
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


NEGATIONS = {"not", "no", "non", "without"}


def tokens(text: str, *, drop_stopwords: bool = True, keep_negation: bool = False) -> list[str]:
    """Stemmed lowercase word tokens for BM25 (negations kept when asked: "not indicated" differs)."""
    words = _WORD.findall(text.lower())
    if drop_stopwords:
        words = [w for w in words if w not in STOPWORDS or (keep_negation and w in NEGATIONS)]
    return _stemmer.stemWords(words)


def content_groups(question: str) -> list[set[str]]:
    """Each content word of the question with its expansion, as stems: the words the library must
    know for the question to be covered. Numbers, ages and stopwords carry no topic."""
    groups: list[set[str]] = []
    for tok in re.findall(r"[A-Za-z0-9]+(?:[/-][A-Za-z0-9]+)*", question):
        low = tok.lower()
        if low in STOPWORDS or any(ch.isdigit() for ch in low) or len(low) < 2 or low in GENERIC:
            continue
        if low not in ABBREVIATIONS and all(p in STOPWORDS or p in GENERIC for p in re.split(r"[/-]", low) if p):
            continue  # "right-sided", "follow-up": nothing a topic is named by
        words = [low] + (ABBREVIATIONS.get(low, "") or CASE_SENSITIVE.get(tok, "")).split()
        stems = set(tokens(" ".join(words)))
        if stems:
            groups.append(stems)
    return groups


# Words that ask about imaging in general without naming a topic.
GENERIC = set("""suspected suspect new known history hx pain acute chronic adult child woman man male female
    year years old yo age aged weeks week hours month months day days ago since after before next initial
    further then also still non just like ok okay yes thanks thank which whats what's skip
    concern concerned concerning concerns worry worried worrying query querying possible possibly probable
    likely persisting persistent persists ongoing considering consider considered prior previous previously
    started starting start began sided side user users role help advice presenting presents presented
    complains complaining having has had despite because due""".split())


_NEGATION = re.compile(r"(?:\bnot|\bno|\bnon|\bwithout|\bnegative for)[\s-]+$")


_SIDE = re.compile(r"\b(left|right)\b")


def side_conflict(expanded_question: str, title: str) -> bool:
    """The question (as expand() gives it) names one side and a sided topic title only the other
    ("LLQ pain" against "Right Lower Quadrant Pain")."""
    q_sides = set(_SIDE.findall(expanded_question.lower()))
    t_sides = set(_SIDE.findall(title.lower()))
    return bool(q_sides and t_sides and not q_sides & t_sides)


def qualifiers(text: str) -> set[str]:
    """Qualifier groups a text states; a negated one ("Not pregnant", "non-pregnant") as "not_<group>"."""
    low = text.lower()
    found: set[str] = set()
    for name, pat in QUALIFIERS.items():
        for m in re.finditer(pat, low):
            negated = bool(_NEGATION.search(low[max(0, m.start() - 14):m.start()]))
            found.add(f"not_{name}" if negated else name)
    return found


def qualifier_score(question_q: set[str], scenario: str) -> float:
    """How well a variant's scenario fits the question's qualifiers (higher is better)."""
    sq = qualifiers(scenario)
    if {"adult", "child"} <= sq:  # "Adult or child ...": the scenario does not depend on age group
        sq -= {"adult", "child"}
    qq = set(question_q)
    if "not_pregnant" in qq:
        qq.discard("pregnant")
    score = float(len(qq & sq))
    score -= sum(1.0 for g in sq & DISCRIMINATING if g not in qq)
    score -= sum(1.5 for a in qq for b in sq if (a, b) in CONFLICTS)
    score -= sum(1.5 for g in qq if f"not_{g}" in sq)  # question pregnant, scenario "Not pregnant"
    score -= sum(1.5 for g in sq if g.startswith("not_") and g[4:] in qq)
    return score


# Questions radguide must not answer whatever the retrieval says: medication dosing and
# administrative codes are outside imaging appropriateness guidelines.
_OUT_OF_SCOPE = re.compile(
    r"\b(doses?|dosing|dosage|mg/kg|mg|mcg|regimens?|premedicat\w*|prescri\w+|titrat\w*|cpt|icd-?1[01]|"
    r"billing|bill|reimburs\w*|insurance|prior auth\w*)\b", re.I)


def out_of_scope(question: str) -> bool:
    """Dosing and billing questions; radiation dose is in scope (guidelines give radiation levels)."""
    if re.search(r"\bradiation\b|\bmsv\b|\brrl\b|\bexposure\b|\bcontrast dose|\b(ultra-?)?low[- ]dose\b|"
                 r"\b(ct|effective|fetal|patient) dose|\bdose (reduction|estimate)", question, re.I):
        return False
    return bool(_OUT_OF_SCOPE.search(question))
