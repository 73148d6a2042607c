"""The ``odm`` export (``sarcotrial export odm --out DIR``): ``study.xml``, a CDISC ODM 1.3.2 snapshot.

Read back by independent readers: the ODM 1.3.2 XML schema as CDISC publishes it (the copy shipped in
odmlib, ``odmlib/schemas/odm/1.3.2/ODM1-3-2.xsd``) through xmlschema, and ElementTree for the content.
What the schema cannot check is checked against the ODM 1.3.2 specification: every OID an element
refers to (ItemOID, FormOID, StudyEventOID, CodeListOID, MeasurementUnitOID, UserOID, LocationOID,
SignatureOID) is defined in the file (spec 2.8, "OIDs and references"); a coded item's value is one of
its code list's CodedValues; StudyEventRepeatKey / FormRepeatKey identify repeated events and forms.
The values are compared with the EDC's read side (``sarcotrial.services.views``); the audit records
with the audit trail (21 CFR 11.10(e): who changed a value, when). The de-identified file must hold
no name, date of birth or hospital number (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)), and no
audit date-time that would undo the date shift.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import odmlib
import pytest
import xmlschema
from sqlalchemy import select
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.demo import demo_password
from sarcotrial.exchange import odm
from sarcotrial.services import access, exchange, forms, pathway, views
from sarcotrial.services.exchange_audit import audit_source
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import AuditEntry
from tests.exchange.conftest import demo_study

SEED = 2026
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
XSD = Path(odmlib.__file__).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"
runner = CliRunner()


def login(user: str) -> Actor:
    return Actor(user, "test", password=demo_password(SEED, user))


@dataclass
class Demo:
    study: StudyDB
    url: str
    folder: Path
    missing: tuple[str, int, str, str]        # subject, CRF id, field, code
    corrected: tuple[str, int, str, str]      # subject, CRF id, field, reason


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The synthetic demo study, built once; a study-wide investigator ("exporter") given the full export right, and one value
    replaced by a missing-data code (with its reason) so that the file carries one."""
    with demo_study(tmp_path_factory, SEED, "odm") as url:
        folder = Path(url.removeprefix("sqlite:///")).parent
        study = StudyDB.open(url)
        access.grant(study, login("admin"), "inv.sat", export="pseudonymised")  # an account limited to SAT
        manager = login("exporter")
        record = [r for r in views.patients(study, manager, enrolled_only=True) if r.site == "SAT"][-1]
        crf = record.of("follow_up")[0]
        forms.correct(study, login("nurse.sat"), record.subject_id, "follow_up", {}, "Imaging report not in the source",
                      visit=crf.visit, instance=crf.instance, missing={"imaging": "UNK"})
        corrected = _corrected_value(study, manager)
        yield Demo(study, url, folder, (record.subject_id, crf.id, "imaging", "UNK"), corrected)
        study.close()


def _corrected_value(study: StudyDB, actor: Actor) -> tuple[str, int, str, str]:
    """A diagnosis size the demo corrected in answer to a query (an update with a reason)."""
    with study.reading(actor) as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.table_name == "crf_instance", AuditEntry.field == "data.size_cm",
            AuditEntry.action == "update").order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.reason, "the demo corrects a tumour size in answer to a query"
        return entry.subject_id, entry.record_id, "size_cm", entry.reason


def export(demo: Demo, name: str, *args: str, user: str = "exporter") -> Path:
    out = demo.folder / name
    if not out.exists():
        result = runner.invoke(app, ["export", "odm", "--out", str(out), "--db", demo.url, "--user", user, *args],
                               env={"SARCOTRIAL_PASSWORD": demo_password(SEED, user)})
        assert result.exit_code == 0, result.output
    return out / "study.xml"


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(XSD))


@pytest.fixture(scope="module")
def pseudonymised(demo) -> Path:
    return export(demo, "pseudonymised")


@pytest.fixture(scope="module")
def deidentified(demo) -> Path:
    return export(demo, "deidentified", "--deidentified")


@pytest.fixture(scope="module")
def identified(demo) -> Path:
    return export(demo, "identified", "--identified")


@pytest.fixture(scope="module")
def by_statistician(demo) -> Path:
    return export(demo, "statistician", user="statistician")


