"""``sarcotrial import redcap``: an earlier REDCap project into a study, after a validation report.

The REDCap files here are written by hand in REDCap's documented layouts (not by the export): the Data
Dictionary's columns ("Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
"Choices, Calculations, OR Slider Labels", choices written ``code, label | code, label``), the events
file (``event_name``, ``arm_num``, ``unique_event_name``) and the flat records CSV of a longitudinal
project with repeating instruments (``record_id``, ``redcap_event_name``, ``redcap_repeat_instrument``,
``redcap_repeat_instance``, ``redcap_data_access_group``; raw values: choice codes, ``YYYY-MM-DD``
dates, ``1``/``0`` for yes/no) -- REDCap's Data Dictionary and Data Import Tool help pages. The values
are read back through the read side (``services.views``), the identifiers through
``services.pathway.identify``, the audit trail through ``services.views.audit_entries``, and the
checksums with ``hashlib`` (FIPS 180-4 SHA-256). The issue's rule: exit 0 imported, 1 nothing imported
because of problems, 2 invalid arguments; nothing written unless ``--accept-partial``, and then only the
records without problems.

The round trip (issue 12, "Round trip and proof"): the demo study exported with ``export redcap
--identified`` and imported into a fresh study gives the same values for every form and field, and the
same endpoints. Subject ids are given by the study that imports (the next free one, in the order the
records first appear), so patients are compared by hospital number.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sarcotrial.cli.importing import import_app
from sarcotrial.services import pathway, views
from sarcotrial.services.study import Actor, StudyDB
from tests.exchange.conftest import demo_study

runner = CliRunner()
TESTER = Actor("tester", "test")

DICTIONARY = '''\
Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"Choices, Calculations, OR Slider Labels",Field Note
record_id,identification,,text,Record ID,,
full_name,identification,,text,Full name,,
date_of_birth,identification,,text,Date of birth,,
hospital_number,identification,,text,Hospital number,,
sex,identification,,radio,Sex,"1, Female | 2, Male",
referral_date,referral,,text,Date of referral,,
ref_anatomic_site,referral,,dropdown,Anatomical site,"1, Extremity | 2, Trunk (superficial) | 3, Retroperitoneum",
screening_date,screening,,text,Date of screening,,
age_years,screening,,text,Age,,
histology_confirmed,screening,,yesno,Histology proven,,
scr_disease_status,screening,,dropdown,Disease,"de_novo, De novo (primary) tumour | metastatic, Metastatic disease",
candidate_for_resection,screening,,yesno,Resectable,,
previous_rt_to_region,screening,,yesno,Previous RT,,
able_to_consent,screening,,yesno,Able to consent,,
consent_signed,screening,,yesno,Consent signed,,
scr_consent_date,screening,,text,Consent date,,
planned_amputation,screening,,yesno,Amputation planned,,
cons_consent_date,consent,,text,Consent date,,
document_version,consent,,text,Document version,,
data_use,consent,,yesno,Data use,,
enrolment_date,enrolment,,text,Enrolment date,,
diagnosis_date,diagnosis,,text,Date of diagnosis,,
histotype,diagnosis,,text,Histotype,,
dx_anatomic_site,diagnosis,,dropdown,Site,"1, Extremity | 2, Trunk (superficial)",
size_cm,diagnosis,,text,Size,,cm
clinical_n,diagnosis,,radio,cN,"N0, N0 | N1, N1",
clinical_m,diagnosis,,radio,cM,"M0, M0 | M1, M1",
ecog,diagnosis,,text,ECOG,,
term,adverse_event,,text,CTCAE term,,
grade,adverse_event,,text,Grade,,
ae_onset_date,adverse_event,,text,Onset,,
'''
EVENTS = '''\
event_name,arm_num,unique_event_name
Enrolment,1,enrolment_arm_1
Screening,1,screening_arm_1
Baseline,1,baseline_arm_1
Unscheduled,1,unscheduled_arm_1
'''
COLUMNS = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
           "redcap_data_access_group", "full_name", "date_of_birth", "hospital_number", "sex", "referral_date",
           "ref_anatomic_site", "screening_date", "age_years", "histology_confirmed", "scr_disease_status",
           "candidate_for_resection", "previous_rt_to_region", "able_to_consent", "consent_signed",
           "scr_consent_date", "planned_amputation", "cons_consent_date", "document_version", "data_use",
           "enrolment_date", "diagnosis_date", "histotype", "dx_anatomic_site", "size_cm", "clinical_n", "clinical_m",
           "ecog", "term", "grade", "ae_onset_date", "identification_complete", "diagnosis_complete"]


def patient_rows(record: str, hospital_number: str, name: str, sex: str = "1") -> list[dict[str, str]]:
    """One patient as REDCap exports it: registration with referral, consent and enrolment; screening;
    diagnosis at baseline; two adverse events (a repeating instrument)."""
    return [
        {"record_id": record, "redcap_event_name": "enrolment_arm_1", "redcap_data_access_group": "main",
         "full_name": name, "date_of_birth": "1960-05-01", "hospital_number": hospital_number, "sex": sex,
         "referral_date": "2025-01-10", "ref_anatomic_site": "1", "cons_consent_date": "2025-01-20",
         "document_version": "1.0", "data_use": "1", "enrolment_date": "2025-01-22", "identification_complete": "2"},
        {"record_id": record, "redcap_event_name": "screening_arm_1", "screening_date": "2025-01-20", "age_years": "64",
         "histology_confirmed": "1", "scr_disease_status": "de_novo", "candidate_for_resection": "1",
         "previous_rt_to_region": "0", "able_to_consent": "1", "consent_signed": "1", "scr_consent_date": "2025-01-20",
         "planned_amputation": "0"},
        {"record_id": record, "redcap_event_name": "baseline_arm_1", "diagnosis_date": "2025-01-05",
         "histotype": "myxofibrosarcoma", "dx_anatomic_site": "1", "size_cm": "7.5", "clinical_n": "N0",
         "clinical_m": "M0", "ecog": "UNK", "diagnosis_complete": "2"},
        {"record_id": record, "redcap_event_name": "unscheduled_arm_1", "redcap_repeat_instrument": "adverse_event",
         "redcap_repeat_instance": "1", "term": "Fatigue", "grade": "1", "ae_onset_date": "2025-02-01"},
        {"record_id": record, "redcap_event_name": "unscheduled_arm_1", "redcap_repeat_instrument": "adverse_event",
         "redcap_repeat_instance": "2", "term": "Nausea", "grade": "2", "ae_onset_date": "2025-02-03"},
    ]


def records_csv(rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def two_patients() -> list[dict[str, str]]:
    return patient_rows("101", "H101", "Anna Prova (synthetic)") + patient_rows("102", "H102", "Bruno Prova (synthetic)",
                                                                                 sex="2")


@pytest.fixture
def target(database_url):
    """A fresh SPRINT study (no accounts: the operating-system user acts), closed before the CLI opens it."""
    study, _ = StudyDB.create(database_url, "sprint", TESTER)
    study.close()
    return database_url


def write_project(folder: Path, rows, *, dictionary: str = DICTIONARY, columns: list[str] = COLUMNS) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"dictionary": folder / "dictionary.csv", "records": folder / "records.csv", "events": folder / "events.csv"}
    files["dictionary"].write_text(dictionary, encoding="utf-8")
    files["events"].write_text(EVENTS, encoding="utf-8")
    files["records"].write_text(records_csv(rows, columns) if not isinstance(rows, str) else rows, encoding="utf-8")
    return files


def run_import(url: str, files: dict[str, Path], *extra: str, events: bool = True):
    args = ["redcap", "--dictionary", str(files["dictionary"]), "--records", str(files["records"]), "--db", url]
    if events:
        args += ["--events", str(files["events"])]
    return runner.invoke(import_app, [*args, *extra])


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def stored(url: str):
    with StudyDB.open(url) as study:
        return views.patients(study, TESTER)


# --------------------------------------------------------------------------- a small project
def test_a_small_project_is_imported_value_by_value_and_audited_with_its_checksum(target, tmp_path):
    files = write_project(tmp_path / "in", two_patients())
    result = run_import(target, files)
    assert result.exit_code == 0, result.output
    with StudyDB.open(target) as study:
        records = {r.subject_id: r for r in views.patients(study, TESTER)}
        assert sorted(records) == ["SPR-001", "SPR-002"]  # in the order the records first appear
        first = records["SPR-001"]
        trail = views.audit_entries(study, TESTER, subject_id="SPR-001", limit=100_000)  # before identify() adds its own
        ids = pathway.identify(study, TESTER, "SPR-001", "test")
        assert (ids.full_name, ids.date_of_birth, ids.hospital_number) == ("Anna Prova (synthetic)",
                                                                           dt.date(1960, 5, 1), "H101")
        assert first.sex == "female" and records["SPR-002"].sex == "male"  # REDCap choice 1 "Female", 2 "Male"
        assert first.site == "MAIN" and first.status == "enrolled"
        assert first.enrolment_date == dt.date(2025, 1, 22) and first.consent_date == dt.date(2025, 1, 20)
        # choice "1" of the dictionary is labelled Extremity: the protocol's code extremity
        assert first.first("referral").values == {"referral_date": dt.date(2025, 1, 10), "anatomic_site": "extremity"}
        screening = first.first("screening").values
        assert screening["histology_confirmed"] is True and screening["previous_rt_to_region"] is False
        assert screening["disease_status"] == "de_novo" and screening["age_years"] == 64
        dx = first.first("diagnosis")
        assert (dx.visit_id, dx.occurrence) == ("baseline", 1)  # the event baseline_arm_1
        assert dx.values["size_cm"] == 7.5 and dx.values["anatomic_site"] == "extremity"
        assert dx.missing == {"ecog": "UNK"} and dx.values.get("ecog") is None  # a missing-data code
        assert dx.derived  # the clinical rules ran on the imported biopsy (FNCLCC grade, AJCC stage)
        aes = sorted((c.instance, c.values["term"], c.values["grade"]) for c in first.of("adverse_event"))
        assert aes == [(1, "Fatigue", 1), (2, "Nausea", 2)]
        assert first.first("consent").values["document_version"] == "1.0"
        report = views.verify_audit(study, TESTER)
    digest = hashlib.sha256(files["records"].read_bytes()).hexdigest()
    assert trail and all(e.reason and f"records.csv sha256 {digest}" in e.reason for e in trail)
    assert len({e.actor for e in trail}) == 1  # the importing user, for every entry
    assert report.ok
    again = run_import(target, files, "--report", str(tmp_path / "again.csv"))  # the same file a second time
    assert again.exit_code == 1
    assert {(p["record"], p["field"]) for p in read_report(tmp_path / "again.csv")
            if "already registered" in p["problem"]} == {("101", "hospital_number"), ("102", "hospital_number")}
    assert len(stored(target)) == 2


def _set(rows, record: str, event: str, **values):
    for row in rows:
        if row["record_id"] == record and row["redcap_event_name"] == event and not row.get("redcap_repeat_instrument"):
            row.update(values)
            return rows
    raise AssertionError("no such row")


def _duplicate(rows):
    dx = next(r for r in rows if r["record_id"] == "101" and r["redcap_event_name"] == "baseline_arm_1")
    rows.insert(rows.index(dx) + 1, dict(dx))
    return rows


# (name, change to the two good patients, expected line of records.csv (header = 1), record, field, words)
BAD = [
    ("unknown code", lambda r: _set(r, "101", "enrolment_arm_1", ref_anatomic_site="9"),
     "2", "101", "ref_anatomic_site", "unknown code"),
    ("duplicate row", _duplicate, "5", "101", None, "duplicate row"),
    ("bad date", lambda r: _set(r, "101", "baseline_arm_1", diagnosis_date="2025-02-30"),
     "4", "101", "diagnosis_date", "date"),
    ("date before birth", lambda r: _set(r, "101", "baseline_arm_1", diagnosis_date="1959-03-01"),
     "4", "101", "diagnosis_date", "before the date of birth"),
    ("screening before the referral", lambda r: _set(r, "101", "screening_arm_1", screening_date="2025-01-05",
                                                      scr_consent_date="2025-01-05"),
     "3", "101", "screening_date", "before the referral"),  # the service's refusal, in their variable's name
    ("value out of range", lambda r: _set(r, "101", "baseline_arm_1", size_cm="150"),
     "4", "101", "size_cm", "at most 100"),
    ("unknown event", lambda r: _set(r, "101", "baseline_arm_1", redcap_event_name="baseline_arm_9"),
     "4", "101", "redcap_event_name", "unknown event"),
    ("wrongly encoded name", lambda r: _set(r, "101", "enrolment_arm_1", full_name="Ã‰lise Prova"),
     "2", "101", "full_name", "encoded"),
]


@pytest.mark.parametrize("name, change, line, record, field, words", BAD, ids=[b[0] for b in BAD])
def test_each_bad_input_is_named_and_nothing_is_written_unless_accept_partial(target, tmp_path, name, change, line,
                                                                               record, field, words):
    files = write_project(tmp_path / "in", change(two_patients()))
    report = tmp_path / "report.csv"
    result = run_import(target, files, "--report", str(report))
    assert result.exit_code == 1, result.output
    assert stored(target) == []  # nothing half-imported: not even the good record
    problems = read_report(report)
    assert list(problems[0]) == ["row", "record", "field", "value", "problem"]
    hits = [p for p in problems if p["record"] == record and words in p["problem"]]
    assert hits, problems
    assert hits[0]["row"] == line and (field is None or hits[0]["field"] == field)
    assert all(len(line) <= 80 for line in result.output.splitlines())  # readable on an 80-column terminal
    assert "Nothing imported" in result.output

    partial = run_import(target, files, "--accept-partial")
    assert partial.exit_code == 0, partial.output
    records = stored(target)
    assert len(records) == 1  # only the record without problems: 102, H102
    with StudyDB.open(target) as study:
        assert pathway.identify(study, TESTER, records[0].subject_id, "test").hospital_number == "H102"


def test_a_column_not_in_the_dictionary_holds_back_the_records_that_fill_it(target, tmp_path):
    rows = two_patients()
    _set(rows, "101", "baseline_arm_1", bmi="27.1")
    files = write_project(tmp_path / "in", rows, columns=COLUMNS + ["bmi"])
    report = tmp_path / "report.csv"
    result = run_import(target, files, "--report", str(report))
    assert result.exit_code == 1 and stored(target) == []
    assert [(p["row"], p["field"]) for p in read_report(report) if "not in the data dictionary" in p["problem"]] == \
        [("1", "bmi")]
    partial = run_import(target, files, "--accept-partial")
    assert partial.exit_code == 0, partial.output
    assert len(stored(target)) == 1


def test_a_malformed_dictionary_stops_everything(target, tmp_path):
    broken = DICTIONARY.replace("Field Type", "Kind")
    files = write_project(tmp_path / "in", two_patients(), dictionary=broken)
    report = tmp_path / "report.csv"
    for extra in ((), ("--accept-partial",)):
        result = run_import(target, files, "--report", str(report), *extra)
        assert result.exit_code == 1, result.output
        assert stored(target) == []
        [problem] = read_report(report)
        assert problem["row"] == "dictionary.csv:1" and "'Field Type'" in problem["problem"]


@pytest.mark.parametrize("kind", ["yaml", "csv"])
def test_a_field_the_protocol_lacks_is_named_and_a_mapping_file_maps_it(target, tmp_path, kind):
    """A database with names and codes of its own (Italian variable names, numeric codes, its own events)."""
    own = DICTIONARY.replace("ref_anatomic_site,referral,,dropdown", "sede,referral,,dropdown") \
        .replace("sex,identification,,radio,Sex,\"1, Female | 2, Male\"", "sesso,identification,,radio,Sesso,\"M, M | F, F\"")
    columns = [{"ref_anatomic_site": "sede", "sex": "sesso"}.get(c, c) for c in COLUMNS]
    rows = []
    for row in two_patients():
        row = {{"ref_anatomic_site": "sede", "sex": "sesso"}.get(k, k): v for k, v in row.items()}
        if "sesso" in row:
            row["sesso"] = "F" if row["sesso"] == "1" else "M"
        if row.get("sede"):
            row["sede"] = "3"  # their 3 (Retroperitoneum)
        if row["redcap_event_name"] == "baseline_arm_1":
            row["redcap_event_name"] = "visita_basale_arm_1"
        rows.append(row)
    files = write_project(tmp_path / "in", rows, dictionary=own, columns=columns)
    report = tmp_path / "report.csv"
    unmapped = run_import(target, files, "--report", str(report))
    assert unmapped.exit_code == 1
    named = {p["field"] for p in read_report(report)}
    assert {"sede", "redcap_event_name"} <= named

    mapping = tmp_path / f"mapping.{kind}"
    if kind == "yaml":
        mapping.write_text("fields:\n  sede: referral.anatomic_site\n  sesso: sex\n"
                           "codes:\n  sede: {3: retroperitoneum}\n  sesso: {F: female, M: male}\n"
                           "events:\n  visita_basale_arm_1: baseline\n", encoding="utf-8")
    else:
        mapping.write_text("kind,source,target,code\nfield,sede,referral.anatomic_site,\nfield,sesso,sex,\n"
                           "code,sede,retroperitoneum,3\ncode,sesso,female,F\ncode,sesso,male,M\n"
                           "event,visita_basale_arm_1,baseline,\n", encoding="utf-8")
    result = run_import(target, files, "--mapping", str(mapping))
    assert result.exit_code == 0, result.output
    records = stored(target)
    assert [r.sex for r in records] == ["female", "male"]
    assert {r.first("referral").values["anatomic_site"] for r in records} == {"retroperitoneum"}
    assert {r.first("diagnosis").visit_id for r in records} == {"baseline"}


def test_invalid_arguments_exit_2_and_write_nothing(target, tmp_path):
    files = write_project(tmp_path / "in", two_patients())
    missing = dict(files, records=tmp_path / "nowhere.csv")
    result = run_import(target, missing)
    assert result.exit_code == 2 and "no such file" in result.output
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(records_csv(_set(two_patients(), "101", "enrolment_arm_1", full_name="Élise Prova"))
                      .encode("latin-1"))
    result = run_import(target, dict(files, records=latin))
    assert result.exit_code == 2 and "not UTF-8" in result.output
    result = runner.invoke(import_app, ["redcap", "--dictionary", str(files["dictionary"]), "--db", target])
    assert result.exit_code == 2  # --records is required
    bad_yaml = tmp_path / "mapping.yaml"
    bad_yaml.write_text("fields: [unclosed\n", encoding="utf-8")
    result = run_import(target, files, "--mapping", str(bad_yaml))
    assert result.exit_code == 2 and "YAML" in result.output
    assert stored(target) == []


def test_the_visit_occurrence_variable_places_an_instance_and_progress_is_reported(target, tmp_path):
    """The export's layout (``sarcotrial.exchange.redcap``): a hidden ``<form>_visit_occurrence`` variable
    puts a repeating instrument's instance back at its visit occurrence; an unscheduled visit 2 is added."""
    from sarcotrial.exchange.redcap_import import build_plan
    from sarcotrial.services.importing import write_plan

    dictionary = DICTIONARY + "adverse_event_visit_occurrence,adverse_event,,text,Visit occurrence,,\n"
    rows = patient_rows("101", "H101", "Anna Prova (synthetic)")
    rows[-1]["adverse_event_visit_occurrence"] = "2"
    rows[-2]["adverse_event_visit_occurrence"] = "1"
    files = write_project(tmp_path / "in", rows, dictionary=dictionary,
                          columns=COLUMNS + ["adverse_event_visit_occurrence"])
    calls = []
    with StudyDB.open(target) as study:
        plan = build_plan(study.protocol, files["dictionary"], files["records"], events=files["events"])
        result = write_plan(study, TESTER, plan, progress=lambda done, total, message: calls.append((done, total)))
        assert result.written and result.imported == {"101": "SPR-001"}
        aes = sorted((c.visit_id, c.occurrence, c.instance, c.values["term"])
                     for c in views.patient(study, TESTER, "SPR-001").of("adverse_event"))
    assert aes == [("unscheduled", 1, 1, "Fatigue"), ("unscheduled", 2, 1, "Nausea")]
    assert calls[0] == (0, 1) and calls[-1] == (1, 1)


