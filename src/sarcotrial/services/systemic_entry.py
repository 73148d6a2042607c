"""Systemic therapy in the EDC: a cycle's derived values, the patient's regimen, and the course summary.

Standards implemented (the rules themselves are in :mod:`sarcotrial.domain.systemic`, with their sources):

- body surface area by the protocol's formula, Mosteller (N Engl J Med 1987;317:1098) or DuBois (Arch
  Intern Med 1916;17:863-871), from the height and weight entered on the cycle's form;
- the planned dose of each drug on each day of the cycle (dose per m2, per kg or flat) and the dose given
  as a percentage of it; a dose more than the protocol's ``dose_tolerance_percent`` below the planned one
  is a reduction;
- the days late of a cycle: its day 1 against the previous cycle's day 1 plus the cycle length;
- relative dose intensity (Hryniuk W, Bush H. J Clin Oncol 1984;2:1281-1288) over the cycles given, in
  :func:`course_summary`;
- the cumulative doxorubicin-equivalent dose (mg/m2) by the protocol's equivalence table (e.g. the 2022 ESC
  cardio-oncology guideline, Lyon AR et al., Eur Heart J 2022;43:4229-4361), and the warning when the next
  cycle at its planned dose would take it above the protocol's ``warn_cumulative_mg_m2``.

The protocol names its cycle form and the role of each field (``treatment.systemic.administration``,
:mod:`sarcotrial.protocol.schema_systemic`); :func:`sarcotrial.services.derivers.declared_deriver` sends that
form here. The patient's regimen is the one whose ``arms`` include the arm allocated to the patient, else
the one regimen without ``arms``.

Refused at entry and at correction (one line naming the field and the rule; nothing is stored):

- a cycle not after enrolment, in the future, or after death; a cycle number recorded twice, beyond the
  regimen's ``max_cycles``, or a day 1 not between those of the cycles before and after it;
- a dose in a field of a drug (or day) that is not in the patient's regimen (leave it empty, or code NA);
- an impossible height or weight (the body surface area cannot be computed), or neither given where a
  drug is dosed per m2 or per kg;
- a dose reduced (the form says so, or the dose is more than the tolerance below the planned one) without
  a reason (the reason field, or a missing-data code for it), and a form that says no dose was reduced
  beside a dose that was; a cycle the form says was delayed without a reason.

The anthracycline warning refuses nothing. Whether a cycle was late by the schedule depends on the
previous cycle's date: it is derived (``days_late``, ``late_beyond_tolerance``) and a delay without a
reason is reported by :func:`course_summary`, not refused.

Derived keys of a cycle (stable; documented in docs/systemic-therapy.md):
``regimen``, ``arm``, ``bsa_m2`` (unrounded), ``bsa_formula``, ``planned_<drug>_day<d>_mg`` for each drug and
day of the regimen, ``percent_<drug>_day<d>`` for each dose entered, ``reduced_doses`` (the ``<drug>_day<d>``
given more than the tolerance below planned), ``planned_start``, ``days_late``, ``late_beyond_tolerance``,
``cumulative_doxorubicin_eq_mg_m2`` (this cycle and those numbered before it) and ``anthracycline_warning``.
They are computed when the cycle is entered or corrected; :func:`course_summary` recomputes every number
from the entered values, so a correction of an earlier cycle is always reflected there.

Why hand-written: the clinical rules are the domain's; what is here maps a protocol's own form onto them,
which no library does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping

from sarcotrial.domain.systemic import (
    Administration,
    CourseSummary,
    anthracycline_warning,
    body_surface_area,
    equivalence_table,
    is_anthracycline,
    normalise_drug,
    planned_cycle_equivalent,
    planned_dose_mg,
    summarise_course,
)
from sarcotrial.errors import InvalidValue

__all__ = ["administration_of", "patient_arm", "regimen_for", "derive_administration", "course_summary",
           "treatment_start"]

_EPS = 1e-9


# --------------------------------------------------------------------------- the protocol's declarations
def administration_of(protocol: Any) -> Any:
    """The protocol's administration form mapping (``treatment.systemic.administration``), or None."""
    systemic = getattr(protocol.treatment, "systemic", None)
    return getattr(systemic, "administration", None) if systemic is not None else None


def patient_arm(session: Any, patient: Any) -> str | None:
    """The arm allocated to a patient (a Patient row), None when none is (or allocation is not available)."""
    try:
        from sarcotrial.services.randomisation import arm_of
    except ImportError:
        return None
    return arm_of(session, patient)


