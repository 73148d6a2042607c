"""Review of collected data: source-data verification, electronic signatures and locks.

Sources: ICH E6(R3) (monitoring: source data verification by the monitor; the investigator's
responsibility for the data, shown by signature); FDA 21 CFR 11.50 (a signature shows the printed
name, the date and time, and the meaning), 11.70 (a signature is linked to its record so that it
cannot be transferred or kept over changed values), 11.200(a)(1) (the password is entered again at
each signing); EU GMP Annex 11 §14 (electronic signatures) and §12 (access by role). Locks: a
locked CRF, patient or study refuses every change until a data manager unlocks it with a reason.

The patient is ``tests.edc_support.operated`` with a pathology report; counts of entered fields are
worked out by hand from the values ``tests.helpers`` and ``tests.edc_support`` enter.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services import forms, pathway, queries, review, views, visits
from sarcotrial.store.models import AuditEntry, CRFInstance, DataLock, Signature
from sarcotrial.store.models_access import SignInEvent
from tests.edc_support import PATHOLOGY, operated, password, staff
from tests.helpers import DOCTOR, NURSE, SCREENING, register, treated

PATHOLOGY_FIELDS = ["closest_margin_mm", "closest_margin_tissue", "microscopic_margin_positive", "report_date",
                    "viable_percent"]
MEANING = "I have reviewed these data and confirm they are accurate"


@pytest.fixture
def team(study, fast_hashing):
    subject = operated(study, pathology=True)
    out = staff(study)
    out.subject = subject
    return out


def pathology(study, actor) -> forms.CRF:
    return views.form_instances(study, actor, "SPR-001", "pathology")[0]


def signature_rows(study) -> list[Signature]:
    with study.reading() as session:
        rows = session.scalars(select(Signature).order_by(Signature.id)).all()
        for row in rows:
            session.expunge(row)
        return rows


# --------------------------------------------------------------------------- source-data verification
def test_sdv_of_one_field_then_the_whole_form(study, team):
    assert review.verify_source(study, team.monitor, team.subject, "pathology", field_id="viable_percent") == [
        "viable_percent"]
    with pytest.raises(InvalidValue, match="viable_percent already verified"):
        review.verify_source(study, team.monitor, team.subject, "pathology", field_id="viable_percent")
    with pytest.raises(InvalidValue, match="pathology.necrosis_percent holds no value to verify"):
        review.verify_source(study, team.monitor, team.subject, "pathology", field_id="necrosis_percent")
    assert review.verify_source(study, team.monitor, team.subject, "pathology") == [
        f for f in PATHOLOGY_FIELDS if f != "viable_percent"]
    verified = pathology(study, team.monitor).verified
    assert sorted(verified) == PATHOLOGY_FIELDS and all(v.startswith("mona 20") for v in verified.values())


def test_a_correction_clears_the_verification_of_the_changed_field_only(study, team):
    """ICH E6(R3): what was verified is what the source says; a changed value must be verified again."""
    review.verify_source(study, team.monitor, team.subject, "pathology")
    forms.correct(study, team.research_nurse, team.subject, "pathology", {"closest_margin_mm": 4},
                  reason="re-measured on the slide")
    assert sorted(pathology(study, team.monitor).verified) == [f for f in PATHOLOGY_FIELDS if f != "closest_margin_mm"]
    state = next(f for v in visits.visits(study, team.monitor, team.subject) if v.visit_id == "surgery"
                 for f in v.forms if f.form_id == "pathology")
    assert (state.status, state.verified) == ("complete", False)
    # a value replaced by a missing-data code is a change too
    forms.correct(study, team.research_nurse, team.subject, "pathology", {}, reason="tissue not recorded in the report",
                  missing={"closest_margin_tissue": "UNK"})
    assert sorted(pathology(study, team.monitor).verified) == ["microscopic_margin_positive", "report_date",
                                                               "viable_percent"]


def test_sdv_progress_per_patient_and_per_site(study, fast_hashing):
    """Fields entered for a treated patient with pathology: referral 2 + screening 10 + consent 3 + rt_course 2
    + 25 fractions x 3 + surgery 3 + pathology 5 = 100 fields in 31 forms; a second patient without pathology
    has 95 fields in 30 forms."""
    first = treated(study)
    forms.record(study, DOCTOR, first, "pathology", PATHOLOGY)
    second = treated(study, "H0002")
    team = staff(study)
    review.verify_source(study, team.monitor, first, "pathology")
    review.verify_source(study, team.monitor, first, "surgery")
    review.verify_source(study, team.monitor, second, "surgery", field_id="surgery_date")
    rows = {p.subject: p for p in review.sdv_progress(study, team.monitor)}
    assert (rows[first].fields_entered, rows[first].fields_verified, rows[first].forms_entered,
            rows[first].forms_verified, rows[first].percent) == (100, 8, 31, 2, 8.0)
    assert (rows[second].fields_entered, rows[second].fields_verified, rows[second].forms_entered,
            rows[second].forms_verified) == (95, 1, 30, 0)
    assert review.sdv_by_site(list(rows.values())) == [
        {"site": "MAIN", "patients": 2, "fields_entered": 195, "fields_verified": 9, "percent": 4.6}]


def test_only_the_monitor_verifies(study, team):
    for role in ("research_nurse", "investigator", "data_manager", "statistician"):
        with pytest.raises(AccessDenied, match="may not mark data source-verified"):
            review.verify_source(study, getattr(team, role), team.subject, "pathology")
    assert pathology(study, team.monitor).verified == {}


# --------------------------------------------------------------------------- electronic signatures
def test_signing_a_form_shows_name_time_and_meaning(study, team):
    """21 CFR 11.50: printed name, date and time, meaning; the password entered again (11.200(a)(1))."""
    at = dt.datetime(2025, 5, 2, 9, 30, tzinfo=dt.UTC)
    number = review.sign(study, team.investigator, team.subject, password("ivy"), MEANING, form_id="pathology", now=at)
    [shown] = review.signatures(study, team.monitor, team.subject)
    assert (shown.id, shown.scope, shown.form_id, shown.visit, shown.printed_name, shown.signer, shown.status) == (
        number, "crf", "pathology", "surgery", "Dr Ivy Investigator", "ivy", "valid")
    assert shown.manifestation() == (f"Signed by Dr Ivy Investigator (ivy) on 2025-05-02 09:30 UTC: {MEANING} "
                                     "[pathology at surgery]")
    with pytest.raises(InvalidValue, match="already signed by you at 2025-05-02 09:30 UTC"):
        review.sign(study, team.investigator, team.subject, password("ivy"), MEANING, form_id="pathology")


def test_signing_the_casebook(study, team):
    review.sign(study, team.investigator, team.subject, password("ivy"), "I approve this casebook")
    [shown] = review.signatures(study, team.monitor, team.subject)
    assert (shown.scope, shown.form_id, shown.status) == ("casebook", None, "valid")
    assert shown.manifestation().endswith(": I approve this casebook [casebook]")
    assert all(f.signed for v in visits.visits(study, team.monitor, team.subject) for f in v.forms
               if f.status != "expected")


def test_a_correction_voids_the_signature_naming_the_change(study, team):
    """21 CFR 11.70: a signature is bound to the values signed; changing one voids it, visibly."""
    review.sign(study, team.investigator, team.subject, password("ivy"), MEANING, form_id="pathology")
    review.sign(study, team.investigator, team.subject, password("ivy"), "I approve this casebook")
    forms.correct(study, team.research_nurse, team.subject, "pathology", {"closest_margin_mm": 4},
                  reason="re-measured on the slide")
    shown = review.signatures(study, team.monitor, team.subject)
    assert [s.status for s in shown] == ["voided", "voided"]
    for s in shown:
        assert s.voided_reason.startswith("signature voided by the change of pathology.closest_margin_mm by nina at ")
        assert s.voided_reason.endswith(" UTC") and "VOID: signature voided by the change" in s.manifestation()
    report = views.verify_audit(study, team.monitor)  # the voiding is an audited change, the trail replays
    assert report.ok, report.problems


def test_a_form_entered_after_the_casebook_signature_voids_it(study, team):
    """21 CFR 11.70: the casebook signed no longer holds the values signed once a form is added to it (or marked
    not done): the signature is voided naming the entry, not left valid over unsigned data, nor reported as if
    the values had been changed around SarcoTrial."""
    review.sign(study, team.investigator, team.subject, password("ivy"), "I approve this casebook")
    forms.record(study, team.research_nurse, team.subject, "follow_up",
                 {"visit_date": "2025-07-20", "disease_status": "ned"})
    [shown] = review.signatures(study, team.monitor, team.subject)
    assert shown.status == "voided"
    assert shown.voided_reason.startswith("signature voided by the change of follow_up.disease_status, "
                                          "follow_up.visit_date by nina at ")
    follow_up = next(f for v in visits.visits(study, team.monitor, team.subject) for f in v.forms
                     if f.form_id == "follow_up" and f.crf_id is not None)
    assert (follow_up.status, follow_up.signed) == ("complete", False)
    review.sign(study, team.investigator, team.subject, password("ivy"), "I approve this casebook again")
    forms.mark_not_done(study, team.research_nurse, team.subject, "follow_up", "follow_up_early:2", "did not attend")
    assert [s.status for s in review.signatures(study, team.monitor, team.subject)] == ["voided", "voided"]


def test_a_change_of_a_derived_value_voids_the_signature_too(study, team):
    """Surgery corrected to macroscopic residual: the pathology's R status (UICC) becomes R2, and the signature on
    the pathology form, bound to its derived values, is voided naming pathology.r_status."""
    review.sign(study, team.investigator, team.subject, password("ivy"), MEANING, form_id="pathology")
    forms.correct(study, team.research_nurse, team.subject, "surgery", {"macroscopic_residual": True},
                  reason="operative note: residual tumour on the sciatic nerve")
    assert pathology(study, team.monitor).derived["r_status"] == "R2"
    [shown] = review.signatures(study, team.monitor, team.subject)
    assert shown.status == "voided" and "pathology.r_status" in shown.voided_reason


def test_a_wrong_password_signs_nothing(study, team):
    with pytest.raises(AccessDenied, match="sign-in refused: unknown user or wrong password"):
        review.sign(study, team.investigator, team.subject, "not-my-password", MEANING, form_id="pathology")
    assert signature_rows(study) == []
    with study.reading() as session:
        events = session.execute(select(SignInEvent.method, SignInEvent.outcome).where(
            SignInEvent.username == "ivy")).all()
    assert ("signature", "wrong_password") in [tuple(e) for e in events]


def test_values_changed_around_sarcotrial_break_the_signature(study, team):
    """A value changed by direct SQL (no correction, no audit entry) no longer hashes to what was signed: the
    signature is reported broken, and the audit trail's replay names the record (Annex 11 §9, 21 CFR 11.10(e))."""
    review.sign(study, team.investigator, team.subject, password("ivy"), MEANING, form_id="pathology")
    crf = pathology(study, team.monitor)
    with study.engine.begin() as connection:
        data = {**{k: v for k, v in connection.execute(select(CRFInstance.data).where(
            CRFInstance.id == crf.id)).scalar_one().items()}, "viable_percent": 40.0}
        connection.execute(update(CRFInstance).where(CRFInstance.id == crf.id).values(data=data))
    [shown] = review.signatures(study, team.monitor, team.subject)
    assert shown.status == "broken"
    assert "INVALID: the signed values no longer match (changed around SarcoTrial)" in shown.manifestation()
    report = views.verify_audit(study, team.monitor)
    assert not report.ok