# --------------------------------------------------------------------------- the round trip
SEED = 2026
CUTOFF = dt.date(2026, 6, 30)  # the demo's data cut-off


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """The demo study, exported with ``export redcap --identified`` by a study-wide investigator (given the
    full export right), imported with ``import redcap`` into a fresh study with the demo's two sites."""
    from sarcotrial.exchange import redcap
    from sarcotrial.services import access

    with demo_study(tmp_path_factory, SEED, "redcap-round-trip") as source:
        yield _exported_and_imported(source, redcap, access)


def _exported_and_imported(source: str, redcap, access):
    from sarcotrial.cli.main import app
    from sarcotrial.demo import demo_password

    folder = Path(source.removeprefix("sqlite:///")).parent
    target = f"sqlite:///{folder / 'fresh.sqlite'}"
    out = folder / "export"
    exported = runner.invoke(app, ["export", "redcap", "--identified", "--out", str(out), "--db", source,
                                   "--user", "exporter"],
                             env={"SARCOTRIAL_PASSWORD": demo_password(SEED, "exporter")})
    assert exported.exit_code == 0, exported.output
    fresh, _ = StudyDB.create(target, "sprint", TESTER)
    try:
        access.add_site(fresh, TESTER, "SAT", "Satellite clinic (synthetic)")  # a site is made by the admin first
    finally:
        fresh.close()
    imported = runner.invoke(import_app, ["redcap", "--dictionary", str(out / redcap.DICTIONARY_FILE),
                                          "--records", str(out / redcap.RECORDS_FILE),
                                          "--events", str(out / redcap.EVENTS_FILE), "--db", target])
    return {"source": source, "target": target, "imported": imported, "export": out,
            "demo": lambda user: Actor(user, "test", password=demo_password(SEED, user))}