@pytest.fixture(scope="module")
def by_site_investigator(demo) -> Path:
    return export(demo, "inv-sat", user="inv.sat")


@pytest.fixture(scope="module")
def two_forms(demo) -> Path:
    return export(demo, "two-forms", "--forms", "diagnosis,adverse_event")


def parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def findall(root: ET.Element, path: str) -> list[ET.Element]:
    return root.findall(path, NS)


def items_by_place(root: ET.Element) -> dict[tuple, ET.Element]:
    """Every ItemData by (subject, study event, event repeat key, form, form repeat key, item OID)."""
    out = {}
    for subject in findall(root, "odm:ClinicalData/odm:SubjectData"):
        for event in findall(subject, "odm:StudyEventData"):
            for form in findall(event, "odm:FormData"):
                for item in findall(form, "odm:ItemGroupData/odm:ItemData"):
                    key = (subject.get("SubjectKey"), event.get("StudyEventOID"), event.get("StudyEventRepeatKey"),
                           form.get("FormOID"), form.get("FormRepeatKey"), item.get("ItemOID"))
                    assert key not in out, f"ItemData given twice: {key}"
                    out[key] = item
    return out


def typed(text: str, data_type: str):
    """An ItemData value read by its ItemDef's DataType (ODM 1.3.2 spec 2.13, data formats)."""
    return {"integer": int, "float": float, "date": dt.date.fromisoformat, "datetime": dt.datetime.fromisoformat,
            "boolean": lambda t: {"true": True, "false": False, "1": True, "0": False}[t],
            "text": str}[data_type](text)


# --------------------------------------------------------------------------- validity
@pytest.mark.parametrize("level", ["pseudonymised", "deidentified", "identified", "by_statistician",
                                   "by_site_investigator", "two_forms"])
def test_each_level_is_valid_against_the_odm_1_3_2_schema(request, schema, level):
    """The CDISC ODM 1.3.2 XML schema accepts the file at every level."""
    path = request.getfixturevalue(level)
    errors = list(schema.iter_errors(str(path)))
    assert not errors, "\n".join(f"{e.path}: {e.reason}" for e in errors[:5])
    root = parse(path)
    assert root.tag == "{http://www.cdisc.org/ns/odm/v1.3}ODM"
    assert (root.get("ODMVersion"), root.get("FileType")) == ("1.3.2", "Snapshot")


@pytest.mark.parametrize("export_name", ["pseudonymised", "two_forms"])
def test_every_referenced_oid_is_defined(request, export_name):
    """ODM 1.3.2 spec 2.8: an OID reference names a definition in the file; a FormData's form is one its
    study event's definition refers to; a coded value is a CodedValue of its item's code list."""
    root = parse(request.getfixturevalue(export_name))
    mdv = findall(root, "odm:Study/odm:MetaDataVersion")[0]

    def defined(tag: str) -> set[str]:
        return {e.get("OID") for e in root.iter(f"{{{NS['odm']}}}{tag}")}

    items, formdefs = defined("ItemDef"), defined("FormDef")
    groups, events = defined("ItemGroupDef"), defined("StudyEventDef")
    codelists, units = defined("CodeList"), defined("MeasurementUnit")
    users, locations, signatures = defined("User"), defined("Location"), defined("SignatureDef")
    refs = [("ItemRef", "ItemOID", items), ("ItemData", "ItemOID", items), ("FormRef", "FormOID", formdefs),
            ("FormData", "FormOID", formdefs), ("ItemGroupRef", "ItemGroupOID", groups),
            ("ItemGroupData", "ItemGroupOID", groups), ("StudyEventRef", "StudyEventOID", events),
            ("StudyEventData", "StudyEventOID", events), ("CodeListRef", "CodeListOID", codelists),
            ("FlagValue", "CodeListOID", codelists), ("FlagType", "CodeListOID", codelists),
            ("MeasurementUnitRef", "MeasurementUnitOID", units), ("UserRef", "UserOID", users),
            ("LocationRef", "LocationOID", locations), ("SiteRef", "LocationOID", locations),
            ("SignatureRef", "SignatureOID", signatures)]
    for tag, attribute, known in refs:
        used = {e.get(attribute) for e in root.iter(f"{{{NS['odm']}}}{tag}")}
        assert used <= known, f"{tag} {attribute} not defined: {sorted(used - known)[:5]}"
    assert findall(root, ".//odm:ItemData") and findall(root, ".//odm:UserRef") and findall(root, ".//odm:SignatureRef")

    form_refs = {e.get("OID"): {r.get("FormOID") for r in findall(e, "odm:FormRef")}
                 for e in findall(mdv, "odm:StudyEventDef")}
    for event in findall(root, ".//odm:StudyEventData"):
        forms_there = {f.get("FormOID") for f in findall(event, "odm:FormData")}
        assert forms_there <= form_refs[event.get("StudyEventOID")], event.get("StudyEventOID")
    codes = {e.get("OID"): {i.get("CodedValue") for i in findall(e, "odm:CodeListItem")}
             for e in findall(mdv, "odm:CodeList")}
    coded = {e.get("OID"): findall(e, "odm:CodeListRef")[0].get("CodeListOID")
             for e in findall(mdv, "odm:ItemDef") if findall(e, "odm:CodeListRef")}
    checked = 0
    for item in findall(root, ".//odm:ItemData"):
        if item.get("ItemOID") in coded and item.get("Value") is not None:
            assert item.get("Value") in codes[coded[item.get("ItemOID")]], (item.get("ItemOID"), item.get("Value"))
            checked += 1
    assert checked > 20


