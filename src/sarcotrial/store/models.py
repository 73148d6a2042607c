"""The study database: SQLAlchemy 2 models.

Every table of study data derives from :class:`StudyRecord`, which is what the audit trail
watches (:mod:`sarcotrial.store.audit`): each create, update and delete of such a row writes one
audit entry per field. Each row keeps the protocol version it was entered under. Direct
identifiers live apart, encrypted, in :class:`PatientIdentifier`; every other table knows a
patient only by the pseudonymised subject id (``SPR-001``).

Schema changes go through Alembic migrations (``store/migrations``), never ``create_all``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON}


class StudyRecord(Base):
    """Study data: audited field by field, stamped with the protocol version it was entered under."""

    __abstract__ = True
    # ids are never reused after a delete (SQLite reuses the highest rowid otherwise), so an audit
    # entry's "table #id" always names one record
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    protocol_version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    #: columns the audit trail does not repeat in each entry (bookkeeping, not data)
    audit_exclude: tuple[str, ...] = ("id", "created_at", "protocol_version")
    #: columns whose values the audit trail must not reveal (ciphertext: only a fingerprint is kept)
    audit_secret: tuple[str, ...] = ()
    #: columns a service moves as a consequence of another action (a patient's status after
    #: screening or enrolment): audited, with the action as the reason, but no user reason asked
    audit_workflow: tuple[str, ...] = ()


# --------------------------------------------------------------------------- study and people
class ProtocolVersion(Base):
    """The exact protocol text a study was bound to (and later amendments)."""

    __tablename__ = "protocol_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    acronym: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    bound_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    bound_by: Mapped[str] = mapped_column(String(128))
    __table_args__ = (UniqueConstraint("acronym", "version"),)


class Study(Base):
    """One study per database: which protocol it runs, and a check value for the identifier key."""

    __tablename__ = "study"
    id: Mapped[int] = mapped_column(primary_key=True)
    acronym: Mapped[str] = mapped_column(String(32))
    protocol_version_id: Mapped[int] = mapped_column(ForeignKey("protocol_version.id"))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    key_check: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    protocol: Mapped[ProtocolVersion] = relationship()


class Site(StudyRecord):
    __tablename__ = "site"
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class User(StudyRecord):
    """A person who works on the study (the web application signs them in; the CLI names them)."""

    __tablename__ = "app_user"
    username: Mapped[str] = mapped_column(String(128), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(64))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))


class Patient(StudyRecord):
    """A person in the pathway, known by a pseudonymised subject id only."""

    __tablename__ = "patient"
    subject_id: Mapped[str] = mapped_column(String(32), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    sex: Mapped[str] = mapped_column(String(8))
    year_of_birth: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)

    site: Mapped[Site] = relationship()
    audit_workflow = ("status",)


class PatientIdentifier(StudyRecord):
    """Direct identifiers, encrypted at rest (Fernet); ``hospital_number_index`` is a keyed hash for look-up."""

    __tablename__ = "patient_identifier"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), unique=True)
    full_name_enc: Mapped[str] = mapped_column(Text)
    date_of_birth_enc: Mapped[str] = mapped_column(Text)
    hospital_number_enc: Mapped[str] = mapped_column(Text)
    hospital_number_index: Mapped[str] = mapped_column(String(64), unique=True)
    audit_secret = ("full_name_enc", "date_of_birth_enc", "hospital_number_enc", "hospital_number_index")


class IdentifierAccess(StudyRecord):
    """Someone read a patient's direct identifiers (``patient identify``): who, when, for what purpose."""

    __tablename__ = "identifier_access"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    purpose: Mapped[str] = mapped_column(Text)


# --------------------------------------------------------------------------- pathway
class Referral(StudyRecord):
    """A tumour-board case: the referral that brings a patient to the trial's attention."""

    __tablename__ = "referral"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    referral_date: Mapped[dt.date] = mapped_column(Date)
    tumour_board_date: Mapped[dt.date | None] = mapped_column(Date)
    referring_specialty: Mapped[str | None] = mapped_column(String(32))
    anatomic_site: Mapped[str] = mapped_column(String(32))
    suspected_histotype: Mapped[str | None] = mapped_column(String(64))
    board_decision: Mapped[str | None] = mapped_column(String(32))


class Screening(StudyRecord):
    __tablename__ = "screening"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    screening_date: Mapped[dt.date] = mapped_column(Date)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision: Mapped[str] = mapped_column(String(16))  # eligible / ineligible / not_evaluable
    reasons: Mapped[str] = mapped_column(Text)
    criteria: Mapped[list["ScreeningCriterion"]] = relationship(
        back_populates="screening", order_by="ScreeningCriterion.position", cascade="all, delete-orphan"
    )


