"""The multidisciplinary tumour board: meetings, attendance, cases, decisions, signatures and minutes.

The clinical rules (disciplines, the quorum rule, the strategies) are in :mod:`sarcotrial.domain.board`
(ESMO-EURACAN-GENTURIS guidelines, Gronchi et al., Ann Oncol 2021); this module stores what they
return. Every write is one :meth:`StudyDB.action` under the permission of the discipline that writes it
(``domain/access.py``: ``board.meeting``, ``board.imaging``, ``board.pathology``, ``board.decide``,
``board.sign``), so the audit trail records who wrote each part of a case.

- A meeting keeps the quorum rule in force when it was recorded (the ``tumour_board_quorum``
  setting); its quorum is judged from the members present. A meeting without quorum is recorded
  all the same, shows "no quorum", and each of its decisions carries the flag.
- A case is a registered patient (the unit's registry patient: the same row a later screening or
  enrolment uses), a question, and the imaging and pathology summaries.
- A decision may ask that the patient be screened for the study: the screening is opened through
  :func:`sarcotrial.services.pathway.screen` (the meeting's date as the screening date, and whatever
  screening answers are given), by a user who may screen; otherwise it waits for one
  (:func:`open_screening`). The decision is the board's and is kept whatever becomes of the screening:
  it commits first, and a screening that pathway then refuses (a screening date before the referral,
  a consent date after the screening, an age that disagrees with the year of birth, a lock) is
  reported with the decision (:attr:`DecisionResult.screening_refused`: "decision #n recorded;
  screening refused: ...") and stays to be opened, corrected, by :func:`open_screening`. Checking
  pathway's conditions before the decision would mean a second copy of them here (pathway checks
  them inside its own transaction and has no separate check to call), and a board decision must not
  be lost because a screening answer is wrong. The screening's link to the decision is written in the
  transaction after the screening's own: :func:`sarcotrial.services.pathway.screen` opens and commits
  its transaction itself and takes nothing to write with it.
- Every check that decides a write is made inside the write's transaction, which
  :meth:`StudyDB.action` serialises (one writer at a time, on SQLite and on PostgreSQL): whether a
  changed summary needs a reason, whether a member is already present, a case's position on the
  agenda (the largest + 1, so two cases added at once never share one).
- Decisions are signed as CRFs are (:func:`sarcotrial.services.review.before_signing` and
  :func:`~sarcotrial.services.review.signer`: the password entered again, a meaning, a user account;
  21 CFR 11.50, 11.70, 11.100, 11.200). The signature is bound to the SHA-256 of the case and the
  decision (:func:`sarcotrial.domain.board.decision_signed_values`); a later correction of either voids
  it, naming the change.
- The minutes (:func:`write_minutes`) are one PDF naming patients by subject id only, unless an
  identified print is asked by a role that reads identifiers (each patient's identifiers read is then
  logged as ``patient identify`` logs it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sarcotrial.domain import access as access_rules
from sarcotrial.domain import board as rules
from sarcotrial.domain import crf as crf_rules
from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store import audit
from sarcotrial.store.models import IdentifierAccess, Patient, PatientIdentifier, Site, utcnow
from sarcotrial.store.models_board import BoardAttendee, BoardCase, BoardDecision, BoardMeeting, BoardSignature

#: the parts of a case, the permission that writes each, and its label
CASE_PARTS: dict[str, tuple[str, str]] = {
    "question": ("board.meeting", "question"),
    "imaging": ("board.imaging", "imaging summary"),
    "pathology": ("board.pathology", "pathology summary"),
}
_PART_COLUMN = {"question": "question", "imaging": "imaging_summary", "pathology": "pathology_summary"}
MAX_TEXT = 20000


def _text(value: str | None, field_name: str, *, required: bool = True) -> str | None:
    clean = (value or "").strip()
    if not clean:
        if required:
            raise InvalidValue(field_name, "must not be empty")
        return None
    if len(clean) > MAX_TEXT:
        raise InvalidValue(field_name, f"must be at most {MAX_TEXT} characters", show_value=False)
    return clean


def _name(value: str | None, field_name: str) -> str:
    clean = " ".join((value or "").split())
    if not clean:
        raise InvalidValue(field_name, "must not be empty")
    if len(clean) > 200:
        raise InvalidValue(field_name, "must be at most 200 characters", show_value=False)
    return clean


# --------------------------------------------------------------------------- finding rows
def _meeting(study: StudyDB, session: Session, meeting_id: int) -> BoardMeeting:
    """A meeting of a site the principal sees (another site's meeting is answered as an unknown id)."""
    row = session.get(BoardMeeting, meeting_id)
    visible = study.visible_site_ids(session)
    if row is None or (visible is not None and row.site_id not in visible):
        raise InvalidValue("meeting", "no such board meeting", meeting_id)
    return row


def _readable_meeting(study: StudyDB, session: Session, meeting_id: int) -> BoardMeeting:
    """A meeting the principal may read: one of their sites', or one that discussed a patient of their
    sites (a site's patients are often discussed at the main site's board); else an unknown id."""
    row = session.get(BoardMeeting, meeting_id)
    visible = study.visible_site_ids(session)
    if row is not None and visible is not None and row.site_id not in visible:
        seen = session.scalar(select(func.count()).select_from(BoardCase).join(Patient, Patient.id == BoardCase.patient_id)
                              .where(BoardCase.meeting_id == row.id, Patient.site_id.in_(visible)))
        row = row if seen else None
    if row is None:
        raise InvalidValue("meeting", "no such board meeting", meeting_id)
    return row


def _case(study: StudyDB, session: Session, case_id: int) -> BoardCase:
    row = session.get(BoardCase, case_id)
    if row is None:
        raise InvalidValue("case", "no such board case", case_id)
    _meeting(study, session, row.meeting_id)
    patient = session.get(Patient, row.patient_id)
    visible = study.visible_site_ids(session)
    if visible is not None and patient.site_id not in visible:
        raise InvalidValue("case", "no such board case", case_id)
    return row


def _decision(session: Session, case: BoardCase) -> BoardDecision | None:
    return session.scalars(select(BoardDecision).where(BoardDecision.case_id == case.id)).first()


def _quorum_rule(text: str) -> tuple[str, ...]:
    return tuple(part for part in (text or "").split(",") if part)


def _meeting_quorum(session: Session, meeting: BoardMeeting) -> rules.Quorum:
    present = session.scalars(select(BoardAttendee.discipline).where(BoardAttendee.meeting_id == meeting.id)).all()
    return rules.quorum(present, _quorum_rule(meeting.quorum_rule))


# --------------------------------------------------------------------------- meetings
def record_meeting(study: StudyDB, actor: Actor, meeting_date: dt.date, *, site_code: str = "MAIN",
                   note: str | None = None) -> "MeetingView":
    """Record a board meeting (a date, a site); the quorum rule of the day is kept with it. Returns the
    meeting as recorded (read in the same transaction: one sign-in, one action)."""
    from sarcotrial.services import access

    note = _text(note, "note", required=False)
    with study.action(actor, permission="board.meeting") as session:
        site = study.site(session, site_code)
        required = access.setting(session, "tumour_board_quorum")
        row = BoardMeeting(site_id=site.id, meeting_date=meeting_date, quorum_rule=",".join(required), note=note)
        session.add(row)
        session.flush()
        return _view(study, session, row)


def new_meeting(study: StudyDB, actor: Actor, meeting_date: dt.date, *, site_code: str = "MAIN",
                note: str | None = None) -> int:
    """Record a board meeting (:func:`record_meeting`); returns its id."""
    return record_meeting(study, actor, meeting_date, site_code=site_code, note=note).id


def attend(study: StudyDB, actor: Actor, meeting_id: int, name: str, discipline: str, *,
           username: str | None = None) -> rules.Quorum:
    """A member present at a meeting, in their discipline; returns the meeting's quorum now.

    A name is present once per meeting whatever its case ("Dr Ray Rad" and "dr ray rad" are one person):
    this check, made inside the serialised write, is the rule. The table's unique constraint on
    (meeting, name) compares names as stored, case-sensitively, and is only a backstop under it."""
    who = _name(name, "name")
    kind = rules.discipline(discipline)
    account = (username or "").strip().lower() or None
    with study.action(actor, permission="board.meeting") as session:
        meeting = _meeting(study, session, meeting_id)
        clash = session.scalars(select(BoardAttendee).where(BoardAttendee.meeting_id == meeting.id,
                                                            func.lower(BoardAttendee.name) == who.lower())).first()
        if clash is not None:
            raise InvalidValue("name", f"is already recorded as present at meeting #{meeting.id} "
                               f"({rules.DISCIPLINES[clash.discipline].lower()})", who)
        if account is not None:
            from sarcotrial.store.models import User

            if session.scalars(select(User).where(User.username == account)).first() is None:
                raise InvalidValue("username", "no such account in this study", account)
        session.add(BoardAttendee(meeting_id=meeting.id, name=who, discipline=kind, username=account))
        session.flush()
        return _meeting_quorum(session, meeting)


def add_case(study: StudyDB, actor: Actor, meeting_id: int, subject_id: str, question: str) -> int:
    """Put a registered patient to a meeting with a question; returns the case's id."""
    asked = _text(question, "question")
    with study.action(actor, permission="board.meeting") as session:
        meeting = _meeting(study, session, meeting_id)
        patient = study.patient(session, subject_id)
        if session.scalars(select(BoardCase).where(BoardCase.meeting_id == meeting.id,
                                                   BoardCase.patient_id == patient.id)).first() is not None:
            raise InvalidValue("case", f"{patient.subject_id} is already on the list of meeting #{meeting.id}",
                               show_value=False)
        # read inside the write transaction, which StudyDB.action serialises (BEGIN IMMEDIATE on SQLite, the
        # write advisory lock on PostgreSQL, as subject ids are numbered): two cases added at once queue, and
        # the second reads the first's position
        position = (session.scalar(select(func.max(BoardCase.position)).where(
            BoardCase.meeting_id == meeting.id)) or 0) + 1
        row = BoardCase(meeting_id=meeting.id, patient_id=patient.id, position=position, question=asked)
        session.add(row)
        session.flush()
        return row.id


def write_case(study: StudyDB, actor: Actor, case_id: int, part: str, text: str, *, reason: str | None = None) -> int:
    """Write a part of a case: ``question`` (board.meeting), ``imaging`` summary (board.imaging: the
    radiologist), ``pathology`` summary (board.pathology: the pathologist). A part already written is
    changed only with a reason, and the change voids the decision's signatures. Returns how many were voided."""
    if part not in CASE_PARTS:
        raise InvalidValue("part", f"must be one of {', '.join(CASE_PARTS)}", part)
    permission, label = CASE_PARTS[part]
    clean = _text(text, label.replace(" ", "_"))
    column = _PART_COLUMN[part]
    with study.action(actor, reason, permission=permission) as session:
        case = _case(study, session, case_id)
        before = getattr(case, column)
        # decided here, in the serialised write: a text written meanwhile by another user is a change
        if before is not None and not (reason or "").strip():
            raise InvalidValue("reason", f"a reason is required to change the {label} already entered",
                               show_value=False)
        if before == clean:
            raise InvalidValue(label.replace(" ", "_"), "is unchanged", show_value=False)
        if before is None:
            # the first entry of a summary is not a change of data already entered: no reason of the user's
            session.info[audit.INFO_REASON] = f"{label} entered"
        setattr(case, column, clean)
        voided = 0
        if before is not None:
            decision = _decision(session, case)
            if decision is not None:
                voided = _void(session, decision, f"the {label}", study.principal(session), actor)
        session.flush()
        return voided


# --------------------------------------------------------------------------- decisions
@dataclass(frozen=True)
class DecisionResult:
    decision_id: int
    screening_id: int | None
    screening_decision: str | None       # eligible / ineligible / not_evaluable, when screening was opened now
    screening_pending: bool              # asked for, to be opened (by a user who may screen)
    screening_refused: str | None = None  # why pathway refused the screening just tried (the decision is kept)

    def describe(self) -> str:
        """One line: the decision recorded, and what became of the screening asked for."""
        text = f"decision #{self.decision_id} recorded"
        if self.screening_id is not None:
            text += f"; screening #{self.screening_id} opened ({(self.screening_decision or '').replace('_', ' ')})"
        elif self.screening_refused:
            text += f"; screening refused: {self.screening_refused}"
        elif self.screening_pending:
            text += "; screening for the study to be opened by the site staff"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"decision": self.decision_id, "screening": self.screening_id,
                "screening_decision": self.screening_decision, "screening_pending": self.screening_pending,
                "screening_refused": self.screening_refused}


