"""A second opinion from start to end in a real headless Chromium: a pathologist registers a request with a
PDF chosen in the file input, sees it on its page (the document's SHA-256 and size), records a revised review,
and the listing's rate of revised diagnoses for the referring centre moves.

Independent references: the SHA-256 from :mod:`hashlib` on the bytes uploaded; the exact (Clopper-Pearson)
interval from scipy (``binomtest(k, n).proportion_ci(method="exact")``); the turnaround counted with
:mod:`datetime`. Screenshots go to ``tests/web/artefacts/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from scipy.stats import binomtest

from sarcotrial.services import second_opinion as so
from tests.web.conftest import shot, sign_in_page

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def rate_cells(page, centre: str) -> list[str]:
    return page.locator("#rates-pathology tbody tr").filter(has_text=centre).locator("td").all_inner_texts()


def exact(k: int, n: int) -> str:
    low, high = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return f"{k / n * 100:.1f} % ({low * 100:.1f}–{high * 100:.1f} %)"


def test_a_request_registered_with_a_pdf_reviewed_and_counted(page, web_study):
    # Hospital A has one pathology review already: confirmed (0 revised of 1)
    team = web_study.team
    earlier = so.new_request(web_study, team.research_nurse, "SPR-002", kind="pathology",
                             referring_centre="Hospital A", received_date=dt.date(2025, 1, 6), question="Grade?")
    so.review(web_study, team.pathologist, earlier, text="Confirmed", outcome="confirmed", reviewer="Dr Paula Path",
              report_date=dt.date(2025, 1, 10))

    sign_in_page(page, "pat")
    page.goto("/board/second-opinions")
    before = rate_cells(page, "Hospital A")
    assert before[0] == "1" and before[2] == "0 / 1" and before[3] == exact(0, 1)

    # register: the form, a PDF chosen in the file input
    page.get_by_role("link", name="New request").click()
    page.wait_for_url("**/board/second-opinions/new")
    page.get_by_label("Subject id").fill("spr-001")
    page.get_by_label("Kind of review").select_option("pathology")
    page.get_by_label("Referring centre").fill("Hospital A")
    page.get_by_label("Received on").fill("2025-02-03")
    page.get_by_label("Question").fill("Leiomyosarcoma or myxofibrosarcoma?")
    page.get_by_label("Documents").set_input_files(
        files=[{"name": "outside-report.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    shot(page, "second-opinion-01-new")
    page.get_by_role("button", name="Register the request").click()
    page.wait_for_url("**/board/second-opinions/*?done=registered")
    assert page.locator("#patient").inner_text() == "SPR-001"
    assert page.locator("#centre").inner_text() == "Hospital A"
    documents = page.locator("#documents table").inner_text()
    assert "outside-report.pdf" in documents and "application/pdf" in documents
    assert f"{len(PDF)} bytes" in documents and hashlib.sha256(PDF).hexdigest() in documents
    number = int(page.url.split("/board/second-opinions/")[1].split("?")[0])
    shot(page, "second-opinion-02-registered")

    # the review: revised to a leiomyosarcoma, FNCLCC grade 2
    page.locator("#review-text").fill("Desmin and caldesmon positive: leiomyosarcoma")
    page.get_by_label("Outcome").select_option("revised")
    page.get_by_label("Revised histotype").select_option("leiomyosarcoma")
    page.get_by_label("FNCLCC grade").select_option("2")
    page.get_by_label("Reviewer").fill("Dr Paula Path")
    page.get_by_label("Report date").fill("2025-02-10")
    page.get_by_role("button", name="Record the review").click()
    page.wait_for_url(f"**/board/second-opinions/{number}?done=reviewed*")
    assert page.locator("#outcome").inner_text() == "revised"
    assert "Leiomyosarcoma" in page.locator("#revised-histotype").inner_text()
    assert page.locator("#revised-grade").inner_text() == "2"
    assert page.locator("#turnaround").inner_text() == f"{(dt.date(2025, 2, 10) - dt.date(2025, 2, 3)).days} days"
    shot(page, "second-opinion-03-reviewed")

    # the listing: Hospital A now 1 revised of 2, and the row leads back to the request
    page.get_by_role("link", name="All requests").click()
    page.wait_for_url("**/board/second-opinions")
    after = rate_cells(page, "Hospital A")
    assert after[0] == "2" and after[2] == "1 / 2" and after[3] == exact(1, 2)
    assert after[3] != before[3]
    shot(page, "second-opinion-04-listing")
    page.locator(f"#opinion-{number} a", has_text=f"#{number}").click()
    page.wait_for_url(f"**/board/second-opinions/{number}")
    assert page.locator("#outcome").inner_text() == "revised"
