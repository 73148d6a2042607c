"""The unit's registry beside its study: molecular findings, family history, risk predictions and
trial matching for every referred patient, most of whom are in no trial.

The registry patient is the study database's :class:`~sarcotrial.store.models.Patient` row made by
``patient register`` (one encrypted identifier record); board cases (``services/board.py``), second
opinions (``services/second_opinion.py``) and the documents here hang from it, so a patient later
screened or enrolled keeps one identity and nothing is typed twice.

The rules are the domain's: :mod:`sarcotrial.domain.molecular` validates and interprets findings,
:mod:`sarcotrial.domain.predisposition` evaluates the Chompret and NF1 criteria,
:mod:`sarcotrial.riskmodels` predicts from a loaded model file, and
:mod:`sarcotrial.domain.eligibility` decides the trial match (three-valued: a criterion with an
answer still unknown is "not evaluable", never passed). This module stores and gathers.

Trial matching. The loaded protocol is the study this database runs. What is already known of a
registry patient fills the protocol's screening form: the answers of an earlier screening, any
value of the patient's recorded forms whose field has the same id and type as a screening field
(the protocol's ids are the names everywhere), and the age, which the year of birth bounds to two
values: a criterion is decided on the age only when both values decide it alike. One action
(:func:`open_screening`) screens the patient with those answers and any the user adds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sarcotrial.domain import eligibility as eligibility_rules
from sarcotrial.errors import InvalidValue, date_rule
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.models import CRFInstance, Patient, Screening, Site, Study
from sarcotrial.store.models_registry import RegistryDocument, RiskModelFile, RiskPrediction

#: the registry's document kinds and the permission that writes each
DOCUMENT_KINDS: dict[str, str] = {"molecular": "registry.molecular", "family_history": "registry.family"}


# --------------------------------------------------------------------------- documents
def _jsonable(value: Any) -> Any:
    """A document as JSON stores it (dates as ISO text), so what is stored reads back the same."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else str(v)))


def _validate(kind: str, document: Any) -> dict[str, Any]:
    if kind == "molecular":
        from sarcotrial.domain.histology import histotype
        from sarcotrial.domain.molecular import findings_from_document

        histotype_id, _findings = findings_from_document(document)
        if histotype_id is not None:
            histotype(histotype_id)
        content = _jsonable(document if isinstance(document, Mapping) else {"findings": document})
        return content
    if kind == "family_history":
        from sarcotrial.domain.predisposition import family_history_from_dict

        family_history_from_dict(document)
        if not isinstance(document, Mapping):
            raise InvalidValue("document", "must be a mapping (proband, relatives, ...)")
        for i, relative in enumerate(document.get("relatives") or ()):
            if isinstance(relative, Mapping) and relative.get("name") not in (None, ""):
                # a third party's name would sit in plain text in the study data and its audit trail
                raise InvalidValue(f"relatives[{i}].name", "a relative's name is not kept in the registry: "
                                   "leave it out (the relationship identifies the relative)", show_value=False)
        return _jsonable(document)
    raise InvalidValue("kind", f"must be one of {', '.join(DOCUMENT_KINDS)}", kind)


def record_document(study: StudyDB, actor: Actor, subject_id: str, kind: str, document: Any, *,
                    reason: str | None = None, expected_revision: int | None = None) -> int:
    """Record (or replace, with a reason) a registry patient's document of one kind; returns its revision.

    The document is validated by the domain's rules first: nothing is written when a finding, a
    gene, a relative or an age is refused (the error names its path in the document).
    ``expected_revision``: the revision the new document was made from (0: none was recorded), checked in
    the write's transaction: a page that rebuilt the document from what it showed cannot overwrite (or
    remove an entry of) a revision recorded since by someone else.
    """
    if kind not in DOCUMENT_KINDS:
        raise InvalidValue("kind", f"must be one of {', '.join(DOCUMENT_KINDS)}", kind)
    content = _validate(kind, document)
    with study.action(actor, reason, permission=DOCUMENT_KINDS[kind]) as session:
        patient = study.patient(session, subject_id)
        row = session.scalars(select(RegistryDocument).where(RegistryDocument.patient_id == patient.id,
                                                             RegistryDocument.kind == kind)).first()
        current = row.revision if row is not None else 0
        if expected_revision is not None and expected_revision != current:
            raise InvalidValue("revision", f"the {kind.replace('_', ' ')} has changed since it was read (revision "
                               f"{expected_revision}, now {current or 'none'}): look at it again", show_value=False)
        if row is None:
            row = RegistryDocument(patient_id=patient.id, kind=kind, content=content, revision=1)
            session.add(row)
        else:
            if row.content == content:
                raise InvalidValue(kind, "is the same as the recorded document: nothing to change", show_value=False)
            if not (reason or "").strip():
                raise InvalidValue("reason", f"replacing {patient.subject_id}'s recorded {kind.replace('_', ' ')} "
                                   "needs a reason (it is kept in the audit trail)")
            row.content = content
            row.revision += 1
        session.flush()
        return row.revision


