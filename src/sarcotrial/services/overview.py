"""The read models of the study's overview pages: the dashboard, the record status grid, the
patient list and the patient page.

Everything here reads through :meth:`StudyDB.reading` with the acting user, so a user limited to
some sites sees only those sites' patients. The grid and the patient list page in the database:
one page costs a count, one page of patient ids, and the visit read of those patients alone
(:func:`sarcotrial.services.visits.patient_visits`, the same states the CLI prints), whatever the
size of the registry. A filter on a form's state is decided in SQL from the same rules as
:func:`sarcotrial.domain.crf.lifecycle_state` (a lock above everything; not done; a signature;
verified when every entered field is verified), so the page is taken after the filter.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from sarcotrial.domain.crf import UNSCHEDULED, entered_fields, fully_verified
from sarcotrial.errors import InvalidValue
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import (
    CRFInstance,
    DataLock,
    DataQuery,
    Enrolment,
    Patient,
    PlanQARecord,
    Signature,
    Site,
    VisitOccurrence,
)

PAGE_SIZE = 25
#: the states a grid cell shows (``query``: a form with an open or answered query)
GRID_STATES = ("expected", "incomplete", "complete", "verified", "signed", "locked", "not_done", "query")
#: the open queries' ages the dashboard groups them by: (label, up to N days; None: older)
QUERY_AGES = (("0-7 days", 7), ("8-14 days", 14), ("15-30 days", 30), ("over 30 days", None))


# --------------------------------------------------------------------------- helpers
def _visible(study: StudyDB, session: Session, query):
    visible = study.visible_site_ids(session)
    return query.where(Patient.site_id.in_(visible)) if visible is not None else query


def _site_codes(study: StudyDB, session: Session) -> list[str]:
    visible = study.visible_site_ids(session)
    query = select(Site.code).order_by(Site.code)
    if visible is not None:
        query = query.where(Site.id.in_(visible))
    return list(session.scalars(query))


def _page_numbers(total: int, page: int, size: int) -> tuple[int, int]:
    pages = max(1, math.ceil(total / size))
    if page < 1:
        raise InvalidValue("page", "must be 1 or more", page)
    return min(page, pages), pages


# --------------------------------------------------------------------------- dashboard
@dataclass(frozen=True)
class PlanQAView:
    subject: str
    evaluated_on: dt.date
    verdict: str
    failing: tuple[str, ...]


@dataclass
class Dashboard:
    today: dt.date
    week_end: dt.date
    patients: int
    enrolled: int
    target_accrual: int
    by_status: list[tuple[str, int]]
    overdue: list[Any]            # visits.DueVisit
    due: list[Any]                # visits.DueVisit, due within the week
    open_queries: int
    answered_queries: int
    queries_by_age: list[tuple[str, int]]
    serious_events: list[Any]     # safety.SeriousEvent
    plan_qa: list[PlanQAView]


def accrual(study: StudyDB, actor: Actor | None) -> tuple[list[dt.date], int]:
    """The enrolment dates of the patients the user may see, and the protocol's target accrual."""
    with study.reading(actor) as session:
        query = _visible(study, session, select(Enrolment.enrolment_date).join(Patient, Patient.id == Enrolment.patient_id))
        dates = sorted(session.scalars(query))
    return dates, study.protocol.identification.design.target_accrual


@dataclass(frozen=True)
class AccrualView:
    """What an accrual forecast reads: the enrolment dates and the first screening of the patients the user
    may see, and the protocol's target and planned enrolment period."""

    dates: list[dt.date]
    target: int
    first_screening: dt.date | None
    period_years: float | None
    limited: bool                 # the user sees only some sites: the counts are theirs, the target the study's


def accrual_view(study: StudyDB, actor: Actor | None) -> AccrualView:
    """The enrolment dates, the first screening (accrual's start) and the protocol's plan, in one read."""
    from sarcotrial.store.models import Screening

    design = study.protocol.identification.design
    with study.reading(actor) as session:
        query = _visible(study, session, select(Enrolment.enrolment_date)
                         .join(Patient, Patient.id == Enrolment.patient_id))
        dates = sorted(session.scalars(query))
        first = session.scalar(_visible(study, session, select(func.min(Screening.screening_date))
                                        .join(Patient, Patient.id == Screening.patient_id)))
        limited = study.visible_site_ids(session) is not None
    return AccrualView(dates, design.target_accrual, first, design.enrolment_period_years, limited)


def accrual_forecast(study: StudyDB, actor: Actor | None, *, as_of: dt.date | None = None,
                     start: dt.date | None = None, prior_weight: float | None = None,
                     level: float | None = None):
    """The accrual forecast at ``as_of`` (default today) of the patients the user may see
    (:func:`sarcotrial.outcomes.accrual.forecast`): accrual starts at ``start`` if given, else at the
    first screening, else (nobody screened yet) at ``as_of`` itself, a forecast from the prior alone.
    Returns ``(view, forecast, where the start comes from)``."""
    from sarcotrial.outcomes import accrual as model

    view = accrual_view(study, actor)
    as_of = as_of or dt.date.today()
    if start is not None:
        source = "given"
    elif view.first_screening is not None and view.first_screening <= as_of:
        # (an enrolment dated before it, from an import, starts accrual instead)
        start, source = min([view.first_screening, *view.dates[:1]]), "the first screening"
    else:
        start, source = as_of, "no screening yet: from the cut-off"
    if start > as_of:
        raise InvalidValue("start", f"must not be after the cut-off ({as_of.isoformat()})", start.isoformat())
    result = model.forecast(view.dates, view.target, start=start, cutoff=as_of, planned_years=view.period_years,
                            prior_weight=model.DEFAULT_PRIOR_WEIGHT if prior_weight is None else prior_weight,
                            level=model.DEFAULT_LEVEL if level is None else level)
    return view, result, source