def test_metadata_follows_the_protocol(demo, pseudonymised):
    """Each visit a StudyEventDef (repeating visits Repeating="Yes"), each form a FormDef with its
    Repeating flag, each field an ItemDef whose DataType, range checks, unit and code list are the field's."""
    protocol = demo.study.protocol
    root = parse(pseudonymised)
    mdv = findall(root, "odm:Study/odm:MetaDataVersion")[0]
    units = {u.get("OID"): u.get("Name") for u in findall(root, "odm:Study/odm:BasicDefinitions/odm:MeasurementUnit")}
    assert set(units.values()) == {f.unit for form in protocol.forms for f in form.fields if f.unit}
    events = {e.get("OID"): e for e in findall(mdv, "odm:StudyEventDef")}
    for visit in protocol.visits:
        assert events[f"SE.{visit.id}"].get("Repeating") == ("Yes" if visit.repeat else "No")
        assert events[f"SE.{visit.id}"].get("Type") == "Scheduled"
    assert events["SE.unscheduled"].get("Type") == "Unscheduled"
    formdefs = {e.get("OID"): e for e in findall(mdv, "odm:FormDef")}
    itemdefs = {e.get("OID"): e for e in findall(mdv, "odm:ItemDef")}
    expected_type = {"integer": "integer", "decimal": "float", "text": "text", "date": "date", "datetime": "datetime",
                     "boolean": "boolean", "code": "text"}
    entered_twice = {c.form_id for r in views.patients(demo.study, login("exporter"))
                     for crfs in r.forms.values() for c in crfs if c.instance > 1}
    assert "screening" in entered_twice  # the demo screens a patient again
    for form in protocol.forms:
        repeating = form.repeating or form.id in entered_twice
        assert formdefs[f"F.{form.id}"].get("Repeating") == ("Yes" if repeating else "No")
        for f in form.fields:
            if f.identifying:  # not written at the pseudonymised level
                assert f"I.{form.id}.{f.id}" not in itemdefs
                continue
            item = itemdefs[f"I.{form.id}.{f.id}"]
            assert item.get("DataType") == expected_type[f.type]
            assert findall(item, "odm:Question/odm:TranslatedText")[0].text == f.label
            checks = {c.get("Comparator"): float(findall(c, "odm:CheckValue")[0].text)
                      for c in findall(item, "odm:RangeCheck")}
            assert checks == {k: v for k, v in (("GE", f.min), ("LE", f.max)) if v is not None}
            refs = findall(item, "odm:CodeListRef")
            assert [r.get("CodeListOID") for r in refs] == ([f"CL.{f.codelist}"] if f.codelist else [])
            if f.unit:
                assert units[findall(item, "odm:MeasurementUnitRef")[0].get("MeasurementUnitOID")] == f.unit
            if f.type in ("text", "code", "integer", "decimal"):
                assert int(item.get("Length")) >= 1


