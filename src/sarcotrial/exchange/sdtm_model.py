"""The shapes of the SDTM export: a variable's metadata, a dataset's rows, and the SDTM rules every
domain shares (identifiers, ISO 8601 dates, study days).

Standard: CDISC Study Data Tabulation Model Implementation Guide (SDTMIG) v3.4. Its rules applied here:
variable names at most 8 characters and labels at most 40 (SAS V5 transport, section 4.1.2.1; dataset
labels at most 40 too), character values at most 200 characters, dates as ISO 8601 character values
(--DTC, section 4.4), and the study day of a date (--DY, section 4.4.4): the reference start date
(DM.RFSTDTC) is day 1 and the day before it day -1; there is no day 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

#: SAS V5 transport limits (SDTMIG 3.4, 4.1.2.1)
NAME_MAX = 8
LABEL_MAX = 40
CHAR_MAX = 200


@dataclass(frozen=True)
class Var:
    """One variable of a dataset, with what define.xml says of it."""

    name: str
    label: str
    type: str = "Char"  # "Char" or "Num"
    origin: str = "Collected"  # Define-XML 2.1 origin: Collected, Derived, Assigned, Protocol
    source: str | None = "Investigator"  # Investigator, Sponsor, Subject, Vendor (None: not given)
    codelist: str | None = None  # an OID suffix: a codelist of sdtm_ct.yaml or of the protocol
    key: int | None = None  # key sequence in the dataset's sort order
    mandatory: bool = False
    comment: str | None = None  # a note for define.xml (e.g. how a derived value is made)
    data_type: str | None = None  # define.xml DataType where not text/integer/float (date, datetime)

    def __post_init__(self) -> None:
        if len(self.name) > NAME_MAX or not self.name.isidentifier() or self.name.upper() != self.name:
            raise ValueError(f"SDTM variable name {self.name!r}: upper-case letters, digits and _, at most {NAME_MAX}")
        if len(self.label) > LABEL_MAX:
            raise ValueError(f"SDTM variable label of {self.name}: at most {LABEL_MAX} characters: {self.label!r}")


@dataclass
class Dataset:
    """One SDTM dataset: its metadata and its records (dicts keyed by variable name)."""

    name: str
    label: str
    cls: str  # the SDTM observation class as Define-XML 2.1 names it (def:Class)
    structure: str  # one record per ...
    variables: list[Var]
    rows: list[dict[str, Any]] = field(default_factory=list)
    comment: str | None = None

    def __post_init__(self) -> None:
        if len(self.name) > NAME_MAX or len(self.label) > LABEL_MAX:
            raise ValueError(f"SDTM dataset {self.name}: name at most {NAME_MAX}, label at most {LABEL_MAX} characters")

    @property
    def domain(self) -> str:
        return self.name

    def column(self, name: str) -> list[Any]:
        return [row.get(name) for row in self.rows]

    def char_length(self, var: Var) -> int:
        """The longest value of a character variable in UTF-8 bytes (at least 1), as the XPT file stores it and
        define.xml gives it."""
        return max([len(str(v).encode("utf-8")) for v in self.column(var.name) if v not in (None, "")] or [1])


def dtc(value: Any) -> str | None:
    """An ISO 8601 --DTC value: a date as YYYY-MM-DD, a date and time (UTC) as YYYY-MM-DDThh:mm:ss."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return None


def as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


def study_day(value: Any, reference: Any) -> int | None:
    """SDTMIG 3.4 section 4.4.4: --DY = date - RFSTDTC + 1 on or after the reference date, date - RFSTDTC
    before it (the reference date is day 1, the day before it day -1: there is no day 0)."""
    day, ref = as_date(value), as_date(reference)
    if day is None or ref is None:
        return None
    delta = (day - ref).days
    return delta + 1 if delta >= 0 else delta


def yn(value: Any) -> str | None:
    """A boolean as the NY codelist's Y or N (None stays null)."""
    if value is None:
        return None
    return "Y" if value else "N"


def usubjid(studyid: str, subject_id: str) -> str:
    """The unique subject identifier: the study's id and the subject's, joined (SDTMIG 3.4, DM USUBJID)."""
    return f"{studyid}-{subject_id}"