def _by_hospital_number(url: str, reader: Actor, identifier_reader: Actor):
    with StudyDB.open(url) as study:
        records = views.patients(study, reader)
        return {pathway.identify(study, identifier_reader, r.subject_id, "round trip test").hospital_number: r
                for r in records}


def _crfs(record) -> list[tuple]:
    return sorted((c.form_id, c.visit_id, c.occurrence, c.instance, c.status, sorted(c.values.items()),
                   sorted(c.missing.items()), sorted(c.derived.items()))
                  for rows in record.forms.values() for c in rows if c.status != "not_done")


def test_round_trip_gives_the_same_values_for_every_form_and_field(round_trip):
    assert round_trip["imported"].exit_code == 0, round_trip["imported"].output
    demo = round_trip["demo"]
    before = _by_hospital_number(round_trip["source"], demo("exporter"), demo("monitor"))
    after = _by_hospital_number(round_trip["target"], TESTER, TESTER)
    assert len(before) == 54 and set(after) == set(before)  # 50 screened, 4 in the registry only
    for number, a in before.items():
        b = after[number]
        assert (b.sex, b.site, b.status, b.year_of_birth, b.enrolment_date, b.consent_date) == \
            (a.sex, a.site, a.status, a.year_of_birth, a.enrolment_date, a.consent_date), number
        assert _crfs(b) == _crfs(a), number
    # every form of the protocol that the demo fills was carried
    carried = {c[0] for r in after.values() for c in _crfs(r)}
    assert {"referral", "screening", "consent", "diagnosis", "rt_course", "rt_fraction", "surgery", "pathology",
            "adverse_event", "follow_up", "outcome_event"} <= carried