# --------------------------------------------------------------------------- clinical data
def test_values_are_the_read_sides(demo, pseudonymised):
    """For a sample of patients every value the EDC's read side holds is an ItemData with that value
    (read by its ItemDef's DataType), at its visit occurrence and form instance, and nothing else is."""
    root = parse(pseudonymised)
    types = {e.get("OID"): e.get("DataType") for e in findall(root, ".//odm:ItemDef")}
    repeating_events = {e.get("OID") for e in findall(root, ".//odm:StudyEventDef") if e.get("Repeating") == "Yes"}
    repeating_forms = {e.get("OID") for e in findall(root, ".//odm:FormDef") if e.get("Repeating") == "Yes"}
    written = items_by_place(root)
    protocol = demo.study.protocol
    records = views.patients(demo.study, login("exporter"))
    assert {r.subject_id for r in records} == {s.get("SubjectKey") for s in findall(root, ".//odm:SubjectData")}
    sample = records[::4]
    compared = 0
    for record in sample:
        expected = set()
        for form_id, crfs in record.forms.items():
            kept = {f.id for f in protocol.form(form_id).fields if not f.identifying}
            for crf in crfs:
                event, form = f"SE.{crf.visit_id}", f"F.{form_id}"
                place = (record.subject_id, event, str(crf.occurrence) if event in repeating_events else None,
                         form, str(crf.instance) if form in repeating_forms else None)
                for field_id, value in crf.values.items():
                    if value is None or field_id not in kept:
                        continue
                    key = (*place, f"I.{form_id}.{field_id}")
                    expected.add(key)
                    item = written[key]
                    got = typed(item.get("Value"), types[key[-1]])
                    if isinstance(value, float):
                        assert math.isclose(got, value, rel_tol=0, abs_tol=1e-12), key
                    else:
                        assert got == value, key
                    compared += 1
                for field_id in crf.missing:
                    expected.add((*place, f"I.{form_id}.{field_id}"))
        mine = {k for k in written if k[0] == record.subject_id}
        assert mine == expected, sorted(mine ^ expected)[:5]
    assert compared > 500


def test_a_missing_data_code_is_a_null_item_flagged_with_its_code(demo, pseudonymised):
    """ODM 1.3.2: an ItemData has a Value or IsNull="Yes"; the code goes in its Annotation's Flag, whose
    FlagValue names the code list of the protocol's missing-data codes."""
    subject, _crf_id, field_id, code = demo.missing
    root = parse(pseudonymised)
    nulls = [(key, item) for key, item in items_by_place(root).items()
             if key[0] == subject and key[-1] == f"I.follow_up.{field_id}" and item.get("IsNull") == "Yes"]
    assert len(nulls) == 1
    item = nulls[0][1]
    assert item.get("Value") is None
    flag_value = findall(item, "odm:Annotation/odm:Flag/odm:FlagValue")[0]
    assert flag_value.text == code
    codelist = next(c for c in findall(root, ".//odm:CodeList") if c.get("OID") == flag_value.get("CodeListOID"))
    assert code in {i.get("CodedValue") for i in findall(codelist, "odm:CodeListItem")}
    assert {c.code for c in demo.study.protocol.missing_codes} == \
        {i.get("CodedValue") for i in findall(codelist, "odm:CodeListItem")}


# --------------------------------------------------------------------------- audit records and signatures
def _last_entry(demo: Demo, crf_id: int, field_id: str) -> AuditEntry:
    with demo.study.reading(login("exporter")) as session:
        return session.scalars(select(AuditEntry).where(
            AuditEntry.table_name == "crf_instance", AuditEntry.record_id == crf_id,
            AuditEntry.field.in_([f"data.{field_id}", f"missing.{field_id}"])).order_by(AuditEntry.id.desc())).first()


def _audit_of(root: ET.Element, subject: str, item_oid: str, null: bool = False) -> list[ET.Element]:
    return [a for key, item in items_by_place(root).items() if key[0] == subject and key[-1] == item_oid
            and (item.get("IsNull") == "Yes") == null for a in findall(item, "odm:AuditRecord")]


