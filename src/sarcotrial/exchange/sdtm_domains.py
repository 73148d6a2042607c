"""The SDTM datasets of a study, laid out from an export snapshot (SDTMIG v3.4).

Each builder takes the snapshot (values already at the export's level: dates shifted when
de-identified, identifying fields removed) and returns a :class:`~sarcotrial.exchange.sdtm_model.Dataset`.
Values that clinical rules decide (the EORTC-STBSG response score, pCR, the CTCAE term's MedDRA code,
the acute or late phase of a toxicity, the dose per fraction) are those the services derived when the
form was saved (``ExportCRF.derived``): nothing is judged again here.

Only enrolled patients are tabulated (DM holds one record per enrolled patient; screen failures are
not written). Study days (--DY) count from DM.RFSTDTC, the enrolment date.

Choices made where SDTMIG 3.4 leaves room:

- EX: one record per delivered fraction per dose level (SPRINT's simultaneous integrated boost gives
  CTV1 2.0 Gy and CTV2 2.4 Gy on each fraction). The target volume is a SUPPEX qualifier (EXTRGVOL), not
  EXLOC (an anatomical location, CDISC CT LOC) nor EXTPT (a planned time point); EXGRPID groups the
  records of one fraction.
- SV: one record per protocol visit occurrence with an entered CRF (SDTMIG 3.4, SV domain: the planned
  visits that took place). SVSTDTC is the earliest date on the visit's CRFs; a visit whose CRFs hold no
  date keeps its record with SVSTDTC null (Expected, not Required). Unscheduled CRFs make no SV record.
  VISITNUM (100 x the visit's place in the schedule + its occurrence) is the same in every domain that
  carries a visit (SV, TU, TR, RS).
- TS: SSTDTC is the earliest consent (else enrolment) date among the enrolled patients exported (those
  of the user's sites); DCUTDTC the export's date (UTC). A de-identified export masks SSTDTC (TSVALNF
  MSK): each patient's dates move by an offset of their own, so no shifted date is the study's start,
  and the true one is a patient's consent date.
- DM: BRTHDTC, the date of birth, at the identified level only; no other identifier (name, hospital
  number) is an SDTM variable, so none is written at any level.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from sarcotrial.exchange.sdtm_model import (
    Dataset,
    Var,
    as_date,
    dtc,
    study_day,
    usubjid,
    yn,
)
from sarcotrial.domain.systemic import normalise_drug
from sarcotrial.services.exchange import ExportCRF, ExportPatient, ExportSnapshot
from sarcotrial.services.systemic_entry import administration_of

ARMCD = "SIBIMRT"
ARM = "SIB-IMRT"
EXTRT = "IMRT SIB"
#: the sponsor's identifier of the tumour every TU/TR record follows (one primary tumour per patient)
TUMOUR_LINK = "T01"

#: end-of-study statuses (protocol codelist end_of_study_status) -> NCOMPLT
END_OF_STUDY = {"completed": "COMPLETED", "withdrawn": "WITHDRAWAL BY SUBJECT",
                "lost_to_follow_up": "LOST TO FOLLOW-UP", "died": "DEATH"}
#: seriousness criteria (protocol codelist seriousness, ICH E2A) -> the AE flag each sets
SERIOUSNESS = {"death": "AESDTH", "life_threatening": "AESLIFE", "hospitalisation": "AESHOSP",
               "disability": "AESDISAB", "congenital_anomaly": "AESCONG", "important_medical_event": "AESMIE"}


# --------------------------------------------------------------------------- shared helpers
def studyid(snapshot: ExportSnapshot) -> str:
    return snapshot.protocol.identification.acronym


def enrolled(snapshot: ExportSnapshot) -> list[ExportPatient]:
    return [p for p in snapshot.patients if p.enrolment_date is not None]


def entered(patient: ExportPatient, form_id: str) -> list[ExportCRF]:
    """The patient's entered instances of a form (not those marked not done), in entry order."""
    return patient.of(form_id)


def ids(var_prefix: str) -> list[Var]:
    """STUDYID, DOMAIN, USUBJID and --SEQ, the identifiers every subject-level domain begins with."""
    return [Var("STUDYID", "Study Identifier", origin="Protocol", source=None, key=1, mandatory=True),
            Var("DOMAIN", "Domain Abbreviation", origin="Assigned", source="Sponsor", mandatory=True),
            Var("USUBJID", "Unique Subject Identifier", origin="Assigned", source="Sponsor", key=2, mandatory=True),
            Var(f"{var_prefix}SEQ", "Sequence Number", "Num", origin="Derived", source="Sponsor", key=3, mandatory=True,
                comment="Record number within the subject, in the dataset's sort order")]


def dy(name: str, dtc_name: str, label: str) -> Var:
    """A study day variable, derived from its --DTC and DM.RFSTDTC."""
    return Var(name, label, "Num", origin="Derived", source="Sponsor",
               comment=f"{dtc_name} - DM.RFSTDTC + 1 on or after RFSTDTC, {dtc_name} - DM.RFSTDTC before it "
                       "(SDTMIG 3.4 section 4.4.4: no day 0)")


def numbered(dataset: Dataset, prefix: str, order: Callable[[dict[str, Any]], Any]) -> Dataset:
    """Sort the records by subject then ``order`` and number them 1.. per subject (--SEQ)."""
    dataset.rows.sort(key=lambda r: (r["USUBJID"], order(r)))
    seq: dict[str, int] = {}
    for row in dataset.rows:
        seq[row["USUBJID"]] = seq.get(row["USUBJID"], 0) + 1
        row[f"{prefix}SEQ"] = seq[row["USUBJID"]]
    return dataset


def _sort_date(value: Any) -> str:
    return value or "9999"


