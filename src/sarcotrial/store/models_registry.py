"""The unit's registry beside the study: what the board knows of a patient that no study form holds.

- :class:`RegistryDocument`: a registry patient's molecular findings, or family history and
  germline findings, as one validated document per kind (``services/registry.py``), kept as JSON
  keyed by the document's own sections so the audit trail records each section's history.
- :class:`RiskModelFile`: a risk-model file (``docs/risk-models.md``) loaded into the database with
  its SHA-256, so every prediction names the exact file it was made with.
- :class:`RiskPrediction`: one patient's prediction by one loaded model: the inputs used and the
  risk at each horizon, as they were computed on the day.

A document and a prediction hang from the unit's :class:`~sarcotrial.store.models.Patient` row (the
registry patient of ``patient register``), so a later screening or enrolment keeps one identity.
Imported at the end of :mod:`sarcotrial.store.models`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sarcotrial.store.models import StudyRecord


class RegistryDocument(StudyRecord):
    """A registry patient's document of one kind (``molecular`` or ``family_history``): the latest
    version is the row, each earlier version is in the audit trail."""

    __tablename__ = "registry_document"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (UniqueConstraint("patient_id", "kind"), {"sqlite_autoincrement": True})
    audit_keyed = ("content",)
    audit_workflow = ("revision",)


class RiskModelFile(StudyRecord):
    """A risk-model file loaded for the unit's predictions, byte for byte, with its SHA-256."""

    __tablename__ = "risk_model_file"
    model_key: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    content: Mapped[str] = mapped_column(Text)
    #: the study's time-to-event endpoint that observes the model's outcome (``dmfs`` for a model of
    #: distant metastasis), for checking the model on the study's patients; none: not checked
    endpoint: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (UniqueConstraint("model_key", "model_version"), {"sqlite_autoincrement": True})
    # the trail keeps the checksum, not the whole file
    audit_exclude = ("id", "created_at", "protocol_version", "content")


class RiskPrediction(StudyRecord):
    """One patient's prediction by one loaded model file: its inputs and its risks per horizon."""

    __tablename__ = "risk_prediction"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    model_file_id: Mapped[int] = mapped_column(ForeignKey("risk_model_file.id"), index=True)
    predicted_on: Mapped[dt.date] = mapped_column(Date)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    risks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    audit_keyed = ("inputs", "risks")
