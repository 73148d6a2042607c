"""Protocol files the tests use: a second protocol (mini.yaml) and SPRINT 1.0, the version before the shipped one."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
SPRINT_10 = HERE / "sprint-1.0.yaml"
SPRINT_10_TEXT = SPRINT_10.read_text(encoding="utf-8")
