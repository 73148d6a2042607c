"""RECIST 1.1 in the EDC: the lesion, measurement and tumour-assessment forms, and a patient's response course.

Standard: Eisenhauer EA, Therasse P, Bogaerts J, et al. New response evaluation criteria in solid tumours:
revised RECIST guideline (version 1.1). Eur J Cancer 2009;45(2):228-247 (section numbers below are the
paper's). The rules themselves are :mod:`sarcotrial.domain.recist`; this module turns a protocol's three
response forms (``response.lesion_form``, ``response.measurement_form``, ``response.form``; their fields are
the convention of :meth:`sarcotrial.protocol.schema.Response.recist_fields`, docs/recist.md) into its
lesions and assessments, refuses what RECIST 1.1 forbids at entry, and derives each tumour assessment's
time point response.

At entry (nothing is stored when a rule is broken; the field and the rule are named):

- lesion form: the label is the patient's only lesion of that label; at most five target lesions in all
  and two per organ, every lymph node counting as one organ (section 4.2); a lesion whose measurements
  are recorded cannot change its label, kind or node flag in a way that would contradict them.
- measurement form: the lesion is declared on the lesion form; the date is that of one of the patient's
  tumour assessments (a measurement belongs to an imaging date; the assessment form is entered first);
  one measurement per lesion and date; a lymph node is measured by its short axis and any other lesion by
  its longest diameter (section 3.1); a target lesion gives a diameter, "too small to measure" or "not
  assessed", a non-target lesion its status (section 4.3.3); at baseline a target lesion is measurable
  (>= 10 mm, a node >= 15 mm short axis) and a non-target lesion is present (section 3.1).
- tumour-assessment form: one assessment per imaging date; the baseline is the patient's first assessment
  and only it, with no new lesions (section 4.3.5); a follow-up assessment is not dated before enrolment
  (the baseline's window before enrolment is the protocol's own check); its date may not move while
  measurements hang on it.

Derived: the assessment's sum of diameters, target, non-target and overall response, by
:func:`~sarcotrial.domain.recist.recist_timepoints` over the patient's assessments up to this one (a
response at a time point reads the baseline and the nadir before it). Lesions and measurements are often
entered after their assessment, so a stored derivation may be incomplete (``pending`` says what is
missing) or stale: the read side (:func:`recist_course`, used by the endpoints) always computes from the
entered values, never from stored derived ones, and there PD dated back to an equivocal new lesion
(section 4.3.5) appears.

Hand-written: the forms and their checks are this project's; the rules are the domain module's (see its
docstring for why no library is used).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Sequence

from sarcotrial.domain.recist import (
    MAX_TARGETS,
    MAX_TARGETS_PER_ORGAN,
    MIN_MEASURABLE_MM,
    MIN_MEASURABLE_NODE_MM,
    PD,
    TOO_SMALL,
    Assessment,
    BestOverallResponse,
    Lesion,
    TimepointResponse,
    best_overall_response,
    recist_timepoints,
)
from sarcotrial.errors import InvalidValue

__all__ = ["KIND", "NEW_LESIONS", "STATUS", "derive_response_form", "refuse_orphaning_delete", "recist_data",
           "recist_course", "progression_date"]

#: the forms' codes, as the domain module spells them
KIND = {"target": "target", "non_target": "non-target"}
NEW_LESIONS: dict[str, Any] = {"no": False, "yes": True, "equivocal": "equivocal"}
STATUS: dict[str, str | None] = {"present": "present", "absent": "absent",
                                 "unequivocal_progression": "unequivocal-progression", "not_assessed": None}
NODE_GROUP = "lymph nodes"


# --------------------------------------------------------------------------- entry
def derive_response_form(study, session, path, v: dict[str, Any], current) -> dict[str, Any]:
    """The derivation of the protocol's three response forms (``services.derivers.declared_deriver``)."""
    response = study.protocol.response
    role = _role(study.protocol, v, path.missing, current)
    names = {"form": response.form, "lesion_form": response.lesion_form,
             "measurement_form": response.measurement_form}
    path.require_enrolled(f"a {names[role].replace('_', ' ')}")
    if role == "lesion_form":
        return _derive_lesion(study, path, v, current, names)
    if role == "measurement_form":
        return _derive_measurement(study, path, v, current, names)
    return _derive_assessment(study, path, v, current, names)