def _document(session: Session, patient: Patient, kind: str) -> RegistryDocument | None:
    return session.scalars(select(RegistryDocument).where(RegistryDocument.patient_id == patient.id,
                                                          RegistryDocument.kind == kind)).first()


# --------------------------------------------------------------------------- risk models
@dataclass(frozen=True)
class ModelFileView:
    key: str
    version: str
    name: str
    sha256: str
    kind: str
    outcome: str
    horizons: tuple[float, ...]
    provenance: str
    validation_status: str
    synthetic: bool
    source: str
    endpoint: str | None = None
    #: what a reader of a prediction must know (synthetic, validation, digitisation, ranges): the model's own
    limits: tuple[str, ...] = ()
    #: the model's inputs (``riskmodels.InputSpec``: name, label, kind, unit and range, or categories), for a
    #: form that asks for them
    inputs: tuple[Any, ...] = field(default=(), compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "version": self.version, "name": self.name, "sha256": self.sha256, "kind": self.kind,
                "outcome": self.outcome, "horizons": list(self.horizons), "provenance": self.provenance,
                "validation_status": self.validation_status, "synthetic": self.synthetic, "source": self.source,
                "endpoint": self.endpoint, "limits": list(self.limits)}


def _model_view(row: RiskModelFile):
    from sarcotrial.riskmodels import load_model

    model = load_model(row.content)
    view = ModelFileView(key=row.model_key, version=row.model_version, name=row.name, sha256=row.sha256,
                         kind=model.kind, outcome=str(model.outcome), horizons=tuple(float(h) for h in model.horizons),
                         provenance=str(model.provenance["numbers"]), validation_status=str(model.validation_status),
                         synthetic=bool(model.synthetic), source=str(model.citation), endpoint=row.endpoint,
                         limits=tuple(model.limits), inputs=tuple(model.inputs))
    return model, view


def load_model_file(study: StudyDB, actor: Actor, path: Path, *, endpoint: str | None = None) -> ModelFileView:
    """Load a risk-model file into the database (reference data: ``reference.import``), byte for
    byte with its SHA-256; the file is validated first (every problem named with its path).

    ``endpoint``: the study's time-to-event endpoint that observes the model's outcome, so that the
    model can be checked on the study's patients (:func:`performance_on_study`)."""
    from sarcotrial.riskmodels import load_model

    if endpoint is not None:
        endpoint = endpoint.strip()
        known = [e.id for e in study.protocol.endpoints if e.kind == "time_to_event"]
        if endpoint not in known:
            raise InvalidValue("endpoint", f"must be one of the study's time-to-event endpoints ({', '.join(known)})",
                               endpoint)

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidValue("file", f"cannot be read ({exc.strerror or exc})", str(path)) from None
    model = load_model(text)
    forms = {f.id for f in study.protocol.forms}
    for i, spec in enumerate(model.inputs):
        if spec.record and spec.record != "age" and spec.record.split(".")[0] not in forms:
            raise InvalidValue(f"inputs[{i}].record", f"the study's protocol has no form {spec.record.split('.')[0]} "
                               f"(forms: {', '.join(sorted(forms))})", spec.record)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    version = str(getattr(model, "version", "") or "1")
    with study.action(actor, permission="reference.import") as session:
        clash = session.scalars(select(RiskModelFile).where(RiskModelFile.model_key == model.id,
                                                            RiskModelFile.model_version == version)).first()
        if clash is not None:
            if clash.sha256 == digest:
                raise InvalidValue("file", f"model {model.id} {version} is already loaded", show_value=False)
            raise InvalidValue("file", f"model {model.id} {version} is loaded with different contents "
                               "(a changed model file needs a new version)", show_value=False)
        row = RiskModelFile(model_key=model.id, model_version=version, name=str(model.name), sha256=digest, content=text,
                            endpoint=endpoint)
        session.add(row)
        session.flush()
        return _model_view(row)[1]


def _model_rows(session: Session) -> list[RiskModelFile]:
    return list(session.scalars(select(RiskModelFile).order_by(RiskModelFile.model_key, RiskModelFile.id)))


def model_files(study: StudyDB, actor: Actor | None, *, permission: str = "board.read") -> list[ModelFileView]:
    """The loaded risk-model files, newest version of each last (their metadata: no patient data).
    The board reads them under ``board.read``; the study report under ``report``."""
    if permission not in ("board.read", "report"):
        raise ValueError(f"model files are read under board.read or report, not {permission}")
    with study.reading(actor, permission=permission) as session:
        return [_model_view(row)[1] for row in _model_rows(session)]


def _model_row(session: Session, key: str) -> RiskModelFile:
    rows = [row for row in _model_rows(session) if row.model_key == key.strip()]
    if not rows:
        known = sorted({row.model_key for row in _model_rows(session)})
        raise InvalidValue("model", "no such loaded model" + (f"; loaded: {', '.join(known)}" if known else
                                                              "; none is loaded (nomogram load FILE)"), key)
    return rows[-1]


