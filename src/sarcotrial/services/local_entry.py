"""Interventional treatments and functional outcome in the EDC: what is derived at entry, and read back.

Standards (the rules are the domain's; this module applies them to the forms a protocol declares):

- the CIRSE classification of complications (Filippiadis DK, Binkert C, Pellerin O, et al. Cardiovasc
  Intervent Radiol 2017;40:1141-1146): the grade of a complication is that of its worst consequence
  (:func:`sarcotrial.domain.interventional.cirse_grade`); a stay beyond the normal post-procedure course
  is grade 2 up to 48 h and grade 3 beyond (:func:`~sarcotrial.domain.interventional.consequence_of_stay`);
  thermal ablation (Ahmed M, et al. Radiology 2014;273:241-260) and chemoembolisation (Lucatelli P, et al.
  Cardiovasc Intervent Radiol 2021;44:1851-1867) techniques, checked by
  :func:`~sarcotrial.domain.interventional.intervention_record`;
- the MSTS score (Enneking WF, et al. Clin Orthop Relat Res 1993;286:241-246): six items scored 0-5, the
  lower- or upper-limb set, total out of 30 and percent (:func:`sarcotrial.domain.function.msts_score`).

The protocol names the forms and their fields by role (``treatment.interventions``, ``functional_outcome``;
:mod:`sarcotrial.protocol.schema_local`), and ``services/derivers.py`` sends their entries here:

- :func:`derive_intervention`: the patient must be enrolled and the procedure not before enrolment (nor in
  the future, nor after death); the technique must be one of the kind's, a chemoembolisation endovascular;
  the complication's consequences give its CIRSE grade and the deciding consequence. With no consequence
  recorded there is no complication: no grade, and the derived values say so; a complication described
  without any consequence is refused (it cannot be graded). A consequence field coded missing leaves the
  grade underived (the worst consequence is not known).
- :func:`derive_function`: the MSTS total and percent, derived only when all six items of the limb's set
  are present (the total is not defined without one: the derived values name the items missing); an item
  of the other limb's set, or a score outside 0-5, is refused naming the form's field.

Every refusal is an :class:`~sarcotrial.errors.InvalidValue` naming ``form.field``; the write it refuses
stores nothing. :func:`interventions_of` and :func:`function_of` read the stored records back for the
report. Hand-written glue: the rules themselves are the domain's, and no library knows the protocol's forms.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping, TypeVar

from sarcotrial.errors import InvalidValue

T = TypeVar("T")


def _renamed(call: Callable[[], T], names: Mapping[str, str]) -> T:
    """Run a domain rule; its refusal names the form's field instead of the rule's argument."""
    try:
        return call()
    except InvalidValue as err:
        if err.field in names:
            raise InvalidValue(names[err.field], err.rule, err.value, show_value=err.value is not None) from None
        raise


def _other_dates(path, v: Mapping[str, Any], form_id: str, checked: str) -> None:
    """The form's other dates, checked as ``forms._derive_generic`` checks a form's (birth, today)."""
    for key, value in v.items():
        if key != checked and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            path.check_date(f"{form_id}.{key}", value, allow_after_death=True)


# --------------------------------------------------------------------------- interventions
def derive_intervention(study, session, path, v, current) -> dict[str, Any]:
    """A thermal ablation or chemoembolisation: checked, and its complication graded by CIRSE."""
    from sarcotrial.domain.interventional import (
        CIRSE_CONSEQUENCES,
        INTERVENTION_KINDS,
        TECHNIQUES,
        cirse_grade,
        consequence_of_stay,
        intervention_record,
    )

    spec = study.protocol.treatment.interventions
    f, form_id = spec.fields, spec.form

    def name(field_id: str | None) -> str:
        return f"{form_id}.{field_id}"

    enrolment = path.require_enrolled("an interventional treatment")
    day = v.get(f.date)
    path.check_date(name(f.date), day, not_before=[(enrolment.enrolment_date, "enrolment")])
    _other_dates(path, v, form_id, f.date)

    kind, technique, approach = v.get(f.kind), v.get(f.technique), v.get(f.approach) if f.approach else None
    if kind in TECHNIQUES and technique is not None and technique not in TECHNIQUES[kind]:
        owner = next((k for k, vocabulary in TECHNIQUES.items() if technique in vocabulary), None)
        what = f"a {INTERVENTION_KINDS[owner]} technique" if owner else "not a known technique"
        raise InvalidValue(name(f.technique), f"is {what}; the techniques of {INTERVENTION_KINDS[kind]} are "
                           f"{', '.join(TECHNIQUES[kind])}", technique)

    # the complication's consequences, from the yes/no fields, the consequence code and the extra stay
    recorded: list[str] = []
    where_recorded: dict[str, str] = {}
    for code, field_id in f.consequences.items():
        if v.get(field_id) is True:
            recorded.append(code)
            where_recorded[code] = name(field_id)
    if f.consequence is not None and v.get(f.consequence) is not None:
        code = v[f.consequence]
        if code not in CIRSE_CONSEQUENCES:
            raise InvalidValue(name(f.consequence), f"not a consequence of the CIRSE classification (known: "
                               f"{', '.join(CIRSE_CONSEQUENCES)})", code)
        recorded.append(code)
        where_recorded.setdefault(code, name(f.consequence))
    hours = v.get(f.extra_stay_hours) if f.extra_stay_hours else None
    if hours is not None:
        stay = _renamed(lambda: consequence_of_stay(hours), {"extra_stay_hours": name(f.extra_stay_hours)})
        stays = ("prolonged_observation", "prolonged_stay_over_48h")
        for code in stays:
            if code in where_recorded and code != stay:
                said = f"{hours:g} h beyond the normal course" if stay else "no stay beyond the normal course"
                raise InvalidValue(where_recorded[code], f"says {code.replace('_', ' ')}, but {name(f.extra_stay_hours)} "
                                   f"says {said} ({'none' if stay is None else stay.replace('_', ' ')}; CIRSE: "
                                   "up to 48 h is grade 2, more is grade 3)", show_value=False)
        if stay is not None:
            recorded.append(stay)

    description = v.get(f.complication) if f.complication else None
    consequence_fields = [x for x in (*f.consequences.values(), f.consequence, f.extra_stay_hours) if x is not None]
    coded = sorted(x for x in consequence_fields if x in path.missing)
    if not recorded and description and not coded:
        raise InvalidValue(name(f.complication), "describes a complication, but none of its consequences is recorded: "
                           f"the CIRSE grade needs at least one ({', '.join(map(name, consequence_fields))})",
                           show_value=False)

    complications = [(description or "complication", recorded)] if recorded else []
    names = {"kind": name(f.kind), "technique": name(f.technique), "target_lesion": name(f.target_lesion),
             "date": name(f.date), "approach": name(f.approach), "guidance": name(f.guidance),
             "complication": name(f.complication), "consequence": name(f.consequence)}
    target = v.get(f.target_lesion)
    if None not in (kind, technique, target, day):
        guidance = v.get(f.guidance) if f.guidance else None
        _renamed(lambda: intervention_record(kind, technique, target, day, approach=approach, guidance=guidance,
                                             complications=complications), names)
    elif kind == "chemoembolisation" and approach not in (None, "endovascular"):
        raise InvalidValue(name(f.approach), "chemoembolisation is transarterial: the approach is 'endovascular'",
                           approach)

    if coded:
        return {"cirse_complication": None, "cirse_grade": None, "cirse_definition": None,
                "cirse_deciding_consequence": None, "cirse_consequences": list(dict.fromkeys(recorded)),
                "cirse_note": "not graded: " + ", ".join(f"{name(x)} is {path.missing[x]}" for x in coded)
                              + " (the worst consequence is not known)"}
    if not recorded:
        return {"cirse_complication": False, "cirse_grade": None, "cirse_definition": None,
                "cirse_deciding_consequence": None, "cirse_consequences": [],
                "cirse_note": "no complication recorded: no CIRSE grade"}
    grade = _renamed(lambda: cirse_grade(recorded), names)
    return {"cirse_complication": True, "cirse_grade": grade.grade, "cirse_definition": grade.definition,
            "cirse_deciding_consequence": grade.deciding, "cirse_consequences": list(grade.consequences),
            "cirse_note": None}


# --------------------------------------------------------------------------- functional outcome
def derive_function(study, session, path, v, current) -> dict[str, Any]:
    """An MSTS assessment: the total out of 30 and the percentage, from the six items of the limb's set."""
    from sarcotrial.domain.function import MSTS_ITEMS, msts_score

    spec = study.protocol.functional_outcome
    f, form_id = spec.fields, spec.form

    def name(field_id: str) -> str:
        return f"{form_id}.{field_id}"

    path.require_enrolled("a functional outcome assessment")
    path.check_date(name(f.date), v.get(f.date))
    _other_dates(path, v, form_id, f.date)

    limb = spec.limb or (v.get(f.limb) if f.limb else None)
    given = {item: v[field_id] for item, field_id in f.items.items() if v.get(field_id) is not None}
    empty = {"msts_limb": limb, "msts_total": None, "msts_maximum": None, "msts_percent": None}
    if limb is None:
        return {**empty, "msts_note": f"not derived: the limb ({name(f.limb or 'limb')}) is not recorded"}
    if limb not in MSTS_ITEMS:
        raise InvalidValue(name(f.limb or "limb"), "must be 'lower' or 'upper'", limb)
    other = "upper" if limb == "lower" else "lower"
    for item in given:
        if item not in MSTS_ITEMS[limb]:
            raise InvalidValue(name(f.items[item]), f"belongs to the {other}-limb MSTS set; this assessment is of "
                               f"the {limb} limb: leave it empty", given[item])
    missing = [item for item in MSTS_ITEMS[limb] if item not in given]
    if missing:
        return {**empty, "msts_note": "not derived: the MSTS total needs all six items; "
                + ", ".join(name(f.items[item]) if item in f.items else item for item in missing) + " not recorded"}
    score = _renamed(lambda: msts_score(limb, given), {item: name(f.items[item]) for item in f.items})
    return {"msts_limb": limb, "msts_total": score.total, "msts_maximum": score.maximum,
            "msts_percent": score.percent, "msts_note": None}


