"""The radiotherapy pages through HTTP: the course's calendar with its holidays, the delivery log and
the overall treatment time, recording fractions, and plan QA from uploaded DICOM-RT files.

Expected values come from the libraries and services themselves (``holidays``,
``services.radiotherapy.delivery``, ``radiotherapy.planqa.plan_qa`` on the same files), never from
the page code. Synthetic DICOM-RT files are the SPRINT SIB phantom of ``tests/radiotherapy/phantoms.py``.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import holidays
import pydicom
import pytest

from sarcotrial.radiotherapy.planqa import plan_qa
from sarcotrial.services import access, radiotherapy, views
from sarcotrial.services.planqa import stored_plan_qa_count
from tests.radiotherapy.phantoms import sib_phantom

SUBJECT = "SPR-002"  # enrolled on 22 Jan 2025, no course yet (tests/web/conftest.py)
START = dt.date(2025, 4, 14)  # a Monday; Easter Monday, Liberation Day and Labour Day fall in the course


class Cells(HTMLParser):
    """The calendar's day cells: data-date -> their data-* attributes, and each field's error text."""

    def __init__(self):
        super().__init__()
        self.days: dict[str, dict[str, str]] = {}
        self.errors: dict[str, str] = {}
        self._error: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "data-date" in a:
            self.days[a["data-date"]] = a
        if tag == "div" and a.get("class") == "error" and a.get("id"):
            self._error = a["id"].removesuffix("-error")
            self.errors[self._error] = ""

    def handle_endtag(self, tag):
        if tag == "div":
            self._error = None

    def handle_data(self, data):
        if self._error:
            self.errors[self._error] += data


def parse(html: str) -> Cells:
    cells = Cells()
    cells.feed(html)
    return cells


def record_course(client, start: dt.date = START, calendar: str = "IT"):
    answer = client.post(f"/patients/{SUBJECT}/rt/course",
                         data={"planned_start": start.isoformat(), "calendar": calendar, "concurrent_chemotherapy": "no"})
    assert answer.status_code == 303, answer.text
    return answer


def fractions_of(study):
    return views.form_instances(study, None, SUBJECT, "rt_fraction")


# --------------------------------------------------------------------------- the course, its calendar, the log
def test_calendar_marks_and_skips_the_holidays_the_library_gives(client_as, web_study):
    nurse = client_as("research_nurse")
    before = nurse.get(f"/patients/{SUBJECT}/rt")
    assert before.status_code == 200 and "Record the course" in before.text
    record_course(nurse)
    page = nurse.get(f"/patients/{SUBJECT}/rt")
    assert page.status_code == 200
    days = parse(page.text).days
    planned = sorted(d for d, a in days.items() if "data-planned" in a)
    assert len(planned) == web_study.protocol.treatment.radiotherapy.fractions  # 25 (protocol)
    first, last = dt.date.fromisoformat(planned[0]), dt.date.fromisoformat(planned[-1])
    assert first == START
    # every public holiday of Italy (the holidays library) on a weekday of the course is named and skipped
    library = holidays.country_holidays("IT", years=range(first.year, last.year + 1))
    expected = {d: name for d, name in library.items() if first <= d <= last and d.weekday() < 5}
    assert len(expected) >= 3  # Easter Monday, Liberation Day, Labour Day 2025
    for day, name in expected.items():
        cell = days[day.isoformat()]
        assert cell["data-holiday"] == name and "data-planned" not in cell, (day, cell)
        assert name in page.text
    # the planned dates are the weekdays of the span that are not holidays, and no more
    span = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    assert planned == [d.isoformat() for d in span if d.weekday() < 5 and d not in expected]
    # before the first fraction: a planned time and no nonsense
    assert "not started: no fraction delivered yet" in page.text
    assert "None" not in page.text and "-1 days" not in page.text


def test_delivered_and_missed_fractions_update_the_log_and_the_time(client_as, web_study):
    nurse = client_as("research_nurse")
    record_course(nurse)
    posts = [{"fraction_number": "1", "fraction_date": "2025-04-14", "status": "delivered", "reason": ""},
             {"fraction_number": "2", "fraction_date": "2025-04-15", "status": "missed", "reason": "linac breakdown"},
             {"fraction_number": "2", "fraction_date": "2025-04-16", "status": "delivered", "reason": ""}]
    for data in posts:
        answer = nurse.post(f"/patients/{SUBJECT}/rt/fractions", data=data)
        assert answer.status_code == 303, answer.text
    summary = radiotherapy.delivery(web_study, SUBJECT, web_study.team.investigator)
    assert (summary.delivered, summary.missed) == (2, 1)
    page = nurse.get(f"/patients/{SUBJECT}/rt")
    text = page.text
    assert f"{summary.delivered} delivered · {summary.missed} missed · {summary.rescheduled} rescheduled" in text
    assert f"{summary.overall_treatment_days} days so far" in text
    assert f"{summary.first_fraction.isoformat()} to {summary.last_fraction.isoformat()}" in text
    assert "linac breakdown" in text
    days = parse(text).days
    assert days["2025-04-14"]["data-status"] == "delivered"
    assert days["2025-04-15"]["data-status"] == "missed"
    assert days["2025-04-16"]["data-status"] == "delivered"
    # mid-course: the time against the plan, never a negative prolongation
    assert "behind" in text and "Prolongation" not in text and "None" not in text
    # the delivered dose shown is the service's
    for volume, gy in summary.delivered_dose_gy.items():
        assert re.search(rf"<td class=\"num\">{gy:g}</td>", text), volume


@pytest.mark.parametrize("data, field, message", [
    ({"fraction_number": "1", "fraction_date": "2025-04-19", "status": "delivered"}, "fraction_date",
     "is a Saturday, not a treatment day of the protocol"),
    ({"fraction_number": "1", "fraction_date": "2025-04-21", "status": "delivered"}, "fraction_date",
     "public holiday (Easter Monday)"),
    ({"fraction_number": "1", "fraction_date": "2025-14-01", "status": "delivered"}, "fraction_date",
     "must be a date written YYYY-MM-DD"),
    ({"fraction_number": "99", "fraction_date": "2025-04-14", "status": "delivered"}, "fraction_number",
     "must be at most 60"),
    ({"fraction_number": "1", "fraction_date": "2025-04-14", "status": "missed"}, "reason",
     "is required for a missed fraction"),
])
def test_a_wrong_fraction_is_refused_beside_its_field(client_as, web_study, data, field, message):
    nurse = client_as("research_nurse")
    record_course(nurse)
    answer = nurse.post(f"/patients/{SUBJECT}/rt/fractions", data=data)
    assert answer.status_code == 422
    errors = parse(answer.text).errors
    assert message in errors.get(f"fraction-{field}", ""), errors
    for value in data.values():  # what was typed is kept
        assert f'value="{value}"' in answer.text or f'<option value="{value}" selected' in answer.text
    assert fractions_of(web_study) == []


def test_a_wrong_course_start_is_refused_beside_its_field(client_as, web_study):
    nurse = client_as("research_nurse")
    answer = nurse.post(f"/patients/{SUBJECT}/rt/course", data={"planned_start": "2025-04-21", "calendar": "IT"})
    assert answer.status_code == 422
    assert "public holiday (Easter Monday)" in parse(answer.text).errors["course-planned_start"]
    assert 'value="2025-04-21"' in answer.text
    assert views.form_instances(web_study, None, SUBJECT, "rt_course") == []


def test_a_monitor_is_refused_and_nothing_is_written(client_as, web_study, tmp_path):
    record_course(client_as("research_nurse"))
    monitor = client_as("monitor")
    assert monitor.get(f"/patients/{SUBJECT}/rt").status_code == 200
    assert "Check the plan" not in monitor.get(f"/patients/{SUBJECT}/rt/plan-qa").text
    assert "Record a fraction" not in monitor.get(f"/patients/{SUBJECT}/rt").text
    answer = monitor.post(f"/patients/{SUBJECT}/rt/fractions",
                          data={"fraction_number": "1", "fraction_date": "2025-04-14", "status": "delivered"})
    assert answer.status_code == 403
    assert fractions_of(web_study) == []
    rtss, rtdose, rtplan = sib_phantom(tmp_path, "pass")
    assert upload(monitor, rtss, rtdose, rtplan).status_code == 403
    assert upload(monitor, rtss, rtdose, rtplan, store=True).status_code == 403
    assert stored_plan_qa_count(web_study, None, SUBJECT) == 0


def test_another_sites_patient_is_not_found(client_as):
    assert client_as("nurse.sat").get(f"/patients/{SUBJECT}/rt").status_code == 404
    assert client_as("nurse.sat").get(f"/patients/{SUBJECT}/rt/plan-qa").status_code == 404


# --------------------------------------------------------------------------- plan QA
def upload(client, rtss, rtdose, rtplan=None, *, store=False, **extra):
    files = {"rtstruct": (rtss.name, rtss.read_bytes(), "application/dicom"),
             "rtdose": (rtdose.name, rtdose.read_bytes(), "application/dicom")}
    if rtplan is not None:
        files["rtplan"] = (rtplan.name, rtplan.read_bytes(), "application/dicom")
    data = {"end_cap": "none", **extra}
    if store:
        data["store"] = "1"
    return client.post(f"/patients/{SUBJECT}/rt/plan-qa", data=data, files=files)


def objective_states(html: str) -> list[tuple[str, str, str]]:
    return re.findall(r'data-structure="([^"]+)" data-metric="([^"]+)" data-verdict="([^"]+)"', html)


@pytest.mark.parametrize("variant", ["pass", "major"])
def test_a_phantom_plan_is_judged_as_plan_qa_judges_it_and_stored_once(client_as, web_study, tmp_path, variant):
    record_course(client_as("research_nurse"))
    rtss, rtdose, rtplan = sib_phantom(tmp_path, variant)
    expected = plan_qa(web_study.protocol, rtss, rtdose, rtplan)
    doctor = client_as("investigator")
    first = upload(doctor, rtss, rtdose, rtplan, store=True)
    again = upload(doctor, rtss, rtdose, rtplan, store=True)  # a double submit
    assert first.status_code == again.status_code == 303
    assert first.headers["location"].split("?")[0] == again.headers["location"].split("?")[0]
    assert again.headers["location"].endswith("stored=again")
    assert stored_plan_qa_count(web_study, None, SUBJECT) == 1
    verdict = doctor.get(first.headers["location"])
    assert verdict.status_code == 200
    assert re.search(rf'id="verdict">{re.escape(expected.verdict)}<', verdict.text)
    assert objective_states(verdict.text) == [(o.structure.replace('"', "&#34;"), o.metric, o.verdict)
                                               for o in expected.objectives]
    for o in expected.objectives:  # each value, or why there is none (Joint, Gonads: not in the phantom)
        assert (f"{o.value:.2f}" if o.value is not None else o.note) in verdict.text
    # the DVH plot of the stored verdict
    png = doctor.get(first.headers["location"].split("?")[0] + "/dvh.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # the verdict on the course, with its link
    course = doctor.get(f"/patients/{SUBJECT}/rt").text
    assert first.headers["location"].split("?")[0] in course and expected.verdict in course
    deviations = [d for d in views.patient(web_study, None, SUBJECT).deviations if d["category"] == "plan_qa"]
    assert len(deviations) == (1 if expected.verdict == "major deviation" else 0)


def test_a_nurse_sees_the_verdict_without_storing_it(client_as, web_study, tmp_path):
    record_course(client_as("research_nurse"))
    rtss, rtdose, rtplan = sib_phantom(tmp_path, "minor")
    expected = plan_qa(web_study.protocol, rtss, rtdose, rtplan)
    nurse = client_as("research_nurse")
    form = nurse.get(f"/patients/{SUBJECT}/rt/plan-qa")
    assert form.status_code == 200 and 'name="store"' not in form.text
    answer = upload(nurse, rtss, rtdose, rtplan)
    assert answer.status_code == 200
    assert re.search(rf'id="verdict">{re.escape(expected.verdict)}<', answer.text)
    assert 'src="data:image/png;base64,' in answer.text and "not stored" in answer.text
    assert len(answer.content) < 300_000
    assert upload(nurse, rtss, rtdose, rtplan, store=True).status_code == 403  # storing is the investigator's
    assert stored_plan_qa_count(web_study, None, SUBJECT) == 0


def test_a_non_dicom_upload_is_refused_beside_its_field(client_as, web_study, tmp_path):
    record_course(client_as("research_nurse"))
    _, rtdose, rtplan = sib_phantom(tmp_path, "pass")
    notes = tmp_path / "notes.txt"
    notes.write_text("this is the physicist's note, not a structure set\n")
    temporary = set(Path(tempfile.gettempdir()).glob("sarcotrial-planqa-*"))
    answer = upload(client_as("investigator"), notes, rtdose, rtplan, store=True)
    assert set(Path(tempfile.gettempdir()).glob("sarcotrial-planqa-*")) == temporary  # the uploads were removed
    assert answer.status_code == 422
    error = parse(answer.text).errors["up-rtstruct"]
    assert "notes.txt" in error and "not a DICOM file" in error
    assert "sarcotrial-planqa-" not in answer.text  # the temporary folder is not shown
    assert stored_plan_qa_count(web_study, None, SUBJECT) == 0


def test_a_missing_file_is_named(client_as, web_study, tmp_path):
    record_course(client_as("research_nurse"))
    rtss, _, _ = sib_phantom(tmp_path, "pass")
    doctor = client_as("investigator")
    answer = doctor.post(f"/patients/{SUBJECT}/rt/plan-qa", data={"end_cap": "none", "store": "1"},
                         files={"rtstruct": (rtss.name, rtss.read_bytes(), "application/dicom")})
    assert answer.status_code == 422
    assert "choose the RT dose" in parse(answer.text).errors["up-rtdose"]
    assert stored_plan_qa_count(web_study, None, SUBJECT) == 0


def test_different_frames_of_reference_give_the_services_message(client_as, web_study, tmp_path):
    record_course(client_as("research_nurse"))
    rtss, rtdose, rtplan = sib_phantom(tmp_path, "pass")
    ds = pydicom.dcmread(rtdose)
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.999"
    ds.save_as(rtdose)
    answer = upload(client_as("investigator"), rtss, rtdose, rtplan, store=True)
    assert answer.status_code == 422
    assert "are in different frames of reference" in answer.text and rtdose.name in answer.text
    assert stored_plan_qa_count(web_study, None, SUBJECT) == 0


def test_an_undefined_index_is_said_not_defined(client_as, web_study, tmp_path):
    """A dose grid that nowhere reaches the prescription: the Paddick CI has no prescription
    isodose volume (PIV = 0), so it is not defined, and the page says why."""
    record_course(client_as("research_nurse"))
    rtss, rtdose, rtplan = sib_phantom(tmp_path, "pass")
    ds = pydicom.dcmread(rtdose)
    ds.DoseGridScaling = f"{float(ds.DoseGridScaling) * 0.5:.6e}"  # 61 Gy -> 30.5 Gy at most
    ds.save_as(rtdose)
    expected = plan_qa(web_study.protocol, rtss, rtdose, rtplan)
    assert expected.indices["PTV1"]["paddick_ci"] is None
    answer = upload(client_as("investigator"), rtss, rtdose, rtplan, store=True)
    assert answer.status_code == 303
    page = client_as("investigator").get(answer.headers["location"])
    assert page.status_code == 200
    assert "not defined (no voxel of the dose grid receives 50 Gy)" in page.text
    assert re.search(rf'id="verdict">{re.escape(expected.verdict)}<', page.text)


def test_an_upload_over_the_limit_is_refused_with_413(client_as, web_study, tmp_path):
    record_course(client_as("research_nurse"))
    access.set_setting(web_study, web_study.team.admin, "upload_limit_mb", "1")
    rtss, rtdose, rtplan = sib_phantom(tmp_path, "pass")
    assert rtdose.stat().st_size > 1024 * 1024
    answer = upload(client_as("investigator"), rtss, rtdose, rtplan, store=True)
    assert answer.status_code == 413 and "upload_limit_mb" in answer.text
    assert stored_plan_qa_count(web_study, None, SUBJECT) == 0


def test_structure_aliases_map_other_names_to_the_protocols_volumes(client_as, web_study, tmp_path):
    """As ``plan-qa --aliases``: a YAML table names the structures that mean each protocol volume."""
    from sarcotrial.radiotherapy.planqa import load_aliases

    record_course(client_as("research_nurse"))
    rtss, rtdose, rtplan = sib_phantom(tmp_path, "minor")
    ds = pydicom.dcmread(rtss)
    renamed = {"PTV1": "Zielvolumen_A", "PTV2": "Zielvolumen B"}
    for item in ds.StructureSetROISequence:
        item.ROIName = renamed.get(item.ROIName, item.ROIName)
    ds.save_as(rtss)
    doctor = client_as("investigator")
    without = upload(doctor, rtss, rtdose, rtplan, store=True)
    assert without.status_code == 422
    assert "no structure found for PTV1, PTV2" in parse(without.text).errors["up-rtstruct"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("PTV1: Zielvolumen_A\n")
    refused = doctor.post(f"/patients/{SUBJECT}/rt/plan-qa", data={"end_cap": "none", "store": "1"}, files={
        "rtstruct": (rtss.name, rtss.read_bytes()), "rtdose": (rtdose.name, rtdose.read_bytes()),
        "aliases": (bad.name, bad.read_bytes())})
    assert refused.status_code == 422
    assert parse(refused.text).errors["up-aliases"].startswith("bad.yaml must map each protocol volume to a list")
    table = tmp_path / "aliases.yaml"
    table.write_text("PTV1: [Zielvolumen_A]\nPTV2: ['Zielvolumen B']\n")
    expected = plan_qa(web_study.protocol, rtss, rtdose, rtplan, aliases=load_aliases(table))
    stored = doctor.post(f"/patients/{SUBJECT}/rt/plan-qa", data={"end_cap": "none", "store": "1"}, files={
        "rtstruct": (rtss.name, rtss.read_bytes()), "rtdose": (rtdose.name, rtdose.read_bytes()),
        "rtplan": (rtplan.name, rtplan.read_bytes()), "aliases": (table.name, table.read_bytes())})
    assert stored.status_code == 303
    page = doctor.get(stored.headers["location"]).text
    assert re.search(rf'id="verdict">{re.escape(expected.verdict)}<', page)
    assert "<dt>PTV2</dt><dd>Zielvolumen B</dd>" in page
    assert stored_plan_qa_count(web_study, None, SUBJECT) == 1


@pytest.mark.validation
def test_a_real_plan_uploaded_is_judged_as_plan_qa_judges_it(client_as, web_study, shared_data, tmp_path):
    """The dicompyler-core breast IMRT example (public data): its files read through the upload, its
    volumes named by an alias table, and a CT slice offered as the dose refused beside its field."""
    from sarcotrial.radiotherapy.planqa import load_aliases
    from tests.conftest import shared_file

    folder = "breast-imrt-example"
    rtss, rtdose, rtplan, ct = (shared_file(shared_data, f"{folder}/{name}")
                                for name in ("rtss.dcm", "rtdose.dcm", "rtplan.dcm", "ct.0.dcm"))
    record_course(client_as("research_nurse"))
    table = tmp_path / "breast.yaml"
    table.write_text("CTV1: [Breast]\nCTV2: [Tumor Bed]\nPTV1: [Breast]\nPTV2: [Tumor Bed]\nBone: []\n")
    expected = plan_qa(web_study.protocol, rtss, rtdose, rtplan, aliases=load_aliases(table))
    doctor = client_as("investigator")
    wrong = upload(doctor, rtss, ct, rtplan, store=True)
    assert wrong.status_code == 422 and "is a DICOM CT object" in parse(wrong.text).errors["up-rtdose"]
    answer = doctor.post(f"/patients/{SUBJECT}/rt/plan-qa", data={"end_cap": "none", "store": "1"}, files={
        "rtstruct": (rtss.name, rtss.read_bytes()), "rtdose": (rtdose.name, rtdose.read_bytes()),
        "rtplan": (rtplan.name, rtplan.read_bytes()), "aliases": (table.name, table.read_bytes())})
    assert answer.status_code == 303
    page = doctor.get(answer.headers["location"]).text
    assert re.search(rf'id="verdict">{re.escape(expected.verdict)}<', page)
    assert objective_states(page) == [(o.structure, o.metric, o.verdict) for o in expected.objectives]
    for problem in expected.consistency:  # the plan's prescription is not SPRINT's: said, not hidden
        assert problem.replace("'", "&#39;") in page


def test_the_dvh_figure_is_readable_at_1280_px(page, web_study, tmp_path):
    """The plan-QA result page showed the DVH figure about 430 px wide beside the objectives, its text
    too small to read at 1280 px. The figure now has a row of its own, as wide as the page's content,
    and its smallest text (the legend and the limit key: 7.5 pt in planqa_report.dvh_figure, 1 pt =
    1/72 inch) is at least 12 CSS px high on the screen: 7.5 / 72 x dpi x shown width / PNG width."""
    from sarcotrial.services.planqa import WEB_DPI
    from tests.web.conftest import shot, sign_in_page

    rtss, rtdose, rtplan = sib_phantom(tmp_path, "major")
    sign_in_page(page, "nina")
    page.goto(f"/patients/{SUBJECT}/rt/plan-qa")
    page.get_by_label("RT structure set (RTSTRUCT)").set_input_files(str(rtss))
    page.get_by_label("RT dose (RTDOSE)").set_input_files(str(rtdose))
    page.get_by_label("RT plan (RTPLAN)").set_input_files(str(rtplan))
    page.get_by_role("button", name="Check the plan").click()
    page.locator("#verdict").wait_for()
    image = page.get_by_role("img", name="Cumulative DVHs")
    image.wait_for()
    size = image.evaluate("img => ({shown: img.getBoundingClientRect().width, natural: img.naturalWidth,"
                          " content: img.closest('section').getBoundingClientRect().width})")
    shot(page, "rt-planqa-dvh-1280")
    assert size["natural"] > 300  # drawn, not a broken image
    assert size["shown"] >= 0.99 * size["content"] and size["content"] > 1100, size  # the full content width
    legend_px = 7.5 / 72 * WEB_DPI * size["shown"] / size["natural"]
    assert legend_px >= 12, (legend_px, size)
    # each bound of the objectives carries its unit, as the plan's value does
    row = page.locator('.rt-objectives tr[data-structure="PTV2"][data-metric="D2%"]')
    assert "<= 107 % of Rx" in row.inner_text() and "<= 110 % of Rx" in row.inner_text()