def _role(protocol, v: Mapping[str, Any], missing: Mapping[str, str], current) -> str:
    """Which of the response forms is being derived: the stored row says; a new one is known by its fields
    (those given or missing-coded are the form's, and include every required one)."""
    response = protocol.response
    forms = {"form": response.form, "lesion_form": response.lesion_form, "measurement_form": response.measurement_form}
    if current is not None:
        return next(role for role, form_id in forms.items() if form_id == current.form_id)
    keys = set(v) | set(missing)
    fits = []
    for role, form_id in forms.items():
        if form_id is None:
            continue
        form = protocol.form(form_id)
        ids = {f.id for f in form.fields}
        if keys <= ids and all(f.id in keys for f in form.fields if f.required):
            fits.append(role)
    if len(fits) != 1:
        raise InvalidValue("form", "cannot tell which RECIST 1.1 form these values are for (the response forms "
                           "share their fields)", sorted(keys))
    return fits[0]


def _values(path, form_id: str | None, current=None) -> list[dict[str, Any]]:
    if form_id is None:
        return []
    return [path.values(row) for row in path.entered(form_id) if row is not current]


def _label(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _derive_lesion(study, path, v, current, names) -> dict[str, Any]:
    form = names["lesion_form"]
    subject = path.patient.subject_id
    lesion_id = _label(v.get("lesion_id"))
    if lesion_id is None:
        raise InvalidValue(f"{form}.lesion_id", "a lesion is named by its label: a missing-data code cannot stand "
                           "for it", show_value=False)
    v["lesion_id"] = lesion_id
    for key, what in (("kind", "whether the lesion is target or non-target"), ("node", "whether it is a lymph node")):
        if v.get(key) is None:
            raise InvalidValue(f"{form}.{key}", f"RECIST 1.1 needs {what}: a missing-data code cannot stand for it",
                               show_value=False)
    others = _values(path, form, current)
    if any(_label(o.get("lesion_id")) == lesion_id for o in others):
        raise InvalidValue(f"{form}.lesion_id", f"{subject} already has a lesion labelled {lesion_id}", lesion_id)
    if v["kind"] == "target":
        targets = [o for o in others if o.get("kind") == "target"]
        group = _organ_group(v)
        same = [_label(t.get("lesion_id")) or "?" for t in targets if group is not None and _organ_group(t) == group]
        if len(same) >= MAX_TARGETS_PER_ORGAN:
            rule = (f"at most {MAX_TARGETS_PER_ORGAN} target lesions per organ (RECIST 1.1 section 4.2)"
                    + ("; all lymph nodes count as one organ" if group == NODE_GROUP else "")
                    + f"; {subject}'s {group}: {', '.join(same)}")
            raise InvalidValue(f"{form}.{'node' if group == NODE_GROUP else 'organ'}", rule,
                               v.get("node") if group == NODE_GROUP else v.get("organ"))
        if len(targets) + 1 > MAX_TARGETS:
            raise InvalidValue(f"{form}.kind", f"at most {MAX_TARGETS} target lesions in all (RECIST 1.1 section 4.2); "
                               f"{subject} has {', '.join(_label(t.get('lesion_id')) or '?' for t in targets)}", "target")
    if current is not None:
        _lesion_change_keeps_measurements(path, names, path.values(current), v)
    return {}


def _organ_group(lesion: Mapping[str, Any]) -> str | None:
    """The organ a target lesion counts against: every lymph node is one organ (RECIST FAQ "Two target lesions")."""
    if lesion.get("node"):
        return NODE_GROUP
    organ = lesion.get("organ")
    return str(organ).strip().lower() if organ not in (None, "") else None


def _lesion_change_keeps_measurements(path, names, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """A corrected lesion must still fit the measurements recorded for it (or none may hang on its old label)."""
    form = names["lesion_form"]
    old = _label(before.get("lesion_id"))
    measured = [m for m in _values(path, names["measurement_form"]) if _label(m.get("lesion_id")) == old]
    if not measured:
        return
    if after["lesion_id"] != old:
        raise InvalidValue(f"{form}.lesion_id", f"{old} has {len(measured)} measurement(s) recorded under its label: "
                           "correct or delete those first", after["lesion_id"])
    baselines = _baseline_dates(path, names)
    for m in measured:
        try:
            _measurement_value(after, m, set(), baseline=m.get("assessment_date") in baselines, form=names["measurement_form"])
        except InvalidValue as err:
            changed = "kind" if after.get("kind") != before.get("kind") else "node"
            raise InvalidValue(f"{form}.{changed}", f"would contradict {old}'s measurement of "
                               f"{_iso(m.get('assessment_date'))} ({err.rule}): correct or delete it first",
                               after.get(changed)) from None


def _baseline_dates(path, names) -> set[dt.date]:
    return {a["assessment_date"] for a in _values(path, names["form"]) if a.get("baseline") and a.get("assessment_date")}


def _iso(day: Any) -> str:
    return day.isoformat() if isinstance(day, dt.date) else str(day)


def _derive_measurement(study, path, v, current, names) -> dict[str, Any]:
    form = names["measurement_form"]
    subject = path.patient.subject_id
    lesion_id = _label(v.get("lesion_id"))
    lesions = {_label(x.get("lesion_id")): x for x in _values(path, names["lesion_form"])}
    if lesion_id is None or lesion_id not in lesions:
        known = ", ".join(sorted(k for k in lesions if k)) or "none yet"
        raise InvalidValue(f"{form}.lesion_id", f"not a lesion declared on the {names['lesion_form']} form for "
                           f"{subject} (declared: {known})", v.get("lesion_id"))
    v["lesion_id"] = lesion_id
    day = v.get("assessment_date")
    assessments = {a.get("assessment_date"): a for a in _values(path, names["form"]) if a.get("assessment_date")}
    if day not in assessments:
        dates = ", ".join(sorted(d.isoformat() for d in assessments)) or "none yet"
        raise InvalidValue(f"{form}.assessment_date", f"is not the date of one of {subject}'s tumour assessments "
                           f"({dates}): record the {names['form']} form of that imaging date first", _iso(day))
    for other in _values(path, form, current):
        if _label(other.get("lesion_id")) == lesion_id and other.get("assessment_date") == day:
            raise InvalidValue(f"{form}.lesion_id", f"{lesion_id} already has a measurement on {day.isoformat()}: "
                               "correct it instead", lesion_id)
    _measurement_value(lesions[lesion_id], v, set(path.missing), baseline=bool(assessments[day].get("baseline")),
                       form=form)
    return {}


def _measurement_value(lesion: Mapping[str, Any], m: Mapping[str, Any], missing: set[str], *, baseline: bool,
                       form: str) -> Any:
    """A measurement's value for the domain rules (mm, ``"TS"``, a non-target status, or None: not assessed),
    refused where RECIST 1.1 forbids it (sections 3.1 and 4.3)."""
    lesion_id = _label(lesion.get("lesion_id"))
    node = bool(lesion.get("node"))
    status, diameter, too_small, axis = m.get("status"), m.get("diameter_mm"), m.get("too_small") is True, m.get("axis")
    if lesion.get("kind") != "target":
        sized = next((k for k in ("diameter_mm", "too_small", "axis") if m.get(k) not in (None, False)), None)
        if sized:
            raise InvalidValue(f"{form}.{sized}", f"{lesion_id} is a non-target lesion: give its status, not a size "
                               "(RECIST 1.1 section 4.3.3)", m.get(sized))
        if status is None and "status" not in missing:
            raise InvalidValue(f"{form}.status", f"{lesion_id} is a non-target lesion: give its status (present, "
                               "absent, unequivocal progression or not assessed)", show_value=False)
        value = STATUS.get(status) if status is not None else None
        if baseline and value != "present":
            raise InvalidValue(f"{form}.status", "a non-target lesion is present at baseline (RECIST 1.1 section "
                               "4.3.3)", status)
        return value
    if status not in (None, "not_assessed"):
        raise InvalidValue(f"{form}.status", f"{lesion_id} is a target lesion: give its diameter, not a non-target "
                           "status", status)
    if node and axis == "long":
        raise InvalidValue(f"{form}.axis", "a lymph node is measured by its short axis, not its long axis "
                           "(RECIST 1.1 section 3.1)", axis)
    if not node and axis == "short":
        raise InvalidValue(f"{form}.axis", "a lesion other than a lymph node is measured by its longest diameter "
                           "(RECIST 1.1 section 3.1)", axis)
    if diameter is not None and too_small:
        raise InvalidValue(f"{form}.too_small", "give the diameter or 'too small to measure', not both", show_value=False)
    if status == "not_assessed" or (diameter is None and not too_small and "diameter_mm" in missing):
        if diameter is not None or too_small:
            raise InvalidValue(f"{form}.status", "a lesion not assessed has no size", status)
        value = None
    elif diameter is None and not too_small:
        raise InvalidValue(f"{form}.diameter_mm", f"{lesion_id} is a target lesion: give its diameter in mm (0 if it "
                           "has disappeared), 'too small to measure', or status not_assessed", show_value=False)
    else:
        value = TOO_SMALL if too_small else diameter
    if baseline:
        if value is None or value == TOO_SMALL:
            raise InvalidValue(f"{form}.diameter_mm", "every target lesion is measured at baseline (RECIST 1.1 "
                               "section 3.1: too small to measure is not measurable)", value)
        minimum = MIN_MEASURABLE_NODE_MM if node else MIN_MEASURABLE_MM
        if value < minimum:
            rule = ("a target lymph node must be >= 15 mm in short axis (RECIST 1.1 section 3.1)" if node else
                    "a target lesion must be measurable, >= 10 mm (RECIST 1.1 section 3.1)")
            raise InvalidValue(f"{form}.diameter_mm", rule, value)
    return value


def _derive_assessment(study, path, v, current, names) -> dict[str, Any]:
    form = names["form"]
    subject = path.patient.subject_id
    day, baseline = v.get("assessment_date"), v.get("baseline")
    if day is None or baseline is None:
        key = "assessment_date" if day is None else "baseline"
        raise InvalidValue(f"{form}.{key}", "RECIST 1.1 reads it: a missing-data code cannot stand for it",
                           show_value=False)
    others = [a for a in _values(path, form, current) if a.get("assessment_date")]
    if any(a["assessment_date"] == day for a in others):
        raise InvalidValue(f"{form}.assessment_date", f"{subject} already has a tumour assessment on "
                           f"{day.isoformat()}: one form per imaging date (measurements are matched to it by date)",
                           day.isoformat())
    # the baseline may precede enrolment (the protocol's check says by how much); a follow-up assessment may not
    path.check_date(f"{form}.assessment_date", day,
                    not_before=[] if baseline else [(path.enrolment.enrolment_date, "enrolment")])
    base = next((a for a in others if a.get("baseline")), None)
    if baseline:
        if base is not None:
            raise InvalidValue(f"{form}.baseline", f"{subject} already has a baseline assessment "
                               f"({base['assessment_date'].isoformat()}): only the first assessment is the baseline",
                               True)
        earlier = sorted(a["assessment_date"] for a in others if a["assessment_date"] < day)
        if earlier:
            raise InvalidValue(f"{form}.baseline", f"the baseline is the first assessment; {subject} has one dated "
                               f"{earlier[0].isoformat()}", True)
        if v.get("new_lesions") in ("yes", "equivocal"):
            raise InvalidValue(f"{form}.new_lesions", "there are no new lesions at baseline (RECIST 1.1 section 4.3.5: "
                               "lesions seen at baseline are declared on the lesion form)", v["new_lesions"])
    elif base is not None and day <= base["assessment_date"]:
        raise InvalidValue(f"{form}.assessment_date", f"must be after the baseline assessment "
                           f"({base['assessment_date'].isoformat()})", day.isoformat())
    if current is not None:
        old = path.values(current).get("assessment_date")
        if old != day:
            hanging = [m for m in _values(path, names["measurement_form"]) if m.get("assessment_date") == old]
            if hanging:
                raise InvalidValue(f"{form}.assessment_date", f"{len(hanging)} measurement(s) are recorded at "
                                   f"{_iso(old)}: correct their date first", day.isoformat())
    upto = [a for a in others if a["assessment_date"] < day] + [v]
    try:
        lesions, assessments = recist_data(_values(path, names["lesion_form"]), upto,
                                           _values(path, names["measurement_form"]))
        point = next(tp for tp in recist_timepoints(lesions, assessments) if tp.date == day)
    except InvalidValue as err:
        return {"sum_mm": None, "target": None, "non_target": None, "overall": None, "note": None,
                "pending": f"{err.field}: {err.rule}"}
    return {"sum_mm": point.sum_mm, "target": point.target, "non_target": point.non_target,
            "overall": point.overall, "note": point.note, "pending": None}


def refuse_orphaning_delete(study, path, row) -> None:
    """Deleting a lesion, or a tumour assessment, whose measurements are recorded is refused: the
    measurements would hang on nothing (delete or correct those first, never a silent cascade)."""
    response = study.protocol.response
    if response is None or row.form_id not in (response.lesion_form, response.form):
        return
    values = path.values(row)
    measurements = _values(path, response.measurement_form)
    if row.form_id == response.lesion_form:
        key, hanging = _label(values.get("lesion_id")), [m for m in measurements
                                                         if _label(m.get("lesion_id")) == _label(values.get("lesion_id"))]
    else:
        key, hanging = _iso(values.get("assessment_date")), [m for m in measurements
                                                             if m.get("assessment_date") == values.get("assessment_date")]
    if hanging:
        raise InvalidValue(row.form_id, f"{path.patient.subject_id}'s {row.form_id.replace('_', ' ')} {key} has "
                           f"{len(hanging)} {response.measurement_form.replace('_', ' ')} form(s) recorded against it: "
                           "delete or correct those first", show_value=False)


# --------------------------------------------------------------------------- the domain's data
def recist_data(lesions: Sequence[Mapping[str, Any]], assessments: Sequence[Mapping[str, Any]],
                measurements: Sequence[Mapping[str, Any]]) -> tuple[list[Lesion], list[Assessment]]:
    """The domain's lesions and assessments (in date order) from the values of the three forms. A lesion
    without a measurement at an assessment was not assessed there; undated assessments are left out."""
    declared = [x for x in lesions if _label(x.get("lesion_id")) and x.get("kind") in KIND]
    out_lesions = [Lesion(_label(x["lesion_id"]), KIND[x["kind"]], bool(x.get("node")),
                          None if x.get("node") else x.get("organ")) for x in declared]
    by_id = {_label(x["lesion_id"]): x for x in declared}
    out: list[Assessment] = []
    for a in sorted((a for a in assessments if a.get("assessment_date")), key=lambda a: a["assessment_date"]):
        day = a["assessment_date"]
        sizes: dict[str, Any] = {}
        statuses: dict[str, Any] = {}
        for m in measurements:
            lesion = by_id.get(_label(m.get("lesion_id")))
            if lesion is None or m.get("assessment_date") != day:
                continue
            if lesion["kind"] == "target":
                sizes[_label(lesion["lesion_id"])] = (None if m.get("status") == "not_assessed" else
                                              TOO_SMALL if m.get("too_small") is True else m.get("diameter_mm"))
            else:
                statuses[_label(lesion["lesion_id"])] = STATUS.get(m.get("status")) if m.get("status") else None
        new = NEW_LESIONS.get(a.get("new_lesions")) if a.get("new_lesions") is not None else None
        out.append(Assessment(day, bool(a.get("baseline")), sizes, statuses, new))
    return out_lesions, out


# --------------------------------------------------------------------------- the read side
def recist_course(protocol, record) -> tuple[list[TimepointResponse], BestOverallResponse | None,
                                             BestOverallResponse | None]:
    """A patient's RECIST 1.1 time points and best overall response, unconfirmed and confirmed, from the
    entered values of a :class:`~sarcotrial.services.views.PatientRecord` (never from stored derived ones).

    Stable disease counts from ``response.sd_min_days`` after enrolment (the origin of the protocol's
    endpoints; the baseline assessment's date for a patient not enrolled); a confirmation comes at least
    ``response.confirmation_min_days`` after the response. ``([], None, None)`` where the protocol has no
    response section or the patient no tumour assessment; :class:`InvalidValue` naming what is missing
    where the recorded assessments cannot be evaluated yet (a baseline target lesion not measured)."""
    response = getattr(protocol, "response", None)
    if response is None or response.lesion_form is None or response.measurement_form is None:
        return [], None, None
    assessments = [c.values for c in record.of(response.form)]
    if not assessments:
        return [], None, None
    lesions, data = recist_data([c.values for c in record.of(response.lesion_form)], assessments,
                                [c.values for c in record.of(response.measurement_form)])
    points = recist_timepoints(lesions, data)
    origin = record.enrolment_date
    kwargs = dict(sd_min_days=response.sd_min_days, confirmation_min_days=response.confirmation_min_days,
                  origin_date=origin)
    return (points, best_overall_response(points, confirmation=False, **kwargs),
            best_overall_response(points, confirmation=True, **kwargs))


def progression_date(points: Sequence[TimepointResponse]) -> dt.date | None:
    """The date of progression by RECIST 1.1: the first time point whose overall response is PD (dated back to
    the first equivocal new lesion where a later scan confirmed it, section 4.3.5)."""
    return next((tp.date for tp in points if not tp.baseline and tp.overall == PD), None)
