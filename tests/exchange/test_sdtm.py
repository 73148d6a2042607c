"""The ``sdtm`` export (``sarcotrial export sdtm --out DIR``), read back by independent readers.

Every .xpt file is read with pandas' own SAS transport reader (``pandas.read_sas(format="xport")``,
independent of pyreadstat, which writes them) and compared with the CSV beside it and with the read
side (``sarcotrial.services.views``); define.xml is validated against the Define-XML 2.1 schema shipped
with odmlib (define2-1-0.xsd) with xmlschema.

Sources: CDISC SDTMIG v3.4 (variable names at most 8 characters and labels at most 40, section 4.1.2.1
and the SAS V5 transport format; character values at most 200; --DTC in ISO 8601, section 4.4; study
day, section 4.4.4: "--DY = (date portion of --DTC) - (date portion of RFSTDTC) + 1 if --DTC is on or
after RFSTDTC, (date portion of --DTC) - (date portion of RFSTDTC) if --DTC precedes RFSTDTC", so no
day 0); CDISC Controlled Terminology (SEX: F C16576, M C20197; NY: N C49487, Y C49488); Define-XML 2.1
(ItemGroupDef per dataset, ItemDef per variable, CodeList aliases Context="nci:ExtCodeID"); NCI CTCAE
v5.0 (each term's MedDRA code); EORTC-STBSG response score (Wardelmann et al., Eur J Cancer
2016;53:84-95); HIPAA Safe Harbor, 45 CFR 164.514(b)(2) (no names, dates of birth or record numbers in a
de-identified set); the SPRINT protocol (25 fractions, a simultaneous integrated boost: 2.0 Gy per
fraction to CTV1, 2.4 Gy to CTV2); SDTMIG 3.4 SV domain, TS SSTDTC/DCUTDTC (section 7.6), DM
BRTHDTC, supplemental qualifiers (section 8.4); FDA Study Data Technical Conformance Guide (study start
date: the earliest informed consent among the enrolled subjects).
"""

from __future__ import annotations

import csv
import datetime as dt
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import odmlib
import pandas as pd
import pytest
import xmlschema
from typer.testing import CliRunner

from sarcotrial.cli.main import app
from sarcotrial.demo import demo_password
from sarcotrial.exchange.sdtm_model import study_day
from sarcotrial.services import access, pathway, views
from sarcotrial.services.study import Actor, StudyDB
from tests.exchange.conftest import demo_study

SEED = 5
XSD = Path(odmlib.__file__).parent / "schemas" / "define" / "2.1" / "define2-1-0.xsd"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}
runner = CliRunner()


def login(user: str) -> Actor:
    return Actor(user, "test", password=demo_password(SEED, user))


