"""The tumour board through the services: roles, meetings, quorum, cases, decisions, signatures, minutes.

Sources of the rules checked here: FDA 21 CFR 11.10(d) and (g) (access by role, authority checks),
11.50 (a signature's printed name, time and meaning), 11.70 (a signature linked to its record),
11.100 and 11.200(a)(1) (a user account; the password entered again at each signing); EU GMP Annex 11
§12; the ESMO-EURACAN-GENTURIS guidelines (Gronchi et al., Ann Oncol 2021;32:1348-1365) for the
multidisciplinary board whose quorum is the unit's setting ``tumour_board_quorum``.
"""

from __future__ import annotations

import datetime as dt

import pypdfium2
import pytest
from sqlalchemy import func, select, text

from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services import access, board, forms, pathway, views
from sarcotrial.store import audit, db
from sarcotrial.store.models import AuditEntry, IdentifierAccess, Patient, Screening
from sarcotrial.store.models_board import BoardDecision, BoardSignature
from tests.edc_support import password, staff
from tests.helpers import register

MEETING_DAY = dt.date(2025, 1, 15)
QUORUM = [("Dr Sue Surgeon", "surgeon"), ("Dr Rad Onc", "radiation_oncologist"), ("Dr Med Onc", "medical_oncologist"),
          ("Dr Paula Path", "pathologist"), ("Dr Ray Rad", "radiologist")]


@pytest.fixture
def team(study):
    """Two registry patients (registered, never screened), then accounts: investigator, research nurse,
    and the board members who are not trial staff (clinician, pathologist, radiologist)."""
    first = register(study, "H0001").subject_id
    second = register(study, "H0002", name="Other Patient (synthetic)").subject_id
    out = staff(study, roles=("investigator", "research_nurse"))
    out.by_role["clinician"] = out.extra("cleo", "clinician", "Dr Cleo Clinician")
    out.by_role["pathologist"] = out.extra("pat", "pathologist", "Dr Paula Path")
    out.by_role["radiologist"] = out.extra("ray", "radiologist", "Dr Ray Rad")
    out.subjects = (first, second)
    return out


def _meeting(team, attendees=QUORUM) -> int:
    meeting_id = board.new_meeting(team.study, team.clinician, MEETING_DAY)
    for name, discipline in attendees:
        board.attend(team.study, team.research_nurse, meeting_id, name, discipline)
    return meeting_id


def _decided_case(team, meeting_id=None) -> int:
    meeting_id = meeting_id or _meeting(team)
    case_id = board.add_case(team.study, team.clinician, meeting_id, team.subjects[0],
                             "Preoperative treatment of a 9 cm high-grade thigh tumour?")
    board.write_case(team.study, team.radiologist, case_id, "imaging", "MRI: 9 cm deep thigh mass, no metastases on CT")
    board.write_case(team.study, team.pathologist, case_id, "pathology", "Core biopsy: myxofibrosarcoma, FNCLCC grade 3")
    board.decide(team.study, team.clinician, case_id, strategy="preoperative_radiotherapy_surgery",
                 rationale="Deep, large, high grade: preoperative radiotherapy (ESMO 2021)",
                 responsible_physician="Dr Cleo Clinician", today=dt.date(2025, 1, 15))
    return case_id


def _chain_intact(study) -> None:
    with study.reading() as session:
        report = audit.verify_chain(session)
    assert report.ok, report.problems


# --------------------------------------------------------------------------- (1) roles
def test_a_pathologist_cannot_read_or_record_a_study_form(study, team):
    """The board's members who are not trial staff see no study form: reading and entering CRFs are
    refused naming the permission (21 CFR 11.10(g))."""
    subject = team.subjects[0]
    with pytest.raises(AccessDenied, match=r"pat \(pathologist\) may not read study data .*\(permission read\)"):
        views.patients(study, team.pathologist)
    with pytest.raises(AccessDenied, match=r"pat \(pathologist\) may not read study data"):
        pathway.screening_file(study, team.pathologist, subject)
    with pytest.raises(AccessDenied, match=r"pat \(pathologist\) may not enter data on a form \(permission record\)"):
        forms.record(study, team.pathologist, subject, "adverse_event",
                     {"term": "Fatigue", "grade": 1, "onset_date": "2025-05-01"})
    with pytest.raises(AccessDenied, match=r"\(permission patient.screen\)"):
        pathway.screen(study, team.pathologist, subject, {"screening_date": "2025-01-20"})
    # but the pathologist writes the board's pathology and reads the board
    case_id = board.add_case(study, team.clinician, _meeting(team), subject, "Grade?")
    board.write_case(study, team.pathologist, case_id, "pathology", "Myxofibrosarcoma, grade 2")
    assert board.meeting(study, team.pathologist, 1).cases[0].pathology_summary == "Myxofibrosarcoma, grade 2"


