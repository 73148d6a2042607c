"""The tumour board, second opinions and the unit's registry of the synthetic SPRINT demo.

SYNTHETIC DATA: every person, meeting, review, document, family history and risk model made here is
invented, deterministically from the demo's seed; names carry "(synthetic)", the PDF documents say
SYNTHETIC on their page, and the risk model is marked ``synthetic: true`` in its metadata. Nothing
here is a rule the application applies: its rules are those the services call (the board's quorum, the
WHO 2020 catalogue, the molecular catalogue, the Chompret 2015 criteria, the risk-model engine), and this
module only makes the actions a unit's staff would make, through the same services
(``services/board.py``, ``services/second_opinion.py``, ``services/registry.py``). The board's
decisions it writes (:func:`board_decision`) are the demo's data: what a sarcoma board following the
ESMO-EURACAN-GENTURIS guidelines would decide, so that a clinician reading the demo does not stop.

What it makes, after the study itself (:func:`sarcotrial.demo.build_demo_study` calls it last):

- three board accounts (a clinician, a pathologist, a radiologist), with passwords from
  :func:`sarcotrial.demo.demo_password` as the other demo accounts;
- the weekly board's meetings, on Thursdays: each referred patient is put to the meeting of the week of
  their referral's board date (else the next or the previous Thursday), after the referral and on or before
  their first screening, so that patients referred the same week share a meeting (:func:`board_day`);
  one meeting, the first of August 2024, was held without its radiologist (no quorum: its decisions carry
  the flag). Each case has a question, the radiologist's imaging summary, the pathologist's pathology
  summary (after the second opinion, where there is one, and with no FNCLCC grade for a histotype FNCLCC
  does not grade: :data:`FNCLCC_NOT_GRADED`) and a decision that follows the case
  (:func:`board_decision`, ESMO-EURACAN-GENTURIS 2021), signed by the clinician except the three latest.
  The decisions carry no screening request: the study's screenings are made by the study's generator,
  apart from the board, and a request could not be linked to them; SPRINT is named in the rationale of a
  candidate only. What the board knows of a patient never enrolled (the MRI's size and depth, the biopsy's
  grade) is drawn here, as no other record holds it; what their screening recorded (metastases, an
  irradiated region, a planned amputation, a tumour not resectable, a minor) is what the board knew;
- four registry-only patients (registered, discussed, never screened): a gastric GIST, a myxoid
  liposarcoma of the thigh referred after SPRINT reached its target (treated off study), a young woman
  referred after an unplanned excision with a revised second opinion and a family history that meets the
  Chompret criteria, and a retroperitoneal liposarcoma sent for a second opinion;
- second opinions from three referring centres, some revised (histotype ids of
  ``domain/data/histotypes.yaml``), each with a one-page PDF made here (:func:`synthetic_pdf`);
- molecular documents (docs/molecular.md), one of which contradicts the recorded histotype, and two
  family histories (docs/predisposition.md);
- a SYNTHETIC Cox model of distant metastasis or death (:data:`DEMO_MODEL`: written here as data,
  not shipped as package data), loaded with the study endpoint ``dmfs``, and a prediction for each
  enrolled patient from the recorded diagnosis (age at diagnosis from the date of birth, read as an
  audited identifier access, largest size and FNCLCC grade), so the report can check it
  (``services.registry.performance_on_study``). A patient whose histotype FNCLCC does not grade has
  no grade: no prediction is made, and the report counts them.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from sarcotrial.domain import histology
from sarcotrial.domain.pathway import age_on
from sarcotrial.services import access, board, pathway, registry, second_opinion
from sarcotrial.services.study import Actor, StudyDB

#: the board's accounts: (user, full name, role); study-wide, as the board discusses every site's patients
BOARD_ACCOUNTS = (
    ("clinician", "Dr Chiara Ferri (synthetic)", "clinician"),
    ("pathologist", "Dr Pietro Sala (synthetic)", "pathologist"),
    ("radiologist", "Dr Irene Villa (synthetic)", "radiologist"),
)
#: the members present at a meeting: (name, discipline, account or None)
MEMBERS = (
    ("Dr Andrea Galli (synthetic)", "surgeon", None),
    ("Dr Marco Ricci (synthetic)", "radiation_oncologist", "inv.main"),
    ("Dr Chiara Ferri (synthetic)", "medical_oncologist", "clinician"),
    ("Dr Pietro Sala (synthetic)", "pathologist", "pathologist"),
    ("Dr Irene Villa (synthetic)", "radiologist", "radiologist"),
)
#: the month whose meetings were held without the radiologist (no quorum)
NO_QUORUM_MONTH = (2024, 8)
CENTRES = ("Ospedale Nord (synthetic)", "Ospedale del Lago (synthetic)", "Clinica Collina (synthetic)")
UNSIGNED_LATEST = 3  # the latest decisions are left to be signed
RESPONSIBLE = {"MAIN": "Dr Marco Ricci (synthetic)", "SAT": "Dr Paola Greco (synthetic)"}
SITE_WORDS = {"extremity": "limb", "trunk": "trunk wall", "retroperitoneum": "retroperitoneum",
              "head-neck": "head and neck", "visceral": "viscera"}

#: The demo's risk model. SYNTHETIC: invented coefficients, shaped like a Cox model of distant metastasis
#: in adults with a localised soft tissue sarcoma; not a published model, never for patients.
#: risk by t = 1 - S0(t) ** exp(lp - centre), lp = 0.02 age + 0.08 size_cm + (0.45 grade 2, 0.9 grade 3).
DEMO_MODEL = {
    "format": "sarcotrial-riskmodel/1",
    "metadata": {
        "id": "demo_synthetic_dmfs",
        "name": "SYNTHETIC demo model of distant metastasis or death",
        "version": "1.0",
        "synthetic": True,
        "source": {"authors": "SarcoTrial demo", "journal": "SarcoTrial demo (synthetic)", "year": 2026,
                   "title": "Synthetic Cox model made by 'sarcotrial demo' (not a published model)"},
        "population": "none (invented numbers; shaped like adults with a localised soft tissue sarcoma)",
        "outcome": "distant metastasis or death",
        "horizons": [1, 2, 3],
        "validation_status": "not validated",
        "provenance": {"numbers": "published",
                       "note": "SYNTHETIC: invented by the demo; 'published' means the file's own numbers"},
    },
    "inputs": [
        {"name": "age", "label": "Age at diagnosis", "kind": "numeric", "unit": "years", "min": 18, "max": 90},
        {"name": "size_cm", "label": "Largest tumour diameter", "kind": "numeric", "unit": "cm", "min": 1,
         "max": 40},
        {"name": "grade", "label": "FNCLCC grade", "kind": "categorical",
         "categories": [{"value": "1", "label": "Grade 1"}, {"value": "2", "label": "Grade 2"},
                        {"value": "3", "label": "Grade 3"}]},
    ],
    "model": {
        "kind": "cox",
        "terms": [{"input": "age", "coefficient": 0.02}, {"input": "size_cm", "coefficient": 0.08},
                  {"input": "grade", "reference": "1", "coefficients": {"2": 0.45, "3": 0.9}}],
        "centre": 2.5,
        "baseline": [{"horizon": 1, "survival": 0.92}, {"horizon": 2, "survival": 0.83},
                     {"horizon": 3, "survival": 0.76}],
    },
}
DEMO_MODEL_ENDPOINT = "dmfs"


@dataclass
class RegistryDemoSummary:
    """What :func:`build_registry_demo` made (counts as stored by the services)."""

    logins: list[dict] = field(default_factory=list)
    meetings: int = 0
    meetings_without_quorum: int = 0
    cases: int = 0
    decisions: int = 0
    signed: int = 0
    registry_patients: list[str] = field(default_factory=list)
    second_opinions: int = 0
    revised: int = 0
    molecular: list[str] = field(default_factory=list)
    contradiction: str | None = None
    family_histories: list[str] = field(default_factory=list)
    chompret: str | None = None
    model_key: str | None = None
    predicted: int = 0
    not_predicted: list[str] = field(default_factory=list)


def model_text() -> str:
    """The demo's SYNTHETIC risk-model file, as YAML text."""
    head = ("# SYNTHETIC model made by 'sarcotrial demo': invented coefficients, NOT a published model;\n"
            "# it must never be used for patients.\n")
    return head + yaml.safe_dump(DEMO_MODEL, sort_keys=False, allow_unicode=True)


