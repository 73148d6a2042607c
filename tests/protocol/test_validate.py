"""``sarcotrial protocol validate``: every problem of a file in one run, each as ``path: rule`` in the
protocol's own terms, exit status 2 for an invalid file and 0 for a valid one (README, "Using it":
wrong input exits 2).

The broken files are SPRINT with known faults put in; each expected line is written from the fault
put in and the protocol-file reference (docs/protocol-file.md), not from the program's output.
"""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from pydantic import ValidationError

from sarcotrial.protocol import ProtocolError, parse_protocol, read_protocol
from sarcotrial.protocol.loader import protocol_problems
from sarcotrial.protocol.schema import Protocol

SPRINT_TEXT = read_protocol("sprint").text
INTERNALS = re.compile(r"function-after|FieldCondition|AllOf|AnyOf|NotOf|AnchorRef|type=|pydantic|errors\.pydantic\.dev|"
                       r"Input should|Value error")


def _sprint() -> dict:
    return yaml.safe_load(SPRINT_TEXT)


def _entry(entries: list[dict], entry_id: str) -> dict:
    return next(e for e in entries if e["id"] == entry_id)


def _problems(data: dict) -> list[str]:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "broken.yaml")
    return info.value.problems


def _validate(tmp_path, data: dict):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return CliRunner().invoke(app, ["protocol", "validate", str(path)])


def test_every_problem_of_every_kind_in_one_run_with_exit_2(tmp_path):
    """Seven faults of six kinds (an unknown operator, a number out of range, a misspelt key, a dose that
    does not add up, a form named by a visit that does not exist, a criterion on a missing field, a check
    whose filter value is not a code of its field) used to take three runs; now one, exit 2."""
    d = _sprint()
    criteria = d["eligibility"]["criteria"]
    _entry(criteria, "resectable")["rule"]["op"] = "bigger"
    d["identification"]["design"]["target_accrual"] = 0
    rt = d["treatment"]["radiotherapy"]
    rt["fractons"] = 25
    rt["dose_levels"][1]["dose_per_fraction_gy"] = 2.5
    _entry(d["visits"], "baseline")["forms"].append("quality_of_life")
    _entry(criteria, "age")["rule"]["field"] = "age"
    _entry(d["checks"], "ned_after_relapse")["when"] = {"disease_status": "cured"}

    result = _validate(tmp_path, d)
    assert result.exit_code == 2, result.output
    lines = [line.strip()[2:] for line in result.output.splitlines() if line.strip().startswith("- ")]
    expected = [
        "eligibility.criteria.resectable.rule.op: must be one of eq, ne, gt, ge, lt, le, in, not_in, is_true, "
        "is_false (got 'bigger')",
        "identification.design.target_accrual: must be at least 1 (got 0)",
        "treatment.radiotherapy.fractons: unknown key (check its spelling against the protocol-file reference)",
        # sprint.yaml: CTV2 60 Gy in 25 fractions; 25 x 2.5 Gy = 62.5 Gy
        "treatment.radiotherapy.dose_levels[1].total_dose_gy: CTV2: 25 fractions x 2.5 Gy = 62.5 Gy, not the stated "
        "total 60 Gy",
        "visits.baseline.forms: unknown form 'quality_of_life'",
        "eligibility.criteria.age.rule.field: form 'screening' has no field 'age'",
        # sprint.yaml codelists.follow_up_status: ned, awd
        "checks.ned_after_relapse.when.disease_status: code 'cured' is not one of follow_up.disease_status's codes "
        "(ned, awd)",
    ]
    assert sorted(lines) == sorted(expected)
    assert f"not valid, {len(expected)} problems" in result.output
    assert not INTERNALS.search(result.output), result.output


def test_a_valid_file_exits_0(tmp_path):
    path = tmp_path / "sprint.yaml"
    path.write_text(SPRINT_TEXT)
    result = CliRunner().invoke(app, ["protocol", "validate", str(path)])
    assert result.exit_code == 0 and result.output.startswith("valid: SPRINT v1.3"), result.output


