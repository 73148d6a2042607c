"""The tumour board's tables: meetings, attendance, cases, decisions and their signatures; second
opinions and their documents (``services/board.py``, ``services/second_opinion.py``).

Every table is a :class:`~sarcotrial.store.models.StudyRecord`, so the audit trail records each
value like study data. A case and a second opinion hang from the unit's :class:`Patient` row (the
registry patient, ``patient register``): a patient later screened or enrolled keeps one identity.
Imported at the end of :mod:`sarcotrial.store.models`, so the metadata, the migrations' comparison
and the audit's replay all see these tables.

A second opinion's documents are kept in the database (``second_opinion_document.content``), not in
a folder beside it: a document then commits in the same transaction as its checksum and its audit
entry, is in every backup of the study, and is served alike by every worker of a PostgreSQL
installation, which has no folder "beside the database". The audit trail records each document's
SHA-256 and size rather than its bytes; a read recomputes the SHA-256, so a document changed around
SarcoTrial is named.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sarcotrial.store.models import StudyRecord


class BoardMeeting(StudyRecord):
    """A meeting of the multidisciplinary tumour board: its date, its site, and the quorum rule in
    force when it was recorded (the ``tumour_board_quorum`` setting, kept so that a later change of
    the setting does not change what an earlier meeting was held to)."""

    __tablename__ = "board_meeting"
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    meeting_date: Mapped[dt.date] = mapped_column(Date)
    quorum_rule: Mapped[str] = mapped_column(Text)  # comma-separated disciplines
    note: Mapped[str | None] = mapped_column(Text)


class BoardAttendee(StudyRecord):
    """A member present at a meeting, with the discipline they attend as (``domain/board.py``).

    The rule is one name once per meeting whatever its case ("Dr Ray Rad" is "dr ray rad"): the service
    (``services/board.py``, ``attend``) checks it inside its serialised write. The unique constraint below
    compares names as stored (case-sensitively on SQLite and PostgreSQL) and is only a backstop under
    that rule; it is left so, as making it case-insensitive would need a migration and nothing can pass
    the service's check with a name differing only in case."""

    __tablename__ = "board_attendee"
    meeting_id: Mapped[int] = mapped_column(ForeignKey("board_meeting.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    discipline: Mapped[str] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(128))  # the member's account, when they have one
    __table_args__ = (UniqueConstraint("meeting_id", "name"), {"sqlite_autoincrement": True})


class BoardCase(StudyRecord):
    """A patient put to a meeting: the question asked, and the imaging and pathology as presented.
    ``position`` is its place on the agenda, numbered by the service inside its serialised write."""

    __tablename__ = "board_case"
    meeting_id: Mapped[int] = mapped_column(ForeignKey("board_meeting.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    imaging_summary: Mapped[str | None] = mapped_column(Text)
    pathology_summary: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("meeting_id", "patient_id"), {"sqlite_autoincrement": True})


class BoardDecision(StudyRecord):
    """The board's decision on a case: the strategy (``domain/board.py``), its rationale, the
    physician responsible, and whether the patient is to be screened for the study (the screening
    it opened, when it did)."""

    __tablename__ = "board_decision"
    case_id: Mapped[int] = mapped_column(ForeignKey("board_case.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    strategy: Mapped[str] = mapped_column(String(64))
    rationale: Mapped[str] = mapped_column(Text)
    responsible_physician: Mapped[str] = mapped_column(String(200))
    screen_for_study: Mapped[bool] = mapped_column(Boolean, default=False)
    screening_id: Mapped[int | None] = mapped_column(ForeignKey("screening.id"))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    audit_workflow = ("screening_id", "revision")


class BoardSignature(StudyRecord):
    """An electronic signature on a board decision (21 CFR 11.50, 11.70), as on a CRF
    (:class:`~sarcotrial.store.models.Signature`): printed name, time, meaning, and the SHA-256 of
    the values signed; a correction of the case or the decision voids it, visibly."""

    __tablename__ = "board_signature"
    decision_id: Mapped[int] = mapped_column(ForeignKey("board_decision.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    signer: Mapped[str] = mapped_column(String(128))
    printed_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    values_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # valid / voided
    voided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    voided_reason: Mapped[str | None] = mapped_column(Text)
    audit_workflow = ("status", "voided_at", "voided_reason")


class SecondOpinion(StudyRecord):
    """An external request for a second opinion on a registry patient: who referred it, when it was
    received, the question, and the review (pathology or imaging) with its outcome and report date."""

    __tablename__ = "second_opinion"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # pathology / imaging
    referring_centre: Mapped[str] = mapped_column(String(200))
    received_date: Mapped[dt.date] = mapped_column(Date)
    question: Mapped[str] = mapped_column(Text)
    review: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(16))  # confirmed / revised / not_assessable
    revised_histotype: Mapped[str | None] = mapped_column(String(64))
    revised_grade: Mapped[int | None] = mapped_column(Integer)
    report_date: Mapped[dt.date | None] = mapped_column(Date)


class SecondOpinionDocument(StudyRecord):
    """A document sent with a request (a PDF or an image): its bytes, size and SHA-256."""

    __tablename__ = "second_opinion_document"
    second_opinion_id: Mapped[int] = mapped_column(ForeignKey("second_opinion.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    # the trail keeps the checksum and the size, not the bytes
    audit_exclude = ("id", "created_at", "protocol_version", "content")