def synthetic_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF (PDF 1.4, Helvetica, ASCII text) with ``title`` and ``lines``, its cross-reference
    table computed from the bytes written: a valid file any reader opens, made without a PDF library."""
    def escape(text: str) -> str:
        clean = text.encode("ascii", "replace").decode("ascii")
        return clean.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    rows = ["BT /F1 14 Tf 56 780 Td (" + escape(title) + ") Tj ET",
            "BT /F1 9 Tf 56 764 Td (SYNTHETIC DOCUMENT made by sarcotrial demo: no real person) Tj ET"]
    y = 736
    for line in lines:
        rows.append(f"BT /F1 10 Tf 56 {y} Td (" + escape(line) + ") Tj ET")
        y -= 15
    stream = "\n".join(rows).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


#: histotypes the board does not give an FNCLCC grade: FNCLCC grading is not recommended for clear cell sarcoma,
#: alveolar soft part sarcoma, epithelioid sarcoma, angiosarcoma, malignant peripheral nerve sheath tumour and
#: extraskeletal myxoid chondrosarcoma (Coindre JM, Arch Pathol Lab Med 2006;130:1448-1453), nor for a
#: low-grade fibromyxoid sarcoma, low grade by definition (WHO 2020); nor for an entity the catalogue does not
#: grade (:attr:`sarcotrial.domain.histology.Histotype.fnclcc_not_applicable`). The study's own diagnosis form
#: is not changed here: its grade is the form's.
FNCLCC_NOT_GRADED = frozenset({
    "clear_cell_sarcoma", "alveolar_soft_part_sarcoma", "epithelioid_sarcoma", "angiosarcoma",
    "malignant_peripheral_nerve_sheath_tumour", "epithelioid_malignant_peripheral_nerve_sheath_tumour",
    "extraskeletal_myxoid_chondrosarcoma", "low_grade_fibromyxoid_sarcoma"})
NOT_GRADED = "not graded (FNCLCC not applicable)"
GUIDELINE = "ESMO-EURACAN-GENTURIS 2021"
#: the weekday the weekly board meets (Monday 0): Thursday
BOARD_WEEKDAY = 3
WEEKLY_NOTE = "Weekly sarcoma board (synthetic)"
EXTRA_NOTE = "Additional sarcoma board meeting (synthetic), held before the patient's screening"
#: where a tumour of each site lies, by the ICD-O-3 topography the study records (else the subject number)
LIMB_PLACES = {"C49.2": ("thigh", "thigh", "popliteal fossa", "calf", "thigh"),
               "C49.1": ("upper arm", "forearm", "shoulder")}
TRUNK_PLACES = {"C49.3": "chest wall", "C49.4": "abdominal wall", "C49.6": "back"}
_PROPER = ("Kaposi", "Ewing")


def natural_name(histotype_id: str | None) -> str:
    """A WHO 2020 name as it reads in a sentence: the catalogue's inverted names put in natural order and
    lower-cased ("Pleomorphic sarcoma, undifferentiated" -> "undifferentiated pleomorphic sarcoma"), proper
    names and acronyms kept ("Kaposi sarcoma", "CIC-rearranged sarcoma")."""
    if not histotype_id:
        return "soft tissue sarcoma"
    try:
        name = histology.histotype(histotype_id).name
    except Exception:
        return str(histotype_id).replace("_", " ")
    base, comma, qualifier = name.rpartition(", ")
    if comma and " " not in qualifier:
        name = f"{qualifier} {base}"
    words = name.split(" ")
    out = []
    for word in words:
        keep = word.startswith(_PROPER) or (len(word) > 1 and word[1].isupper())  # a proper name, an acronym
        out.append(word if keep else word[0].lower() + word[1:])
    return " ".join(out)


def article(phrase: str) -> str:
    """'a' or 'an' before ``phrase`` (as it is said: "an 8.2 cm", "an 11 cm", "a 9 cm", "an undifferentiated")."""
    word = phrase.split(" ", 1)[0]
    if word[:1].isdigit():
        whole = word.split(".", 1)[0]
        return "an" if whole.startswith("8") or whole in ("11", "18") else "a"
    return "an" if word[:1].lower() in "aeiou" else "a"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def fnclcc_graded(histotype_id: str | None) -> bool:
    """Whether the board writes an FNCLCC grade for this histotype (see :data:`FNCLCC_NOT_GRADED`)."""
    if not histotype_id:
        return True
    if histotype_id in FNCLCC_NOT_GRADED:
        return False
    try:
        return histology.histotype(histotype_id).fnclcc_not_applicable is None
    except Exception:
        return True


def grade_words(histotype_id: str | None, grade: str | None) -> str:
    """The grade as the board writes it: "FNCLCC grade 2", :data:`NOT_GRADED`, "grade not assessable", or ""."""
    if not fnclcc_graded(histotype_id):
        return NOT_GRADED
    return {"1": "FNCLCC grade 1", "2": "FNCLCC grade 2", "3": "FNCLCC grade 3",
            "X": "grade not assessable"}.get(str(grade or ""), "")


def board_day(board_date: dt.date, earliest: dt.date, latest: dt.date) -> tuple[dt.date, bool]:
    """The meeting a patient is put to: the weekly board's Thursday of the week of the referral's board date,
    else the next or the previous Thursday, within [earliest, latest] (after the referral, on or before the
    screening); ``(day, True)``. Where no Thursday falls in the window, an additional meeting on the weekday
    nearest the board date within it: ``(day, False)``."""
    thursday = board_date + dt.timedelta(days=BOARD_WEEKDAY - board_date.weekday())
    for day in (thursday, thursday + dt.timedelta(days=7), thursday - dt.timedelta(days=7)):
        if earliest <= day <= latest:
            return day, True
    days = [earliest + dt.timedelta(days=n) for n in range((latest - earliest).days + 1)]
    weekdays = [d for d in days if d.weekday() < 5] or days or [board_date]
    return min(weekdays, key=lambda d: (abs((d - board_date).days), d)), False


@dataclass
class CaseFacts:
    """What the board knows of a referred patient when it meets: the study's diagnosis form for an enrolled
    patient, else the board's own imaging and biopsy; and the facts that decide the strategy (metastatic at
    presentation, an irradiated region, an amputation as the only surgery, a tumour not resectable, a minor)."""

    site: str | None                  # the referral's anatomic site (codelist anatomic_site)
    place: str                        # where, in words: "left thigh", "chest wall", "uterus", "retroperitoneum"
    histotype: str | None
    size: float | None = None
    depth: str | None = None          # deep / superficial: said for the limbs, trunk wall, head and neck only
    grade: str | None = None          # "1", "2", "3", "X", "NA" or None (unknown)
    metastatic: bool = False          # clinical M1 at presentation
    previous_rt: bool = False         # the region was irradiated before
    amputation: bool = False          # no limb-sparing surgery possible
    unresectable: bool = False        # not resectable with acceptable morbidity
    minor: bool = False               # under 18

    @property
    def name(self) -> str:
        return natural_name(self.histotype)

    @property
    def grade_words(self) -> str:
        return grade_words(self.histotype, self.grade)

    @property
    def compartmental(self) -> bool:
        """A tumour of the limbs, trunk wall or head and neck, where depth to the fascia is said."""
        return self.site in ("extremity", "trunk", "head-neck")

    def description(self) -> str:
        """'a 9.2 cm deep undifferentiated pleomorphic sarcoma of the left thigh': what is known, only."""
        words = [f"{self.size:g} cm"] if self.size else []
        if self.depth and self.compartmental:
            words.append(self.depth)
        phrase = " ".join(words + [self.name.removesuffix(" of soft tissue"), f"of the {self.place}"])
        return f"{article(phrase)} {phrase}"


def high_risk(facts: CaseFacts) -> bool:
    """High grade (FNCLCC 2-3, or a grade not known), or a histotype FNCLCC does not grade that is high grade by
    definition or aggressive (:data:`FNCLCC_NOT_GRADED`, but the low-grade fibromyxoid sarcoma)."""
    if facts.histotype == "low_grade_fibromyxoid_sarcoma":
        return False
    if not fnclcc_graded(facts.histotype):
        return True
    return facts.grade != "1"


def board_decision(facts: CaseFacts) -> tuple[str, str]:
    """The board's strategy (an id of :data:`sarcotrial.domain.board.STRATEGIES`) and its rationale for a
    referred patient, following the case as the ESMO-EURACAN-GENTURIS guidelines (Gronchi et al., Ann Oncol
    2021) do: metastatic at presentation, systemic therapy; retroperitoneal, resection alone (STRASS);
    visceral, resection by the organ's surgeon; dermatofibrosarcoma protuberans, wide excision; an irradiated
    region or an amputation, surgery alone; not resectable, chemotherapy first; a limb, trunk-wall or head and
    neck sarcoma, preoperative radiotherapy where deep, over 5 cm or high grade (the standard when all three),
    else wide excision alone. SPRINT is named only as a candidate's trial: the demo's screenings are the
    study's, made apart from the board (the decisions carry no screening request)."""
    desc = _sentence(facts.description())
    graded = f", {facts.grade_words}" if facts.grade_words else ""
    sprint = (" SPRINT enrols adults only (over 18): treated off study." if facts.minor
              else " A candidate for SPRINT.")
    if facts.metastatic:
        agent = ("weekly paclitaxel or an anthracycline" if facts.histotype == "angiosarcoma"
                 else "anthracycline-based chemotherapy")
        return ("chemotherapy", f"{desc}{graded}, metastatic at presentation (cM1): systemic therapy "
                                f"first, {agent}; local treatment of the primary reconsidered on response "
                                f"({GUIDELINE}). SPRINT treats localised disease: not a candidate.")
    if facts.site == "retroperitoneum":
        # STRASS (Bonvalot et al., Lancet Oncol 2020;21:1366-1377): preoperative radiotherapy did not improve
        # abdominal recurrence-free survival; resection alone is the standard
        return ("surgery_alone", f"{desc}: en-bloc resection at the sarcoma centre; preoperative radiotherapy is "
                                 "not standard here (STRASS, Bonvalot et al., Lancet Oncol 2020; "
                                 f"{GUIDELINE}).")
    if facts.site == "visceral":
        how = {"uterus": "total hysterectomy without morcellation",
               "liver": "hepatic resection with clear margins, if the liver remnant allows",
               "small bowel": "segmental small bowel resection with its mesentery",
               "small bowel mesentery": "resection with the involved bowel"}.get(
                   facts.place, "resection with clear margins")
        return ("surgery_alone", f"{desc}{graded}: a visceral sarcoma: {how}, at the sarcoma centre; radiotherapy "
                                 f"has no standard role ({GUIDELINE}). Not a candidate for SPRINT.")
    if (facts.histotype or "").startswith("dermatofibrosarcoma_protuberans"):
        return ("surgery_alone", f"{desc}: wide excision with clear margins and reconstruction as needed; "
                                 "radiotherapy only for a margin that cannot be cleared, imatinib if not resectable "
                                 f"({GUIDELINE}). Not a candidate for SPRINT.")
    if facts.previous_rt:
        return ("surgery_alone", f"{desc}{graded}, in a previously irradiated region: wide excision with flap "
                                 f"reconstruction; further radiotherapy is not standard ({GUIDELINE}). Previous "
                                 "radiotherapy to the region excludes SPRINT.")
    if facts.amputation:
        return ("surgery_alone", f"{desc}{graded}, encasing the main vessels and nerve and abutting the bone: "
                                 "limb-sparing surgery cannot give an adequate margin; amputation, which needs no "
                                 f"radiotherapy ({GUIDELINE}). A planned amputation excludes SPRINT.")
    if facts.unresectable:
        return ("chemotherapy", f"{desc}{graded}, not resectable with acceptable morbidity: anthracycline-based "
                                "chemotherapy first, resectability and radiotherapy reconsidered at restaging "
                                f"({GUIDELINE}). Not a candidate for resection, so not for SPRINT.")
    high = high_risk(facts)
    risk = "high grade" if fnclcc_graded(facts.histotype) else "of a high-risk histotype"
    deep = facts.depth == "deep"
    large = facts.size is not None and facts.size > 5
    if high and deep and large:
        return ("preoperative_radiotherapy_surgery",
                f"{desc}{graded}: deep, over 5 cm and {risk}: preoperative radiotherapy then surgery is the "
                f"standard ({GUIDELINE}).{sprint}")
    if high and (deep or large):
        return ("preoperative_radiotherapy_surgery",
                f"{desc}{graded}: {risk} but {'5 cm or smaller' if deep else 'superficial'}, where radiotherapy is "
                f"decided case by case; a close margin is expected, so preoperative radiotherapy then surgery "
                f"({GUIDELINE}).{sprint}")
    if facts.histotype == "myxoid_liposarcoma" and (deep or large):
        return ("preoperative_radiotherapy_surgery",
                f"{desc}{graded}: low grade, but myxoid liposarcoma is radiosensitive and a close margin is "
                f"expected: preoperative radiotherapy then surgery ({GUIDELINE}).{sprint}")
    why = "low grade" if not high else "superficial and 5 cm or smaller"
    return ("surgery_alone", f"{desc}{graded}: {why}: wide excision alone; radiotherapy only for a close or "
                             f"positive margin ({GUIDELINE}). Not a candidate for SPRINT.")


