"""The protocol file: SPRINT's content against its registry record, and the schema's refusals.

Source of the SPRINT facts: the trial's registry record (../shared/seeds/000_*.txt): single arm,
monocentric, 33 patients; 25 daily fractions Monday-Friday; CTV1 50 Gy at 2 Gy, CTV2 60 Gy at
2.4 Gy; anthracycline-based chemotherapy allowed; inclusion: STS candidate for surgical
resection, age > 18; exclusion: previous RT to the region, inability to consent, planned
amputation; endpoints R0 rate (primary), pCR, OS, DSS, LRFS, DMFS, CTCAE v5.0 toxicity.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sarcotrial.protocol import ASSUMED, ProtocolError, load_protocol, parse_protocol, read_protocol, resolve_parameter
from sarcotrial.protocol.loader import shipped_protocols

SPRINT_TEXT = read_protocol("sprint").text
MINI = Path(__file__).resolve().parents[1] / "protocols" / "mini.yaml"


@pytest.fixture
def sprint():
    return load_protocol("sprint")


def test_sprint_identification_matches_registry(sprint):
    ident = sprint.identification
    assert ident.acronym == "SPRINT"
    assert ident.design.arms == 1 and ident.design.allocation == "single arm"
    assert ident.design.centres == "monocentric"
    assert ident.design.target_accrual == 33
    assert ident.subject_id_prefix == "SPR"


def test_sprint_prescription_matches_registry(sprint):
    rt = sprint.treatment.radiotherapy
    assert rt.fractions == 25 and rt.fractions_per_week == 5
    assert rt.treatment_days == ["mon", "tue", "wed", "thu", "fri"]
    levels = {(lvl.target, lvl.ptv): (lvl.total_dose_gy, lvl.dose_per_fraction_gy) for lvl in rt.dose_levels}
    assert levels == {("CTV1", "PTV1"): (50.0, 2.0), ("CTV2", "PTV2"): (60.0, 2.4)}
    assert rt.timing == "preoperative"
    assert sprint.treatment.chemotherapy.allowed is True
    assert any("anthracycline" in r for r in sprint.treatment.chemotherapy.regimens)
    assert sprint.treatment.surgery.timing == "after radiotherapy"


def test_sprint_eligibility_covers_registry_criteria(sprint):
    kinds = {c.id: c.kind for c in sprint.eligibility.criteria}
    assert kinds == {"age": "inclusion", "histology": "inclusion", "resectable": "inclusion", "consent": "inclusion",
                     "previous_rt": "exclusion", "amputation": "exclusion"}
    age = next(c for c in sprint.eligibility.criteria if c.id == "age").rule
    assert (age.field, age.op, age.value) == ("age_years", "gt", 18)  # registry: age > 18 years


def test_sprint_endpoints_and_definitions(sprint):
    roles = {e.id: e.role for e in sprint.endpoints}
    assert roles["r0_rate"] == "primary"
    assert {"pcr_rate", "os", "dss", "lrfs", "dmfs", "acute_toxicity", "late_toxicity"} <= set(roles)
    assert sprint.endpoint("os").events == ["death_any_cause"]
    assert sprint.endpoint("dss").events == ["death_sarcoma"]
    assert sprint.endpoint("lrfs").events == ["local_relapse", "death_any_cause"]
    assert sprint.endpoint("dmfs").events == ["distant_metastasis", "death_any_cause"]
    assert sprint.endpoint("ci_local_relapse").competing_risks == ["death_any_cause"]
    assert sprint.endpoint("ci_distant_metastasis").competing_risks == ["death_any_cause"]
    assert sprint.toxicity.ctcae_version == "5.0"


def test_sprint_assumed_defaults_are_explicit_and_marked(sprint):
    """Where the registry is silent, the issue's defaults, each marked as an assumption."""
    primary = sprint.statistics.primary
    assert (primary.population, primary.also_report_itt) == ("resected", True)
    assert (primary.null_rate, primary.alternative_rate) == (0.65, 0.85)
    assert (primary.alpha, primary.sided, primary.power) == (0.05, "one-sided", 0.80)
    assert (primary.ci_level, primary.ci_method) == (0.95, "clopper-pearson")
    assert sprint.pathology.pcr_max_viable_percent == 5
    assert sprint.toxicity.acute_window_days == 90
    follow = {v.id: v for v in sprint.visits}
    early, late = follow["follow_up_early"], follow["follow_up_late"]
    assert early.anchor == late.anchor == "surgery"
    assert (early.window_before_days, early.window_after_days) == (14, 14)
    assert (early.repeat.every_months, early.repeat.until_months) == (3, 24)
    assert (late.repeat.every_months, late.repeat.until_months) == (6, 60)
    for path in ("statistics.primary.null_rate", "statistics.primary.alternative_rate", "statistics.primary.alpha",
                 "statistics.primary.power", "statistics.primary.population", "pathology.pcr_max_viable_percent",
                 "endpoints.lrfs.events", "endpoints.dmfs.events", "endpoints.ci_local_relapse.competing_risks",
                 "visits.follow_up_early.window_after_days", "toxicity.acute_window_days",
                 "treatment.radiotherapy.objectives"):
        assert sprint.is_assumed(path), path
        assert sprint.assumptions[path].startswith(ASSUMED)
        resolve_parameter(sprint, path)  # names a real parameter


