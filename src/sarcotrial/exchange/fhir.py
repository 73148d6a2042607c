"""The ``fhir`` export: one HL7 FHIR R4 Bundle per patient, ``<subject>.json``, along mCODE.

Each file is a Bundle of type ``collection`` whose entries carry ``urn:uuid:`` full URLs; every id is
a UUID 5 of the protocol's acronym, the subject id and the resource's key, so the same data give the
same ids on every export. A Bundle holds, as far as the snapshot has the data:

- **Patient** (mCODE CancerPatient): the subject id as identifier (system
  ``urn:sarcotrial:<acronym>:subject``), gender, the age at enrolment in an extension of the project's
  own (``urn:sarcotrial:fhir:age-at-enrolment``, a UCUM ``a`` Age), the date of death at the level;
  at the identified level alone also the name, birth date and hospital number (type ``MR``);
- **Condition** (mCODE PrimaryCancerCondition) from the diagnosis form: ``code`` names the WHO 2020
  histotype (text and the catalogue id), the ICD-O-3 morphology/behaviour code the catalogue gives
  it in the mCODE ``histology-morphology-behavior`` extension (mCODE keeps ``code`` for SNOMED CT or
  ICD-10-CM, which the project does not map), ``bodySite`` the ICD-O-3 topography (else the
  protocol's site category) with the mCODE ``laterality-qualifier`` extension (SNOMED CT), onset and
  recorded date the date of diagnosis, and the stage group in ``stage``;
- **Observation** (mCODE TNMStageGroup, LOINC 21908-9): the AJCC 8th edition stage group the
  diagnosis form derived (none where AJCC 8 defines none), with ``focus`` on the Condition;
- **Procedure** (mCODE RadiotherapyCourseSummary, SNOMED CT 1217123003): status from the delivery
  summary of :mod:`sarcotrial.services.radiotherapy` (``completed`` when every planned fraction was
  delivered, ``stopped`` when surgery closed the course before, ``in-progress`` otherwise,
  ``preparation`` before the first fraction), the period from the first to the last delivered
  fraction, modality and technique (photons, IMRT) from the protocol, the number of sessions, and
  per dose level of the protocol a ``dose-delivered-to-volume`` extension (total dose in cGy and
  fractions delivered) referring to a **BodyStructure** (mCODE RadiotherapyVolume) named after it;
- **Procedure** (mCODE CancerRelatedSurgicalProcedure) for each surgery: the procedure (SNOMED CT
  where :file:`data/fhir_codes.yaml` is sure of the code, and always the protocol's code and label),
  the date of surgery, ``reasonReference`` to the Condition;
- **AdverseEvent** (profile CTC Adverse Event of the HL7 CTC Adverse Events IG) for each adverse
  event form: the CTCAE term as text with its MedDRA LLT code (CTCAE v5.0 carries one per term),
  the onset date, seriousness (NCI Thesaurus codes of the IG), the attribution to radiotherapy as a
  causality of the course Procedure, the resolution date, and the grade. R4's AdverseEvent has no
  grade element: the grade is written in the IG's extension
  ``http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade`` as a **valueCodeableConcept**
  (code ``"1"``..``"5"`` of ``http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system``,
  text the grade's number).

Dates are those of the snapshot, so already shifted at the de-identified level, which also holds no
free text. The profiles are named in ``meta.profile``; the Bundles are built and validated with the
``fhir.resources`` R4B models, which are R4 for every resource written here (R4B changed none of
Patient, Condition, Observation, Procedure, BodyStructure and AdverseEvent), so the files are FHIR R4
(4.0.1) JSON. The models check structure and data types, not the mCODE profiles' rules.
Hand-written because no library maps a trial's forms to mCODE; ``fhir.resources`` (imported inside
:func:`write` alone, as it is slow to import) does the FHIR side. The standard codes used are listed
with their sources in :file:`data/fhir_codes.yaml`.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from sarcotrial.errors import InvalidValue
from sarcotrial.services.exchange import ExportCRF, ExportPatient, ExportSnapshot

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sarcotrial:fhir")
AGE_EXTENSION = "urn:sarcotrial:fhir:age-at-enrolment"
#: HL7 FHIR R4 data-absent-reason extension ("masked": withheld for privacy) and the Condition category code system
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
HISTOTYPE_SYSTEM = "urn:sarcotrial:who-2020-histotype"
GENDERS = {"female": "female", "male": "male", "other": "other"}

Resource = dict[str, Any]


@functools.lru_cache(maxsize=1)
def codes() -> dict[str, Any]:
    """The curated code table (``data/fhir_codes.yaml``)."""
    text = resources.files("sarcotrial.exchange").joinpath("data", "fhir_codes.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def write(snapshot: ExportSnapshot, folder: Path, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """One ``<subject>.json`` Bundle per patient of the snapshot; counts of Bundles and resources."""
    from fhir.resources.R4B.bundle import Bundle

    total = 0
    for index, patient in enumerate(snapshot.patients, start=1):
        bundle = Bundle.model_validate(patient_bundle(snapshot, patient))
        (folder / f"{patient.subject_id}.json").write_text(bundle.model_dump_json(indent=2) + "\n", encoding="utf-8")
        total += len(bundle.entry or [])
        if progress and index % 10 == 0:
            progress(f"FHIR Bundles: {index} of {len(snapshot.patients)}")
    return {"bundles": len(snapshot.patients), "resources": total}


def patient_bundle(snapshot: ExportSnapshot, patient: ExportPatient) -> Resource:
    """The patient's Bundle as FHIR JSON (a dict), before validation."""
    builder = _Builder(snapshot, patient)
    return {"resourceType": "Bundle", "id": builder.uuid("bundle"), "type": "collection",
            "timestamp": snapshot.exported_at.isoformat(),
            "entry": [{"fullUrl": builder.url(key), "resource": resource} for key, resource in builder.resources()]}