def plan_qa_deviations(study: StudyDB, actor: Actor | None) -> list[PlanQAView]:
    """Every stored plan QA whose verdict is not ``per protocol`` (newest first), for the patients the user sees."""
    with study.reading(actor) as session:
        return _plan_qa_deviations(study, session)


def _plan_qa_deviations(study: StudyDB, session: Session) -> list[PlanQAView]:
    query = _visible(study, session, select(PlanQARecord, Patient.subject_id)
                     .join(Patient, Patient.id == PlanQARecord.patient_id)
                     .where(PlanQARecord.verdict != "per protocol")
                     .order_by(PlanQARecord.evaluated_on.desc(), PlanQARecord.id.desc()))
    out = []
    for row, subject in session.execute(query):
        failing = tuple(f"{o.get('structure')} {o.get('metric')} {o.get('value')} ({o.get('verdict')})"
                        for o in (row.results or {}).get("objectives", [])
                        if o.get("verdict") in ("minor deviation", "major deviation"))
        failing += tuple(str(c) for c in (row.results or {}).get("consistency", []))
        out.append(PlanQAView(subject, row.evaluated_on, row.verdict, failing))
    return out


def dashboard(study: StudyDB, actor: Actor | None, today: dt.date | None = None,
              now: dt.datetime | None = None) -> Dashboard:
    """The study at a glance for the user: accrual, pathway statuses, the week's visits, open
    queries by age, serious adverse events' reporting clocks and plan QA deviations, read in one
    transaction (one snapshot of the study)."""
    from sarcotrial.services import queries, safety, visits

    today = today or dt.date.today()
    week_end = today + dt.timedelta(days=6)
    with study.reading(actor) as session:
        counts = session.execute(_visible(study, session, select(Patient.status, func.count(Patient.id))
                                          .group_by(Patient.status))).all()
        enrolled = session.scalar(_visible(study, session, select(func.count(Enrolment.id))
                                           .join(Patient, Patient.id == Enrolment.patient_id))) or 0
        week = visits.due_in(study, session, days=6, today=today)
        listed = queries.list_queries_in(study, session, now=now)
        serious = safety.serious_events_in(study, session, now=now)
        plan_qa = _plan_qa_deviations(study, session)
    by_status = sorted(((status, n) for status, n in counts), key=lambda x: x[0])
    open_ages = [q.age_days for q in listed if q.status == "open"]
    buckets = []
    low = -1
    for label, high in QUERY_AGES:
        buckets.append((label, sum(1 for age in open_ages if age > low and (high is None or age <= high))))
        low = high if high is not None else low
    return Dashboard(
        today=today, week_end=week_end, patients=sum(n for _, n in by_status), enrolled=enrolled,
        target_accrual=study.protocol.identification.design.target_accrual, by_status=by_status,
        overdue=[d for d in week if d.status == "overdue"], due=[d for d in week if d.status == "due"],
        open_queries=len(open_ages), answered_queries=sum(1 for q in listed if q.status == "answered"),
        queries_by_age=buckets, serious_events=serious, plan_qa=plan_qa)


# --------------------------------------------------------------------------- the record status grid
@dataclass(frozen=True)
class GridColumn:
    visit_id: str
    visit_name: str
    form_id: str
    form_name: str


@dataclass(frozen=True)
class GridIcon:
    visit_id: str
    occurrence: int
    form_id: str
    instance: int
    status: str
    open_queries: int
    repeating: bool

    @property
    def visit_ref(self) -> str:
        return f"{self.visit_id}:{self.occurrence}"


@dataclass
class GridRow:
    subject: str
    site: str
    status: str
    cells: dict[tuple[str, str], list[GridIcon]] = field(default_factory=dict)

    def cell(self, column: GridColumn) -> list[GridIcon]:
        return self.cells.get((column.visit_id, column.form_id), [])


@dataclass
class GridPage:
    columns: list[GridColumn]
    rows: list[GridRow]
    total: int
    page: int
    pages: int
    size: int
    sites: list[str]
    visits: list[tuple[str, str]]   # (visit id, name) to filter by
    site: str | None
    status: str | None
    visit: str | None

    @property
    def groups(self) -> list[tuple[str, str, int]]:
        """The column groups: (visit id, visit name, number of forms)."""
        out: list[tuple[str, str, int]] = []
        for c in self.columns:
            if out and out[-1][0] == c.visit_id:
                out[-1] = (c.visit_id, c.visit_name, out[-1][2] + 1)
            else:
                out.append((c.visit_id, c.visit_name, 1))
        return out


