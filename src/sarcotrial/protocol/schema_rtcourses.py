"""The protocol file's further radiotherapy courses (schema version 2): several courses per patient.

A patient may have more than the protocol's own course (SPRINT's ``treatment.radiotherapy``): a
preoperative course, then an ablative course to a metastasis; a proton or carbon-ion course; a
brachytherapy boost. Each further course is one instance of a repeating *course form* (its number,
modality, prescription, schedule and first day) and its fractions are instances of a repeating
*fraction form* naming the course by its number. What a protocol declares
(``treatment.radiotherapy_courses``)::

    radiotherapy_courses:
      course_form: rt_further_course
      fraction_form: rt_further_fraction
      alpha_beta_gy: 10                  # the protocol's alpha/beta for EQD2 (a form field may override it)
      alpha_beta_source: why this value
      repair_half_time_h: 1.5            # LDR brachytherapy (Dale 1985), needed when an LDR modality is coded
      repair_half_time_source: why this value
      isotopes:                          # permanent implants: the nuclide's physical half-life
        i125: {half_life_days: 59.39, source: where it comes from}
      calendar: IT                       # the public holidays when the course form gives none
      treatment_days: [mon, tue, wed, thu, fri]
      schedules:                         # the codes of the schedule field; spacing: a named calendar spacing
        daily: {}
        every_other_day: {spacing: every_other_treatment_day, max_overall_days: 15}
        twice_weekly: {treatment_days: [tue, fri]}
      deviations: {prolongation_minor_days: 2, prolongation_major_days: 5, dose_minor_percent: 5, dose_major_percent: 10}
      fields: {...}                      # the course form's field for each role, where it is not the default id
      fraction_fields: {...}             # the fraction form's

Modalities (the codes of the course form's modality field): ``photons``; ``protons`` and ``carbon``
(dose in Gy(RBE), ICRU Report 78; carbon ions with their RBE model, LEM-I or MKM); ``hdr``
(high-dose-rate brachytherapy: fractions, as external beams); ``ldr_temporary`` (a temporary
low-dose-rate implant: total dose and dose rate) and ``ldr_permanent`` (a permanent implant: total
dose and the nuclide). The rules themselves are in :mod:`sarcotrial.domain.radiobiology` and
:mod:`sarcotrial.radiotherapy.calendar`; this module checks what the file says against the forms
and code lists it names (:func:`rtcourses_problems`), every problem at once with its path.

Hand-written: the section is this project's own protocol-file format; pydantic checks each value,
and the cross-references to forms and code lists are this module's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=64)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MONDAY_TO_FRIDAY: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")

#: the modalities a course form's modality field may code, and what each records
MODALITIES: dict[str, str] = {
    "photons": "external photon beams: dose in Gy, fractions, LQ EQD2",
    "protons": "protons: dose in Gy(RBE) with the fixed RBE 1.1 (ICRU 78), fractions, LQ EQD2",
    "carbon": "carbon ions: dose in Gy(RBE) with its RBE model (LEM-I or MKM), fractions, no EQD2",
    "hdr": "HDR brachytherapy: dose per fraction and fractions, LQ EQD2",
    "ldr_temporary": "temporary LDR implant: total dose and dose rate, BED/EQD2 with incomplete repair (Dale 1985)",
    "ldr_permanent": "permanent LDR implant: total dose and the nuclide, BED/EQD2 (Dale 1985)",
}
PARTICLE_MODALITIES = ("protons", "carbon")
LDR_MODALITIES = ("ldr_temporary", "ldr_permanent")
#: the fraction statuses of a delivery log (:mod:`sarcotrial.radiotherapy.delivery`)
FRACTION_STATUSES = ("delivered", "missed", "rescheduled")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Isotope(_Model):
    half_life_days: Annotated[float, Field(gt=0)]
    source: Annotated[str, Field(min_length=1)]


class CourseSchedule(_Model):
    """A schedule a course may follow: a named spacing of :data:`sarcotrial.radiotherapy.calendar.ABLATIVE_SPACINGS`
    (``daily``, ``every_other_treatment_day``, ``at_least_40h``), on the section's treatment days or its own."""

    spacing: str = "daily"
    treatment_days: Annotated[list[Weekday], Field(min_length=1)] | None = None
    max_overall_days: Annotated[int, Field(ge=1)] | None = None
    source: str | None = None


