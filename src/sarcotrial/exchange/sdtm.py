"""The ``sdtm`` export: CDISC SDTM IG 3.4 datasets as SAS transport (XPT version 5) and CSV files, with
their Define-XML 2.1 ``define.xml``.

Datasets (``sdtm_domains``): TS (trial summary parameters the protocol determines, with the study start date
SSTDTC and the data cut-off DCUTDTC, the export's date), DM (one record per enrolled patient; BRTHDTC at the
identified level only), SV (every protocol visit occurrence with an entered CRF, dated by the earliest date
on its CRFs), DS (consent, enrolment, withdrawal, end of study, death), EX (one record per delivered
radiotherapy fraction per dose level of the simultaneous integrated boost, SUPPEX naming the target volume),
CM (the concurrent chemotherapy asked on the radiotherapy course form), PR (the surgery, with SUPPPR: its
UICC residual tumour classification as the services derived it), AE with SUPPAE, and TU, TR, RS (the primary
tumour, its size at diagnosis and its pathological response; VISITNUM as in SV). A dataset with no record is
not written. Dates are ISO 8601 character values; study days (--DY) count from DM.RFSTDTC, the enrolment
date, with no day 0 (SDTMIG 3.4 section 4.4.4). Dates are those of the export level, so a de-identified
export holds shifted dates and study days unchanged.

Adverse events: AETERM and AELLT are the CTCAE v5.0 term, AELLTCD the MedDRA code NCI's CTCAE v5.0
catalogue gives it, AETOXGR the CTCAE grade. AEDECOD (the MedDRA preferred term) is left empty: a sponsor
fills it from the licensed MedDRA dictionary, which SarcoTrial does not ship (define.xml says so too).

XPT files are written by pyreadstat (``write_xport``, version 5); the CSV beside each holds the same values.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat

from sarcotrial.exchange.sdtm_define import write_define
from sarcotrial.exchange.sdtm_domains import datasets
from sarcotrial.exchange.sdtm_model import CHAR_MAX, Dataset
from sarcotrial.errors import InvalidValue
from sarcotrial.services.exchange import ExportSnapshot

DEFINE = "define.xml"


def write(snapshot: ExportSnapshot, folder: Path, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write every dataset (XPT and CSV) and define.xml into ``folder``; returns the counts."""
    built = datasets(snapshot)
    files: dict[str, str] = {}
    for d in built:
        _check(d)
        base = d.name.lower()
        write_xpt(d, folder / f"{base}.xpt")
        write_csv(d, folder / f"{base}.csv")
        files[d.name] = f"{base}.xpt"
        if progress:
            progress(f"{d.name}: {len(d.rows)} records")
    write_define(folder / DEFINE, built, snapshot.protocol, files)
    return {"datasets": len(built), "records": sum(len(d.rows) for d in built)}


def _check(d: Dataset) -> None:
    """SAS XPT v5 holds at most 200 bytes a character value (UTF-8 bytes: "é" takes two)."""
    for var in d.variables:
        if var.type == "Char":
            too_long = [v for v in d.column(var.name) if v is not None and len(str(v).encode("utf-8")) > CHAR_MAX]
            if too_long:
                raise InvalidValue("sdtm", f"{d.name}.{var.name}: a value longer than {CHAR_MAX} bytes, the most SAS "
                                   f"XPT version 5 holds ({str(too_long[0])[:40]}...): shorten it in the study, or "
                                   "export it with tables", show_value=False)


def frame(d: Dataset) -> pd.DataFrame:
    """The dataset as a data frame: character variables as strings ("" for null), numeric ones as floats."""
    columns: dict[str, Any] = {}
    for var in d.variables:
        values = d.column(var.name)
        if var.type == "Char":
            columns[var.name] = pd.Series(["" if v is None else str(v) for v in values], dtype=object)
        else:
            columns[var.name] = pd.Series([float("nan") if v is None else float(v) for v in values], dtype="float64")
    return pd.DataFrame(columns)


def write_xpt(d: Dataset, path: Path) -> None:
    pyreadstat.write_xport(frame(d), str(path), file_format_version=5, table_name=d.name, file_label=d.label,
                           column_labels=[var.label for var in d.variables])


def write_csv(d: Dataset, path: Path) -> None:
    """The same records as CSV (UTF-8, a header of variable names; null as an empty cell)."""
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow([var.name for var in d.variables])
        for row in d.rows:
            out.writerow([_cell(row.get(var.name)) for var in d.variables])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