def test_round_trip_gives_the_same_endpoints(round_trip):
    from sarcotrial.services.endpoints import endpoint_table

    demo = round_trip["demo"]

    def table(url: str, reader: Actor, identifier_reader: Actor):
        with StudyDB.open(url) as study:
            header, rows = endpoint_table(study, CUTOFF, reader)
            numbers = {r[0]: pathway.identify(study, identifier_reader, r[0], "round trip test").hospital_number
                       for r in rows}
        return header, {numbers[r[0]]: r[1:] for r in rows}

    header_a, rows_a = table(round_trip["source"], demo("exporter"), demo("monitor"))
    header_b, rows_b = table(round_trip["target"], TESTER, TESTER)
    assert header_a == header_b and len(rows_a) == 33
    assert rows_b == rows_a


def test_round_trip_audits_every_imported_value_with_the_records_checksum(round_trip):
    digest = hashlib.sha256((round_trip["export"] / "records.csv").read_bytes()).hexdigest()
    with StudyDB.open(round_trip["target"]) as study:
        records = views.patients(study, TESTER)
        trail = views.audit_entries(study, TESTER, subject_id=records[-1].subject_id, limit=100_000)
        assert views.verify_audit(study, TESTER).ok
    # the fixture's comparisons read identifiers (an audited look-up of its own, reason none): the import's are the rest
    imported = [e for e in trail if e.table_name != "identifier_access"]
    assert imported and all(f"sha256 {digest}" in (e.reason or "") for e in imported)
