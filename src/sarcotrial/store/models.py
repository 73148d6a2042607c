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
    ForeignKey,
    Index,
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
    #: JSON (dict) columns the audit trail records key by key, as ``column.key``
    audit_keyed: tuple[str, ...] = ()


class StudyScoped:
    """A row of one study's data (a study subject, a screening, a visit, a form, a query, a lock, ...),
    as against the unit's registry and accounts, which every study of the database shares.

    A database holds the unit's registry and the studies it runs (``services/study.py``): each unit
    of work is bound to one study, and its reads of these tables see that study's rows only (the
    session's loader criteria, :mod:`sarcotrial.store.scoping`); a new row takes the study of the
    unit of work it is written in. The audit trail does not repeat the study in each entry: an
    entry names the subject, whose id is the study's own (``SPR-001``).
    """

    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    audit_exclude: tuple[str, ...] = ("id", "created_at", "protocol_version", "study_id")


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
    """A study the database runs: which protocol it is bound to, and a check value for the identifier
    key (one key for the database: the registry's identifiers are shared by its studies). The first
    study is the one the database was created with (``init``); ``study add`` adds others."""

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
    """A site (data access group): a user granted sites sees and changes only their patients."""

    __tablename__ = "site"
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class User(StudyRecord):
    """An account (``services/access.py``): who signs in, under which role, export right and sites.

    The password is kept only as an argon2 hash, and the audit trail keeps only a fingerprint of
    that. Sites granted are rows of ``user_site``; none means study-wide.
    """

    __tablename__ = "app_user"
    username: Mapped[str] = mapped_column(String(128), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(64))
    export_right: Mapped[str] = mapped_column(String(16), default="none")
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    # UTC, stored without a zone so that both databases give back the value the audit trail recorded
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=False))

    audit_secret = ("password_hash",)
    # moved by sign-in attempts, not by a person's edit
    audit_workflow = ("failed_sign_ins", "locked_until")


class Patient(StudyScoped, StudyRecord):
    """A person in one study's pathway, known by a pseudonymised subject id only (unique in the
    database: each study has its own prefix).

    The first row of a person is their registry patient: the one the unit's registry (board cases,
    second opinions, molecular findings, predisposition, predictions) and the encrypted identifiers
    hang from. A registry patient taken into another study gets a row there whose
    ``registry_patient_id`` names the first: one person, one identity, a subject id per study.
    """

    __tablename__ = "patient"
    subject_id: Mapped[str] = mapped_column(String(32), unique=True)
    registry_patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    sex: Mapped[str] = mapped_column(String(8))
    year_of_birth: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)

    site: Mapped[Site] = relationship()
    audit_workflow = ("status",)

    @property
    def registry_id(self) -> int:
        """The id of the person's registry patient (this row, unless it is a later study's)."""
        return self.registry_patient_id or self.id


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



class DataExport(StudyScoped, StudyRecord):
    """An export of study data (``sarcotrial export``): who (the audit trail's actor), in which format, at
    which level, of which forms and patients, and the checksum of its manifest (which holds every
    file's checksum). Audited like study data, so the trail shows every export."""

    __tablename__ = "data_export"
    format: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    forms: Mapped[str] = mapped_column(Text)  # comma-separated form ids
    patient_count: Mapped[int] = mapped_column(Integer)
    patients: Mapped[str] = mapped_column(Text)  # subject ids, one per line
    manifest_sha256: Mapped[str] = mapped_column(String(64))

# --------------------------------------------------------------------------- pathway
class Screening(StudyScoped, StudyRecord):
    """An eligibility decision: the screening form it judged (a CRF instance) and a result per criterion."""

    __tablename__ = "screening"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    crf_instance_id: Mapped[int] = mapped_column(ForeignKey("crf_instance.id"))
    screening_date: Mapped[dt.date] = mapped_column(Date)
    decision: Mapped[str] = mapped_column(String(16))  # eligible / ineligible / not_evaluable
    reasons: Mapped[str] = mapped_column(Text)
    criteria: Mapped[list["ScreeningCriterion"]] = relationship(
        back_populates="screening", order_by="ScreeningCriterion.position", cascade="all, delete-orphan"
    )
    # re-judged by the system when a value it read changes (a corrected date of birth, a corrected answer)
    audit_workflow = ("decision", "reasons")


class ScreeningCriterion(StudyScoped, StudyRecord):
    __tablename__ = "screening_criterion"
    screening_id: Mapped[int] = mapped_column(ForeignKey("screening.id"))
    position: Mapped[int] = mapped_column(Integer)
    criterion_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    result: Mapped[str] = mapped_column(String(16))  # met / not_met / not_evaluable
    reason: Mapped[str] = mapped_column(Text)
    screening: Mapped[Screening] = relationship(back_populates="criteria")
    audit_workflow = ("result", "reason")