def grid_visits(study: StudyDB) -> list[tuple[str, str]]:
    return [(v.id, v.name) for v in study.protocol.visits] + [(UNSCHEDULED, "Unscheduled")]


def _columns(study: StudyDB, visit: str | None) -> list[GridColumn]:
    protocol = study.protocol
    names = {f.id: f.name for f in protocol.forms}
    out = []
    collected = set()
    for v in protocol.visits:
        collected.update(v.collected)
        if visit is None or visit == v.id:
            out += [GridColumn(v.id, v.name, f, names.get(f, f)) for f in v.collected]
    if visit is None or visit == UNSCHEDULED:
        out += [GridColumn(UNSCHEDULED, "Unscheduled", f.id, f.name) for f in protocol.forms if f.id not in collected]
    return out


def _state_filter(study: StudyDB, session: Session, status: str, visit: str | None):
    """A condition on ``Patient``: the patient has a form in ``status`` (at ``visit``), decided as
    :func:`sarcotrial.domain.crf.lifecycle_state` and :func:`visits.patient_visits` decide it."""
    crf, occ = CRFInstance, VisitOccurrence
    in_visit = [crf.visit_occurrence_id.in_(select(occ.id).where(occ.visit_id == visit))] if visit else []
    study_locked = session.scalar(select(DataLock.id).where(DataLock.active.is_(True), DataLock.scope == "study")
                                  .limit(1)) is not None
    patient_lock = exists().where(DataLock.active.is_(True), DataLock.scope == "patient",
                                  DataLock.patient_id == crf.patient_id)
    crf_lock = exists().where(DataLock.active.is_(True), DataLock.scope == "crf", DataLock.crf_instance_id == crf.id)
    locked = or_(patient_lock, crf_lock) if not study_locked else true()
    casebook = exists().where(Signature.status == "valid", Signature.patient_id == crf.patient_id,
                              Signature.crf_instance_id.is_(None))
    signed = and_(crf.status != "not_done",
                  or_(exists().where(Signature.status == "valid", Signature.crf_instance_id == crf.id), casebook))

    def has_row(*conditions):
        return exists().where(crf.patient_id == Patient.id, *in_visit, *conditions)

    if status == "locked":
        return has_row(locked)
    if status == "not_done":
        return has_row(crf.status == "not_done", not_(locked))
    if status == "signed":
        return has_row(signed, not_(locked))
    if status == "incomplete":
        return has_row(crf.status == "incomplete", not_(signed), not_(locked))
    if status == "query":
        rows = select(crf.id).where(*in_visit) if visit else None
        return exists().where(DataQuery.patient_id == Patient.id, DataQuery.status != "closed",
                              *([DataQuery.crf_instance_id.in_(rows)] if rows is not None else []))
    if status in ("complete", "verified"):
        # entered and complete, neither signed nor locked: verified when every entered field is
        query = _visible(study, session, select(crf.patient_id, crf.data, crf.missing, crf.verified)
                         .join(Patient, Patient.id == crf.patient_id)
                         .where(crf.status == "complete", not_(signed), not_(locked), *in_visit))
        wanted = status == "verified"
        ids = {pid for pid, data, missing, verified in session.execute(query)
               if fully_verified(entered_fields(data or {}, missing or {}), verified or {}) == wanted}
        return Patient.id.in_(ids)
    if status == "expected":
        # an occurrence of a visit that lacks one of the visit's required forms
        options = []
        for v in study.protocol.visits:
            if visit is not None and v.id != visit:
                continue
            for form_id in v.forms:
                options.append(exists().where(
                    occ.patient_id == Patient.id, occ.visit_id == v.id,
                    not_(exists().where(crf.visit_occurrence_id == occ.id, crf.form_id == form_id))))
        return or_(*options) if options else false()
    raise InvalidValue("status", f"must be one of {', '.join(GRID_STATES)}", status)


