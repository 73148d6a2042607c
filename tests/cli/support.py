"""What the CLI tests share: how a refusal and a JSON answer look, and a new study with registry patients."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sarcotrial.config import cli_user
from sarcotrial.services import pathway
from sarcotrial.services.study import Actor, StudyDB

OS_USER = cli_user(None)[0]
_ENVIRONMENT = ("SARCOTRIAL_KEY", "SARCOTRIAL_KEY_FILE", "DATABASE_URL", "SARCOTRIAL_PASSWORD")


def refused(result, text: str) -> None:
    """A refusal is one line naming the rule."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.output


def one_json(result) -> dict:
    """``--json`` prints exactly one JSON object."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return json.loads(lines[0])


def registry_study(tmp_path: Path, monkeypatch, names: tuple[str, ...]) -> str:
    """A new SPRINT study, without accounts (the OS user acts alone), with one registered (registry)
    patient per name, hospital numbers H0001, H0002, ...; returns its path."""
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "study.sqlite"
    me = Actor(OS_USER, "cli os-user")
    study, _ = StudyDB.create(str(path), "sprint", me)
    for number, name in enumerate(names, start=1):
        pathway.register_patient(study, me, identifiers=pathway.Identifiers(name, dt.date(1960, 5, 1), f"H{number:04d}"),
                                 sex="female", referral={"referral_date": "2025-01-10", "anatomic_site": "extremity"})
    study.close()
    return str(path)
