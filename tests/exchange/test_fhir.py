"""The ``fhir`` export (``sarcotrial export fhir --out DIR``), read back by an independent reader.

Every ``<subject>.json`` is parsed with the ``fhir.resources`` R4B models (``Bundle.model_validate_json``),
apart from the writer, and compared with the read side (``sarcotrial.services.views.patients``), the
WHO 2020 catalogue file (``domain/data/histotypes.yaml``, read with PyYAML) and the CTCAE v5.0
catalogue, never with the writer's own numbers. Sources: issue 12 ("fhir": one Bundle per patient,
FHIR R4 along mCODE); HL7 FHIR R4 (Bundle type ``collection``, ``urn:uuid:`` full URLs, references
within a Bundle); mCODE STU 2.1/3 (PrimaryCancerCondition with the ICD-O-3 morphology in the
histology-morphology-behavior extension and the laterality-qualifier extension on bodySite, SNOMED CT
left 7771000; TNMStageGroup LOINC 21908-9; RadiotherapyCourseSummary SNOMED CT 1217123003 with sessions
and dose-delivered-to-volume in cGy; CancerRelatedSurgicalProcedure); the HL7 CTC Adverse Events IG
(grade extension ``ctcae-grade``); CTCAE v5.0 (one MedDRA LLT code per term); HIPAA Safe Harbor,
45 CFR 164.514(b)(2) (no names, dates of birth or record numbers in a de-identified set).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.demo import demo_password
from sarcotrial.domain import ctcae
from sarcotrial.errors import SarcoTrialError
from sarcotrial.services import exchange, forms, pathway, views
from sarcotrial.services.study import Actor, StudyDB
from tests.exchange.conftest import demo_study

SEED = 13
runner = CliRunner()
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
MORPHOLOGY = MCODE + "mcode-histology-morphology-behavior"
LATERALITY = MCODE + "mcode-laterality-qualifier"
SESSIONS = MCODE + "mcode-radiotherapy-sessions"
DOSE = MCODE + "mcode-radiotherapy-dose-delivered-to-volume"
GRADE = "http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
SNOMED = "http://snomed.info/sct"
TOPOGRAPHY = ("C49.2", "left")  # given to one patient's diagnosis by a correction
HISTOTYPES = Path(__file__).resolve().parents[2] / "src" / "sarcotrial" / "domain" / "data" / "histotypes.yaml"


def actor(user: str) -> Actor:
    return Actor(user, "test", password=demo_password(SEED, user))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The synthetic demo, built once; a study-wide investigator ("exporter") given the full export right, and one MAIN patient's
    diagnosis given an ICD-O-3 topography and a laterality through a correction (SPRINT 1.2 fields)."""
    with demo_study(tmp_path_factory, SEED, "fhir-demo") as url:
        yield {"url": url, "located": _locate_one_extremity(url)}


def _locate_one_extremity(url: str) -> str:
    study = StudyDB.open(url)
    located = None
    try:
        for r in views.patients(study, actor("inv.main")):
            dx = r.first("diagnosis")
            if dx is None or dx.values.get("anatomic_site") != "extremity":
                continue
            try:
                forms.correct(study, actor("inv.main"), r.subject_id, "diagnosis",
                              {"topography": TOPOGRAPHY[0], "laterality": TOPOGRAPHY[1]}, "Coded from the MRI report")
            except SarcoTrialError:  # a signed or locked casebook: the next patient
                continue
            located = r.subject_id
            break
    finally:
        study.close()
    assert located is not None
    return located


@pytest.fixture(scope="module")
def read_side(demo):
    study = StudyDB.open(demo["url"])
    try:
        records = views.patients(study, actor("exporter"), permission="export")
        idents = {r.subject_id: pathway.identify(study, actor("monitor"), r.subject_id, "test") for r in records}
        offsets = {r.subject_id: exchange.date_offset(study, actor("exporter"), r.subject_id) for r in records}
        protocol = study.protocol
    finally:
        study.close()
    return {"records": {r.subject_id: r for r in records}, "idents": idents, "offsets": offsets, "protocol": protocol}


def _export(demo, tmp_path_factory, name: str, *args: str) -> Path:
    out = tmp_path_factory.mktemp(name) / "out"
    result = runner.invoke(app, ["export", "fhir", "--out", str(out), "--db", demo["url"], "--user", "exporter",
                                 *args], env={"SARCOTRIAL_PASSWORD": demo_password(SEED, "exporter")})
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def pseudonymised(demo, tmp_path_factory):
    return _export(demo, tmp_path_factory, "fhir-pseudo")