def _may(actor: Actor, permission: str) -> bool:
    return actor.role is None or access_rules.allowed(actor.role, permission)


def decide(study: StudyDB, actor: Actor, case_id: int, *, strategy: str, rationale: str, responsible_physician: str,
           screen_for_study: bool = False, screening: Mapping[str, Any] | None = None,
           today: dt.date | None = None) -> DecisionResult:
    """Record the board's decision on a case. With ``screen_for_study``, the patient's screening is
    opened at once when the user may screen (``patient.screen``), else left to one who may.

    The decision commits first and is kept: a screening that pathway then refuses is returned in
    ``screening_refused`` (still pending, for :func:`open_screening` once corrected), not raised."""
    chosen = rules.strategy(strategy)
    why = _text(rationale, "rationale")
    physician = _name(responsible_physician, "responsible_physician")
    if screening and not screen_for_study:
        raise InvalidValue("screening", "screening answers go with 'screen for the study'", show_value=False)
    if screen_for_study and screening:
        from sarcotrial.protocol.forms import validate_form

        validate_form(study.protocol, study.protocol.eligibility.form, dict(screening), partial=True)
    day = today or dt.date.today()
    with study.action(actor, permission="board.decide") as session:
        case = _case(study, session, case_id)
        meeting = session.get(BoardMeeting, case.meeting_id)
        if meeting.meeting_date > day:
            raise InvalidValue("decision", f"the meeting is on {meeting.meeting_date.isoformat()}: a decision is "
                               "recorded once the board has met", show_value=False)
        if _decision(session, case) is not None:
            raise InvalidValue("decision", f"case #{case.id} is decided already; correct the decision instead",
                               show_value=False)
        if screen_for_study:
            _check_screenable(study, session, case)
        row = BoardDecision(case_id=case.id, patient_id=case.patient_id, strategy=chosen, rationale=why,
                            responsible_physician=physician, screen_for_study=bool(screen_for_study), revision=1)
        session.add(row)
        session.flush()
        decision_id = row.id
    if screen_for_study and _may(actor, "patient.screen"):
        return open_screening(study, actor, case_id, screening or {}, report_refusal=True)
    return DecisionResult(decision_id, None, None, bool(screen_for_study))


