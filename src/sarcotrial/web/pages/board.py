"""Pages: the multidisciplinary tumour board: its meetings (``/board``), a meeting with its agenda,
attendance, quorum, cases, decisions and signatures (``/board/meetings/{id}``, with the minutes as a PDF),
a patient's case file (``/board/patients/{subject}``) and the second opinions (``/board/second-opinions``).

The clinical rules are the services' and the domain's: the quorum rule and the strategies
(:mod:`sarcotrial.domain.board`, after the ESMO-EURACAN-GENTURIS guidelines, Gronchi et al., Ann Oncol
2021;32:1348-1365), the molecular interpretation (WHO 2020), the Chompret (Bougeard et al., J Clin Oncol
2015) and NF1 (Legius et al., Genet Med 2021) criteria, the risk models and the trial match
(``services/registry.py``), the rate of revised diagnoses with its exact Clopper-Pearson interval
(``services/second_opinion.py``). The services authorise the user inside their unit of work: a refusal is
the application's usual 403 page. This module only lays out what they return, and draws each risk
prediction as an inline SVG (risk 0-100 % against years, a point per horizon of the model joined from 0
at time 0): drawn on the server, because the pages load no script or font from outside the server and
the figure must not depend on one.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from sarcotrial.domain import board as board_rules
from sarcotrial.errors import AccessDenied, InvalidValue, date_rule
from sarcotrial.services import board, registry
from sarcotrial.services import second_opinion as opinions
from sarcotrial.web.deps import SignedIn, WebUser, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

VERDICT_BADGES = {"meets": "ok", "fails": "bad", "may meet": "warn"}
CRITERION_LABELS = {"met": "met", "not_met": "not met", "unknown": "unknown"}
CRITERION_BADGES = {"met": "ok", "not_met": "info", "unknown": "warn"}
SET_BADGES = {"met": "bad", "not_met": "ok", "undecided": "warn", "not_assessed": "info"}
RELATION_BADGES = {"supports": "ok", "contradicts": "bad", "nothing known": "info", "not assessed": "info"}


def landing(user: WebUser) -> str | None:
    """Where a signed-in user lands instead of the dashboard: the board, for its members who read no
    study data (clinician, pathologist, radiologist); ``None`` for everyone else."""
    if user.may("board.read") and not user.may("read"):
        return "/board"
    return None


def _rule(exc: InvalidValue) -> str:
    return str(exc).removeprefix(f"{exc.field}: ")


def _sentence(text: str) -> str:
    """A service's one-line answer as a sentence of the page."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _not_found(exc: InvalidValue, fields: tuple[str, ...]) -> None:
    """An unknown meeting, case or patient (or one of another site's, answered alike) is a 404."""
    if exc.field in fields and exc.rule.startswith("no such"):
        raise HTTPException(404, f"{exc.field}: {exc.rule}") from None


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        raise InvalidValue(name, date_rule(text) if text.strip() else "is required",
                           text if text.strip() else None) from None


# --------------------------------------------------------------------------- the list of meetings
def _sites(request: Request, user: WebUser) -> list[Any]:
    from sarcotrial.services import access

    return [s for s in access.list_sites(study_of(request), user.actor) if not user.sites or s.code in user.sites]


def _board_page(request: Request, user: WebUser, *, typed: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, general: str | None = None, find_value: str = "",
                find_error: str | None = None, status_code: int = 200):
    study = study_of(request)
    rows = board.meetings(study, user.actor)
    sites = _sites(request, user) if user.may("board.meeting") else []
    return render(request, "board/index.html", status_code=status_code, title="Tumour board", meetings=rows,
                  sites=sites, typed=typed or {"meeting_date": dt.date.today().isoformat(),
                                               "site": sites[0].code if len(sites) == 1 else ""},
                  errors=errors or {}, general=general, find_error=find_error, find_value=find_value)


@router.get("/board")
def board_index(request: Request, user: SignedIn):
    return _board_page(request, user)


@router.post("/board/meetings")
def new_meeting(request: Request, user: SignedIn, meeting_date: Annotated[str, Form()] = "",
                site: Annotated[str, Form()] = "", note: Annotated[str, Form()] = ""):
    typed = {"meeting_date": meeting_date, "site": site, "note": note}
    try:
        day = _date(meeting_date, "meeting_date")
        if not site.strip():
            raise InvalidValue("site", "is required", show_value=False)
        meeting_id = board.new_meeting(study_of(request), user.actor, day, site_code=site.strip(), note=note or None)
    except InvalidValue as exc:
        place = {"meeting_date": "meeting_date", "site": "site", "note": "note"}.get(exc.field)
        return _board_page(request, user, typed=typed, errors={place: _rule(exc)} if place else {},
                           general=None if place else str(exc), status_code=422)
    return RedirectResponse(f"/board/meetings/{meeting_id}?done=created", status_code=303)