@dataclass(frozen=True)
class PredictionView:
    model: ModelFileView
    predicted_on: dt.date
    inputs: dict[str, Any]
    risks: dict[float, float]
    limits: tuple[str, ...] = ()
    #: the inputs taken from the study's record (name -> where: ``diagnosis.size_cm``), not typed
    from_record: dict[str, str] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model.as_dict(), "predicted_on": self.predicted_on.isoformat(), "inputs": self.inputs,
                "risks": {f"{h:g}": r for h, r in sorted(self.risks.items())}, "limits": list(self.limits),
                "from_record": dict(self.from_record)}


@dataclass(frozen=True)
class RecordedInput:
    """What the study's record holds for one input of a model (``InputSpec.record``): ``value`` to use (None
    when the record cannot give one value: the age, which a year of birth narrows to ``possible``)."""

    name: str
    record: str
    value: Any = None
    possible: tuple[Any, ...] = ()

    def agrees(self, given: Any) -> bool:
        candidates = self.possible or ((self.value,) if self.value is not None else ())
        return not candidates or any(_same(given, c) for c in candidates)

    def describe(self) -> str:
        if self.possible:
            return " or ".join(str(v) for v in self.possible)
        return str(self.value)


def _same(given: Any, recorded: Any) -> bool:
    try:
        return abs(float(given) - float(recorded)) <= 1e-9 * max(1.0, abs(float(recorded)))
    except (TypeError, ValueError):
        return str(given).strip() == str(recorded).strip()


def _recorded(session: Session, patient: Patient, inputs, day: dt.date) -> dict[str, RecordedInput]:
    """Each input of a model that names where the record holds it, with what the record holds: the latest
    recorded value of ``FORM.FIELD`` (as entered, else as the form derives it), or the age on ``day`` that
    the year of birth allows. An input the record holds nothing for is left out."""
    out: dict[str, RecordedInput] = {}
    wanted = [spec for spec in inputs if spec.record]
    if not wanted:
        return out
    forms = {spec.record.split(".")[0] for spec in wanted if spec.record != "age"}
    rows = list(session.scalars(select(CRFInstance).where(CRFInstance.patient_id == patient.id,
                                                          CRFInstance.form_id.in_(forms)).order_by(CRFInstance.id))) \
        if forms else []
    for spec in wanted:
        if spec.record == "age":
            age = day.year - patient.year_of_birth
            out[spec.name] = RecordedInput(spec.name, "age", possible=(age - 1, age))
            continue
        form_id, field_id = spec.record.split(".", 1)
        value = None
        for row in rows:
            if row.form_id == form_id and row.status != "not_done":
                found = (row.data or {}).get(field_id)
                found = found if found not in (None, "") else (row.derived or {}).get(field_id)
                if found not in (None, ""):
                    value = found
        if value is not None:
            out[spec.name] = RecordedInput(spec.name, spec.record, value=value)
    return out


def recorded_inputs(study: StudyDB, actor: Actor | None, subject_id: str, model_key: str, *,
                    on: dt.date | None = None) -> dict[str, RecordedInput]:
    """What the study's record holds for a loaded model's inputs for one patient (a form fills them in)."""
    with study.reading(actor, permission="board.read") as session:
        patient = study.patient(session, subject_id)
        model, _view = _model_view(_model_row(session, model_key))
        return _recorded(session, patient, model.inputs, on or dt.date.today())


def predict(study: StudyDB, actor: Actor, subject_id: str, model_key: str, inputs: Mapping[str, Any], *,
            on: dt.date | None = None) -> PredictionView:
    """Predict a registry patient's risk with a loaded model and keep the prediction (inputs and risks).

    A missing input, an input outside the model's range or an unknown category is refused by the
    model (naming the input); nothing is stored then. An input the model file says the study records
    (``record: FORM.FIELD`` or ``record: age``, docs/risk-models.md) is taken from the record when it is
    not given (no value typed twice), and refused when it is given and disagrees with the record (an
    age the year of birth does not allow, a size other than the one recorded): the prediction would not
    be this patient's. An input the record does not hold stays the user's to give.
    """
    day = on or dt.date.today()
    if day > dt.date.today():
        raise InvalidValue("predicted_on", "is in the future (a prediction is made on a day that has come)",
                           day.isoformat())
    with study.action(actor, permission="registry.predict") as session:
        patient = study.patient(session, subject_id)
        if day.year < patient.year_of_birth:
            raise InvalidValue("predicted_on", f"is before the patient's year of birth ({patient.year_of_birth})",
                               day.isoformat())
        row = _model_row(session, model_key)
        model, view = _model_view(row)
        values = dict(inputs)
        taken: dict[str, str] = {}
        for name, held in _recorded(session, patient, model.inputs, day).items():
            given = values.get(name)
            if given is None or given == "":
                if held.value is not None:
                    values[name], taken[name] = held.value, held.record
            elif not held.agrees(given):
                what = (f"the year of birth {patient.year_of_birth} gives {held.describe()} on {day.isoformat()}"
                        if held.record == "age" else f"the record's {held.record} is {held.describe()}")
                raise InvalidValue(name, f"disagrees with the study's record: {what} (correct the record, or give "
                                   "the recorded value)", given)
        prediction = model.predict(values)
        risks = {float(h): float(r) for h, r in prediction.risks.items()}
        used = _jsonable(dict(prediction.inputs))  # the values the model used, as it checked them
        session.add(RiskPrediction(patient_id=patient.id, model_file_id=row.id, predicted_on=day, inputs=used,
                                   risks={f"{h:g}": r for h, r in risks.items()}))
        session.flush()
        return PredictionView(model=view, predicted_on=day, inputs=used, risks=risks, limits=view.limits,
                              from_record=taken)


