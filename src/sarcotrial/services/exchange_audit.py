"""The read side of the ODM export's audit part: who last changed each exported value, when and why,
and the electronic signatures laid on the exported CRF instances and casebooks.

CDISC ODM 1.3.2 carries, beside each value, an ``AuditRecord`` (user, location, date and time,
reason for change) and, on a form or a subject, a ``Signature`` (user, location, meaning, date and
time). The study's audit trail records one entry per field of a CRF instance (``table_name``
``crf_instance``, ``record_id`` the instance, ``field`` ``data.<field id>`` for the value and
``missing.<field id>`` for its missing-data code: :mod:`sarcotrial.store.audit`); the last of these
entries for a field is the change that made the value the export writes.

A registry's trail holds millions of entries, so nothing here reads it whole: :meth:`AuditSource.last_changes`
reads the entries of a batch of CRF instances at a time, streamed (``yield_per``) in the order of the
record, keeping only the last entry per field; :meth:`AuditSource.actors` reads the distinct users
of a batch. The ODM writer (:mod:`sarcotrial.exchange.odm`) calls these per batch of subjects.

Every read is checked as the export itself is (the ``export`` permission, the user's sites: the CRF
instances asked about are the snapshot's, already limited to them). The audit trail is for the roles
that review it (``audit.read``: a statistician's export right reaches the data, not the trail), so
:attr:`AuditSource.audit_allowed` says whether the acting user may have the audit records at all;
signatures are shown to every reader of the data, as on the casebook.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import or_, select

from sarcotrial.domain import access as rules
from sarcotrial.errors import AccessDenied
from sarcotrial.services.review import signature_views
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import AuditEntry, Patient, Site, User

#: CRF instances per query (well under every database's limit of bound parameters)
CHUNK = 500
#: audit entries fetched from the database at a time
YIELD_PER = 2000
#: the fields of a CRF instance's audit entries that name a value or its missing-data code
VALUE_COLUMNS = ("data", "missing")


@dataclass(frozen=True)
class Change:
    """The last change to one field of one CRF instance."""

    actor: str
    at: dt.datetime
    reason: str | None


@dataclass(frozen=True)
class SignedBy:
    """A valid electronic signature: who, when, and what it means."""

    signer: str
    printed_name: str
    meaning: str
    signed_at: dt.datetime


@dataclass
class Signatures:
    """The valid signatures of the exported data: on a CRF instance (by its id), on a casebook (by subject)."""

    crf: dict[int, SignedBy] = field(default_factory=dict)
    casebook: dict[str, SignedBy] = field(default_factory=dict)

    def all(self) -> list[SignedBy]:
        return [*self.crf.values(), *self.casebook.values()]


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def moment(text: str | dt.datetime) -> dt.datetime:
    """An audit entry's time (ISO 8601 text, UTC) as an aware datetime; a naive one is UTC."""
    value = text if isinstance(text, dt.datetime) else dt.datetime.fromisoformat(str(text))
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def _field_filter():
    return or_(*[AuditEntry.field.like(f"{column}.%") for column in VALUE_COLUMNS])


def _entries(study: StudyDB, session, crf_ids: Sequence[int]):
    """The value entries of these CRF instances, of the patients the session's user sees only."""
    where = [AuditEntry.table_name == "crf_instance", AuditEntry.record_id.in_(list(crf_ids)), _field_filter()]
    visible = study.visible_site_ids(session)
    if visible is not None:
        where.append(AuditEntry.subject_id.in_(select(Patient.subject_id).where(Patient.site_id.in_(visible))))
    return where


class AuditSource:
    """Reads for one export by one user; each method opens its own checked read."""

    def __init__(self, study: StudyDB, actor: Actor | None):
        self.study = study
        self.actor = actor
        self._audit_allowed: bool | None = None

    def _reading(self):
        return self.study.reading(self.actor, permission="export")

    @property
    def audit_allowed(self) -> bool:
        """Whether the acting user's role reads the audit trail (a study without accounts: yes)."""
        if self._audit_allowed is None:
            with self._reading() as session:
                principal = self.study.principal(session)
                self._audit_allowed = principal is None or principal.role is None or \
                    rules.allowed(principal.role, "audit.read")
        return self._audit_allowed

    def sites(self) -> dict[str, str]:
        """Every site's name, by code."""
        with self._reading() as session:
            return {code: name for code, name in session.execute(select(Site.code, Site.name).order_by(Site.code))}

    def accounts(self, usernames: Iterable[str]) -> dict[str, str]:
        """The full name of each of these users that has an account (the others are names the trail
        recorded for actions made before accounts existed, or by the system)."""
        names = sorted(set(usernames))
        out: dict[str, str] = {}
        with self._reading() as session:
            for part in chunks(names):
                out.update({username: name for username, name in session.execute(
                    select(User.username, User.full_name).where(User.username.in_(part)))})
        return out

    def actors(self, crf_ids: Sequence[int]) -> set[str]:
        """Every user the trail names for a value (or missing-data code) of these CRF instances."""
        self._require_audit()
        found: set[str] = set()
        with self._reading() as session:
            for part in chunks(list(crf_ids)):
                found.update(session.scalars(select(AuditEntry.actor).distinct()
                                             .where(*_entries(self.study, session, part))))
        return found

    def last_changes(self, crf_ids: Sequence[int]) -> dict[tuple[int, str], Change]:
        """The last change to each field of these CRF instances, by ``(crf id, field id)``: the later of
        the value's and its missing-data code's last entries."""
        self._require_audit()
        out: dict[tuple[int, str], Change] = {}
        with self._reading() as session:
            for part in chunks(list(crf_ids)):
                query = (select(AuditEntry.record_id, AuditEntry.field, AuditEntry.actor, AuditEntry.at,
                                AuditEntry.reason)
                         .where(*_entries(self.study, session, part))
                         .order_by(AuditEntry.record_id, AuditEntry.id)
                         .execution_options(yield_per=YIELD_PER))
                for record_id, name, actor, at, reason in session.execute(query):
                    out[(record_id, name.split(".", 1)[1])] = Change(actor, moment(at), reason)
        return out

    def signatures(self, subject_ids: Sequence[str], batch: int = 50) -> Signatures:
        """The valid signatures (not voided by a change, the signed values unchanged) of these patients:
        on a CRF instance, and on the whole casebook; the latest where there are several."""
        out = Signatures()
        with self._reading() as session:
            for part in chunks(list(subject_ids), batch):
                query = select(Patient).where(Patient.subject_id.in_(list(part)))
                visible = self.study.visible_site_ids(session)
                if visible is not None:
                    query = query.where(Patient.site_id.in_(visible))
                patients = list(session.scalars(query))
                for views in signature_views(session, patients).values():
                    for view in sorted(views, key=lambda v: (v.signed_at, v.id)):
                        if view.status != "valid":
                            continue
                        signed = SignedBy(view.signer, view.printed_name, view.meaning, moment(view.signed_at))
                        if view.scope == "crf" and view.crf_id is not None:
                            out.crf[view.crf_id] = signed
                        elif view.scope != "crf":
                            out.casebook[view.subject] = signed
                session.expunge_all()
        return out

    def _require_audit(self) -> None:
        if not self.audit_allowed:
            raise AccessDenied("reading the audit trail needs the audit.read permission")


def audit_source(study: StudyDB, actor: Actor | None) -> AuditSource:
    """The audit records and signatures of an export made by ``actor``."""
    return AuditSource(study, actor)
