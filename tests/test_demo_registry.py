"""The tumour board, second opinions and registry of the synthetic SPRINT demo (``sarcotrial.demo_registry``).

Checked through the services' read side (never SQL): meetings with attendees and one without quorum
(the quorum rule of the ``tumour_board_quorum`` setting; ESMO-EURACAN-GENTURIS guidelines, Gronchi et
al., Ann Oncol 2021), each referred patient put to a meeting before their screening, signed decisions,
second opinions from three centres with the revised rate, molecular documents with a contradiction
flag (WHO 2020: an MDM2 amplification defines well-differentiated/dedifferentiated liposarcoma), a
family history meeting the Chompret criteria (Bougeard et al., J Clin Oncol 2015: a sarcoma before
46 and a first-degree relative with a breast cancer before 56) with its counselling flag, and a
prediction for each enrolled patient by the SYNTHETIC model, recomputed here from the recorded
diagnosis with the model engine; the demo data are marked synthetic. The SPRINT demo has a fixed
size (33 enrolled), so it is built once for the module.
"""

from __future__ import annotations

import pypdfium2
import pytest

from sarcotrial import demo_registry
from sarcotrial.demo import build_demo_study, demo_password
from sarcotrial.domain.pathway import age_on
from sarcotrial.riskmodels import load_model
from sarcotrial.services import board, pathway, registry, second_opinion, views
from sarcotrial.services.baseline import BaselineDiagnosis
from sarcotrial.services.study import Actor, StudyDB

