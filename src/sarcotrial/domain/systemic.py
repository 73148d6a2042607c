"""Systemic therapy: body surface area, per-cycle dosing, relative dose intensity, cumulative anthracycline.

Standards implemented:

- Body surface area (BSA), Mosteller: ``sqrt(height_cm x weight_kg / 3600)`` m2 (Mosteller RD.
  Simplified calculation of body-surface area. N Engl J Med 1987;317:1098), the default.
- BSA, DuBois: ``0.007184 x weight_kg^0.425 x height_cm^0.725`` m2 (Du Bois D, Du Bois EF. A formula to
  estimate the approximate surface area if height and weight be known. Arch Intern Med 1916;17:863-871).
- Dose intensity (Hryniuk W, Bush H. The importance of dose intensity in chemotherapy of metastatic
  breast cancer. J Clin Oncol 1984;2:1281-1288): dose per m2 (or per kg) per week; the relative dose
  intensity (RDI) of a drug is the dose intensity received over the dose intensity planned.
  The time denominator is defined here as running from day 1 of the first cycle given to the end of
  the last cycle given (its day 1 plus the cycle length), so a delay lowers the RDI and a dose
  reduction lowers it in proportion; the planned dose intensity is one cycle's planned dose over the
  cycle length. The RDI is that of the cycles given: a course stopped early is shown by the number
  of cycles given, not by the RDI.
- Cumulative doxorubicin-equivalent anthracycline dose: the sum over the anthracyclines (and the
  anthraquinone mitoxantrone) of the dose in mg/m2 times the factor of the protocol's equivalence
  table. The tables, each with its source and version, and the drugs each gives no factor for, are
  data (``data/anthracycline_equivalence.yaml``): guidelines differ (ESC 2022, Feijen et al. 2019,
  IGHG 2025, Children's Oncology Group Long-Term Follow-Up Guidelines), and a drug the chosen table
  gives no factor for is refused rather than given a guessed one.
- The warning before the cycle that would cross the protocol's cumulative limit
  (:func:`anthracycline_warning`): risk of cardiomyopathy rises with the cumulative dose (the
  doxorubicin labelling gives 1 % to 20 % for 300 to 500 mg/m2); the limit is a protocol parameter.

Plausible body measures (anything outside is refused as impossible, not clamped): height 30 to
250 cm, weight 1 to 400 kg. They cover a very preterm newborn to the tallest and heaviest adults on
record, so they catch a unit slip (metres for centimetres, pounds for kilograms when the result
leaves the range) without judging whether a dose should be capped, which is the protocol's call.

Why hand-written: each formula is one line, and no maintained Python library holds per-protocol
regimens, relative dose intensity with a stated time denominator, or doxorubicin-equivalence tables
with their sources; writing them here keeps every number traceable to the paper cited above.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from numbers import Real
from typing import Any, Iterable, Literal, Mapping

import yaml

from sarcotrial.errors import InvalidValue

__all__ = [
    "BSA_FORMULAS",
    "HEIGHT_CM_LIMITS",
    "WEIGHT_KG_LIMITS",
    "REASON_CODES",
    "body_surface_area",
    "RegimenDrug",
    "Regimen",
    "Administration",
    "planned_dose_mg",
    "CycleDrug",
    "CycleSummary",
    "DoseIntensity",
    "CourseSummary",
    "summarise_course",
    "EquivalenceTable",
    "Equivalent",
    "equivalence_tables",
    "equivalence_table",
    "normalise_drug",
    "is_anthracycline",
    "doxorubicin_equivalent",
    "planned_cycle_equivalent",
    "anthracycline_warning",
]

BsaFormula = Literal["mosteller", "dubois"]
BSA_FORMULAS: dict[str, str] = {
    "mosteller": "Mosteller, N Engl J Med 1987;317:1098: sqrt(height cm x weight kg / 3600)",
    "dubois": "DuBois & DuBois, Arch Intern Med 1916;17:863: 0.007184 x weight^0.425 x height^0.725",
}
HEIGHT_CM_LIMITS = (30.0, 250.0)
WEIGHT_KG_LIMITS = (1.0, 400.0)

#: why a dose was reduced or omitted, or a cycle delayed (the codes a form offers)
REASON_CODES: dict[str, str] = {
    "toxicity": "adverse event or toxicity (including blood counts not recovered)",
    "organ_function": "hepatic, renal or cardiac function",
    "intercurrent_illness": "intercurrent illness",
    "patient_choice": "patient's choice",
    "logistics": "scheduling, holiday, drug supply",
    "investigator_decision": "investigator's decision",
    "other": "other (say which in the comment)",
}

Per = Literal["m2", "kg", "flat"]
_PER_UNIT = {"m2": "mg/m2", "kg": "mg/kg", "flat": "mg"}
_EPS = 1e-9


# --------------------------------------------------------------------------- numbers
def _number(field_name: str, value: object, low: float | None = None, high: float | None = None,
            rule: str | None = None, *, positive: bool = False, minimum: float | None = None) -> float:
    if not isinstance(value, Real) or isinstance(value, bool):
        raise InvalidValue(field_name, "must be a number", value)
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise InvalidValue(field_name, "must be a finite number", value)
    if low is not None and high is not None and not (low <= number <= high):
        raise InvalidValue(field_name, rule or f"must be from {low:g} to {high:g}", value)
    if positive and number <= 0:
        raise InvalidValue(field_name, "must be greater than 0", value)
    if minimum is not None and number < minimum:
        raise InvalidValue(field_name, f"must be at least {minimum:g}", value)
    return number


def _fmt(value: float) -> str:
    return f"{round(value, 1):g}"


# --------------------------------------------------------------------------- body surface area
def body_surface_area(height_cm: float, weight_kg: float, formula: str = "mosteller") -> float:
    """Body surface area in m2 from height (cm) and weight (kg), by Mosteller (default) or DuBois.

    Refuses an impossible height or weight (``InvalidValue`` naming ``height_cm`` or ``weight_kg``)
    and an unknown formula. The value is not rounded: round for display only."""
    low, high = HEIGHT_CM_LIMITS
    height = _number("height_cm", height_cm, low, high, f"must be from {low:g} to {high:g} cm (a height in cm)")
    low, high = WEIGHT_KG_LIMITS
    weight = _number("weight_kg", weight_kg, low, high, f"must be from {low:g} to {high:g} kg (a weight in kg)")
    name = formula.strip().lower() if isinstance(formula, str) else formula
    if name == "mosteller":
        return math.sqrt(height * weight / 3600.0)
    if name == "dubois":
        return 0.007184 * weight ** 0.425 * height ** 0.725
    raise InvalidValue("formula", f"must be one of {', '.join(BSA_FORMULAS)}", formula)


# --------------------------------------------------------------------------- regimens
@dataclass(frozen=True)
class RegimenDrug:
    """One drug of a regimen: ``dose`` mg per m2, per kg or flat, on each of ``days`` of the cycle."""

    drug: str
    dose: float
    per: Per
    days: tuple[int, ...]
    route: str | None = None


@dataclass(frozen=True)
class Regimen:
    """A regimen as the protocol declares it (the protocol's own model has the same attributes)."""

    id: str
    cycle_days: int
    drugs: tuple[RegimenDrug, ...]
    max_cycles: int | None = None
    name: str | None = None


def _drugs_of(regimen: Any) -> dict[str, Any]:
    return {normalise_drug(d.drug): d for d in regimen.drugs}


def planned_dose_mg(entry: Any, bsa_m2: float | None = None, weight_kg: float | None = None) -> float:
    """The planned dose in mg of one administration of a regimen drug (``entry.dose`` per ``entry.per``)."""
    dose = _number("dose", entry.dose, positive=True)
    if entry.per == "m2":
        if bsa_m2 is None:
            raise InvalidValue("bsa_m2", f"{entry.drug} is dosed per m2: the body surface area is needed",
                               show_value=False)
        return dose * _number("bsa_m2", bsa_m2, 0.05, 6.0, "must be from 0.05 to 6 m2")
    if entry.per == "kg":
        if weight_kg is None:
            raise InvalidValue("weight_kg", f"{entry.drug} is dosed per kg: the weight is needed", show_value=False)
        low, high = WEIGHT_KG_LIMITS
        return dose * _number("weight_kg", weight_kg, low, high, f"must be from {low:g} to {high:g} kg")
    if entry.per == "flat":
        return dose
    raise InvalidValue("per", "must be one of m2, kg, flat", entry.per)


# --------------------------------------------------------------------------- administrations
@dataclass(frozen=True)
class Administration:
    """A dose given: cycle number, the scheduled day of the cycle it is, its date, the drug, mg given
    (0: omitted) and the reason codes of a reduction, omission or delay (:data:`REASON_CODES`)."""

    cycle: int
    day: int
    date: dt.date
    drug: str
    dose_mg: float
    reasons: tuple[str, ...] = ()


def _check_administrations(regimen: Any, administrations: Iterable[Administration],
                           reason_codes: Mapping[str, str]) -> list[Administration]:
    drugs = _drugs_of(regimen)
    max_cycles = getattr(regimen, "max_cycles", None)
    seen: set[tuple[int, str, int]] = set()
    out: list[Administration] = []
    for given in administrations:
        drug = normalise_drug(given.drug)
        if drug not in drugs:
            raise InvalidValue("drug", f"'{given.drug}' is not in regimen {regimen.id} (its drugs: "
                               f"{', '.join(drugs)})", show_value=False)
        if not isinstance(given.cycle, int) or isinstance(given.cycle, bool) or given.cycle < 1:
            raise InvalidValue("cycle", "must be a whole number from 1", given.cycle)
        if max_cycles is not None and given.cycle > max_cycles:
            raise InvalidValue("cycle", f"regimen {regimen.id} has at most {max_cycles} cycles", given.cycle)
        days = tuple(drugs[drug].days)
        if given.day not in days:
            raise InvalidValue("day", f"{drug} is given on day {', '.join(map(str, days))} of the cycle", given.day)
        if not isinstance(given.date, dt.date):
            raise InvalidValue("date", "must be a date", given.date)
        _number("dose_mg", given.dose_mg, minimum=0)
        for code in given.reasons:
            if code not in reason_codes:
                raise InvalidValue("reasons", f"must be among {', '.join(reason_codes)}", code)
        key = (given.cycle, drug, given.day)
        if key in seen:
            raise InvalidValue("day", f"{drug} day {given.day} of cycle {given.cycle} is recorded twice",
                               show_value=False)
        seen.add(key)
        out.append(given if given.drug == drug else Administration(given.cycle, given.day, given.date, drug,
                                                                    given.dose_mg, tuple(given.reasons)))
    return out


# --------------------------------------------------------------------------- course summary
@dataclass(frozen=True)
class CycleDrug:
    drug: str
    planned_mg: float
    given_mg: float
    percent_of_planned: float
    reduced: bool
    above_planned: bool
    omitted_days: tuple[int, ...]
    not_recorded_days: tuple[int, ...]
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"drug": self.drug, "planned_mg": self.planned_mg, "given_mg": self.given_mg,
                "percent_of_planned": self.percent_of_planned, "reduced": self.reduced,
                "above_planned": self.above_planned, "omitted_days": list(self.omitted_days),
                "not_recorded_days": list(self.not_recorded_days), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class CycleSummary:
    cycle: int
    start: dt.date
    planned_start: dt.date | None
    delay_days: int | None
    delayed: bool
    bsa_m2: float | None
    weight_kg: float | None
    drugs: tuple[CycleDrug, ...]
    reasons: tuple[str, ...]
    #: a reduction, omission or delay recorded without a reason
    missing_reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"cycle": self.cycle, "start": self.start, "planned_start": self.planned_start,
                "delay_days": self.delay_days, "delayed": self.delayed, "bsa_m2": self.bsa_m2,
                "weight_kg": self.weight_kg, "drugs": [d.as_dict() for d in self.drugs],
                "reasons": list(self.reasons), "missing_reasons": list(self.missing_reasons)}