def test_an_incomplete_form_or_an_open_query_refuses_signing(study, fast_hashing):
    subject = operated(study, pathology=True)
    other = register(study, "H0002")
    partial = {k: v for k, v in SCREENING.items() if k != "planned_amputation"}
    pathway.screen(study, NURSE, other.subject_id, {"screening_date": "2025-01-20", **partial})
    team = staff(study)
    with pytest.raises(InvalidValue, match="screening: is incomplete; a form is signed once complete"):
        review.sign(study, team.investigator, other.subject_id, password("ivy"), MEANING, form_id="screening")
    with pytest.raises(InvalidValue, match=r"SPR-002 has incomplete forms \(screening\); complete them first"):
        review.sign(study, team.investigator, other.subject_id, password("ivy"), MEANING)
    number = queries.open_query(study, team.monitor, subject, "pathology", "viable_percent", "3 % or 30 %?")
    with pytest.raises(InvalidValue, match=rf"1 query\(ies\) not closed on what is to be signed \(#{number}\)"):
        review.sign(study, team.investigator, subject, password("ivy"), MEANING, form_id="pathology")
    with pytest.raises(InvalidValue, match="not closed on what is to be signed"):
        review.sign(study, team.investigator, subject, password("ivy"), MEANING)
    assert signature_rows(study) == []
    queries.respond(study, team.investigator, number, "confirmed", "3 %")
    queries.close(study, team.monitor, number)
    review.sign(study, team.investigator, subject, password("ivy"), MEANING, form_id="pathology")
    assert [s.status for s in review.signatures(study, team.monitor, subject)] == ["valid"]