class Demo:
    def __init__(self, study: StudyDB, url: str, folder: Path):
        self.study, self.url, self.folder = study, url, folder

    def export(self, name: str, *args: str, user: str = "statistician") -> Path:
        out = self.folder / name
        result = runner.invoke(app, ["export", "sdtm", "--out", str(out), "--db", self.url, "--user", user, *args],
                               env={"SARCOTRIAL_PASSWORD": demo_password(SEED, user)})
        assert result.exit_code == 0, result.output
        return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The synthetic demo study, built once."""
    with demo_study(tmp_path_factory, SEED, "sdtm") as url:
        study = StudyDB.open(url)
        yield Demo(study, url, Path(url.removeprefix("sqlite:///")).parent)
        study.close()


@pytest.fixture(scope="module")
def pseudonymised(demo) -> Path:
    return demo.export("pseudonymised")


@pytest.fixture(scope="module")
def deidentified(demo) -> Path:
    return demo.export("deidentified", "--deidentified")


@pytest.fixture(scope="module")
def records(demo) -> dict[str, views.PatientRecord]:
    """The read side: every enrolled patient, as the statistician sees them."""
    return {r.subject_id: r for r in views.patients(demo.study, login("statistician"), enrolled_only=True)}


def xpt(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_sas(folder / f"{name}.xpt", format="xport", encoding="utf-8")


def xpt_fields(folder: Path, name: str) -> list[dict]:
    """The variables' NAMESTR records (name, label, type, length) as pandas' reader parses them."""
    reader = pd.read_sas(folder / f"{name}.xpt", format="xport", iterator=True, encoding="utf-8")
    try:
        return [{k: v.decode("ascii") if isinstance(v, bytes) else v for k, v in f.items()} for f in reader.fields]
    finally:
        reader.close()


def read_csv(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def by_subject(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {u.split("-", 1)[1]: g for u, g in df.groupby("USUBJID")}


def text(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def day(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


# --------------------------------------------------------------------------- the files
def test_the_export_writes_the_datasets_and_counts_them(pseudonymised):
    import json

    manifest = json.loads((pseudonymised / "manifest.json").read_text(encoding="utf-8"))
    datasets = sorted(p.stem.upper() for p in pseudonymised.glob("*.xpt"))
    assert {"TS", "DM", "DS", "EX", "AE", "PR", "TU", "TR", "RS", "SV"} <= set(datasets)
    assert manifest["counts"]["datasets"] == len(datasets)
    assert manifest["counts"]["records"] == sum(len(xpt(pseudonymised, d.lower())) for d in datasets)
    for d in datasets:
        assert (pseudonymised / f"{d.lower()}.csv").is_file()


def test_every_xpt_reads_back_with_v5_names_and_labels_and_equals_its_csv(pseudonymised):
    """SDTMIG 3.4 4.1.2.1 (SAS V5 transport): names <= 8 characters, labels <= 40, character values <= 200."""
    for path in sorted(pseudonymised.glob("*.xpt")):
        name = path.stem
        df = xpt(pseudonymised, name)
        rows = read_csv(pseudonymised, name)
        assert list(df.columns) == list(rows[0].keys())
        assert len(df) == len(rows) > 0
        for field in xpt_fields(pseudonymised, name):
            assert len(field["name"]) <= 8 and field["name"] == field["name"].upper()
            assert 0 < len(field["label"].strip()) <= 40, (name, field)
            assert field["field_length"] <= 200
        for column in df.columns:
            if df[column].dtype == object:
                assert [text(v) for v in df[column]] == [r[column] for r in rows], (name, column)
                assert max(len(text(v)) for v in df[column]) <= 200
            else:
                from_csv = [float(r[column]) if r[column] != "" else None for r in rows]
                assert [None if pd.isna(v) else float(v) for v in df[column]] == from_csv, (name, column)
        if "DOMAIN" in df.columns:
            assert set(df["DOMAIN"]) == {name.upper()}


# --------------------------------------------------------------------------- DM, EX, AE
def test_dm_holds_one_record_per_enrolled_patient_with_sex_and_age(demo, pseudonymised, records):
    dm = xpt(pseudonymised, "dm")
    assert sorted(dm["SUBJID"]) == sorted(records)
    assert dm["USUBJID"].is_unique and set(dm["STUDYID"]) == {"SPRINT"}
    monitor = login("monitor")  # a study-wide role that may read identifiers
    for _, row in dm.iterrows():
        r = records[row["SUBJID"]]
        assert row["SEX"] == {"female": "F", "male": "M"}[r.sex]
        assert row["SITEID"] == r.site
        assert row["RFSTDTC"] == r.enrolment_date.isoformat()
        assert row["RFICDTC"] == r.consent_date.isoformat()
        dob = pathway.identify(demo.study, monitor, r.subject_id, "SDTM export test").date_of_birth
        on = r.enrolment_date
        assert row["AGE"] == on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))
        assert row["AGEU"] == "YEARS" and row["ARMCD"] == "SIBIMRT" and row["ARM"] == "SIB-IMRT"
        assert (row["DTHFL"] == "Y") == (r.death() is not None)
        if r.death() is not None:
            assert row["DTHDTC"] == r.death().values["event_date"].isoformat()


#: SPRINT protocol, treatment: 25 fractions, CTV1 50 Gy at 2.0 Gy per fraction with a simultaneous integrated
#: boost to CTV2, 60 Gy at 2.4 Gy per fraction (both volumes treated on every fraction)
SPRINT_DOSE_LEVELS = {"CTV1": (2.0, 50.0), "CTV2": (2.4, 60.0)}


def test_the_protocol_prescribes_the_dose_levels_the_ex_test_expects(demo):
    rt = demo.study.protocol.treatment.radiotherapy
    assert {lv.target: (lv.dose_per_fraction_gy, lv.total_dose_gy) for lv in rt.dose_levels} == SPRINT_DOSE_LEVELS
    assert rt.fractions == 25


def test_ex_holds_one_record_per_delivered_fraction_per_dose_level(pseudonymised, records):
    """SDTMIG 3.4 EX (section 6.1, one record per constant-dosing interval): each delivered fraction of the
    simultaneous integrated boost gives CTV1 2.0 Gy and CTV2 2.4 Gy, so two records; the target volume is the
    SUPPEX qualifier EXTRGVOL (section 8.4, IDVAR EXSEQ). A full course sums to the prescription: 50 and 60 Gy."""
    ex, supp = xpt(pseudonymised, "ex"), xpt(pseudonymised, "suppex")
    assert set(supp["QNAM"]) == {"EXTRGVOL"} and set(supp["IDVAR"]) == {"EXSEQ"} and set(supp["RDOMAIN"]) == {"EX"}
    target = {(u, int(v)): q for u, v, q in zip(supp["USUBJID"], supp["IDVARVAL"], supp["QVAL"])}
    assert len(target) == len(supp) == len(ex)
    ex["TARGET"] = [target[(u, int(n))] for u, n in zip(ex["USUBJID"], ex["EXSEQ"])]
    by = by_subject(ex)
    assert set(by) == {s for s, r in records.items() if r.delivered_dates()}
    full = 0
    for subject, rows in by.items():
        delivered = records[subject].delivered_dates()
        assert len(rows) == 2 * len(delivered)
        assert sorted(rows["EXSTDTC"]) == sorted(d.isoformat() for d in delivered for _ in SPRINT_DOSE_LEVELS)
        assert list(rows["EXSEQ"]) == list(range(1, len(rows) + 1))
        for fraction, group in rows.groupby("EXGRPID"):
            assert sorted(zip(group["TARGET"], group["EXDOSE"])) == [("CTV1", 2.0), ("CTV2", 2.4)], (subject, fraction)
            assert set(group["EXSTDTC"]) == set(group["EXENDTC"]) and len(set(group["EXSTDTC"])) == 1
        if len(delivered) == 25:
            full += 1
            totals = rows.groupby("TARGET")["EXDOSE"].sum()
            prescribed = {t: total for t, (_, total) in SPRINT_DOSE_LEVELS.items()}
            assert {t: round(v, 6) for t, v in totals.items()} == prescribed
    assert full > 0
    assert set(ex["EXDOSU"]) == {"Gy"} and set(ex["EXTRT"]) == {"IMRT SIB"}
    assert sum(len(r.delivered_dates()) for r in records.values()) * 2 == len(ex)


def test_define_xml_describes_ex_by_dose_level_and_suppex(pseudonymised):
    root = ET.parse(pseudonymised / "define.xml").getroot()
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    groups = {g.get("Name"): g for g in mdv.findall("odm:ItemGroupDef", NS)}
    assert "per dose level" in groups["EX"].get(f"{{{NS['def']}}}Structure")
    assert "SUPPEX" in groups
    comments = {c.get("OID"): c.find("odm:Description/odm:TranslatedText", NS).text
                for c in mdv.findall("def:CommentDef", NS)}
    assert "CTV1 2 Gy" in comments["COM.EX.EXDOSE"] and "CTV2 2.4 Gy" in comments["COM.EX.EXDOSE"]
    assert "EXTRGVOL" in comments["COM.SUPPEX.QVAL"]


def _ctcae_codes() -> dict[str, int]:
    """NCI CTCAE v5.0's MedDRA code of each term, read from the shipped catalogue with the csv module."""
    data = resources.files("sarcotrial.domain").joinpath("data/ctcae_v5_catalogue.csv").read_text(encoding="utf-8")
    return {row["term"]: int(row["meddra_code"]) for row in csv.DictReader(data.splitlines())}