class ScreeningCriterion(StudyRecord):
    __tablename__ = "screening_criterion"
    screening_id: Mapped[int] = mapped_column(ForeignKey("screening.id"))
    position: Mapped[int] = mapped_column(Integer)
    criterion_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    result: Mapped[str] = mapped_column(String(16))  # met / not_met / not_evaluable
    reason: Mapped[str] = mapped_column(Text)
    screening: Mapped[Screening] = relationship(back_populates="criteria")


class Enrolment(StudyRecord):
    __tablename__ = "enrolment"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screening.id"))
    enrolment_date: Mapped[dt.date] = mapped_column(Date)
    consent_date: Mapped[dt.date] = mapped_column(Date)
    sequence: Mapped[int] = mapped_column(Integer)


class Diagnosis(StudyRecord):
    __tablename__ = "diagnosis"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True)
    diagnosis_date: Mapped[dt.date] = mapped_column(Date)
    histotype: Mapped[str] = mapped_column(String(64))
    icdo3: Mapped[str | None] = mapped_column(String(8))
    anatomic_site: Mapped[str] = mapped_column(String(32))
    site_detail: Mapped[str | None] = mapped_column(String(200))
    depth: Mapped[str | None] = mapped_column(String(16))
    size_cm: Mapped[float] = mapped_column(Float)
    fnclcc_differentiation: Mapped[int | None] = mapped_column(Integer)
    mitoses_per_10hpf: Mapped[int | None] = mapped_column(Integer)
    necrosis_percent: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(2))  # 1 / 2 / 3 / X
    t_category_given: Mapped[str | None] = mapped_column(String(8))  # as entered, where size alone does not decide
    t_category: Mapped[str] = mapped_column(String(8))  # AJCC 8 T, derived
    n_category: Mapped[str] = mapped_column(String(4))
    m_category: Mapped[str] = mapped_column(String(4))
    stage: Mapped[str | None] = mapped_column(String(8))
    ecog: Mapped[int | None] = mapped_column(Integer)


# --------------------------------------------------------------------------- treatment
class RTCourse(StudyRecord):
    __tablename__ = "rt_course"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True)
    planned_start: Mapped[dt.date] = mapped_column(Date)
    planned_fractions: Mapped[int] = mapped_column(Integer)
    calendar: Mapped[str | None] = mapped_column(String(8))
    concurrent_chemotherapy: Mapped[bool | None] = mapped_column(Boolean)
    prescription: Mapped[dict[str, Any]] = mapped_column(JSON)  # {volume: total Gy}
    fractions: Mapped[list["RTFraction"]] = relationship(
        back_populates="course", order_by="RTFraction.fraction_date", cascade="all, delete-orphan"
    )


class RTFraction(StudyRecord):
    __tablename__ = "rt_fraction"
    course_id: Mapped[int] = mapped_column(ForeignKey("rt_course.id"))
    fraction_number: Mapped[int] = mapped_column(Integer)
    fraction_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # delivered / missed / rescheduled
    reason: Mapped[str | None] = mapped_column(Text)
    doses_gy: Mapped[dict[str, Any]] = mapped_column(JSON)  # {volume: Gy delivered}
    course: Mapped[RTCourse] = relationship(back_populates="fractions")


class Surgery(StudyRecord):
    __tablename__ = "surgery"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True)
    surgery_date: Mapped[dt.date] = mapped_column(Date)
    procedure: Mapped[str] = mapped_column(String(32))
    macroscopic_residual: Mapped[bool] = mapped_column(Boolean)
    vascular_reconstruction: Mapped[bool | None] = mapped_column(Boolean)
    nerve_resection: Mapped[bool | None] = mapped_column(Boolean)


class Pathology(StudyRecord):
    __tablename__ = "pathology"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True)
    surgery_id: Mapped[int] = mapped_column(ForeignKey("surgery.id"))
    report_date: Mapped[dt.date] = mapped_column(Date)
    microscopic_margin_positive: Mapped[bool] = mapped_column(Boolean)
    r_status: Mapped[str] = mapped_column(String(2))
    closest_margin_mm: Mapped[float | None] = mapped_column(Float)
    closest_margin_tissue: Mapped[str | None] = mapped_column(String(32))
    planned_positive_margin: Mapped[bool | None] = mapped_column(Boolean)
    viable_percent: Mapped[float] = mapped_column(Float)
    response_score: Mapped[str] = mapped_column(String(1))
    pcr: Mapped[bool] = mapped_column(Boolean)
    pcr_definition: Mapped[str] = mapped_column(Text)
    necrosis_percent: Mapped[float | None] = mapped_column(Float)
    fibrosis_percent: Mapped[float | None] = mapped_column(Float)
    # follows the surgery record (macroscopic residual) when that is corrected
    audit_workflow = ("r_status",)