def test_audit_records_name_the_users_of_the_audit_trail(demo, pseudonymised):
    """21 CFR 11.10(e): each value's AuditRecord names who last changed it and when, as the trail does;
    the reason, free text that may name people, is left out below the identified level."""
    root = parse(pseudonymised)
    users = {u.get("OID"): findall(u, "odm:LoginName")[0].text for u in findall(root, "odm:AdminData/odm:User")}
    with demo.study.reading(login("exporter")) as session:
        actors = set(session.scalars(select(AuditEntry.actor).distinct()))
    records = findall(root, ".//odm:ItemData/odm:AuditRecord")
    assert len(records) == len(findall(root, ".//odm:ItemData"))
    assert {users[r.find("odm:UserRef", NS).get("UserOID")] for r in records} <= actors
    assert {"research.nurse (synthetic)", "nurse.sat"} <= set(users.values())
    assert not findall(root, ".//odm:ReasonForChange")

    subject, crf_id, field_id, _reason = demo.corrected
    entry = _last_entry(demo, crf_id, field_id)
    (record,) = _audit_of(root, subject, f"I.diagnosis.{field_id}")
    assert users[record.find("odm:UserRef", NS).get("UserOID")] == entry.actor
    assert dt.datetime.fromisoformat(record.find("odm:DateTimeStamp", NS).text) == dt.datetime.fromisoformat(entry.at)
    site = next(s for s in findall(root, ".//odm:SubjectData") if s.get("SubjectKey") == subject)
    assert record.find("odm:LocationRef", NS).get("LocationOID") == site.find("odm:SiteRef", NS).get("LocationOID")

    subject, crf_id, field_id, _code = demo.missing
    (record,) = _audit_of(root, subject, f"I.follow_up.{field_id}", null=True)
    assert users[record.find("odm:UserRef", NS).get("UserOID")] == "nurse.sat"


def test_the_identified_file_gives_the_reason_for_change(demo, identified):
    subject, _crf_id, field_id, reason = demo.corrected
    (record,) = _audit_of(parse(identified), subject, f"I.diagnosis.{field_id}")
    assert record.find("odm:ReasonForChange", NS).text == reason


def test_valid_signatures_are_on_their_form_and_casebook(demo, pseudonymised):
    """21 CFR 11.50: a signature shows the signer, the date and time and its meaning. The demo signs SAE
    forms (CRF signatures, on FormData) and casebooks (on SubjectData); each names a SignatureDef."""
    root = parse(pseudonymised)
    users = {u.get("OID"): u for u in findall(root, "odm:AdminData/odm:User")}
    meanings = {d.get("OID"): d.find("odm:Meaning", NS).text for d in findall(root, "odm:AdminData/odm:SignatureDef")}
    on_forms = findall(root, ".//odm:FormData/odm:Signature")
    on_casebooks = findall(root, ".//odm:SubjectData/odm:Signature")
    assert on_forms and on_casebooks
    assert {meanings[s.find("odm:SignatureRef", NS).get("SignatureOID")] for s in on_casebooks} == \
        {"I have reviewed this casebook and its data are complete and accurate"}
    for s in on_forms + on_casebooks:
        user = users[s.find("odm:UserRef", NS).get("UserOID")]
        assert user.find("odm:LoginName", NS).text in {"inv.main", "inv.sat"}
        assert "(synthetic)" in user.find("odm:FullName", NS).text
    signed = {(p.subject_id, v.crf_id) for p in views.patients(demo.study, login("exporter"))
              for v in _valid(demo, p.subject_id) if v.scope == "crf"}
    assert len(on_forms) == len(signed)


def _valid(demo: Demo, subject: str):
    from sarcotrial.services import review

    return [v for v in review.signatures(demo.study, login("exporter"), subject) if v.status == "valid"]


def test_no_audit_records_for_an_account_that_does_not_read_the_trail(by_statistician):
    """The statistician exports data but does not read the audit trail (docs/roles.md): no AuditRecord."""
    root = parse(by_statistician)
    assert findall(root, ".//odm:ItemData")
    assert not findall(root, ".//odm:AuditRecord")


def test_forms_asked_for_are_the_only_forms(two_forms):
    """``--forms diagnosis,adverse_event``: only their definitions and data; visits refer to no other form."""
    root = parse(two_forms)
    wanted = {"F.diagnosis", "F.adverse_event"}
    assert {e.get("OID") for e in findall(root, ".//odm:FormDef")} == wanted
    assert {e.get("FormOID") for e in findall(root, ".//odm:FormRef")} == wanted
    assert {e.get("FormOID") for e in findall(root, ".//odm:FormData")} == wanted
    assert {e.get("OID").split(".")[1] for e in findall(root, ".//odm:ItemDef")} == {"diagnosis", "adverse_event"}


