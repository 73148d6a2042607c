"""What every export shares (``sarcotrial export FORMAT --out DIR``): the output folder, the manifest,
the levels, the user's sites and export right, and the audited record of the export.

Sources: HIPAA Safe Harbor, 45 CFR 164.514(b)(2) (names, dates more precise than the year and ages
over 89 are identifiers; a shifted date is not the date); 21 CFR 11.10(d) and (e), EU GMP Annex 11
§12 (access by role; an audit trail of who did what); the EDC's export rights (docs/roles.md: full,
pseudonymised, deidentified, none). The format writers are replaced here by a probe that records the
snapshot it was given, so these tests check the shared part alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import sarcotrial.exchange as exchange_pkg
from sarcotrial.cli.main import app
from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services import access, exchange, forms, pathway
from sarcotrial.store.models import AuditEntry, DataExport
from tests.edc_support import OS_USER, operated, staff
from tests.helpers import DOCTOR

runner = CliRunner()


class Probe:
    """A format writer that keeps the snapshot and writes one small file (or fails when asked)."""

    def __init__(self):
        self.snapshot = None
        self.fail = False

    def __call__(self, snapshot, folder: Path):
        self.snapshot = snapshot
        (folder / "data.csv").write_text("\n".join(p.subject_id for p in snapshot.patients) + "\n", encoding="utf-8")
        (folder / "sub").mkdir()
        (folder / "sub" / "more.txt").write_text("x", encoding="utf-8")
        if self.fail:
            raise InvalidValue("probe", "failed on purpose")
        return {"rows": len(snapshot.patients)}


@pytest.fixture
def probe(monkeypatch):
    p = Probe()
    monkeypatch.setattr(exchange_pkg, "writer", lambda fmt: p)
    return p


@pytest.fixture
def two_patients(study):
    """SPR-001 and SPR-002 enrolled on 22 Jan 2025 and operated on 17 Apr 2025 at MAIN; SPR-001 with an adverse event."""
    a = operated(study, "H0001")
    b = operated(study, "H0002")
    forms.record(study, DOCTOR, a, "adverse_event", {"term": "Wound infection", "grade": 2, "onset_date": "2025-05-02"})
    return a, b


def identifiers(study, subject):
    return pathway.identify(study, OS_USER, subject, "test")


def test_manifest_lists_every_file_with_its_checksum_and_the_export_is_recorded(study, two_patients, probe, tmp_path):
    out = tmp_path / "export"
    result = exchange_pkg.run_export(study, OS_USER, "tables", out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == result.manifest
    assert manifest["format"] == "tables" and manifest["level"] == "pseudonymised"
    assert manifest["protocol"]["acronym"] == "SPRINT" and manifest["protocol"]["version"] == study.protocol.version
    assert manifest["counts"] == {"patients": 2, "rows": 2}
    names = sorted(f["name"] for f in manifest["files"])
    assert names == ["data.csv", "sub/more.txt"]
    for f in manifest["files"]:  # an independent reading of the files
        data = (out / f["name"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["bytes"] == len(data)
    assert (out / "data.csv").read_text().split() == list(two_patients)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]  # no work folder left
    with study.reading() as session:
        [record] = session.scalars(select(DataExport)).all()
        assert (record.format, record.level, record.patient_count) == ("tables", "pseudonymised", 2)
        assert record.patients.split() == list(two_patients)
        assert record.manifest_sha256 == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
        assert set(record.forms.split(",")) == {f.id for f in study.protocol.forms}
        trail = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "data_export")).all()
        assert {e.field for e in trail} >= {"format", "level", "patients"}
        assert all(e.actor == OS_USER.name for e in trail)


def test_a_folder_holding_anything_is_refused_and_force_replaces_only_an_earlier_export(study, two_patients, probe,
                                                                                        tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InvalidValue, match="not empty"):
        exchange_pkg.run_export(study, OS_USER, "tables", out)
    with pytest.raises(InvalidValue, match="not an earlier export"):
        exchange_pkg.run_export(study, OS_USER, "tables", out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    fresh = tmp_path / "fresh"
    exchange_pkg.run_export(study, OS_USER, "tables", fresh)
    (fresh / "data.csv").write_text("stale")
    exchange_pkg.run_export(study, OS_USER, "tables", fresh, force=True)
    assert (fresh / "data.csv").read_text().split() == list(two_patients)
    with study.reading() as session:
        assert len(session.scalars(select(DataExport)).all()) == 2


def test_a_failing_writer_leaves_no_file_and_no_record(study, two_patients, probe, tmp_path):
    probe.fail = True
    out = tmp_path / "export"
    with pytest.raises(InvalidValue, match="failed on purpose"):
        exchange_pkg.run_export(study, OS_USER, "tables", out)
    assert not out.exists() or not any(out.iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".export-")] == []
    with study.reading() as session:
        assert session.scalars(select(DataExport)).all() == []


def test_pseudonymised_level_ages_not_identifiers(study, two_patients, probe, tmp_path):
    exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "p")
    snap = probe.snapshot
    a = snap.patients[0]
    who = identifiers(study, a.subject_id)
    enrolment = a.record.enrolment_date
    expected = enrolment.year - who.date_of_birth.year - ((enrolment.month, enrolment.day)
                                                          < (who.date_of_birth.month, who.date_of_birth.day))
    assert a.age_at_enrolment == expected and a.identifiers is None
    assert a.enrolment_date == enrolment  # dates as recorded
    assert snap.forms[0] == study.protocol.forms[0].id


def test_deidentified_level_shifts_each_patients_dates_by_its_own_offset(study, two_patients, probe, tmp_path):
    exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "d", level="deidentified")
    snap = probe.snapshot
    offsets = []
    for p in snap.patients:
        days = exchange.date_offset(study, OS_USER, p.subject_id)
        assert 1 <= abs(days) <= 180
        offsets.append(days)
        assert p.enrolment_date - p.record.enrolment_date == dt.timedelta(days=days)
        [surgery] = p.forms["surgery"]
        original = p.record.forms["surgery"][0].values["surgery_date"]
        assert surgery.values["surgery_date"] - original == dt.timedelta(days=days)
        # no free text at this level: every text field of every form is gone, unless the protocol says it is not prose
        for form_id, rows in p.forms.items():
            prose = {f.id for f in study.protocol.form(form_id).fields if f.is_free_text}
            assert not any(prose & set(c.values) for c in rows)
    assert len(set(offsets)) == 2  # one offset per patient (these two differ)


def test_deidentified_ages_over_89_are_given_as_90(study, probe, tmp_path):
    """HIPAA Safe Harbor 164.514(b)(2)(i)(C): ages over 89 aggregated into one category of 90 or older."""
    from tests.helpers import enrolled

    old = enrolled(study, "H0009")
    pathway.correct_identifiers(study, OS_USER, old, "test: born earlier", date_of_birth=dt.date(1930, 1, 1))
    exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "p")
    assert probe.snapshot.patients[0].age_at_enrolment == 95  # 22 Jan 2025, born 1 Jan 1930
    exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "d", level="deidentified")
    assert probe.snapshot.patients[0].age_at_enrolment == 90


def test_intervals_give_days_from_enrolment(study, two_patients, probe, tmp_path):
    exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "i", level="deidentified", intervals=True)
    p = probe.snapshot.patients[0]
    assert p.enrolment_date == 0
    assert p.forms["surgery"][0].values["surgery_date"] == (dt.date(2025, 4, 17) - dt.date(2025, 1, 22)).days
    with pytest.raises(InvalidValue, match="--deidentified"):
        exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "j", intervals=True)
    with pytest.raises(InvalidValue, match="tables export only"):
        exchange_pkg.run_export(study, OS_USER, "odm", tmp_path / "k", level="deidentified", intervals=True)


def test_identified_level_carries_the_identifiers(study, two_patients, probe, tmp_path):
    exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "x", level="identified")
    p = probe.snapshot.patients[0]
    who = identifiers(study, p.subject_id)
    assert p.identifiers == {"full_name": who.full_name, "date_of_birth": who.date_of_birth,
                             "hospital_number": who.hospital_number}


def test_unknown_forms_are_named(study, two_patients, probe, tmp_path):
    with pytest.raises(InvalidValue, match="not forms of SPRINT .*: nosuch"):
        exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "f", forms=["surgery", "nosuch"])
    exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "g", forms=["surgery"])
    assert probe.snapshot.forms == ("surgery",) and set(probe.snapshot.patients[0].forms) == {"surgery"}


def test_rights_and_sites_decide_what_an_export_holds(study, fast_hashing, probe, tmp_path):
    """The statistician (pseudonymised right by default) gets no identified export; an account with the
    right none gets none at all; a site's investigator exports the site's patients only."""
    a = operated(study, "H0001")
    access.add_site(study, OS_USER, "NORTH", "North hospital")
    from tests.helpers import NURSE
    north = pathway.register_patient(study, NURSE, identifiers=pathway.Identifiers("North Patient (synthetic)",
                                                                                   dt.date(1970, 2, 2), "H0003"),
                                     sex="female", referral={"referral_date": "2025-01-10", "anatomic_site": "trunk"},
                                     site_code="NORTH").subject_id
    team = staff(study, roles=("statistician", "investigator"), sites=("MAIN",))
    with pytest.raises(AccessDenied, match="no full export"):
        exchange_pkg.run_export(study, team.statistician, "tables", tmp_path / "s1", level="identified")
    exchange_pkg.run_export(study, team.statistician, "tables", tmp_path / "s2", level="deidentified")
    assert [p.subject_id for p in probe.snapshot.patients] == [a]  # the statistician of MAIN
    with pytest.raises(AccessDenied, match="export right is none"):
        exchange_pkg.run_export(study, team.investigator, "tables", tmp_path / "i1")
    assert not (tmp_path / "i1").exists()
    access.grant(study, team.admin, "ivy", export="full", reason="identified export for the registry")
    exchange_pkg.run_export(study, team.investigator, "tables", tmp_path / "i2", level="identified")
    assert [p.subject_id for p in probe.snapshot.patients] == [a]
    assert north not in (tmp_path / "i2" / "data.csv").read_text()
    with study.reading() as session:
        assert [(e.level, e.patient_count) for e in session.scalars(select(DataExport).order_by(DataExport.id))] == [
            ("deidentified", 1), ("identified", 1)]
        actors = {e.actor for e in session.scalars(select(AuditEntry).where(AuditEntry.table_name == "data_export"))}
        assert actors == {"stan", "ivy"}
    # an account limited to sites sees its own exports in the log, not those of other people
    assert [r["by"] for r in exchange.exports(study, team.investigator)] == ["ivy"]
    assert [r["by"] for r in exchange.exports(study, team.statistician)] == ["stan"]


def test_cli_export_log_and_refusals(study, database_url, two_patients, probe, tmp_path):
    out = tmp_path / "cli"
    result = runner.invoke(app, ["export", "tables", "--out", str(out), "--db", database_url])
    assert result.exit_code == 0, result.output
    assert "manifest.json" in result.output and "pseudonymised" in result.output
    again = runner.invoke(app, ["export", "tables", "--out", str(out), "--db", database_url])
    assert again.exit_code == 2 and "not empty" in again.output and "Traceback" not in again.output
    both = runner.invoke(app, ["export", "tables", "--out", str(tmp_path / "b"), "--identified", "--deidentified",
                               "--db", database_url])
    assert both.exit_code == 2 and "one level" in both.output
    log = runner.invoke(app, ["export", "log", "--db", database_url, "--json"])
    assert log.exit_code == 0 and [r["format"] for r in json.loads(log.output)] == ["tables"]
    offset = runner.invoke(app, ["export", "date-offset", two_patients[0], "--db", database_url])
    assert offset.exit_code == 0 and f"{exchange.date_offset(study, OS_USER, two_patients[0]):+d} days" in offset.output


def test_every_age_field_is_capped_when_deidentified(study, probe, tmp_path):
    """Safe Harbor 164.514(b)(2)(i)(C) covers every age over 89, not only the age at enrolment: a number the
    protocol measures in years (SPRINT's screening.age_years) is given as 90 too."""
    from tests.helpers import NURSE, SCREENING, register

    old = register(study, "H0009", dob=dt.date(1930, 1, 1)).subject_id
    pathway.screen(study, NURSE, old, {"screening_date": "2025-01-20", "consent_date": "2025-01-20",
                                       **dict(SCREENING, age_years=95)})
    exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "p")
    [screening] = probe.snapshot.patients[0].forms["screening"]
    assert screening.values["age_years"] == 95
    exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "d", level="deidentified")
    [screening] = probe.snapshot.patients[0].forms["screening"]
    assert screening.values["age_years"] == 90