class CourseDeviations(_Model):
    """When a further course's delivery is a protocol deviation (strictly beyond each threshold)."""

    prolongation_minor_days: Annotated[int, Field(ge=0)]
    prolongation_major_days: Annotated[int, Field(ge=0)]
    dose_minor_percent: Annotated[float, Field(ge=0)]
    dose_major_percent: Annotated[float, Field(ge=0)]


class CourseFields(_Model):
    """The course form's field for each role (the default: the role's own name)."""

    course_number: Identifier = "course_number"
    modality: Identifier = "modality"
    total_dose: Identifier = "total_dose"
    fractions: Identifier = "fractions"
    start_date: Identifier = "planned_start"
    dose_per_fraction: Identifier = "dose_per_fraction"
    schedule: Identifier = "schedule"
    intent: Identifier = "intent"
    site: Identifier = "site"
    rbe_model: Identifier = "rbe_model"
    physical_dose: Identifier = "physical_dose"
    dose_rate: Identifier = "dose_rate"
    isotope: Identifier = "isotope"
    calendar: Identifier = "calendar"
    alpha_beta: Identifier = "alpha_beta_gy"


class FractionFields(_Model):
    """The fraction form's field for each role."""

    course_number: Identifier = "course_number"
    fraction_number: Identifier = "fraction_number"
    date: Identifier = "fraction_date"
    status: Identifier = "status"
    dose: Identifier = "dose"
    reason: Identifier = "reason"


def _default_schedules() -> dict[str, CourseSchedule]:
    return {"daily": CourseSchedule(), "every_other_treatment_day": CourseSchedule(spacing="every_other_treatment_day"),
            "at_least_40h": CourseSchedule(spacing="at_least_40h")}


class RadiotherapyCourses(_Model):
    course_form: Identifier
    fraction_form: Identifier
    alpha_beta_gy: Annotated[float, Field(gt=0)]
    alpha_beta_source: str | None = None
    repair_half_time_h: Annotated[float, Field(gt=0)] | None = None
    repair_half_time_source: str | None = None
    isotopes: dict[Identifier, Isotope] = {}
    calendar: Literal["IT", "IT-MI"] = "IT"
    treatment_days: Annotated[list[Weekday], Field(min_length=1)] = list(MONDAY_TO_FRIDAY)
    schedules: Annotated[dict[Identifier, CourseSchedule], Field(min_length=1)] = Field(default_factory=_default_schedules)
    deviations: CourseDeviations | None = None
    fields: CourseFields = CourseFields()
    fraction_fields: FractionFields = FractionFields()

    def schedule_of(self, code: str | None) -> CourseSchedule:
        """The schedule a course follows (no code: daily)."""
        if code is None:
            return self.schedules.get("daily") or CourseSchedule()
        return self.schedules[code]


#: each role: (the field types it may have, whether the form must have it, whether the field must be required,
#: the modalities needing it)
_COURSE_ROLES: dict[str, tuple[tuple[str, ...], bool, bool, tuple[str, ...]]] = {
    "course_number": (("integer",), True, True, ()),
    "modality": (("code",), True, True, ()),
    "total_dose": (("decimal", "integer"), True, False, ()),
    "fractions": (("integer",), True, True, ()),
    "start_date": (("date",), True, True, ()),
    "dose_per_fraction": (("decimal", "integer"), False, False, ()),
    "schedule": (("code",), False, False, ()),
    "intent": (("code", "text"), False, False, ()),
    "site": (("code", "text"), False, False, ()),
    "rbe_model": (("code",), False, False, ("carbon",)),
    "physical_dose": (("decimal", "integer"), False, False, ()),
    "dose_rate": (("decimal", "integer"), False, False, ("ldr_temporary",)),
    "isotope": (("code",), False, False, ("ldr_permanent",)),
    "calendar": (("code", "text"), False, False, ()),
    "alpha_beta": (("decimal", "integer"), False, False, ()),
}
_FRACTION_ROLES: dict[str, tuple[tuple[str, ...], bool, bool, tuple[str, ...]]] = {
    "course_number": (("integer",), True, True, ()),
    "fraction_number": (("integer",), True, True, ()),
    "date": (("date",), True, True, ()),
    "status": (("code",), True, True, ()),
    "dose": (("decimal", "integer"), False, False, ()),
    "reason": (("code", "text"), False, False, ()),
}


