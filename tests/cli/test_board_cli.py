"""``sarcotrial board`` and ``sarcotrial second-opinion`` as a user meets them: exit 0 when done, exit 2
with one line when refused, ``--json`` one JSON object.

Rules: FDA 21 CFR 11.10(g) (authority checks), 11.50 and 11.200 (signature manifestation, password
again at signing); the quorum is the unit's setting ``tumour_board_quorum`` (ESMO-EURACAN-GENTURIS
guidelines, Gronchi et al., Ann Oncol 2021, for the disciplines); the revision rate's interval is
checked against scipy's exact binomial interval.
"""

from __future__ import annotations


import pytest
from scipy.stats import binomtest
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from tests.cli.support import one_json, refused, registry_study
from sarcotrial.config import cli_user
from sarcotrial.services import access
from sarcotrial.services.study import Actor, StudyDB

runner = CliRunner()
OS_USER = cli_user(None)[0]
PDF = b"%PDF-1.4\n%%EOF\n"


def run(*args: str, code: int = 0, password: str | None = None, stdin: str | None = None):
    result = runner.invoke(app, list(args), input=stdin, env={"SARCOTRIAL_PASSWORD": password})
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def db(tmp_path, monkeypatch) -> str:
    """A SPRINT study with two registered (registry) patients and no accounts: the OS user acts alone."""
    return registry_study(tmp_path, monkeypatch, ("Anna Example (synthetic)", "Bruno Example (synthetic)"))


def _meeting(db: str, disciplines=("surgeon", "radiation_oncologist", "medical_oncologist", "pathologist",
                                   "radiologist")) -> None:
    run("board", "meeting", "new", "--date", "2025-01-15", "--db", db)
    for i, discipline in enumerate(disciplines):
        run("board", "meeting", "attend", "1", "--name", f"Dr Member {i}", "--discipline", discipline, "--db", db)


def test_a_meeting_from_the_command_line(db, tmp_path):
    first = one_json(run("board", "meeting", "new", "--date", "2025-01-15", "--db", db, "--json"))
    assert first["id"] == 1 and first["quorum"]["met"] is False and first["cases"] == []
    out = run("board", "meeting", "attend", "1", "--name", "Dr Sue Surgeon", "--discipline", "surgeon", "--db", db)
    assert "no quorum: missing radiation oncologist, medical oncologist, pathologist, radiologist" in out.output
    for name, discipline in (("Dr R", "radiation oncologist"), ("Dr M", "medical_oncologist"), ("Dr P", "pathologist"),
                             ("Dr X", "radiologist")):
        out = run("board", "meeting", "attend", "1", "--name", name, "--discipline", discipline, "--db", db)
    assert "quorum met: surgeon, radiation oncologist" in out.output
    assert "Case #1" in run("board", "case", "1", "--patient", "spr-001", "--question", "Treatment?", "--db", db).output
    run("board", "summary", "1", "--part", "imaging", "--text", "MRI: 8 cm deep thigh mass", "--db", db)
    run("board", "summary", "1", "--part", "pathology", "--text", "Biopsy: UPS, FNCLCC grade 3", "--db", db)
    decided = one_json(run("board", "decide", "1", "--strategy", "preoperative_radiotherapy_surgery", "--rationale",
                           "deep, large, high grade", "--physician", "Dr Sue Surgeon", "--screen-for-study", "--db", db,
                           "--json"))
    assert decided["screening"] == 1 and decided["screening_decision"] == "not_evaluable"
    shown = one_json(run("board", "show", "1", "--db", db, "--json"))
    case = shown["cases"][0]
    assert (case["subject"], case["decision"]["strategy"], case["decision"]["screening_id"]) == (
        "SPR-001", "preoperative_radiotherapy_surgery", 1)
    text = run("board", "show", "1", "--db", db).output
    assert "Preoperative radiotherapy, then surgery" in text and "Not signed" in text
    listing = run("board", "meeting", "list", "--db", db).output
    assert "2025-01-15" in listing and all(len(line) <= 80 for line in listing.splitlines())
    pdf = tmp_path / "minutes.pdf"
    done = one_json(run("board", "minutes", "1", "--out", str(pdf), "--db", db, "--json"))
    assert done["cases"] == 1 and pdf.read_bytes().startswith(b"%PDF")


