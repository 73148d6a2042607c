"""Pages: the record status grid (``/grid``): patients x visits x forms, each cell the states of
the form's instances, filtered by site, state and visit, one page of patients at a time."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sarcotrial.errors import InvalidValue
from sarcotrial.services import overview
from sarcotrial.web.deps import SignedIn, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

#: how each state is named in the legend and the filter
STATE_LABELS = {"expected": "expected (no data yet)", "incomplete": "incomplete", "complete": "entered",
                "verified": "verified", "signed": "signed", "locked": "locked", "not_done": "not done",
                "query": "open query"}
#: the symbol of each state (the colour comes from the shared ``status-<state>`` classes)
GLYPHS = {"expected": "○", "incomplete": "◐", "complete": "●", "verified": "✓", "signed": "✎", "locked": "■",
          "not_done": "–", "query": "?"}
#: icons shown in one cell before the rest are summarised (a repeating form with many instances)
CELL_ICONS = 4


@router.get("/grid")
def grid(request: Request, user: SignedIn, site: str | None = None, status: str | None = None,
         visit: str | None = None, page: str | None = None):
    study = study_of(request)
    error = None
    try:
        number = int(page) if page not in (None, "") else 1
    except ValueError:
        number, error = 1, InvalidValue("page", "must be a whole number", page)
    result = None
    if error is None:
        try:
            result = overview.grid(study, user.actor, site=site, status=status, visit=visit, page=number)
        except InvalidValue as exc:
            error = exc
    if result is None:  # a filter the grid cannot apply: the message beside it, the unfiltered grid below
        result = overview.grid(study, user.actor, site=site if getattr(error, "field", None) != "site" else None)
    return render(request, "grid/index.html", status_code=422 if error else 200, title="Record status", grid=result,
                  labels=STATE_LABELS, glyphs=GLYPHS, cell_icons=CELL_ICONS, error=error, asked={"site": site or "", "status": status or "",
                                                           "visit": visit or ""})