class Enrolment(StudyScoped, StudyRecord):
    __tablename__ = "enrolment"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screening.id"))
    enrolment_date: Mapped[dt.date] = mapped_column(Date)
    consent_date: Mapped[dt.date] = mapped_column(Date)
    sequence: Mapped[int] = mapped_column(Integer)


# --------------------------------------------------------------------------- collected data
class VisitOccurrence(StudyScoped, StudyRecord):
    """One occurrence of a protocol visit for a patient (``follow_up_early:3``), or the unscheduled visit.

    Scheduled occurrences are planned from the protocol's visit schedule once their anchor exists;
    their target date follows the anchor when it is corrected (audited); the window is the protocol's,
    around the target, so an amended window applies at once. The visit ``unscheduled`` holds event
    forms that belong to no visit (occurrence 1) and the unscheduled visits a user adds on a date
    (occurrences 2, 3, ...).
    """

    __tablename__ = "visit_occurrence"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    visit_id: Mapped[str] = mapped_column(String(64))
    occurrence: Mapped[int] = mapped_column(Integer)
    target_date: Mapped[dt.date | None] = mapped_column(Date)
    label: Mapped[str | None] = mapped_column(String(200))
    __table_args__ = (UniqueConstraint("patient_id", "visit_id", "occurrence"), {"sqlite_autoincrement": True})
    audit_workflow = ("target_date",)


class CRFInstance(StudyScoped, StudyRecord):
    """One case report form of one patient at one visit occurrence (and repeat instance): the unit
    every collected value, query, source-data verification, signature and lock hangs from.

    ``data`` holds the values as entered, keyed by the protocol's field ids; ``derived`` the values
    the clinical rules compute from them (FNCLCC grade, AJCC stage, R status, ...); ``missing`` a
    missing-data code per field (``UNK``, ``ND``, ...); ``verified`` who verified each field against
    source and when. The audit trail records each key of these as its own field
    (``data.size_cm``), so every value has its own history.
    """

    __tablename__ = "crf_instance"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    visit_occurrence_id: Mapped[int] = mapped_column(ForeignKey("visit_occurrence.id"), index=True)
    form_id: Mapped[str] = mapped_column(String(64), index=True)
    instance: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16))  # incomplete / complete / not_done
    not_done_reason: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    derived: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    missing: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verified: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (UniqueConstraint("visit_occurrence_id", "form_id", "instance"), {"sqlite_autoincrement": True})
    #: JSON columns the audit trail records key by key
    audit_keyed = ("data", "derived", "missing", "verified")
    audit_exclude = StudyRecord.audit_exclude  # a form has named its study in the trail from the first
    audit_workflow = ("status", "revision", "derived", "verified")


class DataQuery(StudyScoped, StudyRecord):
    """A query (discrepancy note) on one field of one CRF instance, and where it stands."""

    __tablename__ = "data_query"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    crf_instance_id: Mapped[int] = mapped_column(ForeignKey("crf_instance.id"), index=True)
    field_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # open / answered / closed
    origin: Mapped[str] = mapped_column(String(80))  # manual, or check:<check id>
    text: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(128))
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    assigned_to: Mapped[str | None] = mapped_column(String(128))
    messages: Mapped[list["QueryMessage"]] = relationship(order_by="QueryMessage.id", back_populates="query")
    audit_workflow = ("status",)


class QueryMessage(StudyScoped, StudyRecord):
    """One step of a query's thread: opened, answered (with a resolution), closed, reopened."""

    __tablename__ = "query_message"
    query_id: Mapped[int] = mapped_column(ForeignKey("data_query.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # open / answer / close / reopen
    author: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str | None] = mapped_column(String(16))  # corrected / confirmed / other
    text: Mapped[str] = mapped_column(Text)
    query: Mapped[DataQuery] = relationship(back_populates="messages")


class Signature(StudyScoped, StudyRecord):
    """An electronic signature (21 CFR 11.50, 11.70): on a CRF instance, or on a patient's casebook.

    ``values_hash`` is the SHA-256 of exactly the values signed; a later change to any of them
    voids the signature, visibly and with the change that voided it.
    """

    __tablename__ = "signature"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    crf_instance_id: Mapped[int | None] = mapped_column(ForeignKey("crf_instance.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))  # crf / casebook
    signer: Mapped[str] = mapped_column(String(128))
    printed_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    values_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # valid / voided
    voided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    voided_reason: Mapped[str | None] = mapped_column(Text)
    audit_workflow = ("status", "voided_at", "voided_reason")


class DataLock(StudyScoped, StudyRecord):
    """A lock on a CRF instance, a patient, or the whole study (database lock)."""

    __tablename__ = "data_lock"
    scope: Mapped[str] = mapped_column(String(16))  # crf / patient / study
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"), index=True)
    crf_instance_id: Mapped[int | None] = mapped_column(ForeignKey("crf_instance.id"), index=True)
    locked_by: Mapped[str] = mapped_column(String(128))
    locked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    unlocked_by: Mapped[str | None] = mapped_column(String(128))
    unlocked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    audit_workflow = ()


class PlanQARecord(StudyScoped, StudyRecord):
    """A radiotherapy plan judged against the protocol (``sarcotrial plan-qa --db --patient``)."""

    __tablename__ = "plan_qa"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    crf_instance_id: Mapped[int] = mapped_column(ForeignKey("crf_instance.id"))  # the radiotherapy course judged
    evaluated_on: Mapped[dt.date] = mapped_column(Date)
    rtplan_uid: Mapped[str | None] = mapped_column(String(128))
    rtdose_uid: Mapped[str | None] = mapped_column(String(128))
    end_cap: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(32))
    results: Mapped[dict[str, Any]] = mapped_column(JSON)  # objectives, indices, mapping, consistency problems


class ProtocolDeviation(StudyScoped, StudyRecord):
    __tablename__ = "protocol_deviation"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    category: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))  # minor / major
    description: Mapped[str] = mapped_column(Text)
    detected_on: Mapped[dt.date] = mapped_column(Date)
    # kept in step with the delivery log by the system when the log changes
    audit_workflow = ("severity", "description")