# --------------------------------------------------------------------------- TS
def ts(snapshot: ExportSnapshot) -> Dataset:
    """Trial Summary: the parameters the protocol determines (SDTMIG 3.4 section 7.6)."""
    ident = snapshot.protocol.identification
    design = ident.design
    params: list[tuple[str, str, str | None, str | None]] = [  # TSPARMCD, TSPARM, TSVAL, TSVALNF
        ("TITLE", "Trial Title", " ".join(ident.title.split()), None),
        ("ACRONYM", "Trial Acronym", ident.acronym, None),
        ("INDIC", "Trial Disease/Condition Indication", ident.condition, None),
        ("PLANSUB", "Planned Number of Subjects", str(design.target_accrual), None),
        ("NARMS", "Planned Number of Arms", str(design.arms), None),
        ("RANDOM", "Trial is Randomized", "Y" if design.allocation == "randomised" else "N", None),
        ("STYPE", "Study Type", "INTERVENTIONAL", None),
        ("SEXPOP", "Sex of Participants", "BOTH", None),
    ]
    if design.allocation == "single arm" and design.arms == 1:
        params.append(("INTMODEL", "Intervention Model", "SINGLE GROUP", None))
    if design.phase:
        params.append(("TPHASE", "Trial Phase Classification", f"PHASE {design.phase} TRIAL", None))
    if design.study_duration_years:
        params.append(("LENGTH", "Planned Length of Study", f"P{design.study_duration_years:g}Y", None))
    minimum = _minimum_age(snapshot)
    if minimum is not None:
        params.append(("AGEMIN", "Planned Minimum Age of Subjects", f"P{minimum}Y", None))
        params.append(("AGEMAX", "Planned Maximum Age of Subjects", None, "PINF"))
    params.append(("SSTDTC", "Study Start Date", *_study_start(snapshot)))
    params.append(("DCUTDTC", "Data Cutoff Date", snapshot.exported_at.date().isoformat(), None))
    params.append(("SDTIGVER", "SDTM IG Version", "3.4", None))
    variables = [Var("STUDYID", "Study Identifier", origin="Protocol", source=None, key=1, mandatory=True),
                 Var("DOMAIN", "Domain Abbreviation", origin="Assigned", source="Sponsor", mandatory=True),
                 Var("TSSEQ", "Sequence Number", "Num", origin="Assigned", source="Sponsor", key=3, mandatory=True),
                 Var("TSPARMCD", "Trial Summary Parameter Short Name", origin="Assigned", source="Sponsor",
                     codelist="TSPARMCD", key=2, mandatory=True),
                 Var("TSPARM", "Trial Summary Parameter", origin="Assigned", source="Sponsor", mandatory=True),
                 Var("TSVAL", "Parameter Value", origin="Protocol", source=None,
                     comment="Text over 200 characters continues in TSVAL1 (SDTMIG 3.4 section 7.6.1)"),
                 Var("TSVALNF", "Parameter Value Null Flavor", origin="Assigned", source="Sponsor"),
                 Var("TSVALCD", "Parameter Value Code", origin="Assigned", source="Sponsor"),
                 Var("TSVCDREF", "Name of the Reference Terminology", origin="Assigned", source="Sponsor")]
    rows = []
    overflow = False
    for parmcd, parm, value, null in params:
        first, rest = _split_200(value)
        overflow = overflow or bool(rest)
        code = {"Y": "C49488", "N": "C49487"}.get(value or "") if parmcd == "RANDOM" else None
        rows.append({"STUDYID": studyid(snapshot), "DOMAIN": "TS", "TSSEQ": 1, "TSPARMCD": parmcd, "TSPARM": parm,
                     "TSVAL": first, "TSVAL1": rest, "TSVALNF": null, "TSVALCD": code,
                     "TSVCDREF": "CDISC CT" if code else None})
    if overflow:
        variables.insert(6, Var("TSVAL1", "Parameter Value 1", origin="Protocol", source=None))
    else:
        for row in rows:
            row.pop("TSVAL1")
    return Dataset("TS", "Trial Summary", "TRIAL DESIGN", "One record per trial summary parameter value", variables,
                   rows)


def _study_start(snapshot: ExportSnapshot) -> tuple[str | None, str | None]:
    """SSTDTC's (TSVAL, TSVALNF): the earliest informed consent (else enrolment) date among the enrolled
    patients exported, the FDA's definition of the study start date (Study Data Technical Conformance Guide;
    SSTDTC in the TS parameters of SDTMIG 3.4 section 7.6). A de-identified export masks it (TSVALNF MSK):
    a de-identified patient's dates are shifted by an offset of its own, so the earliest shifted date is no
    study date at all, and the true one is a patient's consent date, which Safe Harbor removes."""
    if snapshot.level == "deidentified":
        return None, "MSK"
    days = [as_date(p.consent_date) or as_date(p.enrolment_date) for p in enrolled(snapshot)]
    first = min((d for d in days if d is not None), default=None)
    return (first.isoformat(), None) if first is not None else (None, "UNK")


def _split_200(value: str | None) -> tuple[str | None, str | None]:
    """A value over 200 characters cut at a space before 200, the rest for TSVAL1 (SDTMIG 3.4, 7.6.1)."""
    if value is None or len(value) <= 200:
        return value, None
    cut = value.rfind(" ", 0, 201)
    cut = cut if cut > 0 else 200
    return value[:cut], value[cut:].strip()[:200]


def _minimum_age(snapshot: ExportSnapshot) -> int | None:
    """The youngest age in whole years the protocol's age criterion admits (``gt 18``: 19; ``ge 18``: 18)."""
    for criterion in snapshot.protocol.eligibility.criteria:
        rule = criterion.rule
        if criterion.kind == "inclusion" and getattr(rule, "field", None) == "age_years":
            value = getattr(rule, "value", None)
            if isinstance(value, (int, float)) and rule.op in ("gt", "ge"):
                return int(value) + 1 if rule.op == "gt" else int(value)
    return None


# --------------------------------------------------------------------------- DM
def dm(snapshot: ExportSnapshot) -> Dataset:
    """Demographics: one record per enrolled patient.

    A protocol with arms (schema version 2): ARMCD/ARM the arm allocated (services.randomisation), ACTARMCD/ACTARM
    that arm once a cycle of systemic therapy was given (a cycle with a dose entered), ARMNRS NOT ASSIGNED for a
    patient without an allocation. Without radiotherapy, RFXSTDTC is the first cycle's day 1 and RFXENDTC the
    last day a dose was given (SDTMIG 3.4 DM: the last study treatment exposure, the latest EXENDTC)."""
    by_arm = bool(snapshot.protocol.arms)
    rt = snapshot.protocol.treatment.radiotherapy is not None
    unit = "radiotherapy fraction" if rt else "cycle of systemic therapy"
    first_treatment = ("The date of the first delivered radiotherapy fraction" if rt else
                       "Day 1 of the first cycle of systemic therapy given (the earliest EXSTDTC)")
    last_treatment = ("The date of the last delivered radiotherapy fraction" if rt else
                      "The last day a dose of systemic therapy was given (the latest EXENDTC)")
    arms = _arms(snapshot) if by_arm else {}
    names = {arm.id: arm.name for arm in snapshot.protocol.arms}
    variables = [
        Var("STUDYID", "Study Identifier", origin="Protocol", source=None, key=1, mandatory=True),
        Var("DOMAIN", "Domain Abbreviation", origin="Assigned", source="Sponsor", mandatory=True),
        Var("USUBJID", "Unique Subject Identifier", origin="Assigned", source="Sponsor", key=2, mandatory=True,
            comment="STUDYID and SUBJID joined by a hyphen"),
        Var("SUBJID", "Subject Identifier for the Study", origin="Assigned", source="Sponsor", mandatory=True),
        Var("RFSTDTC", "Subject Reference Start Date/Time", data_type="date",
            comment="The date of enrolment: the reference (day 1) of every --DY"),
        Var("RFENDTC", "Subject Reference End Date/Time", data_type="date", origin="Derived", source="Sponsor",
            comment="The latest date recorded for the subject in the exported forms"),
        Var("RFPENDTC", "Date/Time of End of Participation", data_type="date", origin="Derived", source="Sponsor",
            comment="The latest date recorded for the subject in the exported forms (last known contact)"),
        Var("RFXSTDTC", "Date/Time of First Study Treatment", data_type="date", origin="Derived", source="Sponsor",
            comment=first_treatment),
        Var("RFXENDTC", "Date/Time of Last Study Treatment", data_type="date", origin="Derived", source="Sponsor",
            comment=last_treatment),
        Var("RFICDTC", "Date/Time of Informed Consent", data_type="date"),
        Var("DTHDTC", "Date/Time of Death", data_type="date"),
        Var("DTHFL", "Subject Death Flag", codelist="NY", origin="Derived", source="Sponsor",
            comment="Y when a death is recorded (outcome event or end of study), else null"),
        Var("SITEID", "Study Site Identifier", origin="Assigned", source="Sponsor", mandatory=True),
        *([Var("BRTHDTC", "Date/Time of Birth", data_type="date",
               comment="Written at the identified level only")] if snapshot.level == "identified" else []),
        Var("AGE", "Age", "Num", origin="Derived", source="Sponsor",
            comment="Whole years at enrolment (from the date of birth; over 89 given as 90 when de-identified)"),
        Var("AGEU", "Age Units", codelist="AGEU", origin="Assigned", source="Sponsor"),
        Var("SEX", "Sex", codelist="SEX", mandatory=True),
        Var("ARMCD", "Planned Arm Code", origin="Assigned", source="Sponsor",
            comment="The arm allocated at randomisation (the protocol's arm id, upper case)" if by_arm else None),
        Var("ARM", "Description of Planned Arm", origin="Assigned", source="Sponsor"),
        Var("ACTARMCD", "Actual Arm Code", origin="Derived", source="Sponsor",
            comment=f"The planned arm when at least one {unit} was given, else null"),
        Var("ACTARM", "Description of Actual Arm", origin="Derived", source="Sponsor"),
        Var("ARMNRS", "Reason Arm and/or Actual Arm is Null", origin="Derived", source="Sponsor"),
    ]
    rows = []
    for p in enrolled(snapshot):
        treated = _delivered(p) if rt else [(d, None) for d in _dose_days(snapshot, p)]
        death = _death_date(p)
        armcd, arm = (ARMCD, ARM) if not by_arm else _arm_codes(arms.get(p.subject_id), names)
        rows.append({
            "STUDYID": studyid(snapshot), "DOMAIN": "DM", "USUBJID": usubjid(studyid(snapshot), p.subject_id),
            "SUBJID": p.subject_id, "RFSTDTC": dtc(p.enrolment_date), "RFENDTC": dtc(_last_date(p)),
            "RFPENDTC": dtc(_last_date(p)),
            "RFXSTDTC": dtc(treated[0][0]) if treated else None, "RFXENDTC": dtc(treated[-1][0]) if treated else None,
            "RFICDTC": dtc(p.consent_date), "DTHDTC": dtc(death), "DTHFL": "Y" if death is not None else None,
            "SITEID": p.site, "AGE": p.age_at_enrolment, "AGEU": "YEARS" if p.age_at_enrolment is not None else None,
            "SEX": {"female": "F", "male": "M"}.get(str(p.sex).lower(), "U"), "ARMCD": armcd, "ARM": arm,
            "ACTARMCD": armcd if treated else None, "ACTARM": arm if treated else None,
            "ARMNRS": None if treated else "ASSIGNED, NOT TREATED" if armcd else "NOT ASSIGNED",
            **_birth(snapshot, p)})
    rows.sort(key=lambda r: r["USUBJID"])
    return Dataset("DM", "Demographics", "SPECIAL PURPOSE", "One record per subject", variables, rows)


