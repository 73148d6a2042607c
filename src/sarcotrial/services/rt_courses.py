"""Further radiotherapy courses in the EDC: each course's prescription, dose, calendar and delivery log.

A protocol's ``treatment.radiotherapy_courses`` (:mod:`sarcotrial.protocol.schema_rtcourses`) names a
repeating course form and a repeating fraction form. Entering a course derives, by its modality:

- the dose in Gy for photons and brachytherapy, in Gy(RBE) for particles (ICRU Report 78: protons
  with the fixed RBE 1.1, from the physical dose if that is what was given; carbon ions as the
  planning system computed them, with their RBE model recorded, else refused naming the field);
- the prescription checked: dose per fraction x fractions = total dose (to 0.01 Gy a fraction, the
  precision of a form's value), else refused naming the dose-per-fraction field;
- its radiobiology: BED and EQD2 by the linear-quadratic model at the protocol's alpha/beta (or the
  course's own) for photons, protons and HDR brachytherapy (Fowler, Br J Radiol 1989;62:679-694);
  BED and EQD2 with incomplete repair for LDR implants (Dale, Br J Radiol 1985;58:515-528), with the
  protocol's repair half-time and, for a permanent implant, the nuclide's half-life; for carbon ions
  no EQD2, with the reason (:func:`sarcotrial.domain.radiobiology.particle_eqd2`);
- the planned calendar of its schedule (daily, every other treatment day, at least 40 h apart, given
  weekdays: :func:`sarcotrial.radiotherapy.calendar.spaced_treatment_dates`), public holidays and the
  protocol's treatment days skipped; a first day that is not a treatment day is refused with the
  next one.

A fraction names its course by number: the course must be recorded, the date must not be before the
course's first day, a delivered fraction falls on a treatment day of the course's schedule, once per
number and day, and a missed or rescheduled one says why (:func:`sarcotrial.domain.pathway.check_fraction`).

The read side (:func:`courses_of`, :func:`courses`) gives each course with its delivery summary
(:func:`sarcotrial.radiotherapy.delivery.summarise_delivery`): fractions delivered and missed, overall
time against the planned calendar, and deviations by the protocol's own thresholds (none without).

The rules are the domain's (radiobiology, calendar, delivery); this module reads the protocol's
declaration and the forms' values and hands them over; nothing here is taken from a library because
the declaration is this project's own format.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from sarcotrial.errors import InvalidValue
from sarcotrial.protocol.schema_rtcourses import LDR_MODALITIES, MODALITIES, PARTICLE_MODALITIES, RadiotherapyCourses

#: a dose per fraction is entered to 0.01 Gy: 3 x 8.33 Gy is 25 Gy
_PER_FRACTION_PRECISION_GY = 0.005


def _section(protocol) -> RadiotherapyCourses:
    section = protocol.treatment.radiotherapy_courses
    if section is None:
        raise InvalidValue("protocol", f"{protocol.acronym} v{protocol.version} declares no further radiotherapy "
                           "courses (treatment.radiotherapy_courses)", show_value=False)
    return section


def _round(value: float | None, places: int = 6) -> float | None:
    return None if value is None else round(value, places)


# --------------------------------------------------------------------------- a course's prescription and plan
@dataclass(frozen=True)
class CourseAssessment:
    """What a course form's values give: the prescription in its unit, its radiobiology and its calendar."""

    number: int | None
    modality: str | None
    unit: str                          # Gy, or Gy(RBE) for particles
    total_dose: float | None
    dose_per_fraction: float | None
    fractions: int | None
    rbe_model: str | None
    rbe: float | None
    physical_dose_gy: float | None
    dose_rate_gy_per_h: float | None   # a temporary LDR implant's
    isotope: str | None                # a permanent implant's
    alpha_beta_gy: float
    model: str | None                  # how BED/EQD2 were computed, or None
    bed_gy: float | None
    eqd2_gy: float | None
    eqd2_refused: str | None           # why there is no EQD2 (carbon ions)
    duration_h: float | None           # a temporary LDR implant's duration
    schedule: str | None
    calendar: str
    treatment_days: tuple[str, ...]
    planned_dates: tuple[dt.date, ...]
    moved_start: str | None

    @property
    def planned_overall_days(self) -> int | None:
        return (self.planned_dates[-1] - self.planned_dates[0]).days + 1 if self.planned_dates else None

    def derived(self) -> dict[str, Any]:
        """As stored with the course form (JSON values)."""
        return {
            "unit": self.unit, "total_dose": _round(self.total_dose), "dose_per_fraction": _round(self.dose_per_fraction),
            "planned_fractions": self.fractions, "rbe_model": self.rbe_model, "rbe": self.rbe,
            "physical_dose_gy": _round(self.physical_dose_gy), "dose_rate_gy_per_h": self.dose_rate_gy_per_h,
            "isotope": self.isotope, "alpha_beta_gy": self.alpha_beta_gy,
            "radiobiology": self.model, "bed_gy": _round(self.bed_gy), "eqd2_gy": _round(self.eqd2_gy),
            "eqd2_refused": self.eqd2_refused, "implant_duration_h": _round(self.duration_h),
            "planned_dates": [d.isoformat() for d in self.planned_dates],
            "planned_last": self.planned_dates[-1].isoformat() if self.planned_dates else None,
            "planned_overall_days": self.planned_overall_days, "moved_start": self.moved_start,
        }