def test_board_show_is_readable_at_80_columns(db):
    """A rationale, a question or a signature longer than the terminal wraps under its label instead of
    running past 80 columns (every word kept)."""
    _meeting(db)
    question = "Deep 8 cm undifferentiated pleomorphic sarcoma of the thigh, FNCLCC grade 3: which local treatment?"
    run("board", "case", "1", "--patient", "spr-001", "--question", question, "--db", db)
    rationale = ("Deep, 8 cm, FNCLCC grade 3 sarcoma of the limb: preoperative radiotherapy then surgery "
                 "(ESMO-EURACAN-GENTURIS 2021); to be screened for the study.")
    run("board", "decide", "1", "--strategy", "preoperative_radiotherapy_surgery", "--rationale", rationale,
        "--physician", "Dr Sue Surgeon", "--db", db)
    text = runner.invoke(app, ["board", "show", "1", "--db", db], terminal_width=80).output
    assert max(len(line) for line in text.splitlines()) <= 80, text
    words = " ".join(text.split())
    assert " ".join(rationale.split()) in words and question in words


def test_bad_input_is_one_line(db):
    _meeting(db)
    refused(run("board", "meeting", "new", "--date", "15/01/2025", "--db", db, code=2),
            "date: must be a date written YYYY-MM-DD")
    refused(run("board", "meeting", "attend", "1", "--name", "Dr Y", "--discipline", "barber", "--db", db, code=2),
            "discipline: must be one of surgeon")
    refused(run("board", "case", "1", "--patient", "SPR-404", "--question", "?", "--db", db, code=2),
            "patient: no such subject id in this study")
    run("board", "case", "1", "--patient", "SPR-001", "--question", "Treatment?", "--db", db)
    refused(run("board", "decide", "1", "--strategy", "magic", "--rationale", "x", "--physician", "Dr X", "--db", db,
                code=2), "strategy: must be one of surgery_alone")
    refused(run("board", "decide", "1", "--rationale", "x", "--db", db, code=2),
            "decide: --strategy, --rationale and --physician are required")
    refused(run("board", "show", "9", "--db", db, code=2), "meeting: no such board meeting")


def test_signing_from_the_command_line_and_a_correction_voids_it(db, tmp_path):
    _meeting(db)
    run("board", "case", "1", "--patient", "SPR-001", "--question", "Treatment?", "--db", db)
    run("board", "decide", "1", "--strategy", "surgery_alone", "--rationale", "small superficial", "--physician",
        "Dr Cleo Clinician", "--db", db)
    with StudyDB.open(db) as study:
        me = Actor(OS_USER, "cli os-user")
        access.add_user(study, me, "admin", full_name="Ada Admin", role="admin", password="admin-password-1")
        admin = Actor("admin", "test", password="admin-password-1")
        access.add_user(study, admin, "cleo", full_name="Dr Cleo Clinician", role="clinician", password="cleo-password-1")
        access.add_user(study, admin, "pat", full_name="Dr Paula Path", role="pathologist", password="pat-password-1")
    refused(run("board", "sign", "1", "--meaning", "I approve", "--password-stdin", "--user", "cleo", "--db", db,
                stdin="wrong\n", code=2), "sign-in refused")
    signed = one_json(run("board", "sign", "1", "--meaning", "I approve this decision", "--password-stdin", "--user",
                          "cleo", "--db", db, "--json", stdin="cleo-password-1\n"))
    assert signed["signature"]["printed_name"] == "Dr Cleo Clinician" and signed["signature"]["status"] == "valid"
    refused(run("board", "decide", "1", "--correct", "--rationale", "changed", "--user", "cleo", "--db", db,
                password="cleo-password-1", code=2), "reason: a reason is required to correct a decision")
    out = run("board", "decide", "1", "--correct", "--rationale", "small, superficial, low grade", "--reason",
              "completed", "--user", "cleo", "--db", db, password="cleo-password-1").output
    assert "1 signature(s) voided" in out
    shown = one_json(run("board", "show", "1", "--user", "pat", "--db", db, "--json", password="pat-password-1"))
    assert shown["cases"][0]["decision"]["signatures"][0]["status"] == "voided"
    # a pathologist reads the board but no study form, and prints no identified minutes
    refused(run("patient", "list", "--user", "pat", "--db", db, password="pat-password-1", code=2),
            "(permission read)")
    refused(run("board", "minutes", "1", "--out", str(tmp_path / "m.pdf"), "--identified", "--user", "pat", "--db", db,
                password="pat-password-1", code=2), "(permission read.identifiers)")


