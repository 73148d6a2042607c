"""Pages: the dashboard (``/``) and its accrual plot (``/dashboard/accrual.png``): enrolment against the
target with the forecast of completion and its predictive band (:mod:`sarcotrial.outcomes.accrual`), of the
patients the user may see, at today."""

from __future__ import annotations

import io

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from sarcotrial.services import overview
from sarcotrial.web.deps import SignedIn, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request, user: SignedIn):
    from sarcotrial.web.pages.board import landing

    elsewhere = landing(user)  # the board's members who read no study data land on the board
    if elsewhere is not None:
        return RedirectResponse(elsewhere, status_code=303)
    study = study_of(request)
    board = overview.dashboard(study, user.actor)
    view, forecast, start_source = overview.accrual_forecast(study, user.actor, as_of=board.today)
    visit_names = {v.id: v.name for v in study.protocol.visits}
    return render(request, "dashboard/index.html", title="Dashboard", board=board, visit_names=visit_names,
                  accrual=forecast, accrual_view=view, accrual_start=start_source,
                  # plan QA judges the protocol's own radiotherapy plans: no card for a protocol without them
                  plan_qa=study.protocol.treatment.radiotherapy is not None)


@router.post("/study")
def switch_study(request: Request, user: SignedIn, study: str = Form(...), next: str = Form("/")):
    """Work in another of the database's studies: the browser's study cookie names it. The unit's
    registry (the board, second opinions) is the same in every study; the study's pages follow the switch.
    A study the database does not run is refused (400), and nothing changes."""
    from sarcotrial.web.deps import STUDY_COOKIE

    root = request.app.state.study
    acronyms = {i.acronym.upper(): i.acronym for i in root.studies()}
    if study.strip().upper() not in acronyms:
        return render(request, "error.html", status_code=400, status=400, title="No such study",
                      message=f"study: this database runs no study {study!r} (it runs {', '.join(acronyms.values())})")
    # back to the page the switch was made on, for a page of every study; a patient's page is of one study
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    if target.startswith(("/patients/", "/ecrf/", "/screening/")):
        target = "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(STUDY_COOKIE, acronyms[study.strip().upper()], httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.get("/dashboard/accrual.png")
def accrual_png(request: Request, user: SignedIn):
    """Cumulative enrolment of the patients the user may see, against the protocol's target, with the forecast's
    median and predictive band beyond today and the planned end of enrolment."""
    from sarcotrial.report import figures

    view, forecast, _ = overview.accrual_forecast(study_of(request), user.actor)
    dates, target = view.dates, view.target
    buffer = io.BytesIO()
    with figures.DRAWING:
        fig = figures.accrual(dates, target, title=f"Accrual: {forecast.enrolled} of {target} enrolled",
                              forecast=forecast)
        try:
            fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        finally:
            figures.plt.close(fig)
    return Response(buffer.getvalue(), media_type="image/png")
