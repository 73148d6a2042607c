"""The ``sdtm`` export of a schema-version-2 protocol (DOXAB: two arms, doxorubicin +/- an antibody, RECIST 1.1,
no radiotherapy), read back by independent readers.

Every .xpt is read with pandas' SAS transport reader (``pandas.read_sas(format="xport")``, independent of
pyreadstat, which writes them) and compared with the services' read side: the arm allocated
(``services.randomisation.arms_by_subject``), the doses entered on the cycle forms, and each patient's RECIST 1.1
course (``services.response_entry.recist_course``). define.xml is validated against the Define-XML 2.1 schema
shipped with odmlib (define2-1-0.xsd) with xmlschema.

Sources: CDISC SDTMIG v3.4 (DM ARMCD/ARM/ACTARMCD/ACTARM, RFXSTDTC/RFXENDTC the first and last study treatment
exposure; EX one record per constant-dosing interval, here one per drug per dose day; TU/TR/RS for tumour
response); CDISC SDTM CT TRTESTCD (LDIAM, SAXIS, SUMDIAM, TUMSTATE) and RSTESTCD (OVRLRESP, BESTRSP); RECIST 1.1
(Eisenhauer et al., Eur J Cancer 2009;45:228-247); the DOXAB protocol (doxorubicin 75 mg/m2 day 1, the antibody
15 mg/kg days 1 and 8; cycles of 21 days).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import odmlib
import pandas as pd
import pytest
import xmlschema

XSD = Path(odmlib.__file__).parent / "schemas" / "define" / "2.1" / "define2-1-0.xsd"
DOSE_FIELDS = {"doxorubicin_mg": ("DOXORUBICIN", 1), "olaratumab_day1_mg": ("OLARATUMAB", 1),
               "olaratumab_day8_mg": ("OLARATUMAB", 8)}  # the DOXAB protocol's administration mapping


@pytest.fixture(scope="module")
def doxab(tmp_path_factory):
    """A 6-patient synthetic DOXAB study, its SDTM export (pseudonymised) and the exporter's read side."""
    from argon2 import PasswordHasher

    from sarcotrial.demo import build_demo_study, demo_password
    from sarcotrial.exchange import sdtm
    from sarcotrial.services import access, views
    from sarcotrial.services.exchange import export_snapshot
    from sarcotrial.services.study import Actor, StudyDB
    from sarcotrial.store.crypto import generate_key
    from tests.exchange.conftest import add_exporter

    mp = pytest.MonkeyPatch()
    for variable in ("SARCOTRIAL_KEY_FILE", "DATABASE_URL", "SARCOTRIAL_PASSWORD"):
        mp.delenv(variable, raising=False)
    mp.setenv("SARCOTRIAL_KEY", generate_key())
    mp.setattr(access, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    folder = tmp_path_factory.mktemp("doxab-sdtm")
    url = f"sqlite:///{folder / 'study.sqlite'}"
    seed = 7
    study, _ = StudyDB.create(url, "doxab", Actor("tester", "test"), synthetic=True)
    try:
        build_demo_study(study, seed, patients=6)
        add_exporter(study, Actor("admin", "test", password=demo_password(seed, "admin")), "exporter-pw-1")
        actor = Actor("exporter", "test", password="exporter-pw-1")
        snapshot = export_snapshot(study, actor)
        out = folder / "sdtm"
        out.mkdir()
        sdtm.write(snapshot, out)
        from sarcotrial.services.randomisation import arms_by_subject

        records = views.patients(study, actor, enrolled_only=True)
        yield {"out": out, "records": records, "arms": arms_by_subject(study, actor), "protocol": study.protocol}
    finally:
        study.close()
        mp.undo()


def xpt(doxab, name: str) -> pd.DataFrame:
    frame = pd.read_sas(doxab["out"] / f"{name}.xpt", format="xport", encoding="utf-8")
    return frame


def test_no_radiotherapy_dataset_and_every_enrolled_subject_in_dm_with_its_arm(doxab):
    """SDTMIG 3.4 DM: one record per subject; ARMCD/ARM the planned (allocated) arm, ACTARMCD the arm received."""
    dm = xpt(doxab, "dm")
    assert sorted(dm["SUBJID"]) == sorted(r.subject_id for r in doxab["records"])
    names = {arm.id: arm.name for arm in doxab["protocol"].arms}
    for _, row in dm.iterrows():
        arm = doxab["arms"][row["SUBJID"]]
        assert (row["ARMCD"], row["ARM"]) == (arm.upper(), names[arm])
    assert not (doxab["out"] / "suppex.xpt").exists()  # no radiotherapy target volume


def test_ex_doses_equal_the_cycle_forms(doxab):
    """EX: one record per drug per dose day, EXDOSE the mg entered, EXSTDTC day 1 + (day - 1) (DOXAB: the
    antibody's day 8 is 7 days after day 1)."""
    ex = xpt(doxab, "ex")
    expected = []
    for r in doxab["records"]:
        for c in r.of("systemic_cycle"):
            for field, (drug, day) in DOSE_FIELDS.items():
                mg = c.values.get(field)
                if mg:
                    expected.append((f"DOXAB-{r.subject_id}", drug, float(mg),
                                     (c.values["cycle_date"] + dt.timedelta(days=day - 1)).isoformat()))
    got = [(row["USUBJID"], row["EXTRT"], float(row["EXDOSE"]), row["EXSTDTC"]) for _, row in ex.iterrows()]
    assert expected and sorted(got) == sorted(expected)
    assert set(ex["EXDOSU"]) == {"mg"}
    dm = xpt(doxab, "dm").set_index("USUBJID")
    for subject, dates in ex.groupby("USUBJID")["EXSTDTC"]:
        assert dm.loc[subject, "RFXSTDTC"] == min(dates) and dm.loc[subject, "RFXENDTC"] == max(dates)
        assert dm.loc[subject, "ACTARMCD"] == dm.loc[subject, "ARMCD"]


def test_rs_overall_responses_equal_recist_course(doxab):
    """RS OVRLRESP at every follow-up time point and BESTRSP (unconfirmed, confirmed) as RECIST 1.1 derives them
    from the entered lesions, measurements and assessments (services.response_entry.recist_course)."""
    from sarcotrial.services.response_entry import recist_course

    rs = xpt(doxab, "rs")
    assert set(rs["RSCAT"]) == {"RECIST 1.1"}
    checked = 0
    for r in doxab["records"]:
        points, unconfirmed, confirmed = recist_course(doxab["protocol"], r)
        mine = rs[rs["USUBJID"] == f"DOXAB-{r.subject_id}"]
        overall = mine[mine["RSTESTCD"] == "OVRLRESP"]
        assert list(zip(overall["RSDTC"], overall["RSORRES"])) == \
            [(tp.date.isoformat(), tp.overall) for tp in points if not tp.baseline and tp.overall]
        best = mine[mine["RSTESTCD"] == "BESTRSP"].set_index("RSSCAT")["RSORRES"].to_dict()
        assert best == ({"UNCONFIRMED": unconfirmed.response, "CONFIRMED": confirmed.response} if unconfirmed else {})
        checked += len(overall)
    assert checked > 0


def test_tu_one_record_per_declared_lesion_and_tr_sums(doxab):
    """TU: one record per declared lesion (TUORRES TARGET/NON-TARGET); TR SUMDIAM equals the RECIST 1.1 sum."""
    from sarcotrial.services.response_entry import recist_course

    tu, tr = xpt(doxab, "tu"), xpt(doxab, "tr")
    for r in doxab["records"]:
        subject = f"DOXAB-{r.subject_id}"
        lesions = {(c.values["lesion_id"], "TARGET" if c.values["kind"] == "target" else "NON-TARGET")
                   for c in r.of("lesion")}
        mine = tu[tu["USUBJID"] == subject]
        assert set(zip(mine["TULNKID"], mine["TUORRES"])) == lesions
        sums = tr[(tr["USUBJID"] == subject) & (tr["TRTESTCD"] == "SUMDIAM")]
        assert list(zip(sums["TRDTC"], sums["TRSTRESN"])) == \
            [(tp.date.isoformat(), pytest.approx(float(tp.sum_mm))) for tp in recist_course(doxab["protocol"], r)[0]
             if tp.sum_mm is not None]


def test_define_xml_is_valid_define_21(doxab):
    """Define-XML 2.1, validated against define2-1-0.xsd (shipped with odmlib) by xmlschema."""
    xmlschema.XMLSchema(str(XSD)).validate(str(doxab["out"] / "define.xml"))
