"""The protocol's parameters and codes in words, as the study report prints them.

The report names every parameter the way the protocol document does ("Follow-up, years 1-2:
schedule") and never by the key under which the protocol file stores it
(``visits.follow_up_early.repeat``); a value reads as a sentence ("every 3 months until month
24"), not as the fields of its record.
"""

from __future__ import annotations

from typing import Any

#: the parts of a parameter's path (areas, then fields), in words
_AREAS = {"statistics": "Statistics", "primary": "Primary endpoint", "pathology": "Pathology",
          "toxicity": "Toxicity", "treatment": "Treatment", "radiotherapy": "Radiotherapy", "surgery": "Surgery",
          "chemotherapy": "Chemotherapy", "identification": "Study", "design": "Study design", "consent": "Consent",
          "withdrawal": "Withdrawal", "systemic": "Systemic therapy", "anthracycline": "Anthracycline",
          "randomisation": "Randomisation", "response": "Response (RECIST 1.1)"}
_FIELDS = {
    "population": "analysis population", "null_rate": "null response rate (p0)",
    "alternative_rate": "alternative response rate (p1)", "alpha": "type I error (alpha)", "power": "power",
    "ci_level": "confidence level", "time_origin": "time origin of the time-to-event endpoints",
    "landmarks_months": "landmark times, months", "pcr_max_viable_percent":
        "pathologic complete response: at most this % of stainable tumour cells",
    "events": "events", "competing_risks": "competing risks", "role": "role",
    "window_before_days": "window before the visit, days", "window_after_days": "window after the visit, days",
    "acute_window_days": "acute phase: days from the first fraction", "ptv_margins_mm": "CTV to PTV margins, mm",
    "alpha_beta_gy": "alpha/beta ratio, Gy", "deviations": "deviation limits", "objectives": "dose-volume objectives",
    "interval_after_rt_weeks_min": "interval after radiotherapy, weeks: minimum",
    "interval_after_rt_weeks_max": "interval after radiotherapy, weeks: maximum", "phase": "phase",
    "offset_days": "day after its anchor", "offset_months": "months after its anchor", "repeat": "schedule",
    "km_conf_type": "Kaplan-Meier interval transformation", "toxicity_monitor": "toxicity monitoring rule",
    "current_version": "current consent document version", "stops": "what a withdrawal stops",
    "wound_complication_window_days": "wound complication window, days after surgery",
    "bsa_formula": "body surface area formula", "dose_tolerance_percent": "dose tolerance, %",
    "delay_tolerance_days": "delay tolerance, days",
    "warn_cumulative_mg_m2": "warning above this cumulative doxorubicin-equivalent dose, mg/m\u00b2",
    "enrolment_period_years": "enrolment period, years", "hazard_ratio": "hazard ratio to detect",
    "median_control_months": "median in the control arm, months",
    "sd_min_days": "stable disease: at least this many days from randomisation", "factors": "stratification factors",
    "calendar": "calendar of public holidays",
}
_COMPARATORS = {">=": "\u2265", "<=": "\u2264", ">": ">", "<": "<", "==": "="}
#: a dose objective's unit as printed after its bound ("V95% \u2265 95 %", "Dmean \u2264 37 Gy", "D2% \u2264 107 % of
#: the prescription")
_OBJECTIVE_UNITS = {"percent_volume": "%", "percent_prescription": "% of the prescription", "gy": "Gy", "cc": "cm\u00b3"}

#: the protocol's sections in the order of a protocol document (SPIRIT 2013: identification and design,
#: eligibility, interventions, visits, outcomes, statistics); a parameter of another area follows the section it
#: belongs with
SECTION_ORDER = ["identification", "design", "consent", "eligibility", "treatment", "visits", "withdrawal",
                 "endpoints", "pathology", "toxicity", "statistics"]
_TREATMENT_ORDER = ["radiotherapy", "surgery", "chemotherapy"]


def parameter_order(protocol, paths) -> list[str]:
    """``paths`` (the protocol's assumed parameters) in the order of the protocol's sections; within a section,
    visits and endpoints in the protocol's own order, then the order of the file."""
    visits = [v.id for v in protocol.visits]
    endpoints = [e.id for e in protocol.endpoints]
    paths = list(paths)

    def key(item):
        index, path = item
        parts = path.split(".")
        area = SECTION_ORDER.index(parts[0]) if parts[0] in SECTION_ORDER else len(SECTION_ORDER)
        second = parts[1] if len(parts) > 1 else ""
        within = {"visits": visits, "endpoints": endpoints, "treatment": _TREATMENT_ORDER}.get(parts[0], [])
        return area, within.index(second) if second in within else len(within), index

    return [path for _, path in sorted(enumerate(paths), key=key)]


def count(k: int, noun: str, plural: str | None = None) -> str:
    """``1 patient``, ``3 patients``: a count with its noun in the number it takes (``plural`` for an irregular
    one; a phrase's noun is its last word: "enrolled patient" -> "enrolled patients")."""
    return f"{k} {noun if k == 1 else plural or noun + 's'}"


def verb(k: int, singular: str = "was", plural: str = "were") -> str:
    """The verb agreeing with a count: "1 patient was", "2 patients were"."""
    return singular if k == 1 else plural


def _field(name: str) -> str:
    return _FIELDS.get(name, name.replace("_", " "))