def _check_screenable(study: StudyDB, session: Session, case: BoardCase) -> None:
    """A decision may ask for screening only where the patient can still be screened and the study still
    takes patients (the case file says "closed to accrual" of the same study)."""
    from sarcotrial.services.pathway import SCREENING_CLOSED
    from sarcotrial.services.registry import closed_to_accrual

    from sarcotrial.services.pathway import person_rows

    patient = session.get(Patient, case.patient_id)
    here = [r for r in person_rows(session, patient) if r.study_id == study.study_id]
    patient = here[0] if here else patient  # not yet in this study: screening takes them in
    if patient.status in SCREENING_CLOSED:
        raise InvalidValue("screen_for_study", f"{patient.subject_id} is {patient.status}; screening is closed",
                           show_value=False)
    closed = closed_to_accrual(study, session)
    if closed:
        raise InvalidValue("screen_for_study", f"{study.protocol.acronym} takes no patient now: {closed}",
                           show_value=False)


def open_screening(study: StudyDB, actor: Actor, case_id: int, screening: Mapping[str, Any] | None = None, *,
                   report_refusal: bool = False) -> DecisionResult:
    """Open the screening a decision asked for, through the pathway service (``patient.screen``): the
    meeting's date is the screening date unless another is given; the screening is linked to the decision
    (in the transaction after the screening's: :func:`sarcotrial.services.pathway.screen` commits its own).
    ``report_refusal``: pathway's refusal of the screening is returned in ``screening_refused`` (nothing of
    the screening written) instead of raised."""
    with study.reading(actor, permission="board.read") as session:
        case = _case(study, session, case_id)
        decision = _decision(session, case)
        if decision is None or not decision.screen_for_study:
            raise InvalidValue("case", f"case #{case_id} has no decision asking for screening", show_value=False)
        if decision.screening_id is not None:
            raise InvalidValue("case", f"case #{case_id}: the screening was opened already (#{decision.screening_id})",
                               show_value=False)
        subject = session.get(Patient, case.patient_id).subject_id
        meeting_date = session.get(BoardMeeting, case.meeting_id).meeting_date
        decision_id = decision.id
    from sarcotrial.services import pathway

    values = {"screening_date": meeting_date.isoformat(), **dict(screening or {})}
    try:
        subject = pathway.subject_in_study(study, actor, subject)  # a registry patient of another study: taken in
        result = pathway.screen(study, actor, subject, values)
    except (InvalidValue, AccessDenied) as refused:
        if not report_refusal:
            raise
        return DecisionResult(decision_id, None, None, True, screening_refused=str(refused))
    with study.action(actor, "screening opened by the board's decision", permission="patient.screen") as session:
        row = session.get(BoardDecision, decision_id)
        row.screening_id = result.id
    return DecisionResult(decision_id, result.id, result.decision, False)