def board_question(facts: CaseFacts) -> str:
    desc = _sentence(facts.description())
    if facts.metastatic:
        return f"{desc}, with metastases on the staging: treatment?"
    if facts.site in ("retroperitoneum", "visceral"):
        return f"{desc}: resectability and surgical plan?"
    return f"{desc}: local treatment; a candidate for SPRINT?"


def imaging_summary(facts: CaseFacts) -> str:
    size = f"{facts.size:g} cm " if facts.size else ""
    chest = "CT chest: no pulmonary nodule."
    if facts.metastatic and facts.histotype == "myxoid_liposarcoma":  # spreads to soft tissue and bone first
        chest += " Whole-body MRI: soft-tissue and spinal metastases."
    elif facts.metastatic:
        chest = "CT chest: multiple bilateral pulmonary nodules, the largest 2 cm, consistent with metastases."
    if facts.site == "retroperitoneum":
        kind = {"well_differentiated_liposarcoma": "fatty ", "dedifferentiated_liposarcoma":
                "fatty, with a solid enhancing component, "}.get(facts.histotype or "", "solid ")
        return f"CT abdomen and pelvis: {size}{kind}retroperitoneal mass; {chest}"
    if facts.site == "visceral":
        return f"CT abdomen and pelvis: {size}mass of the {facts.place}; {chest}"
    fascia = {"deep": ", deep to the fascia", "superficial": ", superficial to the fascia"}.get(facts.depth or "", "")
    extra = ""
    if facts.amputation:
        extra = ", encasing the main artery and nerve and abutting the bone"
    elif facts.unresectable:
        extra = ", infiltrating the neurovascular bundle and the bone over a long segment"
    elif facts.previous_rt:
        extra = ", within the field of earlier radiotherapy"
    return f"MRI: {size}mass of the {facts.place}{fascia}{extra}; heterogeneous enhancement. {chest}"