def _renamed(error: InvalidValue, names: Mapping[str, str]) -> InvalidValue:
    """A domain refusal under the form field it is about."""
    return InvalidValue(names.get(error.field, error.field), error.rule, error.value,
                        show_value=error.value is not None)


def assess_course(section: RadiotherapyCourses, form_id: str, values: Mapping[str, Any],
                  missing: Iterable[str] = ()) -> CourseAssessment:
    """A course form's values judged and derived (refusals name ``form.field``); ``missing``: the fields
    given a missing-data code, whose rules wait for the value."""
    from sarcotrial.domain import radiobiology as rb
    from sarcotrial.radiotherapy.calendar import ABLATIVE_SPACINGS, closure_reason, next_treatment_day, \
        spaced_treatment_dates

    f = section.fields
    coded = set(missing)

    def name(role: str) -> str:
        return f"{form_id}.{getattr(f, role)}"

    def get(role: str) -> Any:
        return values.get(getattr(f, role))

    modality, total, per, n = get("modality"), get("total_dose"), get("dose_per_fraction"), get("fractions")
    physical, model, rate, isotope = get("physical_dose"), get("rbe_model"), get("dose_rate"), get("isotope")
    alpha_beta = get("alpha_beta") or section.alpha_beta_gy
    if modality is not None and modality not in MODALITIES:
        raise InvalidValue(name("modality"), f"not a modality (known: {', '.join(MODALITIES)})", modality)
    if modality not in PARTICLE_MODALITIES:
        if model is not None:
            raise InvalidValue(name("rbe_model"), "only a carbon-ion dose is recorded with an RBE model", model)
        if physical is not None:
            raise InvalidValue(name("physical_dose"), f"a physical dose is recorded beside a particle dose in Gy(RBE); "
                               f"a {modality} dose is in Gy: give it as the total dose", physical)
    if rate is not None and modality not in LDR_MODALITIES:
        raise InvalidValue(name("dose_rate"), "a dose rate is recorded for an LDR implant", rate)
    if isotope is not None and modality != "ldr_permanent":
        raise InvalidValue(name("isotope"), "an isotope is recorded for a permanent implant", isotope)

    unit, rbe, particle = "Gy", None, None
    if modality in PARTICLE_MODALITIES:
        unit = "Gy(RBE)"
        if total is not None or physical is not None or modality == "carbon":
            try:
                particle = rb.particle_dose("proton" if modality == "protons" else "carbon", dose_gy_rbe=total,
                                            physical_dose_gy=physical, rbe_model=model)
            except InvalidValue as error:
                if error.field == "dose_gy_rbe" and f.total_dose in coded:
                    particle = None  # the dose waits for its value
                else:
                    raise _renamed(error, {"dose_gy_rbe": name("total_dose"), "physical_dose_gy": name("physical_dose"),
                                           "rbe_model": name("rbe_model"), "particle": name("modality")}) from None
            if particle is not None:
                total, rbe = particle.dose_gy_rbe, particle.rbe
    if total is None and modality is not None and f.total_dose not in coded:
        raise InvalidValue(name("total_dose"), f"a {modality} course needs its total dose"
                           + (" (or, for protons, the physical dose)" if modality == "protons" else ""),
                           show_value=False)
    if modality in LDR_MODALITIES and n is not None and n != 1:
        raise InvalidValue(name("fractions"), "an LDR course is one continuous implant (its BED assumes it): record "
                           "each implant as a course of its own", n)
    if per is not None and n is not None and total is not None:
        expected = per * n
        if not math.isclose(expected, total, rel_tol=0, abs_tol=_PER_FRACTION_PRECISION_GY * n + 1e-9):
            raise InvalidValue(name("dose_per_fraction"), f"{n} fractions x {per:g} {unit} = {expected:g} {unit}, "
                               f"not the total dose {total:g} {unit}", per)
    elif per is None and n and total is not None:
        per = total / n

    # radiobiology by modality
    bed = eqd2 = duration = None
    how = refused = None
    if total is not None and n:
        if modality in ("photons", "hdr"):
            lq = rb.lq_summary(total, n, alpha_beta)
            bed, eqd2, how = lq["bed"], lq["eqd2"], f"LQ, alpha/beta {alpha_beta:g} Gy"
        elif modality == "protons" and particle is not None:
            lq = rb.particle_eqd2(particle, n, alpha_beta)
            bed, eqd2, how = lq["bed"], lq["eqd2"], f"LQ on Gy(RBE), alpha/beta {alpha_beta:g} Gy"
        elif modality == "carbon" and particle is not None:
            try:
                rb.particle_eqd2(particle, n, alpha_beta)
            except InvalidValue as error:
                refused = error.rule
        elif modality == "ldr_temporary":
            if rate is None:
                if f.dose_rate not in coded:
                    raise InvalidValue(name("dose_rate"), "a temporary LDR implant needs its dose rate (Gy/h)",
                                       show_value=False)
            else:
                ldr = _domain(rb.ldr_summary, {"dose_rate_gy_per_h": name("dose_rate")}, total, rate, alpha_beta,
                              section.repair_half_time_h)
                bed, eqd2, duration = ldr["bed"], ldr["eqd2"], ldr["duration_h"]
                how = (f"Dale 1985, continuous irradiation at {rate:g} Gy/h, repair half-time "
                       f"{section.repair_half_time_h:g} h, alpha/beta {alpha_beta:g} Gy")
        elif modality == "ldr_permanent":
            if isotope is None:
                if f.isotope not in coded:
                    raise InvalidValue(name("isotope"), "a permanent implant needs its isotope (its half-life gives the "
                                       "dose rate)", show_value=False)
            else:
                nuclide = section.isotopes.get(isotope)
                if nuclide is None:
                    raise InvalidValue(name("isotope"), f"not an isotope of the protocol (known: "
                                       f"{', '.join(section.isotopes)})", isotope)
                ldr = rb.permanent_implant_summary(total, nuclide.half_life_days, alpha_beta, section.repair_half_time_h)
                if rate is not None and not math.isclose(rate, ldr["initial_dose_rate_gy_per_h"], rel_tol=0.01):
                    raise InvalidValue(name("dose_rate"), f"a permanent implant's initial dose rate is its total dose x "
                                       f"ln 2 / half-life = {ldr['initial_dose_rate_gy_per_h']:.4g} Gy/h", rate)
                bed, eqd2 = ldr["bed"], ldr["eqd2"]
                how = (f"Dale 1985, permanent implant of {isotope} (half-life {nuclide.half_life_days:g} d), repair "
                       f"half-time {section.repair_half_time_h:g} h, alpha/beta {alpha_beta:g} Gy")

    # the planned calendar of the course's schedule
    code = get("schedule")
    if code is not None and code not in section.schedules:
        raise InvalidValue(name("schedule"), f"not a schedule of the protocol (known: {', '.join(section.schedules)})",
                           code)
    schedule = section.schedule_of(code)
    calendar = get("calendar") or section.calendar
    days = tuple(schedule.treatment_days or section.treatment_days)
    start = get("start_date")
    dates: tuple[dt.date, ...] = ()
    moved = None
    if start is not None:
        closed = closure_reason(start, calendar, treatment_days=days)
        if closed:
            nxt = next_treatment_day(start, calendar, treatment_days=days)
            raise InvalidValue(name("start_date"), f"{closed}; the next treatment day is {nxt:%a %d %b %Y}",
                               start.isoformat())
        if n:
            try:
                plan = spaced_treatment_dates(start, n, calendar, treatment_days=days,
                                              max_overall_days=schedule.max_overall_days,
                                              **ABLATIVE_SPACINGS[schedule.spacing])
            except InvalidValue as error:
                raise _renamed(error, {"max_overall_days": name("start_date")}) from None
            dates, moved = tuple(plan.dates), plan.moved_reason
    number = get("course_number")
    return CourseAssessment(
        number=number, modality=modality, unit=unit, total_dose=total, dose_per_fraction=per, fractions=n,
        rbe_model=model if modality == "carbon" else (particle.rbe_model if particle is not None else None), rbe=rbe,
        physical_dose_gy=physical, dose_rate_gy_per_h=rate, isotope=isotope, alpha_beta_gy=alpha_beta, model=how,
        bed_gy=bed, eqd2_gy=eqd2, eqd2_refused=refused,
        duration_h=duration, schedule=code, calendar=calendar, treatment_days=days, planned_dates=dates,
        moved_start=moved)