def test_ae_holds_each_adverse_event_with_its_ctcae_grade_and_meddra_code(pseudonymised, records):
    ae = by_subject(xpt(pseudonymised, "ae"))
    codes = _ctcae_codes()
    expected = {s: r.of("adverse_event") for s, r in records.items() if r.of("adverse_event")}
    assert set(ae) == set(expected)
    for subject, rows in ae.items():
        recorded = sorted((c.values["onset_date"].isoformat(), c.values["term"], str(c.values["grade"]),
                           "Y" if c.values.get("serious") else "N") for c in expected[subject])
        exported = sorted(zip(rows["AESTDTC"], rows["AETERM"], rows["AETOXGR"], rows["AESER"]))
        assert exported == recorded
        for _, row in rows.iterrows():
            assert row["AELLTCD"] == codes[row["AETERM"]] and row["AELLT"] == row["AETERM"]
            assert text(row["AEDECOD"]) == ""  # the sponsor codes it with the licensed MedDRA


def test_ae_serious_events_carry_their_suppae_and_seriousness_flag(pseudonymised):
    ae, supp = xpt(pseudonymised, "ae"), xpt(pseudonymised, "suppae")
    serious = ae[ae["AESER"] == "Y"]
    assert len(serious) > 0
    flags = ["AESDTH", "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE"]
    for _, row in serious.iterrows():
        assert sum(row[f] == "Y" for f in flags) <= 1
    keys = set(zip(ae["USUBJID"], ae["AESEQ"].astype(int).astype(str)))
    assert set(zip(supp["USUBJID"], supp["IDVARVAL"])) <= keys
    assert set(supp["RDOMAIN"]) == {"AE"} and set(supp["IDVAR"]) == {"AESEQ"}
    assert set(supp.loc[supp["QNAM"] == "AEPHASE", "QVAL"]) <= {"ACUTE", "LATE"}