def parameter_label(protocol, path: str) -> str:
    """``visits.wound_check.repeat`` -> "Wound check visits: schedule"."""
    parts = path.split(".")
    if parts[0] == "endpoints" and len(parts) >= 3:
        named = next((e.name for e in protocol.endpoints if e.id == parts[1]), parts[1].replace("_", " "))
        return f"{named}: {', '.join(_field(p) for p in parts[2:])}"
    if parts[0] == "eligibility" and len(parts) >= 3:
        return f"Eligibility criterion \u201c{parts[2].replace('_', ' ')}\u201d"
    if parts[0] == "visits" and len(parts) >= 3:
        named = next((v.name for v in protocol.visits if v.id == parts[1]), parts[1].replace("_", " "))
        return f"Visit \u201c{named}\u201d: {', '.join(_field(p) for p in parts[2:])}"
    areas = parts[:-1][-1:]  # the nearest area names it ("Radiotherapy", not "Treatment, radiotherapy")
    head = " ".join(_AREAS.get(p, p.replace("_", " ")) for p in areas)
    last = _field(parts[-1])
    if parts[-1] == "acute_window_days" and getattr(protocol.treatment, "radiotherapy", None) is None:
        last = "acute phase: days from the first dose"
    if not head:
        return last[:1].upper() + last[1:]
    return f"{head[:1].upper() + head[1:]}: {last}"


def repeat_words(repeat) -> str:
    """A visit's repeat rule as a sentence: "every 30 days until day 120", "every 7 days, 5 times"."""
    step = (f"every {repeat.every_days} days" if repeat.every_days is not None
            else f"every {repeat.every_months} months")
    if repeat.count is not None:
        return f"{step}, {repeat.count} times"
    if repeat.until_days is not None:
        return f"{step} until day {repeat.until_days}"
    return f"{step} until month {repeat.until_months}"


def _number(x: float) -> str:
    return f"{x:g}"


def parameter_value(protocol, path: str, value: Any) -> str:
    """A parameter's value in words (the protocol's names for forms, events and endpoints)."""
    kind = type(value).__name__
    name = path.rsplit(".", 1)[-1]
    if kind == "Repeat":
        return repeat_words(value)
    if kind == "Criterion":
        return value.text
    if kind == "Factor":
        levels = (", ".join(f"{k}: {', '.join(map(str, v))}" for k, v in value.levels.items())
                  if getattr(value, "levels", None) else "the codes of its field")
        return f"{value.id.replace('_', ' ')} ({levels})"
    if kind == "Minimisation":
        return f"minimising arm taken with probability {_number(value.probability)}, imbalance by the {value.imbalance}"
    if kind == "Regimen":
        drugs = ", ".join(f"{d.drug} {_number(d.dose)} mg/{d.per if d.per != 'flat' else 'dose'} day "
                          f"{', '.join(map(str, d.days))}" for d in value.drugs)
        return (f"{value.name}: {drugs}, every {value.cycle_days} days"
                + (f", up to {value.max_cycles} cycles" if value.max_cycles else ""))
    if kind == "CourseSchedule":
        spacing = {"daily": "daily", "every_other_treatment_day": "every other treatment day",
                   "at_least_40h": "at least 40 hours apart"}.get(value.spacing, str(value.spacing).replace("_", " "))
        return spacing + (f", within {value.max_overall_days} days" if value.max_overall_days else "")
    if kind in ("Deviations", "CourseDeviations"):
        return (f"overall treatment time prolonged by more than {value.prolongation_minor_days} days: minor, "
                f"more than {value.prolongation_major_days} days: major; dose off by more than "
                f"{_number(value.dose_minor_percent)} %: minor, more than {_number(value.dose_major_percent)} %: major")
    if kind == "ToxicityMonitor":
        endpoint = next((e.name for e in protocol.endpoints if e.id == value.endpoint), value.endpoint)
        return (f"{endpoint}: review when P(rate > {value.threshold:.0%}) exceeds {value.cutoff:.0%}, "
                f"Beta({_number(value.prior_a)}, {_number(value.prior_b)}) prior")
    if kind == "DoseObjective":
        return (f"{value.structure} {value.metric} {_COMPARATORS.get(value.comparator, value.comparator)} "
                f"{_number(value.per_protocol)} {_OBJECTIVE_UNITS.get(value.unit, value.unit)}")
    if name in ("events", "competing_risks") and isinstance(value, (list, tuple)):
        from sarcotrial.report.figures import event_words  # the figures' captions read events the same way

        return event_words(value) or "none"
    if name == "stops" and isinstance(value, dict):
        forms = {f.id: f.name for f in protocol.forms}
        return "; ".join(f"{kind_.replace('_', ' ')}: "
                         + ", ".join("every form" if f == "*" else forms.get(f, f) for f in stopped)
                         for kind_, stopped in value.items())
    if name == "ptv_margins_mm" and isinstance(value, dict):
        return ", ".join(f"{k.replace('->', ' to ')} {_number(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        parts = [parameter_value(protocol, path, v) for v in value]
        scalar = all(isinstance(v, (int, float, str)) for v in value)
        return (", " if scalar else "; ").join(parts) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{str(k).replace('_', ' ')}: {parameter_value(protocol, path, v)}"
                         if type(v).__name__ == "CourseSchedule" else
                         f"{str(k).replace('_', ' ')} {parameter_value(protocol, path, v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return value.replace("_", " ")
    return str(value)