def _arms(snapshot: ExportSnapshot) -> dict[str, str]:
    """The arm id allocated to each patient, by subject id, read through the randomisation service."""
    if snapshot.study is None:
        return {}
    from sarcotrial.services.randomisation import arms_by_subject

    return arms_by_subject(snapshot.study, snapshot.actor)


def _arm_codes(arm: str | None, names: dict[str, str]) -> tuple[str | None, str | None]:
    """(ARMCD, ARM) of an allocated arm: the protocol's arm id upper case (at most 20 characters, SDTMIG 3.4 DM)
    and the arm's name; (None, None) when the patient has no allocation."""
    if arm is None:
        return None, None
    return arm.upper()[:20], names.get(arm, arm)


def _birth(snapshot: ExportSnapshot, p: ExportPatient) -> dict[str, Any]:
    """DM.BRTHDTC at the identified level (the only identifier SDTM carries: no name, no hospital number);
    nothing below it."""
    if snapshot.level != "identified":
        return {}
    return {"BRTHDTC": dtc((p.identifiers or {}).get("date_of_birth"))}


def _delivered(p: ExportPatient) -> list[tuple[Any, ExportCRF]]:
    out = [(c.values["fraction_date"], c) for c in entered(p, "rt_fraction")
           if c.values.get("status") == "delivered" and c.values.get("fraction_date") is not None]
    return sorted(out, key=lambda pair: (pair[0], pair[1].values.get("fraction_number") or 0))


def _death_date(p: ExportPatient):
    for c in entered(p, "outcome_event"):
        if c.values.get("event_type") == "death" and c.values.get("event_date") is not None:
            return c.values["event_date"]
    for c in entered(p, "end_of_study"):
        if c.values.get("status") == "died" and c.values.get("end_date") is not None:
            return c.values["end_date"]
    return None


def _last_date(p: ExportPatient):
    days = [v for crfs in p.forms.values() for c in crfs if c.status != "not_done" for v in c.values.values()
            if dtc(v) is not None]
    days += [d for d in (p.enrolment_date, p.consent_date) if dtc(d) is not None]
    return max((as_date(d) for d in days), default=None)


# --------------------------------------------------------------------------- DS
def ds(snapshot: ExportSnapshot) -> Dataset:
    """Disposition: informed consent and enrolment (protocol milestones), withdrawals, end of study, death."""
    variables = ids("DS") + [
        Var("DSTERM", "Reported Term for the Disposition Event", mandatory=True),
        Var("DSDECOD", "Standardized Disposition Term", origin="Assigned", source="Sponsor", mandatory=True,
            comment="NCOMPLT for disposition events, PROTMLST for protocol milestones"),
        Var("DSCAT", "Category for Disposition Event", codelist="DSCAT", origin="Assigned", source="Sponsor"),
        Var("DSSTDTC", "Start Date/Time of Disposition Event", data_type="date"),
        dy("DSSTDY", "DSSTDTC", "Study Day of Start of Disposition Event"),
    ]
    rows: list[dict[str, Any]] = []
    for p in enrolled(snapshot):
        rows += [{"STUDYID": studyid(snapshot), "DOMAIN": "DS", "USUBJID": usubjid(studyid(snapshot), p.subject_id),
                  "DSTERM": term, "DSDECOD": decod, "DSCAT": cat, "DSSTDTC": dtc(day),
                  "DSSTDY": study_day(day, p.enrolment_date)} for term, decod, cat, day in _dispositions(snapshot, p)]
    return numbered(Dataset("DS", "Disposition", "EVENTS", "One record per disposition status or protocol milestone "
                            "per subject", variables, rows), "DS", lambda r: (_sort_date(r["DSSTDTC"]),))


def _dispositions(snapshot: ExportSnapshot, p: ExportPatient) -> list[tuple[str, str, str, Any]]:
    """The patient's (DSTERM, DSDECOD, DSCAT, date) records, in the order they are found."""
    milestone, event = "PROTOCOL MILESTONE", "DISPOSITION EVENT"
    out: list[tuple[str, str, str, Any]] = []
    consents = [c.values.get("consent_date") for c in entered(p, "consent") if c.values.get("consent_date")]
    for day in consents or ([p.consent_date] if p.consent_date is not None else []):
        out.append(("INFORMED CONSENT OBTAINED", "INFORMED CONSENT OBTAINED", milestone, day))
    out.append(("ENROLLED", "ENROLLED", milestone, p.enrolment_date))
    kinds = {c.code: c.label for c in snapshot.protocol.codelists.get("withdrawal_kind", [])}
    for c in entered(p, "withdrawal"):
        kind = c.values.get("kind")
        term = f"WITHDRAWAL: {kinds.get(kind, kind or 'unknown')}".upper()[:200]
        out.append((term, "WITHDRAWAL BY SUBJECT", event, c.values.get("withdrawal_date")))
    ended = False
    for c in entered(p, "end_of_study"):
        status = c.values.get("status")
        if status in END_OF_STUDY:
            out.append((END_OF_STUDY[status], END_OF_STUDY[status], event, c.values.get("end_date")))
            ended = True
    death = _death_date(p)
    if death is not None and not ended:
        out.append(("DEATH", "DEATH", event, death))
    return out


# --------------------------------------------------------------------------- EX
#: SUPPEX qualifier naming the target volume of a dose level. SDTMIG 3.4 has no EX variable for a
#: radiotherapy target volume: EXLOC is the anatomical location of administration (CDISC CT LOC, an
#: anatomical codelist), and CTV1/CTV2 are planning volumes drawn on each patient's images, not anatomical
#: locations; EXTPT is a planned time point. So the target goes to a supplemental qualifier (SDTMIG 3.4
#: section 8.4), keyed by EXSEQ, and EXGRPID groups the records of one fraction.
SUPPEX_EXTRAS = [("_target", "EXTRGVOL", "Radiotherapy Target Volume", "Protocol")]