def test_each_discipline_writes_its_own_part(study, team):
    meeting_id = _meeting(team)
    case_id = board.add_case(study, team.clinician, meeting_id, team.subjects[0], "Treatment?")
    with pytest.raises(AccessDenied, match=r"\(permission board.imaging\)"):
        board.write_case(study, team.pathologist, case_id, "imaging", "MRI ...")
    with pytest.raises(AccessDenied, match=r"\(permission board.pathology\)"):
        board.write_case(study, team.radiologist, case_id, "pathology", "biopsy ...")
    with pytest.raises(AccessDenied, match=r"\(permission board.decide\)"):
        board.decide(study, team.pathologist, case_id, strategy="surgery_alone", rationale="x",
                     responsible_physician="Dr X", today=MEETING_DAY)
    with pytest.raises(AccessDenied, match=r"\(permission board.meeting\)"):
        board.new_meeting(study, team.radiologist, MEETING_DAY)
    # the trail names who wrote each part
    board.write_case(study, team.radiologist, case_id, "imaging", "MRI: 6 cm")
    with study.reading() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.table_name == "board_case",
                                                         AuditEntry.field == "imaging_summary")).one()
    assert (entry.actor, entry.new_value, entry.subject_id, entry.reason) == ("ray", "MRI: 6 cm", team.subjects[0],
                                                                             "imaging summary entered")


def test_a_changed_summary_needs_a_reason(study, team):
    case_id = _decided_case(team)
    with pytest.raises(InvalidValue, match="reason: a reason is required to change the pathology summary"):
        board.write_case(study, team.pathologist, case_id, "pathology", "Revised: leiomyosarcoma, grade 3")
    assert board.write_case(study, team.pathologist, case_id, "pathology", "Revised: leiomyosarcoma, grade 3",
                            reason="resection specimen reviewed") == 0  # nothing signed yet


# --------------------------------------------------------------------------- (2) meetings and quorum
def test_quorum_from_the_setting_and_kept_with_the_meeting(study, team):
    """Quorum: each discipline of the setting ``tumour_board_quorum`` has a member present."""
    meeting_id = board.new_meeting(study, team.clinician, MEETING_DAY)
    assert board.meeting(study, team.clinician, meeting_id).quorum.missing == (
        "surgeon", "radiation_oncologist", "medical_oncologist", "pathologist", "radiologist")
    for name, discipline in QUORUM[:4]:
        held = board.attend(study, team.research_nurse, meeting_id, name, discipline)
    assert not held.met and held.missing == ("radiologist",)
    held = board.attend(study, team.research_nurse, meeting_id, "Dr Ray Rad", "Radiologist", username="ray")
    assert held.met
    with pytest.raises(InvalidValue, match="name: is already recorded as present"):
        board.attend(study, team.research_nurse, meeting_id, "dr ray rad", "radiologist")
    with pytest.raises(InvalidValue, match="discipline: must be one of surgeon, radiation_oncologist"):
        board.attend(study, team.research_nurse, meeting_id, "Mr X", "astrologer")
    # a later change of the setting applies to later meetings only
    access.set_setting(study, team.admin, "tumour_board_quorum", "surgeon,psychologist", "local rule changed")
    assert board.meeting(study, team.clinician, meeting_id).quorum.met
    later = board.new_meeting(study, team.clinician, MEETING_DAY)
    assert board.meeting(study, team.clinician, later).quorum.required == ("surgeon", "psychologist")