def test_sprint_visit_schedule(sprint):
    ids = [v.id for v in sprint.visits]
    assert ids == ["screening", "baseline", "rt_weekly", "pre_operative", "surgery", "wound_check",
                   "follow_up_early", "follow_up_late"]
    wound = next(v for v in sprint.visits if v.id == "wound_check")
    assert wound.anchor == "surgery" and wound.repeat.until_days == 120
    weekly = next(v for v in sprint.visits if v.id == "rt_weekly")
    assert weekly.repeat.every_days == 7 and weekly.repeat.count == 5


def test_sprint_forms_are_typed_with_units_ranges_and_code_lists(sprint):
    diagnosis = sprint.form("diagnosis")
    size = diagnosis.field("size_cm")
    assert (size.type, size.unit, size.min, size.required) == ("decimal", "cm", 0.1, True)
    assert diagnosis.field("anatomic_site").codelist == "anatomic_site"
    assert sprint.codes("anatomic_site") == ["extremity", "trunk", "retroperitoneum", "head-neck", "visceral"]
    assert sprint.codes("death_cause") == ["sarcoma", "treatment", "other", "unknown"]


def test_shipped_protocols_and_unknown_name():
    assert "sprint" in shipped_protocols()
    with pytest.raises(ProtocolError, match="no shipped protocol named 'sprnt'"):
        read_protocol("sprnt")
    with pytest.raises(ProtocolError, match="no such file"):
        read_protocol("missing/protocol.yaml")


def _mutated(mutate) -> list[str]:
    data = yaml.safe_load(SPRINT_TEXT)
    mutate(data)
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data, sort_keys=False), "broken.yaml")
    return info.value.problems