def _predictions(session: Session, patient: Patient) -> list[PredictionView]:
    out = []
    views: dict[int, ModelFileView] = {}
    for row in session.scalars(select(RiskPrediction).where(RiskPrediction.patient_id == patient.id)
                               .order_by(RiskPrediction.id)):
        if row.model_file_id not in views:
            views[row.model_file_id] = _model_view(session.get(RiskModelFile, row.model_file_id))[1]
        view = views[row.model_file_id]
        out.append(PredictionView(model=view, predicted_on=row.predicted_on, inputs=dict(row.inputs),
                                  risks={float(h): float(r) for h, r in row.risks.items()}, limits=view.limits))
    return out


# --------------------------------------------------------------------------- the model on the study's patients
@dataclass(frozen=True)
class StudyPerformance:
    """A loaded model checked on the study's enrolled patients: each patient's latest prediction by the
    model made on or before the endpoint's origin (a baseline prediction: one made later may use what
    happened since), against the endpoint that observes its outcome (time in years, 0 censored / 1 event /
    2 competing event), at one of the model's horizons."""

    model: ModelFileView
    horizon: float
    patients: tuple[str, ...]
    time_years: tuple[float, ...]
    event: tuple[int, ...]
    risk: tuple[float, ...]
    not_predicted: int  # enrolled without a baseline prediction by the model (or without the endpoint)
    performance: Any = None  # outcomes.model_performance.ModelPerformance, or None
    problem: str | None = None  # why it could not be computed (too few patients or events, ...)
    #: the model's longer horizons that could not be computed, each with the reason (horizon chosen by the service)
    longer_left: tuple[tuple[float, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model.as_dict(), "horizon": self.horizon, "patients": len(self.patients),
                "events": sum(1 for e in self.event if e == 1), "not_predicted": self.not_predicted,
                "performance": self.performance.as_dict() if self.performance is not None else None,
                "problem": self.problem,
                "longer_horizons_left": [{"horizon": h, "why": why} for h, why in self.longer_left]}


def _horizon_problem(times: list[float], horizon: float, problem: str) -> str:
    last = max(times, default=0.0)
    if last <= horizon:
        return f"the {horizon:g}-year horizon is not before the last follow-up, at {last:.2f} years"
    return f"at {horizon:g} years: {problem}"


def performance_on_study(study: StudyDB, actor: Actor | None, model_key: str, *, horizon: float | None = None,
                         cutoff: dt.date | None = None, groups: int = 3) -> StudyPerformance:
    """Does the model hold here? Discrimination and calibration (:mod:`sarcotrial.outcomes.model_performance`)
    of a loaded model on the study's enrolled patients who have a baseline prediction by it, against the study
    endpoint the model was loaded with. Patients enrolled without one are counted, not guessed.

    ``horizon``: one of the model's horizons; ``None``: the longest at which the numbers can be computed
    (the longer ones left are said, with the reason)."""
    from sarcotrial.outcomes.endpoints import origin_date
    from sarcotrial.outcomes.model_performance import assess_performance, check_groups
    from sarcotrial.services.endpoints import derive_endpoints

    check_groups(groups)  # a bad number of groups is refused, not reported as "not computable"

    with study.reading(actor, permission="report") as session:
        row = _model_row(session, model_key)
        model, view = _model_view(row)
        made: dict[int, list[RiskPrediction]] = {}
        for prediction in session.scalars(select(RiskPrediction).where(RiskPrediction.model_file_id == row.id)
                                          .order_by(RiskPrediction.predicted_on, RiskPrediction.id)):
            made.setdefault(prediction.patient_id, []).append(prediction)
        subjects = {p.id: p.subject_id for p in session.scalars(select(Patient).where(Patient.id.in_(list(made))))}
    if view.endpoint is None:
        raise InvalidValue("model", f"{view.key} was loaded without the study endpoint that observes its outcome "
                           "(nomogram load FILE --endpoint ID)", show_value=False)
    if horizon is not None and float(horizon) not in view.horizons:
        raise InvalidValue("horizon", f"must be one of the model's horizons ({', '.join(f'{h:g}' for h in view.horizons)})",
                           horizon)
    endpoint = next(e for e in study.protocol.endpoints if e.id == view.endpoint)
    by_subject = {subjects[pid]: rows for pid, rows in made.items()}
    ids, times, events, chosen_predictions, missing = [], [], [], [], 0
    for r in derive_endpoints(study, cutoff, actor):
        tte = r.times.get(view.endpoint)
        start = origin_date(r.course, endpoint.origin)
        baseline = [p for p in by_subject.get(r.course.subject_id, ()) if start is not None and p.predicted_on <= start]
        if not baseline or tte is None:
            missing += 1
            continue
        ids.append(r.course.subject_id)
        times.append(tte.time_days / 365.25)  # years, the unit of the model's horizons
        events.append(int(tte.status))
        chosen_predictions.append(baseline[-1])
    candidates = [float(horizon)] if horizon is not None else sorted(view.horizons, reverse=True)
    left: list[tuple[float, str]] = []
    result = None
    for h in candidates:
        risks = [float(p.risks[f"{h:g}"]) for p in chosen_predictions]
        try:
            perf = assess_performance(times, events, risks, h, groups=groups)
        except InvalidValue as exc:
            left.append((h, _horizon_problem(times, h, str(exc))))
            continue
        result = (h, risks, perf, None)
        break
    if result is None:  # nothing computable: the longest (or the given) horizon, with its reason
        h = candidates[0]
        result = (h, [float(p.risks[f"{h:g}"]) for p in chosen_predictions], None, left[0][1])
        left = []
    h, risks, perf, problem = result
    return StudyPerformance(model=view, horizon=h, patients=tuple(ids), time_years=tuple(times), event=tuple(events),
                            risk=tuple(risks), not_predicted=missing, performance=perf, problem=problem,
                            longer_left=tuple(left))


# --------------------------------------------------------------------------- trial matching
@dataclass(frozen=True)
class TrialMatch:
    """A loaded protocol against what is known of a registry patient."""

    protocol: str
    protocol_version: str
    verdict: str  # meets / fails / may meet
    decision: eligibility_rules.EligibilityDecision
    known: dict[str, Any]
    failed: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    #: why the study takes no patient now (locked; its target enrolled), else None: open for accrual
    closed: str | None = None
    #: the person's subject id in that study, when they are in it already (else screening takes them in)
    subject_id: str | None = None

    @property
    def open_for_accrual(self) -> bool:
        return self.closed is None

    def as_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "protocol_version": self.protocol_version, "verdict": self.verdict,
                "open_for_accrual": self.open_for_accrual, "closed": self.closed, "subject_id": self.subject_id,
                "failed": list(self.failed), "unknown": list(self.unknown), "known": _jsonable(self.known),
                "criteria": [c.as_dict() for c in self.decision.criteria]}