def test_only_the_investigator_signs(study, team):
    for role in ("research_nurse", "monitor", "data_manager", "statistician"):
        username = getattr(team, role).name
        with pytest.raises(AccessDenied, match="may not sign a form electronically"):
            review.sign(study, getattr(team, role), team.subject, password(username), MEANING, form_id="pathology")
    assert signature_rows(study) == []


# --------------------------------------------------------------------------- locks
def lock_refusals(study, team, subject: str) -> dict[str, str]:
    """What each change to the pathology form answers under the current locks."""
    attempts = {
        "record": lambda: forms.record(study, team.research_nurse, subject, "follow_up",
                                       {"visit_date": "2025-07-20", "disease_status": "ned"}),
        "correct": lambda: forms.correct(study, team.research_nurse, subject, "pathology", {"closest_margin_mm": 4},
                                         reason="re-measured"),
        "delete": lambda: forms.delete(study, team.research_nurse, subject, "pathology", reason="wrong patient"),
        "sdv": lambda: review.verify_source(study, team.monitor, subject, "pathology"),
        "not_done": lambda: forms.mark_not_done(study, team.research_nurse, subject, "wound_complication",
                                                "wound_check:1", "no wound problem"),
    }
    out = {}
    for name, attempt in attempts.items():
        with pytest.raises(InvalidValue) as refused:
            attempt()
        out[name] = str(refused.value)
    return out


