"""Timing rules for radiotherapy toxicity: acute vs late, and SR2 major wound complications.

Acute vs late
-------------
CTCAE v5.0 grades an adverse event but does not say whether it is *acute* or *late*. The usual
radiotherapy convention (the RTOG/EORTC toxicity criteria, Cox JD, Stetz J, Pajak TF, Int J Radiat
Oncol Biol Phys 1995;31:1341-6, with separate acute and late morbidity scales) calls a reaction
acute when it begins within 90 days of the start of radiotherapy and late after that. SarcoTrial
takes the window from the study protocol (``acute_window_days``, default 90) and counts days so:

* day 0 is the first day of radiotherapy (``rt_start``); the day number of an onset is
  ``(onset - rt_start).days``;
* an onset on day ``acute_window_days`` is still acute ("up to and including day 90 from the start
  of RT"): with the default window, onset on ``rt_start + 90 days`` is acute and on
  ``rt_start + 91 days`` late;
* an onset before the start of RT is not a radiotherapy toxicity and is refused.

The RTOG acute scale's form is commonly quoted as applying "from day 1, commencement of therapy,
through day 90", which counts the first day of RT as day 1 and so ends one calendar day earlier
(last acute onset ``rt_start + 89 days``). That wording could not be checked against the primary
source here; a protocol that wants it sets ``acute_window_days`` to 89.

Major wound complications (NCIC CTG SR2)
----------------------------------------
O'Sullivan B, Davis AM, Turcotte R, et al. Preoperative versus postoperative radiotherapy in
soft-tissue sarcoma of the limbs: a randomised trial. Lancet 2002;359:2235-41
(doi:10.1016/S0140-6736(02)09292-9). Its abstract (checked) says: "The primary endpoint was rate
of wound complications within 120 days of surgery", and reports them in "31 (35%) of 88 in the
preoperative group and 16 (17%) of 94 in the postoperative group".

The criteria, one flag of :class:`WoundComplication` each. The full text of SR2's Methods could not
be retrieved for this module; the list follows SarcoTrial's domain brief and the restatements of
SR2 in later series that could be checked, quoted here:
Miller ED et al., J Surg Oncol 2016;114:385-91: "MWCs were defined as secondary operations with
anesthesia, seroma/hematoma aspiration, admission for IV antibiotics, or persistent deep
packing"; and (PMID 34753886) Am J Clin Oncol 2021;44:619-23: wound complications "defined as those
requiring secondary operations or prolonged wound care for 4 months following surgery".

* ``secondary_operation``: a secondary operation under general or regional anaesthesia for wound
  repair (debridement, operative drainage, secondary wound closure including rotationplasty,
  free flaps or skin grafts);
* ``invasive_procedure_without_anaesthesia``: an invasive procedure without general or regional
  anaesthesia (mainly aspiration of a seroma);
* ``readmission_for_wound_care``: readmission for wound care, such as intravenous antibiotics;
* ``deep_packing``: (persistent) deep packing of an area of wound breakdown;
* ``prolonged_dressing``: prolonged wound dressings (e.g. wet dressings) - "prolonged wound care
  for 4 months" in the restatement above.

A wound complication is *major* when at least one criterion is met and it began within the window
after surgery (default 120 days; day 0 is the day of surgery and day 120 is included). The
clinician decides each criterion (e.g. whether dressings were "prolonged"); this module applies the
timing. The window is a parameter so that a protocol may restate it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Literal

from sarcotrial.errors import InvalidValue

__all__ = [
    "ACUTE_WINDOW_DAYS",
    "SR2_WOUND_WINDOW_DAYS",
    "WOUND_CRITERIA",
    "ToxicityPhase",
    "WoundComplication",
    "days_from",
    "toxicity_phase",
    "is_major_wound_complication",
]

ACUTE_WINDOW_DAYS = 90
"""Default acute window (days from the start of RT, day 0 = start, day 90 acute)."""

SR2_WOUND_WINDOW_DAYS = 120
"""SR2's window for wound complications (days from surgery, day 0 = surgery, day 120 included)."""

