"""Pages: the dashboard (``/``) and its accrual plot (``/dashboard/accrual.png``)."""

from __future__ import annotations

import io

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sarcotrial.services import overview
from sarcotrial.web.deps import SignedIn, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request, user: SignedIn):
    study = study_of(request)
    board = overview.dashboard(study, user.actor)
    visit_names = {v.id: v.name for v in study.protocol.visits}
    return render(request, "dashboard/index.html", title="Dashboard", board=board, visit_names=visit_names)


@router.get("/dashboard/accrual.png")
def accrual_png(request: Request, user: SignedIn):
    """Cumulative enrolment of the patients the user may see, against the protocol's target."""
    from sarcotrial.report import figures

    dates, target = overview.accrual(study_of(request), user.actor)
    buffer = io.BytesIO()
    with figures.DRAWING:
        fig = figures.accrual(dates, target, title=f"Accrual: {len(dates)} of {target} enrolled")
        try:
            fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        finally:
            figures.plt.close(fig)
    return Response(buffer.getvalue(), media_type="image/png")
