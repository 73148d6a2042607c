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
    from tests.demo_cache import demo_copy, demo_environment

    demo = demo_copy(tmp_path_factory, SEED, "registry-demo")  # built with SEED once a test run
    with demo_environment(demo.key):
        study = StudyDB.open(f"sqlite:///{demo.path}")
        try:
            yield study, demo.summary
        finally:
            study.close()


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
    # SPRINT had enrolled its target (33) before the myxoid liposarcoma was referred (November 2025): the board
    # service refuses a screening request of a full study, so none is asked and she is treated off study
    decisions = {r.first("referral").values["suspected_histotype"]: c.decision for r in extra
                 for _d, c in board.patient_cases(study, clinician, r.subject_id)}
    assert not any(d.screen_for_study for d in decisions.values())
    assert decisions["myxoid_liposarcoma"].strategy == "preoperative_radiotherapy_surgery"
    assert "closed to accrual" in decisions["myxoid_liposarcoma"].rationale


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


# --------------------------------------------------------------------------- the board, as a clinician reads it
def _board_cases(study):
    """Every case with its meeting, the patient's record and what the study recorded of them."""
    records = {r.subject_id: r for r in views.patients(study, login("datamanager"))}
    return [(m, c, records[c.subject]) for m in board.meetings(study, login("clinician")) for c in m.cases]


def _failed(record) -> set[str]:
    """The criteria the patient's latest screening failed (as the screening stored them)."""
    if not record.screenings:
        return set()
    return {c["id"] for c in record.screenings[-1]["criteria"] if c["result"] != "not_evaluable"
            and (c["result"] == "met") != (c["kind"] == "inclusion")}


def test_meetings_are_weekly_on_a_weekday_and_a_week_s_patients_share_one(built):
    """The weekly board meets on Thursdays (never at a weekend); patients of the same week share its meeting,
    each after their referral and on or before their first screening; one meeting lacks quorum (as the README
    says)."""
    study, _summary = built
    meetings = board.meetings(study, login("clinician"))
    assert all(m.meeting_date.weekday() < 5 for m in meetings)
    weekly = [m for m in meetings if m.note == demo_registry.WEEKLY_NOTE]
    assert weekly and all(m.meeting_date.weekday() == demo_registry.BOARD_WEEKDAY for m in weekly)
    weeks = [m.meeting_date.isocalendar()[:2] for m in weekly]
    assert len(weeks) == len(set(weeks))  # one weekly meeting a week: cases of a week are grouped
    assert any(len(m.cases) >= 2 for m in meetings)
    assert sum(not m.quorum.met for m in meetings) == 1
    for meeting, case, record in _board_cases(study):
        assert meeting.meeting_date > record.first("referral").values["referral_date"]
        if record.screenings:
            assert meeting.meeting_date <= min(s["date"] for s in record.screenings)


def test_the_decision_follows_the_case(built):
    """ESMO-EURACAN-GENTURIS 2021 as a sarcoma board applies it: metastatic at presentation -> systemic therapy;
    visceral -> no radiotherapy, no SPRINT; dermatofibrosarcoma protuberans -> wide excision alone; an irradiated
    region or a planned amputation -> surgery alone; not resectable -> chemotherapy; a deep, > 5 cm, high-grade
    limb or trunk-wall sarcoma -> preoperative radiotherapy then surgery. "To be screened" only with a screening
    request; SPRINT offered only with preoperative radiotherapy."""
    from sarcotrial.services.baseline import BaselineDiagnosis

    study, _summary = built
    seen = set()
    for _meeting, case, record in _board_cases(study):
        d = case.decision
        site = record.first("referral").values["anatomic_site"]
        failed = _failed(record)
        diagnosis = record.first("diagnosis")
        histotype = (diagnosis or record.first("referral")).values.get(
            "histotype" if diagnosis else "suspected_histotype")
        assert ("to be screened" in d.rationale) == d.screen_for_study
        if "A candidate for SPRINT" in d.rationale:
            assert d.strategy == "preoperative_radiotherapy_surgery"
        if "histology" in failed:  # the demo's screening fails this criterion on metastatic disease
            assert d.strategy == "chemotherapy" and "cM1" in d.rationale
            seen.add("metastatic")
        elif site == "visceral":
            assert d.strategy == "surgery_alone" and "A candidate for SPRINT" not in d.rationale
            seen.add("visceral")
        elif (histotype or "").startswith("dermatofibrosarcoma_protuberans"):
            assert d.strategy == "surgery_alone"
            seen.add("dfsp")
        elif site != "retroperitoneum" and failed & {"previous_rt", "amputation"}:
            assert d.strategy == "surgery_alone"
            seen.add("surgery")
        elif site != "retroperitoneum" and "resectable" in failed:
            assert d.strategy == "chemotherapy"
            seen.add("unresectable")
        elif site in ("extremity", "trunk") and diagnosis is not None:
            grade = BaselineDiagnosis(diagnosis).grade
            values = diagnosis.values
            if values.get("depth") == "deep" and values["size_cm"] > 5 and grade in ("2", "3"):
                assert d.strategy == "preoperative_radiotherapy_surgery" and "A candidate for SPRINT" in d.rationale
                seen.add("standard")
            if values.get("depth") == "superficial" and values["size_cm"] <= 5 and grade == "1":
                assert d.strategy == "surgery_alone"
    assert {"metastatic", "visceral", "surgery", "unresectable", "standard"} <= seen