def regimen_for(protocol: Any, arm: str | None, subject_id: str | None = None) -> Any:
    """The regimen of a patient of ``arm``: the one whose ``arms`` include it, else the one without ``arms``."""
    regimens = list(protocol.treatment.systemic.regimens) if protocol.treatment.systemic is not None else []
    if not regimens:
        raise InvalidValue("treatment.systemic.regimens", "the protocol declares no regimen", show_value=False)
    who = subject_id or "the patient"
    if arm is not None:
        mine = [r for r in regimens if arm in r.arms]
        if len(mine) == 1:
            return mine[0]
        if len(mine) > 1:
            raise InvalidValue("arm", f"arm '{arm}' has several regimens ({', '.join(r.id for r in mine)})",
                               show_value=False)
    general = [r for r in regimens if not r.arms]
    if len(general) == 1:
        return general[0]
    if arm is None:
        raise InvalidValue("patient", f"{who} has no arm allocated: the regimen follows the arm (regimens "
                           + ", ".join(f"{r.id} for {', '.join(r.arms)}" for r in regimens if r.arms) + ")",
                           show_value=False)
    raise InvalidValue("arm", f"no regimen of the protocol is given to arm '{arm}'", show_value=False)


def _of_arm(regimen: Any, arm: str | None) -> str:
    return f"the regimen {regimen.id}" + (f" of arm {arm}" if arm is not None and arm in regimen.arms else "")


def _regimen_drugs(regimen: Any) -> dict[str, Any]:
    return {normalise_drug(d.drug): d for d in regimen.drugs}


def _bsa(spec: Any, form_id: str, formula: str, height: Any, weight: Any) -> float:
    """The body surface area, an impossible height or weight refused under the form's own field name."""
    try:
        return body_surface_area(height, weight, formula)
    except InvalidValue as exc:
        names = {"height_cm": spec.height_field, "weight_kg": spec.weight_field}
        if exc.field in names:
            raise InvalidValue(f"{form_id}.{names[exc.field]}", exc.rule, exc.value) from None
        raise


def _measures(spec: Any, form_id: str, formula: str, regimen: Any, values: Mapping[str, Any],
              coded: Mapping[str, str] | None = None) -> tuple[float | None, float | None]:
    """(BSA m2, weight kg) of a cycle; refused where a drug of the regimen needs one that is not given."""
    per = {entry.per: normalise_drug(entry.drug) for entry in regimen.drugs}
    height = values.get(spec.height_field) if spec.height_field else None
    weight = values.get(spec.weight_field) if spec.weight_field else None
    needs: list[tuple[str | None, Any, str]] = []
    if "m2" in per:
        why = f"{per['m2']} is dosed per m2 (the body surface area reads height and weight)"
        needs += [(spec.height_field, height, why), (spec.weight_field, weight, why)]
    elif "kg" in per:
        needs.append((spec.weight_field, weight, f"{per['kg']} is dosed per kg"))
    for field_id, value, why in needs:
        if value is None:
            where = f"{form_id}.{field_id}" if field_id else "treatment.systemic.administration"
            coded_note = "; a missing-data code cannot stand for it" if coded and field_id in coded else ""
            raise InvalidValue(where, f"is needed: {why}{coded_note}", show_value=False)
    bsa = _bsa(spec, form_id, formula, height, weight) if height is not None and weight is not None else None
    return bsa, (float(weight) if weight is not None else None)


def _key(drug: str, day: int) -> str:
    return f"{drug}_day{day}"


def _fmt(value: float) -> str:
    return f"{round(value, 1):g}"