@router.get("/board/patients")
def find_patient(request: Request, user: SignedIn, subject: str = ""):
    """The case file of the subject id typed in the board's search box."""
    clean = subject.strip().upper()
    if not clean:
        return _board_page(request, user, find_value=subject, find_error="enter a subject id", status_code=422)
    return RedirectResponse(f"/board/patients/{quote(clean)}", status_code=303)


# --------------------------------------------------------------------------- one meeting
DONE = {"created": "The meeting is recorded.", "attendee": "The attendee is recorded.",
        "case": "The case is on the agenda.", "imaging": "The imaging summary is saved.",
        "pathology": "The pathology summary is saved.", "question": "The question is saved.",
        "decided": "The decision is recorded.", "signed": "The decision is signed."}


def _meeting_view(request: Request, user: WebUser, meeting_id: int) -> board.MeetingView:
    try:
        return board.meeting(study_of(request), user.actor, meeting_id)
    except InvalidValue as exc:
        _not_found(exc, ("meeting",))
        raise


def _meeting_page(request: Request, user: WebUser, meeting_id: int, *, typed: dict[str, dict[str, str]] | None = None,
                  errors: dict[str, dict[str, str]] | None = None, general: dict[str, str] | None = None,
                  status_code: int = 200, done: str | None = None):
    view = _meeting_view(request, user, meeting_id)
    done = done or DONE.get(request.query_params.get("done", ""))
    return render(request, "board/meeting.html", status_code=status_code,
                  title=f"Tumour board {view.meeting_date.isoformat()}", m=view, done=done,
                  disciplines=board_rules.DISCIPLINES, strategies=board_rules.STRATEGIES,
                  typed=typed or {}, errors=errors or {}, general=general or {})


@router.get("/board/meetings/{meeting_id}")
def meeting_page(request: Request, user: SignedIn, meeting_id: int):
    return _meeting_page(request, user, meeting_id)


def _form_action(request: Request, user: WebUser, meeting_id: int, key: str, typed: dict[str, str],
                 fields: dict[str, str], action: Callable[[], Any], done: str, anchor: str = ""):
    """Run a service action of the meeting page; a refusal comes back beside its field (422), nothing written."""
    try:
        action()
    except InvalidValue as exc:
        _not_found(exc, ("meeting",))
        place = fields.get(exc.field)
        return _meeting_page(request, user, meeting_id, typed={key: typed},
                             errors={key: {place: _rule(exc)}} if place else {},
                             general={} if place else {key: str(exc)}, status_code=422)
    return RedirectResponse(f"/board/meetings/{meeting_id}?done={done}{anchor}", status_code=303)


@router.post("/board/meetings/{meeting_id}/attendees")
def add_attendee(request: Request, user: SignedIn, meeting_id: int, name: Annotated[str, Form()] = "",
                 discipline: Annotated[str, Form()] = "", username: Annotated[str, Form()] = ""):
    study = study_of(request)
    typed = {"name": name, "discipline": discipline, "username": username}
    return _form_action(request, user, meeting_id, "attend", typed,
                        {"name": "name", "discipline": "discipline", "username": "username"},
                        lambda: board.attend(study, user.actor, meeting_id, name, discipline, username=username or None),
                        "attendee", "#attendees")


@router.post("/board/meetings/{meeting_id}/cases")
def add_case(request: Request, user: SignedIn, meeting_id: int, subject_id: Annotated[str, Form()] = "",
             question: Annotated[str, Form()] = ""):
    study = study_of(request)
    typed = {"subject_id": subject_id, "question": question}

    def act():
        if not subject_id.strip():
            raise InvalidValue("subject_id", "is required (the patient's subject id)", show_value=False)
        board.add_case(study, user.actor, meeting_id, subject_id, question)

    return _form_action(request, user, meeting_id, "case", typed,
                        {"subject_id": "subject_id", "patient": "subject_id", "case": "subject_id",
                         "question": "question"}, act, "case", "#agenda")


def _case_meeting(request: Request, user: WebUser, meeting: str, case_id: int) -> int:
    """The meeting a posted case form came from (its page is shown again); the case must be on it."""
    try:
        meeting_id = int(meeting)
    except ValueError:
        raise HTTPException(404, "no such board meeting") from None
    view = _meeting_view(request, user, meeting_id)
    if not any(c.id == case_id for c in view.cases):
        raise HTTPException(404, f"case: no such board case on meeting #{meeting_id}")
    return meeting_id