def ex(snapshot: ExportSnapshot) -> Dataset:
    """Exposure: one record per delivered radiotherapy fraction per dose level of the simultaneous integrated
    boost (SPRINT: 2.0 Gy to CTV1 and 2.4 Gy to CTV2 on each fraction), the level's target in SUPPEX; where the
    protocol has systemic therapy, one record per drug per day a dose was given (EXDOSE the mg entered on the
    cycle form, EXSTDTC the cycle's day 1 + day - 1). Radiotherapy records only where the protocol has it."""
    rt = snapshot.protocol.treatment.radiotherapy
    spec = administration_of(snapshot.protocol)
    what = []
    if rt is not None:
        levels = ", ".join(f"{level.target} {level.dose_per_fraction_gy:g} Gy" for level in rt.dose_levels)
        what.append("The dose per fraction of the record's dose level (its target volume in SUPPEX.EXTRGVOL), "
                    f"from the protocol's dose levels for a delivered fraction ({levels})")
    if spec is not None:
        what.append(f"The dose in mg entered on the cycle form ({spec.form}) for the record's drug and day")
    group = ["the fraction number: the records of one fraction (one per dose level) share it"] if rt else []
    group += ["the cycle number: the records of one cycle share it"] if spec is not None else []
    variables = ids("EX") + [
        Var("EXGRPID", "Group ID", origin="Assigned", source="Sponsor", comment="; ".join(group).capitalize()),
        Var("EXSPID", "Sponsor-Defined Identifier",
            comment=" or ".join(x for x, on in (("The fraction number", rt), ("the cycle number", spec)) if on)),
        Var("EXTRT", "Name of Treatment", origin="Assigned", source="Sponsor", mandatory=True),
        Var("EXDOSE", "Dose", "Num", origin="Derived" if rt is not None else "Collected",
            source="Sponsor" if rt is not None else "Investigator", comment="; ".join(what)),
        Var("EXDOSU", "Dose Units", codelist="UNIT", origin="Assigned", source="Sponsor"),
        Var("EXSTDTC", "Start Date/Time of Treatment", data_type="date"),
        Var("EXENDTC", "End Date/Time of Treatment", data_type="date"),
        dy("EXSTDY", "EXSTDTC", "Study Day of Start of Treatment"),
        dy("EXENDY", "EXENDTC", "Study Day of End of Treatment"),
    ]
    rank = {level.target: i for i, level in enumerate(rt.dose_levels)} if rt is not None else {}
    rows = []
    study = studyid(snapshot)
    for p in enrolled(snapshot):
        for number, drug, dose, day in _systemic_doses(snapshot, p):
            rows.append({"STUDYID": study, "DOMAIN": "EX", "USUBJID": usubjid(study, p.subject_id),
                         "EXGRPID": number, "EXSPID": number, "EXTRT": drug, "EXDOSE": dose, "EXDOSU": "mg",
                         "EXSTDTC": dtc(day), "EXENDTC": dtc(day), "EXSTDY": study_day(day, p.enrolment_date),
                         "EXENDY": study_day(day, p.enrolment_date), "_target": None})
        for day, c in (_delivered(p) if rt is not None else []):
            number = str(c.values.get("fraction_number") or "")
            for target, dose in _fraction_doses(snapshot, c):
                rows.append({"STUDYID": study, "DOMAIN": "EX", "USUBJID": usubjid(study, p.subject_id),
                             "EXGRPID": number or None, "EXSPID": number, "EXTRT": EXTRT, "EXDOSE": dose,
                             "EXDOSU": "Gy", "EXSTDTC": dtc(day), "EXENDTC": dtc(day),
                             "EXSTDY": study_day(day, p.enrolment_date), "EXENDY": study_day(day, p.enrolment_date),
                             "_target": target})
    return numbered(Dataset("EX", "Exposure", "INTERVENTIONS",
                            "One record per delivered fraction per dose level per subject", variables, rows), "EX",
                    lambda r: (_sort_date(r["EXSTDTC"]), int(r["EXSPID"] or 0), rank.get(r["_target"], len(rank)),
                               r["_target"] or "", r["EXTRT"]))


def _systemic_doses(snapshot: ExportSnapshot, p: ExportPatient) -> list[tuple[str | None, str, float, Any]]:
    """(cycle number, drug upper case, mg, day given) of every dose entered on the patient's cycle forms: the
    protocol's administration mapping names each dose field's drug and day of the cycle; the day given is the
    cycle's day 1 + (day - 1). A dose field left empty (or 0 mg) is no dose given."""
    spec = administration_of(snapshot.protocol)
    if spec is None:
        return []
    out = []
    for c in entered(p, spec.form):
        number = c.values.get(spec.cycle_field)
        day1 = c.values.get(spec.date_field)
        for dose in spec.doses:
            given = c.values.get(dose.field)
            if given is None or float(given) <= 0:
                continue
            day = day1 + dt.timedelta(days=dose.day - 1) if isinstance(day1, dt.date) else None
            out.append((str(number) if number is not None else None, normalise_drug(dose.drug).replace("_", " ").upper(),
                        float(given), day))
    return out


def _dose_days(snapshot: ExportSnapshot, p: ExportPatient) -> list[Any]:
    """The days a dose of systemic therapy was given, in order (DM's RFXSTDTC and RFXENDTC where the protocol
    has no radiotherapy)."""
    return sorted({day for *_, day in _systemic_doses(snapshot, p) if day is not None})


def _fraction_doses(snapshot: ExportSnapshot, c: ExportCRF) -> list[tuple[str, float]]:
    """(target volume, dose per fraction in Gy) of a delivered fraction: those the services derived when the
    fraction was saved (from the protocol version then in force), else the protocol's dose levels."""
    derived = c.derived.get("doses_gy") or {}
    if derived:
        return [(target, float(dose)) for target, dose in derived.items()]
    rt = snapshot.protocol.treatment.radiotherapy
    return [(level.target, level.dose_per_fraction_gy) for level in rt.dose_levels]


# --------------------------------------------------------------------------- CM
def cm(snapshot: ExportSnapshot) -> Dataset:
    """Concomitant treatment: the anthracycline-based chemotherapy asked about on the radiotherapy course form
    (a pre-specified question: CMPRESP Y, CMOCCUR its answer; SDTMIG 3.4 section 4.5.7)."""
    variables = ids("CM") + [
        Var("CMTRT", "Reported Name of Drug, Med, or Therapy", origin="Assigned", source="Sponsor", mandatory=True),
        Var("CMCAT", "Category for Medication", origin="Assigned", source="Sponsor"),
        Var("CMPRESP", "CM Pre-specified", codelist="NY", origin="Assigned", source="Sponsor"),
        Var("CMOCCUR", "CM Occurrence", codelist="NY"),
    ]
    rows = []
    study = studyid(snapshot)
    for p in enrolled(snapshot):
        for c in entered(p, "rt_course"):
            given = c.values.get("concurrent_chemotherapy")
            if given is None:
                continue
            rows.append({"STUDYID": study, "DOMAIN": "CM", "USUBJID": usubjid(study, p.subject_id),
                         "CMTRT": "ANTHRACYCLINE-BASED CHEMOTHERAPY", "CMCAT": "CONCURRENT CHEMOTHERAPY",
                         "CMPRESP": "Y", "CMOCCUR": yn(given)})
    return numbered(Dataset("CM", "Concomitant/Concurrent Medications", "INTERVENTIONS",
                            "One record per recorded medication per subject", variables, rows), "CM", lambda r: ())