# --------------------------------------------------------------------------- study days
def test_study_day_has_no_day_zero_on_hand_checked_dates():
    """SDTMIG 3.4 4.4.4: RFSTDTC is day 1, the day before it day -1 (a leap year on the way)."""
    ref = dt.date(2024, 2, 28)
    assert study_day(dt.date(2024, 2, 28), ref) == 1
    assert study_day(dt.date(2024, 3, 1), ref) == 3  # 28 Feb, 29 Feb, 1 Mar
    assert study_day(dt.date(2024, 2, 27), ref) == -1
    assert study_day(dt.date(2023, 2, 28), ref) == -365
    assert study_day(None, ref) is None


def test_every_study_day_follows_the_rule_from_rfstdtc(pseudonymised):
    """Each --DY of every dataset, recomputed from its --DTC and DM.RFSTDTC by the rule of 4.4.4."""
    reference = {row["USUBJID"]: day(row["RFSTDTC"]) for row in read_csv(pseudonymised, "dm")}
    pairs = {"DSSTDY": "DSSTDTC", "EXSTDY": "EXSTDTC", "EXENDY": "EXENDTC", "PRSTDY": "PRSTDTC",
             "AESTDY": "AESTDTC", "AEENDY": "AEENDTC", "TUDY": "TUDTC", "TRDY": "TRDTC", "RSDY": "RSDTC",
             "SVSTDY": "SVSTDTC", "SVENDY": "SVENDTC"}
    checked = before = 0
    for path in pseudonymised.glob("*.csv"):
        for row in read_csv(pseudonymised, path.stem):
            for dy_name, dtc_name in pairs.items():
                if dy_name in row and row[dtc_name]:
                    delta = (day(row[dtc_name]) - reference[row["USUBJID"]]).days
                    assert int(row[dy_name]) == (delta + 1 if delta >= 0 else delta), (path.stem, row)
                    assert int(row[dy_name]) != 0
                    checked += 1
                    before += delta < 0
    assert checked > 1000 and before > 0  # consents and diagnoses come before enrolment


def test_a_hand_checked_consent_day(pseudonymised):
    """The consent a few days before enrolment has a negative DSSTDY: e.g. consent 11 Feb, enrolment 16 Feb
    gives -5 (16 - 11 = 5 days before, no day 0)."""
    dm = {row["USUBJID"]: row for row in read_csv(pseudonymised, "dm")}
    for row in read_csv(pseudonymised, "ds"):
        if row["DSDECOD"] == "INFORMED CONSENT OBTAINED" and row["DSSTDTC"] == dm[row["USUBJID"]]["RFICDTC"]:
            consent, enrolment = day(row["DSSTDTC"]), day(dm[row["USUBJID"]]["RFSTDTC"])
            assert consent < enrolment
            assert int(row["DSSTDY"]) == -(enrolment - consent).days
        if row["DSDECOD"] == "ENROLLED":
            assert row["DSSTDTC"] == dm[row["USUBJID"]]["RFSTDTC"] and row["DSSTDY"] == "1"


