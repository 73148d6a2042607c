"""Second opinions: an external centre's request for an expert pathology or imaging review.

Standard: the ESMO-EURACAN-GENTURIS guidelines (Gronchi A, et al. Ann Oncol 2021;32:1348-1365) ask
that the pathological diagnosis of a sarcoma be reviewed by an expert sarcoma pathologist; studies of
such reviews report how often the referring diagnosis is revised, by referring centre (e.g. Ray-Coquard
I, et al. Ann Oncol 2012;23:2442-2449, the French RRePS network; the exact figures are not repeated
here). The outcome vocabulary, the FNCLCC grade and the turnaround are in :mod:`sarcotrial.domain.board`;
the revised histotype is an id of the WHO 2020 catalogue (:mod:`sarcotrial.domain.histology`).

- A request names a registered patient (the unit's registry patient: ``patient register``), the
  referring centre, the date received, the kind (pathology or imaging) and the question.
- Its documents (a PDF, PNG, JPEG, TIFF or DICOM file, recognised by its first bytes) are stored in
  the database with their SHA-256 and size (see :mod:`sarcotrial.store.models_board` for why not in a
  folder); the largest accepted is the ``upload_limit_mb`` setting. A listing recomputes each
  document's SHA-256 and says whether it still matches. Several documents sent together are read and
  checked first, every one, then stored in one transaction (:func:`attach_documents`): all or none.
- The review is written by the discipline asked (a pathologist, ``second_opinion.pathology``; a
  radiologist, ``second_opinion.imaging``): its text, the outcome, the reviewer, the report date, and
  for a revised pathology diagnosis the histotype and, where FNCLCC grades it, the grade. Whether the
  review is a first entry or a change (which needs a reason) is decided inside the write's transaction,
  so two reviewers writing at once cannot both count as the first.
- The rate of revised diagnoses per referring centre is given with its exact (Clopper-Pearson) 95 %
  interval (:func:`sarcotrial.outcomes.binomial.clopper_pearson`, checked against R's ``binom.test``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from sarcotrial.domain import board as rules
from sarcotrial.errors import InvalidValue
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store import audit
from sarcotrial.store.models import Patient, Site
from sarcotrial.store.models_board import SecondOpinion, SecondOpinionDocument

#: the documents accepted, by their first bytes (the name's extension is not trusted)
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (128, b"DICM", "application/dicom"),
)
_PERMISSION = {"pathology": "second_opinion.pathology", "imaging": "second_opinion.imaging"}


def media_type(content: bytes) -> str | None:
    """The document's type from its first bytes, or ``None`` when it is none of those accepted."""
    for offset, magic, kind in _SIGNATURES:
        if content[offset:offset + len(magic)] == magic:
            return kind
    return None


def _opinion(study: StudyDB, session: Session, opinion_id: int) -> SecondOpinion:
    row = session.get(SecondOpinion, opinion_id)
    if row is not None:
        patient = session.get(Patient, row.patient_id)
        visible = study.visible_site_ids(session)
        if visible is None or patient.site_id in visible:
            return row
    raise InvalidValue("second_opinion", "no such second-opinion request", opinion_id)


def new_request(study: StudyDB, actor: Actor, subject_id: str, *, kind: str, referring_centre: str,
                received_date: dt.date, question: str, today: dt.date | None = None,
                documents: Sequence[tuple[str, bytes]] = ()) -> int:
    """Register a request for a second opinion on a registered patient, with its ``documents`` (filename
    and bytes each) if given; returns its id. The documents are checked before anything is written and
    stored in the request's own transaction: a refused document leaves neither the request nor any
    document stored."""
    what = rules.opinion_kind(kind)
    centre = " ".join((referring_centre or "").split())
    if not centre:
        raise InvalidValue("referring_centre", "must not be empty")
    if len(centre) > 200:
        raise InvalidValue("referring_centre", "must be at most 200 characters", show_value=False)
    asked = (question or "").strip()
    if not asked:
        raise InvalidValue("question", "must not be empty")
    if received_date > (today or dt.date.today()):
        raise InvalidValue("received_date", "is in the future", received_date.isoformat())
    checked = check_documents(study, documents) if documents else []
    with study.action(actor, permission="second_opinion.request") as session:
        patient = study.patient(session, subject_id)
        if received_date.year < patient.year_of_birth:
            raise InvalidValue("received_date", f"is before the patient's year of birth ({patient.year_of_birth})",
                               received_date.isoformat())
        row = SecondOpinion(patient_id=patient.id, kind=what, referring_centre=centre, received_date=received_date,
                            question=asked)
        session.add(row)
        session.flush()
        _store(session, row, checked)
        return row.id


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    intact: bool = True     # the stored bytes still hash to the SHA-256 recorded when they were attached

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "filename": self.filename, "media_type": self.media_type,
                "size_bytes": self.size_bytes, "sha256": self.sha256, "intact": self.intact}


