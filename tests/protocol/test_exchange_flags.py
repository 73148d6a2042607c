"""The protocol file's data-exchange keys of a form field: ``identifying``, ``free_text`` and ``redcap_name``.

Sources: REDCap's data dictionary, column A "Variable / Field Name": lower-case letters, digits and
underscores, beginning with a letter, at most 100 characters, and unique in the project (one REDCap
project holds every instrument, so a variable name is unique across the forms); REDCapR's
``validate_field_names`` documents the same pattern, ``^[a-z][0-9a-z_]*$``. HIPAA's de-identification
guidance (45 CFR 164.514(b)) treats free text as a place identifiers hide, so a field is free text
unless it holds a code: a WHO 2020 histotype id (``diagnosis.histotype``), an AJCC 8th edition T
category, a CTCAE v5.0 term. SNOMED CT's laterality qualifiers: left 7771000, right 24028007,
bilateral 51440002 (HL7 FHIR mCODE's primary cancer condition carries the body site's laterality).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.protocol import ProtocolError, load_protocol, parse_protocol, read_protocol
from sarcotrial.protocol.schema import FormField, Problems, redcap_fields, redcap_names

SPRINT_TEXT = read_protocol("sprint").text
SPRINT_11 = Path(__file__).resolve().parents[1] / "protocols" / "sprint-1.1.yaml"
SPRINT_12 = Path(__file__).resolve().parents[1] / "protocols" / "sprint-1.2.yaml"
#: REDCap's variable-name rule as REDCapR writes it, with REDCap's 100-character limit
REDCAP_VARIABLE = re.compile(r"^[a-z][0-9a-z_]*$")


def _sprint() -> dict:
    return yaml.safe_load(SPRINT_TEXT)


def _field(data: dict, form_id: str, field_id: str) -> dict:
    form = next(f for f in data["forms"] if f["id"] == form_id)
    return next(f for f in form["fields"] if f["id"] == field_id)


def _problems(data: dict) -> list[str]:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "exchange.yaml")
    return info.value.problems


# --------------------------------------------------------------------------- free text
def test_a_text_field_is_free_text_unless_it_says_otherwise():
    """free_text unset: a text field is free text, a field of any other type is not."""
    assert FormField(id="note", label="Note", type="text").is_free_text is True
    for kind in ("integer", "decimal", "date", "datetime", "boolean"):
        assert FormField(id="x", label="X", type=kind).is_free_text is False
    assert FormField(id="c", label="C", type="code", codelist="yes_no").is_free_text is False
    assert FormField(id="histotype", label="Histotype", type="text", free_text=False).is_free_text is False
    assert FormField(id="note", label="Note", type="text", free_text=True).is_free_text is True
    plain = FormField(id="note", label="Note", type="text")
    assert (plain.identifying, plain.free_text, plain.redcap_name) == (False, None, None)


def test_only_a_text_field_can_be_declared_free_text():
    data = _sprint()
    _field(data, "diagnosis", "size_cm")["free_text"] = True
    assert _problems(data) == ["forms.diagnosis.fields.size_cm.free_text: only a text field can be free text; "
                               "this one is decimal"]
    assert FormField(id="age", label="Age", type="integer", free_text=False).is_free_text is False


def test_sprint_marks_its_codes_and_the_prose_that_may_name_people():
    """SPRINT (since 1.2): the text fields that hold a catalogue id or a code are not free text; the reasons and
    the end-of-study detail may name people; the anatomical descriptions are free text that names no one."""
    sprint = load_protocol("sprint")
    text_fields = {(form.id, fld.id): fld for form in sprint.forms for fld in form.fields if fld.type == "text"}
    not_free = {key for key, fld in text_fields.items() if not fld.is_free_text}
    assert not_free == {("diagnosis", "histotype"), ("diagnosis", "t_category"), ("diagnosis", "topography"),
                        ("adverse_event", "term"), ("consent", "document_version")}
    identifying = {(form.id, fld.id) for form in sprint.forms for fld in form.fields if fld.identifying}
    assert identifying == {("rt_fraction", "reason"), ("withdrawal", "reason"), ("end_of_study", "detail"),
                           ("rt_further_fraction", "reason")}  # 1.3: a further course's missed fraction
    assert all(text_fields[key].is_free_text for key in identifying)
    site_detail = text_fields[("diagnosis", "site_detail")]
    assert site_detail.is_free_text and not site_detail.identifying


# --------------------------------------------------------------------------- REDCap names
@pytest.mark.parametrize("name", ["Dx_site", "1site", "_site", "site-detail", "site detail", "a" * 101, ""])
def test_a_name_redcap_would_refuse_is_refused(name):
    data = _sprint()
    _field(data, "diagnosis", "site_detail")["redcap_name"] = name
    assert _problems(data) == [f"forms.diagnosis.fields.site_detail.redcap_name: {name!r} is not a REDCap "
                               "variable name: lower-case letters, digits and _, beginning with a letter, at most "
                               "100 characters"]


def test_a_name_of_100_characters_is_accepted():
    data = _sprint()
    _field(data, "diagnosis", "site_detail")["redcap_name"] = "d" + "x" * 98 + "9"
    protocol = parse_protocol(yaml.safe_dump(data, sort_keys=False)).protocol
    assert len(redcap_names(protocol)[("diagnosis", "site_detail")]) == 100


def test_clashing_redcap_names_are_named_with_both_fields_beside_the_files_other_problems(tmp_path):
    """Two clashes (a redcap_name given twice; a redcap_name that is another field's id), a name REDCap
    refuses, a flag that is not true/false, and two problems of other kinds: one run, every line."""
    data = _sprint()
    _field(data, "end_of_study", "status")["redcap_name"] = "rtfx_status"       # rt_fraction.status's name
    _field(data, "wound_complication", "onset_date")["redcap_name"] = "grade"   # adverse_event.grade's id
    _field(data, "surgery", "procedure")["redcap_name"] = "Surgery-Procedure"
    _field(data, "follow_up", "imaging")["identifying"] = "perhaps"
    data["identification"]["design"]["target_accrual"] = 0
    _field(data, "pathology", "closest_margin_tissue")["codelist"] = "margins"
    path = tmp_path / "exchange.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    result = CliRunner().invoke(app, ["protocol", "validate", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line.strip()[2:] for line in result.output.splitlines() if line.strip().startswith("- ")]
    assert sorted(lines) == sorted([
        "forms.end_of_study.fields.status: REDCap variable name 'rtfx_status' is also that of "
        "forms.rt_fraction.fields.status; a REDCap variable name is unique across the forms: give one of them a "
        "redcap_name",
        "forms.wound_complication.fields.onset_date: REDCap variable name 'grade' is also that of "
        "forms.adverse_event.fields.grade; a REDCap variable name is unique across the forms: give one of them a "
        "redcap_name",
        "forms.surgery.fields.procedure.redcap_name: 'Surgery-Procedure' is not a REDCap variable name: lower-case "
        "letters, digits and _, beginning with a letter, at most 100 characters",
        "forms.follow_up.fields.imaging.identifying: must be true or false (got 'perhaps')",
        "identification.design.target_accrual: must be at least 1 (got 0)",
        "forms.pathology.fields.closest_margin_tissue.codelist: unknown codelist 'margins' (known: "
        + ", ".join(sorted(data["codelists"])) + ")",
    ])


def test_a_protocol_without_redcap_names_stays_valid_but_its_clashing_names_are_refused_where_read():
    """SPRINT 1.1 (before the key existed) uses anatomic_site on two forms: the file stays valid, so a study
    bound to it still opens, and asking it for REDCap names names each clash with both fields."""
    protocol = load_protocol(SPRINT_11)
    assert protocol.version == "1.1"
    with pytest.raises(Problems) as info:
        redcap_names(protocol)
    assert ("forms.diagnosis.fields.anatomic_site", "REDCap variable name 'anatomic_site' is also that of "
            "forms.referral.fields.anatomic_site; a REDCap variable name is unique across the forms: give one of "
            "them a redcap_name") in info.value.problems
    clashing = {path for path, _ in info.value.problems}
    assert clashing == {"forms.diagnosis.fields.anatomic_site", "forms.follow_up.fields.disease_status",
                        "forms.consent.fields.consent_date", "forms.outcome_event.fields.site_detail",
                        "forms.pathology.fields.necrosis_percent", "forms.end_of_study.fields.status",
                        "forms.withdrawal.fields.reason", "forms.wound_complication.fields.onset_date"}


def test_the_shipped_protocol_validates_with_one_redcap_name_per_field():
    result = CliRunner().invoke(app, ["protocol", "validate", "sprint"])
    assert result.exit_code == 0 and result.output.startswith("valid: SPRINT v1.3"), result.output
    sprint = load_protocol("sprint")
    names = redcap_names(sprint)
    every_field = [(form.id, fld.id) for form in sprint.forms for fld in form.fields]
    assert list(names) == every_field
    assert len(set(names.values())) == len(names)
    assert all(REDCAP_VARIABLE.match(name) and len(name) <= 100 for name in names.values())
    assert redcap_fields(sprint) == {name: key for key, name in names.items()}
    # each field id used on several forms has a name of its own on each of them (1.2), except where 1.3 added
    # the id on a new form: there the new form's field has a name of its own, and the field of 1.2 keeps the
    # name its data were exported under
    forms_of: dict[str, list[str]] = {}
    for form_id, field_id in every_field:
        forms_of.setdefault(field_id, []).append(form_id)
    shared = {field_id for field_id, form_ids in forms_of.items() if len(form_ids) > 1}
    assert shared == {"anatomic_site", "disease_status", "consent_date", "site_detail", "necrosis_percent", "status",
                      "reason", "onset_date", "procedure", "planned_start", "calendar", "fraction_number",
                      "fraction_date", "course_number"}
    kept_by_id = {("surgery", "procedure"), ("rt_course", "planned_start"), ("rt_course", "calendar"),
                  ("rt_fraction", "fraction_number"), ("rt_fraction", "fraction_date")}
    for field_id in shared:
        for form_id in forms_of[field_id]:
            named = sprint.form(form_id).field(field_id).redcap_name is not None
            assert named == ((form_id, field_id) not in kept_by_id), (form_id, field_id)
    assert {key: names[key] for key in kept_by_id} == {key: key[1] for key in kept_by_id}
    assert names[("diagnosis", "anatomic_site")] == "dx_anatomic_site"
    assert names[("referral", "anatomic_site")] == "ref_anatomic_site"
    assert names[("diagnosis", "histotype")] == "histotype"


# --------------------------------------------------------------------------- SPRINT 1.2
def test_sprint_12_adds_topography_and_laterality_and_keeps_all_of_11():
    """A controlled document: 1.2 (tests/protocols/sprint-1.2.yaml, as shipped before 1.3) keeps every form,
    field (with its settings) and code of 1.1. (1.3 keeps every one of 1.2: tests/services/test_amend_13.py.)"""
    old = yaml.safe_load(SPRINT_11.read_text(encoding="utf-8"))
    sprint_12_text = SPRINT_12.read_text(encoding="utf-8")
    new = yaml.safe_load(sprint_12_text)
    assert (old["identification"]["version"], new["identification"]["version"]) == ("1.1", "1.2")
    exchange_keys = {"identifying", "free_text", "redcap_name"}
    for old_form in old["forms"]:
        new_form = next(f for f in new["forms"] if f["id"] == old_form["id"])
        for old_field in old_form["fields"]:
            kept = _field(new, old_form["id"], old_field["id"])
            assert {k: v for k, v in kept.items() if k not in exchange_keys} == old_field
        added = [f["id"] for f in new_form["fields"] if f["id"] not in {x["id"] for x in old_form["fields"]}]
        assert added == (["topography", "laterality"] if old_form["id"] == "diagnosis" else [])
    for name, codes in old["codelists"].items():
        assert new["codelists"][name] == codes
    assert set(new["codelists"]) - set(old["codelists"]) == {"laterality"}

    diagnosis = load_protocol(SPRINT_12).form("diagnosis")
    topography, laterality = diagnosis.field("topography"), diagnosis.field("laterality")
    assert (topography.type, topography.required, topography.is_free_text) == ("text", False, False)
    assert "C49.2" in topography.help
    assert (laterality.type, laterality.codelist, laterality.required) == ("code", "laterality", False)
    assert load_protocol(SPRINT_12).codes("laterality") == ["left", "right", "midline", "bilateral", "not_applicable"]
    for snomed in ("7771000", "24028007", "51440002"):
        assert snomed in sprint_12_text and snomed in SPRINT_TEXT  # beside the code list, for the FHIR mapping