BROKEN = [
    ("target accrual 0", lambda d: d["identification"]["design"].__setitem__("target_accrual", 0),
     "identification.design.target_accrual: must be at least 1 (got 0)"),
    ("negative dose", lambda d: d["treatment"]["radiotherapy"]["dose_levels"][0].__setitem__("total_dose_gy", -5),
     "treatment.radiotherapy.dose_levels[0].total_dose_gy: must be greater than 0 (got -5)"),
    ("dose arithmetic", lambda d: d["treatment"]["radiotherapy"]["dose_levels"][1].__setitem__("dose_per_fraction_gy", 2.5),
     "treatment.radiotherapy.dose_levels[1].total_dose_gy: CTV2: 25 fractions x 2.5 Gy = 62.5 Gy, not the stated total 60 Gy"),
    ("misspelt key", lambda d: d["treatment"]["radiotherapy"].__setitem__("fractons", 25),
     "treatment.radiotherapy.fractons: unknown key"),
    ("missing section", lambda d: d.pop("endpoints"), "endpoints: required key is missing"),
    ("unknown weekday", lambda d: d["treatment"]["radiotherapy"].__setitem__("treatment_days", ["mon", "funday"]),
     "treatment.radiotherapy.treatment_days[1]: must be one of mon, tue, wed, thu, fri, sat, sun (got 'funday')"),
    ("criterion on unknown field", lambda d: d["eligibility"]["criteria"][0]["rule"].__setitem__("field", "agee"),
     "eligibility.criteria.age.rule.field: form 'screening' has no field 'agee'"),
    ("criterion value not in code list",
     lambda d: d["eligibility"]["criteria"][1]["rule"]["all"][1].__setitem__("value", ["de_nuovo"]),
     "eligibility.criteria.histology.rule.all[1].value: 'de_nuovo' not in codelist 'disease_status' "
     "(one of de_novo, locoregional_recurrence, metastatic)"),
    ("comparison on a boolean", lambda d: d["eligibility"]["criteria"][2]["rule"].update(op="gt", value=1),
     "eligibility.criteria.resectable.rule.op: gt needs a number or date field"),
    ("visit names unknown form", lambda d: d["visits"][0]["forms"].append("qol"),
     "visits.screening.forms: unknown form 'qol'"),
    ("field with unknown code list", lambda d: d["forms"][1]["fields"][3].__setitem__("codelist", "nope"),
     "forms.screening.fields.disease_status.codelist: unknown codelist 'nope'"),
    ("assumption on nothing", lambda d: d["assumptions"].__setitem__("statistics.primary.nul_rate", "x"),
     "assumptions: 'statistics.primary.nul_rate' names no parameter"),
    ("rate out of range", lambda d: d["statistics"]["primary"].__setitem__("null_rate", 1.2),
     "statistics.primary.null_rate: must be less than 1 (got 1.2)"),
    ("objective bounds inverted", lambda d: d["treatment"]["radiotherapy"]["objectives"][0].__setitem__("minor_deviation", 97),
     "treatment.radiotherapy.objectives[0]: PTV1 V95%: the minor-deviation bound 97.0 must be looser than the "
     "per-protocol bound"),
    ("objective on unknown structure", lambda d: d["treatment"]["radiotherapy"]["objectives"][0].__setitem__("structure", "Liver"),
     "treatment.radiotherapy.objectives[0].structure: 'Liver' is neither a target, a PTV nor an organ at risk"),
    ("time-to-event without origin", lambda d: d["endpoints"][2].pop("origin"),
     "endpoints.os: time-to-event endpoint 'os' needs an origin"),
    ("two primaries", lambda d: d["endpoints"][1].__setitem__("role", "primary"), "endpoints: exactly one endpoint must have role primary (2 have)"),
]


@pytest.mark.parametrize("label, mutate, expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_protocol_names_path_and_rule(label, mutate, expected):
    problems = _mutated(mutate)
    assert any(expected in p for p in problems), problems


def test_several_problems_reported_together():
    def mutate(d):
        d["identification"]["design"]["target_accrual"] = 0
        d["forms"][0]["fields"][0]["colour"] = "red"
    problems = _mutated(mutate)
    assert len(problems) == 2


def test_yaml_syntax_error_gives_line():
    with pytest.raises(ProtocolError, match=r"line 3, column 6: not valid YAML"):
        parse_protocol("schema_version: 1\nidentification: {a: 1\nforms: []\n", "bad.yaml")
    with pytest.raises(ProtocolError, match="mapping of protocol sections"):
        parse_protocol("- just a list\n", "bad.yaml")


def test_second_protocol_loads_without_code_change():
    mini = load_protocol(MINI)
    assert mini.acronym == "MINI" and mini.identification.design.target_accrual == 2
    assert mini.treatment.radiotherapy.dose_levels[0].total_dose_gy == 30
    assert [c.id for c in mini.eligibility.criteria] == ["adult", "extremity", "pregnant"]
    assert mini.statistics.km_conf_type == "log-log"