def grid(study: StudyDB, actor: Actor | None, *, site: str | None = None, status: str | None = None,
         visit: str | None = None, page: int = 1, size: int = PAGE_SIZE, today: dt.date | None = None) -> GridPage:
    """One page of the record status grid: patients (by subject id) x visits x forms, each cell the
    states of the form's instances at the visit's occurrences."""
    from sarcotrial.services.visits import patients_visits

    site = (site or "").strip() or None
    status = (status or "").strip() or None
    visit = (visit or "").strip() or None
    if status is not None and status not in GRID_STATES:
        raise InvalidValue("status", f"must be one of {', '.join(GRID_STATES)}", status)
    known_visits = grid_visits(study)
    if visit is not None and visit not in {v for v, _ in known_visits}:
        raise InvalidValue("visit", f"not a visit of protocol {study.protocol.acronym} "
                           f"(visits: {', '.join(v for v, _ in known_visits)})", visit)
    if size < 1:
        raise InvalidValue("size", "must be 1 or more", size)
    repeating = {f.id for f in study.protocol.forms if f.repeating}
    with study.reading(actor) as session:
        sites = _site_codes(study, session)
        query = _visible(study, session, select(Patient.id))
        if site is not None:
            query = query.where(Patient.site_id == study.site(session, site).id)
        if status is not None:
            query = query.where(_state_filter(study, session, status, visit))
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page, pages = _page_numbers(total, page, size)
        ids = list(session.scalars(query.order_by(Patient.subject_id).offset((page - 1) * size).limit(size)))
        codes = dict(session.execute(select(Site.id, Site.code)).all())
        patients = {p.id: p for p in session.scalars(select(Patient).where(Patient.id.in_(ids)))} if ids else {}
        statuses = patients_visits(study, session, [patients[pid] for pid in ids], today)
        rows = []
        for pid in ids:
            patient = patients[pid]
            row = GridRow(patient.subject_id, codes.get(patient.site_id, "?"), patient.status)
            for v in statuses[pid]:
                if visit is not None and v.visit_id != visit:
                    continue
                for f in v.forms:
                    row.cells.setdefault((v.visit_id, f.form_id), []).append(GridIcon(
                        v.visit_id, v.occurrence, f.form_id, f.instance, f.status, f.open_queries,
                        f.form_id in repeating))
            for icons in row.cells.values():
                icons.sort(key=lambda i: (i.occurrence, i.instance))
            rows.append(row)
    columns = _columns(study, visit)
    shown = {(c.visit_id, c.form_id) for c in columns}
    names = {f.id: f.name for f in study.protocol.forms}
    extra = sorted({key for r in rows for key in r.cells if key not in shown and key[0] == UNSCHEDULED},
                   key=lambda k: [f.id for f in study.protocol.forms].index(k[1]) if study.protocol.has_form(k[1]) else 99)
    columns += [GridColumn(UNSCHEDULED, "Unscheduled", f, names.get(f, f)) for _, f in extra]
    return GridPage(columns, rows, total, page, pages, size, sites, known_visits, site, status, visit)


# --------------------------------------------------------------------------- the patient list
@dataclass(frozen=True)
class PatientSummary:
    subject: str
    site: str
    status: str
    sex: str
    year_of_birth: int
    enrolment_date: dt.date | None
    histotype: str | None
    grade: str | None
    stage: str | None
    r_status: str | None


@dataclass
class PatientList:
    rows: list[PatientSummary]
    total: int
    page: int
    pages: int
    size: int
    search: str | None
    statuses: list[str]
    status: str | None


def patient_list(study: StudyDB, actor: Actor | None, *, search: str | None = None, status: str | None = None,
                 page: int = 1, size: int = PAGE_SIZE) -> PatientList:
    """One page of the patients the user may see (by subject id), optionally those whose subject
    id contains ``search`` or with a pathway ``status``; pseudonymised: no identifier."""
    from sarcotrial.services.views import load_patients

    search = (search or "").strip().upper() or None
    status = (status or "").strip() or None
    with study.reading(actor) as session:
        statuses = list(session.scalars(_visible(study, session, select(Patient.status).distinct()
                                                 .order_by(Patient.status))))
        query = _visible(study, session, select(Patient.subject_id))
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.upper(Patient.subject_id).like(f"%{escaped}%", escape="\\"))
        if status:
            query = query.where(Patient.status == status)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page, pages = _page_numbers(total, page, size)
        subjects = list(session.scalars(query.order_by(Patient.subject_id).offset((page - 1) * size).limit(size)))
        records = {r.subject_id: r for r in load_patients(study, session, subject_ids=subjects, details=False,
                                                          forms=("diagnosis", "pathology"))} if subjects else {}
        rows = []
        for subject in subjects:
            record = records[subject]
            diagnosis, pathology = record.first("diagnosis"), record.first("pathology")
            rows.append(PatientSummary(
                record.subject_id, record.site, record.status, record.sex, record.year_of_birth,
                record.enrolment_date,
                _shown(diagnosis, "histotype"), diagnosis.derived.get("grade") if diagnosis else None,
                diagnosis.derived.get("stage") if diagnosis else None,
                pathology.derived.get("r_status") if pathology else None))
    return PatientList(rows, total, page, pages, size, search, statuses, status)


def _shown(crf, name: str):
    """A value as listings show it: the value, or its missing-data code."""
    if crf is None:
        return None
    value = crf.values.get(name)
    return value if value is not None else crf.missing.get(name)


# --------------------------------------------------------------------------- the patient page
@dataclass(frozen=True)
class TimelineItem:
    day: dt.date | None
    step: str            # referral / screening / consent / enrolment / radiotherapy / plan_qa / surgery /
    #                      pathology / follow_up / adverse_event / wound / event / withdrawal / end_of_study / other
    label: str
    detail: str
    form_id: str | None = None
    visit_ref: str | None = None
    instance: int | None = None
    repeating: bool = False
    flag: str | None = None  # ok / warn / bad: how the item is marked


@dataclass(frozen=True)
class EndpointView:
    id: str
    name: str
    status: str          # event / censored / competing event
    time_days: int
    time_months: float
    reason: str