# --------------------------------------------------------------------------- PR
def pr(snapshot: ExportSnapshot) -> Dataset:
    """Procedures: the surgery, by the protocol's procedure (codelist surgical_procedure)."""
    variables = ids("PR") + [
        Var("PRTRT", "Reported Name of Procedure", codelist="surgical_procedure", mandatory=True),
        Var("PRCAT", "Category", origin="Assigned", source="Sponsor"),
        Var("PRSTDTC", "Start Date/Time of Procedure", data_type="date"),
        dy("PRSTDY", "PRSTDTC", "Study Day of Start of Procedure"),
    ]
    labels = {c.code: c.label for c in snapshot.protocol.codelists.get("surgical_procedure", [])}
    rows = []
    study = studyid(snapshot)
    for p in enrolled(snapshot):
        for c in entered(p, "surgery"):
            procedure = c.values.get("procedure")
            if procedure is None:
                continue
            day = c.values.get("surgery_date")
            reports = [r for r in entered(p, "pathology") if r.derived.get("r_status")]
            rows.append({"STUDYID": study, "DOMAIN": "PR", "USUBJID": usubjid(study, p.subject_id),
                         "PRTRT": labels.get(procedure, procedure).upper(), "PRCAT": "SURGERY", "PRSTDTC": dtc(day),
                         "PRSTDY": study_day(day, p.enrolment_date),
                         "_residual": reports[0].derived["r_status"] if reports else None})
    return numbered(Dataset("PR", "Procedures", "INTERVENTIONS", "One record per procedure per subject", variables,
                            rows), "PR", lambda r: (_sort_date(r["PRSTDTC"]),))


# --------------------------------------------------------------------------- AE and SUPPAE
AEDECOD_NOTE = ("Left empty: the MedDRA preferred term is filled by the sponsor from the licensed MedDRA dictionary. "
                "AETERM is the CTCAE v5.0 term, itself a MedDRA lowest level term (AELLT, AELLTCD)")


def ae(snapshot: ExportSnapshot) -> Dataset:
    """Adverse events: one record per event, with its CTCAE v5.0 term and grade."""
    variables = ids("AE") + [
        Var("AETERM", "Reported Term for the Adverse Event", mandatory=True,
            comment="The CTCAE v5.0 term recorded"),
        Var("AELLT", "Lowest Level Term", origin="Derived", source="Sponsor",
            comment="The CTCAE v5.0 term, which is a MedDRA lowest level term"),
        Var("AELLTCD", "Lowest Level Term Code", "Num", origin="Derived", source="Sponsor", codelist="MEDDRA",
            comment="The MedDRA code NCI's CTCAE v5.0 gives the term"),
        Var("AEDECOD", "Dictionary-Derived Term", origin="Derived", source="Sponsor", comment=AEDECOD_NOTE),
        Var("AESER", "Serious Event", codelist="NY"),
        Var("AEREL", "Causality", codelist="attribution", comment="Relation to radiotherapy, the study treatment"),
        Var("AETOXGR", "Standard Toxicity Grade", codelist="TOXGR", comment="CTCAE v5.0 grade"),
        Var("AESDTH", "Results in Death", codelist="NY"),
        Var("AESLIFE", "Is Life Threatening", codelist="NY"),
        Var("AESHOSP", "Requires or Prolongs Hospitalization", codelist="NY"),
        Var("AESDISAB", "Persist or Signif Disability/Incapacity", codelist="NY"),
        Var("AESCONG", "Congenital Anomaly or Birth Defect", codelist="NY"),
        Var("AESMIE", "Other Medically Important Serious Event", codelist="NY"),
        Var("AESTDTC", "Start Date/Time of Adverse Event", data_type="date"),
        Var("AEENDTC", "End Date/Time of Adverse Event", data_type="date"),
        dy("AESTDY", "AESTDTC", "Study Day of Start of Adverse Event"),
        dy("AEENDY", "AEENDTC", "Study Day of End of Adverse Event"),
    ]
    rows = []
    study = studyid(snapshot)
    for p in enrolled(snapshot):
        for c in entered(p, "adverse_event"):
            v = c.values
            grade = v.get("grade")
            serious = v.get("serious")
            row = {"STUDYID": study, "DOMAIN": "AE", "USUBJID": usubjid(study, p.subject_id),
                   "AETERM": v.get("term"), "AELLT": v.get("term") if c.derived.get("meddra_code") else None,
                   "AELLTCD": c.derived.get("meddra_code"), "AEDECOD": None, "AESER": yn(serious),
                   "AEREL": _upper(v.get("attribution")), "AETOXGR": str(grade) if grade is not None else None,
                   "AESTDTC": dtc(v.get("onset_date")), "AEENDTC": dtc(v.get("resolution_date")),
                   "AESTDY": study_day(v.get("onset_date"), p.enrolment_date),
                   "AEENDY": study_day(v.get("resolution_date"), p.enrolment_date),
                   "_phase": _upper(c.derived.get("phase")), "_aware": dtc(v.get("aware_at")),
                   "_reported": dtc(v.get("reported_at"))}
            for criterion, flag in SERIOUSNESS.items():
                row[flag] = yn(v.get("seriousness") == criterion) if serious else None
            rows.append(row)
    return numbered(Dataset("AE", "Adverse Events", "EVENTS", "One record per adverse event per subject", variables,
                            rows), "AE", lambda r: (_sort_date(r["AESTDTC"]), r["AETERM"] or ""))


def _upper(code: str | None) -> str | None:
    return code.upper().replace("_", " ") if code else None


def supp(parent: Dataset, extras: Iterable[tuple[str, str, str, str]]) -> Dataset:
    """SUPP-- of a parent domain: one record per non-null extra value, ``extras`` being (row key, QNAM,
    QLABEL, QORIG); the values were kept in the parent's rows under the row key, and leave them here."""
    extras = list(extras)
    name = f"SUPP{parent.name}"
    variables = [
        Var("STUDYID", "Study Identifier", origin="Protocol", source=None, key=1, mandatory=True),
        Var("RDOMAIN", "Related Domain Abbreviation", origin="Assigned", source="Sponsor", key=2, mandatory=True),
        Var("USUBJID", "Unique Subject Identifier", origin="Assigned", source="Sponsor", key=3, mandatory=True),
        Var("IDVAR", "Identifying Variable", origin="Assigned", source="Sponsor", key=4),
        Var("IDVARVAL", "Identifying Variable Value", origin="Assigned", source="Sponsor", key=5),
        Var("QNAM", "Qualifier Variable Name", origin="Assigned", source="Sponsor", key=6, mandatory=True),
        Var("QLABEL", "Qualifier Variable Label", origin="Assigned", source="Sponsor", mandatory=True),
        Var("QVAL", "Data Value", mandatory=True,
            comment="; ".join(f"{qnam}: {qlabel} ({qorig})" for _, qnam, qlabel, qorig in extras)),
        Var("QORIG", "Origin", origin="Assigned", source="Sponsor", mandatory=True),
        Var("QEVAL", "Evaluator", origin="Assigned", source="Sponsor"),
    ]
    rows = []
    for row in parent.rows:
        for key, qnam, qlabel, qorig in extras:
            value = row.pop(key, None)
            if value is None or value == "":
                continue
            rows.append({"STUDYID": row["STUDYID"], "RDOMAIN": parent.name, "USUBJID": row["USUBJID"],
                         "IDVAR": f"{parent.name}SEQ", "IDVARVAL": str(row[f"{parent.name}SEQ"]), "QNAM": qnam,
                         "QLABEL": qlabel, "QVAL": str(value), "QORIG": qorig, "QEVAL": None})
    for row in parent.rows:  # extras with no value leave the parent too
        for key, *_ in extras:
            row.pop(key, None)
    return Dataset(name, f"Supplemental Qualifiers for {parent.name}", "RELATIONSHIP",
                   "One record per supplemental qualifier per record", variables, rows)


