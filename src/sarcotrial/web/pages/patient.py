"""Pages: the patient list (``/patients``) and one patient's page (``/patients/{subject}``): the
pathway as a timeline, derived values and endpoints, the visit schedule; the identifiers shown to
a role allowed, on request, each reading audited (``pathway.identify``).

What the page shows follows the protocol (``overview.patient_page``): the radiotherapy tab only where it
has ``treatment.radiotherapy``, a patient's further courses where it has ``treatment.radiotherapy_courses``;
the arm allocated, the systemic course (relative dose intensity, Hryniuk and Bush, J Clin Oncol
1984;2:1281-1288; the cumulative doxorubicin-equivalent dose and its warning) and the RECIST 1.1 time points
and best overall response (Eisenhauer et al., Eur J Cancer 2009;45:228-247) where it has arms, systemic
regimens and a response section. Every number is the services'; the page only lays them out."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from sarcotrial.errors import InvalidValue
from sarcotrial.services import overview, pathway
from sarcotrial.services.randomisation import factor_labels
from sarcotrial.services.systemic_entry import reason_labels
from sarcotrial.web.deps import SignedIn, study_of, optional_int
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)


def _page_number(page: str | None) -> int:
    return optional_int(page, "page") or 1


def _list(request: Request, user, *, q: str | None, status: str | None, page: str | None,
          hospital_number: str = "", hospital_error: str | None = None, status_code: int = 200):
    study = study_of(request)
    error = None
    try:
        listing = overview.patient_list(study, user.actor, search=q, status=status, page=_page_number(page))
    except InvalidValue as exc:
        error = exc
        listing = overview.patient_list(study, user.actor, search=q, status=status)
        status_code = 422
    return render(request, "patient/list.html", status_code=status_code, title="Patients", listing=listing,
                  q=q or "", error=error, hospital_number=hospital_number, hospital_error=hospital_error)


@router.get("/patients")
def patients(request: Request, user: SignedIn, q: str | None = None, status: str | None = None,
             page: str | None = None):
    return _list(request, user, q=q, status=status, page=page)


@router.post("/patients")
def find_by_hospital_number(request: Request, user: SignedIn, hospital_number: str = Form("")):
    """Find a patient by hospital number (roles allowed to read identifiers): sent in a form, never
    in the address, so that it stays out of logs and the browser history."""
    number = hospital_number.strip()
    if not number:
        return _list(request, user, q=None, status=None, page=None, hospital_number=hospital_number,
                     hospital_error="enter a hospital number", status_code=422)
    subject = pathway.find_by_hospital_number(study_of(request), user.actor, number)
    if subject is None:
        return _list(request, user, q=None, status=None, page=None, hospital_number=hospital_number,
                     hospital_error="no patient of your sites is registered under this hospital number",
                     status_code=404)
    return RedirectResponse(f"/patients/{subject}", status_code=303)


def _patient_page(request: Request, user, subject: str, *, identifiers=None, purpose: str = "",
                  status_code: int = 200):
    study = study_of(request)
    try:
        info, panels = overview.patient_page(study, user.actor, subject)
    except InvalidValue as exc:
        if exc.field == "patient":  # unknown, or another site's: answered alike
            raise HTTPException(404, f"{subject}: {exc.rule}") from None
        raise
    repeating = {f.id for f in study.protocol.forms if f.repeating}
    form_names = {f.id: f.name for f in study.protocol.forms}
    return render(request, "patient/page.html", status_code=status_code, title=info.subject, p=info, x=panels,
                  identifiers=identifiers, purpose=purpose, repeating=repeating, form_names=form_names,
                  factor_names=factor_labels(study.protocol), code_labels=reason_labels(study.protocol))


@router.get("/patients/{subject}")
def patient_page(request: Request, user: SignedIn, subject: str):
    return _patient_page(request, user, subject)


@router.post("/patients/{subject}/identifiers")
def show_identifiers(request: Request, user: SignedIn, subject: str, purpose: str = Form("")):
    """The patient's identifiers, for a role allowed; the service audits the reading (403 otherwise)."""
    found = pathway.identify(study_of(request), user.actor, subject, purpose)
    return _patient_page(request, user, subject, identifiers=found, purpose=purpose)