_VERDICT = {"eligible": "meets", "ineligible": "fails", "not_evaluable": "may meet"}


def _field_types(study: StudyDB, form_id: str) -> dict[str, str]:
    return {f.id: f.type for f in study.protocol.form(form_id).fields}


def _known_values(study: StudyDB, session: Session, patient: Patient) -> dict[str, Any]:
    """The screening form's answers of ``study`` already known of the person ``patient`` is (the
    module's docstring says which): from their forms in every study of the database, each read by
    its own study's protocol, then from their latest screening for ``study`` (the session reads
    across the studies: a registry session)."""
    from sarcotrial.protocol.forms import validate_form
    from sarcotrial.services.pathway import person_rows
    from sarcotrial.store.scoping import ALL_STUDIES

    form_id = study.protocol.eligibility.form
    wanted = _field_types(study, form_id)
    known: dict[str, Any] = {}
    rows = person_rows(session, patient)
    by_id = {r.id: r for r in rows}
    crfs = list(session.scalars(select(CRFInstance).where(CRFInstance.patient_id.in_(list(by_id)))
                                .order_by(CRFInstance.id).execution_options(**{ALL_STUDIES: True})))
    for row in crfs:
        origin = study if row.study_id == study.study_id else study.sibling(row.study_id)
        if row.study_id == study.study_id and row.form_id == origin.protocol.eligibility.form:
            continue  # this study's own screening: its latest is read below
        try:
            types = _field_types(origin, row.form_id)
        except (KeyError, InvalidValue):
            continue
        for key, value in (row.data or {}).items():
            if row.study_id != study.study_id and key.startswith(CONSENT_FIELDS):
                continue  # consent is given to one study: another's never stands for this one's
            if key in wanted and value is not None and types.get(key) == wanted[key] and key != "screening_date":
                known[key] = value
    here = [r for r in rows if r.study_id == study.study_id]
    screening = session.scalars(select(Screening).where(Screening.patient_id == here[0].id)
                                .order_by(Screening.id.desc()).execution_options(**{ALL_STUDIES: True})).first() \
        if here else None
    if screening is not None:
        crf = session.get(CRFInstance, screening.crf_instance_id)
        known.update({k: v for k, v in (crf.data or {}).items() if v is not None and k != "screening_date"})
    known.pop("age_years", None)
    clean: dict[str, Any] = {}
    for key, value in known.items():  # a value this study's rules refuse (a code it lacks) is asked again
        try:
            clean.update(validate_form(study.protocol, form_id, {key: value}, partial=True))
        except InvalidValue:
            continue
    return clean