def pathology_summary(facts: CaseFacts, opinion: dict | None = None) -> str:
    """The pathologist's summary: the biopsy, its grade as the board writes it, and the second opinion."""
    biopsy = "Biopsy" if facts.site == "visceral" else "Core biopsy"
    graded = f", {facts.grade_words}" if facts.grade_words else ""
    if opinion and opinion["outcome"] == "revised":
        return (f"{biopsy} reviewed here (second opinion): {facts.name}{graded}; referred from "
                f"{opinion['centre']} as {natural_name(opinion['earlier'])}.")
    if opinion and opinion["outcome"] == "confirmed":
        return f"{biopsy} reviewed here (second opinion): {facts.name}{graded}, as diagnosed at {opinion['centre']}."
    if facts.histotype in ("solitary_fibrous_tumour", "solitary_fibrous_tumour_malignant"):
        graded += "; its metastatic risk (Demicco) is assessed on the specimen"
    return f"{biopsy}: {facts.name}{graded}."


#: the registry-only patients' cases: question, imaging summary, pathology summary, (strategy, rationale, screen)
KNOWN_CASES = {
    "gist": ("A 6 cm gastric GIST on endoscopic biopsy: resection, and adjuvant imatinib?",
             "CT abdomen: 6 cm exophytic mass of the gastric body, no liver lesion; CT chest: no pulmonary nodule.",
             "Endoscopic biopsy: spindle cell GIST, KIT and DOG1 positive; not graded by FNCLCC: the mitotic count "
             "per 5 mm2 is made on the specimen.",
             ("surgery_alone", "Localised gastric GIST: wedge resection; adjuvant imatinib decided on the specimen's "
                               f"risk of relapse ({GUIDELINE}). Not a candidate for SPRINT.", False)),
    "myxoid": ("An 11 cm deep myxoid liposarcoma of the left thigh: preoperative radiotherapy?",
               "MRI: 11 cm mass of the left thigh, deep to the fascia; heterogeneous enhancement. CT chest: no "
               "pulmonary nodule; whole-spine MRI requested (myxoid liposarcoma spreads to the spine and soft "
               "tissues).",
               "Core biopsy: myxoid liposarcoma, FNCLCC grade 2; FUS::DDIT3 testing sent.",
               ("preoperative_radiotherapy_surgery", "An 11 cm deep myxoid liposarcoma of the left thigh, FNCLCC "
                "grade 2: deep, over 5 cm and radiosensitive: preoperative radiotherapy then surgery "
                f"({GUIDELINE}). SPRINT has enrolled its target and is closed to accrual: treated off study.",
                False)),
    "young": ("Unplanned excision of a right forearm 'lipoma' elsewhere (second opinion: synovial sarcoma, margins "
              "involved): re-excision? Family history of cancer.",
              "MRI after the excision: post-operative changes of the right forearm, no residual mass seen; CT chest: "
              "no pulmonary nodule.",
              "Excision specimen reviewed here (second opinion): monophasic synovial sarcoma, FNCLCC grade 3, margins "
              f"involved; referred from {CENTRES[0]} as a lipoma.",
              ("re_excision", "Synovial sarcoma after an unplanned excision with involved margins: re-excision of the "
                              f"scar, radiotherapy decided on the re-excision specimen ({GUIDELINE}). Family history "
                              "(mother: breast cancer at 41): refer for genetic counselling.", False)),
    "retro": ("A 22 cm retroperitoneal mass, liposarcoma on a core biopsy reviewed here: resectability?",
              "CT abdomen and pelvis: 22 cm fatty retroperitoneal mass with a solid enhancing nodule, displacing the "
              "left kidney; CT chest: no pulmonary nodule.",
              "Core biopsy reviewed here (second opinion): dedifferentiated liposarcoma (a non-lipogenic high-grade "
              f"component), graded on the specimen; referred from {CENTRES[1]} as well-differentiated liposarcoma.",
              ("surgery_alone", "A resectable retroperitoneal dedifferentiated liposarcoma: en-bloc compartmental "
                                "resection at the sarcoma centre; preoperative radiotherapy is not standard (STRASS, "
                                "Bonvalot et al., Lancet Oncol 2020).", False)),
}