@dataclass
class PatientOverview:
    subject: str
    site: str
    status: str
    sex: str
    year_of_birth: int
    enrolment_date: dt.date | None
    consent_date: dt.date | None
    enrolment_sequence: int | None
    timeline: list[TimelineItem]
    derived: list[tuple[str, str]]        # (label, value): grade, stage, margin, response
    endpoints: list[EndpointView]
    proportions: list[tuple[str, str]]    # (label, value): R0, pCR, major wound complication
    visits: list[Any]                     # visits.VisitStatus
    deviations: list[dict[str, Any]]
    open_queries: int


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("_", " ")


def _date_of(crf, form) -> dt.date | None:
    for f in form.fields:
        if f.type in ("date", "datetime") and crf.values.get(f.id) is not None:
            day = crf.values[f.id]
            return day.date() if isinstance(day, dt.datetime) else day
    return None


def _timeline(study: StudyDB, record) -> list[TimelineItem]:
    protocol = study.protocol
    items: list[TimelineItem] = []
    repeating = {f.id for f in protocol.forms if f.repeating}

    def item(day, step, label, detail, crf=None, flag=None):
        items.append(TimelineItem(day, step, label, detail, crf.form_id if crf else None,
                                  f"{crf.visit_id}:{crf.occurrence}" if crf else None, crf.instance if crf else None,
                                  bool(crf and crf.form_id in repeating), flag))

    handled = set()
    referral = record.first("referral")
    if referral is not None:
        handled.add("referral")
        item(referral.values.get("referral_date"), "referral", "Referral",
             ", ".join(x for x in (_text(referral.values.get("referring_specialty")),
                                   _text(_shown(referral, "anatomic_site"))) if x), referral)
        if referral.values.get("tumour_board_date"):
            item(referral.values["tumour_board_date"], "referral", "Tumour board",
                 _text(referral.values.get("board_decision")), referral)
    screening_form = protocol.eligibility.form
    screening_crfs = record.of(screening_form)
    handled.add(screening_form)
    for k, sc in enumerate(record.screenings):
        crf = screening_crfs[k] if k < len(screening_crfs) else None
        flag = {"eligible": "ok", "ineligible": "bad"}.get(sc["decision"], "warn")
        item(sc["date"], "screening", "Screening", _text(sc["decision"]) + (
            f": {'; '.join(sc['reasons'])}" if sc["reasons"] else ""), crf, flag)
    if protocol.consent is not None:
        spec = protocol.consent
        handled.add(spec.form)
        for crf in record.of(spec.form):
            detail = f"document version {_text(crf.values.get(spec.version_field))}"
            if spec.data_use_field and crf.values.get(spec.data_use_field) is False:
                detail += "; no consent to the use of the data"
            item(crf.values.get(spec.date_field), "consent", "Consent", detail, crf)
    if record.enrolment_date is not None:
        item(record.enrolment_date, "enrolment", "Enrolment", f"patient {record.enrolment_sequence} of the study; "
             f"consent {record.consent_date}", flag="ok")
    course = record.first("rt_course")
    if course is not None:
        handled.update({"rt_course", "rt_fraction"})
        delivered = record.delivered_dates()
        planned = course.derived.get("planned_fractions")
        item(course.values.get("planned_start"), "radiotherapy", "Radiotherapy course planned",
             _text(course.values.get("calendar")) and f"calendar {course.values.get('calendar')}", course)
        if delivered:
            item(delivered[0], "radiotherapy", "Radiotherapy",
                 f"{len(delivered)} of {planned} fractions delivered, {delivered[0]} to {delivered[-1]}",
                 flag="ok" if planned and len(delivered) >= planned else None)
        for crf in record.of("rt_fraction"):
            if crf.values.get("status") not in (None, "delivered"):
                item(crf.values.get("fraction_date"), "radiotherapy", f"Fraction {crf.values.get('fraction_number')} "
                     f"{_text(crf.values.get('status'))}", _text(crf.values.get("reason")), crf, "warn")
    for qa in record.plan_qa:
        verdict = qa["verdict"]
        item(qa["evaluated_on"], "plan_qa", "Plan QA", verdict,
             flag="ok" if verdict == "per protocol" else "bad" if verdict == "major deviation" else "warn")
    surgery = record.first("surgery")
    if surgery is not None:
        handled.add("surgery")
        residual = surgery.values.get("macroscopic_residual")
        item(surgery.values.get("surgery_date"), "surgery", "Surgery",
             _text(surgery.values.get("procedure")) + ("; macroscopic residual" if residual else ""), surgery)
    pathology = record.first("pathology")
    if pathology is not None:
        handled.add("pathology")
        parts = [pathology.derived.get("r_status") or "R status not derived"]
        if pathology.values.get("closest_margin_mm") is not None:
            parts.append(f"closest margin {_text(pathology.values['closest_margin_mm'])} mm")
        if pathology.derived.get("response_score"):
            parts.append(f"EORTC-STBSG response {pathology.derived['response_score']}")
        if pathology.derived.get("pcr") is not None:
            parts.append(f"pCR {_text(pathology.derived['pcr'])}")
        item(pathology.values.get("report_date"), "pathology", "Pathology", "; ".join(parts), pathology,
             "ok" if pathology.derived.get("r_status") == "R0" else "warn" if pathology.derived.get("r_status") else None)
    for crf in record.of("follow_up"):
        handled.add("follow_up")
        item(crf.values.get("visit_date"), "follow_up", "Follow-up", _text(_shown(crf, "disease_status")), crf)
    for crf in record.of("wound_complication"):
        handled.add("wound_complication")
        major = crf.derived.get("major")
        item(crf.values.get("onset_date"), "wound", "Wound complication",
             "major" if major else "minor" if major is False else "not judged yet", crf, "bad" if major else "warn")
    for crf in record.of("adverse_event"):
        handled.add("adverse_event")
        serious = crf.values.get("serious") is True
        item(crf.values.get("onset_date"), "adverse_event", "Adverse event" + (" (serious)" if serious else ""),
             f"{_text(crf.values.get('term'))} grade {_text(crf.values.get('grade'))}"
             + (f", {crf.derived['phase']}" if crf.derived.get("phase") else ""), crf,
             "bad" if serious or (crf.values.get("grade") or 0) >= 3 else "warn")
    for crf in record.of("outcome_event"):
        handled.add("outcome_event")
        kind = crf.values.get("event_type")
        cause = _shown(crf, "death_cause")
        item(crf.values.get("event_date"), "event", _text(kind).capitalize() or "Event",
             f"cause: {_text(cause)}" if cause else _text(crf.values.get("site_detail")), crf, "bad")
    if protocol.withdrawal is not None:
        spec = protocol.withdrawal
        handled.add(spec.form)
        for crf in record.of(spec.form):
            item(crf.values.get(spec.date_field), "withdrawal", "Withdrawal",
                 f"{_text(crf.values.get(spec.kind_field))}", crf, "bad")
    if protocol.end_of_study is not None:
        spec = protocol.end_of_study
        handled.add(spec.form)
        for crf in record.of(spec.form):
            item(crf.values.get(spec.date_field), "end_of_study", "End of study",
                 _text(crf.values.get(spec.status_field)), crf)
    handled.add("diagnosis")
    diagnosis = record.first("diagnosis")
    if diagnosis is not None:
        item(diagnosis.values.get("diagnosis_date"), "diagnosis", "Diagnosis",
             ", ".join(x for x in (_text(_shown(diagnosis, "histotype")), _text(_shown(diagnosis, "anatomic_site")))
                       if x), diagnosis)
    for form in protocol.forms:  # any other form of the protocol: by its first date
        if form.id in handled:
            continue
        for crf in record.of(form.id):
            item(_date_of(crf, form), "other", form.name, "", crf)
    return sorted(items, key=lambda i: (i.day is None, i.day or dt.date.min))