#: the screening answers that record a consent (``consent_signed``, ``consent_date``): never carried from
#: one study to another
CONSENT_FIELDS = ("consent_",)


def closed_to_accrual(study: StudyDB, session: Session) -> str | None:
    """Why ``study`` takes no patient now, or ``None`` (open for accrual): a study lock, or its target
    enrolled. Read of ``study``'s own rows whatever the session's study."""
    from sarcotrial.store.models import DataLock, Enrolment
    from sarcotrial.store.scoping import ALL_STUDIES

    lock = session.scalars(select(DataLock).where(DataLock.study_id == study.study_id, DataLock.scope == "study",
                                                  DataLock.active.is_(True))
                           .execution_options(**{ALL_STUDIES: True})).first()
    if lock is not None:
        return f"the study is locked (since {lock.locked_at:%Y-%m-%d})"
    target = study.protocol.identification.design.target_accrual
    enrolled = session.scalar(select(func.count()).select_from(Enrolment).where(Enrolment.study_id == study.study_id)
                              .execution_options(**{ALL_STUDIES: True}))
    if target and enrolled >= target:
        return f"its target is enrolled ({enrolled} of {target})"
    return None


def _matches(study: StudyDB, session: Session, patient: Patient, today: dt.date) -> list[TrialMatch]:
    """The studies this database runs against what is known of the person: every study in which they
    are not enrolled (nor withdrawn), none once they have died."""
    from sarcotrial.services.pathway import person_rows

    rows = person_rows(session, patient)
    if any(r.status == "dead" for r in rows):
        return []
    out = []
    for info in study.studies():
        target = study.sibling(info.id)
        here = next((r for r in rows if r.study_id == info.id), None)
        if here is not None and here.status in ("enrolled", "dead", "withdrawn"):
            continue
        match = _match(target, session, here or patient, _known_values(target, session, patient), today)
        out.append(match if here is None else dataclasses.replace(match, subject_id=here.subject_id))
    return out


def _match(study: StudyDB, session: Session, patient: Patient, known: Mapping[str, Any], today: dt.date) -> TrialMatch:
    protocol = study.protocol
    criteria = [c.model_dump() if hasattr(c, "model_dump") else c for c in protocol.eligibility.criteria]
    ages = (today.year - patient.year_of_birth - 1, today.year - patient.year_of_birth)
    decisions = [eligibility_rules.assess_eligibility(criteria, {**known, "age_years": age}) for age in ages]
    if decisions[0] == decisions[1]:
        decision = decisions[0]
    else:
        merged = []
        for a, b in zip(decisions[0].criteria, decisions[1].criteria):
            merged.append(a if a.result == b.result else eligibility_rules.CriterionResult(
                id=a.id, kind=a.kind, text=a.text, result="not_evaluable",
                reason=f"{a.text}: the age is {ages[0]} or {ages[1]} by the year of birth; decided at screening"))
        decision = eligibility_rules.EligibilityDecision(decision=eligibility_rules.decide(merged),
                                                         criteria=merged)
    failed = tuple(c.reason for c in decision.criteria if c.passes is False)
    unknown = tuple(c.text for c in decision.criteria if c.passes is None)
    return TrialMatch(protocol=protocol.acronym, protocol_version=str(protocol.version),
                      verdict=_VERDICT[decision.decision], decision=decision, known=dict(known), failed=failed,
                      unknown=unknown, closed=closed_to_accrual(study, session))


def match(study: StudyDB, actor: Actor | None, subject_id: str, *, today: dt.date | None = None) -> list[TrialMatch]:
    """The loaded protocols (the study this database runs) against what is known of the patient:
    meets, fails (with the criterion) or may meet (with the criteria still unknown)."""
    with study.reading(actor, permission="board.read") as session:
        patient = study.patient(session, subject_id)
        return _matches(study, session, patient, today or dt.date.today())


def open_screening(study: StudyDB, actor: Actor, subject_id: str, answers: Mapping[str, Any] | None = None, *,
                   screening_date: dt.date | None = None, for_study: str | None = None) -> Screening:
    """Screen a registry patient for a study (``for_study``, an acronym; else the one ``study`` works in)
    with what is already known filled in, plus ``answers`` (which win over the known values); the
    screening service decides and stores each criterion. A patient not yet in that study is taken into
    it first (:func:`sarcotrial.services.pathway.add_to_study`): one person, one identity."""
    from sarcotrial.services import pathway

    from sarcotrial.domain import access as access_rules

    study = study.sibling(for_study) if for_study else study
    with study.reading(actor, permission="board.read") as session:
        patient = study.patient(session, subject_id)
        known = _known_values(study, session, patient)
        principal = study.principal(session)
    subject_id = pathway.subject_in_study(study, actor, subject_id)
    values = {**known, **dict(answers or {})}
    values.setdefault("screening_date", (screening_date or dt.date.today()).isoformat())
    try:
        day = dt.date.fromisoformat(str(values["screening_date"]))
    except ValueError:
        raise InvalidValue("screening.screening_date", date_rule(values["screening_date"]),
                           values["screening_date"]) from None
    form = study.protocol.form(study.protocol.eligibility.form)
    may_identify = principal is None or principal.role is None or access_rules.allowed(principal.role,
                                                                                       "read.identifiers")
    if "age_years" in {f.id for f in form.fields} and values.get("age_years") in (None, "") and may_identify:
        # the age at the screening date from the date of birth (the reading is logged as any other)
        born = pathway.identify(study, actor, subject_id, "age at screening, opened from the registry").date_of_birth
        values["age_years"] = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    return pathway.screen(study, actor, subject_id, _jsonable(values))