def test_an_account_limited_to_a_site_exports_that_site_only(demo, by_site_investigator):
    """The export follows the user's sites (docs/roles.md): SAT's patients, SAT's location, and the audit
    records of their values (an investigator reads the trail of their site's data)."""
    root = parse(by_site_investigator)
    sat = {r.subject_id for r in views.patients(demo.study, login("exporter")) if r.site == "SAT"}
    assert {s.get("SubjectKey") for s in findall(root, ".//odm:SubjectData")} == sat
    assert {e.get("OID") for e in findall(root, "odm:AdminData/odm:Location")} == {"LOC.SAT"}
    assert {e.get("LocationOID") for e in findall(root, ".//odm:LocationRef")} == {"LOC.SAT"}
    assert len(findall(root, ".//odm:AuditRecord")) == len(findall(root, ".//odm:ItemData")) > 0


# --------------------------------------------------------------------------- de-identified
def test_the_deidentified_file_has_no_identifier_and_no_audit_time(demo, deidentified, pseudonymised):
    """HIPAA Safe Harbor: no name, date of birth or hospital number; dates shifted per patient; and no
    AuditRecord, Signature or User, whose date-times would undo the shift."""
    text = deidentified.read_text(encoding="utf-8")
    root = parse(deidentified)
    for tag in ("AuditRecord", "Signature", "User", "SignatureDef", "ReasonForChange"):
        assert not findall(root, f".//odm:{tag}"), tag
    manager, monitor = login("exporter"), login("monitor")  # the monitor reads identifiers study-wide
    for subject in [s.get("SubjectKey") for s in findall(root, ".//odm:SubjectData")]:
        ident = pathway.identify(demo.study, monitor, subject, "test: de-identified ODM export")
        for value in (ident.full_name, ident.date_of_birth.isoformat(), ident.hospital_number):
            assert value not in text, (subject, value)
    shifted = items_by_place(root)
    plain = items_by_place(parse(pseudonymised))
    dates = [k for k, item in plain.items() if k[-1] == "I.referral.referral_date"]
    assert dates
    for key in dates:
        offset = exchange.date_offset(demo.study, manager, key[0])
        assert offset != 0
        assert dt.date.fromisoformat(shifted[key].get("Value")) == \
            dt.date.fromisoformat(plain[key].get("Value")) + dt.timedelta(days=offset)


# --------------------------------------------------------------------------- streaming
class Recorder(io.StringIO):
    """A stream that keeps each write apart."""

    def __init__(self):
        super().__init__()
        self.chunks: list[str] = []

    def write(self, text: str) -> int:
        self.chunks.append(text)
        return super().write(text)


def test_the_writer_writes_one_subject_at_a_time_and_reads_the_audit_in_batches(demo, monkeypatch):
    """The file is written a subject at a time, and the audit records read per batch of patients as the
    writing reaches them, so neither the document nor the trail is held whole."""
    monkeypatch.setattr(odm, "BATCH", 7)
    actor = login("exporter")
    snapshot = exchange.export_snapshot(demo.study, actor)
    source = audit_source(demo.study, actor)
    stream = Recorder()
    reads: list[tuple[int, int]] = []
    real = source.last_changes

    def last_changes(crf_ids):
        reads.append((sum(chunk.count("<SubjectData ") for chunk in stream.chunks), len(crf_ids)))
        return real(crf_ids)

    source.last_changes = last_changes
    counts = odm.write_xml(snapshot, stream, source)
    n = len(snapshot.patients)
    assert counts["subjects"] == n
    with_subjects = [c for c in stream.chunks if "<SubjectData " in c]
    assert len(with_subjects) == n
    assert all(c.count("<SubjectData ") == 1 for c in with_subjects)
    assert [written for written, _ in reads] == list(range(0, n, 7))
    assert sum(size for _, size in reads) == sum(len(crfs) for p in snapshot.patients for crfs in p.forms.values())
    assert stream.getvalue().rstrip().endswith("</ODM>")
    ET.fromstring(stream.getvalue())