def test_a_crf_lock_refuses_changes_to_that_form(study, team):
    assert review.lock(study, team.data_manager, subject_id=team.subject, form_id="pathology") == "SPR-001 pathology"
    for attempt in (
        lambda: forms.correct(study, team.research_nurse, team.subject, "pathology", {"closest_margin_mm": 4},
                              reason="re-measured"),
        lambda: forms.delete(study, team.research_nurse, team.subject, "pathology", reason="wrong patient"),
        lambda: review.verify_source(study, team.monitor, team.subject, "pathology"),
    ):
        with pytest.raises(InvalidValue, match=r"lock: this form is locked by dana at \d{4}-\d\d-\d\d \d\d:\d\d UTC; "):
            attempt()
    # the rest of the patient's data is open
    forms.correct(study, team.research_nurse, team.subject, "surgery", {"nerve_resection": False}, reason="added")
    with pytest.raises(InvalidValue, match="already locked"):
        review.lock(study, team.data_manager, subject_id=team.subject, form_id="pathology")


def test_a_patient_lock_refuses_every_change_and_shows_in_visits(study, team):
    review.lock(study, team.data_manager, subject_id=team.subject)
    for name, text in lock_refusals(study, team, team.subject).items():
        assert text.startswith("lock: SPR-001 is locked by dana at "), (name, text)
        assert "refused until it is unlocked" in text
    with pytest.raises(InvalidValue, match="SPR-001 is locked by dana"):
        visits.add_unscheduled_visit(study, team.research_nurse, team.subject, dt.date(2025, 5, 5))
    shown = [f for v in visits.visits(study, team.monitor, team.subject) for f in v.forms]
    assert all(f.locked for f in shown)
    assert {f.status for f in shown if f.crf_id is not None} == {"locked"}  # entered forms show the lock as state