def test_intervals_count_datetimes_to_the_minute_and_a_patient_never_enrolled_from_the_first_record(
        study, probe, tmp_path):
    from tests.helpers import NURSE, enrolled

    subject = enrolled(study, "H0001")
    forms.record(study, DOCTOR, subject, "adverse_event", {"term": "Wound infection", "grade": 3, "serious": True,
                                                            "onset_date": "2025-05-02", "aware_at": "2025-05-03T10:00"})
    referred = pathway.register_patient(study, NURSE, identifiers=pathway.Identifiers(
        "Referred Only (synthetic)", dt.date(1970, 2, 2), "H0005"), sex="male",
        referral={"referral_date": "2025-03-10", "anatomic_site": "trunk"}).subject_id
    exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "i", level="deidentified", intervals=True)
    by = {p.subject_id: p for p in probe.snapshot.patients}
    [ae] = by[subject].forms["adverse_event"]
    # enrolled 22 Jan 2025; aware 3 May 2025 10:00 UTC = 101 days and 10 hours
    assert ae.values["aware_at"] == pytest.approx(101 + 10 / 24, abs=1e-4)
    assert by[subject].interval_origin == "enrolment"
    [referral] = by[referred].forms["referral"]
    assert by[referred].interval_origin == "first record" and referral.values["referral_date"] == 0