#: the adverse event's protocol fields with no SDTM AE variable (row key, QNAM, QLABEL, QORIG)
SUPPAE_EXTRAS = [("_phase", "AEPHASE", "Toxicity Phase (Acute or Late)", "Derived"),
                 ("_aware", "AEAWRDTC", "Date/Time Site Aware of SAE (UTC)", "Collected"),
                 ("_reported", "AERPTDTC", "Date/Time SAE Reported to Sponsor (UTC)", "Collected")]
#: the surgery's residual tumour classification (UICC R), which the services derive from the surgery's
#: macroscopic residual and the pathology report's margin: the primary endpoint's outcome
SUPPPR_EXTRAS = [("_residual", "RESIDTUM", "Residual Tumor (UICC R Classification)", "Derived")]


# --------------------------------------------------------------------------- TU, TR, RS
def tu(snapshot: ExportSnapshot) -> Dataset:
    """Tumour identification: where the protocol has a RECIST 1.1 response section, one record per declared
    lesion (TULNKID its label, TUORRES TARGET or NON-TARGET, TULOC its organ); otherwise the primary tumour at
    diagnosis, one record per patient."""
    recist = _recist(snapshot)
    variables = ids("TU") + [
        Var("TULNKID", "Link ID", origin="Assigned", source="Sponsor"),
        Var("TUTESTCD", "Tumor Identification Short Name", origin="Assigned", source="Sponsor", mandatory=True),
        Var("TUTEST", "Tumor Identification Test Name", origin="Assigned", source="Sponsor", mandatory=True),
        Var("TUORRES", "Tumor Identification Result", origin="Assigned", source="Sponsor"),
        Var("TUSTRESC", "Tumor Identification Result Std. Format", origin="Assigned", source="Sponsor"),
        Var("TULOC", "Location of the Tumor", codelist="organ" if recist else "anatomic_site"),
        *visit_vars(),
        Var("TUDTC", "Date/Time of Tumor Identification", data_type="date",
            comment="The date of the baseline tumour assessment (RECIST 1.1: lesions are declared at baseline)"
            if recist else "The date of the histological diagnosis"),
        dy("TUDY", "TUDTC", "Study Day of Tumor Identification"),
    ]
    labels = {c.code: c.label for c in snapshot.protocol.codelists.get("anatomic_site", [])}
    rows = []
    study = studyid(snapshot)
    for p in enrolled(snapshot) if recist else []:
        baseline = _baseline_date(snapshot, p)
        for c in entered(p, recist.lesion_form):
            label, kind, organ = _lesion_label(c.values), c.values.get("kind"), c.values.get("organ")
            if label is None or kind not in LESION_KIND:
                continue
            rows.append({"STUDYID": study, "DOMAIN": "TU", "USUBJID": usubjid(study, p.subject_id),
                         "TULNKID": label, "TUTESTCD": "TUMIDENT", "TUTEST": "Tumor Identification",
                         "TUORRES": LESION_KIND[kind], "TUSTRESC": LESION_KIND[kind],
                         "TULOC": str(organ).upper().replace("_", " ") if organ else None, **_visit(snapshot, c),
                         "TUDTC": dtc(baseline), "TUDY": study_day(baseline, p.enrolment_date)})
    for p in enrolled(snapshot) if not recist else []:
        for c in entered(p, "diagnosis")[:1]:
            day = c.values.get("diagnosis_date")
            site = c.values.get("anatomic_site")
            rows.append({"STUDYID": study, "DOMAIN": "TU", "USUBJID": usubjid(study, p.subject_id),
                         "TULNKID": TUMOUR_LINK, "TUTESTCD": "TUMIDENT", "TUTEST": "Tumor Identification",
                         "TUORRES": "PRIMARY TUMOR", "TUSTRESC": "PRIMARY TUMOR",
                         "TULOC": labels.get(site, site).upper() if site else None, **_visit(snapshot, c),
                         "TUDTC": dtc(day),
                         "TUDY": study_day(day, p.enrolment_date)})
    return numbered(Dataset("TU", "Tumor/Lesion Identification", "FINDINGS",
                            "One record per identified tumor per subject", variables, rows), "TU",
                    lambda r: (r["TULNKID"] or "",))


def tr(snapshot: ExportSnapshot) -> Dataset:
    """Tumour results: where the protocol has a RECIST 1.1 response section, each lesion measurement (LDIAM the
    longest diameter, SAXIS the short axis of a lymph node, TUMSTATE a non-target lesion's status) and the sum of
    diameters per time point (SUMDIAM); otherwise the largest dimension of the primary tumour at diagnosis."""
    recist = _recist(snapshot)
    variables = ids("TR") + [
        Var("TRLNKID", "Link ID", origin="Assigned", source="Sponsor"),
        Var("TRTESTCD", "Tumor/Lesion Assessment Short Name", origin="Assigned", source="Sponsor", mandatory=True),
        Var("TRTEST", "Tumor/Lesion Assessment Test Name", origin="Assigned", source="Sponsor", mandatory=True),
        Var("TRORRES", "Result or Finding in Original Units"),
        Var("TRORRESU", "Original Units", codelist="UNIT", origin="Assigned", source="Sponsor"),
        Var("TRSTRESC", "Character Result/Finding in Std Format", origin="Derived", source="Sponsor"),
        Var("TRSTRESN", "Numeric Result/Finding in Standard Units", "Num", origin="Derived", source="Sponsor"),
        Var("TRSTRESU", "Standard Units", codelist="UNIT", origin="Assigned", source="Sponsor"),
        *visit_vars(),
        Var("TRDTC", "Date/Time of Tumor/Lesion Measurement", data_type="date",
            comment=RECIST_TR_NOTE if recist else "The date of the histological diagnosis"),
        dy("TRDY", "TRDTC", "Study Day of Tumor/Lesion Measurement"),
    ]
    rows = []
    study = studyid(snapshot)
    for p in enrolled(snapshot) if recist else []:
        rows += _recist_measurements(snapshot, recist, p)
    for p in enrolled(snapshot) if not recist else []:
        for c in entered(p, "diagnosis")[:1]:
            size = c.values.get("size_cm")
            if size is None:
                continue
            day = c.values.get("diagnosis_date")
            rows.append({"STUDYID": study, "DOMAIN": "TR", "USUBJID": usubjid(study, p.subject_id),
                         "TRLNKID": TUMOUR_LINK, "TRTESTCD": "LDIAM", "TRTEST": "Longest Diameter",
                         "TRORRES": f"{size:g}", "TRORRESU": "cm", "TRSTRESC": f"{size:g}", "TRSTRESN": float(size),
                         "TRSTRESU": "cm", **_visit(snapshot, c), "TRDTC": dtc(day),
                         "TRDY": study_day(day, p.enrolment_date)})
    return numbered(Dataset("TR", "Tumor/Lesion Results", "FINDINGS",
                            "One record per tumor measurement per subject", variables, rows), "TR",
                    lambda r: (_sort_date(r["TRDTC"]), r["TRLNKID"] or "~", r["TRTESTCD"]))


