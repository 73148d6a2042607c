"""No export below the identified level holds a patient's name, date of birth or hospital number.

Every format (tables, redcap, odm, sdtm, fhir) exports the synthetic demo through the CLI at the
pseudonymised and the de-identified level, and every file is read whole, by readers independent of
the writers (text as UTF-8; Parquet through pyarrow; SAS XPT through pandas.read_sas), and searched
for each patient's identifiers as ``sarcotrial.services.pathway.identify`` gives them: the full name
and each part of it of four letters or more, the date of birth written as YYYY-MM-DD, YYYYMMDD and
DD/MM/YYYY, and the hospital number. Sources: HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i) (names, all
elements of dates except the year, medical record numbers); issue 12 ("a test scans every
de-identified export for the demo's names, dates of birth and hospital numbers: none may appear").
The identified export is the control: the same search finds them there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.demo import demo_password
from sarcotrial.exchange import FORMATS
from sarcotrial.services import access, pathway, views
from sarcotrial.services.study import Actor, StudyDB
from tests.exchange.conftest import demo_study

SEED = 7
runner = CliRunner()


def actor(user: str) -> Actor:
    return Actor(user, "test", password=demo_password(SEED, user))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_study(tmp_path_factory, SEED, "scan-demo") as url:
        study = StudyDB.open(url)
        try:
            subjects = [r.subject_id for r in views.patients(study, actor("monitor"))]
            people = [pathway.identify(study, actor("monitor"), s, "identifier scan test") for s in subjects]
            staff = [a.full_name for a in access.list_users(study, actor("admin"))]
        finally:
            study.close()
        yield {"url": url, "people": people, "staff": staff}


def needles(people, staff=()) -> dict[str, str]:
    """Each identifier as it could be written, with what it is. A part of a patient's name that is also part
    of a staff member's name is left out of the parts (ODM names the users who entered the data); the
    patient's full name is still searched."""
    staff_parts = {part for name in staff for part in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", name)}
    out: dict[str, str] = {}
    for p in people:
        name = p.full_name.replace("(synthetic)", "").strip()
        out[name] = "name"
        for part in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", name):
            if part not in staff_parts:
                out[part] = "name part"
        dob = p.date_of_birth
        for text in (dob.isoformat(), dob.strftime("%Y%m%d"), dob.strftime("%d/%m/%Y")):
            out[text] = "date of birth"
        out[p.hospital_number] = "hospital number"
    return out


def contents(folder: Path) -> dict[str, str]:
    """Every file of an export as text, each by a reader independent of the writer."""
    texts = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            texts[path.name] = "\n".join(str(v) for col in table.columns for v in col.to_pylist())
        elif path.suffix == ".xpt":
            frame = pd.read_sas(path, format="xport", encoding="utf-8")
            texts[path.name] = frame.to_csv(index=False)
        else:
            texts[path.name] = path.read_text(encoding="utf-8")
    return texts


def export(demo, tmp_path_factory, fmt: str, *level: str) -> Path:
    out = tmp_path_factory.mktemp(f"scan-{fmt}") / "out"
    result = runner.invoke(app, ["export", fmt, "--out", str(out), "--db", demo["url"], "--user", "exporter",
                                 *level], env={"SARCOTRIAL_PASSWORD": demo_password(SEED, "exporter")})
    assert result.exit_code == 0, result.output
    return out


def found(texts: dict[str, str], search: dict[str, str]) -> list[str]:
    pattern = re.compile("|".join(re.escape(k) for k in sorted(search, key=len, reverse=True)))
    hits = []
    for name, text in texts.items():
        for m in pattern.finditer(text):
            hits.append(f"{name}: {search[m.group(0)]} {m.group(0)!r}")
    return hits


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("level", ["pseudonymised", "deidentified"])
def test_no_identifier_below_the_identified_level(demo, tmp_path_factory, fmt, level):
    search = needles(demo["people"], demo["staff"])
    # the demo's names must not be ordinary words of the exports' own vocabulary, or the search means nothing
    assert len(search) > 3 * len(demo["people"])
    out = export(demo, tmp_path_factory, fmt, *([] if level == "pseudonymised" else ["--deidentified"]))
    texts = contents(out)
    assert len(texts) >= 2
    hits = found(texts, search)
    assert hits == [], hits[:10]


@pytest.mark.parametrize("fmt", ["tables", "redcap", "fhir"])
def test_the_search_finds_identifiers_in_an_identified_export(demo, tmp_path_factory, fmt):
    """The control: formats that carry identifiers at the identified level are found by the same search."""
    search = needles(demo["people"], demo["staff"])
    texts = contents(export(demo, tmp_path_factory, fmt, "--identified"))
    kinds = {h.split(": ", 1)[1].split(" '")[0] for h in found(texts, search)}
    assert {"name", "date of birth", "hospital number"} <= kinds