def _derived(record) -> list[tuple[str, str]]:
    diagnosis, pathology = record.first("diagnosis"), record.first("pathology")
    out = []
    if diagnosis is not None:
        d = diagnosis.derived
        out.append(("Grade (FNCLCC)", f"G{d['grade']}" if d.get("grade") else "not derived"))
        tnm = " ".join(str(d[k]) for k in ("ajcc_t", "ajcc_n", "ajcc_m") if d.get(k))
        out.append(("Stage (AJCC 8th)", (f"{tnm}; " if tnm else "") + (f"stage {d['stage']}" if d.get("stage")
                                                                           else "no stage group")))
    if pathology is not None:
        p, v = pathology.derived, pathology.values
        margin = p.get("r_status") or "not derived"
        if v.get("closest_margin_mm") is not None:
            margin += f", closest margin {_text(v['closest_margin_mm'])} mm"
            if v.get("closest_margin_tissue"):
                margin += f" ({_text(v['closest_margin_tissue'])})"
        out.append(("Margin", margin))
        response = p.get("response_score")
        out.append(("Response (EORTC-STBSG)", (response or "not derived")
                    + ("" if p.get("pcr") is None else f"; pCR {_text(p['pcr'])}")))
    return out


def patient_overview(study: StudyDB, actor: Actor | None, subject_id: str,
                     today: dt.date | None = None) -> PatientOverview:
    """One patient's page: the pathway as a timeline, derived grade, stage, margin, response and
    endpoints, and the visit schedule with windows and form states."""
    return _overview(study, actor, subject_id, today)[0]


