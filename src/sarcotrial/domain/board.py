"""The multidisciplinary tumour board: disciplines, the quorum rule, the decision vocabulary, and the
second-opinion outcomes and turnaround.

Standard: the ESMO-EURACAN-GENTURIS Clinical Practice Guidelines for soft tissue and visceral
sarcomas (Gronchi A, Miah AB, Dei Tos AP, et al. Ann Oncol 2021;32(11):1348-1365) ask that every
patient with a sarcoma be discussed, before treatment, by a multidisciplinary team in a reference
centre, with pathologists, radiologists, surgeons, radiation oncologists and medical oncologists
(and other specialties as the case needs), and that the pathological diagnosis be confirmed by an
expert sarcoma pathologist (second opinion). The guideline names the disciplines; it does not state a
quorum as a rule a program could check. The quorum here is therefore the unit's own rule, kept as an
installation setting (``tumour_board_quorum``, default: surgeon, radiation oncologist, medical
oncologist, pathologist, radiologist: the five disciplines the guideline names) and evaluated by
:func:`quorum`: a meeting is quorate when every required discipline has at least one member present.
The exact wording of the guideline is quoted from memory; check it against the published text before
citing this module in a validation report.

Hand-written because it is a small set of vocabularies and one set-inclusion rule; no library holds
a tumour board's rules.

- Decision strategies (:data:`STRATEGIES`): the treatment families of the guideline's algorithms
  (surgery alone; preoperative or postoperative radiotherapy with surgery; perioperative
  chemotherapy; chemotherapy; definitive radiotherapy; interventional radiology; follow-up only;
  further investigations; best supportive care; referral elsewhere; trial screening). A decision
  taken by a meeting without quorum is flagged (:func:`decision_flags`), never refused: the board may
  still have to decide, and the record says how.
- Second opinions (:data:`OPINION_OUTCOMES`): confirmed, revised (a pathology revision names the
  revised WHO 2020 histotype of the catalogue and, where graded, the FNCLCC grade 1-3: Trojani M,
  et al. Int J Cancer 1984;33:37-42; Coindre JM. Arch Pathol Lab Med 2006;130:1448-1453), or not
  assessable. The turnaround (:func:`turnaround_days`) is counted in calendar days from the date the
  request was received to the date of the report (a local choice: working days would need the unit's
  calendar). The rate of revised diagnoses counts revised among the reviews that reached a verdict
  (confirmed or revised); not-assessable reviews are left out of the denominator
  (:func:`revision_counts`).

Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Sequence

from sarcotrial.errors import InvalidValue

#: the disciplines a board member attends as (id -> label)
DISCIPLINES: dict[str, str] = {
    "surgeon": "Surgeon",
    "radiation_oncologist": "Radiation oncologist",
    "medical_oncologist": "Medical oncologist",
    "pathologist": "Pathologist",
    "radiologist": "Radiologist",
    "interventional_radiologist": "Interventional radiologist",
    "nuclear_medicine_physician": "Nuclear medicine physician",
    "palliative_care_physician": "Palliative care physician",
    "geneticist": "Clinical geneticist",
    "physiotherapist": "Physiotherapist",
    "psychologist": "Psychologist",
    "specialist_nurse": "Specialist nurse",
    "research_nurse": "Research nurse",
    "other": "Other",
}

#: the default quorum (the settings' ``tumour_board_quorum`` holds the installation's own)
DEFAULT_QUORUM: tuple[str, ...] = ("surgeon", "radiation_oncologist", "medical_oncologist", "pathologist", "radiologist")

#: the decision's strategy (id -> label)
STRATEGIES: dict[str, str] = {
    "surgery_alone": "Surgery alone",
    "preoperative_radiotherapy_surgery": "Preoperative radiotherapy, then surgery",
    "postoperative_radiotherapy": "Surgery, then postoperative radiotherapy",
    "re_excision": "Re-excision (after an unplanned excision)",
    "perioperative_chemotherapy": "Perioperative chemotherapy with local treatment",
    "chemotherapy": "Chemotherapy",
    # targeted and other systemic treatments that are not chemotherapy (adjuvant or first-line imatinib for a GIST,
    # a tyrosine-kinase inhibitor, an NTRK or ALK inhibitor, a hormonal treatment of a desmoid): ESMO-EURACAN-GENTURIS
    # 2021/2022 (GIST: Casali et al., Ann Oncol 2022;33:20-33)
    "targeted_therapy": "Targeted or other systemic therapy (not chemotherapy)",
    "definitive_radiotherapy": "Definitive radiotherapy",
    "interventional_radiology": "Interventional radiology",
    "follow_up_only": "Follow-up only",
    "further_investigations": "Further investigations",
    "best_supportive_care": "Best supportive care",
    "referral_elsewhere": "Referral elsewhere",
    "trial_screening": "Screening for a clinical trial",
}

#: the review a second opinion asks for
OPINION_KINDS: tuple[str, ...] = ("pathology", "imaging")
#: the outcome of a second-opinion review
OPINION_OUTCOMES: tuple[str, ...] = ("confirmed", "revised", "not_assessable")
#: FNCLCC grades (Trojani 1984); ``None`` where the histotype is not graded
FNCLCC_GRADES: tuple[int, ...] = (1, 2, 3)

NO_QUORUM_FLAG = "taken without quorum"


def discipline(value: str) -> str:
    """A discipline id, checked against :data:`DISCIPLINES` (case and spaces forgiven)."""
    clean = (value or "").strip().lower().replace(" ", "_").replace("-", "_")
    if clean not in DISCIPLINES:
        raise InvalidValue("discipline", f"must be one of {', '.join(DISCIPLINES)}", value)
    return clean


def strategy(value: str) -> str:
    """A decision strategy id, checked against :data:`STRATEGIES`."""
    clean = (value or "").strip().lower().replace(" ", "_").replace("-", "_")
    if clean not in STRATEGIES:
        raise InvalidValue("strategy", f"must be one of {', '.join(STRATEGIES)}", value)
    return clean


@dataclass(frozen=True)
class Quorum:
    """A meeting's quorum: the disciplines required, those present among them, and those missing."""

    required: tuple[str, ...]
    present: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def met(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        if self.met:
            return "quorum met: " + ", ".join(DISCIPLINES.get(d, d).lower() for d in self.required)
        return "no quorum: missing " + ", ".join(DISCIPLINES.get(d, d).lower() for d in self.missing)

    def as_dict(self) -> dict:
        return {"met": self.met, "required": list(self.required), "present": list(self.present),
                "missing": list(self.missing)}


def quorum(present: Iterable[str], required: Sequence[str]) -> Quorum:
    """The quorum of a meeting whose members attend as ``present`` (one discipline each, repeats
    allowed), against the ``required`` disciplines: met when each required discipline has at least
    one member present. An empty requirement is always met."""
    attending = set(present)
    need = tuple(dict.fromkeys(required))
    return Quorum(need, tuple(d for d in need if d in attending), tuple(d for d in need if d not in attending))


def decision_flags(quorum_met: bool) -> tuple[str, ...]:
    """What a decision carries besides its content: taken by a meeting without quorum."""
    return () if quorum_met else (NO_QUORUM_FLAG,)


def decision_signed_values(*, subject_id: str, meeting_date: dt.date, question: str, imaging_summary: str | None,
                           pathology_summary: str | None, strategy_id: str, rationale: str,
                           responsible_physician: str, screen_for_study: bool) -> dict:
    """What a signature on a board decision is bound to: the case as presented and the decision.
    A change to any of these after signing voids the signature (21 CFR 11.70: a signature is linked
    to its record so that it cannot be transferred to another content)."""
    return {"subject_id": subject_id, "meeting_date": meeting_date.isoformat(), "question": question,
            "imaging_summary": imaging_summary, "pathology_summary": pathology_summary, "strategy": strategy_id,
            "rationale": rationale, "responsible_physician": responsible_physician,
            "screen_for_study": bool(screen_for_study)}


# --------------------------------------------------------------------------- second opinions
def opinion_kind(value: str) -> str:
    clean = (value or "").strip().lower()
    if clean not in OPINION_KINDS:
        raise InvalidValue("kind", f"must be one of {', '.join(OPINION_KINDS)}", value)
    return clean


def opinion_outcome(kind: str, outcome: str, revised_histotype: str | None, grade: int | None) -> str:
    """Check a review's outcome against its kind: a revised pathology diagnosis names the revised
    histotype (an id of the catalogue, checked by the caller) and may give an FNCLCC grade; a
    confirmed or not-assessable review carries neither; an imaging review never carries them."""
    clean = (outcome or "").strip().lower().replace(" ", "_").replace("-", "_")
    if clean not in OPINION_OUTCOMES:
        raise InvalidValue("outcome", f"must be one of {', '.join(OPINION_OUTCOMES)}", outcome)
    if grade is not None and grade not in FNCLCC_GRADES:
        raise InvalidValue("grade", "an FNCLCC grade is 1, 2 or 3", grade)
    if kind == "imaging" and (revised_histotype or grade is not None):
        raise InvalidValue("histotype", "an imaging review gives no histotype or grade (a pathology review does)",
                           show_value=False)
    if kind == "pathology" and clean == "revised" and not revised_histotype:
        raise InvalidValue("histotype", "a revised pathology diagnosis names the revised histotype (catalogue id)",
                           show_value=False)
    if clean != "revised" and (revised_histotype or grade is not None):
        raise InvalidValue("histotype", f"only a revised diagnosis gives a histotype or a grade (the outcome is "
                           f"{clean.replace('_', ' ')})", show_value=False)
    return clean


def turnaround_days(received: dt.date, reported: dt.date) -> int:
    """Calendar days from the request's receipt to the report (0: reported the day it arrived)."""
    if reported < received:
        raise InvalidValue("report_date", f"must not be before the request was received ({received.isoformat()})",
                           reported.isoformat())
    return (reported - received).days


@dataclass(frozen=True)
class RevisionCount:
    """A referring centre's reviews: how many reached a verdict, how many revised the diagnosis."""

    centre: str
    reviews: int            # with an outcome (not assessable included)
    assessed: int           # confirmed or revised: the rate's denominator
    revised: int
    not_assessable: int

    @property
    def rate(self) -> float | None:
        return self.revised / self.assessed if self.assessed else None


def revision_counts(outcomes: Iterable[tuple[str, str | None]]) -> list[RevisionCount]:
    """Per referring centre (sorted by name), from (centre, outcome) pairs; requests without an
    outcome yet are not counted."""
    tally: dict[str, list[int]] = {}
    for centre, outcome in outcomes:
        if outcome is None:
            continue
        t = tally.setdefault(centre, [0, 0, 0, 0])
        t[0] += 1
        if outcome in ("confirmed", "revised"):
            t[1] += 1
        if outcome == "revised":
            t[2] += 1
        if outcome == "not_assessable":
            t[3] += 1
    return [RevisionCount(c, *tally[c]) for c in sorted(tally, key=str.lower)]

