"""The exports page (``/exports``) through HTTP: the levels a user's export right reaches, the ZIP download
with its manifest, the refusals beside their field, and the audit record.

Sources: docs/roles.md (``export``: investigator, data manager, statistician; export rights full >
pseudonymised > deidentified > none; a statistician never receives identifiers; an account limited to
sites exports its sites' patients alone); 21 CFR 11.10(e) (an audit trail of the export). Facts from the
``web_study`` fixture: SPR-001 and SPR-002 enrolled at MAIN, SPR-003 referred at SAT.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from sqlalchemy import select

import sarcotrial.exchange as exchange_pkg
from sarcotrial.services import access
from sarcotrial.store.models import DataExport


def probe(monkeypatch):
    """A format writer writing the subject ids it was given (the formats have tests of their own)."""

    def write(snapshot, folder):
        (folder / "subjects.txt").write_text("\n".join(p.subject_id for p in snapshot.patients) + "\n")
        return {"rows": len(snapshot.patients)}

    monkeypatch.setattr(exchange_pkg, "writer", lambda fmt: write)


def test_statistician_downloads_a_zip_with_its_manifest_and_the_export_is_recorded(web_study, client_as, monkeypatch):
    probe(monkeypatch)
    stan = client_as("statistician")
    page = stan.get("/exports")
    assert page.status_code == 200
    assert 'value="pseudonymised"' in page.text and 'value="deidentified"' in page.text
    assert 'value="identified"' not in page.text  # a statistician never receives identifiers
    assert 'href="/exports"' in page.text  # in the navigation
    for fmt in exchange_pkg.FORMATS:
        assert f'value="{fmt}"' in page.text
    answer = stan.post("/exports", data={"format": "tables", "level": "deidentified", "forms": ["surgery", "pathology"]})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert "attachment" in answer.headers["content-disposition"] and "tables-deidentified" in answer.headers[
        "content-disposition"]
    z = zipfile.ZipFile(io.BytesIO(answer.content))
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["level"] == "deidentified" and manifest["forms"] == ["surgery", "pathology"]
    assert z.read("subjects.txt").decode().split() == ["SPR-001", "SPR-002", "SPR-003"]
    [entry] = manifest["files"]
    assert entry["sha256"] == hashlib.sha256(z.read("subjects.txt")).hexdigest()
    with web_study.reading() as session:
        [record] = session.scalars(select(DataExport)).all()
        assert (record.format, record.level, record.patient_count) == ("tables", "deidentified", 3)
    again = stan.get("/exports")
    assert "No export yet" not in again.text and "deidentified" in again.text


def test_refusals_are_shown_beside_their_field_and_nothing_is_written(web_study, client_as, monkeypatch):
    probe(monkeypatch)
    stan = client_as("statistician")
    wrong = stan.post("/exports", data={"format": "tables", "level": "pseudonymised", "intervals": "1"})
    assert wrong.status_code == 422 and 'id="level-error"' in wrong.text and "--deidentified" in wrong.text
    nosuch = stan.post("/exports", data={"format": "nosuch", "level": "pseudonymised"})
    assert nosuch.status_code == 422 and 'id="format-error"' in nosuch.text
    identified = stan.post("/exports", data={"format": "tables", "level": "identified"})
    assert identified.status_code == 403
    with web_study.reading() as session:
        assert session.scalars(select(DataExport)).all() == []


def test_the_export_right_decides_the_levels_offered(web_study, client_as, monkeypatch):
    probe(monkeypatch)
    team = web_study.team
    ivy = client_as("investigator")
    assert "Your export right allows no export" in ivy.get("/exports").text  # the default right: none
    access.grant(web_study, team.admin, "ivy", export="full", reason="registry transfer")
    page = ivy.get("/exports")
    assert 'value="identified"' in page.text
    nurse = client_as("research_nurse")
    assert nurse.get("/exports").status_code == 403  # the role may not export
    assert 'href="/exports"' not in nurse.get("/").text


def test_a_real_export_through_the_page_is_the_cli_s(web_study, client_as, tmp_path):
    """The page runs the same export as the CLI: the ZIP's files are those `sarcotrial export` writes, with
    the same checksums (the manifest's dates aside)."""
    from sarcotrial.exchange import run_export

    dana = client_as("data_manager")
    access.grant(web_study, web_study.team.admin, "dana", export="pseudonymised", reason="registry extract")
    answer = dana.post("/exports", data={"format": "redcap", "level": "pseudonymised"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(answer.content))
    manifest = json.loads(z.read("manifest.json"))
    assert {"dictionary.csv", "records.csv", "events.csv", "instrument_event_mapping.csv"} <= set(z.namelist())
    cli = run_export(web_study, web_study.team.data_manager, "redcap", tmp_path / "cli").manifest
    assert {f["name"]: f["sha256"] for f in manifest["files"]} == {f["name"]: f["sha256"] for f in cli["files"]}
    for f in manifest["files"]:
        assert hashlib.sha256(z.read(f["name"])).hexdigest() == f["sha256"]


def test_the_api_exports_as_the_page_does(web_study, client_as):
    """POST /api/v1/exports/{format} answers with the ZIP; the body is checked (422 naming the member), the
    export right decides (403), and GET /api/v1/exports lists what was exported."""
    stan = client_as("statistician")
    answer = stan.post("/api/v1/exports/sdtm", json={"level": "deidentified", "forms": ["surgery", "adverse_event"]})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(answer.content))
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["format"] == "sdtm" and manifest["level"] == "deidentified" and "dm.xpt" in z.namelist()
    assert stan.post("/api/v1/exports/tables", json={"level": "identified"}).status_code == 403
    bad = stan.post("/api/v1/exports/tables", json={"level": "pseudonymised", "colour": "red"})
    assert bad.status_code == 422 and "colour" in bad.json()["error"]
    unknown = stan.post("/api/v1/exports/nosuch", json={})
    assert unknown.status_code == 422 and unknown.json()["field"] == "format"
    log = stan.get("/api/v1/exports").json()
    assert [(e["format"], e["level"], e["by"]) for e in log] == [("sdtm", "deidentified", "stan")]
