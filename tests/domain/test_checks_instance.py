"""An edit check on the first (or last) instance of a repeating form checks that instance only.

docs/protocol-file.md ("Edit checks"): `field` with `instance: each` checks every instance; with `first`
(`last`) only the instance with the smallest (largest) value. DOXAB's `first_cycle_soon` asks for the first
cycle within 0 to 7 days of randomisation: cycles 2 and 3, 21 and 42 days later, are not its business.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sarcotrial.domain.checks import Instance, evaluate


def _check(instance: str):
    return SimpleNamespace(
        id="first_cycle_soon", kind="soft", text="The first cycle within 7 days of randomisation",
        field=SimpleNamespace(form="systemic_cycle", field="cycle_date", instance=instance, where={}),
        op="within_days", than=SimpleNamespace(form="enrolment", field="enrolment_date", instance="first", where={}),
        min_days=0, max_days=7, when={})


CYCLES = [Instance(k, {"cycle_date": dt.date(2025, 1, 27) + dt.timedelta(days=21 * (k - 1))}) for k in (3, 1, 2)]
ENROLMENT = [Instance("e", {"enrolment_date": dt.date(2025, 1, 22)})]


def test_first_checks_the_first_instance_only():
    assert evaluate(_check("first"), {"systemic_cycle": CYCLES, "enrolment": ENROLMENT}) == []
    late = [Instance(1, {"cycle_date": dt.date(2025, 2, 5)}), *CYCLES[:1]]  # 14 days: breaks it; cycle 3 is later
    found = evaluate(_check("first"), {"systemic_cycle": late, "enrolment": ENROLMENT})
    assert [(v.key, v.value) for v in found] == [(1, dt.date(2025, 2, 5))]


def test_each_checks_every_instance():
    """Cycles 2 and 3 are 26 and 47 days after randomisation: with each, both break the 0-7 day window."""
    found = evaluate(_check("each"), {"systemic_cycle": CYCLES, "enrolment": ENROLMENT})
    assert sorted(v.key for v in found) == [2, 3]


def test_last_checks_the_last_instance_only():
    found = evaluate(_check("last"), {"systemic_cycle": CYCLES, "enrolment": ENROLMENT})
    assert [v.key for v in found] == [3]