def test_export_files_are_the_owners_alone_and_identified_exports_record_each_patients_identifiers(
        study, two_patients, probe, tmp_path):
    """Personal data: the folder 0700 and its files 0600, as the study file (docs/exchange.md); an identified
    export records a reading of each patient's identifiers, as `patient identify` does (21 CFR 11.10(e))."""
    from sarcotrial.store.models import IdentifierAccess

    out = tmp_path / "x"
    exchange_pkg.run_export(study, OS_USER, "tables", out, level="identified")
    assert out.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_file()} == {0o600}
    with study.reading() as session:
        purposes = [a.purpose for a in session.scalars(select(IdentifierAccess))]
    assert purposes.count("identified tables export") == 2


def test_bad_folders_and_empty_forms_are_refused_naming_the_field(study, two_patients, probe, tmp_path):
    for out, rule in ((Path(""), "give a folder"), (tmp_path / "afile" / "sub", "cannot write in")):
        if rule == "cannot write in":
            (tmp_path / "afile").write_text("x")
        with pytest.raises(InvalidValue, match=rule) as exc:
            exchange_pkg.run_export(study, OS_USER, "tables", out)
        assert exc.value.field == "out" and ".export-" not in str(exc.value)
    with pytest.raises(InvalidValue, match="give form ids") as exc:
        exchange_pkg.run_export(study, OS_USER, "tables", tmp_path / "f", forms=["", " "])
    assert exc.value.field == "forms"


def test_force_never_follows_a_manifest_out_of_its_folder(study, two_patients, probe, tmp_path):
    """A planted manifest naming ../victim.txt must not make --force delete it."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"files": [{"name": "../victim.txt"}]}))
    with pytest.raises(InvalidValue, match="names files outside"):
        exchange_pkg.run_export(study, OS_USER, "tables", out, force=True)
    assert victim.read_text() == "keep me"