@router.post("/board/cases/{case_id}/summary")
def write_summary(request: Request, user: SignedIn, case_id: int, meeting: Annotated[str, Form()] = "",
                  part: Annotated[str, Form()] = "", text: Annotated[str, Form()] = "",
                  reason: Annotated[str, Form()] = ""):
    study = study_of(request)
    meeting_id = _case_meeting(request, user, meeting, case_id)
    if part not in board.CASE_PARTS:
        raise InvalidValue("part", f"must be one of {', '.join(board.CASE_PARTS)}", part)
    label = board.CASE_PARTS[part][1].replace(" ", "_")
    return _form_action(request, user, meeting_id, f"{part}-{case_id}", {"text": text, "reason": reason},
                        {label: "text", "reason": "reason"},
                        lambda: board.write_case(study, user.actor, case_id, part, text, reason=reason or None),
                        part, f"#case-{case_id}")


@router.post("/board/cases/{case_id}/decision")
def decide(request: Request, user: SignedIn, case_id: int, meeting: Annotated[str, Form()] = "",
           strategy: Annotated[str, Form()] = "", rationale: Annotated[str, Form()] = "",
           responsible_physician: Annotated[str, Form()] = "", screen_for_study: Annotated[str, Form()] = ""):
    study = study_of(request)
    meeting_id = _case_meeting(request, user, meeting, case_id)
    typed = {"strategy": strategy, "rationale": rationale, "responsible_physician": responsible_physician,
             "screen_for_study": screen_for_study}
    results: list[board.DecisionResult] = []

    def act():
        results.append(board.decide(study, user.actor, case_id, strategy=strategy, rationale=rationale,
                                    responsible_physician=responsible_physician,
                                    screen_for_study=screen_for_study == "yes"))

    answer = _form_action(request, user, meeting_id, f"decide-{case_id}", typed,
                          {"strategy": "strategy", "rationale": "rationale",
                           "responsible_physician": "responsible_physician", "screen_for_study": "screen_for_study"},
                          act, "decided", f"#case-{case_id}")
    if results and results[0].screening_refused:
        # the decision is recorded and kept (200, not 422); the screening pathway refused is named
        return _meeting_page(request, user, meeting_id,
                             done=_sentence(results[0].describe()) + " The screening can be opened from the patient's "
                                  "case file once corrected.")
    return answer


@router.post("/board/cases/{case_id}/sign")
def sign(request: Request, user: SignedIn, case_id: int, meeting: Annotated[str, Form()] = "",
         meaning: Annotated[str, Form()] = "", password: Annotated[str, Form()] = ""):
    """Sign a decision: the password entered again and a meaning, as a CRF is signed (21 CFR 11.50, 11.200)."""
    study = study_of(request)
    meeting_id = _case_meeting(request, user, meeting, case_id)
    key = f"sign-{case_id}"
    try:
        board.sign_decision(study, user.actor, case_id, password, meaning)
    except InvalidValue as exc:
        place = {"meaning": "meaning", "password": "password"}.get(exc.field)
        return _meeting_page(request, user, meeting_id, typed={key: {"meaning": meaning}},
                             errors={key: {place: _rule(exc)}} if place else {},
                             general={} if place else {key: str(exc)}, status_code=422)
    except AccessDenied as exc:
        if not user.may("board.sign"):
            raise  # the role may not sign: 403, whatever the password
        return _meeting_page(request, user, meeting_id, typed={key: {"meaning": meaning}},
                             errors={key: {"password": str(exc)}}, status_code=422)
    return RedirectResponse(f"/board/meetings/{meeting_id}?done=signed#case-{case_id}", status_code=303)


@router.get("/board/meetings/{meeting_id}/minutes.pdf")
def minutes(request: Request, user: SignedIn, meeting_id: int, identified: str = ""):
    """The minutes as one PDF (``services.board.write_minutes``), written to a temporary file and sent."""
    study = study_of(request)
    named = identified.strip().lower() in ("1", "yes")  # one answer for the print and its file name
    with tempfile.TemporaryDirectory(prefix="sarcotrial-minutes-") as folder:
        out = Path(folder) / "minutes.pdf"
        try:
            view = board.write_minutes(study, user.actor, meeting_id, out, identified=named)
        except InvalidValue as exc:
            _not_found(exc, ("meeting",))
            raise
        content = out.read_bytes()
    name = f"board-minutes-{view.meeting_date.isoformat()}-{view.id}{'-identified' if named else ''}.pdf"
    # minutes name patients (by subject id, or by name): no copy kept by the browser or a proxy
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# --------------------------------------------------------------------------- the case file
@dataclass(frozen=True)
class ChartPoint:
    horizon: float
    risk: float
    x: float
    y: float