def correct_decision(study: StudyDB, actor: Actor, case_id: int, reason: str, *, strategy: str | None = None,
                     rationale: str | None = None, responsible_physician: str | None = None) -> int:
    """Correct a decision (a reason is required); its valid signatures are voided. Returns how many."""
    if not reason or not reason.strip():
        raise InvalidValue("reason", "a reason is required to correct a decision", show_value=False)
    changes: dict[str, str] = {}
    if strategy is not None:
        changes["strategy"] = rules.strategy(strategy)
    if rationale is not None:
        changes["rationale"] = _text(rationale, "rationale")
    if responsible_physician is not None:
        changes["responsible_physician"] = _name(responsible_physician, "responsible_physician")
    if not changes:
        raise InvalidValue("decision", "give the strategy, the rationale or the responsible physician to correct",
                           show_value=False)
    with study.action(actor, reason, permission="board.decide") as session:
        case = _case(study, session, case_id)
        row = _decision(session, case)
        if row is None:
            raise InvalidValue("case", f"case #{case_id} has no decision to correct", show_value=False)
        changed = [k for k, v in changes.items() if getattr(row, k) != v]
        if not changed:
            raise InvalidValue("decision", "the correction changes nothing", show_value=False)
        for key in changed:
            setattr(row, key, changes[key])
        row.revision = (row.revision or 1) + 1
        voided = _void(session, row, "the decision's " + ", ".join(k.replace("_", " ") for k in changed),
                       study.principal(session), actor)
        session.flush()
        return voided