@dataclass(frozen=True)
class DoseIntensity:
    """Hryniuk & Bush dose intensity of one drug over the cycles given."""

    drug: str
    unit: str                    # mg/m2, mg/kg or mg
    received: float              # in ``unit``, over the cycles given
    weeks: float                 # day 1 of the first cycle to the end of the last one
    received_per_week: float
    planned_per_week: float
    relative: float              # RDI, received over planned dose intensity

    def as_dict(self) -> dict[str, Any]:
        return {"drug": self.drug, "unit": self.unit, "received": self.received, "weeks": self.weeks,
                "received_per_week": self.received_per_week, "planned_per_week": self.planned_per_week,
                "relative_dose_intensity": self.relative}


@dataclass(frozen=True)
class CourseSummary:
    regimen: str
    cycles: tuple[CycleSummary, ...]
    dose_intensity: tuple[DoseIntensity, ...]
    #: doxorubicin-equivalent mg/m2, prior exposure included (None: no table given)
    cumulative_doxorubicin_equivalent: float | None
    equivalence_table: str | None
    #: the warning before the next cycle (None: no limit given, no cycle left, or below the limit)
    anthracycline_warning: str | None = None

    @property
    def cycles_given(self) -> int:
        return len(self.cycles)

    def as_dict(self) -> dict[str, Any]:
        return {"regimen": self.regimen, "cycles_given": self.cycles_given,
                "cycles": [c.as_dict() for c in self.cycles],
                "dose_intensity": [d.as_dict() for d in self.dose_intensity],
                "cumulative_doxorubicin_equivalent_mg_m2": self.cumulative_doxorubicin_equivalent,
                "equivalence_table": self.equivalence_table, "anthracycline_warning": self.anthracycline_warning}