@pytest.fixture(scope="module")
def deidentified(demo, tmp_path_factory):
    return _export(demo, tmp_path_factory, "fhir-deid", "--deidentified")


@pytest.fixture(scope="module")
def identified(demo, tmp_path_factory):
    return _export(demo, tmp_path_factory, "fhir-identified", "--identified")


# --------------------------------------------------------------------------- the independent reading
def bundles(folder: Path) -> dict[str, Bundle]:
    """Every Bundle of an export, parsed by fhir.resources (R4B) from its file, by subject id."""
    return {p.stem: Bundle.model_validate_json(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))
            if p.name != "manifest.json"}


def of_type(bundle: Bundle, kind: str, profile: str | None = None) -> list:
    found = [e.resource for e in bundle.entry or [] if e.resource.get_resource_type() == kind]
    if profile is not None:
        found = [r for r in found if r.meta and any(p.endswith(profile) for p in r.meta.profile or [])]
    return found


def extension(resource, url: str):
    return [e for e in resource.extension or [] if e.url == url]


def shifted(day: dt.date | None, offset: int) -> str | None:
    return (day + dt.timedelta(days=offset)).isoformat() if day else None


def entered(record, form_id: str) -> list:
    return record.of(form_id)


# --------------------------------------------------------------------------- tests
def test_one_valid_bundle_per_patient_with_resolvable_urn_uuid_references(pseudonymised, read_side):
    """FHIR R4 Bundle (type collection): every entry has a ``urn:uuid:`` fullUrl matching its resource id,
    ids are unique, and every reference points at an entry of the same Bundle."""
    read = bundles(pseudonymised)
    assert set(read) == set(read_side["records"])
    manifest = json.loads((pseudonymised / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["bundles"] == len(read)
    assert manifest["counts"]["resources"] == sum(len(b.entry) for b in read.values())
    for subject, bundle in read.items():
        assert bundle.type == "collection"
        urls = [e.fullUrl for e in bundle.entry]
        assert all(u.startswith("urn:uuid:") and u == f"urn:uuid:{e.resource.id}" for u, e in zip(urls, bundle.entry))
        assert len(set(urls)) == len(urls)
        text = json.loads(bundle.model_dump_json())
        references = [v for v in _walk(text) if isinstance(v, dict) and "reference" in v]
        assert references or len(bundle.entry) == 1
        assert all(r["reference"] in urls for r in references), subject
        patient = of_type(bundle, "Patient")
        assert len(patient) == 1
        assert [i.value for i in patient[0].identifier] == [subject]
        assert patient[0].gender == read_side["records"][subject].sex


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_resources_per_patient_follow_the_read_side(pseudonymised, read_side):
    """A Condition iff a diagnosis is recorded, a stage group Observation iff the read side derived an AJCC
    stage group, a radiotherapy course Procedure iff a course or fractions are recorded, one surgical
    Procedure per surgery form, one AdverseEvent per adverse event form."""
    read = bundles(pseudonymised)
    staged = 0
    for subject, r in read_side["records"].items():
        b = read[subject]
        dx = r.first("diagnosis")
        assert len(of_type(b, "Condition")) == (1 if dx else 0), subject
        stage = (dx.derived or {}).get("stage") if dx else None
        observations = of_type(b, "Observation", "mcode-tnm-stage-group")
        assert len(observations) == (1 if stage else 0), subject
        if stage:
            staged += 1
            assert observations[0].valueCodeableConcept.text == stage
            assert [c.code for c in observations[0].code.coding] == ["21908-9"]
            assert observations[0].focus[0].reference == next(e.fullUrl for e in b.entry
                                                              if e.resource.get_resource_type() == "Condition")
        has_rt = bool(entered(r, "rt_course") or entered(r, "rt_fraction"))
        assert len(of_type(b, "Procedure", "mcode-radiotherapy-course-summary")) == int(has_rt), subject
        assert len(of_type(b, "Procedure", "mcode-cancer-related-surgical-procedure")) == len(entered(r, "surgery"))
        assert len(of_type(b, "AdverseEvent")) == len(entered(r, "adverse_event")), subject
    assert staged > 0


def test_ctcae_grade_extension_and_meddra_code_are_the_recorded_ones(pseudonymised, read_side):
    """HL7 CTC AE IG: the grade in the ctcae-grade extension (R4's AdverseEvent has none); CTCAE v5.0 gives
    each term its MedDRA LLT code; the onset date is AdverseEvent.date."""
    read = bundles(pseudonymised)
    total = 0
    for subject, r in read_side["records"].items():
        recorded = Counter((c.values["term"], c.values["grade"], c.values.get("onset_date").isoformat()
                            if c.values.get("onset_date") else None) for c in entered(r, "adverse_event"))
        written = Counter()
        for event in of_type(read[subject], "AdverseEvent"):
            grades = extension(event, GRADE)
            assert len(grades) == 1
            codes = [c.code for c in grades[0].valueCodeableConcept.coding]
            assert len(codes) == 1
            meddra = [c for c in event.event.coding if c.system == "http://terminology.hl7.org/CodeSystem/mdr"]
            assert [int(c.code) for c in meddra] == [ctcae.ctcae_term(event.event.text).meddra_code]
            written[(event.event.text, int(codes[0]), event.date.isoformat() if event.date else None)] += 1
        assert written == recorded, subject
        total += sum(recorded.values())
    assert total > 0


def test_condition_carries_the_catalogues_icdo3_morphology(pseudonymised, read_side):
    """mCODE: the ICD-O-3 morphology/behaviour code in the histology-morphology-behavior extension; the
    code is the one WHO 2020 gives the histotype (the catalogue file, read here with PyYAML)."""
    catalogue = yaml.safe_load(HISTOTYPES.read_text(encoding="utf-8"))
    icdo = {}
    for value in _walk(catalogue):
        if isinstance(value, dict) and "id" in value and "icdo3" in value:
            icdo[value["id"]] = value["icdo3"]
    read = bundles(pseudonymised)
    checked = 0
    for subject, r in read_side["records"].items():
        dx = r.first("diagnosis")
        if dx is None:
            continue
        (condition,) = of_type(read[subject], "Condition")
        (morphology,) = extension(condition, MORPHOLOGY)
        (coding,) = morphology.valueCodeableConcept.coding
        assert (coding.system, coding.code) == (ICDO3, icdo[dx.values["histotype"]]), subject
        assert condition.onsetDateTime.isoformat()[:10] == dx.values["diagnosis_date"].isoformat()
        checked += 1
    assert checked > 0


def test_topography_and_laterality_on_the_condition_body_site(pseudonymised, demo):
    """mCODE PrimaryCancerCondition: bodySite the ICD-O-3 topography, with the laterality-qualifier extension
    (SNOMED CT Left 7771000)."""
    (condition,) = of_type(bundles(pseudonymised)[demo["located"]], "Condition")
    (site,) = condition.bodySite
    assert [(c.system, c.code) for c in site.coding] == [(ICDO3, TOPOGRAPHY[0])]
    (laterality,) = [e for e in site.extension or [] if e.url == LATERALITY]
    assert [(c.system, c.code) for c in laterality.valueCodeableConcept.coding] == [(SNOMED, "7771000")]


def test_radiotherapy_course_summary_matches_the_delivery_log(pseudonymised, read_side):
    """mCODE RadiotherapyCourseSummary: sessions = fractions delivered; period from the first to the last
    delivered fraction; per protocol dose level, the dose delivered (cGy) = fractions delivered x the
    protocol's dose per fraction, referring to a BodyStructure named after the volume."""
    read = bundles(pseudonymised)
    levels = read_side["protocol"].treatment.radiotherapy.dose_levels
    planned = read_side["protocol"].treatment.radiotherapy.fractions
    for subject, r in read_side["records"].items():
        courses = of_type(read[subject], "Procedure", "mcode-radiotherapy-course-summary")
        if not courses:
            continue
        (course,) = courses
        delivered = [c.values for c in entered(r, "rt_fraction") if c.values.get("status") == "delivered"]
        days = sorted(f["fraction_date"] for f in delivered)
        assert [e.valueUnsignedInt for e in extension(course, SESSIONS)] == [len(delivered)]
        assert course.code.coding[0].code == "1217123003"
        if days:
            assert course.performedPeriod.start.isoformat()[:10] == days[0].isoformat()
        if len({f["fraction_number"] for f in delivered}) >= planned:
            assert course.status == "completed"
            assert course.performedPeriod.end.isoformat()[:10] == days[-1].isoformat()
        volumes = {b.fullUrl: b.resource for b in read[subject].entry
                   if b.resource.get_resource_type() == "BodyStructure"}
        doses = {}
        for dose in extension(course, DOSE):
            parts = {e.url: e for e in dose.extension}
            volume = volumes[parts["volume"].valueReference.reference]
            assert parts["totalDoseDelivered"].valueQuantity.code == "cGy"
            doses[volume.identifier[0].value] = (float(parts["totalDoseDelivered"].valueQuantity.value),
                                                 parts["fractionsDelivered"].valueUnsignedInt)
        assert doses == {level.target: (pytest.approx(len(delivered) * level.dose_per_fraction_gy * 100),
                                        len(delivered)) for level in levels}, subject


def test_surgery_procedure_date_and_reason(pseudonymised, read_side):
    """mCODE CancerRelatedSurgicalProcedure: performed on the date of surgery, for the primary cancer."""
    read = bundles(pseudonymised)
    for subject, r in read_side["records"].items():
        for surgery, procedure in zip(entered(r, "surgery"),
                                      of_type(read[subject], "Procedure", "mcode-cancer-related-surgical-procedure")):
            assert procedure.performedDateTime.isoformat()[:10] == surgery.values["surgery_date"].isoformat()
            condition = next(e.fullUrl for e in read[subject].entry if e.resource.get_resource_type() == "Condition")
            assert [x.reference for x in procedure.reasonReference] == [condition]
            assert surgery.values["procedure"] in {c.code for c in procedure.code.coding}


def test_deidentified_export_holds_no_identifier_and_shifted_dates(deidentified, pseudonymised, read_side):
    """HIPAA Safe Harbor: no name, date of birth or hospital number in a pseudonymised or de-identified export;
    de-identified dates are shifted by the patient's own offset (``export date-offset``)."""
    for folder in (deidentified, pseudonymised):
        text = "\n".join(p.read_text(encoding="utf-8") for p in folder.glob("*.json"))
        for ident in read_side["idents"].values():
            assert ident.full_name not in text
            assert ident.date_of_birth.isoformat() not in text
            assert ident.hospital_number not in text
    read = bundles(deidentified)
    for subject, r in read_side["records"].items():
        patient = of_type(read[subject], "Patient")[0]
        # US Core needs a name: a de-identified one is only the data-absent-reason "masked" (HL7 FHIR R4)
        (name,) = patient.name
        assert name.text is None and name.family is None and name.given is None and patient.birthDate is None
        assert [(e.url, e.valueCode) for e in name.extension] == [
            ("http://hl7.org/fhir/StructureDefinition/data-absent-reason", "masked")]
        dx = r.first("diagnosis")
        if dx is None:
            continue
        (condition,) = of_type(read[subject], "Condition")
        offset = read_side["offsets"][subject]
        assert offset != 0
        assert condition.onsetDateTime.isoformat()[:10] == shifted(dx.values["diagnosis_date"], offset)
        detail = dx.values.get("site_detail")
        if detail:
            assert detail not in read[subject].model_dump_json()


def test_identified_export_holds_the_identifiers_and_the_same_ids(identified, pseudonymised, read_side):
    """The identified level adds name, birth date and hospital number to the Patient; resource ids are UUID 5
    of the subject and the resource, the same at every level."""
    read, pseudo = bundles(identified), bundles(pseudonymised)
    for subject, ident in read_side["idents"].items():
        patient = of_type(read[subject], "Patient")[0]
        assert [n.text for n in patient.name] == [ident.full_name]
        assert patient.birthDate == ident.date_of_birth
        assert ident.hospital_number in [i.value for i in patient.identifier]
        assert [e.fullUrl for e in read[subject].entry] == [e.fullUrl for e in pseudo[subject].entry]


def test_forms_limit_the_resources(demo, tmp_path_factory, read_side):
    """``--forms adverse_event``: each Bundle holds the Patient and its adverse events alone, still valid."""
    read = bundles(_export(demo, tmp_path_factory, "fhir-ae", "--forms", "adverse_event"))
    assert set(read) == set(read_side["records"])
    for subject, r in read_side["records"].items():
        kinds = Counter(e.resource.get_resource_type() for e in read[subject].entry)
        assert kinds == Counter({"Patient": 1, **({"AdverseEvent": len(entered(r, "adverse_event"))}
                                                 if entered(r, "adverse_event") else {})}), subject
        assert all(not event.suspectEntity for event in of_type(read[subject], "AdverseEvent"))