def _void(session: Session, decision: BoardDecision, what: str, principal, actor: Actor) -> int:
    who = principal.username if principal is not None else actor.name
    now = utcnow()
    count = 0
    for signature in session.scalars(select(BoardSignature).where(BoardSignature.decision_id == decision.id,
                                                                  BoardSignature.status == "valid")):
        signature.status = "voided"
        signature.voided_at = now
        signature.voided_reason = f"signature voided by the change of {what} by {who} at {now:%Y-%m-%d %H:%M} UTC"
        count += 1
    return count


def _signed_hash(session: Session, case: BoardCase, decision: BoardDecision) -> str:
    patient = session.get(Patient, case.patient_id)
    meeting = session.get(BoardMeeting, case.meeting_id)
    values = rules.decision_signed_values(
        subject_id=patient.subject_id, meeting_date=meeting.meeting_date, question=case.question,
        imaging_summary=case.imaging_summary, pathology_summary=case.pathology_summary, strategy_id=decision.strategy,
        rationale=decision.rationale, responsible_physician=decision.responsible_physician,
        screen_for_study=decision.screen_for_study)
    return crf_rules.signed_values_hash([(f"board_decision/{decision.id}", values)])


@dataclass(frozen=True)
class SignedDecision:
    """A signature just made: the case, its patient's subject id, and the signature as it reads."""

    case_id: int
    subject: str
    signature: "BoardSignatureView"

    @property
    def id(self) -> int:
        return self.signature.id