# --------------------------------------------------------------------------- helpers
def _entered(patient: ExportPatient, form_id: str) -> list[ExportCRF]:
    """The form's instances that hold data (not those marked not done)."""
    return patient.of(form_id)


def _day(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else None


def _coding(spec: dict[str, Any]) -> dict[str, str]:
    """A coding from an entry of the code table (``{system: key, code, display}``)."""
    return {"system": codes()["systems"][spec["system"]], "code": str(spec["code"]), "display": spec["display"]}


def _number(value: float) -> float | int:
    rounded = round(value, 3)
    return int(rounded) if rounded == int(rounded) else rounded


def _crf_key(c: ExportCRF) -> str:
    return f"{c.form_id}/{c.visit_id}/{c.occurrence}/{c.instance}"


class _Builder:
    """The resources of one patient, each with its key (for its UUID)."""

    def __init__(self, snapshot: ExportSnapshot, patient: ExportPatient) -> None:
        self.snapshot, self.patient = snapshot, patient
        self.protocol = snapshot.protocol
        self.acronym = snapshot.protocol.identification.acronym
        self.codes = codes()

    # ids and references
    def uuid(self, key: str) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.acronym}:{self.patient.subject_id}:{key}"))

    def url(self, key: str) -> str:
        return f"urn:uuid:{self.uuid(key)}"

    def ref(self, key: str, display: str | None = None) -> dict[str, str]:
        return {"reference": self.url(key), **({"display": display} if display else {})}

    def local(self, codelist: str, code: str) -> dict[str, str]:
        """The protocol's own coding of a code of one of its codelists."""
        labels = {c.code: c.label for c in self.protocol.codelists.get(codelist, [])}
        return {"system": f"urn:sarcotrial:{self.acronym}:codelist:{codelist}", "code": code,
                "display": labels.get(code, code)}

    def label(self, codelist: str, code: str) -> str:
        return self.local(codelist, code)["display"]

    def profile(self, name: str) -> dict[str, list[str]]:
        return {"profile": [self.codes["profiles"][name]]}

    # the Bundle's resources, in order
    def resources(self) -> list[tuple[str, Resource]]:
        out: list[tuple[str, Resource]] = [("patient", self.patient_resource())]
        diagnosis = next(iter(_entered(self.patient, "diagnosis")), None)
        condition = None
        if diagnosis is not None:
            stage = self.stage_resource(diagnosis)
            condition = ("condition", self.condition_resource(diagnosis, stage is not None))
            out.append(condition)
            if stage is not None:
                out.append(("stage", stage))
        radiotherapy = self.radiotherapy_resources(condition is not None)
        out.extend(radiotherapy)
        for surgery in _entered(self.patient, "surgery"):
            out.append((_crf_key(surgery), self.surgery_resource(surgery, condition is not None)))
        for event in _entered(self.patient, "adverse_event"):
            out.append((_crf_key(event), self.adverse_event_resource(event, bool(radiotherapy))))
        for key, resource in out:
            resource["id"] = self.uuid(key)
        return out

    # ------------------------------------------------------------------ Patient
    def patient_resource(self) -> Resource:
        p = self.patient
        resource: Resource = {"resourceType": "Patient", "meta": self.profile("patient"),
                              "identifier": [{"use": "usual", "system": f"urn:sarcotrial:{self.acronym}:subject",
                                              "value": p.subject_id}],
                              "gender": GENDERS.get(p.sex, "unknown")}
        if p.age_at_enrolment is not None:
            resource["extension"] = [{"url": AGE_EXTENSION, "valueAge": {
                "value": p.age_at_enrolment, "unit": "a", "system": self.codes["systems"]["ucum"], "code": "a"}}]
        if p.identifiers:
            resource["identifier"].append({
                "use": "official", "type": {"coding": [{"system": self.codes["systems"]["identifier_type"],
                                                        "code": "MR", "display": "Medical record number"}]},
                "system": f"urn:sarcotrial:{self.acronym}:hospital-number", "value": p.identifiers["hospital_number"]})
            resource["name"] = [{"text": p.identifiers["full_name"]}]
            resource["birthDate"] = _day(p.identifiers["date_of_birth"])
        else:  # US Core Patient (under mCODE's CancerPatient) needs a name: say it is withheld, not missing
            resource["name"] = [{"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]}]
        death = next((c for c in _entered(p, "outcome_event") if c.values.get("event_type") == "death"), None)
        if death is not None and _day(death.values.get("event_date")):
            resource["deceasedDateTime"] = _day(death.values["event_date"])
        elif p.status == "dead":
            resource["deceasedBoolean"] = True
        return resource

    # ------------------------------------------------------------------ Condition and stage
    def condition_resource(self, diagnosis: ExportCRF, staged: bool) -> Resource:
        from sarcotrial.domain import histology

        v, systems = diagnosis.values, self.codes["systems"]
        resource: Resource = {"resourceType": "Condition", "meta": self.profile("primary_cancer_condition"),
                              "verificationStatus": {"coding": [{"system": systems["condition_verification"],
                                                                 "code": "confirmed", "display": "Confirmed"}]},
                              # US Core Condition (under mCODE's PrimaryCancerCondition) needs a category
                              "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": "problem-list-item",
                                                        "display": "Problem List Item"}]}],
                              "subject": self.ref("patient")}
        histotype_id = v.get("histotype")
        entity = None
        if histotype_id:
            try:
                entity = histology.histotype(histotype_id)
            except InvalidValue:  # an id the catalogue does not know: written as recorded
                entity = None
        name = entity.name if entity else histotype_id
        icdo3 = diagnosis.derived.get("icdo3") or (entity.icdo3 if entity else None)
        if name:
            code: Resource = {"text": name}
            if histotype_id:
                code["coding"] = [{"system": HISTOTYPE_SYSTEM, "code": histotype_id, "display": name}]
            resource["code"] = code
        else:
            resource["code"] = {"text": self.protocol.identification.condition}
        if icdo3:
            resource["extension"] = [{"url": self.codes["extensions"]["histology_morphology_behavior"],
                                      "valueCodeableConcept": {"coding": [{"system": systems["icdo3"], "code": icdo3,
                                                                           "display": name or icdo3}]}}]
        site = self.body_site(v)
        if site:
            resource["bodySite"] = [site]
        if _day(v.get("diagnosis_date")):
            resource["onsetDateTime"] = resource["recordedDate"] = _day(v["diagnosis_date"])
        if staged:
            resource["stage"] = [{"summary": self.stage_value(diagnosis.derived["stage"]),
                                  "assessment": [self.ref("stage")]}]
        return resource

    def body_site(self, v: dict[str, Any]) -> Resource | None:
        topography, laterality = v.get("topography"), v.get("laterality")
        site: Resource = {}
        if topography:
            site["coding"] = [{"system": self.codes["systems"]["icdo3"], "code": str(topography)}]
            if v.get("site_detail"):
                site["text"] = str(v["site_detail"])
        elif v.get("anatomic_site"):
            site["coding"] = [self.local("anatomic_site", v["anatomic_site"])]
            site["text"] = str(v.get("site_detail") or self.label("anatomic_site", v["anatomic_site"]))
        if not site:
            return None
        qualifier = self.codes["laterality"].get(laterality) if laterality else None
        if qualifier is not None:
            site["extension"] = [{"url": self.codes["extensions"]["laterality_qualifier"], "valueCodeableConcept": {
                "coding": [{"system": self.codes["systems"]["snomed"], **qualifier}],
                "text": self.label("laterality", laterality)}}]
        return site

    def stage_value(self, group: str) -> Resource:
        ajcc = self.codes["stage_group"].get(group)
        value: Resource = {"text": group}
        if ajcc:
            value["coding"] = [{"system": self.codes["systems"]["ajcc"], "code": ajcc, "display": group}]
        return value

    def stage_resource(self, diagnosis: ExportCRF) -> Resource | None:
        group = diagnosis.derived.get("stage")
        if not group:
            return None
        s = self.codes["staging"]
        resource: Resource = {"resourceType": "Observation", "meta": self.profile("tnm_stage_group"), "status": "final",
                              "category": [{"coding": [_coding(s["category"])]}],
                              "code": {"coding": [_coding(s["code"])]},
                              "subject": self.ref("patient"), "focus": [self.ref("condition")],
                              "valueCodeableConcept": self.stage_value(group),
                              "method": {"coding": [_coding(s["method"])]}}
        if _day(diagnosis.values.get("diagnosis_date")):
            resource["effectiveDateTime"] = _day(diagnosis.values["diagnosis_date"])
        return resource

    # ------------------------------------------------------------------ radiotherapy
    def radiotherapy_resources(self, has_condition: bool) -> list[tuple[str, Resource]]:
        from sarcotrial.services.radiotherapy import summarise_course

        course = next(iter(_entered(self.patient, "rt_course")), None)
        fractions = [f for f in _entered(self.patient, "rt_fraction") if f.values.get("status")]
        if course is None and not fractions:
            return []
        rt = self.protocol.treatment.radiotherapy
        # the service reads the study's protocol alone: the snapshot's stands for it (no database access)
        summary = summarise_course(SimpleNamespace(protocol=self.protocol), course.values if course else {},
                                   course.derived if course else {}, [(f.values, f.derived) for f in fractions],
                                   closed=bool(_entered(self.patient, "surgery")))
        r = self.codes["radiotherapy"]
        if summary.delivered == 0:
            status = "preparation"
        elif summary.delivered >= summary.planned_fractions:
            status = "completed"
        else:
            status = "stopped" if summary.complete else "in-progress"
        extensions: list[Resource] = []
        technique = self.technique(rt.technique)
        if technique is not None:
            extensions.append({"url": self.codes["extensions"]["modality_and_technique"], "extension": [
                {"url": self.codes["extensions"]["modality"],
                 "valueCodeableConcept": {"coding": [_coding(r["photon_modality"])]}},
                {"url": self.codes["extensions"]["technique"], "valueCodeableConcept": {
                    "coding": [_coding(technique)], "text": rt.technique}}]})
        extensions.append({"url": self.codes["extensions"]["sessions"], "valueUnsignedInt": summary.delivered})
        volumes: list[tuple[str, Resource]] = []
        for level in rt.dose_levels:
            key = f"rt_volume/{level.target}"
            volumes.append((key, {"resourceType": "BodyStructure", "meta": self.profile("radiotherapy_volume"),
                                  "identifier": [{"use": "usual", "value": level.target}],
                                  "description": f"{level.target}: {level.description}" if level.description
                                  else level.target, "patient": self.ref("patient")}))
            delivered = [f for f in fractions if f.values.get("status") == "delivered"
                         and level.target in (f.derived.get("doses_gy") or {})]
            extensions.append({"url": self.codes["extensions"]["dose_delivered_to_volume"], "extension": [
                {"url": "volume", "valueReference": self.ref(key, level.target)},
                {"url": "totalDoseDelivered", "valueQuantity": {
                    "value": _number(summary.delivered_dose_gy.get(level.target, 0.0) * 100), "unit": "cGy",
                    "system": self.codes["systems"]["ucum"], "code": "cGy"}},
                {"url": "fractionsDelivered", "valueUnsignedInt": len(delivered)}]})
        procedure: Resource = {"resourceType": "Procedure", "meta": self.profile("radiotherapy_course_summary"),
                               "extension": extensions, "status": status,
                               "category": {"coding": [_coding(r["category"])]},
                               "code": {"coding": [_coding(r["code"])]}, "subject": self.ref("patient")}
        if summary.first_fraction is not None:
            period = {"start": _day(summary.first_fraction)}
            if status in ("completed", "stopped") and summary.last_fraction is not None:
                period["end"] = _day(summary.last_fraction)
            procedure["performedPeriod"] = period
        if has_condition:
            procedure["reasonReference"] = [self.ref("condition")]
        else:
            procedure["reasonCode"] = [{"text": self.protocol.identification.condition}]
        return [("rt_course", procedure), *volumes]

    def technique(self, text: str | None) -> dict[str, Any] | None:
        """The SNOMED CT technique whose keyword the protocol's technique starts with (IMRT, VMAT, 3D)."""
        words = (text or "").strip().upper()
        return next((spec for keyword, spec in self.codes["radiotherapy"]["techniques"].items()
                     if words.startswith(str(keyword).upper())), None)

    # ------------------------------------------------------------------ surgery
    def surgery_resource(self, surgery: ExportCRF, has_condition: bool) -> Resource:
        v = surgery.values
        s = self.codes["surgery"]
        resource: Resource = {"resourceType": "Procedure", "meta": self.profile("surgical_procedure"),
                              "status": "completed", "category": {"coding": [_coding(s["category"])]},
                              "subject": self.ref("patient")}
        procedure = v.get("procedure")
        if procedure:
            coding = [self.local("surgical_procedure", procedure)]
            if procedure in s["procedures"]:
                coding.insert(0, _coding(s["procedures"][procedure]))
            resource["code"] = {"coding": coding, "text": self.label("surgical_procedure", procedure)}
        else:
            resource["code"] = {"text": "Surgery"}
        if _day(v.get("surgery_date")):
            resource["performedDateTime"] = _day(v["surgery_date"])
        if has_condition:
            resource["reasonReference"] = [self.ref("condition")]
        return resource

    # ------------------------------------------------------------------ adverse events
    def adverse_event_resource(self, event: ExportCRF, has_radiotherapy: bool) -> Resource:
        v, ae, systems = event.values, self.codes["adverse_event"], self.codes["systems"]
        term = str(v.get("term") or "")
        extensions: list[Resource] = []
        grade = v.get("grade")
        if isinstance(grade, int) and grade in ae["grades"]:
            extensions.append({"url": self.codes["extensions"]["ctcae_grade"], "valueCodeableConcept": {
                "coding": [{"system": systems["ctcae_grade"], "code": str(grade), "display": ae["grades"][grade]}],
                "text": str(grade)}})
        if _day(v.get("resolution_date")):
            extensions.append({"url": self.codes["extensions"]["ae_resolved_date"],
                               "valueDateTime": _day(v["resolution_date"])})
        resource: Resource = {"resourceType": "AdverseEvent", "meta": self.profile("adverse_event"),
                              "actuality": "actual", "event": {"text": term or "Adverse event"},
                              "subject": self.ref("patient")}
        if extensions:
            resource["extension"] = extensions
        meddra = event.derived.get("meddra_code")
        if meddra:
            resource["event"]["coding"] = [{"system": systems["meddra"], "code": str(meddra), "display": term}]
        if _day(v.get("onset_date")):
            resource["date"] = _day(v["onset_date"])
        if isinstance(v.get("serious"), bool):
            serious = ae["seriousness"][v["serious"]]
            resource["seriousness"] = {"coding": [{"system": systems["ncit"], **serious}]}
        attribution = v.get("attribution")
        if attribution and has_radiotherapy:
            assessment: Resource = {"text": self.label("attribution", attribution)}
            if attribution in ae["attribution"]:
                assessment["coding"] = [{"system": systems["ncit"], **ae["attribution"][attribution]}]
            resource["suspectEntity"] = [{"instance": self.ref("rt_course", "Radiotherapy course"),
                                          "causality": [{"assessment": assessment}]}]
        return resource