def read_documents(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    """Each file's name and bytes, every one read before anything is stored (a file that cannot be read is
    refused naming it)."""
    out = []
    for path in paths:
        try:
            out.append((Path(path).name, Path(path).read_bytes()))
        except OSError as exc:
            raise InvalidValue("document", f"cannot be read ({exc.strerror or exc})", str(path)) from None
    return out


def _checked(name: str | None, content: bytes, limit_mb: int) -> tuple[str, str, str]:
    """A document's name, type and SHA-256, or the refusal naming it."""
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise InvalidValue("filename", "must be 1 to 255 characters", name)
    if not content:
        raise InvalidValue("document", "is empty", name)
    kind = media_type(content)
    if kind is None:
        raise InvalidValue("document", "must be a PDF, PNG, JPEG, TIFF or DICOM file (recognised by its content)", name)
    if len(content) > limit_mb * 1024 * 1024:
        raise InvalidValue("document", f"is larger than the upload limit of {limit_mb} MB (setting upload_limit_mb)",
                           name)
    return name, kind, hashlib.sha256(content).hexdigest()


def check_documents(study: StudyDB, documents: Sequence[tuple[str, bytes]]) -> list[tuple[str, str, str, bytes]]:
    """Every document (filename and bytes) checked: name, type by content, size against the ``upload_limit_mb``
    setting, the same content given twice; (name, media type, SHA-256, bytes) each, or the first refusal
    naming its file. Nothing is written."""
    from sarcotrial.services import access

    if not documents:
        raise InvalidValue("document", "give a file to attach", show_value=False)
    limit = access.setting(study, "upload_limit_mb")
    checked = []
    seen: dict[str, str] = {}
    for filename, content in documents:
        name, kind, digest = _checked(filename, content, limit)
        if digest in seen:
            raise InvalidValue("document", f"is given twice (the same content as {seen[digest]})", name)
        seen[digest] = name
        checked.append((name, kind, digest, content))
    return checked


def _store(session: Session, opinion: SecondOpinion, checked: list[tuple[str, str, str, bytes]]) -> list[DocumentInfo]:
    """Store checked documents on a request (in the caller's transaction); one already attached is refused."""
    if not checked:
        return []
    stored = dict(session.execute(select(SecondOpinionDocument.sha256, SecondOpinionDocument.filename).where(
        SecondOpinionDocument.second_opinion_id == opinion.id,
        SecondOpinionDocument.sha256.in_([digest for _, _, digest, _ in checked]))).all())
    for name, _kind, digest, _content in checked:
        if digest in stored:
            raise InvalidValue("document", f"is already attached to request #{opinion.id}, as {stored[digest]}", name)
    rows = []
    for name, kind, digest, content in checked:
        row = SecondOpinionDocument(second_opinion_id=opinion.id, patient_id=opinion.patient_id, filename=name,
                                    media_type=kind, size_bytes=len(content), sha256=digest, content=content)
        session.add(row)
        rows.append(row)
    session.flush()
    return [DocumentInfo(r.id, r.filename, r.media_type, r.size_bytes, r.sha256) for r in rows]


def attach_documents(study: StudyDB, actor: Actor, opinion_id: int,
                     documents: Sequence[tuple[str, bytes]]) -> list[DocumentInfo]:
    """Attach documents (each a filename and its bytes) to a request: every one is checked first, then all are
    stored in one transaction, so a refused document leaves none of the others stored."""
    checked = check_documents(study, documents)
    with study.action(actor, permission="second_opinion.request") as session:
        return _store(session, _opinion(study, session, opinion_id), checked)


def attach_files(study: StudyDB, actor: Actor, opinion_id: int, paths: Sequence[Path]) -> list[DocumentInfo]:
    """Attach files to a request: all read and checked, then stored together (:func:`attach_documents`)."""
    return attach_documents(study, actor, opinion_id, read_documents(paths))


def attach(study: StudyDB, actor: Actor, opinion_id: int, path: Path | None = None, *, content: bytes | None = None,
           filename: str | None = None) -> DocumentInfo:
    """Attach a document (a file, or ``content`` with its ``filename``) to a request."""
    if content is None:
        if path is None:
            raise InvalidValue("document", "give a file to attach", show_value=False)
        [(name, content)] = read_documents([path])
        filename = filename or name
    return attach_documents(study, actor, opinion_id, [(filename or "", content)])[0]


def review(study: StudyDB, actor: Actor, opinion_id: int, *, text: str, outcome: str, reviewer: str,
           report_date: dt.date, revised_histotype: str | None = None, grade: int | None = None,
           reason: str | None = None, today: dt.date | None = None) -> int:
    """Record the review of a request: by a pathologist for pathology, a radiologist for imaging.
    A review already recorded is changed only with a reason. Returns the turnaround in days."""
    from sarcotrial.domain.histology import histotype

    written = (text or "").strip()
    if not written:
        raise InvalidValue("review", "must not be empty")
    who = " ".join((reviewer or "").split())
    if not who:
        raise InvalidValue("reviewer", "must not be empty")
    if report_date > (today or dt.date.today()):
        raise InvalidValue("report_date", "is in the future", report_date.isoformat())
    histo = revised_histotype.strip() if revised_histotype else None
    if histo:
        entity = histotype(histo)
        if grade is not None and entity.fnclcc_not_applicable:
            raise InvalidValue("grade", entity.fnclcc_not_applicable, grade)
    with study.reading(actor, permission="board.read") as session:
        kind = _opinion(study, session, opinion_id).kind  # a request's kind never changes
    verdict = rules.opinion_outcome(kind, outcome, histo, grade)
    with study.action(actor, reason, permission=_PERMISSION[kind]) as session:
        row = _opinion(study, session, opinion_id)
        # first entry or change: decided here, in the serialised write, not from an earlier read
        if row.outcome is not None and not (reason or "").strip():
            raise InvalidValue("reason", "a reason is required to change a review already recorded", show_value=False)
        if row.outcome is None:
            session.info[audit.INFO_REASON] = f"{kind} review recorded"
        days = rules.turnaround_days(row.received_date, report_date)
        row.review, row.reviewer, row.outcome, row.report_date = written, who, verdict, report_date
        row.revised_histotype, row.revised_grade = histo, grade
        session.flush()
        return days


@dataclass(frozen=True)
class OpinionView:
    id: int
    subject: str
    site: str
    kind: str
    referring_centre: str
    received_date: dt.date
    question: str
    review: str | None
    reviewer: str | None
    outcome: str | None
    revised_histotype: str | None
    revised_grade: int | None
    report_date: dt.date | None
    documents: tuple[DocumentInfo, ...]

    @property
    def turnaround_days(self) -> int | None:
        return rules.turnaround_days(self.received_date, self.report_date) if self.report_date else None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "subject": self.subject, "site": self.site, "kind": self.kind,
                "referring_centre": self.referring_centre, "received_date": self.received_date.isoformat(),
                "question": self.question, "review": self.review, "reviewer": self.reviewer, "outcome": self.outcome,
                "revised_histotype": self.revised_histotype, "revised_grade": self.revised_grade,
                "report_date": self.report_date.isoformat() if self.report_date else None,
                "turnaround_days": self.turnaround_days, "documents": [d.as_dict() for d in self.documents]}