# --------------------------------------------------------------------------- the read side
def _date(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def interventions_of(protocol, record) -> list[dict[str, Any]]:
    """A patient's interventional procedures, by date: what was done, and the CIRSE grade derived at entry.

    ``record`` is a :class:`~sarcotrial.services.views.PatientRecord`; ``[]`` where the protocol declares no
    interventions."""
    spec = protocol.treatment.interventions
    if spec is None:
        return []
    from sarcotrial.domain.interventional import CIRSE_CONSEQUENCES, INTERVENTION_KINDS, TECHNIQUES

    f = spec.fields
    rows = []
    for crf in record.of(spec.form):
        values, derived = crf.values, crf.derived
        kind, technique = values.get(f.kind), values.get(f.technique)
        deciding = derived.get("cirse_deciding_consequence")
        rows.append({
            "date": _date(values.get(f.date)), "visit": crf.visit, "instance": crf.instance,
            "kind": kind, "kind_label": INTERVENTION_KINDS.get(kind),
            "technique": technique, "technique_label": TECHNIQUES.get(kind, {}).get(technique),
            "target_lesion": values.get(f.target_lesion),
            "approach": values.get(f.approach) if f.approach else None,
            "guidance": values.get(f.guidance) if f.guidance else None,
            "complication": derived.get("cirse_complication"),
            "complication_description": values.get(f.complication) if f.complication else None,
            "cirse_grade": derived.get("cirse_grade"), "cirse_definition": derived.get("cirse_definition"),
            "cirse_deciding_consequence": deciding,
            "cirse_deciding_label": CIRSE_CONSEQUENCES[deciding][1] if deciding in CIRSE_CONSEQUENCES else None,
            "cirse_consequences": list(derived.get("cirse_consequences") or []),
            "cirse_note": derived.get("cirse_note"),
        })
    return sorted(rows, key=lambda r: (r["date"] is None, r["date"] or "", r["instance"]))


def function_of(protocol, record) -> list[dict[str, Any]]:
    """A patient's MSTS assessments, by date: the items as entered and the score derived at entry.

    ``[]`` where the protocol declares no functional outcome."""
    spec = protocol.functional_outcome
    if spec is None:
        return []
    f = spec.fields
    rows = []
    for crf in record.of(spec.form):
        values, derived = crf.values, crf.derived
        limb = spec.limb or (values.get(f.limb) if f.limb else None)
        rows.append({
            "date": _date(values.get(f.date)), "visit": crf.visit, "limb": limb,
            "items": {item: values.get(field_id) for item, field_id in f.items.items()
                      if values.get(field_id) is not None},
            "total": derived.get("msts_total"), "maximum": derived.get("msts_maximum"),
            "percent": derived.get("msts_percent"), "note": derived.get("msts_note"),
        })
    return sorted(rows, key=lambda r: (r["date"] is None, r["date"] or ""))