# --------------------------------------------------------------------------- TS, RS
def test_ts_gives_the_protocols_parameters(demo, pseudonymised):
    ts = {row["TSPARMCD"]: row for row in read_csv(pseudonymised, "ts")}
    ident = demo.study.protocol.identification
    assert (ts["TITLE"]["TSVAL"] + " " + ts["TITLE"]["TSVAL1"]) == " ".join(ident.title.split())
    assert len(ts["TITLE"]["TSVAL"]) <= 200
    assert ts["PLANSUB"]["TSVAL"] == "33" and ts["NARMS"]["TSVAL"] == "1"
    assert ts["RANDOM"]["TSVAL"] == "N" and ts["RANDOM"]["TSVALCD"] == "C49487"
    assert ts["ACRONYM"]["TSVAL"] == "SPRINT" and ts["AGEMIN"]["TSVAL"] == "P19Y"  # "Age > 18 years"
    assert all(len(k) <= 8 for k in ts)


def _eortc_tier(viable: float) -> str:
    """Wardelmann et al. 2016: A 0 %, B < 1 %, C 1 to < 10 %, D 10 to < 50 %, E >= 50 % stainable cells."""
    return "A" if viable == 0 else "B" if viable < 1 else "C" if viable < 10 else "D" if viable < 50 else "E"


def test_rs_gives_the_pathological_response_of_each_resected_patient(pseudonymised, records):
    rs = xpt(pseudonymised, "rs")
    scores = {(u.split("-", 1)[1]): v for u, v in zip(rs.loc[rs["RSTESTCD"] == "PATHRESP", "USUBJID"],
                                                       rs.loc[rs["RSTESTCD"] == "PATHRESP", "RSORRES"])}
    pcr = {(u.split("-", 1)[1]): v for u, v in zip(rs.loc[rs["RSTESTCD"] == "PCR", "USUBJID"],
                                                    rs.loc[rs["RSTESTCD"] == "PCR", "RSORRES"])}
    resected = {s: r.first("pathology") for s, r in records.items() if r.first("pathology")}
    assert set(scores) == set(resected) == set(pcr)
    for subject, report in resected.items():
        viable = report.values["viable_percent"]
        assert scores[subject] == _eortc_tier(viable)
        assert pcr[subject] == ("Y" if viable <= 5 else "N")  # SPRINT: pCR at most 5 % viable cells
    tr = xpt(pseudonymised, "tr")
    sizes = {u.split("-", 1)[1]: v for u, v in zip(tr["USUBJID"], tr["TRSTRESN"])}
    assert sizes == {s: r.first("diagnosis").values["size_cm"] for s, r in records.items() if r.first("diagnosis")}


def _uicc_r(macroscopic_residual: bool, margin_positive: bool) -> str:
    """UICC residual tumour: R2 macroscopic residual, R1 tumour at the inked margin, else R0."""
    return "R2" if macroscopic_residual else "R1" if margin_positive else "R0"


def test_pr_gives_each_surgery_and_supppr_its_residual_tumour_class(demo, pseudonymised, records):
    pr, supp = xpt(pseudonymised, "pr"), xpt(pseudonymised, "supppr")
    operated = {s: r for s, r in records.items() if r.first("surgery")}
    assert sorted(u.split("-", 1)[1] for u in pr["USUBJID"]) == sorted(operated)
    labels = {c.code: c.label.upper() for c in demo.study.protocol.codelists["surgical_procedure"]}
    for _, row in pr.iterrows():
        surgery = operated[row["USUBJID"].split("-", 1)[1]].first("surgery").values
        assert row["PRTRT"] == labels[surgery["procedure"]] and row["PRSTDTC"] == surgery["surgery_date"].isoformat()
    assert set(supp["QNAM"]) == {"RESIDTUM"} and set(supp["IDVAR"]) == {"PRSEQ"}
    for _, row in supp.iterrows():
        r = operated[row["USUBJID"].split("-", 1)[1]]
        expected = _uicc_r(r.first("surgery").values["macroscopic_residual"],
                           r.first("pathology").values["microscopic_margin_positive"])
        assert row["QVAL"] == expected
    assert len(supp) == sum(1 for r in operated.values() if r.first("pathology"))


