"""One database, the unit's registry and several studies: each unit of work sees one study's rows.

A session made by :class:`sarcotrial.services.study.StudyDB` carries the id of its study in
``session.info``. Every ORM statement it runs (a select, a lazy load, an ORM update or delete) is
given SQLAlchemy's loader criteria ``study_id = <that study>`` for each
:class:`~sarcotrial.store.models.StudyScoped` table, however the statement names it (an entity,
a column, a join, an alias): a count of enrolments, a query of a subject id or a lock of "the
study" is then the study's own without each service saying so. A new row of such a table takes
the session's study before it is flushed (before the audit hook reads it).

A session of the unit's registry (the tumour board, second opinions, the registry's documents,
matching) is marked ``unit``: it reads every study's rows, as the registry spans them.

SQLAlchemy's documented recipe for this is ``with_loader_criteria`` in a ``do_orm_execute``
hook ("ORM Querying Guide: Adding global WHERE / ON criteria"); statements run on the connection
(the audit trail's own reads and writes) are not ORM statements and are not filtered.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from sarcotrial.store.audit import AuditedSession
from sarcotrial.store.models import StudyScoped

#: ``session.info`` key: the id of the study a session works in
INFO_STUDY = "sarcotrial_study_id"
#: ``session.info`` key: the session reads every study's rows (the registry's work)
INFO_UNIT = "sarcotrial_unit"
#: execution option: this one statement reads every study's rows
ALL_STUDIES = "sarcotrial_all_studies"


def bind(session: Session, study_id: int, *, unit: bool = False) -> Session:
    session.info[INFO_STUDY] = study_id
    session.info[INFO_UNIT] = unit
    return session


_CRITERIA: dict[int, object] = {}


def _criteria(study_id: int):
    """The loader criteria of one study, made once: making them analyses the lambda, which costs more than
    the statement it is added to."""
    option = _CRITERIA.get(study_id)
    if option is None:
        option = _CRITERIA[study_id] = with_loader_criteria(
            StudyScoped, lambda cls: cls.study_id == study_id, include_aliases=True)
    return option


def _scope(state: ORMExecuteState) -> None:
    study_id = state.session.info.get(INFO_STUDY)
    if study_id is None or state.session.info.get(INFO_UNIT) or state.is_column_load:
        return
    if state.execution_options.get(ALL_STUDIES):
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(_criteria(study_id))


def _stamp(session: Session, _flush_context, _instances) -> None:
    study_id = session.info.get(INFO_STUDY)
    if study_id is None:
        return
    for obj in session.new:
        if isinstance(obj, StudyScoped) and obj.study_id is None:
            obj.study_id = study_id


event.listen(AuditedSession, "do_orm_execute", _scope)
# before the audit hook, so that a new row's study is set when its creation is recorded
event.listen(AuditedSession, "before_flush", _stamp, insert=True)