def test_a_wrong_rule_is_one_line_not_one_per_kind_of_rule():
    """A rule is judged as the kind its keys say (all / any / not / a field test): no 'required key
    all/any/not is missing' beside 'unknown key field' for one wrong operator."""
    d = _sprint()
    _entry(d["eligibility"]["criteria"], "age")["rule"]["op"] = "greater"
    assert _problems(d) == ["eligibility.criteria.age.rule.op: must be one of eq, ne, gt, ge, lt, le, in, not_in, "
                            "is_true, is_false (got 'greater')"]
    d = _sprint()
    _entry(d["eligibility"]["criteria"], "age")["rule"] = "age > 18"
    assert _problems(d) == ["eligibility.criteria.age.rule: a rule is a mapping: {field, op, value}, or all / any / "
                            "not of rules (got 'age > 18')"]
    d = _sprint()
    _entry(d["eligibility"]["criteria"], "age")["rule"] = {"not": {"field": "age_years", "op": "gt"}}
    assert _problems(d) == ["eligibility.criteria.age.rule.not.value: operator gt needs a value"]


def test_a_reference_to_an_invalid_entry_is_not_called_unknown():
    """The surgery form has a field of an unknown type: that is its problem; the visits, checks and
    anchors that name the surgery form are not reported as naming an unknown form."""
    d = _sprint()
    _entry(_entry(d["forms"], "surgery")["fields"], "surgery_date")["type"] = "when"
    _entry(d["visits"], "screening")["forms"].append("qol")
    problems = _problems(d)
    assert problems == [
        "forms.surgery.fields.surgery_date.type: must be one of integer, decimal, text, date, datetime, boolean, "
        "code (got 'when')",
        "visits.screening.forms: unknown form 'qol'",
    ]


def test_cross_references_are_checked_beside_a_broken_section():
    """statistics is not a mapping, so it is skipped; the endpoints still parse, and their problem (no
    primary endpoint) is named in the same run."""
    d = _sprint()
    d["statistics"] = 5
    _entry(d["endpoints"], "r0_rate")["role"] = "secondary"
    assert _problems(d) == ["statistics: must be a mapping of keys to values (got 5)",
                            "endpoints: exactly one endpoint must have role primary (0 have)"]


def test_every_dose_level_and_field_problem_of_an_entry_is_named():
    d = _sprint()
    for level in d["treatment"]["radiotherapy"]["dose_levels"]:
        level["dose_per_fraction_gy"] = 3
    field = _entry(_entry(d["forms"], "diagnosis")["fields"], "size_cm")
    field.update(type="text", min=5, max=1)
    problems = _problems(d)
    assert "treatment.radiotherapy.dose_levels[0].total_dose_gy: CTV1: 25 fractions x 3 Gy = 75 Gy, not the stated " \
           "total 50 Gy" in problems
    assert "treatment.radiotherapy.dose_levels[1].total_dose_gy: CTV2: 25 fractions x 3 Gy = 75 Gy, not the stated " \
           "total 60 Gy" in problems
    assert "forms.diagnosis.fields.size_cm.min: min/max apply to integer and decimal fields only; this one is text" \
           in problems
    assert "forms.diagnosis.fields.size_cm.min: 5 is greater than max 1" in problems


def test_a_dose_metric_in_the_wrong_notation_names_the_notation():
    d = _sprint()
    d["treatment"]["radiotherapy"]["objectives"][0]["metric"] = "V95"
    assert _problems(d) == ["treatment.radiotherapy.objectives[0].metric: must be a DVH metric: V<dose>Gy, "
                            "V<percent>%, D<percent>%, D<volume>cc, Dmean, Dmax or Dmin (got 'V95')"]


def test_keys_codes_and_duplicates_are_named_in_the_files_terms():
    d = _sprint()
    d["codelists"]["Margin"] = [{"code": "R0", "label": "R0"}]
    d["withdrawal"]["stops"]["holiday"] = ["surgery"]
    d["forms"].append(_entry(d["forms"], "referral"))
    problems = _problems(d)
    assert "codelists: key 'Margin' must be an identifier: lower-case letters, digits and _, beginning with a letter" \
        in problems
    assert "forms: duplicate form id 'referral'" in problems
    assert len(problems) == len(set(problems))
    d = _sprint()
    d["withdrawal"]["stops"]["holiday"] = ["surgery"]
    assert _problems(d) == ["withdrawal.stops: code 'holiday' is not one of withdrawal.kind's codes "
                            "(treatment, follow_up, consent)"]