def _overview(study: StudyDB, actor: Actor | None, subject_id: str, today: dt.date | None = None):
    """:func:`patient_overview`, with the patient's record, endpoints row (``None`` before enrolment) and
    RECIST 1.1 course (``endpoints.recist_of``; ``None`` without a response section) it read and computed, for
    :func:`patient_page` to use rather than read and compute them again."""
    from sarcotrial.services.endpoints import endpoints_of, recist_of
    from sarcotrial.services.views import load_patients
    from sarcotrial.services.visits import patient_visits

    with study.reading(actor) as session:
        record = load_patients(study, session, subject_id=subject_id)[0]
        patient = study.patient(session, subject_id)
        schedule = patient_visits(study, session, patient, today)
        open_queries = session.scalar(select(func.count(DataQuery.id)).where(
            DataQuery.patient_id == patient.id, DataQuery.status == "open")) or 0
    endpoints: list[EndpointView] = []
    proportions: list[tuple[str, str]] = []
    recist = recist_of(study.protocol, record) if getattr(study.protocol, "response", None) is not None else None
    row = None
    if record.enrolment_date is not None:
        names = {e.id: e.name for e in study.protocol.endpoints}
        row = endpoints_of(study.protocol, record, recist=recist)
        labels = {0: "censored", 1: "event", 2: "competing event"}
        for key, t in row.times.items():
            endpoints.append(EndpointView(key, names.get(key, key), labels.get(t.status, str(t.status)), t.time_days,
                                          t.time_months, t.reason))
        proportions = [("R0 (resected)", _yes_no(row.r0_resected)), ("R0 (intention to treat)", _yes_no(row.r0_itt)),
                       ("pCR", _yes_no(row.pcr)), ("Major wound complication", _yes_no(row.major_wound_complication))]
    info = PatientOverview(record.subject_id, record.site, record.status, record.sex, record.year_of_birth,
                           record.enrolment_date, record.consent_date, record.enrolment_sequence,
                           _timeline(study, record), _derived(record), endpoints, proportions, schedule,
                           record.deviations, open_queries)
    return info, record, row, recist


def _yes_no(value: int | None) -> str:
    return "not applicable yet" if value is None else "yes" if value else "no"



# --------------------------------------------------------------------------- the patient page, by protocol
#: SPRINT's proportion endpoints and the rows of the patient page that show them (label, PatientEndpoints field)
_PROPORTION_ROWS = {
    "r0_rate": (("R0 (resected)", "r0_resected"), ("R0 (intention to treat)", "r0_itt")),
    "pcr_rate": (("pCR", "pcr"),),
    "major_wound_complication": (("Major wound complication", "major_wound_complication"),),
}
#: the diagnosis form's fields the FNCLCC grade (Coindre 2006) and the AJCC 8th stage are derived from
_FNCLCC_FIELDS = ("fnclcc_differentiation", "mitoses_per_10hpf", "necrosis_percent")
_AJCC_FIELDS = ("size_cm", "clinical_n", "clinical_m")


@dataclass(frozen=True)
class ArmView:
    """The arm allocated to the patient (a protocol that randomises)."""

    arm: str
    name: str
    number: int
    allocated_on: dt.date | None
    strata: dict[str, str]


@dataclass
class ProtocolPanels:
    """What the patient page shows beside :class:`PatientOverview`, as the protocol declares it: the
    radiotherapy tab (``treatment.radiotherapy``), the further radiotherapy courses
    (``treatment.radiotherapy_courses``), the arm (arms and a randomisation), the systemic course
    (``treatment.systemic.administration``: where it is the study's treatment, or the patient has cycles
    recorded) and the RECIST 1.1 time points (``response``). A ``None`` panel
    is one the protocol does not have; a ``*_problem`` says why a panel the protocol has cannot be computed."""

    radiotherapy: bool = False
    rt_courses: list[Any] | None = None          # rt_courses.CourseView
    randomises: bool = False
    arm: ArmView | None = None
    systemic: bool = False
    course: Any | None = None                    # domain.systemic.CourseSummary
    max_cycles: int | None = None
    course_problem: str | None = None
    response: bool = False
    timepoints: list[Any] = field(default_factory=list)   # domain.recist.TimepointResponse
    best_unconfirmed: Any | None = None          # domain.recist.BestOverallResponse
    best_confirmed: Any | None = None
    response_problem: str | None = None
    response_endpoints: list[ResponseEndpointView] = field(default_factory=list)
    regimen_name: str | None = None
    folded_forms: tuple[str, ...] = ()           # forms shown by a panel rather than one timeline item each