def test_a_meeting_without_quorum_is_recorded_and_its_decisions_flagged(study, team):
    meeting_id = _meeting(team, attendees=QUORUM[:3])
    case_id = _decided_case(team, meeting_id)
    view = board.meeting(study, team.pathologist, meeting_id)
    assert not view.quorum.met and view.quorum.missing == ("pathologist", "radiologist")
    assert view.cases[0].decision.flags == ("taken without quorum",)
    assert view.quorum.describe() == "no quorum: missing pathologist, radiologist"
    full = _meeting(team)
    board.add_case(study, team.clinician, full, team.subjects[1], "Follow-up?")
    assert case_id and board.meeting(study, team.clinician, full).quorum.met


def test_decisions_are_checked(study, team):
    meeting_id = _meeting(team)
    case_id = board.add_case(study, team.clinician, meeting_id, team.subjects[0], "Treatment?")
    with pytest.raises(InvalidValue, match="strategy: must be one of surgery_alone"):
        board.decide(study, team.clinician, case_id, strategy="homeopathy", rationale="x",
                     responsible_physician="Dr X", today=MEETING_DAY)
    with pytest.raises(InvalidValue, match="rationale: must not be empty"):
        board.decide(study, team.clinician, case_id, strategy="surgery_alone", rationale="  ",
                     responsible_physician="Dr X", today=MEETING_DAY)
    with pytest.raises(InvalidValue, match="decision: the meeting is on 2025-01-15"):
        board.decide(study, team.clinician, case_id, strategy="surgery_alone", rationale="small, superficial",
                     responsible_physician="Dr X", today=dt.date(2025, 1, 14))
    board.decide(study, team.clinician, case_id, strategy="surgery alone", rationale="small, superficial",
                 responsible_physician="Dr X", today=MEETING_DAY)
    with pytest.raises(InvalidValue, match="is decided already"):
        board.decide(study, team.clinician, case_id, strategy="surgery_alone", rationale="again",
                     responsible_physician="Dr X", today=MEETING_DAY)
    with pytest.raises(InvalidValue, match="is already on the list of meeting"):
        board.add_case(study, team.clinician, meeting_id, team.subjects[0], "Again?")
    with pytest.raises(InvalidValue, match="patient: no such subject id"):
        board.add_case(study, team.clinician, meeting_id, "SPR-999", "Who?")


def test_a_site_limited_member_sees_only_their_sites_meetings(study, team):
    access.add_site(study, team.admin, "SAT", "Satellite")
    meeting_id = _meeting(team)
    outsider = team.extra("sam", "clinician", "Dr Sam Satellite", sites=["SAT"])
    assert board.meetings(study, outsider) == []
    with pytest.raises(InvalidValue, match="meeting: no such board meeting"):
        board.meeting(study, outsider, meeting_id)
    with pytest.raises(AccessDenied, match="works on the patients of SAT only"):
        board.new_meeting(study, outsider, MEETING_DAY, site_code="MAIN")