def _domain(function, names: Mapping[str, str], *args):
    try:
        return function(*args)
    except InvalidValue as error:
        raise _renamed(error, names) from None


# --------------------------------------------------------------------------- derivation at entry
def derive_course_form(study, session, path, v, current) -> dict[str, Any]:
    """The derived values of a course form or a fraction form of the protocol's courses section."""
    section = _section(study.protocol)
    if current is not None:
        form_id = current.form_id
    else:
        given = set(v) | set(path.missing)
        form_id = section.course_form if section.fields.modality in given else section.fraction_form
    if form_id == section.course_form:
        return _derive_course(study, path, section, v, current)
    return _derive_fraction(study, path, section, v, current)


def _course_rows(path, section: RadiotherapyCourses, current=None) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for row in path.entered(section.course_form):
        number = path.values(row).get(section.fields.course_number)
        if row is not current and number is not None:
            out.setdefault(number, row)
    return out


def _fractions_of(path, section: RadiotherapyCourses, number: int, current=None) -> list[dict[str, Any]]:
    ff = section.fraction_fields
    return [path.values(row) for row in path.entered(section.fraction_form)
            if row is not current and path.values(row).get(ff.course_number) == number]


def _derive_course(study, path, section: RadiotherapyCourses, v, current) -> dict[str, Any]:
    enrolment = path.require_enrolled("a radiotherapy course")
    f, form_id = section.fields, section.course_form
    number, start = v.get(f.course_number), v.get(f.start_date)
    if number is not None and number in _course_rows(path, section, current):
        raise InvalidValue(f"{form_id}.{f.course_number}", f"course {number} is already recorded for "
                           f"{path.patient.subject_id}; correct it, or number this course otherwise", number)
    if current is not None:
        before = path.values(current).get(f.course_number)
        if before is not None and before != number and _fractions_of(path, section, before, current):
            raise InvalidValue(f"{form_id}.{f.course_number}", f"course {before} has fractions recorded under its "
                               "number; correct them first", number)
    if start is not None and start < enrolment.enrolment_date:
        raise InvalidValue(f"{form_id}.{f.start_date}", f"must not be before enrolment ({enrolment.enrolment_date})",
                           start.isoformat())
    assessment = assess_course(section, form_id, v, path.missing)
    if start is not None and number is not None:
        ff = section.fraction_fields
        delivered = [x[ff.date] for x in _fractions_of(path, section, number, current)
                     if x.get(ff.status) == "delivered" and x.get(ff.date) is not None]
        if delivered and start > min(delivered):
            raise InvalidValue(f"{form_id}.{f.start_date}", f"is after the first delivered fraction of course {number} "
                               f"({min(delivered)})", start.isoformat())
    return assessment.derived()