def _diagnosis_rows(protocol, diagnosis, derived: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The derived rows of the diagnosis as the protocol's diagnosis form allows: FNCLCC's grade only where the
    form has FNCLCC's scores, AJCC's stage only where it also has the size and the nodes and metastasis
    categories; a form with a grade field of its own shows the grade as entered, and the ICD-O-3 morphology
    code the histotype resolves to."""
    form = protocol.form("diagnosis") if protocol.has_form("diagnosis") else None
    if form is None or form.field(_FNCLCC_FIELDS[0]) is not None:
        has_ajcc = form is not None and all(form.field(f) is not None for f in _AJCC_FIELDS)
        return [row for row in derived if has_ajcc or row[0] != "Stage (AJCC 8th)"]
    out = [row for row in derived if row[0] not in ("Grade (FNCLCC)", "Stage (AJCC 8th)")]
    if diagnosis is None:
        return out
    grade_field = form.field("grade")
    shown = []
    if grade_field is not None:
        value = _shown(diagnosis, "grade")
        labels = {c.code: c.label for c in protocol.codelists.get(grade_field.codelist or "", [])}
        shown.append((f"{grade_field.label} (as entered)",
                      "not entered" if value is None else labels.get(str(value), _text(value))))
    if diagnosis.derived.get("icdo3"):
        shown.append(("ICD-O-3 morphology", str(diagnosis.derived["icdo3"])))
    return shown + out


@dataclass(frozen=True)
class ResponseEndpointView:
    """A response-rate endpoint of the protocol for one patient: the best overall response by RECIST 1.1
    (section 4.4), unconfirmed and confirmed (Table 3), each with the date first observed and whether the
    patient counts as a responder (CR or PR)."""

    name: str
    rows: tuple[tuple[str, str, dt.date | None, bool], ...]   # (unconfirmed/confirmed, response, date, responder)
    note: str | None


def _proportions(study: StudyDB, row) -> list[tuple[str, str]]:
    """The rows of the protocol's proportion endpoints that SPRINT's page shows (R0, pCR, major wound
    complication), for whichever of them the protocol has."""
    out: list[tuple[str, str]] = []
    for endpoint in study.protocol.endpoints:
        if endpoint.kind == "proportion" and endpoint.id in _PROPORTION_ROWS:
            out += [(label, _yes_no(getattr(row, name))) for label, name in _PROPORTION_ROWS[endpoint.id]]
    return out


def _response_endpoints(study: StudyDB, response_row) -> list[ResponseEndpointView]:
    """The protocol's other proportion endpoints, where it has a RECIST 1.1 ``response`` section: response rates."""
    if getattr(study.protocol, "response", None) is None or response_row is None:
        return []
    r = response_row
    rows = (("unconfirmed", r.best_unconfirmed, r.date_unconfirmed, bool(r.responder_unconfirmed)),
            ("confirmed", r.best_confirmed, r.date_confirmed, bool(r.responder_confirmed)))
    return [ResponseEndpointView(e.name, rows, r.note) for e in study.protocol.endpoints
            if e.kind == "proportion" and e.id not in _PROPORTION_ROWS]


def patient_page(study: StudyDB, actor: Actor | None, subject_id: str,
                 today: dt.date | None = None) -> tuple[PatientOverview, ProtocolPanels]:
    """The patient page of any protocol: :func:`patient_overview` with the derived rows its diagnosis form
    allows and its own proportion endpoints, and the panels of what the protocol has (:class:`ProtocolPanels`).
    SPRINT's page is :func:`patient_overview` unchanged, with its radiotherapy tab (and further courses where a
    patient has one)."""
    from sarcotrial.services.systemic_entry import administration_of
    from sarcotrial.store.models import Allocation

    info, record, row, recist = _overview(study, actor, subject_id, today)
    protocol = study.protocol
    treatment = protocol.treatment
    response = getattr(protocol, "response", None)
    administration = administration_of(protocol)
    courses_section = getattr(treatment, "radiotherapy_courses", None)
    panels = ProtocolPanels(radiotherapy=treatment.radiotherapy is not None)
    if bool(getattr(protocol, "arms", None)) and getattr(protocol, "randomisation", None) is not None:
        panels.randomises = True
        with study.reading(actor) as session:
            patient = study.patient(session, subject_id)
            allocation = session.scalars(select(Allocation).where(Allocation.patient_id == patient.id)).first()
            if allocation is not None:
                names = {a.id: a.name for a in protocol.arms}
                panels.arm = ArmView(allocation.arm, names.get(allocation.arm, allocation.arm), allocation.number,
                                     record.enrolment_date, {k: str(v) for k, v in (allocation.strata or {}).items()})
    info.derived = _diagnosis_rows(protocol, record.first("diagnosis"), info.derived)
    if courses_section is not None:
        from sarcotrial.services.rt_courses import courses_of

        found = courses_of(protocol, record)
        panels.rt_courses = found if found else None
    if administration is not None:
        from sarcotrial.services.systemic_entry import course_summary

        # the study's treatment (no radiotherapy of its own), or cycles recorded beside it (a neoadjuvant course)
        panels.systemic = treatment.radiotherapy is None or bool(record.of(administration.form))
        regimens = [r for r in treatment.systemic.regimens if panels.arm is None or not r.arms
                    or panels.arm.arm in r.arms]
        panels.max_cycles = regimens[0].max_cycles if len(regimens) == 1 else None
        panels.regimen_name = regimens[0].name if len(regimens) == 1 else None
        if record.of(administration.form):
            try:
                panels.course = course_summary(protocol, record, panels.arm.arm if panels.arm else None)
            except InvalidValue as err:
                panels.course_problem = f"{err.field}: {err.rule}"
    response_row = None
    if recist is not None:  # the protocol's response section: the patient's RECIST 1.1 course, computed once
        from sarcotrial.services.endpoints import response_row as row_of

        panels.response = True
        panels.folded_forms = tuple(f for f in (response.lesion_form, response.measurement_form) if f)
        panels.timepoints, panels.best_unconfirmed, panels.best_confirmed, panels.response_problem = recist
        if record.enrolment_date is not None:
            response_row = row_of(record, recist)
    proportions = {e.id for e in protocol.endpoints if e.kind == "proportion"}
    if row is not None and proportions != set(_PROPORTION_ROWS):
        # the protocol's own proportion endpoints (SPRINT's are patient_overview's four rows, left as they are)
        info.proportions = _proportions(study, row)
        panels.response_endpoints = _response_endpoints(study, response_row)
    if panels.folded_forms:
        info.timeline = [t for t in info.timeline if t.form_id not in panels.folded_forms]
    return info, panels