def test_cm_answers_the_concurrent_chemotherapy_question(pseudonymised, records):
    """SDTMIG 3.4 4.5.7: a pre-specified medication has CMPRESP Y and CMOCCUR Y or N."""
    cm = xpt(pseudonymised, "cm")
    answers = {s: r.first("rt_course").values.get("concurrent_chemotherapy") for s, r in records.items()
               if r.first("rt_course")}
    exported = {u.split("-", 1)[1]: v for u, v in zip(cm["USUBJID"], cm["CMOCCUR"])}
    assert exported == {s: "Y" if v else "N" for s, v in answers.items() if v is not None}
    assert set(cm["CMPRESP"]) == {"Y"}


# --------------------------------------------------------------------------- define.xml
def test_define_xml_is_valid_define_21_and_lists_every_dataset_and_variable(pseudonymised):
    schema = xmlschema.XMLSchema(str(XSD))
    errors = list(schema.iter_errors(str(pseudonymised / "define.xml")))
    assert not errors, "\n".join(f"{e.path}: {e.reason}" for e in errors[:5])
    root = ET.parse(pseudonymised / "define.xml").getroot()
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    assert mdv.get(f"{{{NS['def']}}}DefineVersion") == "2.1.0"
    groups = {g.get("Name"): g for g in mdv.findall("odm:ItemGroupDef", NS)}
    items = {i.get("OID"): i for i in mdv.findall("odm:ItemDef", NS)}
    files = sorted(p.stem.upper() for p in pseudonymised.glob("*.xpt"))
    assert sorted(groups) == files
    for name in files:
        group = groups[name]
        leaf = group.find("def:leaf", NS)
        assert leaf.get(f"{{{NS['xlink']}}}href") == f"{name.lower()}.xpt"
        refs = [items[r.get("ItemOID")] for r in group.findall("odm:ItemRef", NS)]
        fields = xpt_fields(pseudonymised, name.lower())
        assert [i.get("Name") for i in refs] == [f["name"] for f in fields]
        for item, field in zip(refs, fields):
            label = item.find("odm:Description/odm:TranslatedText", NS).text
            assert label == field["label"].strip()
            assert item.find("def:Origin", NS).get("Type") in {"Collected", "Derived", "Assigned", "Protocol"}
            if item.get("DataType") == "text":  # the longest value, as the transport file's width
                assert int(item.get("Length")) == field["field_length"]
    comments = {c.get("OID"): c.find("odm:Description/odm:TranslatedText", NS).text
                for c in mdv.findall("def:CommentDef", NS)}
    assert "MedDRA" in comments[items["IT.AE.AEDECOD"].get(f"{{{NS['def']}}}CommentOID")]


def test_define_xml_loads_in_odmlibs_define_21_model(pseudonymised):
    """A second reader: odmlib's Define-XML 2.1 model parses the file into its datasets and variables."""
    from odmlib import define_loader, loader

    reader = loader.ODMLoader(define_loader.XMLDefineLoader(model_package="define_2_1",
                                                           ns_uri="http://www.cdisc.org/ns/def/v2.1"))
    reader.open_odm_document(str(pseudonymised / "define.xml"))
    mdv = reader.MetaDataVersion()
    assert sorted(g.Name for g in mdv.ItemGroupDef) == sorted(p.stem.upper() for p in pseudonymised.glob("*.xpt"))
    names = {i.OID: i.Name for i in mdv.ItemDef}
    for group in mdv.ItemGroupDef:
        assert [names[r.ItemOID] for r in group.ItemRef] == list(xpt(pseudonymised, group.Name.lower()).columns)


def test_define_xml_codelists_carry_nci_codes(pseudonymised):
    """CDISC CT: SEX (C66731) F C16576, M C20197; NY (C66742) N C49487, Y C49488."""
    root = ET.parse(pseudonymised / "define.xml").getroot()
    lists = {c.get("OID"): c for c in root.iter(f"{{{NS['odm']}}}CodeList")}

    def codes(oid: str) -> dict[str, str]:
        return {i.get("CodedValue"): i.find("odm:Alias", NS).get("Name")
                for i in lists[oid].findall("odm:CodeListItem", NS) if i.find("odm:Alias", NS) is not None}

    assert lists["CL.SEX"].find("odm:Alias", NS).attrib == {"Context": "nci:ExtCodeID", "Name": "C66731"}
    assert codes("CL.SEX")["F"] == "C16576" and codes("CL.SEX")["M"] == "C20197"
    assert codes("CL.NY") == {"N": "C49487", "Y": "C49488"}
    sexes = set(xpt(pseudonymised, "dm")["SEX"])
    assert sexes <= {i.get("CodedValue") for i in lists["CL.SEX"].findall("odm:CodeListItem", NS)}