# --------------------------------------------------------------------------- signing
def test_a_decision_is_signed_like_a_crf_and_a_correction_voids_it(study, team):
    """21 CFR 11.200(a)(1): the password again; 11.50: printed name, time, meaning; 11.70: a change voids."""
    case_id = _decided_case(team)
    with pytest.raises(InvalidValue, match="meaning: say what the signature means"):
        board.sign_decision(study, team.clinician, case_id, password("cleo"), " ")
    # the signer is signed in: the password is what was wrong (not "unknown user or wrong password")
    with pytest.raises(AccessDenied, match="signature refused: wrong password"):
        board.sign_decision(study, team.clinician, case_id, "wrong-password", "I approve this decision")
    with pytest.raises(AccessDenied, match=r"\(permission board.sign\)"):
        board.sign_decision(study, team.pathologist, case_id, password("pat"), "I approve this decision")
    at = dt.datetime(2025, 1, 15, 17, 30, tzinfo=dt.timezone.utc)
    board.sign_decision(study, team.clinician, case_id, password("cleo"), "I approve this decision", now=at)
    with pytest.raises(InvalidValue, match="signature: already signed by you at 2025-01-15 17:30 UTC"):
        board.sign_decision(study, team.clinician, case_id, password("cleo"), "I approve this decision")
    board.sign_decision(study, team.investigator, case_id, password("ivy"), "Reviewed as responsible investigator")
    decision = board.meeting(study, team.clinician, 1).cases[0].decision
    assert decision.signed and [s.status for s in decision.signatures] == ["valid", "valid"]
    assert decision.signatures[0].manifestation() == ("Signed by Dr Cleo Clinician (cleo) on 2025-01-15 17:30 UTC: "
                                                      "I approve this decision")
    with pytest.raises(InvalidValue, match="reason: a reason is required"):
        board.correct_decision(study, team.clinician, case_id, "", rationale="changed")
    assert board.correct_decision(study, team.clinician, case_id, "typing error",
                                  responsible_physician="Dr Ivy Investigator") == 2
    decision = board.meeting(study, team.clinician, 1).cases[0].decision
    assert not decision.signed and decision.revision == 2
    assert all(s.status == "voided" and "the decision's responsible physician by cleo" in s.voided_reason
               for s in decision.signatures)
    # signed again; then a corrected summary voids it too
    board.sign_decision(study, team.clinician, case_id, password("cleo"), "I approve this decision")
    assert board.write_case(study, team.radiologist, case_id, "imaging", "MRI: 9.5 cm on re-measurement",
                            reason="re-measured") == 1
    _chain_intact(study)