def test_second_opinions_from_the_command_line(db, tmp_path):
    document = tmp_path / "outside-report.pdf"
    document.write_bytes(PDF)
    for number, centre in enumerate(("Hospital A", "Hospital A", "Hospital A", "Hospital B"), start=1):
        made = one_json(run("second-opinion", "new", "--patient", f"SPR-00{1 + number % 2}", "--kind", "pathology",
                            "--centre", centre, "--received", "2025-01-30", "--question", "Confirm?", "--db", db,
                            "--json"))
        assert made["second_opinion"] == number
    attached = one_json(run("second-opinion", "attach", "1", str(document), "--db", db, "--json"))
    assert attached["documents"][0]["size_bytes"] == len(PDF) and attached["documents"][0]["media_type"] == \
        "application/pdf"
    refused(run("second-opinion", "review", "1", "--text", "x", "--outcome", "revised", "--reviewer", "Dr P",
                "--report-date", "2025-02-03", "--db", db, code=2), "histotype: a revised pathology diagnosis names")
    run("second-opinion", "review", "1", "--text", "Leiomyosarcoma", "--outcome", "revised", "--histotype",
        "leiomyosarcoma", "--grade", "2", "--reviewer", "Dr P", "--report-date", "2025-02-03", "--db", db)
    for number in (2, 3, 4):
        run("second-opinion", "review", str(number), "--text", "As referred", "--outcome", "confirmed", "--reviewer",
            "Dr P", "--report-date", "2025-02-06", "--db", db)
    listed = one_json(run("second-opinion", "list", "--db", db, "--json"))
    rates = {r["centre"]: r for r in listed["revision_rates"]}
    reference = binomtest(1, 3).proportion_ci(method="exact")
    assert rates["Hospital A"]["revised"] == 1 and rates["Hospital A"]["assessed"] == 3
    assert rates["Hospital A"]["ci"] == pytest.approx([reference.low, reference.high], abs=1e-9)
    assert listed["second_opinions"][0]["turnaround_days"] == 4
    text = run("second-opinion", "list", "--db", db).output
    assert "Hospital A" in text and all(len(line) <= 80 for line in text.splitlines())
    # the revised diagnosis by its WHO name, not the catalogue id
    assert "Leiomyosarcoma," in text and "leiomyosarcoma" not in text and "Docs" in text


def _accounts(db: str) -> None:
    with StudyDB.open(db) as study:
        me = Actor(OS_USER, "cli os-user")
        access.add_user(study, me, "admin", full_name="Ada Admin", role="admin", password="admin-password-1")
        admin = Actor("admin", "test", password="admin-password-1")
        access.add_user(study, admin, "cleo", full_name="Dr Cleo Clinician", role="clinician", password="cleo-password-1")


def _sign_ins(db: str, username: str) -> int:
    from sqlalchemy import func, select

    from sarcotrial.store.models_access import SignInEvent

    with StudyDB.open(db) as study, study.reading() as session:
        return session.scalar(select(func.count(SignInEvent.id)).where(SignInEvent.username == username,
                                                                       SignInEvent.outcome == "success"))


def test_a_new_meeting_signs_in_once(db):
    """One command, one sign-in (on a terminal: the password asked once), and the meeting printed as recorded."""
    _accounts(db)
    before = _sign_ins(db, "cleo")
    made = one_json(run("board", "meeting", "new", "--date", "2025-01-15", "--user", "cleo", "--db", db, "--json",
                        password="cleo-password-1"))
    assert made["id"] == 1 and made["site"] == "MAIN" and made["quorum"]["met"] is False
    assert _sign_ins(db, "cleo") == before + 1
    out = run("board", "meeting", "new", "--date", "2025-01-22", "--user", "cleo", "--db", db,
              password="cleo-password-1").output
    assert out.startswith("Board meeting #2 on 2025-01-22 at MAIN; no quorum: missing surgeon")
    assert _sign_ins(db, "cleo") == before + 2