def listing(study: StudyDB, actor: Actor | None, *, centre: str | None = None, subject_id: str | None = None,
            check_documents: bool = True) -> list[OpinionView]:
    """Every request of the user's sites (oldest first), with its documents; each document's SHA-256 is
    recomputed from the stored bytes (``intact``) unless ``check_documents`` is false."""
    with study.reading(actor, permission="board.read") as session:
        sites = {s.id: s.code for s in session.scalars(select(Site))}
        query = select(SecondOpinion, Patient).join(Patient, Patient.id == SecondOpinion.patient_id) \
            .order_by(SecondOpinion.received_date, SecondOpinion.id)
        visible = study.visible_site_ids(session)
        if visible is not None:
            query = query.where(Patient.site_id.in_(visible))
        if subject_id:
            query = query.where(Patient.id == study.patient(session, subject_id).id)
        out = []
        for row, patient in session.execute(query):
            if centre and row.referring_centre.lower() != centre.strip().lower():
                continue
            documents = []
            columns = [SecondOpinionDocument.id, SecondOpinionDocument.filename, SecondOpinionDocument.media_type,
                       SecondOpinionDocument.size_bytes, SecondOpinionDocument.sha256]
            if check_documents:
                columns.append(SecondOpinionDocument.content)
            for doc in session.execute(select(*columns).where(SecondOpinionDocument.second_opinion_id == row.id)
                                       .order_by(SecondOpinionDocument.id)):
                intact = (hashlib.sha256(doc.content).hexdigest() == doc.sha256 and len(doc.content) == doc.size_bytes) \
                    if check_documents else True
                documents.append(DocumentInfo(doc.id, doc.filename, doc.media_type, doc.size_bytes, doc.sha256, intact))
            out.append(OpinionView(row.id, patient.subject_id, sites.get(patient.site_id, "?"), row.kind,
                                   row.referring_centre, row.received_date, row.question, row.review, row.reviewer,
                                   row.outcome, row.revised_histotype, row.revised_grade, row.report_date,
                                   tuple(documents)))
        return out


