"""Pages: adverse events, the CTCAE v5.0 term search and the safety overview.

- ``GET /ctcae/search?term=words`` (any one query parameter, or ``q``): an htmx fragment listing
  the CTCAE v5.0 terms found for the words a clinician types (word order, British spelling and
  common synonyms: ``domain.ctcae.find_terms``), each a button that puts NCI's term into the
  input ``f-<parameter>`` (``static/ctcae.js``).
- ``GET /ctcae/grades?term=NCI term``: the grades of one term, as CTCAE v5.0 defines them (NCI's
  wording once the study has imported NCI's spreadsheet, else the general grading scale), with
  the grades the term does not allow marked.
- ``GET /safety``: the adverse events of the user's sites with filters, the serious adverse events
  with their reporting clock (``services.safety.serious_events``; Regulation (EU) No 536/2014,
  Art. 41(2)) and, for each patient, a way to report a new event.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from sarcotrial.domain import ctcae
from sarcotrial.errors import InvalidValue
from sarcotrial.services import reference, safety, views
from sarcotrial.web.deps import SignedIn, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

#: how many terms a search offers
SUGGESTIONS = 8
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def _query(request: Request) -> tuple[str, str]:
    """(the searched words, the id of the input the pick goes to): ``q``, else the one parameter."""
    params = request.query_params
    if "q" in params:
        return params.get("q", ""), params.get("target") or "f-term"
    names = [n for n in params if n not in ("target", "csrf_token")]
    name = "term" if "term" in names else (names[0] if names else "term")
    target = params.get("target") or (f"f-{name}" if _FIELD_NAME.fullmatch(name) else "f-term")
    return params.get(name, ""), target


@router.get("/ctcae/search")
def ctcae_search(request: Request, user: SignedIn):
    words, target = _query(request)
    words = " ".join(words.split())
    matches = ctcae.find_terms(words, SUGGESTIONS) if words else []
    return render(request, "adverse_events/_suggestions.html", words=words, matches=matches, target=target)


@router.get("/ctcae/grades")
def ctcae_grades(request: Request, user: SignedIn, term: str = ""):
    try:
        found = ctcae.ctcae_term(term)
    except InvalidValue as exc:
        return render(request, "adverse_events/_grades.html", status_code=422, term=None, typed=term,
                      message=f"{exc.rule}.")
    imported = reference.term_grades(study_of(request), user.actor, found.term)
    grades = [{"grade": g, "allowed": found.allows(g),
               "text": imported.get(g) or (ctcae.GENERAL_GRADES[g] if not imported else "")}
              for g in ctcae.GRADES]
    return render(request, "adverse_events/_grades.html", term=found, typed=term, grades=grades,
                  imported=bool(imported), version=ctcae.CTCAE_VERSION)


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


@router.get("/safety")
def safety_page(request: Request, user: SignedIn, grade: str = "", serious: str = "", term: str = ""):
    study = study_of(request)
    min_grade = _int(grade)
    grade_error = None
    if grade.strip() and (min_grade is None or not 1 <= min_grade <= 5):
        grade_error, min_grade = "Grade: choose a CTCAE grade from 1 to 5.", None
    serious_only = serious in ("1", "on", "yes", "true")
    term = " ".join(term.split())
    events = safety.adverse_events(study, user.actor, min_grade=min_grade, serious_only=serious_only, term=term or None)
    serious_events = safety.serious_events(study, user.actor)
    form_id = safety.event_form(study)
    enrolled = [p for p in views.patients(study, user.actor, forms=(), details=False)
                if p.enrolment_date is not None] if form_id else []
    hours = study.protocol.safety.report_within_hours if study.protocol.safety else None

    def event_url(subject: str, crf_id: int, visit: str) -> str:
        return f"/patients/{subject}/forms/{form_id}?" + urlencode({"visit": visit, "record": crf_id})

    counts: dict[str, int] = {}
    for event in serious_events:
        counts[event.status] = counts.get(event.status, 0) + 1
    return render(
        request, "adverse_events/safety.html", title="Adverse events", events=events, serious_events=serious_events,
        counts=counts, hours=hours, form_id=form_id, enrolled=enrolled, event_url=event_url,
        seriousness=lambda code: safety.seriousness_label(study, code), may_record=user.may("record"),
        filters={"grade": grade.strip(), "serious": serious_only, "term": term},
        grade_error=grade_error, filtered=bool(min_grade or serious_only or term))