@dataclass(frozen=True)
class RiskChart:
    """One prediction laid out for the inline SVG: the plot area, the axes' ticks and the points."""

    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    x_ticks: tuple[tuple[float, float], ...]   # (years, x)
    y_ticks: tuple[tuple[int, float], ...]     # (percent, y)
    points: tuple[ChartPoint, ...]             # the origin first, then one per horizon

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def _year_step(span: float) -> float:
    for step in (1, 2, 5, 10, 20, 50):
        if span / step <= 10:
            return step
    return 100


def risk_chart(risks: dict[float, float], *, width: int = 520, height: int = 260) -> RiskChart:
    """The risk over time of one prediction as the case page draws it: 0 % at time 0, then each horizon's
    risk (a proportion 0-1) in percent, on axes from 0 to the last horizon (years) and 0-100 %."""
    left, top, right, bottom = 56, 14, width - 18, height - 40
    horizons = sorted(risks)
    last = max(horizons) if horizons else 1.0
    step = _year_step(last)
    ticks = []
    year = 0.0
    while year <= last + 1e-9:
        ticks.append(year)
        year += step
    if ticks[-1] < last:
        ticks.append(float(last))

    def x_of(years: float) -> float:
        return left + (right - left) * years / last

    def y_of(risk: float) -> float:
        return bottom - (bottom - top) * max(0.0, min(1.0, risk))

    points = [ChartPoint(0.0, 0.0, x_of(0.0), y_of(0.0))]
    points += [ChartPoint(h, risks[h], x_of(h), y_of(risks[h])) for h in horizons]
    return RiskChart(width, height, left, top, right, bottom, tuple((t, x_of(t)) for t in ticks),
                     tuple((p, y_of(p / 100)) for p in (0, 25, 50, 75, 100)), tuple(points))


def _case_page(request: Request, user: WebUser, subject: str, *, screening_error: str | None = None,
               status_code: int = 200):
    study = study_of(request)
    try:
        file = registry.case_file(study, user.actor, subject)
    except InvalidValue as exc:
        _not_found(exc, ("patient",))
        raise
    meeting_of = {c.id: m.id for m in board.meetings(study, user.actor) for c in m.cases} if file.cases else {}
    entity_ids = {e for item in file.interpretation for e in item.entities}
    names = {e: registry.histotype_name(e) for e in entity_ids}
    charts = [(p, risk_chart(p.risks)) for p in file.predictions]
    return render(request, "board/case.html", status_code=status_code, title=f"Case file {file.subject_id}",
                  f=file, histotype_name=registry.histotype_name(file.histotype), entity_names=names, charts=charts,
                  meeting_of=meeting_of, screening_error=screening_error, verdict_badges=VERDICT_BADGES,
                  criterion_labels=CRITERION_LABELS, criterion_badges=CRITERION_BADGES, set_badges=SET_BADGES,
                  relation_badges=RELATION_BADGES,
                  histotype_names={o.revised_histotype: registry.histotype_name(o.revised_histotype)
                                   for o in file.second_opinions if o.revised_histotype})


@router.get("/board/patients/{subject}")
def case_page(request: Request, user: SignedIn, subject: str):
    return _case_page(request, user, subject)


@router.post("/board/patients/{subject}/screening")
def open_screening(request: Request, user: SignedIn, subject: str):
    """Screen the patient for the study with what is already known filled in, then show the screening
    page, where further answers are added as usual."""
    try:
        registry.open_screening(study_of(request), user.actor, subject)
    except InvalidValue as exc:
        _not_found(exc, ("patient",))
        return _case_page(request, user, subject, screening_error=str(exc), status_code=422)
    return RedirectResponse(f"/screening/{quote(subject.strip().upper())}?done=screened#checklist", status_code=303)


# --------------------------------------------------------------------------- second opinions
@router.get("/board/second-opinions")
def second_opinions(request: Request, user: SignedIn, centre: str = ""):
    study = study_of(request)
    rows = opinions.listing(study, user.actor, centre=centre or None)
    rates = []  # per kind: (centre, requests, its RevisionRate or None while no review has reached an outcome)
    for kind in board_rules.OPINION_KINDS:
        asked: dict[str, int] = {}
        for row in rows:
            if row.kind == kind:
                asked[row.referring_centre] = asked.get(row.referring_centre, 0) + 1
        if asked:
            by_centre = {r.centre: r for r in opinions.revision_rates(rows, kind=kind)}
            rates.append((kind, [(c, n, by_centre.get(c)) for c, n in sorted(asked.items())]))
    centres = sorted({r.referring_centre for r in opinions.listing(study, user.actor, check_documents=False)})
    return render(request, "board/second_opinions.html", title="Second opinions", rows=rows, rates=rates, centres=centres, centre=centre)