# --------------------------------------------------------------------------- safety and outcomes
class AdverseEvent(StudyRecord):
    __tablename__ = "adverse_event"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    term: Mapped[str] = mapped_column(String(200))
    meddra_code: Mapped[int | None] = mapped_column(Integer)
    soc: Mapped[str | None] = mapped_column(String(200))
    grade: Mapped[int] = mapped_column(Integer)
    ctcae_version: Mapped[str] = mapped_column(String(8))
    onset_date: Mapped[dt.date] = mapped_column(Date)
    resolution_date: Mapped[dt.date | None] = mapped_column(Date)
    serious: Mapped[bool | None] = mapped_column(Boolean)
    attribution: Mapped[str | None] = mapped_column(String(16))
    phase: Mapped[str | None] = mapped_column(String(8))  # acute / late (from the start of RT)
    # follows the radiotherapy log (its first delivered fraction)
    audit_workflow = ("phase",)


class WoundComplication(StudyRecord):
    __tablename__ = "wound_complication"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    surgery_id: Mapped[int] = mapped_column(ForeignKey("surgery.id"))
    onset_date: Mapped[dt.date] = mapped_column(Date)
    secondary_operation: Mapped[bool] = mapped_column(Boolean)
    readmission_for_wound_care: Mapped[bool] = mapped_column(Boolean)
    invasive_procedure_without_anaesthesia: Mapped[bool] = mapped_column(Boolean)
    deep_packing: Mapped[bool] = mapped_column(Boolean)
    prolonged_dressing: Mapped[bool] = mapped_column(Boolean)
    major: Mapped[bool] = mapped_column(Boolean)
    # follows the surgery date
    audit_workflow = ("major",)


class FollowUpVisit(StudyRecord):
    __tablename__ = "follow_up_visit"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    visit_date: Mapped[dt.date] = mapped_column(Date)
    visit_id: Mapped[str | None] = mapped_column(String(64))
    disease_status: Mapped[str] = mapped_column(String(16))
    imaging: Mapped[bool | None] = mapped_column(Boolean)


class OutcomeEvent(StudyRecord):
    """Local relapse, distant metastasis, or death (with its cause)."""

    __tablename__ = "outcome_event"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    event_type: Mapped[str] = mapped_column(String(32))
    event_date: Mapped[dt.date] = mapped_column(Date)
    death_cause: Mapped[str | None] = mapped_column(String(16))
    site_detail: Mapped[str | None] = mapped_column(String(200))


class FormRecord(StudyRecord):
    """A case report form's data as entered, with its status (draft, complete, verified, locked)."""

    __tablename__ = "form_record"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    form_id: Mapped[str] = mapped_column(String(64))
    visit_id: Mapped[str | None] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class PlanQARecord(StudyRecord):
    """A radiotherapy plan judged against the protocol (``sarcotrial plan-qa --db --patient``)."""

    __tablename__ = "plan_qa"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("rt_course.id"))
    evaluated_on: Mapped[dt.date] = mapped_column(Date)
    rtplan_uid: Mapped[str | None] = mapped_column(String(128))
    rtdose_uid: Mapped[str | None] = mapped_column(String(128))
    end_cap: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(32))
    results: Mapped[dict[str, Any]] = mapped_column(JSON)  # objectives, indices, mapping, consistency problems


class ProtocolDeviation(StudyRecord):
    __tablename__ = "protocol_deviation"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    category: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))  # minor / major
    description: Mapped[str] = mapped_column(Text)
    detected_on: Mapped[dt.date] = mapped_column(Date)
    # kept in step with the delivery log by the system when the log changes
    audit_workflow = ("severity", "description")


# --------------------------------------------------------------------------- audit trail
class AuditEntry(Base):
    """One field of one record changed by one person at one moment. Append-only, hash-chained."""

    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))  # ISO 8601 UTC, kept as text so the hash is exact
    actor: Mapped[str] = mapped_column(String(128))
    actor_source: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(8))  # create / update / delete
    table_name: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int] = mapped_column(Integer)
    subject_id: Mapped[str | None] = mapped_column(String(32), index=True)
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    protocol_version: Mapped[str | None] = mapped_column(String(32))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last entry: lets ``audit verify`` notice entries cut from the end."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


def audited_models() -> list[type[StudyRecord]]:
    return [m.class_ for m in Base.registry.mappers if issubclass(m.class_, StudyRecord)]


# --------------------------------------------------------------------------- reference data
class CtcaeGradeDefinition(Base):
    """NCI's grade definitions, loaded by ``sarcotrial ctcae import`` (the spreadsheet is not shipped)."""

    __tablename__ = "ctcae_grade_definition"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(8))
    meddra_code: Mapped[int] = mapped_column(Integer)
    soc: Mapped[str] = mapped_column(String(200))
    term: Mapped[str] = mapped_column(String(200), index=True)
    grade: Mapped[int] = mapped_column(Integer)
    definition: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(128))
    source_sha256: Mapped[str] = mapped_column(String(64))
    __table_args__ = (UniqueConstraint("version", "term", "grade"),)