@pytest.mark.parametrize("facts, strategy", [
    (dict(site="extremity", place="left thigh", histotype="undifferentiated_pleomorphic_sarcoma", size=9.0,
          depth="deep", grade="3"), "preoperative_radiotherapy_surgery"),
    (dict(site="extremity", place="left thigh", histotype="myxofibrosarcoma", size=3.0, depth="superficial",
          grade="1"), "surgery_alone"),
    (dict(site="trunk", place="back", histotype="dermatofibrosarcoma_protuberans_fibrosarcomatous", size=9.0,
          depth="deep"), "surgery_alone"),
    (dict(site="visceral", place="uterus", histotype="leiomyosarcoma", size=14.0, grade="3"), "surgery_alone"),
    (dict(site="extremity", place="left thigh", histotype="synovial_sarcoma", size=9.0, depth="deep", grade="3",
          metastatic=True), "chemotherapy"),
    (dict(site="retroperitoneum", place="retroperitoneum", histotype="solitary_fibrous_tumour", size=18.0),
     "surgery_alone"),
    (dict(site="extremity", place="left thigh", histotype="leiomyosarcoma", size=9.0, depth="deep", grade="2",
          amputation=True), "surgery_alone"),
])
def test_board_decision_by_case(facts, strategy):
    chosen, rationale = demo_registry.board_decision(demo_registry.CaseFacts(**facts))
    assert chosen == strategy and "ESMO-EURACAN-GENTURIS 2021" in rationale
    assert ("A candidate for SPRINT" in rationale) == (strategy == "preoperative_radiotherapy_surgery")


def test_board_texts_say_what_is_known_in_natural_words(built):
    """No "Deep, large" without a size; WHO names lower-case and in natural order mid-sentence (never the
    catalogue's inverted "Pleomorphic sarcoma, undifferentiated"); second opinions likewise."""
    import re

    from sarcotrial.domain import histology

    study, _summary = built
    texts = []
    for _meeting, case, _record in _board_cases(study):
        texts += [case.question, case.imaging_summary, case.pathology_summary, case.decision.rationale]
    texts += [t for o in second_opinion.listing(study, login("pathologist")) for t in (o.question, o.review)]
    inverted = [h.name for h in histology.histotypes() if ", " in h.name]
    mid_capital = re.compile(r"\b(?:a|an|as|deep|superficial|cm|not|of) [A-Z][a-z]")
    for text in texts:
        assert "large" not in text or " cm" in text, text
        assert not any(name in text for name in inverted), text
        assert not mid_capital.search(text.replace("of the", "")), text
    assert any("undifferentiated pleomorphic sarcoma" in t for t in texts)


def test_natural_names_and_articles():
    assert demo_registry.natural_name("undifferentiated_pleomorphic_sarcoma") == "undifferentiated pleomorphic sarcoma"
    assert (demo_registry.natural_name("dermatofibrosarcoma_protuberans_fibrosarcomatous")
            == "fibrosarcomatous dermatofibrosarcoma protuberans")
    assert demo_registry.natural_name("kaposi_sarcoma") == "Kaposi sarcoma"
    assert demo_registry.natural_name("cic_rearranged_sarcoma") == "CIC-rearranged sarcoma"
    assert [demo_registry.article(p) for p in ("8.2 cm", "11 cm", "18 cm", "9 cm", "undifferentiated", "deep")] == [
        "an", "an", "an", "a", "an", "a"]


