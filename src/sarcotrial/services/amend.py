"""Protocol amendments applied to a running study (``sarcotrial protocol amend FILE --reason TEXT``).

The new version is checked against the data the study holds (:mod:`sarcotrial.protocol.amendment`):
refused, with every reason, when it would lose or reinterpret entered data. Accepted, it is bound
to the study beside the versions before it (the exact text and its SHA-256), recorded as an
audited amendment with its reason and list of changes, and every patient's visits are planned
again under it in the same transaction. CRF instances keep the version they were entered under;
new entries carry the new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from sarcotrial.errors import InvalidValue
from sarcotrial.protocol import read_protocol
from sarcotrial.protocol.amendment import AmendmentReview, DataInUse, review_amendment
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import Allocation, CRFInstance, Patient, ProtocolAmendment, ProtocolVersion, Study


class AmendmentRefused(InvalidValue):
    def __init__(self, review: AmendmentReview):
        self.review = review
        super().__init__("amendment", "refused: " + "; ".join(review.problems), show_value=False)


@dataclass(frozen=True)
class AmendmentResult:
    from_version: str
    to_version: str
    changes: list[str]
    patients_replanned: int


def data_in_use(session) -> DataInUse:
    used = DataInUse()
    for form_id, data, missing in session.execute(select(CRFInstance.form_id, CRFInstance.data, CRFInstance.missing)):
        used.add(form_id, data or {}, missing or {})
    used.allocations = session.scalar(select(func.count(Allocation.id))) or 0
    return used


def amend(study: StudyDB, actor: Actor, ref: str, reason: str) -> AmendmentResult:
    """Apply a new protocol version to the study, or refuse it naming every problem."""
    if not reason or not reason.strip():
        raise InvalidValue("reason", "an amendment needs its reason (e.g. the ethics committee's approval)",
                           show_value=False)
    loaded = read_protocol(ref)
    old = study.protocol
    with study.action(actor, reason, permission="protocol.amend") as session:
        from sarcotrial.services.forms import active_lock

        lock = active_lock(session, None, None)
        if lock is not None and lock.scope == "study":
            raise InvalidValue("lock", f"the study is locked (database lock by {lock.locked_by} at "
                               f"{lock.locked_at:%Y-%m-%d %H:%M} UTC); an amendment waits until it is unlocked",
                               show_value=False)
        review = review_amendment(old, loaded.protocol, data_in_use(session))
        if not review.acceptable:
            raise AmendmentRefused(review)
        clash = session.scalars(select(ProtocolVersion).where(ProtocolVersion.acronym == loaded.protocol.acronym,
                                                              ProtocolVersion.version == loaded.protocol.version)).first()
        if clash is not None:
            raise InvalidValue("identification.version", f"version {loaded.protocol.version} was bound to this study "
                               "before; an amendment has a new version", show_value=False)
        version = ProtocolVersion(acronym=loaded.protocol.acronym, version=loaded.protocol.version, sha256=loaded.sha256,
                                  text=loaded.text, bound_by=actor.name)
        session.add(version)
        session.flush()
        session.add(ProtocolAmendment(from_version=old.version, to_version=loaded.protocol.version, sha256=loaded.sha256,
                                      reason=reason.strip(), changes=review.changes))
        session.get(Study, study.study_id).protocol_version_id = version.id
        session.flush()
        previous = study.loaded
        study.loaded = loaded  # the schedule is planned under the new version, inside this transaction
        try:
            from sarcotrial.services.visits import sync_schedule

            patients = session.scalars(select(Patient).order_by(Patient.id)).all()
            for patient in patients:
                sync_schedule(study, session, patient)
        except BaseException:
            study.loaded = previous
            raise
    return AmendmentResult(old.version, loaded.protocol.version, review.changes, len(patients))


def preview(study: StudyDB, actor: Actor | None, ref: str) -> AmendmentReview:
    """What an amendment would change, and whether the study's data allows it (nothing written)."""
    loaded = read_protocol(ref)
    with study.reading(actor, permission="protocol.amend") as session:
        return review_amendment(study.protocol, loaded.protocol, data_in_use(session))