def _per_cycle(value: float | Mapping[int, float] | None, cycle: int, name: str) -> float | None:
    if value is None or not isinstance(value, Mapping):
        return value
    if cycle not in value:
        raise InvalidValue(name, f"no value for cycle {cycle}", show_value=False)
    return value[cycle]


def _cycle_start(records: list[Administration]) -> dt.date:
    """Day 1 of a cycle: the date of its day-1 doses, else the earliest dose's date less its day."""
    day_one = [a.date for a in records if a.day == 1]
    if day_one:
        return min(day_one)
    return min(a.date - dt.timedelta(days=a.day - 1) for a in records)


def summarise_course(regimen: Any, administrations: Iterable[Administration], *,
                     bsa_m2: float | Mapping[int, float] | None = None,
                     weight_kg: float | Mapping[int, float] | None = None,
                     dose_tolerance_percent: float = 5.0, delay_tolerance_days: int = 0,
                     table: "EquivalenceTable | None" = None, prior_doxorubicin_equivalent: float = 0.0,
                     limit_mg_m2: float | None = None,
                     reason_codes: Mapping[str, str] = REASON_CODES) -> CourseSummary:
    """Per-cycle actual against planned dose, delays, relative dose intensity per drug and the
    cumulative doxorubicin-equivalent dose of a patient's course of ``regimen``.

    ``bsa_m2`` and ``weight_kg`` are the patient's values, or a mapping from cycle number to the
    value used for that cycle. Every scheduled dose of a recorded cycle is due: one not recorded is
    listed in ``not_recorded_days`` and counts as not given. A dose below the planned one by more
    than ``dose_tolerance_percent`` is a reduction; a cycle starting more than
    ``delay_tolerance_days`` after the previous cycle's day 1 plus the cycle length is delayed."""
    tolerance = _number("dose_tolerance_percent", dose_tolerance_percent, 0, 50) / 100
    delay_tolerance = int(_number("delay_tolerance_days", delay_tolerance_days, minimum=0))
    records = _check_administrations(regimen, administrations, reason_codes)
    drugs = _drugs_of(regimen)
    cycle_days = int(regimen.cycle_days)
    by_cycle: dict[int, list[Administration]] = {}
    for given in records:
        by_cycle.setdefault(given.cycle, []).append(given)

    cycles: list[CycleSummary] = []
    received: dict[str, float] = {drug: 0.0 for drug in drugs}
    cumulative = _number("prior_doxorubicin_equivalent", prior_doxorubicin_equivalent, minimum=0)
    anthracyclines = [drug for drug in drugs if is_anthracycline(drug)]
    starts: dict[int, dt.date] = {}
    for number in sorted(by_cycle):
        rows = by_cycle[number]
        start = _cycle_start(rows)
        starts[number] = start
        bsa = _per_cycle(bsa_m2, number, "bsa_m2")
        weight = _per_cycle(weight_kg, number, "weight_kg")
        cycle_drugs: list[CycleDrug] = []
        missing: list[str] = []
        reasons: list[str] = []
        for drug, entry in drugs.items():
            mine = {a.day: a for a in rows if a.drug == drug}
            per_dose = planned_dose_mg(entry, bsa, weight)
            planned = per_dose * len(entry.days)
            given = sum(a.dose_mg for a in mine.values())
            drug_reasons = tuple(dict.fromkeys(code for a in mine.values() for code in a.reasons))
            reasons.extend(drug_reasons)
            omitted = tuple(day for day, a in sorted(mine.items()) if a.dose_mg == 0)
            not_recorded = tuple(day for day in entry.days if day not in mine)
            reduced = given < planned * (1 - tolerance) - _EPS
            cycle_drugs.append(CycleDrug(drug, planned, given, 100.0 * given / planned, reduced,
                                         given > planned * (1 + tolerance) + _EPS, omitted, not_recorded,
                                         drug_reasons))
            if (reduced or omitted) and not drug_reasons:
                missing.append(f"{drug}: {'omitted' if omitted else 'reduced'} without a reason")
            if entry.per == "m2":
                received[drug] += given / bsa
            elif entry.per == "kg":
                received[drug] += given / weight
            else:
                received[drug] += given
            if table is not None and drug in anthracyclines and given > 0:
                if entry.per != "m2":
                    raise InvalidValue("per", f"{drug} must be dosed per m2 to count towards the cumulative "
                                       "doxorubicin-equivalent dose", entry.per)
                cumulative += given / bsa * table.factor(drug)
        planned_start = starts[number - 1] + dt.timedelta(days=cycle_days) if number - 1 in starts else None
        delay = (start - planned_start).days if planned_start is not None else None
        delayed = delay is not None and delay > delay_tolerance
        if delayed and not any(a.reasons for a in rows if a.day == 1):
            missing.append(f"delayed {delay} days without a reason")
        cycles.append(CycleSummary(number, start, planned_start, delay, delayed, bsa, weight, tuple(cycle_drugs),
                                   tuple(dict.fromkeys(reasons)), tuple(missing)))

    intensity: list[DoseIntensity] = []
    if cycles:
        days = (cycles[-1].start - cycles[0].start).days + cycle_days
        weeks = days / 7.0
        for drug, entry in drugs.items():
            planned_per_week = float(entry.dose) * len(entry.days) / (cycle_days / 7.0)
            per_week = received[drug] / weeks
            intensity.append(DoseIntensity(drug, _PER_UNIT[entry.per], received[drug], weeks, per_week,
                                           planned_per_week, per_week / planned_per_week))

    warning = None
    max_cycles = getattr(regimen, "max_cycles", None)
    more = max_cycles is None or len(cycles) < max_cycles
    if table is not None and limit_mg_m2 is not None and more and anthracyclines:
        last_bsa = cycles[-1].bsa_m2 if cycles else (bsa_m2 if not isinstance(bsa_m2, Mapping) else None)
        warning = anthracycline_warning(cumulative, planned_cycle_equivalent(regimen, table, bsa_m2=last_bsa),
                                        limit_mg_m2)
    return CourseSummary(regimen.id, tuple(cycles), tuple(intensity),
                         cumulative if table is not None else None, table.id if table is not None else None, warning)