# --------------------------------------------------------------------------- the case file
@dataclass
class CaseFile:
    """All the registry knows of one patient, as the board's case page and ``registry show`` show it."""

    subject_id: str
    status: str
    sex: str
    year_of_birth: int
    site: str
    histotype: str | None
    histotype_source: str | None
    #: a second opinion that revised the diagnosis to another histotype than the recorded one (flagged)
    revised_by_second_opinion: str | None = None
    molecular: dict[str, Any] | None = None
    molecular_revision: int | None = None
    interpretation: list[Any] = field(default_factory=list)
    family_history: dict[str, Any] | None = None
    family_revision: int | None = None
    predisposition: Any = None
    predictions: list[PredictionView] = field(default_factory=list)
    matches: list[TrialMatch] = field(default_factory=list)
    cases: list[tuple[dt.date, Any]] = field(default_factory=list)
    #: the patient's second opinions, oldest first (``services.second_opinion.OpinionView``)
    second_opinions: list[Any] = field(default_factory=list)
    #: the person in each of the database's studies: (acronym, subject id, status), the registry's first
    studies: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def histotype_name(self) -> str | None:
        """The recorded histotype's WHO name (``None`` when none is recorded)."""
        return None if self.histotype is None else histotype_name(self.histotype)

    @property
    def flags(self) -> list[str]:
        """What the board must look at: contradictions, actionable alterations, a referral for counselling."""
        out = []
        if self.revised_by_second_opinion:
            out.append(f"second opinion: {self.revised_by_second_opinion}")
        revisions = [o for o in self.second_opinions if o.outcome == "revised" and o.revised_histotype]
        if len({o.revised_histotype for o in revisions}) > 1:
            # two reviews that revised the diagnosis to different histotypes: the latest is not simply right
            out.append("second opinions disagree: " + "; ".join(
                f"#{o.id} ({o.referring_centre}, {o.report_date}) revised to {histotype_name(o.revised_histotype).lower()}"
                for o in revisions))
        for item in self.interpretation:
            if item.flag_for_board:
                out.append(f"molecular: {item.finding.label} contradicts the recorded histotype "
                           f"(defines {', '.join(histotype_name(e).lower() for e in item.entities)})")
            for action in item.actionable:
                if action.applies:
                    drugs = action.entry.as_dict().get("drugs") or []
                    out.append(f"actionable: {item.finding.label}" + (f" ({', '.join(map(str, drugs))})" if drugs else ""))
        if self.predisposition is not None and self.predisposition.referral.refer:
            out.append("genetic counselling: referral suggested")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id, "status": self.status, "sex": self.sex, "year_of_birth": self.year_of_birth,
            "site": self.site, "histotype": self.histotype, "histotype_name": self.histotype_name,
            "histotype_source": self.histotype_source, "revised_by_second_opinion": self.revised_by_second_opinion,
            "molecular": self.molecular, "molecular_revision": self.molecular_revision,
            "interpretation": [item.as_dict() for item in self.interpretation],
            "family_history": self.family_history, "family_revision": self.family_revision,
            "predisposition": self.predisposition.as_dict() if self.predisposition is not None else None,
            "predictions": [p.as_dict() for p in self.predictions],
            "matches": [m.as_dict() for m in self.matches],
            "board_cases": [{"meeting_date": day.isoformat(), **(case.as_dict() if hasattr(case, "as_dict") else {})}
                            for day, case in self.cases],
            "second_opinions": [o.as_dict() for o in self.second_opinions],
            "studies": [list(row) for row in self.studies],
            "flags": self.flags,
        }


def known_proband_tumours(file: CaseFile) -> list[dict[str, Any]]:
    """The patient's own sarcoma, as the first tumour of the proband in a family history begun now: its type
    and name from the case file's histotype, the age at diagnosis left to the user (the criteria then say
    "unknown", never "not met", until it is given). Chompret's criteria count the proband's sarcoma (Bougeard
    et al., J Clin Oncol 2015); a family history begun without it read "not met" for a sarcoma patient. A
    GIST is not a tumour of the Li-Fraumeni spectrum; nothing is known without a malignant histotype."""
    from sarcotrial.domain.histology import histotype

    if not file.histotype or file.histotype.startswith("gastrointestinal_stromal_tumour"):
        return []
    try:
        entity = histotype(file.histotype)
    except InvalidValue:
        return []
    if not entity.is_malignant:
        return []
    kind = "osteosarcoma" if "osteosarcoma" in file.histotype else "soft_tissue_sarcoma"
    return [{"type": kind, "name": entity.name.lower()}]


