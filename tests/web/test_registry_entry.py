"""The registry's documents and predictions entered in the browser (``web/pages/registry_entry.py``), through
the HTTP client: molecular findings added and removed one at a time, the family history and germline
findings, a risk predicted from a form made of the model's inputs; each refusal beside its field with
nothing written, and a role without the right refused by the service.

What is expected comes from outside the pages: the stored documents read back through
``services.registry.case_file``; the risks from ``sarcotrial.riskmodels.load_model(...).predict`` on the
example model file, its inputs' ranges from the same file; the clinical meaning from the published rules
the services implement: MDM2 amplification defines well-differentiated and dedifferentiated liposarcoma
(WHO 2020), so it contradicts a recorded synovial sarcoma; a proband with a soft-tissue sarcoma at 30 whose
mother had a premenopausal breast cancer at 50 meets the familial presentation of the Chompret criteria
(Bougeard et al., J Clin Oncol 2015: a tumour of the spectrum before 46, a first-degree relative's before 56).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from sarcotrial.riskmodels import load_model
from sarcotrial.services import registry
from tests.edc_support import staff
from tests.helpers import register

COX = Path(__file__).resolve().parents[2] / "examples" / "riskmodels" / "synthetic-cox.yaml"
SUPPORTING = {"histotype": "synovial_sarcoma", "findings": [{"test": "FISH", "kind": "fusion", "fusion": "SS18::SSX1"}]}
FAMILY = {"proband": {"sex": "female", "age": 40, "cancers": []}}


@pytest.fixture
def web_study(study, fast_hashing):  # this module's own study, replacing conftest's
    """Two registry patients at MAIN (registered before the first account), an account for every role, the
    synthetic Cox model loaded; SPR-002 has a molecular report (a synovial sarcoma's SS18::SSX1 fusion) and
    a family history (the patient alone), each at revision 1; SPR-001 has nothing recorded."""
    first = register(study, "H0101", name="Alpha Patient (synthetic)").subject_id
    second = register(study, "H0102", name="Beta Patient (synthetic)").subject_id
    team = staff(study)
    study.team = team
    study.subjects = (first, second)
    registry.record_document(study, team.pathologist, second, "molecular", SUPPORTING)
    registry.record_document(study, team.clinician, second, "family_history", FAMILY)
    study.model = registry.load_model_file(study, team.admin, COX, endpoint="dmfs")
    return study


def error_beside(page: str, element_id: str) -> str:
    """The refusal shown under the input ``element_id`` (its ``-error`` paragraph), unescaped; '' if none."""
    found = re.search(rf'<p class="error" id="{re.escape(element_id)}-error">(.*?)</p>', page, re.DOTALL)
    return html.unescape(found.group(1)) if found else ""


def value_of(page: str, element_id: str) -> str:
    found = re.search(rf'<input[^>]*id="{re.escape(element_id)}"[^>]*value="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else ""


def file_of(study, subject):
    return registry.case_file(study, study.team.clinician, subject)


# --------------------------------------------------------------------------- links and who may enter
def test_the_case_file_links_to_each_entry_page_for_the_roles_that_may_use_it(client_as, web_study):
    first, _second = web_study.subjects
    links = ("enter-molecular", "enter-family", "enter-predict")
    shown = {}
    for role in ("clinician", "research_nurse", "pathologist", "radiologist"):
        page = client_as(role).get(f"/board/patients/{first}").text
        shown[role] = tuple(f'id="{link}"' in page for link in links)
    assert shown["clinician"] == (True, True, True)
    assert shown["research_nurse"] == (True, True, True)
    assert shown["pathologist"] == (True, False, False)  # the pathologist reports findings, no family, no risk
    assert shown["radiologist"] == (False, False, False)
    # a reader without the right sees the pages without their forms
    radiologist = client_as("radiologist")
    for path, button in (("molecular", "Add the finding"), ("family", "Save the patient"), ("predict", "Predict and keep")):
        answer = radiologist.get(f"/board/patients/{first}/{path}")
        assert answer.status_code == 200, path
        assert button not in answer.text, path
    assert client_as("clinician").get("/board/patients/SPR-999/molecular").status_code == 404
    assert client_as("clinician").get("/board/patients/SPR-999/predict").status_code == 404


# --------------------------------------------------------------------------- molecular findings
def test_a_finding_is_added_then_another_with_a_reason_then_one_removed(client_as, web_study):
    first, _second = web_study.subjects
    clinician = client_as("clinician")
    answer = clinician.post(f"/board/patients/{first}/molecular/findings", data={
        "test": "FISH", "kind": "amplification", "gene": "MDM2", "laboratory": "Molecular pathology",
        "date": "2025-01-12", "histotype": "synovial_sarcoma"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/board/patients/{first}/molecular?done=added#findings"
    file = file_of(web_study, first)
    assert file.molecular_revision == 1
    assert file.molecular == {"histotype": "synovial_sarcoma", "findings": [
        {"test": "FISH", "kind": "amplification", "gene": "MDM2", "laboratory": "Molecular pathology",
         "date": "2025-01-12"}]}
    assert any("MDM2 amplification contradicts the recorded histotype" in flag for flag in file.flags)
    page = clinician.get(f"/board/patients/{first}/molecular?done=added").text
    assert "The finding is recorded." in page and 'id="finding-row-0"' in page

    # a second finding replaces the recorded report: typed as numbers where the format has numbers
    mutation = {"test": "NGS panel", "kind": "mutation", "gene": "BRAF", "cdna": "c.1799T>A", "protein": "p.V600E",
                "exon": "15", "vaf": "0.31"}
    answer = clinician.post(f"/board/patients/{first}/molecular/findings", data={**mutation, "reason": "NGS report"})
    assert answer.status_code == 303
    file = file_of(web_study, first)
    assert file.molecular_revision == 2
    assert file.molecular["findings"][1] == {**mutation, "exon": 15, "vaf": 0.31}
    assert [item.finding.protein for item in file.interpretation] == [None, "p.Val600Glu"]

    # removing the first finding, the contradiction goes; the BRAF V600E stays
    answer = clinician.post(f"/board/patients/{first}/molecular/findings/0/remove",
                            data={"revision": "2", "reason": "FISH repeated: no amplification"})
    assert answer.status_code == 303 and "done=removed" in answer.headers["location"]
    file = file_of(web_study, first)
    assert file.molecular_revision == 3
    assert [f["gene"] for f in file.molecular["findings"]] == ["BRAF"]
    assert not any("contradicts" in flag for flag in file.flags)


def test_a_removal_from_a_page_opened_before_another_change_removes_nothing(client_as, web_study):
    _first, second = web_study.subjects
    clinician = client_as("clinician")
    answer = clinician.post(f"/board/patients/{second}/molecular/findings/0/remove",
                            data={"revision": "7", "reason": "wrong finding"})
    assert answer.status_code == 422
    assert "has changed since the page was opened" in answer.text and "Nothing was saved" in answer.text
    assert file_of(web_study, second).molecular_revision == 1
    # the last finding cannot be removed: a report has at least one (the format's rule)
    answer = clinician.post(f"/board/patients/{second}/molecular/findings/0/remove",
                            data={"revision": "1", "reason": "wrong patient"})
    assert answer.status_code == 422 and "non-empty list of findings" in answer.text
    assert file_of(web_study, second).molecular == SUPPORTING
    assert clinician.post(f"/board/patients/{second}/molecular/findings/5/remove",
                          data={"revision": "1", "reason": "x"}).status_code == 404


def test_an_unknown_gene_is_refused_beside_the_gene_with_the_nearest_symbols(client_as, web_study):
    first, _second = web_study.subjects
    answer = client_as("pathologist").post(f"/board/patients/{first}/molecular/findings", data={
        "test": "FISH", "kind": "amplification", "gene": "MDM3"})
    assert answer.status_code == 422
    beside = error_beside(answer.text, "add-gene")
    assert "unknown gene symbol" in beside
    nearest = beside.split("nearest known:")[1]
    assert "MDM2" in nearest and "MDM4" in nearest  # one letter away
    assert value_of(answer.text, "add-gene") == "MDM3"  # what was typed is kept
    assert file_of(web_study, first).molecular is None  # nothing written
    # a value of the wrong shape is refused beside its own field, by the format's rule
    answer = client_as("pathologist").post(f"/board/patients/{first}/molecular/findings", data={
        "test": "NGS panel", "kind": "mutation", "gene": "KIT", "protein": "p.W557_K558del", "vaf": "45"})
    assert answer.status_code == 422
    assert "from 0 to 1" in error_beside(answer.text, "add-vaf")
    assert file_of(web_study, first).molecular is None


def test_replacing_a_recorded_report_asks_for_a_reason(client_as, web_study):
    _first, second = web_study.subjects
    finding = {"test": "FISH", "kind": "amplification", "gene": "MDM2"}
    answer = client_as("pathologist").post(f"/board/patients/{second}/molecular/findings", data=finding)
    assert answer.status_code == 422
    assert "needs a reason" in error_beside(answer.text, "add-reason")
    assert value_of(answer.text, "add-gene") == "MDM2"
    assert file_of(web_study, second).molecular_revision == 1
    answer = client_as("pathologist").post(f"/board/patients/{second}/molecular/findings",
                                           data={**finding, "reason": "second FISH probe"})
    assert answer.status_code == 303
    file = file_of(web_study, second)
    assert file.molecular_revision == 2 and file.molecular["findings"][1] == finding
    assert file.molecular["histotype"] == "synovial_sarcoma"  # the rest of the report is kept


# --------------------------------------------------------------------------- family history
def test_the_family_history_is_built_entry_by_entry_and_the_criteria_follow(client_as, web_study):
    first, _second = web_study.subjects
    nurse = client_as("research_nurse")
    page = nurse.get(f"/board/patients/{first}/family").text
    assert value_of(page, "proband-year_of_birth") == "1960"  # the registered patient's year of birth offered
    assert nurse.post(f"/board/patients/{first}/family/relatives", data={
        "relationship": "mother", "history": "none"}).status_code == 422  # the patient comes first
    assert file_of(web_study, first).family_history is None

    assert nurse.post(f"/board/patients/{first}/family/proband", data={"sex": "female", "age": "34"}).status_code == 303
    answer = nurse.post(f"/board/patients/{first}/family/cancers", data={
        "owner": "proband", "type": "soft_tissue_sarcoma", "name": "leiomyosarcoma", "age": "30", "reason": "referral"})
    assert answer.status_code == 303
    # a relative's age out of range: beside the cancer's age, nothing written
    relative = {"relationship": "mother", "history": "cancer", "cancer_type": "breast_cancer",
                "cancer_menopausal_status": "premenopausal", "reason": "family history taken"}
    answer = nurse.post(f"/board/patients/{first}/family/relatives", data={**relative, "cancer_age": "150"})
    assert answer.status_code == 422
    assert "from 0 to 120" in error_beside(answer.text, "relative-cancer_age")
    assert file_of(web_study, first).family_history.get("relatives") is None
    answer = nurse.post(f"/board/patients/{first}/family/relatives", data={**relative, "cancer_age": "50"})
    assert answer.status_code == 303
    file = file_of(web_study, first)
    assert file.family_history["relatives"] == [{"relationship": "mother", "cancers": [
        {"type": "breast_cancer", "age": 50, "menopausal_status": "premenopausal"}]}]
    assert file.predisposition.chompret.verdict == "met"  # Bougeard 2015, familial presentation
    assert file.predisposition.referral.refer
    mother = file.predisposition.family.relatives[0]
    page = nurse.get(f"/board/patients/{first}/family").text
    row = re.search(r'<tr id="relative-0">(.*?)</tr>', page, re.DOTALL).group(1)
    assert f"{mother.degree}st" in row and mother.side in row and "breast cancer" in row

    # the relative removed (with a reason): the familial presentation no longer holds
    answer = nurse.post(f"/board/patients/{first}/family/relatives/0/remove",
                        data={"revision": str(file.family_revision), "reason": "entered on the wrong patient"})
    assert answer.status_code == 303
    file = file_of(web_study, first)
    assert file.family_history["relatives"] == []
    familial = next(c for c in file.predisposition.chompret.criteria if c.id == "familial_presentation")
    assert familial.verdict == "not_met"


def test_nf1_findings_and_germline_results(client_as, web_study):
    _first, second = web_study.subjects
    clinician = client_as("clinician")
    nf1 = {"pubertal_status": "postpubertal", "calm_diameters_mm": "18, 22, 16, 30, 17, 25",
           "calm_bilateral": "yes", "freckling_axillary": "yes", "neurofibromas": "1.5", "reason": "examined"}
    answer = clinician.post(f"/board/patients/{second}/family/nf1", data=nf1)
    assert answer.status_code == 422
    assert "whole number" in error_beside(answer.text, "nf1-neurofibromas")
    assert value_of(answer.text, "nf1-calm_diameters_mm") == nf1["calm_diameters_mm"]
    assert file_of(web_study, second).family_revision == 1
    answer = clinician.post(f"/board/patients/{second}/family/nf1", data={**nf1, "neurofibromas": "2"})
    assert answer.status_code == 303
    file = file_of(web_study, second)
    assert file.family_history["nf1"] == {"pubertal_status": "postpubertal", "calm_diameters_mm": [18, 22, 16, 30, 17, 25],
                                          "calm_bilateral": True, "freckling_axillary": True, "neurofibromas": 2}
    # Legius 2021: six macules over 15 mm after puberty, freckling, two neurofibromas: three features
    assert file.predisposition.nf1.verdict == "met"
    page = clinician.get(f"/board/patients/{second}/family").text
    assert 'value="18, 22, 16, 30, 17, 25"' in page  # the recorded findings are shown in the form

    answer = clinician.post(f"/board/patients/{second}/family/germline/findings", data={
        "gene": "TP53", "variant": "NM_000546.6:c.818G>A (p.Arg273His)", "classification": "pathogenic",
        "vaf_percent": "120", "tissue": "blood", "mosaic": "no", "reason": "germline panel"})
    assert answer.status_code == 422 and "from 0 to 100" in error_beside(answer.text, "germline-vaf_percent")
    answer = clinician.post(f"/board/patients/{second}/family/germline/findings", data={
        "gene": "TP53", "variant": "NM_000546.6:c.818G>A (p.Arg273His)", "classification": "pathogenic",
        "vaf_percent": "49", "tissue": "blood", "mosaic": "no", "reason": "germline panel"})
    assert answer.status_code == 303
    assert clinician.post(f"/board/patients/{second}/family/germline/genes",
                          data={"genes_tested": "TP53, NF1", "reason": "panel"}).status_code == 303
    germline = file_of(web_study, second).family_history["germline"]
    assert germline == {"genes_tested": ["TP53", "NF1"], "findings": [
        {"gene": "TP53", "variant": "NM_000546.6:c.818G>A (p.Arg273His)", "classification": "pathogenic",
         "vaf_percent": 49, "tissue": "blood", "mosaic": False}]}
    assert any("TP53" in reason for reason in file_of(web_study, second).predisposition.referral.reasons)


# --------------------------------------------------------------------------- predictions
def test_the_prediction_form_is_made_of_the_models_inputs(client_as, web_study):
    first, _second = web_study.subjects
    page = client_as("clinician").get(f"/board/patients/{first}/predict").text
    model = load_model(COX)
    assert model.name in page
    for spec in model.inputs:
        assert f'name="input.{spec.name}"' in page
        if spec.kind == "numeric":
            assert f"From {spec.min:g} to {spec.max:g} {spec.unit}" in page
        else:
            select = re.search(rf'<select id="input-{spec.name}".*?</select>', page, re.DOTALL).group(0)
            assert re.findall(r'<option value="([^"]+)"', select) == list(spec.categories)


def test_a_prediction_is_kept_and_drawn_on_the_case_file(client_as, web_study):
    first, _second = web_study.subjects
    clinician = client_as("clinician")
    inputs = {"age": "61", "size_cm": "12", "grade": "3"}
    answer = clinician.post(f"/board/patients/{first}/predict", data={
        "model": web_study.model.key, "predicted_on": "2025-01-10", **{f"input.{k}": v for k, v in inputs.items()}})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/board/patients/{first}?done=predicted#predictions"
    (kept,) = file_of(web_study, first).predictions
    expected = load_model(COX).predict({"age": 61, "size_cm": 12, "grade": "3"})
    assert kept.risks == pytest.approx(expected.risks, abs=1e-9)
    assert kept.predicted_on.isoformat() == "2025-01-10"
    page = clinician.get(answer.headers["location"]).text
    assert "The prediction is recorded" in page
    drawn = dict(re.findall(r'data-horizon="([\d.]+)" data-risk="([\d.]+)"', page))
    assert float(drawn["5"]) == pytest.approx(expected.risk(5), abs=1e-4)


def test_a_missing_or_out_of_range_input_is_refused_beside_it(client_as, web_study):
    first, _second = web_study.subjects
    clinician = client_as("clinician")
    key = web_study.model.key
    missing = clinician.post(f"/board/patients/{first}/predict", data={
        "model": key, "input.age": "61", "input.size_cm": "12", "input.grade": ""})
    assert missing.status_code == 422
    assert "required by the model" in error_beside(missing.text, "input-grade")
    assert error_beside(missing.text, "input-age") == ""
    assert value_of(missing.text, "input-age") == "61"
    age = next(spec for spec in load_model(COX).inputs if spec.name == "age")
    beyond = age.max + 5
    out = clinician.post(f"/board/patients/{first}/predict", data={
        "model": key, "input.age": f"{beyond:g}", "input.size_cm": "12", "input.grade": "2"})
    assert out.status_code == 422
    beside = error_beside(out.text, "input-age")
    assert f"must be from {age.min:g} to {age.max:g}" in beside and "not extrapolated" in beside
    unknown = clinician.post(f"/board/patients/{first}/predict", data={"model": "no_such_model", "input.age": "61"})
    assert unknown.status_code == 422 and "no such loaded model" in unknown.text
    assert file_of(web_study, first).predictions == []  # nothing kept


# --------------------------------------------------------------------------- refusals
def test_a_role_without_the_right_is_refused_and_nothing_is_written(client_as, web_study):
    first, second = web_study.subjects
    finding = {"test": "FISH", "kind": "amplification", "gene": "MDM2"}
    radiologist, pathologist = client_as("radiologist"), client_as("pathologist")
    assert radiologist.post(f"/board/patients/{first}/molecular/findings", data=finding).status_code == 403
    assert pathologist.post(f"/board/patients/{first}/family/proband", data={"sex": "female"}).status_code == 403
    assert pathologist.post(f"/board/patients/{second}/family/nf1", data={
        "neurofibromas": "2", "reason": "examined"}).status_code == 403
    predicted = pathologist.post(f"/board/patients/{first}/predict", data={
        "model": web_study.model.key, "input.age": "61", "input.size_cm": "12", "input.grade": "3"})
    assert predicted.status_code == 403
    assert client_as("monitor").get(f"/board/patients/{first}/molecular").status_code == 403  # no board.read
    file = file_of(web_study, first)
    assert file.molecular is None and file.family_history is None and file.predictions == []
    assert file_of(web_study, second).family_revision == 1
    # without the CSRF token, not even the right role writes
    nurse = client_as("research_nurse")
    assert nurse.post(f"/board/patients/{first}/molecular/findings", csrf=False, data=finding).status_code == 403
    assert file_of(web_study, first).molecular is None


def test_an_input_the_study_records_is_shown_and_one_that_disagrees_is_refused_beside_it(client_as, web_study,
                                                                                         tmp_path):
    """A model whose age input is tied to the record (``record: age``, docs/risk-models.md): the form says
    what the year of birth allows (born 1960: 64 or 65 on 10 Jan 2025), and an age it does not allow is
    refused beside the age, nothing kept."""
    import datetime as dt

    text = COX.read_text(encoding="utf-8").replace("id: synthetic_cox_distant_metastasis",
                                                   "id: synthetic_cox_recorded_age", 1)
    text = text.replace("  - name: age\n", "  - name: age\n    record: age\n", 1)
    assert "record: age" in text and "synthetic_cox_recorded_age" in text
    path = tmp_path / "recorded-age.yaml"
    path.write_text(text, encoding="utf-8")
    key = registry.load_model_file(web_study, web_study.team.admin, path).key
    first, _second = web_study.subjects
    clinician = client_as("clinician")
    page = clinician.get(f"/board/patients/{first}/predict?model={key}").text
    today = dt.date.today()
    hint = re.search(r'<span class="record" id="input-age-record">(.*?)</span>', page, re.DOTALL)
    assert hint and f"age): {today.year - 1961} or {today.year - 1960}" in html.unescape(hint.group(1))
    answer = clinician.post(f"/board/patients/{first}/predict", data={
        "model": key, "predicted_on": "2025-01-10", "input.age": "40", "input.size_cm": "12", "input.grade": "3"})
    assert answer.status_code == 422
    assert "year of birth 1960 gives 64 or 65 on 2025-01-10" in error_beside(answer.text, "input-age")
    assert file_of(web_study, first).predictions == []
    done = clinician.post(f"/board/patients/{first}/predict", data={
        "model": key, "predicted_on": "2025-01-10", "input.age": "64", "input.size_cm": "12", "input.grade": "3"})
    assert done.status_code == 303 and len(file_of(web_study, first).predictions) == 1


def test_a_family_history_begun_for_a_sarcoma_patient_starts_with_their_sarcoma(client_as, web_study):
    """The patient's own sarcoma (the case file's histotype: a synovial sarcoma by the molecular report) is the
    proband's first tumour when the family history is begun, its age left to the user: the criteria say
    undecided, not "not met" (Bougeard 2015 counts the proband's sarcoma); without a histotype nothing is added."""
    first, _second = web_study.subjects
    registry.record_document(web_study, web_study.team.pathologist, first, "molecular", SUPPORTING)
    nurse = client_as("research_nurse")
    assert nurse.post(f"/board/patients/{first}/family/proband", data={"sex": "female", "age": "34"}).status_code == 303
    file = file_of(web_study, first)
    assert file.family_history["proband"]["cancers"] == [{"type": "soft_tissue_sarcoma", "name": "synovial sarcoma"}]
    assert file.predisposition.chompret.verdict == "undecided"
    assert registry.known_proband_tumours(registry.case_file(web_study, web_study.team.clinician,
                                                             web_study.subjects[0])) == \
        [{"type": "soft_tissue_sarcoma", "name": "synovial sarcoma"}]