def _field_problems(where: str, form: Any, roles: Any, spec: dict, explicit: set[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    fields = {f.id: f for f in (getattr(form, "fields", None) or []) if f is not None and hasattr(f, "id")}
    for role, (types, needed, required, _modalities) in spec.items():
        field_id = getattr(roles, role)
        fld = fields.get(field_id)
        if fld is None:
            if needed or role in explicit:
                out.append((f"{where}.{role}", f"form '{form.id}' has no field '{field_id}'"))
            continue
        if getattr(fld, "type", None) not in types:
            out.append((f"{where}.{role}", f"'{field_id}' is a {fld.type} field; the {role.replace('_', ' ')} "
                                           f"is {' or '.join(types)}"))
        if required and getattr(fld, "required", True) is False:
            out.append((f"{where}.{role}", f"'{field_id}' must be a required field of form '{form.id}'"))
    return out


def _codes(codelists: dict, form: Any, field_id: str) -> list[str] | None:
    fld = next((f for f in (getattr(form, "fields", None) or []) if f is not None and getattr(f, "id", None) == field_id),
               None)
    name = getattr(fld, "codelist", None) if fld is not None and getattr(fld, "type", None) == "code" else None
    codes = codelists.get(name) if name is not None else None
    return None if codes is None else [c.code for c in codes if c is not None]


def rtcourses_problems(p: Any, unparsed: Any = None) -> list[tuple[str, str]]:
    """Cross-references of the courses section with the forms and code lists (path, rule). ``p`` is a
    Protocol or the parsed parts of one (a section ``None`` where it did not parse)."""
    treatment = getattr(p, "treatment", None)
    section = getattr(treatment, "radiotherapy_courses", None)
    if section is None:
        return []
    from sarcotrial.radiotherapy.calendar import ABLATIVE_SPACINGS, CALENDARS

    base = "treatment.radiotherapy_courses"
    out: list[tuple[str, str]] = []
    for name, schedule in (getattr(section, "schedules", None) or {}).items():
        if schedule is not None and getattr(schedule, "spacing", None) not in ABLATIVE_SPACINGS:
            out.append((f"{base}.schedules.{name}.spacing", f"unknown spacing '{schedule.spacing}' "
                                                            f"(known: {', '.join(ABLATIVE_SPACINGS)})"))
    course_id, fraction_id = getattr(section, "course_form", None), getattr(section, "fraction_form", None)
    if course_id is not None and course_id == fraction_id:
        out.append((f"{base}.fraction_form", "the fractions are recorded on a form of their own, not the course form"))
    forms_list = getattr(p, "forms", None)
    if forms_list is None:
        return out
    forms = {f.id: f for f in forms_list if f is not None and hasattr(f, "id")}
    failed = getattr(unparsed, "has", None)
    codelists = {k: v for k, v in (getattr(p, "codelists", None) or {}).items() if v is not None}
    codelists_known = getattr(p, "codelists", None) is not None

    course = forms.get(course_id) if course_id else None
    fraction = forms.get(fraction_id) if fraction_id else None
    for key, form_id, form in (("course_form", course_id, course), ("fraction_form", fraction_id, fraction)):
        if form_id is None:
            continue
        if form is None:
            if not (failed and failed("forms", form_id)):
                out.append((f"{base}.{key}", f"unknown form '{form_id}'"))
        elif not getattr(form, "repeating", False):
            out.append((f"{base}.{key}", f"form '{form_id}' must be repeating (one instance per "
                                         f"{'course' if key == 'course_form' else 'fraction'})"))

    roles = getattr(section, "fields", None)
    modalities: list[str] = []
    if course is not None and roles is not None:
        explicit = set(getattr(roles, "model_fields_set", set()))
        out.extend(_field_problems(f"{base}.fields", course, roles, _COURSE_ROLES, explicit))
        course_fields = {f.id for f in course.fields if f is not None and hasattr(f, "id")}
        if codelists_known:
            modalities = _codes(codelists, course, roles.modality) or []
            unknown = [c for c in modalities if c not in MODALITIES]
            if unknown:
                out.append((f"{base}.fields.modality", f"the codelist of '{roles.modality}' has {', '.join(unknown)}: "
                                                       f"not a modality (known: {', '.join(MODALITIES)})"))
            checks = (("schedule", list(getattr(section, "schedules", None) or {}), "schedule of this section"),
                      ("rbe_model", None, "carbon-ion RBE model"),
                      ("isotope", list(getattr(section, "isotopes", None) or {}), "isotope of this section"),
                      ("calendar", list(CALENDARS), "holiday calendar"))
            for role, known, what in checks:
                if known is None:
                    from sarcotrial.domain.radiobiology import CARBON_RBE_MODELS

                    known = list(CARBON_RBE_MODELS)
                codes = _codes(codelists, course, getattr(roles, role))
                bad = [c for c in codes or [] if c not in known]
                if bad:
                    out.append((f"{base}.fields.{role}", f"the codelist of '{getattr(roles, role)}' has "
                                                         f"{', '.join(bad)}: not a {what} (known: {', '.join(known)})"))
        for role, (_types, _needed, _required, needed_by) in _COURSE_ROLES.items():
            wanted = [m for m in needed_by if m in modalities]
            if wanted and getattr(roles, role) not in course_fields:
                out.append((f"{base}.fields.{role}", f"the modality codes {', '.join(wanted)}, which need a "
                                                     f"{role.replace('_', ' ')} field; form '{course.id}' has no "
                                                     f"'{getattr(roles, role)}'"))
        if any(m in LDR_MODALITIES for m in modalities) and getattr(section, "repair_half_time_h", 0) is None:
            out.append((f"{base}.repair_half_time_h", "the modality codes LDR brachytherapy, whose BED needs the "
                                                      "repair half-time (Dale 1985)"))
        if "ldr_permanent" in modalities and getattr(section, "isotopes", None) == {}:
            out.append((f"{base}.isotopes", "the modality codes permanent implants, whose BED needs the nuclide's "
                                            "half-life: declare the isotopes"))

    fraction_roles = getattr(section, "fraction_fields", None)
    if fraction is not None and fraction_roles is not None:
        explicit = set(getattr(fraction_roles, "model_fields_set", set()))
        out.extend(_field_problems(f"{base}.fraction_fields", fraction, fraction_roles, _FRACTION_ROLES, explicit))
        if codelists_known:
            bad = [c for c in _codes(codelists, fraction, fraction_roles.status) or [] if c not in FRACTION_STATUSES]
            if bad:
                out.append((f"{base}.fraction_fields.status", f"the codelist of '{fraction_roles.status}' has "
                                                              f"{', '.join(bad)}: not a fraction status (known: "
                                                              f"{', '.join(FRACTION_STATUSES)})"))
        if course is not None and roles is not None and fraction.id != course.id \
                and any(getattr(f, "id", None) == roles.modality for f in fraction.fields if f is not None):
            out.append((f"{base}.fraction_form", f"form '{fraction.id}' has a field '{roles.modality}', the course "
                                                 "form's modality: the two forms are told apart by it"))
    return out
