"""Interventional local treatments: thermal ablation, chemoembolisation, and the CIRSE complication grade.

Standards:

- Filippiadis DK, Binkert C, Pellerin O, Hoffmann RT, Krajina A, Pereira PL. Cirse Quality
  Assurance Document and Standards for Classification of Complications: The Cirse Classification
  System. Cardiovasc Intervent Radiol 2017;40(8):1141-1146. doi:10.1007/s00270-017-1703-4.
  Six grades, by the consequence of the complication for the patient:

  ===== =====================================================================================
  Grade Definition
  ===== =====================================================================================
  1     complication during the procedure which could be solved within the same session; no
        additional therapy, no post-procedure sequelae, no deviation from the normal
        post-therapeutic course
  2     prolonged observation including overnight stay (a deviation from the normal
        post-therapeutic course, < 48 h); no additional post-procedure therapy, no sequelae
  3     additional post-procedure therapy or prolonged hospital stay (> 48 h) required; no
        post-procedure sequelae
  4     complication causing a permanent mild sequela (resuming work and independent living)
  5     complication causing a permanent severe sequela (requiring ongoing assistance in daily life)
  6     death
  ===== =====================================================================================

  (Summarised in the same terms by Filippiadis DK, Pereira PL, Hausegger KA, Ryan AG, Binkert CA.
  CIRSE Standards of Practice for the Classification of Complications: The Modified CIRSE
  Classification System. Cardiovasc Intervent Radiol 2026;49(1):2-6, doi:10.1007/s00270-025-04200-w,
  which subdivides grades 1 and 3 into 1a/1b and 3a/3b. This module implements the 2017 system
  that the protocol names; the modified system is not implemented.)

  The grade of a complication is that of its worst recorded consequence. A prolonged stay of
  exactly 48 h is not "more than 48 h": it is grade 2 (the text does not decide the boundary).

- Ahmed M, Solbiati L, Brace CL, et al. Image-guided tumor ablation: standardization of
  terminology and reporting criteria - a 10-year update. Radiology 2014;273(1):241-260
  (thermal ablation: radiofrequency, microwave, cryoablation; approach; image guidance).
- Lucatelli P, Burrel M, Guiu B, de Rubeis G, van Delden O, Helmberger T. CIRSE Standards of
  Practice on Hepatic Transarterial Chemoembolisation. Cardiovasc Intervent Radiol
  2021;44(12):1851-1867, doi:10.1007/s00270-021-02968-1 (conventional, lipiodol-based TACE;
  drug-eluting microsphere TACE; degradable starch microsphere TACE).

Hand-written: the classification is a table lookup and a maximum, and no maintained library
carries it; the vocabularies are the codes the forms store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Literal

from sarcotrial.errors import InvalidValue

__all__ = [
    "INTERVENTION_KINDS",
    "ABLATION_TECHNIQUES",
    "CHEMOEMBOLISATION_TECHNIQUES",
    "TECHNIQUES",
    "APPROACHES",
    "IMAGE_GUIDANCE",
    "CIRSE_GRADES",
    "CIRSE_CONSEQUENCES",
    "CirseGrade",
    "cirse_grade",
    "consequence_of_stay",
    "Complication",
    "InterventionRecord",
    "intervention_record",
]

INTERVENTION_KINDS: dict[str, str] = {
    "thermal_ablation": "image-guided thermal ablation",
    "chemoembolisation": "transarterial chemoembolisation (TACE)",
}

ABLATION_TECHNIQUES: dict[str, str] = {
    "rfa": "radiofrequency ablation",
    "mwa": "microwave ablation",
    "cryoablation": "cryoablation",
}
"""Thermal ablation techniques (Ahmed et al. 2014)."""

CHEMOEMBOLISATION_TECHNIQUES: dict[str, str] = {
    "ctace": "conventional TACE: emulsion of lipiodol and cytotoxic drug, followed by an embolic agent",
    "deb_tace": "drug-eluting microsphere (bead) TACE (DEM/DEB-TACE)",
    "dsm_tace": "degradable starch microsphere TACE (DSM-TACE)",
}
"""Chemoembolisation techniques (Lucatelli et al. 2021)."""

TECHNIQUES: dict[str, dict[str, str]] = {
    "thermal_ablation": ABLATION_TECHNIQUES,
    "chemoembolisation": CHEMOEMBOLISATION_TECHNIQUES,
}

APPROACHES: dict[str, str] = {
    "percutaneous": "percutaneous",
    "laparoscopic": "laparoscopic",
    "open": "open surgical",
    "endovascular": "transarterial (endovascular)",
}

IMAGE_GUIDANCE: dict[str, str] = {
    "ct": "computed tomography", "us": "ultrasound", "mri": "magnetic resonance imaging",
    "fluoroscopy": "fluoroscopy / angiography", "cbct": "cone-beam CT",
}

CIRSE_GRADES: dict[int, str] = {
    1: "complication during the procedure, solved within the same session; no additional therapy, no "
       "post-procedure sequelae, no deviation from the normal post-therapeutic course",
    2: "prolonged observation including overnight stay (deviation from the normal post-therapeutic course, "
       "< 48 h); no additional post-procedure therapy, no post-procedure sequelae",
    3: "additional post-procedure therapy or prolonged hospital stay (> 48 h) required; no post-procedure sequelae",
    4: "complication causing a permanent mild sequela (resuming work and independent living)",
    5: "complication causing a permanent severe sequela (requiring ongoing assistance in daily life)",
    6: "death",
}
"""The CIRSE classification (Filippiadis et al. 2017), grade -> definition."""

CIRSE_CONSEQUENCES: dict[str, tuple[int, str]] = {
    "solved_in_session": (1, "complication during the procedure, solved within the same session"),
    "prolonged_observation": (2, "prolonged observation including an overnight stay, less than 48 h beyond the "
                                 "normal course, without additional therapy"),
    "additional_therapy": (3, "additional post-procedure therapy"),
    "prolonged_stay_over_48h": (3, "prolonged hospital stay of more than 48 h"),
    "permanent_mild_sequela": (4, "permanent mild sequela (the patient resumes work and independent living)"),
    "permanent_severe_sequela": (5, "permanent severe sequela (ongoing assistance in daily life)"),
    "death": (6, "death"),
}
"""What can be recorded of a complication, with the grade each consequence implies."""


@dataclass(frozen=True)
class CirseGrade:
    grade: int
    definition: str
    deciding: str
    consequences: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"grade": self.grade, "definition": self.definition, "deciding_consequence": self.deciding,
                "consequences": list(self.consequences)}


def consequence_of_stay(extra_hours: float) -> str | None:
    """The consequence of a stay beyond the normal post-procedure course, in hours: none for 0,
    ``prolonged_observation`` up to 48 h, ``prolonged_stay_over_48h`` beyond."""
    if not isinstance(extra_hours, (int, float)) or isinstance(extra_hours, bool) or extra_hours != extra_hours:
        raise InvalidValue("extra_stay_hours", "must be a number of hours", extra_hours)
    if extra_hours < 0:
        raise InvalidValue("extra_stay_hours", "cannot be negative", extra_hours)
    if extra_hours == 0:
        return None
    return "prolonged_observation" if extra_hours <= 48 else "prolonged_stay_over_48h"


def cirse_grade(consequences: Iterable[str]) -> CirseGrade:
    """The CIRSE grade of one complication from its recorded consequences: the worst one applies.

    At least one consequence is required (an event with none of them is not graded). Unknown
    codes are refused, naming the known ones.
    """
    given: list[str] = []
    for code in consequences:
        if code not in CIRSE_CONSEQUENCES:
            raise InvalidValue("consequence", f"unknown; known: {', '.join(CIRSE_CONSEQUENCES)}", code)
        if code not in given:
            given.append(code)
    if not given:
        raise InvalidValue("consequence", "at least one consequence of the complication is needed to grade it",
                           show_value=False)
    deciding = max(given, key=lambda c: CIRSE_CONSEQUENCES[c][0])
    grade = CIRSE_CONSEQUENCES[deciding][0]
    return CirseGrade(grade, CIRSE_GRADES[grade], deciding, tuple(given))


@dataclass(frozen=True)
class Complication:
    description: str
    grade: CirseGrade

    def as_dict(self) -> dict:
        return {"description": self.description, **self.grade.as_dict()}


@dataclass(frozen=True)
class InterventionRecord:
    """A validated interventional treatment; build it with :func:`intervention_record`."""

    kind: str
    technique: str
    target_lesion: str
    date: dt.date
    approach: str | None
    guidance: str | None
    complications: tuple[Complication, ...]

    @property
    def worst_cirse_grade(self) -> int | None:
        return max((c.grade.grade for c in self.complications), default=None)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "technique": self.technique, "target_lesion": self.target_lesion,
                "date": self.date.isoformat(), "approach": self.approach, "guidance": self.guidance,
                "complications": [c.as_dict() for c in self.complications],
                "worst_cirse_grade": self.worst_cirse_grade}


def _code(field: str, value: object, vocabulary: dict[str, str], optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if value not in vocabulary:
        raise InvalidValue(field, f"unknown; known: {', '.join(vocabulary)}", value)
    return value  # type: ignore[return-value]


def intervention_record(kind: Literal["thermal_ablation", "chemoembolisation"], technique: str, target_lesion: str,
                        date: dt.date, *, approach: str | None = None, guidance: str | None = None,
                        complications: Iterable[tuple[str, Iterable[str]]] = ()) -> InterventionRecord:
    """A treatment record any protocol can store: what was done, to which lesion, when, and its
    complications as ``(description, consequences)`` pairs, each graded by :func:`cirse_grade`."""
    _code("kind", kind, INTERVENTION_KINDS)
    _code("technique", technique, TECHNIQUES[kind])
    if not isinstance(target_lesion, str) or not target_lesion.strip():
        raise InvalidValue("target_lesion", "must name the lesion treated", target_lesion)
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise InvalidValue("date", "must be a date", date)
    _code("approach", approach, APPROACHES, optional=True)
    _code("guidance", guidance, IMAGE_GUIDANCE, optional=True)
    if kind == "chemoembolisation" and approach not in (None, "endovascular"):
        raise InvalidValue("approach", "chemoembolisation is transarterial: the approach is 'endovascular'", approach)
    graded = []
    for description, consequences in complications:
        if not isinstance(description, str) or not description.strip():
            raise InvalidValue("complication", "must be described", description)
        graded.append(Complication(description.strip(), cirse_grade(consequences)))
    return InterventionRecord(kind, technique, target_lesion.strip(), date, approach, guidance, tuple(graded))