def _derive_fraction(study, path, section: RadiotherapyCourses, v, current) -> dict[str, Any]:
    from sarcotrial.domain import pathway as pathway_rules
    from sarcotrial.radiotherapy.calendar import closure_reason

    enrolment = path.require_enrolled("a radiotherapy fraction")
    ff, form_id = section.fraction_fields, section.fraction_form
    number, day, status = v.get(ff.course_number), v.get(ff.date), v.get(ff.status)
    courses = _course_rows(path, section)
    if number is not None and number not in courses:
        known = f" (courses: {', '.join(map(str, sorted(courses)))})" if courses else \
            f"; record the course on form '{section.course_form}' first"
        raise InvalidValue(f"{form_id}.{ff.course_number}", f"no course {number} is recorded for "
                           f"{path.patient.subject_id}{known}", number)
    course = courses.get(number)
    plan = assess_course(section, section.course_form, path.values(course), (course.missing or {}).keys()) \
        if course is not None else None
    start = path.values(course).get(section.fields.start_date) if course is not None else None
    path.check_date(f"{form_id}.{ff.date}", day, not_before=[(enrolment.enrolment_date, "enrolment"),
                                                              (start, f"the first day of course {number}")])
    dose = v.get(ff.dose)
    if dose is not None and status != "delivered":
        raise InvalidValue(f"{form_id}.{ff.dose}", "a dose is recorded for a delivered fraction only", dose)
    if plan is None:
        return {}
    closed = None
    if day is not None and status == "delivered":
        closed = closure_reason(day, plan.calendar, treatment_days=plan.treatment_days)
    names = {"rt_fraction.fraction_number": f"{form_id}.{ff.fraction_number}",
             "rt_fraction.fraction_date": f"{form_id}.{ff.date}", "rt_fraction.reason": f"{form_id}.{ff.reason}"}
    others = [{"fraction_number": x.get(ff.fraction_number), "fraction_date": x.get(ff.date),
               "status": x.get(ff.status)} for x in _fractions_of(path, section, number, current)]
    try:
        pathway_rules.check_fraction(v.get(ff.fraction_number), day, status, v.get(ff.reason) or path.missing.get(ff.reason),
                                     planned=plan.fractions, treatment_days=plan.treatment_days, closed=closed,
                                     calendar=plan.calendar, others=others)
    except InvalidValue as error:
        raise _renamed(error, names) from None
    if status != "delivered":
        return {"dose": None, "unit": plan.unit}
    given = dose if dose is not None else (plan.total_dose if plan.modality in LDR_MODALITIES else plan.dose_per_fraction)
    return {"dose": _round(given), "unit": plan.unit}