# --------------------------------------------------------------------------- de-identified
def test_deidentified_export_holds_no_identifier_and_keeps_the_study_days(demo, pseudonymised, deidentified, records):
    monitor = login("monitor")
    found = []
    blobs = {p.name: p.read_bytes().decode("latin-1") for p in deidentified.iterdir() if p.is_file()}
    for subject in records:
        ident = pathway.identify(demo.study, monitor, subject, "SDTM export test")
        for needle in (ident.full_name, ident.hospital_number, ident.date_of_birth.isoformat()):
            found += [(name, needle) for name, blob in blobs.items() if needle in blob]
    assert not found
    plain, shifted = read_csv(pseudonymised, "ae"), read_csv(deidentified, "ae")
    assert [r["AESTDY"] for r in plain] == [r["AESTDY"] for r in shifted]  # one offset per patient
    assert any(a["AESTDTC"] != b["AESTDTC"] for a, b in zip(plain, shifted))
    dm_plain = {r["USUBJID"]: r for r in read_csv(pseudonymised, "dm")}
    moved = [r for r in read_csv(deidentified, "dm") if r["RFSTDTC"] != dm_plain[r["USUBJID"]]["RFSTDTC"]]
    assert len(moved) == len(dm_plain)


# --------------------------------------------------------------------------- SV and the visits of other domains
def _dates(values: dict) -> list[dt.date]:
    return [v.date() if isinstance(v, dt.datetime) else v for v in values.values() if isinstance(v, dt.date)]


def test_sv_holds_every_visit_with_data_dated_by_its_earliest_date(demo, pseudonymised, records):
    """SDTMIG 3.4, SV domain: one record per visit that took place. From the read side: every protocol
    visit occurrence with an entered CRF, SVSTDTC its CRFs' earliest date; named as the protocol names it."""
    visits = {v.id: v for v in demo.study.protocol.visits}
    expected: dict[tuple[str, str], list[dt.date]] = {}
    for subject, r in records.items():
        for form_id in r.forms:
            for c in r.of(form_id):
                if c.visit_id in visits:
                    name = visits[c.visit_id].name + (f" {c.occurrence}" if visits[c.visit_id].repeat else "")
                    expected.setdefault((subject, name.upper()), []).extend(_dates(c.values))
    sv = read_csv(pseudonymised, "sv")
    got = {(row["USUBJID"].split("-", 1)[1], row["VISIT"]): row for row in sv}
    assert len(got) == len(sv) and set(got) == set(expected)
    for key, row in got.items():
        assert row["SVSTDTC"] == (min(expected[key]).isoformat() if expected[key] else ""), key
        assert row["SVENDTC"] == row["SVSTDTC"]
    names = {v for _, v in got}
    assert {"BASELINE", "SCREENING", "SURGERY"} <= names
    assert any(n.startswith("WEEKLY REVIEW DURING RADIOTHERAPY") for n in names)
    assert any(n.startswith("POST-OPERATIVE WOUND CHECK") for n in names)
    for subject, r in records.items():  # hand-checkable: the baseline visit is the diagnosis form's one date
        if r.first("diagnosis") is not None:
            assert got[(subject, "BASELINE")]["SVSTDTC"] == r.first("diagnosis").values["diagnosis_date"].isoformat()


def test_visitnum_follows_the_protocol_schedule_and_is_the_same_in_every_domain(demo, pseudonymised):
    """VISITNUM orders the visits as the protocol's schedule does (occurrences in turn), and a visit has one
    VISITNUM and one VISIT across SV, TU, TR and RS (SDTMIG 3.4 section 4.4.5: VISITNUM identifies a visit)."""
    order = {v.name.upper(): i for i, v in enumerate(demo.study.protocol.visits)}
    sv = read_csv(pseudonymised, "sv")
    number = {}
    for row in sv:
        number.setdefault(row["VISIT"], set()).add(float(row["VISITNUM"]))
    assert all(len(n) == 1 for n in number.values())
    number = {k: n.pop() for k, n in number.items()}

    def place(visit: str) -> tuple[int, int]:
        base = max((n for n in order if visit == n or visit.startswith(n + " ")), key=len)
        return order[base], int(visit[len(base):] or 1)

    ranked = sorted(number, key=number.get)
    assert ranked == sorted(number, key=place)
    in_sv = {(row["USUBJID"], float(row["VISITNUM"]), row["VISIT"]) for row in sv}
    for name, visit in (("tu", "BASELINE"), ("tr", "BASELINE"), ("rs", "SURGERY")):
        rows = read_csv(pseudonymised, name)
        assert rows and {r["VISIT"] for r in rows} == {visit}
        assert {(r["USUBJID"], float(r["VISITNUM"]), r["VISIT"]) for r in rows} <= in_sv