def rs(snapshot: ExportSnapshot) -> Dataset:
    """Disease response: the pathological response of the resected specimen (EORTC-STBSG score and the
    protocol's pCR), as the services derived them from the pathology report."""
    pathology = snapshot.protocol.pathology
    recist = _recist(snapshot)
    notes = []
    if pathology is not None:
        notes.append("PATHRESP: the EORTC-STBSG tier (Wardelmann et al., Eur J Cancer 2016) of the percentage of "
                     f"stainable tumour cells; PCR: Y when at most {pathology.pcr_max_viable_percent:g} % stainable "
                     "tumour cells (protocol)")
    if recist:
        notes.append(RECIST_RS_NOTE)
    variables = ids("RS") + [
        Var("RSTESTCD", "Assessment Short Name", origin="Assigned", source="Sponsor", mandatory=True),
        Var("RSTEST", "Assessment Name", origin="Assigned", source="Sponsor", mandatory=True),
        Var("RSCAT", "Category for Assessment", origin="Assigned", source="Sponsor"),
        *([Var("RSSCAT", "Subcategory for Assessment", origin="Assigned", source="Sponsor",
               comment="BESTRSP only: CONFIRMED or UNCONFIRMED (RECIST 1.1 section 4.4.3, Table 3)")] if recist else []),
        Var("RSORRES", "Result or Finding in Original Units", origin="Derived", source="Sponsor",
            comment="; ".join(notes) or None),
        Var("RSSTRESC", "Character Result/Finding in Std Format", origin="Derived", source="Sponsor"),
        *visit_vars(),
        Var("RSDTC", "Date/Time of Assessment", data_type="date",
            comment="; ".join(x for x, on in (("The date of the pathology report", pathology is not None),
                                               ("the date of imaging (BESTRSP: the date the response was first "
                                                "observed)", recist)) if on).capitalize() or None),
        dy("RSDY", "RSDTC", "Study Day of Assessment"),
    ]
    rows = []
    study = studyid(snapshot)
    for p in enrolled(snapshot) if recist else []:
        rows += _recist_responses(snapshot, p)
    for p in enrolled(snapshot) if pathology is not None else []:
        for c in entered(p, "pathology"):
            day = c.values.get("report_date")
            base = {"STUDYID": study, "DOMAIN": "RS", "USUBJID": usubjid(study, p.subject_id), **_visit(snapshot, c),
                    "RSDTC": dtc(day), "RSDY": study_day(day, p.enrolment_date)}
            score = c.derived.get("response_score")
            if score:
                rows.append({**base, "RSTESTCD": "PATHRESP", "RSTEST": "Pathological Response Score",
                             "RSCAT": "EORTC-STBSG", "RSORRES": score, "RSSTRESC": score})
            if c.derived.get("pcr") is not None:
                rows.append({**base, "RSTESTCD": "PCR", "RSTEST": "Pathologic Complete Response",
                             "RSCAT": "PROTOCOL DEFINED", "RSORRES": yn(c.derived["pcr"]),
                             "RSSTRESC": yn(c.derived["pcr"])})
    return numbered(Dataset("RS", "Disease Response", "FINDINGS", "One record per response assessment per subject",
                            variables, rows), "RS",
                    lambda r: (r["RSTESTCD"] == "BESTRSP", _sort_date(r["RSDTC"]), r["RSTESTCD"], r.get("RSSCAT") or ""))


# --------------------------------------------------------------------------- RECIST 1.1 (TU, TR, RS)
#: the lesion form's kinds -> TUORRES
LESION_KIND = {"target": "TARGET", "non_target": "NON-TARGET"}
#: the measurement form's non-target statuses -> TRORRES of TUMSTATE (not_assessed: no record)
TUMOUR_STATE = {"present": "PRESENT", "absent": "ABSENT", "unequivocal_progression": "UNEQUIVOCAL PROGRESSION"}
RECIST_TR_NOTE = ("The date of imaging. LDIAM: a target lesion's longest diameter; SAXIS: a target lymph node's short "
                  "axis (RECIST 1.1 section 3.1); TUMSTATE: a non-target lesion's status (section 4.3.3); SUMDIAM "
                  "(no TRLNKID): the sum of diameters at the time point as RECIST 1.1 sums it (section 4.3.2, "
                  "services.response_entry.recist_course). A target lesion too small to measure has TRORRES "
                  "TOO SMALL TO MEASURE (the sum counts it as 5 mm); a lesion not assessed has no record")
RECIST_RS_NOTE = ("OVRLRESP: the overall response at each follow-up time point, BESTRSP: the best overall response, "
                  "by RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247; services.response_entry."
                  "recist_course, from the entered lesions, measurements and assessments)")


def _recist(snapshot: ExportSnapshot) -> Any:
    """The protocol's RECIST 1.1 response section when the snapshot holds its three forms, else None."""
    response = getattr(snapshot.protocol, "response", None)
    if response is None or response.lesion_form is None or response.measurement_form is None:
        return None
    if not all(f in snapshot.forms for f in (response.form, response.lesion_form, response.measurement_form)):
        return None
    return response


def _lesion_label(values: dict[str, Any]) -> str | None:
    label = values.get("lesion_id")
    return str(label).strip() or None if label is not None else None


def _baseline_date(snapshot: ExportSnapshot, p: ExportPatient) -> Any:
    """The date of the patient's baseline tumour assessment (at the export's level), or None."""
    response = snapshot.protocol.response
    days = [c.values.get("assessment_date") for c in entered(p, response.form) if c.values.get("baseline")]
    return min((d for d in days if d is not None), default=None)


def _course(snapshot: ExportSnapshot, p: ExportPatient) -> tuple[list[Any], Any, Any]:
    """The patient's RECIST 1.1 course from the services (recorded dates); empty where it cannot be evaluated."""
    from sarcotrial.services.endpoints import recist_of

    if p.record is None:
        return [], None, None
    points, unconfirmed, confirmed, _problem = recist_of(snapshot.protocol, p.record)
    return points, unconfirmed, confirmed


def _assessment_crfs(snapshot: ExportSnapshot, p: ExportPatient) -> dict[Any, ExportCRF]:
    """The patient's tumour-assessment CRFs by their recorded date (the services' dates: the course's)."""
    response = snapshot.protocol.response
    by_id = {c.crf_id: c for c in entered(p, response.form)}
    out = {}
    for c in p.record.of(response.form) if p.record is not None else []:
        if c.id in by_id and c.values.get("assessment_date") is not None:
            out[c.values["assessment_date"]] = by_id[c.id]
    return out


def _recist_measurements(snapshot: ExportSnapshot, response: Any, p: ExportPatient) -> list[dict[str, Any]]:
    study = studyid(snapshot)
    lesions = {_lesion_label(c.values): c.values for c in entered(p, response.lesion_form)}
    crfs_at = {c.values.get("assessment_date"): c for c in entered(p, response.form)}
    base = {"STUDYID": study, "DOMAIN": "TR", "USUBJID": usubjid(study, p.subject_id)}
    rows = []
    for m in entered(p, response.measurement_form):
        label = _lesion_label(m.values)
        lesion = lesions.get(label)
        day = m.values.get("assessment_date")
        if lesion is None:
            continue
        where = {**_visit(snapshot, crfs_at.get(day, m)), "TRDTC": dtc(day), "TRDY": study_day(day, p.enrolment_date)}
        if lesion.get("kind") == "target":
            code, name = ("SAXIS", "Short Axis") if lesion.get("node") else ("LDIAM", "Longest Diameter")
            size = m.values.get("diameter_mm")
            if m.values.get("status") == "not_assessed":
                continue
            if m.values.get("too_small") is True:
                result = {"TRORRES": "TOO SMALL TO MEASURE", "TRORRESU": None, "TRSTRESC": "TOO SMALL TO MEASURE",
                          "TRSTRESN": None, "TRSTRESU": None}
            elif size is not None:
                result = {"TRORRES": f"{float(size):g}", "TRORRESU": "mm", "TRSTRESC": f"{float(size):g}",
                          "TRSTRESN": float(size), "TRSTRESU": "mm"}
            else:
                continue
        else:
            state = TUMOUR_STATE.get(m.values.get("status"))
            if state is None:
                continue
            code, name = "TUMSTATE", "Tumor State"
            result = {"TRORRES": state, "TRORRESU": None, "TRSTRESC": state, "TRSTRESN": None, "TRSTRESU": None}
        rows.append({**base, "TRLNKID": label, "TRTESTCD": code, "TRTEST": name, **result, **where})
    crfs = _assessment_crfs(snapshot, p)
    for tp in _course(snapshot, p)[0]:
        if tp.sum_mm is None:
            continue
        day = snapshot.date(p, tp.date)
        total = float(tp.sum_mm)
        rows.append({**base, "TRLNKID": None, "TRTESTCD": "SUMDIAM", "TRTEST": "Sum of Diameters",
                     "TRORRES": f"{total:g}", "TRORRESU": "mm", "TRSTRESC": f"{total:g}", "TRSTRESN": total,
                     "TRSTRESU": "mm", **(_visit(snapshot, crfs[tp.date]) if tp.date in crfs else
                                          {"VISITNUM": None, "VISIT": None}),
                     "TRDTC": dtc(day), "TRDY": study_day(day, p.enrolment_date)})
    return rows