# --------------------------------------------------------------------------- doxorubicin equivalence
_RESOURCE = ("data", "anthracycline_equivalence.yaml")


@dataclass(frozen=True)
class EquivalenceTable:
    """One table of doxorubicin-equivalence factors, with its source and version."""

    id: str
    name: str
    source: str
    version: str
    basis: str
    factors: dict[str, float]
    no_factor: tuple[str, ...]
    not_verified: tuple[str, ...]

    def lacks(self, drugs: Iterable[str]) -> list[str]:
        """The anthracyclines among ``drugs`` that this table gives no factor for, in order."""
        out = []
        for drug in drugs:
            name = normalise_drug(drug)
            if is_anthracycline(name) and name not in self.factors and name not in out:
                out.append(name)
        return out

    def why_missing(self, drug: str) -> str:
        name = normalise_drug(drug)
        if name in self.not_verified:
            return f"table {self.id} has no verified factor for {name} (not checked against the guideline text)"
        return f"table {self.id} gives no doxorubicin-equivalence factor for {name}"

    def factor(self, drug: str) -> float:
        name = normalise_drug(drug)
        if not is_anthracycline(name):
            raise InvalidValue("drug", f"'{drug}' is not an anthracycline (known: {', '.join(_catalogue()[0])})",
                               show_value=False)
        if name not in self.factors:
            raise InvalidValue(name, self.why_missing(name) + "; choose another table", show_value=False)
        return self.factors[name]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "source": self.source, "version": self.version,
                "basis": self.basis, "factors": dict(self.factors), "no_factor": list(self.no_factor),
                "not_verified": list(self.not_verified)}


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