# --------------------------------------------------------------------------- the cycle's derived values
def derive_administration(study, session, path, v, current) -> dict[str, Any]:
    """The derived values of one cycle of systemic therapy (see the module docstring for the keys)."""
    protocol = study.protocol
    systemic = protocol.treatment.systemic
    spec = systemic.administration
    form_id = spec.form

    def name(field_id: str) -> str:
        return f"{form_id}.{field_id}"

    enrolment = path.require_enrolled("a cycle of systemic therapy")
    cycle, day1 = v.get(spec.cycle_field), v.get(spec.date_field)
    for field_id, value in ((spec.cycle_field, cycle), (spec.date_field, day1)):
        if value is None:
            raise InvalidValue(name(field_id), "is needed to place the cycle in the course; a missing-data code "
                               "cannot stand for it", show_value=False)
    path.check_date(name(spec.date_field), day1, not_before=[(enrolment.enrolment_date, "enrolment")])

    arm = patient_arm(session, path.patient)
    regimen = regimen_for(protocol, arm, path.patient.subject_id)
    drugs = _regimen_drugs(regimen)
    for dose in spec.doses:
        if v.get(dose.field) is None:
            continue
        entry = drugs.get(normalise_drug(dose.drug))
        if entry is None:
            raise InvalidValue(name(dose.field), f"{dose.drug} is not in {_of_arm(regimen, arm)}: leave it empty",
                               show_value=False)
        if dose.day not in entry.days:
            raise InvalidValue(name(dose.field), f"{_of_arm(regimen, arm)} gives {dose.drug} on day "
                               f"{', '.join(map(str, entry.days))}, not on day {dose.day}: leave it empty",
                               show_value=False)

    # the cycle among the others
    if regimen.max_cycles is not None and cycle > regimen.max_cycles:
        raise InvalidValue(name(spec.cycle_field), f"{_of_arm(regimen, arm)} has at most {regimen.max_cycles} cycles",
                           cycle)
    others: list[Mapping[str, Any]] = []
    for row in path.entered(form_id):
        if row is current:
            continue
        values = path.values(row)
        if values.get(spec.cycle_field) is None or values.get(spec.date_field) is None:
            continue
        others.append(values)
        if values[spec.cycle_field] == cycle:
            raise InvalidValue(name(spec.cycle_field), f"cycle {cycle} is already recorded (day 1 "
                               f"{values[spec.date_field].isoformat()}); correct that one instead", cycle)
    before = [o for o in others if o[spec.cycle_field] < cycle]
    after = [o for o in others if o[spec.cycle_field] > cycle]
    if before:
        last = max(before, key=lambda o: o[spec.cycle_field])
        if day1 <= last[spec.date_field]:
            raise InvalidValue(name(spec.date_field), f"must be after day 1 of cycle {last[spec.cycle_field]} "
                               f"({last[spec.date_field].isoformat()})", day1.isoformat())
    if after:
        following = min(after, key=lambda o: o[spec.cycle_field])
        if day1 >= following[spec.date_field]:
            raise InvalidValue(name(spec.date_field), f"must be before day 1 of cycle {following[spec.cycle_field]} "
                               f"({following[spec.date_field].isoformat()})", day1.isoformat())

    # body surface area, planned doses, given against planned
    bsa, weight = _measures(spec, form_id, systemic.bsa_formula, regimen, v, path.missing)
    derived: dict[str, Any] = {"regimen": regimen.id, "arm": arm, "bsa_m2": bsa, "bsa_formula": systemic.bsa_formula}
    planned: dict[tuple[str, int], float] = {}
    for drug, entry in drugs.items():
        per_dose = planned_dose_mg(entry, bsa, weight)
        for day in entry.days:
            planned[(drug, day)] = per_dose
            derived[f"planned_{_key(drug, day)}_mg"] = per_dose
    tolerance = float(systemic.dose_tolerance_percent)
    reductions: list[tuple[Any, float, float]] = []  # (dose field, given, planned)
    for dose in spec.doses:
        given = v.get(dose.field)
        if given is None:
            continue
        target = planned[(normalise_drug(dose.drug), dose.day)]
        derived[f"percent_{_key(normalise_drug(dose.drug), dose.day)}"] = 100.0 * float(given) / target
        if float(given) < target * (1 - tolerance / 100) - _EPS:
            reductions.append((dose, float(given), target))
    derived["reduced_doses"] = [_key(normalise_drug(d.drug), d.day) for d, _g, _p in reductions]
    _check_reasons(spec, form_id, v, path.missing, reductions, tolerance)

    # the schedule: day 1 against the previous cycle's day 1 plus the cycle length
    previous = next((o for o in before if o[spec.cycle_field] == cycle - 1), None)
    planned_start = previous[spec.date_field] + dt.timedelta(days=regimen.cycle_days) if previous else None
    days_late = (day1 - planned_start).days if planned_start is not None else None
    derived.update({"planned_start": planned_start.isoformat() if planned_start else None, "days_late": days_late,
                    "late_beyond_tolerance": None if days_late is None
                    else days_late > int(systemic.delay_tolerance_days)})

    # the cumulative doxorubicin-equivalent dose and the warning before the next cycle
    cumulative, warning = None, None
    limit = systemic.anthracycline
    if limit is not None:
        table = equivalence_table(limit.equivalence)
        cumulative = _equivalent(spec, form_id, systemic.bsa_formula, regimen, v, bsa, table)
        for values in before:
            other_bsa, _weight = _measures(spec, form_id, systemic.bsa_formula, regimen, values)
            cumulative += _equivalent(spec, form_id, systemic.bsa_formula, regimen, values, other_bsa, table)
        more = regimen.max_cycles is None or cycle < regimen.max_cycles
        step = planned_cycle_equivalent(regimen, table, bsa_m2=bsa) if more else 0.0
        warning = anthracycline_warning(cumulative, step, limit.warn_cumulative_mg_m2)
    derived["cumulative_doxorubicin_eq_mg_m2"] = cumulative
    derived["anthracycline_warning"] = warning
    return derived