def test_signing_prints_the_signature_without_reading_every_meeting(db, monkeypatch):
    from sarcotrial.services import board

    _meeting(db)
    run("board", "case", "1", "--patient", "SPR-001", "--question", "Treatment?", "--db", db)
    run("board", "decide", "1", "--strategy", "surgery_alone", "--rationale", "small superficial", "--physician",
        "Dr Cleo Clinician", "--db", db)
    _accounts(db)

    def every_meeting(*args, **kwargs):
        raise AssertionError("board sign read every meeting")

    monkeypatch.setattr(board, "meetings", every_meeting)
    signed = one_json(run("board", "sign", "1", "--meaning", "I approve this decision", "--password-stdin", "--user",
                          "cleo", "--db", db, "--json", stdin="cleo-password-1\n"))
    assert (signed["case"], signed["subject"]) == (1, "SPR-001")
    assert signed["signature"]["manifestation"].startswith("Signed by Dr Cleo Clinician (cleo) on ")
    assert signed["signature"]["manifestation"].endswith(": I approve this decision")


def test_a_screening_refused_after_the_decision_exits_0_and_keeps_the_decision(db):
    """Born 1960, screened on the meeting's date (15 January 2025): aged 64 or 65, not 40 (pathway's rule)."""
    _meeting(db)
    run("board", "case", "1", "--patient", "SPR-001", "--question", "SPRINT?", "--db", db)
    out = run("board", "decide", "1", "--strategy", "preoperative_radiotherapy_surgery", "--rationale", "candidate",
              "--physician", "Dr Sue Surgeon", "--screen-for-study", "--set", "age_years=40", "--db", db).output
    assert out.startswith("Case #1: decision #1 recorded; screening refused: screening.age_years: does not agree "
                          "with the year of birth 1960")
    assert "board screen 1" in out
    shown = one_json(run("board", "show", "1", "--db", db, "--json"))["cases"][0]["decision"]
    assert shown["screen_for_study"] is True and shown["screening_id"] is None
    refused(run("board", "decide", "1", "--strategy", "surgery_alone", "--rationale", "x", "--physician", "Dr X",
                "--db", db, code=2), "is decided already")
    opened = one_json(run("board", "screen", "1", "--set", "age_years=64", "--db", db, "--json"))
    assert opened["screening"] == 1
    assert one_json(run("board", "show", "1", "--db", db, "--json"))["cases"][0]["decision"]["screening_id"] == 1
    # and as JSON: one object naming the refusal
    run("board", "case", "1", "--patient", "SPR-002", "--question", "SPRINT?", "--db", db)
    decided = one_json(run("board", "decide", "2", "--strategy", "trial_screening", "--rationale", "candidate",
                           "--physician", "Dr Sue Surgeon", "--screen-for-study", "--set", "age_years=40", "--db", db,
                           "--json"))
    assert decided["decision"] == 2 and decided["screening"] is None and decided["screening_pending"] is True
    assert decided["screening_refused"].startswith("screening.age_years: does not agree")


def test_attaching_files_stores_all_or_none(db, tmp_path):
    run("second-opinion", "new", "--patient", "SPR-001", "--kind", "pathology", "--centre", "Hospital A",
        "--received", "2025-01-30", "--question", "Confirm?", "--db", db)
    first, second, bad = tmp_path / "report.pdf", tmp_path / "slide.png", tmp_path / "notes.txt"
    first.write_bytes(PDF)
    second.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    bad.write_text("not a document")
    refused(run("second-opinion", "attach", "1", str(first), str(second), str(bad), "--db", db, code=2),
            "document: must be a PDF, PNG, JPEG, TIFF or DICOM file")
    refused(run("second-opinion", "attach", "1", str(first), str(tmp_path / "gone.pdf"), "--db", db, code=2),
            "gone.pdf")
    assert one_json(run("second-opinion", "list", "--db", db, "--json"))["second_opinions"][0]["documents"] == []
    stored = one_json(run("second-opinion", "attach", "1", str(first), str(second), "--db", db, "--json"))
    assert [d["filename"] for d in stored["documents"]] == ["report.pdf", "slide.png"]
    listed = one_json(run("second-opinion", "list", "--db", db, "--json"))["second_opinions"][0]["documents"]
    assert [d["filename"] for d in listed] == ["report.pdf", "slide.png"]