class ProtocolAmendment(StudyScoped, StudyRecord):
    """A new protocol version applied to a running study (``sarcotrial protocol amend``), with the reason."""

    __tablename__ = "protocol_amendment"
    from_version: Mapped[str] = mapped_column(String(32))
    to_version: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    changes: Mapped[list[Any]] = mapped_column(JSON)


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
    #: a record's history (the revision of a CRF instance, the reasons of a lock) without a scan of the trail
    __table_args__ = (Index("ix_audit_entry_record_id_table_name", "record_id", "table_name"),)


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


from sarcotrial.store import models_access  # noqa: E402,F401  (accounts, sites granted, sign-ins, tokens, settings)
from sarcotrial.store import models_board  # noqa: E402,F401  (tumour board meetings, cases, decisions; second opinions)
from sarcotrial.store import models_registry  # noqa: E402,F401  (registry documents, risk models, predictions)


# --------------------------------------------------------------------------- randomisation
class Allocation(StudyScoped, StudyRecord):
    """A patient's allocation to an arm, made at enrolment in the enrolment's transaction
    (``services/randomisation.py``; the engine is ``domain/randomisation.py``).

    ``number`` is the allocation's rank in the study (from 1); ``strata`` the factor levels *used*
    (never corrected afterwards: a later correction of a factor is a stratification error, flagged when
    read); ``details`` the engine's record of how the arm was reached (block number, size and position,
    or the minimisation scores, the minimising arms and the draw), so that an auditor checks it by hand.
    Audited like study data: the trail shows every allocation (``details`` by its fingerprint only), and
    ``audit verify`` a changed arm."""

    __tablename__ = "allocation"
    #: how the arm was reached (the minimisation scores and draw, a block's size and position) would let a site
    #: that reads the audit trail predict its next patient's arm: the trail keeps its fingerprint only (allocation
    #: concealment, Schulz and Grimes, Lancet 2002; ICH E9 2.3.2); ``randomisation verify`` replays it
    audit_secret = ("details",)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), unique=True)
    number: Mapped[int] = mapped_column(Integer)
    arm: Mapped[str] = mapped_column(String(64))
    strata: Mapped[dict[str, Any]] = mapped_column(JSON)
    stratum: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    allocated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    allocated_by: Mapped[str] = mapped_column(String(128))
    #: the allocation's rank is the study's own
    __table_args__ = (UniqueConstraint("study_id", "number"), {"sqlite_autoincrement": True})


class RandomisationSecret(StudyScoped, StudyRecord):
    """The study's randomisation seed, encrypted with a sub-key of the study's identifier key: knowing it
    and the strata reveals the next allocation, so it is the concealed allocation list. Created at the
    study's first allocation; the audit trail keeps only a fingerprint of the ciphertext."""

    __tablename__ = "randomisation_secret"
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), unique=True)
    audit_exclude = StudyRecord.audit_exclude  # the study is audited here (its seed: one per study)
    seed_enc: Mapped[str] = mapped_column(Text)
    audit_secret = ("seed_enc",)


class RandomisationCheck(StudyScoped, StudyRecord):
    """An auditor's replay of every stored allocation from the decrypted seed (``randomisation verify``):
    how many were checked and the numbers of those whose stored arm is not the seed's. The seed was
    read, so the check is recorded, as a reading of identifiers is."""

    __tablename__ = "randomisation_check"
    allocations: Mapped[int] = mapped_column(Integer)
    mismatches: Mapped[str] = mapped_column(Text)  # allocation numbers, comma-separated; empty: all match