def test_no_fnclcc_grade_where_fnclcc_does_not_grade(built):
    """Coindre (Arch Pathol Lab Med 2006): FNCLCC grading is not recommended for clear cell sarcoma, alveolar soft
    part sarcoma, epithelioid sarcoma, angiosarcoma, MPNST, extraskeletal myxoid chondrosarcoma; the board writes
    "not graded (FNCLCC not applicable)" for them, and a second opinion revising to one gives no grade."""
    study, _summary = built
    ungraded = 0
    for _meeting, case, record in _board_cases(study):
        diagnosis = record.first("diagnosis")
        histotype = (diagnosis.values["histotype"] if diagnosis
                     else record.first("referral").values["suspected_histotype"])
        if histotype in demo_registry.FNCLCC_NOT_GRADED:
            ungraded += 1
            for text in (case.pathology_summary, case.decision.rationale):
                assert "FNCLCC grade" not in text and demo_registry.NOT_GRADED in text, text
    assert ungraded
    for o in second_opinion.listing(study, login("pathologist")):
        if o.revised_histotype in demo_registry.FNCLCC_NOT_GRADED:
            assert o.revised_grade is None


def test_second_opinions_come_before_the_board_and_agree_with_it(built):
    """A second opinion is reported before the patient's meeting; a revised grade is the grade the study
    recorded, and the board's pathology summary names the reviewed diagnosis with that grade."""
    from sarcotrial.services.baseline import BaselineDiagnosis

    study, _summary = built
    cases = {c.subject: (m, c, r) for m, c, r in _board_cases(study)}
    revised_enrolled = 0
    for o in second_opinion.listing(study, login("pathologist")):
        meeting, case, record = cases[o.subject]
        assert o.report_date < meeting.meeting_date
        diagnosis = record.first("diagnosis")
        if o.kind != "pathology" or o.outcome != "revised" or diagnosis is None:
            continue
        revised_enrolled += 1
        grade = BaselineDiagnosis(diagnosis).grade
        assert demo_registry.natural_name(o.revised_histotype) in case.pathology_summary
        assert "second opinion" in case.pathology_summary
        if o.revised_grade is not None:
            assert str(o.revised_grade) == grade
            assert f"FNCLCC grade {grade}" in case.pathology_summary
    assert revised_enrolled


@pytest.mark.parametrize("board_date, earliest, latest, expected", [
    ("2024-08-17", "2024-08-11", "2024-08-25", ("2024-08-15", True)),   # a Saturday: that week's Thursday
    ("2024-08-17", "2024-08-16", "2024-08-25", ("2024-08-22", True)),   # that Thursday is before the referral
    ("2024-08-17", "2024-08-16", "2024-08-20", ("2024-08-16", False)),  # no Thursday in the window: a weekday
])
def test_board_day(board_date, earliest, latest, expected):
    import datetime as dt

    day = demo_registry.board_day(*(dt.date.fromisoformat(x) for x in (board_date, earliest, latest)))
    assert day == (dt.date.fromisoformat(expected[0]), expected[1])


def test_the_board_is_deterministic(built, tmp_path):
    """The same seed gives the same board (dates, cases, texts, decisions)."""
    from sarcotrial.services import access

    study, _summary = built

    def content(s):
        return [(m.meeting_date, m.note, [(c.subject, c.question, c.imaging_summary, c.pathology_summary,
                                           c.decision.strategy, c.decision.rationale) for c in m.cases])
                for m in board.meetings(s, login("clinician"))]

    mp = pytest.MonkeyPatch()
    from tests.edc_support import quick_hasher
    mp.setattr(access, "PASSWORD_HASHER", quick_hasher())
    again, _ = StudyDB.create(f"sqlite:///{tmp_path / 'again.sqlite'}", "sprint", Actor("tester", "test"),
                              synthetic=True)
    try:
        build_demo_study(again, SEED)
        assert content(again) == content(study)
    finally:
        again.close()
        mp.undo()