def test_a_study_lock_refuses_every_change(study, team):
    assert review.lock(study, team.data_manager, whole_study=True) == "the study"
    for name, text in lock_refusals(study, team, team.subject).items():
        assert text.startswith("lock: the study is locked (database lock) by dana at "), (name, text)
    with pytest.raises(InvalidValue, match="already locked"):
        review.lock(study, team.data_manager, subject_id=team.subject)


def test_a_study_lock_refuses_the_pathway_too(study, fast_hashing):
    """A database lock freezes every patient's data: no registration, screening or enrolment either."""
    screened = register(study, "H0002")
    pathway.screen(study, NURSE, screened.subject_id, {"screening_date": "2025-01-20", **SCREENING})
    team = staff(study)
    review.lock(study, team.data_manager, whole_study=True)
    nurse = team.research_nurse
    attempts = {
        "register": lambda: pathway.register_patient(study, nurse, identifiers=pathway.Identifiers(
            "New Patient (synthetic)", dt.date(1970, 1, 1), "H0003"), sex="male",
            referral={"referral_date": "2025-02-01", "anatomic_site": "trunk"}),
        "screen": lambda: pathway.screen(study, nurse, screened.subject_id, {"screening_date": "2025-01-21", **SCREENING}),
        "enrol": lambda: pathway.enrol(study, nurse, screened.subject_id, dt.date(2025, 1, 22)),
    }
    attempts["correct identifiers"] = lambda: pathway.correct_identifiers(
        study, nurse, screened.subject_id, "typo", date_of_birth=dt.date(1960, 6, 1))
    for attempt in attempts.values():
        with pytest.raises(InvalidValue, match=r"lock: the study is locked \(database lock\) by dana"):
            attempt()
    assert [p.status for p in views.patients(study, team.monitor)] == ["eligible"]


def test_unlocking_needs_a_reason_and_a_data_manager(study, team):
    review.lock(study, team.data_manager, subject_id=team.subject)
    with pytest.raises(InvalidValue, match="unlocking needs a reason"):
        review.unlock(study, team.data_manager, " ", subject_id=team.subject)
    for role in ("research_nurse", "investigator", "monitor"):
        with pytest.raises(AccessDenied, match="may not unlock a form or a patient"):
            review.unlock(study, getattr(team, role), "correction needed", subject_id=team.subject)
    with pytest.raises(AccessDenied, match=r"nina \(research_nurse\) may not lock a form or a patient"):
        review.lock(study, team.research_nurse, subject_id=team.subject, form_id="surgery")
    assert review.unlock(study, team.data_manager, "query 12 needs a correction", subject_id=team.subject) == "SPR-001"
    forms.correct(study, team.research_nurse, team.subject, "pathology", {"closest_margin_mm": 4}, reason="re-measured")
    with study.reading() as session:
        lock = session.scalars(select(DataLock)).one()
        trail = session.execute(select(AuditEntry.field, AuditEntry.new_value, AuditEntry.reason, AuditEntry.actor)
                                .where(AuditEntry.table_name == "data_lock", AuditEntry.action == "update")).all()
    assert (lock.active, lock.unlocked_by) == (False, "dana")
    report = views.verify_audit(study, team.monitor)
    assert report.ok, report.problems
    assert ("active", "false", "query 12 needs a correction", "dana") in [tuple(t) for t in trail]
    with pytest.raises(InvalidValue, match="no patient lock to lift"):
        review.unlock(study, team.data_manager, "again", subject_id=team.subject)


def test_the_study_lock_is_lifted_by_a_data_manager(study, team):
    review.lock(study, team.data_manager, whole_study=True)
    with pytest.raises(AccessDenied, match="may not unlock the study database"):
        review.unlock(study, team.investigator, "late data", whole_study=True)
    review.unlock(study, team.data_manager, "late pathology addendum", whole_study=True)
    forms.correct(study, team.research_nurse, team.subject, "pathology", {"closest_margin_mm": 4}, reason="addendum")