def test_a_signed_decision_changed_around_sarcotrial_shows_broken(study, team):
    case_id = _decided_case(team)
    board.sign_decision(study, team.clinician, case_id, password("cleo"), "I approve this decision")
    engine = db.make_engine(study.url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE board_decision SET strategy = 'follow_up_only'"))
    engine.dispose()
    signature = board.meeting(study, team.clinician, 1).cases[0].decision.signatures[0]
    assert signature.status == "broken" and "INVALID" in signature.manifestation()
    with study.reading() as session:
        assert not audit.verify_chain(session).ok  # and the audit replay names the change


def test_a_signature_needs_an_account(study):
    """No accounts yet: nobody can sign (21 CFR 11.100)."""
    from sarcotrial.services.study import Actor

    os_user = Actor("tester", "test")
    subject = register(study).subject_id
    meeting_id = board.new_meeting(study, os_user, MEETING_DAY)
    case_id = board.add_case(study, os_user, meeting_id, subject, "Treatment?")
    board.decide(study, os_user, case_id, strategy="surgery_alone", rationale="small", responsible_physician="Dr X",
                 today=MEETING_DAY)
    with pytest.raises(AccessDenied, match="an electronic signature needs a user account"):
        board.sign_decision(study, os_user, case_id, "any-password", "I approve")


# --------------------------------------------------------------------------- screening from the board
def test_screen_for_the_study_opens_screening_on_the_same_patient(study, team):
    """The registry patient becomes a screened patient: one row, one subject id, nothing typed twice."""
    meeting_id = _meeting(team)
    case_id = board.add_case(study, team.clinician, meeting_id, team.subjects[0], "SPRINT?")
    result = board.decide(study, team.investigator, case_id, strategy="preoperative_radiotherapy_surgery",
                          rationale="candidate for SPRINT", responsible_physician="Dr Ivy Investigator",
                          screen_for_study=True, screening={"histology_confirmed": True}, today=MEETING_DAY)
    assert result.screening_id is not None and result.screening_decision == "not_evaluable"
    with study.reading() as session:
        patients = session.scalars(select(Patient).order_by(Patient.id)).all()
        screening = session.get(Screening, result.screening_id)
        decision = session.get(BoardDecision, result.decision_id)
        assert len(patients) == 2 and screening.patient_id == patients[0].id
        assert screening.screening_date == MEETING_DAY and decision.screening_id == screening.id
        assert patients[0].status == "screening"
    assert board.meeting(study, team.clinician, meeting_id).cases[0].decision.screening_id == result.screening_id


def test_a_clinician_asks_for_screening_and_the_nurse_opens_it(study, team):
    meeting_id = _meeting(team)
    case_id = board.add_case(study, team.clinician, meeting_id, team.subjects[1], "SPRINT?")
    result = board.decide(study, team.clinician, case_id, strategy="trial_screening", rationale="candidate",
                          responsible_physician="Dr Cleo Clinician", screen_for_study=True, today=MEETING_DAY)
    assert result.screening_id is None and result.screening_pending
    with pytest.raises(AccessDenied, match=r"\(permission patient.screen\)"):
        board.open_screening(study, team.clinician, case_id)
    opened = board.open_screening(study, team.research_nurse, case_id)
    assert opened.screening_id is not None
    with pytest.raises(InvalidValue, match="the screening was opened already"):
        board.open_screening(study, team.research_nurse, case_id)


def test_screening_is_not_asked_of_a_study_that_takes_no_patient(study, team):
    """The case file says "closed to accrual" of a locked study (or one whose target is enrolled); a decision
    asking to screen for it then is refused, naming why, and nothing of the decision is written."""
    from sarcotrial.services import review

    meeting_id = _meeting(team)
    case_id = board.add_case(study, team.clinician, meeting_id, team.subjects[0], "SPRINT?")
    manager = team.extra("dora", "data_manager", "Dora Data")
    review.lock(study, manager, whole_study=True)
    with pytest.raises(InvalidValue, match=r"screen_for_study: SPRINT takes no patient now: the study is locked"):
        board.decide(study, team.clinician, case_id, strategy="preoperative_radiotherapy_surgery",
                     rationale="candidate", responsible_physician="Dr Cleo Clinician", screen_for_study=True,
                     today=MEETING_DAY)
    assert board.meeting(study, team.clinician, meeting_id).cases[0].decision is None
    decided = board.decide(study, team.clinician, case_id, strategy="preoperative_radiotherapy_surgery",
                           rationale="treated off study", responsible_physician="Dr Cleo Clinician", today=MEETING_DAY)
    assert decided.decision_id and not decided.screening_pending

# --------------------------------------------------------------------------- (3) minutes
def _pdf_text(path) -> str:
    document = pypdfium2.PdfDocument(str(path))
    try:
        return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


def test_minutes_name_patients_by_subject_id_only(study, team, tmp_path):
    case_id = _decided_case(team)
    board.sign_decision(study, team.clinician, case_id, password("cleo"), "I approve this decision")
    out = tmp_path / "minutes.pdf"
    board.write_minutes(study, team.clinician, 1, out)
    content = " ".join(_pdf_text(out).split())
    for expected in ("Tumour board minutes: 15 January 2025", "Dr Sue Surgeon", "Quorum met", team.subjects[0],
                     "Preoperative treatment of a 9 cm high-grade thigh tumour?", "myxofibrosarcoma",
                     "Preoperative radiotherapy, then surgery", "Dr Cleo Clinician",
                     "Signed by Dr Cleo Clinician (cleo)", "I approve this decision"):
        assert expected in content, expected
    assert "Test Patient" not in content


def test_an_identified_print_needs_a_role_that_reads_identifiers(study, team, tmp_path):
    _decided_case(team)
    with pytest.raises(AccessDenied, match=r"\(permission read.identifiers\)"):
        board.write_minutes(study, team.clinician, 1, tmp_path / "x.pdf", identified=True)
    out = tmp_path / "identified.pdf"
    board.write_minutes(study, team.investigator, 1, out, identified=True)
    assert "Test Patient (synthetic)" in " ".join(_pdf_text(out).split())
    with study.reading() as session:
        logged = session.scalars(select(IdentifierAccess)).all()
    assert [a.purpose for a in logged] == ["tumour board minutes, meeting #1"]


def test_minutes_of_a_meeting_without_quorum_say_so(study, team, tmp_path):
    _decided_case(team, _meeting(team, attendees=QUORUM[1:]))
    out = tmp_path / "minutes.pdf"
    board.write_minutes(study, team.pathologist, 1, out)
    content = " ".join(_pdf_text(out).split())
    assert "No quorum: missing surgeon" in content and "taken without quorum" in content


# --------------------------------------------------------------------------- everything audited
def test_every_board_write_is_in_the_audit_trail(study, team):
    case_id = _decided_case(team)
    board.sign_decision(study, team.clinician, case_id, password("cleo"), "I approve this decision")
    with study.reading() as session:
        tables = set(session.scalars(select(AuditEntry.table_name).distinct()))
        signed = session.scalar(select(func.count(BoardSignature.id)))
    assert {"board_meeting", "board_attendee", "board_case", "board_decision", "board_signature"} <= tables
    assert signed == 1
    _chain_intact(study)


# --------------------------------------------------------------------------- migration
def test_revision_0011_upgrades_a_0010_database_and_back(database_url):
    from sqlalchemy import inspect

    engine = db.make_engine(database_url)
    try:
        db.upgrade(engine, "0010")
        assert "board_meeting" not in inspect(engine).get_table_names()
        db.upgrade(engine, "0011")
        tables = set(inspect(engine).get_table_names())
        assert {"board_meeting", "board_attendee", "board_case", "board_decision", "board_signature",
                "second_opinion", "second_opinion_document"} <= tables
        db.downgrade(engine, "0010")
        assert not {"board_meeting", "second_opinion"} & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- writes decided inside their transaction
def _racing(monkeypatch, study, first_writer) -> list:
    """Make ``first_writer`` commit just before the next action opens: the interleaving of two users who
    both saw an empty summary, deterministic (the second's action starts after the first's commit)."""
    real = study.action
    raced: list = []

    def action(*args, **kwargs):
        if not raced:
            raced.append(True)
            first_writer()
        return real(*args, **kwargs)

    monkeypatch.setattr(study, "action", action)
    return raced


def test_a_summary_written_meanwhile_is_not_overwritten_without_a_reason(study, team, monkeypatch):
    """Two radiologists write the first imaging summary at once: the second meets a summary already entered,
    so its write is a change and needs a reason (decided inside the write transaction, not from a read before)."""
    case_id = board.add_case(study, team.clinician, _meeting(team), team.subjects[0], "Treatment?")
    raced = _racing(monkeypatch, study,
                    lambda: board.write_case(study, team.radiologist, case_id, "imaging", "MRI: 9 cm, first reader"))
    with pytest.raises(InvalidValue, match="reason: a reason is required to change the imaging summary"):
        board.write_case(study, team.radiologist, case_id, "imaging", "MRI: 7 cm, second reader")
    assert raced
    assert board.meeting(study, team.clinician, 1).cases[0].imaging_summary == "MRI: 9 cm, first reader"
    # with a reason the change is made, and the trail keeps the user's reason, not "entered"
    board.write_case(study, team.radiologist, case_id, "imaging", "MRI: 7 cm, second reader", reason="re-measured")
    with study.reading() as session:
        reasons = session.scalars(select(AuditEntry.reason).where(AuditEntry.table_name == "board_case",
                                                                  AuditEntry.field == "imaging_summary")
                                  .order_by(AuditEntry.id)).all()
    assert reasons == ["imaging summary entered", "re-measured"]
    _chain_intact(study)


def test_cases_added_at_once_never_share_a_position(study, team):
    """Agenda positions are numbered inside the serialised write (BEGIN IMMEDIATE on SQLite, the write
    advisory lock on PostgreSQL): eight clinicians' threads adding cases together get 1 to 8."""
    import threading

    meeting_id = _meeting(team)
    subjects = []
    for number in range(3, 11):
        # the study has accounts now: the research nurse registers
        subjects.append(pathway.register_patient(
            study, team.research_nurse, identifiers=pathway.Identifiers(f"Patient {number} (synthetic)",
                                                                        dt.date(1960, 5, 1), f"H{number:04d}"),
            sex="female", referral={"referral_date": "2025-01-10", "anatomic_site": "extremity"}).subject_id)
    board.meeting(study, team.clinician, meeting_id)  # signed in once, before the threads
    start, errors = threading.Barrier(len(subjects)), []

    def add(subject):
        try:
            start.wait(timeout=30)
            board.add_case(study, team.clinician, meeting_id, subject, "Treatment?")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(s,)) for s in subjects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    positions = sorted(c.position for c in board.meeting(study, team.clinician, meeting_id).cases)
    assert positions == list(range(1, len(subjects) + 1))