def sign_decision(study: StudyDB, actor: Actor, case_id: int, password: str, meaning: str, *,
                  now: dt.datetime | None = None) -> SignedDecision:
    """Sign a case's decision electronically, as a CRF is signed; returns the signature as made."""
    from sarcotrial.services import review

    meaning = review.before_signing(study, actor, password, meaning)
    with study.action(actor, f"signed: {meaning}", permission="board.sign") as session:
        principal = review.signer(study, session)
        case = _case(study, session, case_id)
        decision = _decision(session, case)
        if decision is None:
            raise InvalidValue("case", f"case #{case_id} has no decision to sign", show_value=False)
        mine = session.scalars(select(BoardSignature).where(
            BoardSignature.decision_id == decision.id, BoardSignature.status == "valid",
            BoardSignature.signer == principal.username)).first()
        if mine is not None:
            raise InvalidValue("signature", f"already signed by you at {mine.signed_at:%Y-%m-%d %H:%M} UTC",
                               show_value=False)
        row = BoardSignature(decision_id=decision.id, patient_id=case.patient_id, signer=principal.username,
                             printed_name=principal.full_name or principal.username, meaning=meaning,
                             signed_at=now or utcnow(), values_hash=_signed_hash(session, case, decision),
                             status="valid")
        session.add(row)
        session.flush()
        subject = session.get(Patient, case.patient_id).subject_id
        return SignedDecision(case.id, subject, BoardSignatureView(row.id, row.printed_name, row.signer, row.meaning,
                                                                   _aware(row.signed_at), row.status, None))


# --------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class BoardSignatureView:
    id: int
    printed_name: str
    signer: str
    meaning: str
    signed_at: dt.datetime
    status: str                 # valid / voided / broken (the values no longer match, changed around SarcoTrial)
    voided_reason: str | None

    def manifestation(self) -> str:
        """How the signature reads on screen and in the minutes (21 CFR 11.50)."""
        text = f"Signed by {self.printed_name} ({self.signer}) on {self.signed_at:%Y-%m-%d %H:%M} UTC: {self.meaning}"
        if self.status == "voided":
            text += f" - VOID: {self.voided_reason}"
        elif self.status == "broken":
            text += " - INVALID: the signed values no longer match (changed around SarcoTrial)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "printed_name": self.printed_name, "signer": self.signer, "meaning": self.meaning,
                "signed_at": self.signed_at.isoformat(), "status": self.status, "voided_reason": self.voided_reason,
                "manifestation": self.manifestation()}


@dataclass(frozen=True)
class DecisionView:
    id: int
    strategy: str
    strategy_label: str
    rationale: str
    responsible_physician: str
    screen_for_study: bool
    screening_id: int | None
    revision: int
    flags: tuple[str, ...]
    signatures: tuple[BoardSignatureView, ...]

    @property
    def signed(self) -> bool:
        return any(s.status == "valid" for s in self.signatures)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "strategy": self.strategy, "strategy_label": self.strategy_label,
                "rationale": self.rationale, "responsible_physician": self.responsible_physician,
                "screen_for_study": self.screen_for_study, "screening_id": self.screening_id,
                "revision": self.revision, "flags": list(self.flags), "signed": self.signed,
                "signatures": [s.as_dict() for s in self.signatures]}


@dataclass(frozen=True)
class CaseView:
    id: int
    position: int
    subject: str
    question: str
    imaging_summary: str | None
    pathology_summary: str | None
    decision: DecisionView | None
    patient_name: str | None = None  # only in an identified print

    def as_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "position": self.position, "subject": self.subject, "question": self.question,
               "imaging_summary": self.imaging_summary, "pathology_summary": self.pathology_summary,
               "decision": self.decision.as_dict() if self.decision else None}
        if self.patient_name is not None:
            out["patient_name"] = self.patient_name
        return out


@dataclass(frozen=True)
class Attendee:
    name: str
    discipline: str
    username: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "discipline": self.discipline, "username": self.username}