def opinion(study: StudyDB, actor: Actor | None, opinion_id: int) -> OpinionView:
    """One request of the user's sites, with its documents (each SHA-256 recomputed from the stored bytes);
    another site's request is answered as an unknown one."""
    with study.reading(actor, permission="board.read") as session:
        subject = session.get(Patient, _opinion(study, session, opinion_id).patient_id).subject_id
    for view in listing(study, actor, subject_id=subject):
        if view.id == opinion_id:
            return view
    raise InvalidValue("second_opinion", "no such second-opinion request", opinion_id)


def document_content(study: StudyDB, actor: Actor, opinion_id: int, document_id: int) -> tuple[DocumentInfo, bytes]:
    """A document of a request of the user's sites, with its bytes, for the reader to open (``board.read``).
    ``intact`` says whether the bytes still hash to the SHA-256 recorded when they were attached."""
    with study.reading(actor, permission="board.read") as session:
        row = _opinion(study, session, opinion_id)
        doc = session.get(SecondOpinionDocument, document_id)
        if doc is None or doc.second_opinion_id != row.id:
            raise InvalidValue("document", f"no such document of request #{row.id}", document_id)
        content = bytes(doc.content)
        intact = hashlib.sha256(content).hexdigest() == doc.sha256 and len(content) == doc.size_bytes
        return DocumentInfo(doc.id, doc.filename, doc.media_type, doc.size_bytes, doc.sha256, intact), content


@dataclass(frozen=True)
class RevisionRate:
    """A referring centre's rate of revised diagnoses, with its exact two-sided confidence interval."""

    centre: str
    reviews: int
    assessed: int
    revised: int
    not_assessable: int
    rate: float | None
    ci: tuple[float, float] | None
    level: float
    median_turnaround_days: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"centre": self.centre, "reviews": self.reviews, "assessed": self.assessed, "revised": self.revised,
                "not_assessable": self.not_assessable, "rate": self.rate, "ci": list(self.ci) if self.ci else None,
                "level": self.level, "method": "Clopper-Pearson (exact)",
                "median_turnaround_days": self.median_turnaround_days}


def revision_rates(views: list[OpinionView], *, kind: str | None = "pathology", level: float = 0.95) -> list[RevisionRate]:
    """The rate of revised diagnoses per referring centre among the reviews that reached a verdict
    (confirmed or revised), with the Clopper-Pearson interval; ``kind``: pathology reviews by default
    (``None``: every kind together)."""
    import statistics

    from sarcotrial.outcomes.binomial import clopper_pearson

    chosen = [v for v in views if kind is None or v.kind == kind]
    out = []
    for count in rules.revision_counts((v.referring_centre, v.outcome) for v in chosen):
        days = [v.turnaround_days for v in chosen
                if v.referring_centre == count.centre and v.turnaround_days is not None]
        ci = clopper_pearson(count.revised, count.assessed, level) if count.assessed else None
        out.append(RevisionRate(count.centre, count.reviews, count.assessed, count.revised, count.not_assessable,
                                count.rate, ci, level, statistics.median(days) if days else None))
    return out
