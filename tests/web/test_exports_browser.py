"""The exports page in a real Chromium: a statistician chooses a format, a level and forms, downloads the
ZIP, and sees a refusal beside its field. (The HTTP tests, tests/web/test_exports_page.py, cover the
rights; each format has tests of its own in tests/exchange/.)"""

from __future__ import annotations

import json
import re
import zipfile

import sarcotrial.exchange as exchange_pkg
from tests.web.conftest import shot, sign_in_page


def test_a_statistician_downloads_a_deidentified_export(page, web_study, live_server, monkeypatch, tmp_path):
    def write(snapshot, folder):
        (folder / "subjects.txt").write_text("\n".join(p.subject_id for p in snapshot.patients) + "\n")
        return {"rows": len(snapshot.patients)}

    monkeypatch.setattr(exchange_pkg, "writer", lambda fmt: write)
    sign_in_page(page, "stan")
    page.get_by_role("link", name="Exports").click()
    page.wait_for_url("**/exports")
    assert page.get_by_label(re.compile(r"^Identified")).count() == 0  # a statistician never receives identifiers
    # a refusal first: days from enrolment without de-identifying
    page.get_by_label("Dates as days from enrolment", exact=False).check()
    page.get_by_role("button", name="Export and download").click()
    error = page.locator("#level-error")
    error.wait_for()
    assert "--deidentified" in error.inner_text()
    shot(page, "exports-refused")
    page.get_by_role("radio", name=re.compile(r"^De-identified")).check()
    page.get_by_label("Surgery (surgery)").check()
    with page.expect_download() as info:
        page.get_by_role("button", name="Export and download").click()
    download = info.value
    assert download.suggested_filename.startswith(f"{web_study.protocol.acronym}-tables-deidentified-")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert (manifest["level"], manifest["forms"], manifest["intervals"]) == ("deidentified", ["surgery"], True)
        assert z.read("subjects.txt").decode().split() == ["SPR-001", "SPR-002", "SPR-003"]
    page.goto("/exports")
    assert page.locator("table.data tbody tr").count() == 1
    shot(page, "exports")