@dataclass(frozen=True)
class MeetingView:
    id: int
    meeting_date: dt.date
    site: str
    note: str | None
    attendees: tuple[Attendee, ...]
    quorum: rules.Quorum
    cases: tuple[CaseView, ...] = field(default_factory=tuple)
    #: cases of patients of sites the reader does not see: counted, never shown
    hidden: int = 0

    @property
    def hidden_note(self) -> str | None:
        if not self.hidden:
            return None
        return (f"{self.hidden} case{'s' if self.hidden != 1 else ''} of patients of other sites "
                f"{'are' if self.hidden != 1 else 'is'} not shown")

    @property
    def planned(self) -> bool:
        """A meeting still to come: its attendance (and so its quorum) is not known yet."""
        return self.meeting_date > dt.date.today()

    @property
    def decided(self) -> int:
        return sum(c.decision is not None for c in self.cases)

    @property
    def signed(self) -> int:
        return sum(c.decision is not None and c.decision.signed for c in self.cases)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "date": self.meeting_date.isoformat(), "site": self.site, "note": self.note,
                "attendees": [a.as_dict() for a in self.attendees], "quorum": self.quorum.as_dict(),
                "cases": [c.as_dict() for c in self.cases], "cases_of_other_sites_not_shown": self.hidden,
                "decided": self.decided, "signed": self.signed}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _view(study: StudyDB, session: Session, meeting: BoardMeeting, names: Mapping[int, str] | None = None) -> MeetingView:
    attendees = session.scalars(select(BoardAttendee).where(BoardAttendee.meeting_id == meeting.id)
                                .order_by(BoardAttendee.id)).all()
    held = rules.quorum([a.discipline for a in attendees], _quorum_rule(meeting.quorum_rule))
    flags = rules.decision_flags(held.met)
    cases = []
    hidden = 0
    visible = study.visible_site_ids(session)
    for case in session.scalars(select(BoardCase).where(BoardCase.meeting_id == meeting.id).order_by(BoardCase.position)):
        patient = session.get(Patient, case.patient_id)
        if visible is not None and patient.site_id not in visible:
            hidden += 1  # a patient of a site the reader does not see: counted, not shown
            continue
        decision = _decision(session, case)
        shown = None
        if decision is not None:
            current = _signed_hash(session, case, decision)
            signatures = []
            for s in session.scalars(select(BoardSignature).where(BoardSignature.decision_id == decision.id)
                                     .order_by(BoardSignature.id)):
                status = "broken" if s.status == "valid" and s.values_hash != current else s.status
                signatures.append(BoardSignatureView(s.id, s.printed_name, s.signer, s.meaning, _aware(s.signed_at),
                                                     status, s.voided_reason))
            shown = DecisionView(decision.id, decision.strategy, rules.STRATEGIES.get(decision.strategy, decision.strategy),
                                 decision.rationale, decision.responsible_physician, decision.screen_for_study,
                                 decision.screening_id, decision.revision, flags, tuple(signatures))
        cases.append(CaseView(case.id, case.position, patient.subject_id, case.question, case.imaging_summary,
                              case.pathology_summary, shown, (names or {}).get(patient.id)))
    site = session.get(Site, meeting.site_id)
    return MeetingView(meeting.id, meeting.meeting_date, site.code, meeting.note,
                       tuple(Attendee(a.name, a.discipline, a.username) for a in attendees), held, tuple(cases), hidden)


def meeting(study: StudyDB, actor: Actor | None, meeting_id: int) -> MeetingView:
    """One meeting: who was present, the quorum, and each case with its decision and signatures."""
    with study.reading(actor, permission="board.read") as session:
        return _view(study, session, _readable_meeting(study, session, meeting_id))


def meetings(study: StudyDB, actor: Actor | None, *, site: str | None = None) -> list[MeetingView]:
    """Every meeting of the user's sites (newest first), optionally of one site."""
    with study.reading(actor, permission="board.read") as session:
        query = select(BoardMeeting).order_by(BoardMeeting.meeting_date.desc(), BoardMeeting.id.desc())
        visible = study.visible_site_ids(session)
        if visible is not None:  # their sites' meetings, and those that discussed a patient of their sites
            discussed = (select(BoardCase.meeting_id).join(Patient, Patient.id == BoardCase.patient_id)
                         .where(Patient.site_id.in_(visible)))
            query = query.where(BoardMeeting.site_id.in_(visible) | BoardMeeting.id.in_(discussed))
        if site:
            query = query.where(BoardMeeting.site_id == study.site(session, site).id)
        return [_view(study, session, row) for row in session.scalars(query)]


def patient_cases(study: StudyDB, actor: Actor | None, subject_id: str) -> list[tuple[dt.date, CaseView]]:
    """A patient's board history: every case (with the meeting's date), oldest first."""
    with study.reading(actor, permission="board.read") as session:
        patient = study.patient(session, subject_id)
        out = []
        for case in session.scalars(select(BoardCase).where(BoardCase.patient_id == patient.id)):
            meeting_row = session.get(BoardMeeting, case.meeting_id)
            view = _view(study, session, meeting_row)
            out.extend((meeting_row.meeting_date, c) for c in view.cases if c.id == case.id)
        return sorted(out, key=lambda pair: (pair[0], pair[1].id))