def test_a_screening_refused_after_the_decision_is_reported_and_the_decision_kept(study, team):
    """The decision commits; pathway then refuses the screening (an age that disagrees with the year of
    birth 1960 at the meeting's date, 15 January 2025: 64 or 65): reported, not raised; nothing of the
    screening stored; opened once corrected, and linked to the decision."""
    case_id = board.add_case(study, team.clinician, _meeting(team), team.subjects[0], "SPRINT?")
    result = board.decide(study, team.investigator, case_id, strategy="preoperative_radiotherapy_surgery",
                          rationale="candidate for SPRINT", responsible_physician="Dr Ivy Investigator",
                          screen_for_study=True, screening={"age_years": 40}, today=MEETING_DAY)
    assert result.screening_id is None and result.screening_pending
    assert result.screening_refused.startswith("screening.age_years: does not agree with the year of birth 1960")
    assert result.describe().startswith(f"decision #{result.decision_id} recorded; screening refused: "
                                        "screening.age_years")
    assert result.as_dict()["screening_refused"] == result.screening_refused
    with study.reading() as session:
        assert session.scalar(select(func.count(Screening.id))) == 0
        assert session.get(BoardDecision, result.decision_id).screening_id is None
    opened = board.open_screening(study, team.investigator, case_id, {"age_years": 64})
    assert opened.decision_id == result.decision_id and opened.screening_id is not None
    assert board.meeting(study, team.clinician, 1).cases[0].decision.screening_id == opened.screening_id
    _chain_intact(study)


