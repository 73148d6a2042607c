"""Pages: the dashboard (to be filled)."""

from fastapi import APIRouter, Request

from sarcotrial.web.deps import SignedIn
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request, user: SignedIn):
    return render(request, "dashboard.html", title="Dashboard")