def _recist_responses(snapshot: ExportSnapshot, p: ExportPatient) -> list[dict[str, Any]]:
    """OVRLRESP at each follow-up time point and BESTRSP unconfirmed and confirmed, from the services' course."""
    study = studyid(snapshot)
    base = {"STUDYID": study, "DOMAIN": "RS", "USUBJID": usubjid(study, p.subject_id), "RSCAT": "RECIST 1.1"}
    crfs = _assessment_crfs(snapshot, p)
    points, unconfirmed, confirmed = _course(snapshot, p)
    rows = []

    def at(day: Any) -> dict[str, Any]:
        shifted = snapshot.date(p, day) if day is not None else None
        visit = _visit(snapshot, crfs[day]) if day in crfs else {"VISITNUM": None, "VISIT": None}
        return {**visit, "RSDTC": dtc(shifted), "RSDY": study_day(shifted, p.enrolment_date)}

    for tp in points:
        if tp.baseline or tp.overall is None:
            continue
        rows.append({**base, "RSTESTCD": "OVRLRESP", "RSTEST": "Overall Response", "RSSCAT": None,
                     "RSORRES": tp.overall, "RSSTRESC": tp.overall, **at(tp.date)})
    for scat, best in (("UNCONFIRMED", unconfirmed), ("CONFIRMED", confirmed)):
        if best is not None:
            rows.append({**base, "RSTESTCD": "BESTRSP", "RSTEST": "Best Overall Response", "RSSCAT": scat,
                         "RSORRES": best.response, "RSSTRESC": best.response, **at(best.date)})
    return rows


# --------------------------------------------------------------------------- SV
def visit_of(snapshot: ExportSnapshot, c: ExportCRF) -> tuple[float, str] | None:
    """(VISITNUM, VISIT) of the protocol visit a CRF was collected at; None for an unscheduled CRF. Every
    domain that carries a visit takes it from here, so VISITNUM means the same visit in all of them."""
    for i, visit in enumerate(snapshot.protocol.visits, start=1):
        if visit.id == c.visit_id:
            name = f"{visit.name} {c.occurrence}" if visit.repeat is not None else visit.name
            return float(i * 100 + c.occurrence), name.upper()
    return None


def _visit(snapshot: ExportSnapshot, c: ExportCRF) -> dict[str, Any]:
    number, name = visit_of(snapshot, c) or (None, None)
    return {"VISITNUM": number, "VISIT": name}


def visit_vars() -> list[Var]:
    return [Var("VISITNUM", "Visit Number", "Num", origin="Derived", source="Sponsor",
                comment="100 x the visit's place in the protocol's schedule + its occurrence (as in SV)"),
            Var("VISIT", "Visit Name", origin="Protocol", source=None)]


def _visit_date(crfs: list[ExportCRF]) -> Any:
    """The earliest date (the date portion of a date/time) recorded on a visit's CRFs, or None."""
    return min((as_date(v) for c in crfs for v in c.values.values() if dtc(v) is not None), default=None)


def sv(snapshot: ExportSnapshot) -> Dataset:
    """Subject visits: one record per protocol visit occurrence at which any CRF was entered.

    SDTMIG 3.4 (the SV domain) records the planned visits a subject actually had; a visit with data is one
    that took place. SVSTDTC is the earliest date recorded on that visit's CRFs (the date portion of a
    date/time); SVENDTC the same day (the protocol's visits are one-day visits). A visit whose CRFs hold no
    date at all still gets its record, SVSTDTC null: SVSTDTC is Expected, not Required, in SDTMIG 3.4, and
    leaving the record out would hide a visit that occurred. CRFs marked not done, and unscheduled CRFs (a
    consent, a fraction, an event reported between visits), date no visit."""
    variables = [
        Var("STUDYID", "Study Identifier", origin="Protocol", source=None, key=1, mandatory=True),
        Var("DOMAIN", "Domain Abbreviation", origin="Assigned", source="Sponsor", mandatory=True),
        Var("USUBJID", "Unique Subject Identifier", origin="Assigned", source="Sponsor", key=2, mandatory=True),
        Var("VISITNUM", "Visit Number", "Num", origin="Derived", source="Sponsor", key=3, mandatory=True,
            comment="100 x the visit's place in the protocol's schedule + its occurrence"),
        Var("VISIT", "Visit Name", origin="Protocol", source=None),
        Var("SVSTDTC", "Start Date/Time of Visit", data_type="date", origin="Derived", source="Sponsor",
            comment="The earliest date recorded on the visit's CRFs; null when none of them holds a date"),
        Var("SVENDTC", "End Date/Time of Visit", data_type="date", origin="Derived", source="Sponsor",
            comment="SVSTDTC: the protocol's visits are one-day visits"),
        dy("SVSTDY", "SVSTDTC", "Study Day of Start of Visit"),
        dy("SVENDY", "SVENDTC", "Study Day of End of Visit"),
    ]
    rows = []
    study = studyid(snapshot)
    for p in enrolled(snapshot):
        visits: dict[tuple[float, str], list[ExportCRF]] = {}
        for crfs in p.forms.values():
            for c in crfs:
                key = visit_of(snapshot, c)
                if key is not None and c.entered:
                    visits.setdefault(key, []).append(c)
        for (number, name), crfs in visits.items():
            day = _visit_date(crfs)
            rows.append({"STUDYID": study, "DOMAIN": "SV", "USUBJID": usubjid(study, p.subject_id),
                         "VISITNUM": number, "VISIT": name, "SVSTDTC": dtc(day), "SVENDTC": dtc(day),
                         "SVSTDY": study_day(day, p.enrolment_date), "SVENDY": study_day(day, p.enrolment_date)})
    rows.sort(key=lambda r: (r["USUBJID"], r["VISITNUM"]))
    return Dataset("SV", "Subject Visits", "SPECIAL PURPOSE", "One record per subject per actual visit", variables,
                   rows)


# --------------------------------------------------------------------------- all of them
def datasets(snapshot: ExportSnapshot) -> list[Dataset]:
    """Every dataset with at least one record (SDTM submits no empty dataset), TS and DM first."""
    out = [ts(snapshot), dm(snapshot)]
    events, procedures, exposure = ae(snapshot), pr(snapshot), ex(snapshot)
    out += [sv(snapshot), ds(snapshot), exposure, supp(exposure, SUPPEX_EXTRAS), cm(snapshot), procedures,
            supp(procedures, SUPPPR_EXTRAS),
            events, supp(events, SUPPAE_EXTRAS), tu(snapshot), tr(snapshot), rs(snapshot)]
    return [d for d in out if d.rows]