def _equivalent(spec: Any, form_id: str, formula: str, regimen: Any, values: Mapping[str, Any],
                bsa: float | None, table: Any) -> float:
    """The doxorubicin-equivalent mg/m2 of one cycle's anthracycline doses."""
    drugs = _regimen_drugs(regimen)
    total = 0.0
    for dose in spec.doses:
        drug = normalise_drug(dose.drug)
        given = values.get(dose.field)
        if drug not in drugs or not is_anthracycline(drug) or not given:
            continue
        if bsa is None:
            raise InvalidValue(f"{form_id}.{spec.height_field or spec.weight_field}", f"is needed: {drug} is counted "
                               "per m2 of body surface area", show_value=False)
        total += float(given) / bsa * table.factor(drug)
    return total


def _check_reasons(spec: Any, form_id: str, v: Mapping[str, Any], coded: Mapping[str, str],
                   reductions: list[tuple[Any, float, float]], tolerance: float) -> None:
    """A reduction or delay needs its reason (a value, or a missing-data code for it)."""

    def stated(field_id: str | None) -> bool:
        return field_id is not None and (v.get(field_id) is not None or field_id in coded)

    said_reduced = v.get(spec.reduced_field) if spec.reduced_field else None
    if reductions:
        dose, given, target = reductions[0]
        what = (f"{dose.drug} day {dose.day} {given:g} mg is {_fmt(100 * given / target)} % of the planned "
                f"{_fmt(target)} mg (a reduction: more than {tolerance:g} % below)")
        if said_reduced is False:
            raise InvalidValue(f"{form_id}.{spec.reduced_field}", f"says no dose was reduced, but {what}",
                               show_value=False)
        if spec.reduction_reason_field is not None and not stated(spec.reduction_reason_field):
            raise InvalidValue(f"{form_id}.{spec.reduction_reason_field}", f"is required: {what}", show_value=False)
    if said_reduced is True and spec.reduction_reason_field is not None and not stated(spec.reduction_reason_field):
        raise InvalidValue(f"{form_id}.{spec.reduction_reason_field}", f"is required: {spec.reduced_field} says the "
                           "dose was reduced", show_value=False)
    if spec.delayed_field and v.get(spec.delayed_field) is True and spec.delay_reason_field is not None \
            and not stated(spec.delay_reason_field):
        raise InvalidValue(f"{form_id}.{spec.delay_reason_field}", f"is required: {spec.delayed_field} says the "
                           "cycle was delayed", show_value=False)