@lru_cache(maxsize=1)
def _catalogue() -> tuple[tuple[str, ...], dict[str, str], dict[str, EquivalenceTable]]:
    text = resources.files("sarcotrial.domain").joinpath(*_RESOURCE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    drugs = tuple(data["anthracyclines"])
    aliases = dict(data.get("aliases") or {})
    tables: dict[str, EquivalenceTable] = {}
    for table_id, raw in data["tables"].items():
        factors = {str(k): float(v) for k, v in (raw.get("factors") or {}).items()}
        for name in [*factors, *(raw.get("no_factor") or []), *(raw.get("not_verified") or [])]:
            if name not in drugs:  # a slip in the data file: say so at once
                raise InvalidValue("anthracycline_equivalence.yaml", f"table {table_id} names an unknown drug", name)
        tables[table_id] = EquivalenceTable(table_id, _text(raw["name"]), _text(raw["source"]), str(raw["version"]),
                                            _text(raw.get("basis")), factors, tuple(raw.get("no_factor") or ()),
                                            tuple(raw.get("not_verified") or ()))
    return drugs, aliases, tables


def equivalence_tables() -> dict[str, EquivalenceTable]:
    """Every doxorubicin-equivalence table shipped, by id."""
    return dict(_catalogue()[2])


def equivalence_table(table_id: str) -> EquivalenceTable:
    tables = _catalogue()[2]
    if table_id not in tables:
        raise InvalidValue("table", f"unknown equivalence table (known: {', '.join(tables)})", table_id)
    return tables[table_id]


def normalise_drug(name: str) -> str:
    """A drug id: lower case, spaces and hyphens as underscores, a known alias replaced."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue("drug", "must be a drug name", name)
    key = "_".join(name.strip().lower().replace("-", " ").split())
    return _catalogue()[1].get(key, key)


def is_anthracycline(drug: str) -> bool:
    return normalise_drug(drug) in _catalogue()[0]


@dataclass(frozen=True)
class Equivalent:
    """A cumulative doxorubicin-equivalent dose and each drug's part of it."""

    total_mg_m2: float
    parts: tuple[dict[str, Any], ...]
    table: EquivalenceTable

    def as_dict(self) -> dict[str, Any]:
        return {"cumulative_doxorubicin_equivalent_mg_m2": self.total_mg_m2, "contributions": list(self.parts),
                "table": {k: v for k, v in self.table.as_dict().items() if k in ("id", "name", "source", "version")}}


def doxorubicin_equivalent(doses_mg_m2: Mapping[str, float], table: EquivalenceTable) -> Equivalent:
    """Cumulative doxorubicin-equivalent mg/m2 of each anthracycline's cumulative dose (mg/m2)."""
    parts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for drug, dose in doses_mg_m2.items():
        name = normalise_drug(drug)
        if name in seen:
            raise InvalidValue("dose", f"{name} is given twice; give each drug's cumulative dose once",
                               show_value=False)
        seen.add(name)
        amount = _number(name, dose, minimum=0)
        factor = table.factor(name)
        parts.append({"drug": name, "dose_mg_m2": amount, "factor": factor, "equivalent_mg_m2": amount * factor})
    return Equivalent(sum(p["equivalent_mg_m2"] for p in parts), tuple(parts), table)


def planned_cycle_equivalent(regimen: Any, table: EquivalenceTable, bsa_m2: float | None = None) -> float:
    """The doxorubicin-equivalent mg/m2 one full cycle of ``regimen`` plans (its anthracyclines only)."""
    total = 0.0
    for drug, entry in _drugs_of(regimen).items():
        if not is_anthracycline(drug):
            continue
        if entry.per == "m2":
            per_m2 = float(entry.dose)
        elif entry.per == "flat" and bsa_m2:
            per_m2 = float(entry.dose) / bsa_m2
        else:
            raise InvalidValue("per", f"{drug} must be dosed per m2 to count towards the cumulative "
                               "doxorubicin-equivalent dose", entry.per)
        total += per_m2 * len(entry.days) * table.factor(drug)
    return total


def anthracycline_warning(cumulative: float, next_cycle_planned: float, limit: float) -> str | None:
    """The warning to show before a cycle: the cumulative doxorubicin-equivalent dose (mg/m2) is
    already above ``limit``, or the next cycle's planned equivalent would take it above; else None.
    Reaching the limit exactly is not crossing it."""
    total = _number("cumulative", cumulative, minimum=0)
    step = _number("next_cycle_planned", next_cycle_planned, minimum=0)
    cap = _number("limit", limit, positive=True)
    if total > cap + _EPS:
        return (f"cumulative doxorubicin-equivalent dose {_fmt(total)} mg/m2 is already above the protocol's "
                f"limit of {_fmt(cap)} mg/m2")
    if step > 0 and total + step > cap + _EPS:
        return (f"the next cycle ({_fmt(step)} mg/m2 doxorubicin-equivalent) would take the cumulative dose "
                f"from {_fmt(total)} to {_fmt(total + step)} mg/m2, above the protocol's limit of {_fmt(cap)} mg/m2")
    return None