# --------------------------------------------------------------------------- minutes
def minutes_view(study: StudyDB, actor: Actor, meeting_id: int, *, identified: bool = False) -> MeetingView:
    """The meeting as the minutes print it. ``identified``: with each patient's name, for a role that reads
    identifiers (``read.identifiers``); each reading is logged as ``patient identify`` logs it."""
    if not identified:
        return meeting(study, actor, meeting_id)
    cipher = study.cipher()
    with study.action(actor, permission="board.read") as session:
        study.require(session, "read.identifiers")
        row = _readable_meeting(study, session, meeting_id)
        patient_ids = session.scalars(select(BoardCase.patient_id).where(BoardCase.meeting_id == row.id)).all()
        visible = study.visible_site_ids(session)
        names = {}
        for pid in patient_ids:
            patient = session.get(Patient, pid)
            if visible is not None and patient.site_id not in visible:
                continue
            ident = session.scalars(select(PatientIdentifier).where(PatientIdentifier.patient_id == pid)).first()
            if ident is None:
                continue
            names[pid] = cipher.decrypt(ident.full_name_enc)
            session.add(IdentifierAccess(patient_id=pid, purpose=f"tumour board minutes, meeting #{row.id}"))
        return _view(study, session, row, names)


def minutes_document(view: MeetingView, *, study_name: str = ""):
    """The minutes as a publishing document (rendered to PDF by :func:`sarcotrial.publishing.pdf.render`)."""
    from sarcotrial.publishing.document import Document, Section, Table

    identified = any(c.patient_name for c in view.cases)
    present = Section("People present")
    if view.attendees:
        present.table(Table(["Name", "Discipline"], [[a.name, rules.DISCIPLINES.get(a.discipline, a.discipline)]
                                                     for a in view.attendees], align=["l", "l"], widths=[0.55, 0.45]))
    else:
        present.text("No one is recorded as present.")
    present.text(("Quorum met" if view.quorum.met else "No quorum") + ": " + view.quorum.describe().split(": ", 1)[1] + ".")
    sections = [present]
    for case in view.cases:
        title = f"Case {case.position}: {case.subject}" + (f" ({case.patient_name})" if case.patient_name else "")
        section = Section(title)
        rows = [["Question", case.question], ["Imaging", case.imaging_summary or "not given"],
                ["Pathology", case.pathology_summary or "not given"]]
        d = case.decision
        if d is None:
            rows.append(["Decision", "not recorded"])
        else:
            rows += [["Decision", d.strategy_label], ["Rationale", d.rationale],
                     ["Responsible physician", d.responsible_physician]]
            if d.screen_for_study:
                rows.append(["Study", "to be screened for the study" + (
                    f" (screening #{d.screening_id})" if d.screening_id else " (screening not yet opened)")])
            if d.flags:
                rows.append(["Flag", "; ".join(d.flags)])
            rows += [["Signature", s.manifestation()] for s in d.signatures] or [["Signature", "not signed"]]
        section.table(Table(["Item", "Content"], rows, align=["l", "l"], widths=[0.25, 0.75]))
        sections.append(section)
    if view.hidden_note:
        sections.append(Section("Cases of other sites").text(
            f"{view.hidden_note[0].upper()}{view.hidden_note[1:]}: these minutes are those the reader's sites may see."))
    elif not view.cases:
        sections.append(Section("Cases").text("No case was put to this meeting."))
    banner = None if view.quorum.met else "No quorum: the decisions of this meeting were taken without quorum."
    what = "identified print: patients' names shown" if identified else "patients by subject id only"
    return Document(title=f"Tumour board minutes: {view.meeting_date:%d %B %Y}",
                    subtitle=f"Meeting #{view.id}, site {view.site}{' - ' + study_name if study_name else ''}; "
                             f"{what}." + (f" {view.note}" if view.note else ""),
                    banner=banner, sections=sections,
                    footer=f"Tumour board meeting #{view.id}, {view.meeting_date.isoformat()}, printed "
                           f"{utcnow():%Y-%m-%d %H:%M} UTC" + (" - CONFIDENTIAL: identified" if identified else ""))


def write_minutes(study: StudyDB, actor: Actor, meeting_id: int, out: Path, *, identified: bool = False) -> MeetingView:
    """Write the minutes of a meeting as one PDF at ``out``; returns what was printed."""
    from sarcotrial.publishing import pdf

    view = minutes_view(study, actor, meeting_id, identified=identified)
    pdf.render(minutes_document(view, study_name=study.protocol.acronym), Path(out))
    return view