def histotype_name(histotype_id: str | None) -> str | None:
    """The WHO name of a catalogue id (the id itself if the catalogue no longer has it; None for none)."""
    from sarcotrial.domain.histology import histotype

    if not histotype_id:
        return None
    try:
        return histotype(histotype_id).name
    except InvalidValue:
        return histotype_id


def _revised_opinion(session: Session, patient: Patient):
    """The latest reviewed second opinion that revised the diagnosis to a histotype, or None."""
    from sarcotrial.store.models_board import SecondOpinion

    return session.scalars(select(SecondOpinion).where(SecondOpinion.patient_id == patient.id,
                                                       SecondOpinion.outcome == "revised",
                                                       SecondOpinion.revised_histotype.is_not(None))
                           .order_by(SecondOpinion.report_date.desc(), SecondOpinion.id.desc())).first()


def _recorded_diagnosis(session: Session, patient: Patient) -> tuple[str | None, str | None]:
    """The diagnosis form's histotype id and its derived FNCLCC grade (each None when not recorded)."""
    from sarcotrial.services.forms import resolve_histotype

    row = session.scalars(select(CRFInstance).where(CRFInstance.patient_id == patient.id,
                                                    CRFInstance.form_id == "diagnosis")
                          .order_by(CRFInstance.id.desc())).first()
    if row is None:
        return None, None
    grade = (row.derived or {}).get("grade")
    value = (row.data or {}).get("histotype")
    try:
        return (resolve_histotype(value).id if value else None), (grade if grade in ("1", "2", "3") else None)
    except (InvalidValue, AttributeError):
        return None, grade if grade in ("1", "2", "3") else None


def case_file(study: StudyDB, actor: Actor | None, subject_id: str, *, today: dt.date | None = None) -> CaseFile:
    """A registry patient's file: molecular findings read against the histotype (contradictions and
    actionable alterations flagged), the predisposition criteria, the predictions, the trial
    matches and the board's cases."""
    from sarcotrial.domain.molecular import findings_from_document, interpret
    from sarcotrial.domain.predisposition import assess_predisposition, family_history_from_dict
    from sarcotrial.services import board, second_opinion

    with study.reading(actor, permission="board.read") as session:
        patient = study.patient(session, subject_id)
        site = session.get(Site, patient.site_id).code
        molecular = _document(session, patient, "molecular")
        family = _document(session, patient, "family_history")
        recorded, recorded_grade = _recorded_diagnosis(session, patient)
        file = CaseFile(subject_id=patient.subject_id, status=patient.status, sex=patient.sex,
                        year_of_birth=patient.year_of_birth, site=site, histotype=recorded,
                        histotype_source="diagnosis form" if recorded else None)
        opinion = _revised_opinion(session, patient)
        if opinion is not None:
            revised = opinion.revised_histotype
            when = f" ({opinion.referring_centre}, reported {opinion.report_date})" if opinion.report_date else ""
            if recorded is None:
                file.histotype, file.histotype_source = revised, f"second opinion{when}"
            elif revised != recorded:
                grade = f", FNCLCC grade {opinion.revised_grade}" if opinion.revised_grade else ""
                file.revised_by_second_opinion = (f"revised the diagnosis to {histotype_name(revised).lower()}{grade}{when}; "
                                                  f"the diagnosis form says {histotype_name(recorded).lower()}")
            elif opinion.revised_grade and recorded_grade and str(opinion.revised_grade) != recorded_grade:
                file.revised_by_second_opinion = (f"revised the FNCLCC grade to {opinion.revised_grade}{when}; "
                                                  f"the diagnosis form's grade is {recorded_grade}")
        if molecular is not None:
            histotype_id, findings = findings_from_document(molecular.content)
            if file.histotype is None and histotype_id:
                file.histotype, file.histotype_source = histotype_id, "molecular report"
            file.molecular, file.molecular_revision = molecular.content, molecular.revision
            file.interpretation = interpret(file.histotype, findings)
        if family is not None:
            file.family_history, file.family_revision = family.content, family.revision
            file.predisposition = assess_predisposition(family_history_from_dict(family.content))
        file.predictions = _predictions(session, patient)
        file.matches = _matches(study, session, patient, today or dt.date.today())
        from sarcotrial.services.pathway import person_rows

        file.studies = [(session.get(Study, r.study_id).acronym, r.subject_id, r.status)
                        for r in person_rows(session, patient)]
    file.cases = board.patient_cases(study, actor, subject_id)
    file.second_opinions = second_opinion.listing(study, actor, subject_id=subject_id, check_documents=False)
    return file