# --------------------------------------------------------------------------- the read side
def _values_of(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    if hasattr(item, "values") and not callable(item.values):
        return dict(item.values or {})
    return dict(item[0] or {})  # a (values, derived) pair


def _instances(protocol: Any, record_or_crfs: Any) -> list[dict[str, Any]]:
    spec = administration_of(protocol)
    if hasattr(record_or_crfs, "of"):  # a PatientRecord
        return [_values_of(c) for c in record_or_crfs.of(spec.form)]
    return [_values_of(c) for c in record_or_crfs or []]


def reason_labels(protocol: Any) -> dict[str, str]:
    """The labels, by code, of the codes the cycle form's reduction and delay reason fields take (their code
    lists); empty without a cycle form. The report and the patient page word the reasons so."""
    spec = administration_of(protocol)
    if spec is None or not protocol.has_form(spec.form):
        return {}
    form, labels = protocol.form(spec.form), {}
    for field_id in (spec.reduction_reason_field, spec.delay_reason_field):
        fld = form.field(field_id) if field_id else None
        if fld is not None and fld.type == "code" and fld.codelist in protocol.codelists:
            labels.update({str(c.code): c.label for c in protocol.codelists[fld.codelist]})
    return labels


def _reason_codes(protocol: Any, spec: Any, rows: list[dict[str, Any]]) -> dict[str, str]:
    """The reasons a course may give: the code lists' codes, and each reason written in a text field as its own."""
    codes = reason_labels(protocol)
    form = protocol.form(spec.form)
    for field_id in (spec.reduction_reason_field, spec.delay_reason_field):
        fld = form.field(field_id) if field_id else None
        if fld is not None and not (fld.type == "code" and fld.codelist in protocol.codelists):
            codes.update({str(r[field_id]): str(r[field_id]) for r in rows if r.get(field_id) is not None})
    return codes


def course_summary(protocol: Any, crfs: Iterable[Any], arm: str | None = None) -> CourseSummary:
    """A patient's course from the instances of the administration form: the cycles given, each drug's
    planned and given dose, reductions and delays with their reasons, the relative dose intensity per
    drug and the cumulative doxorubicin-equivalent dose, by :func:`sarcotrial.domain.systemic.summarise_course`.

    ``crfs``: the patient's instances as ``(values, derived)`` pairs, objects with ``.values`` (a
    PatientRecord's CRFs), or a PatientRecord itself; ``arm``: the arm allocated (None: the regimen
    without arms). Every number is computed from the entered values, none from the stored derived ones.
    A cycle with no dose entered is not a cycle given."""
    spec = administration_of(protocol)
    if spec is None:
        raise InvalidValue("treatment.systemic.administration", "the protocol names no form for the cycles of "
                           "systemic therapy", show_value=False)
    systemic = protocol.treatment.systemic
    regimen = regimen_for(protocol, arm)
    drugs = _regimen_drugs(regimen)
    rows = sorted((r for r in _instances(protocol, crfs)
                   if r.get(spec.cycle_field) is not None and r.get(spec.date_field) is not None),
                  key=lambda r: r[spec.cycle_field])
    tolerance = float(systemic.dose_tolerance_percent)
    administrations: list[Administration] = []
    bsa_by_cycle: dict[int, float | None] = {}
    weight_by_cycle: dict[int, float | None] = {}
    for values in rows:
        cycle, day1 = int(values[spec.cycle_field]), values[spec.date_field]
        bsa, weight = _measures(spec, spec.form, systemic.bsa_formula, regimen, values)
        bsa_by_cycle[cycle], weight_by_cycle[cycle] = bsa, weight
        reduced_reason = values.get(spec.reduction_reason_field) if spec.reduction_reason_field else None
        delay_reason = values.get(spec.delay_reason_field) if spec.delay_reason_field else None
        said_reduced = bool(spec.reduced_field and values.get(spec.reduced_field))
        doses = [(d, values.get(d.field)) for d in spec.doses if values.get(d.field) is not None]
        below = set()
        for dose, given in doses:
            entry = drugs.get(normalise_drug(dose.drug))
            if entry is None:
                raise InvalidValue(f"{spec.form}.{dose.field}", f"cycle {cycle}: {dose.drug} is not in "
                                   f"{_of_arm(regimen, arm)}", show_value=False)
            if float(given) < planned_dose_mg(entry, bsa, weight) * (1 - tolerance / 100) - _EPS:
                below.add(dose.field)
        for dose, given in doses:
            reasons: list[str] = []
            if reduced_reason is not None and (dose.field in below or (said_reduced and not below)):
                reasons.append(str(reduced_reason))
            if delay_reason is not None and dose.day == 1:
                reasons.append(str(delay_reason))
            administrations.append(Administration(cycle, dose.day, day1 + dt.timedelta(days=dose.day - 1),
                                                  normalise_drug(dose.drug), float(given),
                                                  tuple(dict.fromkeys(reasons))))
    limit = systemic.anthracycline
    return summarise_course(regimen, administrations, bsa_m2=bsa_by_cycle, weight_kg=weight_by_cycle,
                            dose_tolerance_percent=tolerance, delay_tolerance_days=systemic.delay_tolerance_days,
                            table=equivalence_table(limit.equivalence) if limit is not None else None,
                            limit_mg_m2=limit.warn_cumulative_mg_m2 if limit is not None else None,
                            reason_codes=_reason_codes(protocol, spec, rows))


def treatment_start(protocol: Any, record_or_values: Any) -> dt.date | None:
    """Day 1 of the patient's first cycle of systemic therapy (the start of the toxicity window), or None.

    ``record_or_values``: a PatientRecord, or the instances of the administration form (``(values,
    derived)`` pairs, objects with ``.values``, or value mappings). The EDC's
    ``Pathway.treatment_start`` reads it for a protocol without radiotherapy: the earliest day 1 entered."""
    spec = administration_of(protocol)
    if spec is None:
        return None
    dates = [r.get(spec.date_field) for r in _instances(protocol, record_or_values)]
    return min((d for d in dates if d is not None), default=None)