# --------------------------------------------------------------------------- TS dates
def test_ts_gives_the_study_start_and_the_data_cutoff(pseudonymised, records):
    """SDTMIG 3.4 section 7.6 (TS) parameters SSTDTC and DCUTDTC, ISO 8601 dates. Study start date: the earliest
    informed consent among the subjects enrolled (FDA Study Data Technical Conformance Guide); data cut-off:
    the date of the snapshot, as the export's manifest records it."""
    import json

    ts = {row["TSPARMCD"]: row for row in read_csv(pseudonymised, "ts")}
    first = min(r.consent_date or r.enrolment_date for r in records.values())
    assert ts["SSTDTC"]["TSVAL"] == first.isoformat() and ts["SSTDTC"]["TSVALNF"] == ""
    manifest = json.loads((pseudonymised / "manifest.json").read_text(encoding="utf-8"))
    cutoff = dt.datetime.fromisoformat(manifest["data_cutoff"]).astimezone(dt.UTC).date()
    assert ts["DCUTDTC"]["TSVAL"] == cutoff.isoformat()
    assert dt.date.fromisoformat(ts["SSTDTC"]["TSVAL"]) <= cutoff


def test_deidentified_ts_masks_the_study_start(deidentified):
    """A de-identified SSTDTC would be one patient's (shifted or true) consent date: TSVAL null with the
    ISO 21090 null flavor MSK (masked), as SDTMIG 3.4 7.6.1 lets TSVALNF say why TSVAL is null."""
    ts = {row["TSPARMCD"]: row for row in read_csv(deidentified, "ts")}
    assert ts["SSTDTC"]["TSVAL"] == "" and ts["SSTDTC"]["TSVALNF"] == "MSK"
    import json

    manifest = json.loads((deidentified / "manifest.json").read_text(encoding="utf-8"))
    cutoff = dt.datetime.fromisoformat(manifest["data_cutoff"]).astimezone(dt.UTC).date()
    assert ts["DCUTDTC"]["TSVAL"] == cutoff.isoformat()  # the export's date, no patient's: not shifted


# --------------------------------------------------------------------------- DM at the identified level
@pytest.fixture(scope="module")
def identified(demo) -> Path:
    """An investigator's identified export (the role that reads identifiers; its site's patients)."""
    access.grant(demo.study, login("admin"), "inv.main", export="full", reason="SDTM identified export test")
    return demo.export("identified", "--identified", user="inv.main")


def test_identified_dm_gives_the_birth_date_and_nothing_else_identifying(demo, identified, pseudonymised, records):
    """SDTMIG 3.4 DM: BRTHDTC (ISO 8601) is the only identifier SDTM has a variable for; names and hospital
    numbers are written nowhere, at any level. Checked against pathway.identify, the identifiers' read side."""
    monitor = login("monitor")
    dm = {row["SUBJID"]: row for row in read_csv(identified, "dm")}
    assert set(dm) == {s for s, r in records.items() if r.site == "MAIN"} and dm
    blobs = {p.name: p.read_bytes().decode("latin-1") for p in identified.iterdir() if p.is_file()}
    for subject in dm:
        ident = pathway.identify(demo.study, monitor, subject, "SDTM export test")
        assert dm[subject]["BRTHDTC"] == ident.date_of_birth.isoformat()
        for needle in (ident.full_name, ident.hospital_number):
            assert not [name for name, blob in blobs.items() if needle in blob], needle
    assert list(xpt(identified, "dm").columns).index("BRTHDTC") == list(xpt(identified, "dm").columns).index("AGE") - 1
    assert "BRTHDTC" not in read_csv(pseudonymised, "dm")[0]