def test_signing_returns_the_signature_as_it_reads(study, team):
    case_id = _decided_case(team)
    at = dt.datetime(2025, 1, 15, 18, 0, tzinfo=dt.timezone.utc)
    signed = board.sign_decision(study, team.clinician, case_id, password("cleo"), "I approve this decision", now=at)
    assert (signed.case_id, signed.subject, signed.signature.status) == (case_id, team.subjects[0], "valid")
    assert signed.signature.manifestation() == ("Signed by Dr Cleo Clinician (cleo) on 2025-01-15 18:00 UTC: "
                                                "I approve this decision")
    assert board.meeting(study, team.clinician, 1).cases[0].decision.signatures[0] == signed.signature


def test_a_meeting_recorded_is_returned_as_read(study, team):
    view = board.record_meeting(study, team.clinician, MEETING_DAY, note="Weekly")
    assert view == board.meeting(study, team.clinician, view.id)
    assert (view.site, view.note, view.attendees, view.cases) == ("MAIN", "Weekly", (), ())
    assert not view.quorum.met and "surgeon" in view.quorum.missing


def test_a_site_member_sees_the_main_sites_meeting_that_discussed_their_patient(study, team):
    """A satellite's patient is discussed at the main site's board: a member limited to the satellite sees
    that meeting and their patient's case, and the minutes say how many cases of other sites are not
    shown (never silently fewer)."""
    access.add_site(study, team.admin, "SAT", "Satellite")
    sat_patient = pathway.register_patient(
        study, team.research_nurse, identifiers=pathway.Identifiers("Sat Patient (synthetic)", dt.date(1970, 1, 1), "S01"),
        sex="male", referral={"referral_date": "2025-01-10", "anatomic_site": "extremity"}, site_code="SAT").subject_id
    meeting_id = _meeting(team)
    board.add_case(study, team.clinician, meeting_id, team.subjects[0], "Main patient's question")
    board.add_case(study, team.clinician, meeting_id, sat_patient, "Satellite patient's question")
    outsider = team.extra("sam", "clinician", "Dr Sam Satellite", sites=["SAT"])
    (seen,) = board.meetings(study, outsider)
    assert seen.id == meeting_id and [c.subject for c in seen.cases] == [sat_patient] and seen.hidden == 1
    assert seen.hidden_note == "1 case of patients of other sites is not shown"
    assert board.meeting(study, team.clinician, meeting_id).hidden == 0