def deletion_refused(study, path, row) -> str | None:
    """Why a course form instance may not be deleted (its fractions name it), else ``None``."""
    section = study.protocol.treatment.radiotherapy_courses
    if section is None or row.form_id != section.course_form:
        return None
    number = path.values(row).get(section.fields.course_number)
    if number is not None and _fractions_of(path, section, number):
        return f"course {number} has fractions recorded on form '{section.fraction_form}'; delete them first"
    return None


# --------------------------------------------------------------------------- the read side
@dataclass
class CourseView:
    """One further course as a patient's record shows it."""

    number: int | None
    intent: str | None
    site: str | None
    assessment: CourseAssessment | None
    problem: str | None                   # why the course's values no longer give a plan (should not happen)
    delivery: Any | None                  # radiotherapy.delivery.DeliverySummary
    fractions: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        a = self.assessment
        return {
            "course_number": self.number, "intent": self.intent, "site": self.site,
            "modality": a.modality if a else None,
            "prescription": None if a is None else {
                "total_dose": _round(a.total_dose, 4), "dose_per_fraction": _round(a.dose_per_fraction, 4),
                "fractions": a.fractions, "unit": a.unit, "rbe_model": a.rbe_model, "rbe": a.rbe,
                "physical_dose_gy": a.physical_dose_gy, "dose_rate_gy_per_h": a.dose_rate_gy_per_h,
                "isotope": a.isotope},
            "radiobiology": None if a is None else {
                "model": a.model, "alpha_beta_gy": a.alpha_beta_gy, "bed_gy": _round(a.bed_gy, 2),
                "eqd2_gy": _round(a.eqd2_gy, 2), "eqd2_refused": a.eqd2_refused,
                "implant_duration_h": _round(a.duration_h, 2)},
            "planned": None if a is None else {
                "schedule": a.schedule or "daily", "calendar": a.calendar,
                "dates": [d.isoformat() for d in a.planned_dates],
                "last": a.planned_dates[-1].isoformat() if a.planned_dates else None,
                "overall_treatment_days": a.planned_overall_days, "moved_start": a.moved_start},
            "delivery": self.delivery.as_dict() if self.delivery is not None else None,
            "fractions": [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in x.items()}
                          for x in self.fractions],
            "problem": self.problem,
        }