SEED = 5


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from argon2 import PasswordHasher

    from sarcotrial.services import access
    from sarcotrial.store.crypto import generate_key

    mp = pytest.MonkeyPatch()
    for variable in ("SARCOTRIAL_KEY_FILE", "DATABASE_URL", "SARCOTRIAL_PASSWORD"):
        mp.delenv(variable, raising=False)
    mp.setenv("SARCOTRIAL_KEY", generate_key())
    mp.setattr(access, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    path = tmp_path_factory.mktemp("registry-demo") / "study.sqlite"
    study, _ = StudyDB.create(f"sqlite:///{path}", "sprint", Actor("tester", "test"), synthetic=True)
    try:
        summary = build_demo_study(study, SEED)
        yield study, summary
    finally:
        study.close()
        mp.undo()


def login(user: str) -> Actor:
    return Actor(user, "test", password=demo_password(SEED, user))


def test_board_accounts_are_printed_with_the_others(built):
    _study, summary = built
    logins = {login["user"]: login for login in summary.logins}
    for user, _name, role in demo_registry.BOARD_ACCOUNTS:
        assert logins[user]["role"] == role and logins[user]["password"] == demo_password(SEED, user)
        assert "(synthetic)" in logins[user]["full_name"]


def test_meetings_cases_quorum_and_signed_decisions(built):
    study, _summary = built
    clinician = login("clinician")
    meetings = board.meetings(study, clinician)
    assert len(meetings) >= 30
    assert all(len(m.attendees) >= 4 for m in meetings)
    without = [m for m in meetings if not m.quorum.met]
    assert without and all((m.meeting_date.year, m.meeting_date.month) == demo_registry.NO_QUORUM_MONTH
                           for m in without)
    assert all("radiologist" in m.quorum.missing for m in without)
    assert all(c.decision.flags for m in without for c in m.cases)  # the no-quorum flag on each decision
    cases = [c for m in meetings for c in m.cases]
    assert all(c.imaging_summary and c.pathology_summary and c.decision for c in cases)
    signed = sum(c.decision.signed for c in cases)
    assert signed == len(cases) - demo_registry.UNSIGNED_LATEST and signed > len(cases) / 2
    # each referred patient of the study was put to a meeting on or before their first screening
    records = views.patients(study, login("datamanager"))
    meeting_of = {c.subject: m.meeting_date for m in meetings for c in m.cases}
    screened = [r for r in records if r.screenings]
    assert len(screened) >= 45
    for record in screened:
        assert meeting_of[record.subject_id] <= min(s["date"] for s in record.screenings)


def test_no_retroperitoneal_sarcoma_is_sent_to_preoperative_radiotherapy(built):
    """STRASS (Bonvalot et al., Lancet Oncol 2020;21:1366-1377): preoperative radiotherapy did not improve
    abdominal recurrence-free survival of retroperitoneal sarcoma; the board's decisions on the demo's
    retroperitoneal patients are resection alone (a clinician reading the demo would stop at anything else)."""
    study, _summary = built
    records = {r.subject_id: r for r in views.patients(study, login("datamanager"))}
    site_of = {s: (r.first("diagnosis") or r.first("referral")).values.get("anatomic_site") for s, r in records.items()
               if r.first("diagnosis") or r.first("referral")}
    meetings = board.meetings(study, login("clinician"))
    decided = [(c.subject, c.decision) for m in meetings for c in m.cases if c.decision]
    retro = [d for subject, d in decided if site_of.get(subject) == "retroperitoneum"]
    assert retro, "the demo has retroperitoneal patients discussed by the board"
    assert {d.strategy for d in retro} == {"surgery_alone"}


def test_registry_only_patients_are_discussed_never_screened(built):
    study, _summary = built
    records = {r.subject_id: r for r in views.patients(study, login("datamanager"))}
    extra = [r for r in records.values() if not r.screenings]
    assert len(extra) == 4
    histotypes = {r.first("referral").values["suspected_histotype"] for r in extra}
    assert {"gastrointestinal_stromal_tumour", "myxoid_liposarcoma"} <= histotypes
    clinician = login("clinician")
    for record in extra:
        assert board.patient_cases(study, clinician, record.subject_id)
    pending = [c for r in extra for _d, c in board.patient_cases(study, clinician, r.subject_id)
               if c.decision.screen_for_study]
    assert len(pending) == 1 and pending[0].decision.screening_id is None


def test_second_opinions_from_three_centres_some_revised_with_a_pdf_each(built):
    study, _summary = built
    opinions = second_opinion.listing(study, login("pathologist"))
    assert {o.referring_centre for o in opinions} == set(demo_registry.CENTRES)
    revised = [o for o in opinions if o.outcome == "revised"]
    assert revised and all(o.revised_histotype for o in revised)
    for o in opinions:
        (document,) = o.documents
        assert document.media_type == "application/pdf" and document.intact
    rates = second_opinion.revision_rates(opinions)
    assert sum(r.revised for r in rates) == sum(o.kind == "pathology" for o in revised)
    assert all(r.ci is not None and r.ci[0] <= r.rate <= r.ci[1] for r in rates if r.assessed)


def test_the_synthetic_pdf_opens_and_says_synthetic():
    content = demo_registry.synthetic_pdf("Referral (x)", ["Line one", "Centre (synthetic)"])
    pdf = pypdfium2.PdfDocument(content)
    text = pdf[0].get_textpage().get_text_range()
    assert len(pdf) == 1 and "SYNTHETIC DOCUMENT" in text and "Centre (synthetic)" in text


def test_molecular_contradiction_and_counselling_flags(built):
    study, _summary = built
    clinician = login("clinician")
    flagged = {}
    for record in views.patients(study, login("datamanager")):
        file = registry.case_file(study, clinician, record.subject_id)
        if file.flags:
            flagged[record.subject_id] = file.flags
    contradictions = [s for s, flags in flagged.items() if any("contradicts the recorded histotype" in f for f in flags)]
    assert len(contradictions) == 1
    assert any("MDM2" in f for f in flagged[contradictions[0]])
    counselling = [s for s, flags in flagged.items() if "genetic counselling: referral suggested" in flags]
    assert len(counselling) == 1
    file = registry.case_file(study, clinician, counselling[0])
    assert file.predisposition.chompret.verdict == "met"
    assert any(f.startswith("actionable: KIT") for flags in flagged.values() for f in flags)  # the GIST


def test_each_enrolled_patient_has_the_models_prediction_from_the_recorded_diagnosis(built):
    study, _summary = built
    (view,) = [v for v in registry.model_files(study, login("clinician")) if v.key == "demo_synthetic_dmfs"]
    assert view.synthetic and view.endpoint == "dmfs" and view.validation_status == "not validated"
    model = load_model(demo_registry.model_text())
    investigator = {"MAIN": login("inv.main"), "SAT": login("inv.sat")}
    enrolled = views.patients(study, login("datamanager"), enrolled_only=True)
    assert len(enrolled) == 33
    for record in enrolled:
        diagnosis = record.first("diagnosis")
        grade = BaselineDiagnosis(diagnosis).grade
        predictions = registry.case_file(study, login("clinician"), record.subject_id).predictions
        if grade not in ("1", "2", "3"):
            assert predictions == []
            continue
        (prediction,) = predictions
        born = pathway.identify(study, investigator[record.site], record.subject_id, "test").date_of_birth
        inputs = {"age": age_on(born, diagnosis.values["diagnosis_date"]), "size_cm": diagnosis.values["size_cm"],
                  "grade": grade}
        assert prediction.inputs == inputs
        expected = model.predict(inputs)
        assert prediction.risks == pytest.approx({h: expected.risk(h) for h in (1.0, 2.0, 3.0)})
    result = registry.performance_on_study(study, login("statistician"), view.key, horizon=2)
    assert len(result.patients) + result.not_predicted == 33


def test_the_demo_model_is_marked_synthetic():
    text = demo_registry.model_text()
    assert text.startswith("# SYNTHETIC") and demo_registry.DEMO_MODEL["metadata"]["synthetic"] is True
    assert "SYNTHETIC" in demo_registry.DEMO_MODEL["metadata"]["name"]


def test_demo_people_are_marked_synthetic(built):
    study, _summary = built
    meetings = board.meetings(study, login("clinician"))
    assert all("(synthetic)" in a.name for m in meetings for a in m.attendees)
    assert all("(synthetic)" in o.referring_centre for o in second_opinion.listing(study, login("pathologist")))
    extra = [r for r in views.patients(study, login("datamanager")) if not r.screenings]
    for record in extra:
        assert "(synthetic)" in pathway.identify(study, login("inv.main"), record.subject_id, "test").full_name