class _RegistryDemo:
    def __init__(self, study: StudyDB, seed: int, progress: Callable[[str], None] | None):
        from sarcotrial.demo import demo_password

        self.study = study
        self.seed = seed
        self.rng = random.Random(seed * 7919 + 17)
        self.progress = progress or (lambda _msg: None)
        self.password = lambda user: demo_password(seed, user)
        self.summary = RegistryDemoSummary()
        self._actors: dict[str, Actor] = {}
        self.ages: dict[str, int] = {}  # age at diagnosis of the enrolled patients predicted, by subject

    def login(self, user: str) -> Actor:
        """One actor per account, so that each signs in once."""
        if user not in self._actors:
            self._actors[user] = Actor(user, "demo", password=self.password(user))
        return self._actors[user]

    def days(self, low: int, high: int) -> dt.timedelta:
        return dt.timedelta(days=self.rng.randint(low, high))

    # ------------------------------------------------------------------ the whole
    def run(self) -> RegistryDemoSummary:
        from sarcotrial.services import views

        self.accounts()
        extra = self.registry_patients()
        records = views.patients(self.study, self.login("datamanager"))
        plan = self.meeting_plan(records, extra)
        facts = self.case_facts(records, extra)
        opinions = self.second_opinions(records, extra, plan)
        self.meetings(records, extra, plan, facts, opinions)
        self.risk_model(records)
        self.documents(records, extra)
        return self.summary

    def accounts(self) -> None:
        admin = self.login("admin")
        for user, full_name, role in BOARD_ACCOUNTS:
            password = self.password(user)
            access.add_user(self.study, admin, user, full_name=full_name, role=role, password=password)
            self.summary.logins.append({"user": user, "full_name": full_name, "role": role, "site": None,
                                        "password": password})

    # ------------------------------------------------------------------ registry-only patients
    def registry_patients(self) -> dict[str, dict]:
        """Four patients registered and discussed, never screened: {subject: what the demo knows of them}."""
        nurse = self.login("nurse.main")
        plan = [
            dict(key="gist", sex="male", born=dt.date(1957, 3, 14), referral=dt.date(2024, 3, 4), site="visceral",
                 histotype="gastrointestinal_stromal_tumour", decision="surgery_first", size=6.0),
            dict(key="myxoid", sex="female", born=dt.date(1979, 10, 2), referral=dt.date(2025, 11, 3),
                 site="extremity", histotype="myxoid_liposarcoma", decision="refer_to_trial", size=11.0),
            dict(key="young", sex="female", born=dt.date(1993, 5, 21), referral=dt.date(2024, 10, 7),
                 site="extremity", histotype="synovial_sarcoma", decision="other", size=3.5),
            dict(key="retro", sex="male", born=dt.date(1961, 1, 30), referral=dt.date(2025, 2, 10),
                 site="retroperitoneum", histotype="dedifferentiated_liposarcoma", decision="surgery_first",
                 size=22.0),
        ]
        out = {}
        for item in plan:
            first = self.rng.choice(["Anna", "Marta", "Elisa"] if item["sex"] == "female" else ["Paolo", "Enrico", "Carlo"])
            name = f"{first} {self.rng.choice(['Fontana', 'Barbieri', 'Caruso', 'Ferraro'])} (synthetic)"
            start = item["referral"] + dt.timedelta(days=2)  # the weekly board's next Thursday
            board_date = start + dt.timedelta(days=(BOARD_WEEKDAY - start.weekday()) % 7)
            patient = pathway.register_patient(
                self.study, nurse, sex=item["sex"], synthetic=True, site_code="MAIN",
                identifiers=pathway.Identifiers(name, item["born"], f"SYN{self.rng.randint(10**6, 10**7 - 1)}"),
                referral={"referral_date": item["referral"], "tumour_board_date": board_date,
                          "anatomic_site": item["site"], "referring_specialty": "surgery",
                          "suspected_histotype": item["histotype"], "board_decision": item["decision"]})
            out[patient.subject_id] = item
            self.summary.registry_patients.append(patient.subject_id)
        return out

    # ------------------------------------------------------------------ the board
    def case_facts(self, records, extra: dict[str, dict]) -> dict[str, CaseFacts]:
        """What the board knows of each study patient referred: the diagnosis form of an enrolled patient; for
        one never enrolled, the board's own MRI and biopsy (drawn here: no other record holds that tumour), and
        what their screening then recorded that the board knew (metastases, an irradiated region, a planned
        amputation, a tumour not resectable, a minor)."""
        from sarcotrial.demo import DEMO_TOPOGRAPHY
        from sarcotrial.services.baseline import BaselineDiagnosis

        rng = self.rng
        out = {}
        for record in records:
            referral = record.first("referral")
            if referral is None or record.subject_id in extra:
                continue
            site = referral.values.get("anatomic_site")
            number = int(record.subject_id.rsplit("-", 1)[-1])
            diagnosis = record.first("diagnosis")
            failed: set[str] = set()
            if record.screenings:
                failed = {c["id"] for c in record.screenings[-1]["criteria"] if c["result"] != "not_evaluable"
                          and (c["result"] == "met") != (c["kind"] == "inclusion")}
            if diagnosis is not None:
                values = diagnosis.values
                histotype, size, depth = values["histotype"], values.get("size_cm"), values.get("depth")
                grade = BaselineDiagnosis(diagnosis).grade
                topography, laterality = values.get("topography"), values.get("laterality")
                metastatic = values.get("clinical_m") == "M1"
            else:
                histotype = referral.values.get("suspected_histotype")
                big = site == "retroperitoneum"
                size = round(min(40.0 if big else 30.0, max(5.0 if big else 2.0,
                                                               rng.lognormvariate(2.7 if big else 2.1, 0.4))), 1)
                depth = None
                if site in ("extremity", "trunk", "head-neck"):
                    depth = "deep" if rng.random() < 0.85 else "superficial"
                    if (histotype or "").startswith("dermatofibrosarcoma_protuberans") or (
                            site == "head-neck" and histotype == "angiosarcoma"):
                        depth = "superficial"  # a dermal tumour; a cutaneous angiosarcoma of the scalp
                if not fnclcc_graded(histotype):
                    grade = None
                elif histotype == "well_differentiated_liposarcoma":
                    grade = "1"
                elif histotype == "myxoid_liposarcoma":
                    grade = rng.choice(["1", "2", "2"])
                else:
                    grade = rng.choice(["2", "3", "3"])
                codes = DEMO_TOPOGRAPHY.get(site or "")
                topography = codes[number % len(codes)] if codes else None
                laterality = ("left", "right")[number % 2] if site == "extremity" else None
                metastatic = "histology" in failed  # the demo's histology criterion fails on metastatic disease
                if {"amputation", "resectable"} & failed and depth:
                    depth = "deep"  # encasing the vessels, nerve or bone
            out[record.subject_id] = CaseFacts(
                site=site, place=self.place(site, histotype, topography, laterality, number, record.sex, size),
                histotype=histotype, size=size, depth=depth, grade=grade, metastatic=metastatic,
                previous_rt="previous_rt" in failed, amputation="amputation" in failed,
                unresectable="resectable" in failed, minor="age" in failed)
        return out

    @staticmethod
    def place(site, histotype, topography, laterality, number: int, sex: str | None, size: float | None) -> str:
        """Where the tumour lies, in words, from the recorded topography and laterality (else the subject
        number): "left thigh", "chest wall", "scalp", "uterus"."""
        if site == "extremity":  # a large tumour lies where there is room for it (the thigh, the shoulder)
            upper = topography == "C49.1"
            places = LIMB_PLACES["C49.1" if upper else "C49.2"]
            if (size or 0) > 15:
                places = ("shoulder",) if upper else ("thigh",)
            elif (size or 0) > 10:
                places = ("upper arm", "shoulder") if upper else ("thigh",)
            side = laterality if laterality in ("left", "right") else ("left", "right")[number % 2]
            return f"{side} {places[number % len(places)]}"
        if site == "trunk":
            return TRUNK_PLACES.get(topography or "", ("chest wall", "abdominal wall", "back")[number % 3])
        if site == "head-neck":
            return "scalp" if histotype == "angiosarcoma" else "neck"
        if site == "visceral":
            return {"leiomyosarcoma": "uterus" if sex == "female" else "small bowel", "angiosarcoma": "liver",
                    "gastrointestinal_stromal_tumour": "stomach"}.get(histotype or "", "small bowel mesentery")
        return SITE_WORDS.get(site, site or "unknown site")

    def meeting_plan(self, records, extra: dict[str, dict]) -> dict[str, tuple[dt.date, bool]]:
        """Each referred patient's meeting: the weekly (Thursday) board of their referral's board date's week,
        after the referral and on or before their first screening (:func:`board_day`); {subject: (day, weekly)}."""
        plan = {}
        for record in records:
            referral = record.first("referral")
            if referral is None or referral.values.get("tumour_board_date") is None:
                continue
            board_date = referral.values["tumour_board_date"]
            earliest = referral.values["referral_date"] + dt.timedelta(days=1)
            latest = (min(s["date"] for s in record.screenings) if record.screenings
                      else board_date + dt.timedelta(days=14))
            plan[record.subject_id] = board_day(board_date, earliest, max(earliest, latest))
        return plan

    def meetings(self, records, extra: dict[str, dict], plan: dict[str, tuple[dt.date, bool]],
                 facts: dict[str, CaseFacts], opinions: dict[str, dict]) -> None:
        study = self.study
        clinician, nurse = self.login("clinician"), self.login("nurse.main")
        by_day: dict[dt.date, list] = defaultdict(list)
        for record in records:
            if record.subject_id in plan:
                by_day[plan[record.subject_id][0]].append(record)
        # one meeting, the first of the month, was held without its radiologist (no quorum)
        no_quorum = min((day for day in by_day if (day.year, day.month) == NO_QUORUM_MONTH), default=None)
        cases: list[tuple[int, object, dt.date, bool]] = []
        for day in sorted(by_day):
            weekly = all(plan[r.subject_id][1] for r in by_day[day])
            meeting_id = board.new_meeting(study, clinician, day, site_code="MAIN",
                                           note=WEEKLY_NOTE if weekly else EXTRA_NOTE)
            self.summary.meetings += 1
            quorum = None
            for name, discipline, username in MEMBERS:
                if day == no_quorum and discipline == "radiologist":
                    continue  # the summer meeting: no radiologist
                quorum = board.attend(study, nurse, meeting_id, name, discipline, username=username)
            self.summary.meetings_without_quorum += not quorum.met
            for record in sorted(by_day[day], key=lambda r: r.subject_id):
                case_id = self.case(meeting_id, record, extra.get(record.subject_id), facts.get(record.subject_id),
                                    opinions.get(record.subject_id))
                cases.append((case_id, record, day, quorum.met))
        # the clinician signs every decision but the latest few, still to be signed
        signed_up_to = len(cases) - UNSIGNED_LATEST
        for index, (case_id, record, day, _met) in enumerate(sorted(cases, key=lambda c: (c[2], c[0]))):
            if index >= signed_up_to:
                continue
            board.sign_decision(study, clinician, case_id, self.password("clinician"),
                                "I approve this decision of the board",
                                now=dt.datetime.combine(day, dt.time(18, 0), tzinfo=dt.timezone.utc))
            self.summary.signed += 1

    def case(self, meeting_id: int, record, known: dict | None, facts: CaseFacts | None,
             opinion: dict | None) -> int:
        study = self.study
        if known is not None:
            question, imaging, pathology, (strategy, rationale, screen) = KNOWN_CASES[known["key"]]
        else:
            question, imaging = board_question(facts), imaging_summary(facts)
            pathology = pathology_summary(facts, opinion)
            (strategy, rationale), screen = board_decision(facts), False
        case_id = board.add_case(study, self.login("clinician"), meeting_id, record.subject_id, question)
        self.summary.cases += 1
        board.write_case(study, self.login("radiologist"), case_id, "imaging", imaging)
        board.write_case(study, self.login("pathologist"), case_id, "pathology", pathology)
        board.decide(study, self.login("clinician"), case_id, strategy=strategy, rationale=rationale,
                     responsible_physician=RESPONSIBLE.get(record.site, RESPONSIBLE["MAIN"]),
                     screen_for_study=screen)
        self.summary.decisions += 1
        return case_id

    # ------------------------------------------------------------------ second opinions
    def second_opinions(self, records, extra: dict[str, dict],
                        plan: dict[str, tuple[dt.date, bool]]) -> dict[str, dict]:
        """Second opinions, each reported before the patient's board meeting, whose pathology summary then
        gives the reviewed diagnosis; a revised grade is the grade the study recorded (none where FNCLCC does
        not grade the histotype). Returns {subject: the pathology opinion} of the enrolled patients."""
        from sarcotrial.services.baseline import BaselineDiagnosis

        study = self.study
        pathologist, radiologist = self.login("pathologist"), self.login("radiologist")
        nurses = {r.subject_id: self.login("nurse.sat" if r.site == "SAT" else "nurse.main") for r in records}
        enrolled = [r for r in records if r.first("diagnosis") is not None]
        by_key = {item["key"]: subject for subject, item in extra.items()}
        requests = []  # (subject, kind, centre, received, question, outcome, revised histotype, grade, review)
        referred = {r.subject_id: r.first("referral").values["referral_date"] for r in records
                    if r.first("referral") is not None}
        shown: dict[str, dict] = {}
        for number, record in enumerate(enrolled[1:16:2]):  # eight enrolled patients referred from elsewhere
            diagnosis = record.first("diagnosis")
            histotype = diagnosis.values["histotype"]
            centre = CENTRES[number % len(CENTRES)]
            received = referred[record.subject_id] - self.days(6, 20)
            name = natural_name(histotype)
            if number % 3 == 1:  # the referring diagnosis was another histotype: revised to the one recorded here
                earlier = "leiomyosarcoma" if histotype != "leiomyosarcoma" else "undifferentiated_pleomorphic_sarcoma"
                recorded = BaselineDiagnosis(diagnosis).grade
                grade = int(recorded) if fnclcc_graded(histotype) and recorded in ("1", "2", "3") else None
                requests.append((record.subject_id, "pathology", centre, received,
                                 f"Review of the biopsy diagnosed at {centre} as {natural_name(earlier)}.", "revised",
                                 histotype, grade, f"Morphology and immunohistochemistry reviewed: {name}, not "
                                                   f"{natural_name(earlier)}."))
                shown[record.subject_id] = {"outcome": "revised", "centre": centre, "earlier": earlier}
            else:
                requests.append((record.subject_id, "pathology", centre, received,
                                 f"Review of the biopsy diagnosed at {centre} as {name}.", "confirmed",
                                 None, None, f"Diagnosis of {name} confirmed on the slides and blocks."))
                shown[record.subject_id] = {"outcome": "confirmed", "centre": centre, "earlier": None}
        young = by_key["young"]
        requests.append((young, "pathology", CENTRES[0], dt.date(2024, 9, 23),
                         "Review of a forearm excision reported as a lipoma.", "revised", "synovial_sarcoma", 3,
                         "Monophasic synovial sarcoma (TLE1 positive; SS18::SSX fusion on FISH), margins involved."))
        retro = by_key["retro"]
        requests.append((retro, "pathology", CENTRES[1], dt.date(2025, 1, 27),
                         "Review of a retroperitoneal core biopsy reported as well-differentiated liposarcoma.",
                         "revised", "dedifferentiated_liposarcoma", None,
                         "A non-lipogenic high-grade component is present: dedifferentiated liposarcoma."))
        requests.append((retro, "imaging", CENTRES[1], dt.date(2025, 1, 27),
                         "Review of the staging CT: resectability, vessels.", "confirmed", None, None,
                         "Resectable; the renal vessels are displaced, not encased."))
        requests.append((by_key["gist"], "pathology", CENTRES[2], dt.date(2024, 2, 26),
                         "Review of a gastric biopsy: too little tissue?", "not_assessable", None, None,
                         "Crushed fragments: not assessable; the biopsy is repeated here."))
        for subject, kind, centre, received, question, outcome, histotype, grade, text in requests:
            nurse = nurses[subject]  # the site's research nurse registers the request and its document
            opinion = second_opinion.new_request(study, nurse, subject, kind=kind, referring_centre=centre,
                                                 received_date=received, question=question)
            second_opinion.attach(study, nurse, opinion, filename=f"referral-{opinion:03d}.pdf", content=synthetic_pdf(
                f"Referral for a second opinion ({kind})", [f"Referring centre: {centre}",
                                                             f"Patient: {subject} (pseudonymised)",
                                                             f"Received: {received.isoformat()}", question]))
            reviewer = pathologist if kind == "pathology" else radiologist
            report = received + self.days(2, 12)
            if subject in plan:  # reported before the board discusses the patient
                report = max(received, min(report, plan[subject][0] - dt.timedelta(days=1)))
            second_opinion.review(study, reviewer, opinion, text=text, outcome=outcome,
                                  reviewer=dict((u, n) for u, n, _r in BOARD_ACCOUNTS)[reviewer.name],
                                  report_date=report, revised_histotype=histotype, grade=grade)
            self.summary.second_opinions += 1
            self.summary.revised += outcome == "revised"
        return shown

    # ------------------------------------------------------------------ molecular and family documents
    def documents(self, records, extra: dict[str, dict]) -> None:
        study = self.study
        pathologist, clinician = self.login("pathologist"), self.login("clinician")
        by_key = {item["key"]: subject for subject, item in extra.items()}
        enrolled = [r for r in records if r.first("diagnosis") is not None]
        supporting = {"synovial_sarcoma": {"test": "FISH", "kind": "fusion", "fusion": "SS18::SSX1"},
                      "myxoid_liposarcoma": {"test": "RT-PCR", "kind": "fusion", "fusion": "FUS::DDIT3"},
                      "dedifferentiated_liposarcoma": {"test": "FISH", "kind": "amplification", "gene": "MDM2"},
                      "well_differentiated_liposarcoma": {"test": "FISH", "kind": "amplification", "gene": "MDM2"}}
        documents: list[tuple[str, dict]] = []
        for record in enrolled:
            diagnosis = record.first("diagnosis").values
            finding = supporting.get(diagnosis["histotype"])
            if finding is not None and len(documents) < 4:
                documents.append((record.subject_id, {"histotype": diagnosis["histotype"], "findings": [
                    {**finding, "laboratory": "Molecular pathology (synthetic)",
                     "date": (diagnosis["diagnosis_date"] + dt.timedelta(days=7)).isoformat()}]}))
        # one contradicting: an MDM2 amplification in a tumour recorded as an undifferentiated pleomorphic
        # sarcoma names a dedifferentiated liposarcoma (WHO 2020): the board's flag
        pleomorphic = [r for r in enrolled if r.first("diagnosis").values["histotype"] in
                       ("undifferentiated_pleomorphic_sarcoma", "leiomyosarcoma", "myxofibrosarcoma")]
        chosen = (pleomorphic or enrolled)[-1]
        recorded = chosen.first("diagnosis").values
        documents.append((chosen.subject_id, {"histotype": recorded["histotype"], "findings": [
            {"test": "FISH", "kind": "amplification", "gene": "MDM2", "laboratory": "Molecular pathology (synthetic)",
             "date": (recorded["diagnosis_date"] + dt.timedelta(days=10)).isoformat()}]}))
        self.summary.contradiction = chosen.subject_id
        documents.append((by_key["gist"], {"histotype": "gastrointestinal_stromal_tumour", "findings": [
            {"test": "NGS panel", "kind": "mutation", "gene": "KIT", "cdna": "c.1669_1674del",
             "protein": "p.Trp557_Lys558del", "exon": 11, "vaf": 0.38, "laboratory": "Molecular pathology (synthetic)",
             "date": "2024-03-20"}]}))
        documents.append((by_key["myxoid"], {"histotype": "myxoid_liposarcoma", "findings": [
            {"test": "RT-PCR", "kind": "fusion", "fusion": "FUS::DDIT3", "laboratory": "Molecular pathology (synthetic)",
             "date": "2025-11-12"}]}))
        documents.append((by_key["young"], {"histotype": "synovial_sarcoma", "findings": [
            {"test": "FISH", "kind": "rearrangement", "gene": "SS18", "laboratory": "Molecular pathology (synthetic)",
             "date": "2024-09-30"}]}))
        for subject, document in documents:
            registry.record_document(study, pathologist, subject, "molecular", document)
            self.summary.molecular.append(subject)
        # family histories: the young woman meets the Chompret criteria (familial presentation: a sarcoma
        # before 46 and a first-degree relative with a breast cancer before 56; Bougeard et al., J Clin
        # Oncol 2015); an older patient of the study does not
        registry.record_document(study, clinician, by_key["young"], "family_history", {
            "proband": {"sex": "female", "age": 31, "cancers": [
                {"type": "soft_tissue_sarcoma", "name": "synovial sarcoma", "age": 31}]},
            "relatives": [{"relationship": "mother", "cancers": [
                              {"type": "breast_cancer", "age": 41, "menopausal_status": "premenopausal"}]},
                          {"relationship": "father", "cancers": []},
                          {"relationship": "brother", "cancers": []}]})
        self.summary.family_histories.append(by_key["young"])
        self.summary.chompret = by_key["young"]
        older = next((r for r in enrolled if r.year_of_birth <= 1960 and r.subject_id in self.ages),
                     next(r for r in enrolled if r.subject_id in self.ages))
        registry.record_document(study, clinician, older.subject_id, "family_history", {
            "proband": {"sex": older.sex, "year_of_birth": older.year_of_birth, "cancers": [
                {"type": "soft_tissue_sarcoma", "name": natural_name(older.first("diagnosis").values["histotype"]),
                 "age": self.ages[older.subject_id]}]},
            "relatives": [{"relationship": "father", "cancers": [
                {"type": "other_cancer", "name": "colorectal carcinoma", "age": 74}]}]})
        self.summary.family_histories.append(older.subject_id)

    # ------------------------------------------------------------------ the risk model
    def risk_model(self, records) -> None:
        from sarcotrial.services.baseline import BaselineDiagnosis

        study = self.study
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "demo-synthetic-dmfs.yaml"
            path.write_text(model_text(), encoding="utf-8")
            view = registry.load_model_file(study, self.login("admin"), path, endpoint=DEMO_MODEL_ENDPOINT)
        self.summary.model_key = view.key
        investigators = {"MAIN": "inv.main", "SAT": "inv.sat"}
        for record in records:
            if record.enrolment_date is None or record.first("diagnosis") is None:
                continue
            diagnosis = record.first("diagnosis")
            grade = BaselineDiagnosis(diagnosis).grade
            if grade not in ("1", "2", "3"):
                self.summary.not_predicted.append(record.subject_id)
                continue
            investigator = self.login(investigators[record.site])
            born = pathway.identify(study, investigator, record.subject_id,
                                    "age at diagnosis for the risk model").date_of_birth
            self.ages[record.subject_id] = age_on(born, diagnosis.values["diagnosis_date"])
            inputs = {"age": self.ages[record.subject_id],
                      "size_cm": float(diagnosis.values["size_cm"]), "grade": grade}
            registry.predict(study, investigator, record.subject_id, view.key, inputs, on=record.enrolment_date)
            self.summary.predicted += 1


def build_registry_demo(study: StudyDB, seed: int, progress: Callable[[str], None] | None = None) -> RegistryDemoSummary:
    """Add the tumour board, second opinions, registry documents and a SYNTHETIC risk model with its
    predictions to a SPRINT demo study just built (its accounts exist); deterministic from ``seed``.
    ``progress`` is not called: the demo's progress bar counts referrals."""
    return _RegistryDemo(study, seed, progress).run()
