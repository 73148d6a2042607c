"""The tumour board, second opinions and the unit's registry of the synthetic SPRINT demo.

SYNTHETIC DATA: every person, meeting, review, document, family history and risk model made here is
invented, deterministically from the demo's seed; names carry "(synthetic)", the PDF documents say
SYNTHETIC on their page, and the risk model is marked ``synthetic: true`` in its metadata. Nothing
here is a clinical rule: the rules are those the services call (the board's quorum, the WHO 2020
catalogue, the molecular catalogue, the Chompret 2015 criteria, the risk-model engine), and this
module only makes the actions a unit's staff would make, through the same services
(``services/board.py``, ``services/second_opinion.py``, ``services/registry.py``).

What it makes, after the study itself (:func:`sarcotrial.demo.build_demo_study` calls it last):

- three board accounts (a clinician, a pathologist, a radiologist), with passwords from
  :func:`sarcotrial.demo.demo_password` as the other demo accounts;
- a board meeting on every tumour-board date recorded on the referral forms, with the members
  present (one meeting, in August 2024, without its radiologist: no quorum, and its decisions carry
  the flag); each referred patient is put to the meeting of their referral's board date, before
  their screening, with a question, the radiologist's imaging summary, the pathologist's pathology
  summary and a decision, signed by the clinician except the three latest;
- four registry-only patients (registered, discussed, never screened): a gastric GIST, a myxoid
  liposarcoma of the thigh left to be screened, a young woman referred after an unplanned excision
  with a revised second opinion and a family history that meets the Chompret criteria, and a
  retroperitoneal liposarcoma sent for a second opinion;
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


def _name(histotype_id: str | None) -> str:
    if not histotype_id:
        return "soft tissue sarcoma"
    try:
        return histology.histotype(histotype_id).name
    except Exception:
        return str(histotype_id).replace("_", " ")


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
        self.meetings(records, extra)
        self.second_opinions(records, extra)
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
            board_date = item["referral"] + self.days(2, 8)
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
    def meetings(self, records, extra: dict[str, dict]) -> None:
        study = self.study
        clinician, nurse = self.login("clinician"), self.login("nurse.main")
        by_date: dict[dt.date, list] = defaultdict(list)
        for record in records:
            referral = record.first("referral")
            if referral is None or referral.values.get("tumour_board_date") is None:
                continue
            by_date[referral.values["tumour_board_date"]].append(record)
        cases: list[tuple[int, object, dt.date, bool]] = []
        for day in sorted(by_date):
            meeting_id = board.new_meeting(study, clinician, day, site_code="MAIN",
                                           note="Weekly sarcoma board (synthetic)")
            self.summary.meetings += 1
            quorum = None
            for name, discipline, username in MEMBERS:
                if (day.year, day.month) == NO_QUORUM_MONTH and discipline == "radiologist":
                    continue  # the summer meeting: no radiologist
                quorum = board.attend(study, nurse, meeting_id, name, discipline, username=username)
            self.summary.meetings_without_quorum += not quorum.met
            for record in sorted(by_date[day], key=lambda r: r.subject_id):
                case_id = self.case(meeting_id, record, extra.get(record.subject_id))
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

    def case(self, meeting_id: int, record, known: dict | None) -> int:
        from sarcotrial.services.baseline import BaselineDiagnosis

        study = self.study
        referral = record.first("referral").values
        site = referral.get("anatomic_site")
        where = SITE_WORDS.get(site, site or "unknown site")
        diagnosis = record.first("diagnosis")
        histotype = (diagnosis.values.get("histotype") if diagnosis else None) or referral.get("suspected_histotype")
        name = _name(histotype)
        size = diagnosis.values.get("size_cm") if diagnosis else (known or {}).get("size")
        depth = (diagnosis.values.get("depth") if diagnosis else None) or "deep"
        grade = BaselineDiagnosis(diagnosis).grade if diagnosis else None
        size_words = f"{size:g} cm " if size else ""
        question = f"{size_words}{depth} {name} of the {where}: local treatment, and is the patient a candidate for SPRINT?"
        if known is not None:
            question = {"gist": f"{size_words}gastric GIST on endoscopic biopsy: resection, and adjuvant imatinib?",
                        "myxoid": f"{size_words}myxoid liposarcoma of the thigh: preoperative radiotherapy?",
                        "young": "Unplanned excision of a forearm 'lipoma' elsewhere (second opinion: synovial "
                                 "sarcoma): re-excision? Family history of cancer.",
                        "retro": f"{size_words}retroperitoneal mass, liposarcoma on core biopsy reviewed here: "
                                 "resectability?"}[known["key"]]
        case_id = board.add_case(study, self.login("clinician"), meeting_id, record.subject_id, question)
        self.summary.cases += 1
        imaging = (f"MRI: {size_words}{depth} mass of the {where}, heterogeneous enhancement; CT chest: no "
                   "pulmonary nodule." if size else f"MRI: {depth} mass of the {where}; staging CT chest requested.")
        if known is not None and known["key"] == "gist":
            imaging = "CT abdomen: 6 cm exophytic mass of the gastric body, no liver lesion."
        elif known is not None and known["key"] == "retro":
            imaging = "CT: 22 cm fatty retroperitoneal mass with a solid nodule, displacing the left kidney."
        elif known is not None and known["key"] == "young":
            imaging = "MRI after the excision: post-operative changes of the forearm, no residual mass seen."
        board.write_case(study, self.login("radiologist"), case_id, "imaging", imaging)
        grade_words = {"1": "FNCLCC grade 1", "2": "FNCLCC grade 2", "3": "FNCLCC grade 3",
                       "NA": "not graded by FNCLCC", "X": "grade not assessable"}.get(grade or "", "")
        pathology = f"Core biopsy: {name}" + (f", {grade_words}." if grade_words else ".")
        if known is not None and known["key"] == "gist":
            pathology = "Endoscopic biopsy: spindle cell GIST, KIT and DOG1 positive; mitoses to count on the specimen."
        board.write_case(study, self.login("pathologist"), case_id, "pathology", pathology)
        strategy, rationale, screen = self.decision(record, known, size, depth, grade_words, where)
        board.decide(study, self.login("clinician"), case_id, strategy=strategy, rationale=rationale,
                     responsible_physician=RESPONSIBLE.get(record.site, RESPONSIBLE["MAIN"]),
                     screen_for_study=screen)
        self.summary.decisions += 1
        return case_id

    @staticmethod
    def decision(record, known, size, depth, grade_words, where) -> tuple[str, str, bool]:
        if known is None and where == SITE_WORDS["retroperitoneum"]:
            # STRASS (Bonvalot et al., Lancet Oncol 2020;21:1366-1377): preoperative radiotherapy did not improve
            # abdominal recurrence-free survival; resection alone is the standard
            return ("surgery_alone", "Retroperitoneal sarcoma: en-bloc resection at the sarcoma centre; preoperative "
                                     "radiotherapy is not standard here (STRASS, Bonvalot et al., Lancet Oncol 2020).",
                    False)
        if known is None:
            size_words = f"{size:g} cm" if size else "large"
            return ("preoperative_radiotherapy_surgery",
                    f"{depth.capitalize()}, {size_words} sarcoma of the {where}"
                    + (f", {grade_words}" if grade_words else "")
                    + ": preoperative radiotherapy then surgery (ESMO-EURACAN-GENTURIS 2021); to be screened "
                      "for SPRINT.", False)
        return {
            "gist": ("surgery_alone", "Localised gastric GIST: wedge resection; adjuvant imatinib decided on the "
                                      "specimen's risk of relapse.", False),
            "myxoid": ("preoperative_radiotherapy_surgery", "Myxoid liposarcoma is radiosensitive: preoperative "
                                                           "radiotherapy then surgery; to be screened for SPRINT.",
                       True),
            "young": ("re_excision", "Synovial sarcoma after an unplanned excision: re-excision of the scar; "
                                     "family history: refer for genetic counselling.", False),
            "retro": ("surgery_alone", "Resectable retroperitoneal liposarcoma: en-bloc compartmental resection "
                                       "at the sarcoma centre.", False),
        }[known["key"]]

    # ------------------------------------------------------------------ second opinions
    def second_opinions(self, records, extra: dict[str, dict]) -> None:
        study, rng = self.study, self.rng
        pathologist, radiologist = self.login("pathologist"), self.login("radiologist")
        nurses = {r.subject_id: self.login("nurse.sat" if r.site == "SAT" else "nurse.main") for r in records}
        enrolled = [r for r in records if r.first("diagnosis") is not None]
        by_key = {item["key"]: subject for subject, item in extra.items()}
        requests = []  # (subject, kind, centre, received, question, outcome, revised histotype, grade, review)
        referred = {r.subject_id: r.first("referral").values["referral_date"] for r in records
                    if r.first("referral") is not None}
        for number, record in enumerate(enrolled[1:16:2]):  # eight enrolled patients referred from elsewhere
            histotype = record.first("diagnosis").values["histotype"]
            centre = CENTRES[number % len(CENTRES)]
            received = referred[record.subject_id] - self.days(6, 20)
            if number % 3 == 1:  # the referring diagnosis was another histotype: revised to the one recorded here
                earlier = "leiomyosarcoma" if histotype != "leiomyosarcoma" else "undifferentiated_pleomorphic_sarcoma"
                entity = histology.histotype(histotype)
                requests.append((record.subject_id, "pathology", centre, received,
                                 f"Review of the biopsy diagnosed at {centre} as {_name(earlier)}.", "revised",
                                 histotype, None if not entity.graded_by_fnclcc else 3 if rng.random() < 0.6 else 2,
                                 f"Morphology and immunohistochemistry reviewed: {_name(histotype)}, not "
                                 f"{_name(earlier)}."))
            else:
                requests.append((record.subject_id, "pathology", centre, received,
                                 f"Review of the biopsy diagnosed at {centre} as {_name(histotype)}.", "confirmed",
                                 None, None, f"Diagnosis of {_name(histotype)} confirmed on the slides and blocks."))
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
                         "Crushed fragments: not assessable; the board's biopsy was used instead."))
        for subject, kind, centre, received, question, outcome, histotype, grade, text in requests:
            nurse = nurses[subject]  # the site's research nurse registers the request and its document
            opinion = second_opinion.new_request(study, nurse, subject, kind=kind, referring_centre=centre,
                                                 received_date=received, question=question)
            second_opinion.attach(study, nurse, opinion, filename=f"referral-{opinion:03d}.pdf", content=synthetic_pdf(
                f"Referral for a second opinion ({kind})", [f"Referring centre: {centre}",
                                                             f"Patient: {subject} (pseudonymised)",
                                                             f"Received: {received.isoformat()}", question]))
            reviewer = pathologist if kind == "pathology" else radiologist
            second_opinion.review(study, reviewer, opinion, text=text, outcome=outcome,
                                  reviewer=dict((u, n) for u, n, _r in BOARD_ACCOUNTS)[reviewer.name],
                                  report_date=received + self.days(2, 12), revised_histotype=histotype, grade=grade)
            self.summary.second_opinions += 1
            self.summary.revised += outcome == "revised"

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
                {"type": "soft_tissue_sarcoma", "name": _name(older.first("diagnosis").values["histotype"]),
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