def test_an_entry_without_a_readable_id_hides_no_problem_and_invents_none():
    """A form replaced by ``true``: its id cannot be read, so no reference to any form is called unknown."""
    d = _sprint()
    position = next(i for i, f in enumerate(d["forms"]) if f["id"] == "withdrawal")
    d["forms"][position] = True
    assert _problems(d) == [f"forms[{position}]: must be a mapping of keys to values (got true)"]


def _locations(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _locations(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _locations(value, prefix + (index,))


@pytest.mark.parametrize("seed", range(3))
def test_any_damage_gives_problem_lines_never_a_crash_internals_or_duplicates(seed):
    """Random damage anywhere in SPRINT (a key removed, a value of the wrong kind), one to five places at a
    time: always a ProtocolError whose lines are free of the validation library's terms and distinct."""
    import copy
    import random

    rng = random.Random(seed)
    base = _sprint()
    locations = [loc for loc in _locations(base) if loc]
    values = [None, 0, -1, "x", "Bad Key", [], {}, [1], {"a": 1}, True, 2.5, "2025-13-01"]
    refused = 0
    for _ in range(60):
        d = copy.deepcopy(base)
        for _ in range(rng.randint(1, 5)):
            loc = rng.choice(locations)
            node = d
            try:
                for part in loc[:-1]:
                    node = node[part]
                if isinstance(node, dict) and rng.random() < 0.3:
                    node.pop(loc[-1], None)
                else:
                    node[loc[-1]] = rng.choice(values)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change removed or replaced the way there
        try:
            Protocol.model_validate(d)
        except ValidationError as exc:  # what parse_protocol does with a file's data that is not valid
            problems = protocol_problems(exc, d)
            refused += 1
            assert problems and len(problems) == len(set(problems)), problems
            assert not any(INTERNALS.search(p) for p in problems), problems
            assert all(": " in p for p in problems), problems
    assert refused >= 40  # most damage is refused (some, such as an optional text set to "x", is valid)


def test_the_four_faults_a_new_user_met_are_named_in_one_run_with_exit_2(tmp_path):
    """SPRINT with four faults: an unknown operator, an accrual below 1, a DVH metric misspelt and a boost
    whose dose per fraction no longer gives its total. The dose arithmetic is a check across the
    radiotherapy entry's fields, and used to be named only in a second run, after the misspelt metric of
    the same entry was mended."""
    text = SPRINT_TEXT
    for old, new in (("target_accrual: 33", "target_accrual: -3"),
                     ("rule: {field: age_years, op: gt, value: 18}", "rule: {field: age_years, op: greater, value: 18}"),
                     ("dose_per_fraction_gy: 2.4", "dose_per_fraction_gy: 2.5"),
                     ("metric: V40Gy,", "metric: V40Gyy,")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    objectives = _sprint()["treatment"]["radiotherapy"]["objectives"]
    bone = next(i for i, o in enumerate(objectives) if o["metric"] == "V40Gy")
    path = tmp_path / "four.yaml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["protocol", "validate", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line.strip()[2:] for line in result.output.splitlines() if line.strip().startswith("- ")]
    assert sorted(lines) == sorted([
        "identification.design.target_accrual: must be at least 1 (got -3)",
        "eligibility.criteria.age.rule.op: must be one of eq, ne, gt, ge, lt, le, in, not_in, is_true, is_false "
        "(got 'greater')",
        f"treatment.radiotherapy.objectives[{bone}].metric: must be a DVH metric: V<dose>Gy, V<percent>%, "
        "D<percent>%, D<volume>cc, Dmean, Dmax or Dmin (got 'V40Gyy')",
        # sprint.yaml: CTV2 60 Gy in 25 fractions of 2.4 Gy; 25 x 2.5 Gy = 62.5 Gy
        "treatment.radiotherapy.dose_levels[1].total_dose_gy: CTV2: 25 fractions x 2.5 Gy = 62.5 Gy, not the stated "
        "total 60 Gy",
    ])
    assert "not valid, 4 problems" in result.output


def _rt(d: dict) -> dict:
    return d["treatment"]["radiotherapy"]


def _field(d: dict, form: str, field_id: str) -> dict:
    return _entry(_entry(d["forms"], form)["fields"], field_id)


def _duplicate_form(d: dict) -> None:
    copy_of = dict(_entry(d["forms"], "referral"), name="")
    d["forms"].append(copy_of)


#: Each check across an entry's fields (``entry_problems`` in schema.py) with, in the same run, a fault in
#: another field of the same entry or of the entry holding it: both lines, as the protocol-file
#: reference states each rule. The values quoted come from sprint.yaml.
STAGED = [
    ("dose beside a deviation threshold below 0",
     lambda d: (_rt(d)["deviations"].update(dose_minor_percent=-1), _rt(d)["dose_levels"][0].update(dose_per_fraction_gy=3)),
     ["treatment.radiotherapy.deviations.dose_minor_percent: must be at least 0 (got -1)",
      # CTV1 50 Gy in 25 fractions; 25 x 3 Gy = 75 Gy
      "treatment.radiotherapy.dose_levels[0].total_dose_gy: CTV1: 25 fractions x 3 Gy = 75 Gy, not the stated total 50 Gy"]),
    ("a treatment day twice beside a technique that is not text",
     lambda d: _rt(d).update(treatment_days=["mon", "tue", "wed", "thu", "thu"], technique=[]),
     ["treatment.radiotherapy.technique: must be text (got a list)",
      "treatment.radiotherapy.treatment_days: lists a day twice"]),
    ("five fractions a week on four days beside a bad alpha/beta",
     lambda d: _rt(d).update(treatment_days=["mon", "tue", "wed", "thu"], alpha_beta_gy=0),
     ["treatment.radiotherapy.alpha_beta_gy: must be greater than 0 (got 0)",
      "treatment.radiotherapy.fractions_per_week: 5 exceeds the 4 treatment days"]),
    ("an objective on an unknown structure beside a misspelt metric",
     lambda d: (_rt(d)["objectives"][0].update(structure="Liver"), _rt(d)["objectives"][1].update(metric="V95")),
     ["treatment.radiotherapy.objectives[0].structure: 'Liver' is neither a target, a PTV nor an organ at risk",
      "treatment.radiotherapy.objectives[1].metric: must be a DVH metric: V<dose>Gy, V<percent>%, D<percent>%, "
      "D<volume>cc, Dmean, Dmax or Dmin (got 'V95')"]),
    ("objective bounds inverted beside a source that is not text",
     lambda d: _rt(d)["objectives"][0].update(minor_deviation=97, source=5),
     # PTV1 V95% >= 95 per protocol: a minor-deviation bound of 97 is stricter, not looser
     ["treatment.radiotherapy.objectives[0]: PTV1 V95%: the minor-deviation bound 97.0 must be looser than the "
      "per-protocol bound 95.0 for comparator >=",
      "treatment.radiotherapy.objectives[0].source: must be text (got 5)"]),
    ("deviation thresholds inverted beside one that is not a number",
     lambda d: _rt(d)["deviations"].update(prolongation_major_days=1, dose_minor_percent="x"),
     ["treatment.radiotherapy.deviations: prolongation_major_days must be at least prolongation_minor_days",
      "treatment.radiotherapy.deviations.dose_minor_percent: must be a number (got 'x')"]),
    ("surgery interval inverted beside a timing that is not text",
     lambda d: d["treatment"]["surgery"].update(interval_after_rt_weeks_max=2, timing=5),
     ["treatment.surgery: interval_after_rt_weeks_max is shorter than interval_after_rt_weeks_min",
      "treatment.surgery.timing: must be text (got 5)"]),
    ("a field id twice in a form beside an empty label",
     lambda d: (_entry(d["forms"], "diagnosis")["fields"].append(dict(_field(d, "diagnosis", "size_cm"))),
                _field(d, "diagnosis", "ecog").update(label="")),
     ["forms.diagnosis.fields: duplicate field id 'size_cm'",
      "forms.diagnosis.fields.ecog.label: must not be empty (got '')"]),
    ("min/max on a text field beside an empty label",
     lambda d: _field(d, "diagnosis", "size_cm").update(type="text", label=""),
     ["forms.diagnosis.fields.size_cm.min: min/max apply to integer and decimal fields only; this one is text",
      "forms.diagnosis.fields.size_cm.label: must not be empty (got '')"]),
    ("a criterion id twice beside a wrong kind",
     lambda d: (_entry(d["eligibility"]["criteria"], "amputation").update(id="age"),
                _entry(d["eligibility"]["criteria"], "resectable").update(kind="include")),
     ["eligibility.criteria: duplicate criterion id 'age'",
      "eligibility.criteria.resectable.kind: must be one of inclusion, exclusion (got 'include')"]),
    ("an operator without its value beside a field id that is not an identifier",
     lambda d: _entry(d["eligibility"]["criteria"], "age").update(rule={"field": "Age", "op": "gt"}),
     ["eligibility.criteria.age.rule.field: must be an identifier: lower-case letters, digits and _, beginning "
      "with a letter (got 'Age')",
      "eligibility.criteria.age.rule.value: operator gt needs a value"]),
    ("a repeat with two steps beside an end below 0",
     lambda d: _entry(d["visits"], "wound_check").update(repeat={"every_days": 30, "every_months": 1, "until_days": -5}),
     ["visits.wound_check.repeat.until_days: must be at least 0 (got -5)",
      "visits.wound_check.repeat: give exactly one of every_days or every_months"]),
    ("a window check with min_days after max_days beside an empty text",
     lambda d: _entry(d["checks"], "surgery_interval").update(min_days=60, text=""),
     ["checks.surgery_interval: check 'surgery_interval': within_days needs min_days <= max_days",
      "checks.surgery_interval.text: must not be empty (got '')"]),
    ("a time-to-event endpoint without censoring beside an empty name",
     lambda d: (_entry(d["endpoints"], "os").pop("censoring"), _entry(d["endpoints"], "os").update(name="")),
     ["endpoints.os: time-to-event endpoint 'os' needs an origin, its events and its censoring rule",
      "endpoints.os.name: must not be empty (got '')"]),
    ("an alternative rate equal to the null rate beside an alpha out of range",
     lambda d: d["statistics"]["primary"].update(alternative_rate=0.65, alpha=0.7),
     ["statistics.primary: alternative_rate must differ from null_rate",
      "statistics.primary.alpha: must be less than 0.5 (got 0.7)"]),
    ("a form id twice where one of the two is invalid", _duplicate_form,
     ["forms: duplicate form id 'referral'", "forms[{last_form}].name: must not be empty (got '')"]),
    ("an assumption naming no visit beside an invalid visit",
     lambda d: (d["assumptions"].update({"visits.wound_chek.repeat": "assumed"}),
                _entry(d["visits"], "rt_weekly").update(window_after_days=-1)),
     ["visits.rt_weekly.window_after_days: must be at least 0 (got -1)",
      "assumptions: 'visits.wound_chek.repeat' names no parameter of this protocol"]),
]


@pytest.mark.parametrize("label, mutate, expected", STAGED, ids=[s[0] for s in STAGED])
def test_a_check_across_an_entrys_fields_is_named_beside_its_entrys_other_problem(label, mutate, expected):
    d = _sprint()
    mutate(d)
    expected = [line.format(last_form=len(d["forms"]) - 1) for line in expected]
    assert sorted(_problems(d)) == sorted(expected)


def test_a_check_does_not_judge_a_field_that_did_not_parse():
    """A dose per fraction below 0 is named once, not also as a total that does not add up; a PTV name that
    is empty does not make the objectives on that PTV name an unknown structure; an unknown operator is
    not also said to need a value."""
    d = _sprint()
    _rt(d)["dose_levels"][1]["dose_per_fraction_gy"] = -2.4
    _rt(d)["dose_levels"][0]["ptv"] = ""
    _entry(d["eligibility"]["criteria"], "age")["rule"] = {"field": "age_years", "op": "bigger"}
    assert sorted(_problems(d)) == sorted([
        "treatment.radiotherapy.dose_levels[1].dose_per_fraction_gy: must be greater than 0 (got -2.4)",
        "treatment.radiotherapy.dose_levels[0].ptv: must not be empty (got '')",
        "eligibility.criteria.age.rule.op: must be one of eq, ne, gt, ge, lt, le, in, not_in, is_true, is_false "
        "(got 'bigger')",
    ])
