"""The baseline of a patient as Table 1 of the study report and the exports' covariates read it: the
diagnosis form's values and derived grade and stage by the protocol's names, and the words for their
codes. One reading for both, so an export's covariates are the report's."""

from __future__ import annotations

from sarcotrial.domain import histology
from sarcotrial.services.forms import CRF

#: Table 1's words for the anatomic sites: "trunk" is the trunk wall (AJCC 8th "trunk and extremities"), as
#: opposed to the retroperitoneum and the viscera; its depth is the Depth row's
SITE_LABELS = {"extremity": "Extremity", "trunk": "Trunk wall", "retroperitoneum": "Retroperitoneum",
               "head-neck": "Head and neck", "visceral": "Visceral (thoracic or abdominal organs)"}
NO_STAGE_GROUP = "No AJCC stage group (head and neck, visceral)"
STAGE_ORDER = ["IA", "IB", "II", "IIIA", "IIIB", "IV"]
#: Table 1's FNCLCC grade rows: "X" a histotype FNCLCC grades whose components were not all recorded, "NA" one
#: the catalogue grades by another system (no differentiation score, and a note saying why: WHO 2020)
GRADE_LABELS = {"1": "G1", "2": "G2", "3": "G3", "X": "GX: not assessed",
                "NA": "Not applicable (graded by another system, e.g. solitary fibrous tumour)"}
GRADE_ORDER = list(GRADE_LABELS)


def fnclcc_applies(histotype_id: str | None) -> bool:
    """Whether FNCLCC grades the histotype: not where the catalogue gives it no differentiation score and says
    why (``fnclcc_note``), as for a solitary fibrous tumour (WHO 2020: a risk model); an unknown or unrecorded
    histotype is taken as graded (so a missing grade reads "not assessed")."""
    try:
        entity = histology.histotype(histotype_id) if histotype_id else None
    except Exception:
        return True
    return entity is None or entity.graded_by_fnclcc


class BaselineDiagnosis:
    """A diagnosis form read for Table 1: entered values and derived grade and stage by the protocol's names;
    ``None`` for what is not recorded (no form, no value, or a missing-data code)."""

    def __init__(self, crf: CRF | None):
        values = crf.values if crf is not None else {}
        derived = crf.derived if crf is not None else {}
        self.anatomic_site = values.get("anatomic_site")
        self.histotype = values.get("histotype")
        self.grade = derived.get("grade") if crf is not None else None
        if crf is not None and self.grade in (None, "X", "None"):  # no FNCLCC grade: not applicable, or not assessed
            self.grade = "X" if fnclcc_applies(self.histotype) else "NA"
        self.size_cm = values.get("size_cm")
        self.depth = values.get("depth")
        self.ecog = values.get("ecog")
        self.stage = derived.get("stage") if crf is not None else None
        if crf is not None and self.stage is None and self.anatomic_site in ("head-neck", "visceral"):
            self.stage = NO_STAGE_GROUP