ToxicityPhase = Literal["acute", "late"]

WOUND_CRITERIA = (
    "secondary_operation",
    "readmission_for_wound_care",
    "invasive_procedure_without_anaesthesia",
    "deep_packing",
    "prolonged_dressing",
)
"""The SR2 major-wound-complication criteria, as attribute names of :class:`WoundComplication`."""


def _require_date(field_name: str, value: object) -> date:
    # datetime is a subclass of date: refuse it, so that a time of day cannot shift a day count.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidValue(field_name, "must be a calendar date", value)
    return value


def _require_window(field_name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(field_name, "must be a whole number of days, 0 or more", value)
    return value


def days_from(start: date, day: date) -> int:
    """Day number of ``day`` counting ``start`` as day 0."""
    return (day - start).days


def toxicity_phase(
    onset: date, rt_start: date, acute_window_days: int = ACUTE_WINDOW_DAYS
) -> ToxicityPhase:
    """Whether a toxicity that began on ``onset`` is acute or late.

    Acute when ``(onset - rt_start).days <= acute_window_days`` (the start of RT is day 0, so
    with the default window day 90 is acute and day 91 late). The window comes from the protocol.
    An onset before the start of RT raises ``InvalidValue("onset_date", ...)``.
    """
    _require_date("onset_date", onset)
    _require_date("rt_start", rt_start)
    _require_window("acute_window_days", acute_window_days)
    day = days_from(rt_start, onset)
    if day < 0:
        raise InvalidValue(
            "onset_date",
            f"is before the start of radiotherapy ({rt_start.isoformat()}); "
            "a toxicity of RT cannot begin before RT",
            onset.isoformat(),
        )
    return "acute" if day <= acute_window_days else "late"


@dataclass(frozen=True)
class WoundComplication:
    """A wound complication after sarcoma surgery, with the SR2 criteria it met.

    Each flag is one criterion of a *major* wound complication (O'Sullivan et al., Lancet 2002,
    NCIC CTG SR2); see the module docstring for their wording. ``onset_date`` is the day the
    complication began.
    """

    onset_date: date
    secondary_operation: bool = False
    readmission_for_wound_care: bool = False
    invasive_procedure_without_anaesthesia: bool = False
    deep_packing: bool = False
    prolonged_dressing: bool = False

    def __post_init__(self) -> None:
        _require_date("onset_date", self.onset_date)
        for f in fields(self):
            if f.name in WOUND_CRITERIA and not isinstance(getattr(self, f.name), bool):
                raise InvalidValue(f.name, "must be true or false", getattr(self, f.name))

    def criteria_met(self) -> tuple[str, ...]:
        """Names of the SR2 criteria this complication met, in :data:`WOUND_CRITERIA` order."""
        return tuple(name for name in WOUND_CRITERIA if getattr(self, name))

    def meets_any_criterion(self) -> bool:
        return bool(self.criteria_met())


def is_major_wound_complication(
    wc: WoundComplication, surgery_date: date, window_days: int = SR2_WOUND_WINDOW_DAYS
) -> bool:
    """Whether ``wc`` is a major wound complication by the SR2 definition.

    True when at least one criterion is met and the complication began within ``window_days``
    of surgery, both ends included (day 0 = the day of surgery; with the default 120-day window,
    onset on ``surgery_date + 120 days`` counts, ``+ 121`` does not). An onset before the surgery
    raises ``InvalidValue("onset_date", ...)``.
    """
    if not isinstance(wc, WoundComplication):
        raise InvalidValue("wound_complication", "must be a WoundComplication", wc)
    _require_date("surgery_date", surgery_date)
    _require_window("window_days", window_days)
    day = days_from(surgery_date, wc.onset_date)
    if day < 0:
        raise InvalidValue(
            "onset_date",
            f"is before the surgery ({surgery_date.isoformat()}); "
            "a wound complication cannot begin before the operation",
            wc.onset_date.isoformat(),
        )
    return wc.meets_any_criterion() and day <= window_days