def _summary(section: RadiotherapyCourses, a: CourseAssessment, label: str, fractions: list[dict[str, Any]]):
    from sarcotrial.radiotherapy.delivery import FractionRecord, summarise_delivery

    records = [FractionRecord(x["fraction_number"], x["date"], x["status"],
                              {label: x["dose"]} if x.get("dose") is not None else {}, x.get("reason"))
               for x in fractions if x.get("fraction_number") is not None and x.get("date") is not None
               and x.get("status") is not None]
    d = section.deviations
    limits = (d.prolongation_minor_days, d.prolongation_major_days, d.dose_minor_percent, d.dose_major_percent) \
        if d is not None else (math.inf,) * 4  # no thresholds in the protocol: no deviation is judged
    return summarise_delivery(
        records, planned_fractions=a.fractions or 0,
        prescribed_dose_gy={label: a.total_dose} if a.total_dose else {},
        planned_overall_treatment_days=a.planned_overall_days, prolongation_minor_days=limits[0],
        prolongation_major_days=limits[1], dose_minor_percent=limits[2], dose_major_percent=limits[3])


def courses_of(protocol, record) -> list[CourseView]:
    """A patient's further courses in course-number order (``record``: a
    :class:`~sarcotrial.services.views.PatientRecord`), each with its plan and delivery summary."""
    section = _section(protocol)
    f, ff = section.fields, section.fraction_fields
    fractions = record.of(section.fraction_form)
    out: list[CourseView] = []
    rows = sorted(record.of(section.course_form),
                  key=lambda c: (c.values.get(f.course_number) is None, c.values.get(f.course_number) or 0, c.id))
    for crf in rows:
        number = crf.values.get(f.course_number)
        problem, a = None, None
        try:
            a = assess_course(section, section.course_form, crf.values, crf.missing.keys())
        except InvalidValue as error:
            problem = str(error)
        site = crf.values.get(f.site)
        mine = []
        for x in fractions:
            if x.values.get(ff.course_number) != number or number is None:
                continue
            status = x.values.get(ff.status)
            dose = x.values.get(ff.dose)
            if dose is None and status == "delivered" and a is not None:
                dose = a.total_dose if a.modality in LDR_MODALITIES else a.dose_per_fraction
            mine.append({"fraction_number": x.values.get(ff.fraction_number), "date": x.values.get(ff.date),
                         "status": status, "dose": _round(dose) if status == "delivered" else None,
                         "reason": x.values.get(ff.reason)})
        mine.sort(key=lambda x: (x["date"] or dt.date.max, x["fraction_number"] or 0))
        delivery = _summary(section, a, site or f"course {number}", mine) if a is not None and a.fractions else None
        out.append(CourseView(number=number, intent=crf.values.get(f.intent), site=site, assessment=a,
                              problem=problem, delivery=delivery, fractions=mine))
    return out


def courses(study, subject_id: str, actor=None) -> list[CourseView]:
    """A patient's further radiotherapy courses, as :func:`courses_of` gives them."""
    from sarcotrial.services.views import load_patients

    section = _section(study.protocol)
    with study.reading(actor) as session:
        patient = study.patient(session, subject_id)
        record = load_patients(study, session, subject_id=patient.subject_id,
                               forms=(section.course_form, section.fraction_form), details=False)[0]
    return courses_of(study.protocol, record)
